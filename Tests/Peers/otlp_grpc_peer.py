#!/usr/bin/env python3
"""An OTLP/gRPC receiver for tests: a real grpcio server serving the ProfilesService and the
MetricsService with the official opentelemetry-proto classes and their *_pb2_grpc modules.

  otlp_grpc_peer.py serve PROFILES_DUMP METRICS_DUMP [--script ACTIONS] [--tls CERT KEY]
      Listens on 127.0.0.1 on an ephemeral port (plaintext HTTP/2, or TLS with the PEM
      certificate and key of --tls) and prints "PORT <n>".
      Every request grpcio decoded is appended, BEFORE the answer, as one JSON line
      {"path", "bytes", "metadata", "request"} to PROFILES_DUMP or METRICS_DUMP (the records
      otlp_profiles_peer.py's `folded` mode reads), unless the answer is an error status.
      A dump file "-" makes that service a sink for benchmarks: nothing is recorded.
      ACTIONS, comma-separated, are applied to the requests in arrival order (either
      service); once they are used up every request is answered OK:
        ok                    OK with an empty response
        unavailable           UNAVAILABLE ("injected unavailable")
        invalid_argument      INVALID_ARGUMENT ("injected: bad data 100%")
        resource_exhausted    RESOURCE_EXHAUSTED without RetryInfo
        retry_info            RESOURCE_EXHAUSTED with a google.rpc.RetryInfo of 20 ms in
                              grpc-status-details-bin (grpcio-status's rpc_status)
        partial:K             OK with a partial_success rejecting K items
        hang                  never answers (sleeps until the client gives up)
        huge                  OK with a 1 MiB partial_success message (a response too big to read)
      Each line "ATTEMPT <path> <action>" on stderr records an arrival.
"""
import json
import os
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2, profiles_service_pb2_grpc


class Script:
    def __init__(self, actions):
        self.actions = list(actions)
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            return self.actions.pop(0) if self.actions else "ok"


def handle(script, dump_path, path, request, response, partial_field, context):
    action = script.next()
    print(f"ATTEMPT {path} {action}", file=sys.stderr, flush=True)
    if action == "hang":
        # Longer than any test's timeout; the client's deadline ends the call, not this.
        while context.is_active():
            time.sleep(0.05)
        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the client went away")
    if action == "unavailable":
        context.abort(grpc.StatusCode.UNAVAILABLE, "injected unavailable")
    if action == "invalid_argument":
        # A percent sign and non-ASCII text exercise grpc-message's percent-encoding.
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "injected: bad data 100% é")
    if action == "resource_exhausted":
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "injected resource exhausted")
    if action == "retry_info":
        # Imported here: only this action needs grpcio-status and googleapis-common-protos.
        from google.protobuf import any_pb2
        from google.rpc import code_pb2, error_details_pb2, status_pb2
        from grpc_status import rpc_status
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.RetryInfo(retry_delay={"nanos": 20_000_000}))
        context.abort_with_status(rpc_status.to_status(status_pb2.Status(
            code=code_pb2.RESOURCE_EXHAUSTED, message="injected: come back soon", details=[detail])))
    metadata = {key: value for key, value in context.invocation_metadata() if not key.endswith("-bin")}
    if dump_path == "-":
        return response
    record = {"path": path, "bytes": request.ByteSize(), "metadata": metadata,
              "request": json_format.MessageToDict(request)}
    with open(dump_path, "a") as dump:
        dump.write(json.dumps(record) + "\n")
    if action == "huge":
        setattr(response.partial_success, partial_field, 1)
        response.partial_success.error_message = "x" * (1 << 20)
    if action.startswith("partial:"):
        setattr(response.partial_success, partial_field, int(action.split(":", 1)[1]))
        response.partial_success.error_message = "injected partial rejection"
    return response


def serve(profiles_dump, metrics_dump, actions, tls):
    script = Script(actions)

    class Profiles(profiles_service_pb2_grpc.ProfilesServiceServicer):
        def Export(self, request, context):
            return handle(script, profiles_dump,
                          "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export",
                          request, profiles_service_pb2.ExportProfilesServiceResponse(), "rejected_profiles", context)

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request, context):
            return handle(script, metrics_dump, "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                          request, metrics_service_pb2.ExportMetricsServiceResponse(), "rejected_data_points", context)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    profiles_service_pb2_grpc.add_ProfilesServiceServicer_to_server(Profiles(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    if tls:
        with open(tls[0], "rb") as cert, open(tls[1], "rb") as key:
            credentials = grpc.ssl_server_credentials([(key.read(), cert.read())])
        port = server.add_secure_port("127.0.0.1:0", credentials)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    server.wait_for_termination()


def die_with_parent():
    # No orphaned peer when the test process dies without stopping it.
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main():
    if len(sys.argv) < 4 or sys.argv[1] != "serve":
        sys.exit(__doc__)
    die_with_parent()
    args = sys.argv[2:]
    actions = args[args.index("--script") + 1].split(",") if "--script" in args else []
    tls = args[args.index("--tls") + 1:args.index("--tls") + 3] if "--tls" in args else None
    serve(args[0], args[1], actions, tls)


if __name__ == "__main__":
    main()
