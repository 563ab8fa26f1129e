#!/usr/bin/env python3
"""An OTLP/HTTP profiles receiver for tests, built on the official opentelemetry-proto
message classes (profiles/v1development of the pinned version).

  otlp_profiles_peer.py serve DUMPFILE [--partial-reject K]
      Listens on 127.0.0.1 on an ephemeral port and prints "PORT <n>" on stdout.
      Each POST body is gunzipped if Content-Encoding says gzip, decoded as an
      ExportProfilesServiceRequest (protobuf, or OTLP/JSON by Content-Type) and appended
      to DUMPFILE as one JSON line {"path", "content_type", "content_encoding", "bytes",
      "request"} BEFORE the response is sent. A body that does not decode gets 400.
      DUMPFILE "-" makes it a sink for benchmarks: every request gets 200 undecoded.
      --partial-reject K: responses carry a partial_success that rejects K profiles.
  otlp_profiles_peer.py mappings FILE
      Prints "<file name> gnu=<process.executable.build_id.gnu> htlhash=<...build_id.htlhash>"
      for each mapping of the requests in FILE (as for `folded`), sorted, once each.
  otlp_profiles_peer.py folded FILE [--off-cpu]
      FILE holds JSON lines: the records written by `serve`, or bare OTLP/JSON requests
      (the file exporter's lines), each parsed strictly into the official classes.
      Prints the folded stacks of the on-CPU profiles (sample type samples/count), or with
      --off-cpu those of the off-CPU ones (events/nanoseconds, the nanoseconds summed as
      --off-cpu-folded sums them) (`process;outermost;...;leaf count`, sorted by their
      UTF-8 bytes) that the profiles hold, named as tandem's --folded names them (an
      interpreted frame as `name (file.py:LINE)`, from its function's file and its line); exits
      non-zero if a profile breaks the shape tandem promises.
"""
import gzip
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 import (
    ExportProfilesServiceRequest,
    ExportProfilesServiceResponse,
)

TRUNCATED = "tandem.stack.user_truncated"
FRAME_TYPES = {"native", "kernel", "go", "cpython", "jvm", "v8js", "ruby", "php", "perl", "dotnet", "beam", "luajit"}


def serve(dump_path, partial_reject):
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if dump_path == "-":
                self.reply(200, b"", "application/x-protobuf")
                return
            encoding = self.headers.get("Content-Encoding", "")
            content_type = self.headers.get("Content-Type", "")
            request = ExportProfilesServiceRequest()
            try:
                payload = gzip.decompress(body) if encoding == "gzip" else body
                if content_type.startswith("application/json"):
                    json_format.Parse(payload.decode("utf-8"), request)
                else:
                    request.ParseFromString(payload)
            except Exception as error:  # a malformed body is the client's bug: say so
                self.reply(400, f"cannot decode: {error}".encode(), "text/plain")
                return
            record = {
                "path": self.path,
                "content_type": content_type,
                "content_encoding": encoding,
                "bytes": len(body),
                "request": json_format.MessageToDict(request),
            }
            with lock, open(dump_path, "a") as dump:
                dump.write(json.dumps(record) + "\n")
            response = ExportProfilesServiceResponse()
            if partial_reject:
                response.partial_success.rejected_profiles = partial_reject
                response.partial_success.error_message = "injected partial rejection"
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


def check(condition, problem):
    if not condition:
        sys.exit(f"otlp_profiles_peer: {problem}")


def any_value(value):
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def sanitized(name):
    return "".join(":" if c == ";" else (" " if c in "\n\r\v\f\x85\u2028\u2029" else c) for c in name)


def short_source_file(path):
    # Frame.shortSourceFileName: the last component, with its package for a package's module files.
    parts = [part for part in path.split("/") if part]
    if not parts:
        return path
    if parts[-1] in ("__init__.py", "__main__.py") and len(parts) >= 2:
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1]


# Frame types of machine code: their functions may name a source file and line (from the
# file's DWARF or .gopclntab), which labels do not show (Frame.interpretedSourceFile).
MACHINE_CODE_TYPES = {"native", "kernel", "go"}


def frame_name(dictionary, location, frame_type):
    # Frame.locationLabel: an interpreted frame (its function has a file) shows its file and line.
    strings = dictionary.string_table
    if location.lines:
        line = location.lines[0]
        function = dictionary.function_table[line.function_index]
        name = strings[function.name_strindex]
        if function.filename_strindex and frame_type not in MACHINE_CODE_TYPES:
            check(location.mapping_index == 0, "an interpreted frame has a mapping")
            file = short_source_file(strings[function.filename_strindex])
            return f"{name} ({file}:{line.line})" if line.line else f"{name} ({file})"
        return name
    if location.mapping_index:
        path = strings[dictionary.mapping_table[location.mapping_index].filename_strindex]
        return f"{path.split('/')[-1]}+0x{location.address:x}"
    return f"0x{location.address:x}"


ON_CPU = ("samples", "count")
OFF_CPU = ("events", "nanoseconds")


def folded_stacks(requests, off_cpu=False):
    counts = {}
    for request in requests:
        dictionary = request.dictionary
        strings = dictionary.string_table
        check(strings and strings[0] == "", "string_table[0] is not the empty string")
        attributes = [(strings[a.key_strindex], any_value(a.value)) for a in dictionary.attribute_table]
        for resource in request.resource_profiles:
            keys = {kv.key for kv in resource.resource.attributes}
            check("host.name" in keys, "a resource has no host.name")
            for scope in resource.scope_profiles:
                sample_types = []
                for profile in scope.profiles:
                    sample_type = (strings[profile.sample_type.type_strindex], strings[profile.sample_type.unit_strindex])
                    period_type = (strings[profile.period_type.type_strindex], strings[profile.period_type.unit_strindex])
                    check(sample_type in (ON_CPU, OFF_CPU), f"sample type {sample_type} is neither {ON_CPU} nor {OFF_CPU}")
                    check(sample_type not in sample_types, f"two {sample_type} profiles in one scope")
                    sample_types.append(sample_type)
                    is_off_cpu = sample_type == OFF_CPU
                    if is_off_cpu:
                        check(period_type == OFF_CPU, f"the off-CPU period type is {period_type}")
                    else:
                        check(period_type == ("cpu", "nanoseconds"), "period type is not cpu/nanoseconds")
                    check(profile.period > 0, "no period")
                    check(profile.samples, f"a {sample_type} profile without samples")
                    if is_off_cpu != off_cpu:
                        continue
                    for sample in profile.samples:
                        check(len(sample.timestamps_unix_nano) == len(sample.values), "a sample's values are not one per timestamp")
                        if is_off_cpu:
                            check(all(v > 0 for v in sample.values), "an off-CPU value is not a positive time")
                        else:
                            check(all(v == 1 for v in sample.values), "an on-CPU sample's values are not 1")
                        check(all(profile.time_unix_nano <= t <= profile.time_unix_nano + profile.duration_nano
                                  for t in sample.timestamps_unix_nano), "a timestamp is outside the profile's time")
                        attrs = dict(attributes[i] for i in sample.attribute_indices)
                        check("process.pid" in attrs, "a sample has no process.pid")
                        path = [attrs.get("thread.name") or "[unknown]"]
                        if attrs.get(TRUNCATED):
                            path.append("[truncated]")
                        locations = dictionary.stack_table[sample.stack_index].location_indices
                        for index in reversed(locations):
                            location = dictionary.location_table[index]
                            types = [attributes[i][1] for i in location.attribute_indices
                                     if attributes[i][0] == "profile.frame.type"]
                            check(len(types) == 1 and types[0] in FRAME_TYPES,
                                  f"a location's profile.frame.type is {types}")
                            path.append(frame_name(dictionary, location, types[0]))
                        stack = ";".join(sanitized(name) for name in path)
                        weight = sum(sample.values) if is_off_cpu else len(sample.timestamps_unix_nano)
                        counts[stack] = counts.get(stack, 0) + weight
    return sorted(counts.items(), key=lambda item: item[0].encode("utf-8"))


def read_requests(path):
    requests = []
    with open(path) as lines:
        for line in lines:
            if not line.strip():
                continue
            record = json.loads(line)
            request = ExportProfilesServiceRequest()
            if "request" in record:
                json_format.ParseDict(record["request"], request)
            else:
                json_format.Parse(line, request)  # strict: an unknown field is an error
            requests.append(request)
    return requests


def die_with_parent():
    # No orphaned peer when the test process dies without stopping it.
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main():
    mode = sys.argv[1]
    if mode == "serve":
        die_with_parent()
        args = sys.argv[2:]
        serve(args[0], int(args[args.index("--partial-reject") + 1]) if "--partial-reject" in args else 0)
    elif mode == "mappings":
        lines = set()
        for request in read_requests(sys.argv[2]):
            dictionary = request.dictionary
            strings = dictionary.string_table
            for mapping in dictionary.mapping_table[1:]:
                attrs = {strings[dictionary.attribute_table[i].key_strindex]: any_value(dictionary.attribute_table[i].value)
                         for i in mapping.attribute_indices}
                lines.add(f"{strings[mapping.filename_strindex]} gnu={attrs.get('process.executable.build_id.gnu')}"
                          f" htlhash={attrs.get('process.executable.build_id.htlhash')}")
        for line in sorted(lines):
            print(line)
    elif mode == "folded":
        for stack, count in folded_stacks(read_requests(sys.argv[2]), off_cpu="--off-cpu" in sys.argv[3:]):
            print(f"{stack} {count}")
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
