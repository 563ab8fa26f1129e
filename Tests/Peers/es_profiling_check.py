#!/usr/bin/env python3
"""Checks the Universal Profiling documents an exporter sent to es_bulk_stub.py.

  es_profiling_check.py check DUMPFILE SCHEMA
      Checks every document of every bulk request in DUMPFILE (es_bulk_stub.py's dump)
      against SCHEMA (profiling-index-schema.json): an unknown field, a value of the
      wrong type, a missing or forbidden _id, or an id that does not decode to its size
      (16-byte file and trace ids, 24-byte frame ids, base64url without padding), a bulk
      verb other than the index's 'op' (create, for data streams) or a missing 'required'
      field is an error. Prints "ok <documents>", or the errors on stderr and exits 1.
  es_profiling_check.py folded DUMPFILE SCHEMA
      Checks as above, then rebuilds the stacks from profiling-events-all, the stack
      traces and the stack frames, and prints them folded (`thread;root;...;leaf count`,
      sorted by their UTF-8 bytes). Frames without a stack frame document print as `?`,
      an aborted unwind (error frame of type 0) as `[truncated]`.
  es_profiling_check.py counts DUMPFILE
      Prints the number of documents per index, one `index count` line each, sorted.
"""
import base64
import ipaddress
import json
import re
import sys

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
errors = []


def error(message):
    if len(errors) < 50:
        errors.append(message)


def decode_id(text, size, what):
    if not isinstance(text, str) or "=" in text or "+" in text or "/" in text:
        error(f"{what}: {text!r} is not base64url without padding")
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except Exception:
        error(f"{what}: {text!r} does not decode")
        return None
    if size and len(raw) != size:
        error(f"{what}: {text!r} decodes to {len(raw)} bytes, not {size}")
        return None
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != text:
        error(f"{what}: {text!r} is not canonical")
    return raw


def check_value(kind, value, where):
    values = value if isinstance(value, list) else [value]
    for item in values:
        if kind == "keyword":
            ok = isinstance(item, str)
        elif kind == "version":
            # Elasticsearch's version type takes any string; a version has no blanks.
            ok = isinstance(item, str) and item != "" and not any(c.isspace() for c in item)
        elif kind == "ip":
            try:
                ok = isinstance(item, str) and ipaddress.ip_address(item) is not None
            except ValueError:
                ok = False
        elif kind == "short":
            ok = isinstance(item, int) and not isinstance(item, bool) and -32768 <= item <= 32767
        elif kind == "integer":
            ok = isinstance(item, int) and not isinstance(item, bool) and -2**31 <= item < 2**31
        elif kind == "long":
            ok = isinstance(item, int) and not isinstance(item, bool) and -2**63 <= item < 2**63
        elif kind in ("epoch_second", "epoch_millis"):
            ok = isinstance(item, int) and not isinstance(item, bool) and item >= 0
        elif kind == "unsigned_long":
            ok = isinstance(item, int) and not isinstance(item, bool) and 0 <= item < 2**64
        elif kind == "date":
            ok = (isinstance(item, int) and not isinstance(item, bool)) or (isinstance(item, str) and RFC3339.match(item))
        elif kind == "boolean":
            ok = isinstance(item, bool)
        else:
            ok = False
        if not ok:
            error(f"{where}: {item!r} is not a valid {kind}")


def template_of(index, schema):
    if index.startswith("profiling-events-"):
        suffix = index[len("profiling-events-"):]
        if suffix == "all" or re.fullmatch(r"5pow(0[1-9]|1[01])", suffix):
            return "profiling-events"
    return index if index in schema["indices"] else None


ID_SIZES = {"profiling-stacktraces": 16, "profiling-stackframes": 24, "profiling-executables": 16,
            "profiling-sq-executables": 16, "profiling-sq-leafframes": 24}


def documents(dump, schema):
    """Yields (index, id, fields) for each checked document."""
    for number, line in enumerate(open(dump)):
        lines = json.loads(line)["lines"]
        if len(lines) % 2:
            error(f"request {number}: odd number of NDJSON lines")
            continue
        for position in range(0, len(lines), 2):
            action, body = lines[position], lines[position + 1]
            where = f"request {number} item {position // 2}"
            if len(action) != 1:
                error(f"{where}: action {action!r}")
                continue
            verb, meta = next(iter(action.items()))
            index = meta.get("_index")
            name = template_of(index, schema)
            if name is None:
                error(f"{where}: unknown index {index!r}")
                continue
            spec = schema["indices"][name]
            doc_id = meta.get("_id")
            if spec["id"] == "required" and doc_id is None:
                error(f"{where}: {index} document without _id")
            if spec["id"] == "forbidden" and doc_id is not None:
                error(f"{where}: {index} document with an _id")
            if "op" in spec and verb != spec["op"]:
                error(f"{where}: {verb!r} into {index}, which takes only {spec['op']!r}")
            if doc_id is not None and index in ID_SIZES:
                decode_id(doc_id, ID_SIZES[index], f"{where} _id")
            if verb == "update":
                if "upsert_params" not in spec:
                    error(f"{where}: update of {index}")
                    continue
                if set(body) != {"scripted_upsert", "script", "upsert"} or body.get("scripted_upsert") is not True \
                        or body.get("upsert") != {} or not isinstance(body["script"].get("source"), str):
                    error(f"{where}: not a scripted upsert: {body!r}")
                    continue
                params = body["script"].get("params", {})
                fields = {}
                for key, value in params.items():
                    if key not in spec["upsert_params"]:
                        error(f"{where}: unknown script parameter {key!r}")
                        continue
                    fields[spec["upsert_params"][key]] = value
            elif verb in ("create", "index"):
                fields = body
            else:
                error(f"{where}: action {verb!r}")
                continue
            if index == "profiling-executables" and fields.get("Executable.build.id") != doc_id:
                error(f"{where}: Executable.build.id {fields.get('Executable.build.id')!r} is not the _id {doc_id!r}")
            for key in spec.get("required", []):
                if key not in fields:
                    error(f"{where}: {index} document without {key!r}")
            if name == "profiling-events":
                decode_id(fields.get("Stacktrace.id"), 16, f"{where} Stacktrace.id")
            for key, value in fields.items():
                kind = spec["fields"].get(key)
                if kind is None:
                    error(f"{where}: unknown field {key!r} in {index}")
                    continue
                check_value(kind, value, f"{where} {index}.{key}")
            yield index, doc_id, fields


def fnv128a(data):
    value = 0x6C62272E07BB014262B821756295C58D
    for byte in data:
        value ^= byte
        value = (value * 0x0000000001000000000000000000013B) % (1 << 128)
    return value.to_bytes(16, "big")


def frame_types(text):
    raw = decode_id(text, 0, "Stacktrace.frame.types") or b""
    types = []
    for index in range(0, len(raw) - 1, 2):
        if raw[index] == 0:
            error("a frame type run of 0")
        types += [raw[index + 1]] * raw[index]
    return types


def short_source_file(path):
    parts = [part for part in path.split("/") if part]
    if not parts:
        return path
    if parts[-1] in ("__init__.py", "__main__.py") and len(parts) >= 2:
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1]


def sanitized(name):
    return "".join(":" if c == ";" else (" " if c in "\n\r\v\f\x85\u2028\u2029" else c) for c in name)


def folded(dump, schema):
    traces, frames, events = {}, {}, []
    for index, doc_id, fields in documents(dump, schema):
        if index == "profiling-stacktraces":
            traces[doc_id] = fields
        elif index == "profiling-stackframes":
            frames[doc_id] = fields
        elif index == "profiling-events-all":
            events.append(fields)
    counts = {}
    for event in events:
        trace_id = event.get("Stacktrace.id")
        decode_id(trace_id, 16, "Stacktrace.id")
        trace = traces.get(trace_id)
        if trace is None:
            error(f"event of stack trace {trace_id} that no document describes")
            continue
        raw = decode_id(trace["Stacktrace.frame.ids"], 0, "Stacktrace.frame.ids") or b""
        if len(raw) % 24:
            error(f"Stacktrace.frame.ids of {trace_id} is {len(raw)} bytes, not a multiple of 24")
            continue
        ids = [raw[i:i + 24] for i in range(0, len(raw), 24)]
        types = frame_types(trace["Stacktrace.frame.types"])
        if len(types) != len(ids):
            error(f"stack trace {trace_id}: {len(ids)} frames but {len(types)} types")
            continue
        # Stacktrace.id: FNV-128a over the frames leaf first, file id bytes then decimal address.
        digest = fnv128a(b"".join(f[:16] + str(int.from_bytes(f[16:], "big")).encode() for f in reversed(ids)))
        if base64.urlsafe_b64encode(digest).decode().rstrip("=") != trace_id:
            error(f"stack trace {trace_id} is not the hash of its frames")
        path = [event.get("process.thread.name") or "[unknown]"]
        for frame_id, frame_type in zip(ids, types):
            document = frames.get(base64.urlsafe_b64encode(frame_id).decode().rstrip("="))
            if frame_type & 0x80:
                path.append("[truncated]" if frame_type == 0x80 else "?")
            elif document is None:
                path.append("?")
            else:
                name = document["Stackframe.function.name"][0]
                file = document["Stackframe.file.name"][0]
                line = document["Stackframe.line.number"][0]
                # Machine code (native 3, kernel 4, go 11) keeps a bare name in --folded, lines or not.
                if file and frame_type not in (3, 4, 11):
                    name = f"{name} ({short_source_file(file)}:{line})" if line else f"{name} ({short_source_file(file)})"
                path.append(name)
        stack = ";".join(sanitized(name) for name in path)
        counts[stack] = counts.get(stack, 0) + event.get("Stacktrace.count", 0)
    return sorted(counts.items(), key=lambda item: item[0].encode("utf-8"))


def main():
    mode, dump = sys.argv[1], sys.argv[2]
    if mode == "counts":
        counts = {}
        for line in open(dump):
            lines = json.loads(line)["lines"]
            for action in lines[0::2]:
                index = next(iter(action.values()))["_index"]
                counts[index] = counts.get(index, 0) + 1
        for index in sorted(counts):
            print(index, counts[index])
        return
    schema = json.load(open(sys.argv[3]))
    if mode == "check":
        total = sum(1 for _ in documents(dump, schema))
        output = [f"ok {total}"]
    else:
        output = [f"{stack} {count}" for stack, count in folded(dump, schema)]
    if errors:
        sys.stderr.write("\n".join(errors) + "\n")
        sys.exit(1)
    print("\n".join(output))


if __name__ == "__main__":
    main()
