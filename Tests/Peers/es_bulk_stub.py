#!/usr/bin/env python3
"""A fault-injecting stand-in for Elasticsearch's bulk API, for exporter tests.

  es_bulk_stub.py DUMPFILE SCENARIO_JSON

Listens on 127.0.0.1 on an ephemeral port and prints "PORT <n>" on stdout. Request
number i (from 0) is answered from SCENARIO_JSON[i], a JSON list of objects:

  {"status": 429, "retry_after": "1"}   the whole request fails with that status
  {"items": [201, 429, 400]}            HTTP 200; per-item statuses by position
                                         (missing positions succeed with 201)
  {"index_items": {"idx": [400]}}        HTTP 200; statuses of the items of index
                                         "idx", in their order (others succeed)

Requests past the end of the list succeed entirely. With DUMPFILE "-" the stub is a sink
for benchmarks: it neither parses nor records bodies, and answers every document 201. Every request is appended to
DUMPFILE as one JSON line {"time", "path", "headers", "lines", "bytes"} before it is
answered, "lines" being the NDJSON body parsed line by line and "bytes" the body's size
as received (compressed or not).
"""
import gzip
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERRORS = {
    400: ("mapper_parsing_exception", "failed to parse field [metrics.x] of type [long]"),
    429: ("es_rejected_execution_exception", "rejected execution of coordinating operation"),
    500: ("internal_server_error", "injected failure"),
    503: ("unavailable_shards_exception", "primary shard is not active"),
}


def die_with_parent():
    # No orphaned peer when the test process dies without stopping it.
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main():
    die_with_parent()
    dump_path, scenario = sys.argv[1], json.loads(sys.argv[2])
    lock = threading.Lock()
    state = {"count": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            wire_bytes = len(body)
            if dump_path == "-":
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                documents = (body.count(b"\n") + (0 if body.endswith(b"\n") else 1)) // 2
                answer = '{"took":0,"errors":false,"items":[' + ",".join(['{"create":{"status":201}}'] * documents) + "]}"
                payload = answer.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            lines = [json.loads(line) for line in body.decode("utf-8").split("\n") if line]
            with lock:
                number = state["count"]
                state["count"] += 1
                record = {
                    "time": time.monotonic(),
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "lines": lines,
                    "bytes": wire_bytes,
                }
                with open(dump_path, "a") as dump:
                    dump.write(json.dumps(record) + "\n")
            step = scenario[number] if number < len(scenario) else {}
            if "status" in step:
                headers = {"Retry-After": step["retry_after"]} if "retry_after" in step else {}
                self.reply(step["status"], {"error": {"type": "injected", "reason": "whole request"}}, headers)
                return
            statuses = step.get("items", [])
            by_index = {name: list(codes) for name, codes in step.get("index_items", {}).items()}
            items = []
            for index in range(len(lines) // 2):
                status = statuses[index] if index < len(statuses) else 201
                action = next(iter(lines[2 * index]))
                queued = by_index.get(lines[2 * index][action].get("_index"))
                if queued:
                    status = queued.pop(0)
                outcome = {"_index": lines[2 * index][action].get("_index"), "status": status}
                if status >= 300:
                    kind, reason = ERRORS.get(status, ("injected_exception", "injected"))
                    outcome["error"] = {"type": kind, "reason": reason}
                items.append({action: outcome})
            errors = any(next(iter(item.values()))["status"] >= 300 for item in items)
            self.reply(200, {"took": 1, "errors": errors, "items": items}, {})

        def reply(self, status, document, headers):
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
