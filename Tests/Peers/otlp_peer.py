#!/usr/bin/env python3
"""An OTLP/HTTP metrics receiver for tests, built on the official opentelemetry-proto
message classes.

  otlp_peer.py serve DUMPFILE [--fail-first N --fail-status S]
      Listens on 127.0.0.1 on an ephemeral port and prints "PORT <n>" on stdout.
      Each POST body is gunzipped if Content-Encoding says gzip, decoded as an
      ExportMetricsServiceRequest (protobuf or JSON by Content-Type) and appended to
      DUMPFILE as one JSON line {"path", "content_type", "content_encoding", "request"}
      BEFORE the response is sent, so a client that saw its 200 finds its line there.
      The first N requests get status S (default 503) and are not dumped.
      --partial-reject K: successful responses carry a partial_success that rejects K points.
  otlp_peer.py decode-proto   protobuf ExportMetricsServiceRequest on stdin -> JSON on stdout
  otlp_peer.py decode-json    OTLP/JSON on stdin, parsed strictly -> canonical JSON on stdout
"""
import gzip
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)


def to_dict(message):
    # preserving_proto_field_name=False: the OTLP/JSON lowerCamelCase names.
    return json_format.MessageToDict(message)


def decode(body, content_type):
    request = ExportMetricsServiceRequest()
    if content_type.startswith("application/json"):
        json_format.Parse(body.decode("utf-8"), request)
    else:
        request.ParseFromString(body)
    return request


def serve(dump_path, fail_first, fail_status, partial_reject):
    lock = threading.Lock()
    state = {"seen": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with lock:
                state["seen"] += 1
                failing = state["seen"] <= fail_first
            if failing:
                self.reply(fail_status, b"injected failure", "text/plain")
                return
            encoding = self.headers.get("Content-Encoding", "")
            content_type = self.headers.get("Content-Type", "")
            try:
                if encoding == "gzip":
                    body = gzip.decompress(body)
                request = decode(body, content_type)
            except Exception as error:  # a malformed body is the client's bug: say so
                self.reply(400, f"cannot decode: {error}".encode(), "text/plain")
                return
            record = {
                "path": self.path,
                "content_type": content_type,
                "content_encoding": encoding,
                "request": to_dict(request),
            }
            with lock, open(dump_path, "a") as dump:
                dump.write(json.dumps(record) + "\n")
            json_reply = content_type.startswith("application/json")
            response = ExportMetricsServiceResponse()
            if partial_reject:
                response.partial_success.rejected_data_points = partial_reject
                response.partial_success.error_message = "injected partial rejection"
            if json_reply:
                self.reply(200, json_format.MessageToJson(response).encode(), "application/json")
            else:
                self.reply(200, response.SerializeToString(), "application/x-protobuf")

        def reply(self, status, payload, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


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
    mode = sys.argv[1]
    if mode == "serve":
        args = sys.argv[2:]
        dump = args[0]
        fail_first = int(args[args.index("--fail-first") + 1]) if "--fail-first" in args else 0
        fail_status = int(args[args.index("--fail-status") + 1]) if "--fail-status" in args else 503
        partial = int(args[args.index("--partial-reject") + 1]) if "--partial-reject" in args else 0
        serve(dump, fail_first, fail_status, partial)
    elif mode == "decode-proto":
        request = ExportMetricsServiceRequest()
        request.ParseFromString(sys.stdin.buffer.read())
        print(json.dumps(to_dict(request)))
    elif mode == "decode-json":
        request = ExportMetricsServiceRequest()
        json_format.Parse(sys.stdin.buffer.read().decode("utf-8"), request)
        print(json.dumps(to_dict(request)))
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
