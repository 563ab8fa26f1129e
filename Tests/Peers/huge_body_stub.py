#!/usr/bin/env python3
"""An HTTP endpoint that answers every request with a huge body, for the exporters'
response bound.

  huge_body_stub.py STATUS BYTES

Listens on 127.0.0.1 on an ephemeral port and prints "PORT <n>" on stdout. Every GET
or POST (its body is read and discarded) is answered with STATUS, a Content-Length of
BYTES and that many bytes of "x", generated as they are sent (never held), until the
client hangs up.
"""
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = b"x" * 65536


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
    status, total = int(sys.argv[1]), int(sys.argv[2])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self):
            length = int(self.headers.get("Content-Length", "0"))
            if length:
                self.rfile.read(length)
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(total))
            self.end_headers()
            sent = 0
            try:
                while sent < total:
                    piece = CHUNK[: min(len(CHUNK), total - sent)]
                    self.wfile.write(piece)
                    sent += len(piece)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = answer
        do_POST = answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
