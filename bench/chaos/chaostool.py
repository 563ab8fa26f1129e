#!/usr/bin/env python3
"""Helpers of bench/chaos.sh (Python 3 standard library only).

    chaostool.py monitor DIR OUT [--interval S] [--limit S]
        Every S seconds reads DIR/<role>.<n>.pid files (aggregator, sampler), and
        for each live pid /proc/PID/status (VmHWM, Threads) and /proc/PID/fd.
        Keeps the peaks per role in OUT (JSON, rewritten each round) until
        DIR/stop exists or --limit seconds passed.
    chaostool.py captures FILE...
        Counts what each capture file (one stream, docs/wire-format.md) holds:
        samples, the last sampler statistics record, whether it ended with an
        end-of-stream record. One JSON object per file.
    chaostool.py stream SOCKET MODE OUT [--seconds S] [--count N]
        A hostile but well-formed stream (MODE pids | ksyms | mappings) written
        to the aggregator's socket for at most S seconds; OUT gets the number of
        samples fully written, bytes, and how it ended.
    chaostool.py idle SOCKET N OUT [--seconds S]
        Opens N connections, sends nothing, holds them S seconds.
    chaostool.py flood SOCKET OUT [--seconds S] [--count N]
        Connects and closes as fast as it can (run it as a uid the aggregator
        refuses).
    chaostool.py stub MODE PORTFILE OUT [--seconds S]
        An OTLP/HTTP stand-in on 127.0.0.1 (ephemeral port written to PORTFILE):
        ok (200), hang (accepts, reads, never answers), 500, 429 (Retry-After: 1),
        huge (200 with a 1 GiB body, streamed). Counts requests in OUT.
    chaostool.py account CASEDIR [--max-rss-mib N --max-threads N --max-fds N --max-log-bytes N]
        One result row (JSON) of a case of bench/chaos.sh, from the files it left in
        CASEDIR: peaks, the daemons' exit lines and statuses, captures, checks.
    chaostool.py table ROWS.jsonl [--last]
        The rows as a markdown table, then each failure's reasons and the notes.
"""
import json
import os
import resource
import signal
import socket
import sys
import threading
import time


# ---------------------------------------------------------------- monitor

def read_status(pid):
    values = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmHWM", "VmRSS", "Threads"):
                    values[key] = int(rest.split()[0])
        values["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, ValueError, IndexError):
        return None
    return values


def monitor(directory, out, interval, limit):
    peaks = {}
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        stop = os.path.exists(os.path.join(directory, "stop"))
        for name in sorted(os.listdir(directory)):
            if not name.endswith(".pid"):
                continue
            role = name.split(".")[0]
            try:
                with open(os.path.join(directory, name)) as f:
                    pid = int(f.read().strip() or "0")
            except (OSError, ValueError):
                continue
            values = read_status(pid) if pid > 0 else None
            if not values:
                continue
            peak = peaks.setdefault(role, {"hwm_kib": 0, "threads": 0, "fds": 0, "pids": []})
            peak["hwm_kib"] = max(peak["hwm_kib"], values.get("VmHWM", 0))
            peak["threads"] = max(peak["threads"], values.get("Threads", 0))
            peak["fds"] = max(peak["fds"], values["fds"])
            if pid not in peak["pids"]:
                peak["pids"].append(pid)
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(peaks, f)
        os.replace(tmp, out)
        if stop:
            return
        time.sleep(interval)


# ---------------------------------------------------------------- wire format

def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sint(value):
    value &= (1 << 64) - 1
    if value >= 1 << 63:
        value -= 1 << 64
    return varint(((value << 1) ^ (value >> 63)) & ((1 << 64) - 1))


def string(text):
    data = text.encode()
    return varint(len(data)) + data


def record(kind, payload):
    return varint(kind) + varint(len(payload)) + payload


def header():
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    real = time.time_ns()
    body = (string("chaos-host") + string(os.uname().release) + string("chaos-boot")
            + varint(now) + varint(real) + varint(1) + varint(99) + string("chaos") + varint(0))
    return b"TNDM" + varint(1) + varint(len(body)) + body, now


def read_varint(data, offset, end):
    value = 0
    shift = 0
    while offset < end:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset
        shift += 7
        if shift > 63:
            break
    raise ValueError("varint")


def count_capture(path):
    result = {"file": os.path.basename(path), "samples": 0, "statistics": {}, "ended": False, "error": None}
    with open(path, "rb") as f:
        data = f.read()
    try:
        if data[:4] != b"TNDM":
            raise ValueError("no TNDM magic")
        _, offset = read_varint(data, 4, len(data))
        length, offset = read_varint(data, offset, len(data))
        offset += length
        if offset > len(data):
            raise ValueError("truncated header")
        while offset < len(data):
            kind, offset = read_varint(data, offset, len(data))
            length, offset = read_varint(data, offset, len(data))
            end = offset + length
            if end > len(data):
                raise ValueError(f"truncated record at {offset}")
            if kind == 3:
                result["samples"] += 1
            elif kind == 9:
                _, p = read_varint(data, offset, end)
                count, p = read_varint(data, p, end)
                counters = {}
                for _ in range(count):
                    code, p = read_varint(data, p, end)
                    value, p = read_varint(data, p, end)
                    counters[str(code)] = value
                result["statistics"] = counters
            elif kind == 11:
                result["ended"] = True
            offset = end
    except (ValueError, IndexError) as error:
        result["error"] = str(error)
    return result


# ---------------------------------------------------------------- hostile streams

class Writer:
    """Writes to the socket until a deadline; counts samples whose bytes all left."""

    def __init__(self, path, seconds):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.deadline = time.monotonic() + seconds
        self.bytes = 0
        self.samples = 0
        self.ended = "deadline"

    def send(self, data, samples=0, sample_ends=None):
        """Counts `samples` once all of `data` left; with `sample_ends` (the offset in
        `data` where each sample record ends), a send cut short by the deadline still
        counts the samples whose bytes all left."""
        view = memoryview(data)
        written = 0
        while view:
            left = self.deadline - time.monotonic()
            if left <= 0:
                if sample_ends:
                    import bisect
                    self.samples += bisect.bisect_right(sample_ends, written)
                raise TimeoutError
            self.sock.settimeout(min(left, 1.0))
            try:
                sent = self.sock.send(view)
            except socket.timeout:
                continue
            view = view[sent:]
            self.bytes += sent
            written += sent
        self.samples += samples

    def restart(self, seconds):
        self.deadline = time.monotonic() + seconds

    def expired(self):
        return time.monotonic() >= self.deadline


def hostile_stream(path, mode, out, seconds, count):
    writer = Writer(path, seconds)
    head, now = header()
    state = {"time": now}
    result = {"mode": mode}

    def sample_bytes(thread, user_stack):
        # +10 µs per sample, thread, cpu 0, user stack.
        state["time"] += 10_000
        return record(3, sint(10_000) + varint(thread) + varint(0) + varint(user_stack))

    try:
        writer.send(head)
        if mode == "pids":
            # 2^20 distinct pids by default: a process record, a thread and one sample each.
            # Interning restarts every 65536 threads (the sampler's own encoder limit). The
            # bytes are made before the clock starts, so only the aggregator is timed.
            total = count or (1 << 20)
            stack = record(1, varint(1) + varint(1) + varint(1) + sint(0x401000))
            tail = string("/nonexistent/chaos") + string("/chaos") + b"\x00"
            step = sint(10_000)
            chunks = []  # (bytes, the offset where each of their samples ends)

            def chunk(parts):
                ends = []
                offset = 0
                for part in parts:
                    offset += len(part)
                    if part[0] == 4:  # process, thread and sample: the sample is last
                        ends.append(offset)
                return b"".join(parts), ends
            parts = []
            for n in range(total):
                thread = n % 65536 + 1
                if thread == 1:
                    parts.append(record(10, b"") + stack)
                pid = 1_000_001 + n
                pv = varint(pid)
                process = pv + b"\x01\x00" + string(f"chaos{pid}") + tail
                tv = varint(thread)
                sample = step + tv + b"\x00\x01"
                parts.append(b"\x04" + varint(len(process)) + process
                             + b"\x02" + varint(len(tv) + len(pv) + 1) + tv + pv + b"\x00"
                             + b"\x03" + varint(len(sample)) + sample)
                if len(parts) >= 4096:
                    chunks.append(chunk(parts))
                    parts = []
            if parts:
                chunks.append(chunk(parts))
            state["time"] += 10_000 * total
            writer.restart(seconds)
            for data, ends in chunks:
                writer.send(data, samples=len(ends), sample_ends=ends)
            result["pids"] = total
        elif mode == "ksyms":
            # Kernel symbol records of 65536 distinct symbols each, one sample between records.
            writer.send(record(4, varint(4242) + varint(1) + varint(0) + string("chaos") + string("") + string("/") + varint(0))
                        + record(2, varint(1) + varint(4242) + varint(0)))
            address = 0xFFFFFFFF81000000
            symbols = 0
            records = 0
            limit = count or 1 << 30
            step = sint(16) + varint(0x54) + b"\x20"
            while records < limit and not writer.expired():
                first = sint(address) + varint(0x54) + b"\x20" + b"chaos_kernel_symbol_%012d\x00" % symbols
                body = b"".join([step + b"chaos_kernel_symbol_%012d\x00" % (symbols + i) for i in range(1, 65536)])
                payload = varint(65536) + first + body
                # The symbols are sorted within a record; each record's addresses follow the last's.
                address += 16 * 65536
                symbols += 65536
                records += 1
                kernel_stack = record(1, varint(records) + varint(0) + varint(1) + sint(address - 8))
                sample = record(3, sint(10_000) + varint(1) + varint(0) + varint(0) + varint(records))
                state["time"] += 10_000
                writer.send(record(7, payload) + kernel_stack + sample, samples=1)
            result["kernel_symbols"] = symbols
        elif mode == "mappings":
            # Processes with 65536 executable mappings each, every path distinct; one sample each.
            limit = count or 1 << 30
            prefixes = [sint(0x1000) + varint(0x1000) + b"\x00" + varint(0x803) + varint(i + 1) for i in range(65536)]
            suffixes = [b"/lib%06d.so" % i for i in range(65536)]
            pid = 2_000_000
            mappings = 0
            while pid - 2_000_000 < limit and not writer.expired() and pid - 2_000_000 < 65535:
                pid += 1
                n = pid - 2_000_000
                base = b"/nonexistent/chaos/%07d" % pid
                length = varint(len(base) + len(suffixes[0]))
                entries = b"".join([prefix + length + base + suffix for prefix, suffix in zip(prefixes, suffixes)])
                mappings += 65536
                process = record(4, varint(pid) + varint(1) + varint(0) + string("chaosmap") + string("/nonexistent/chaos/exe")
                                 + string("/chaos") + varint(0))
                maps = record(5, varint(pid) + varint(65536) + entries)
                user = record(1, varint(n) + varint(1) + varint(1) + sint(0x1000 + 0x800))
                writer.send(process + maps + user + record(2, varint(n) + varint(pid) + varint(0))
                            + sample_bytes(n, n), samples=1)
            result["mapping_entries"] = mappings
            result["pids"] = pid - 2_000_000
        else:
            raise SystemExit(f"stream: unknown mode {mode}; use pids, ksyms or mappings")
        writer.send(record(11, varint(state["time"]) + varint(0)))
        writer.ended = "finished"
    except TimeoutError:
        writer.ended = "deadline (the aggregator did not take the stream in time)"
    except OSError as error:
        writer.ended = f"error: {error}"
    finally:
        writer.sock.close()
    result.update({"samples_sent": writer.samples, "bytes": writer.bytes, "ended": writer.ended})
    with open(out, "w") as f:
        json.dump(result, f)


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def idle(path, count, out, seconds):
    raise_fd_limit()
    sockets = []
    errors = {}
    deadline = time.monotonic() + seconds
    # A full listen backlog answers EAGAIN: try again for up to 10 s in all.
    connect_deadline = min(deadline, time.monotonic() + 10)
    while len(sockets) < count and time.monotonic() < connect_deadline:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(2.0)
        try:
            sock.connect(path)
            sockets.append(sock)
        except OSError as error:
            errors[str(error)] = errors.get(str(error), 0) + 1
            sock.close()
            if error.errno == 11:
                time.sleep(0.01)
            else:
                break
    result = {"requested": count, "connected": len(sockets), "errors": errors}
    with open(out, "w") as f:
        json.dump(result, f)
    while time.monotonic() < deadline:
        time.sleep(0.2)
    # Which connections did the aggregator close on its own?
    closed = 0
    for sock in sockets:
        sock.setblocking(False)
        try:
            if sock.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        sock.close()
    result["closed_before_client_let_go"] = closed
    with open(out, "w") as f:
        json.dump(result, f)


def flood(path, out, seconds, count):
    deadline = time.monotonic() + seconds
    attempts = 0
    connected = 0
    errors = {}
    while attempts < count and time.monotonic() < deadline:
        attempts += 1
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(1.0)
        try:
            sock.connect(path)
            connected += 1
        except OSError as error:
            errors[str(error)] = errors.get(str(error), 0) + 1
        finally:
            sock.close()
    with open(out, "w") as f:
        json.dump({"attempts": attempts, "connected": connected, "errors": errors}, f)


# ---------------------------------------------------------------- OTLP/HTTP stub

def stub(mode, port_file, out, seconds):
    counts = {"mode": mode, "requests": 0, "body_bytes_sent": 0}
    lock = threading.Lock()
    stop = threading.Event()

    def save():
        with lock:
            text = json.dumps(counts)
        with open(out + ".tmp", "w") as f:
            f.write(text)
        os.replace(out + ".tmp", out)

    def read_request(conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
            if len(data) > 1 << 20:
                return False
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(min(1 << 20, length - len(body)))
            if not chunk:
                return False
            body += chunk
        return True

    def serve(conn):
        conn.settimeout(seconds)
        try:
            while not stop.is_set() and read_request(conn):
                with lock:
                    counts["requests"] += 1
                save()
                if mode == "hang":
                    stop.wait(seconds)
                    return
                if mode == "500":
                    body = b"internal error (chaos stub)"
                    conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                                 + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                elif mode == "429":
                    body = b"slow down (chaos stub)"
                    conn.sendall(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
                                 + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                elif mode == "huge":
                    total = 1 << 30
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                                 + b"Content-Length: %d\r\n\r\n" % total)
                    block = b"\0" * (1 << 20)
                    sent = 0
                    while sent < total and not stop.is_set():
                        conn.sendall(block)
                        sent += len(block)
                        with lock:
                            counts["body_bytes_sent"] += len(block)
                    save()
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.5)
    save()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.replace(port_file + ".tmp", port_file)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deadline = time.monotonic() + seconds
    connections = 0
    while not stop.is_set() and time.monotonic() < deadline and connections < 10_000:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        connections += 1
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
    stop.set()
    listener.close()
    save()


# ---------------------------------------------------------------- accounting

DROP_CODES = ("3", "4", "5", "6")


def read_kv(path):
    values = {}
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key:
                    values[key] = value
    except OSError:
        pass
    return values


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def last_int(pattern, text):
    import re
    found = re.findall(pattern, text)
    return int(found[-1]) if found else None


def account(case_dir, limits):
    """One table row for a case: peaks, sample counts, verdict and reasons."""
    import glob
    import re
    case = os.path.basename(case_dir.rstrip("/"))
    reasons = []
    notes = []
    peaks = {}
    try:
        with open(os.path.join(case_dir, "mon", "peaks.json")) as f:
            peaks = json.load(f)
    except (OSError, ValueError):
        notes.append("no resource samples")

    # Streams captured by each aggregator instance, with the sampler pid that wrote them.
    streams = []  # dicts: aggregator instance, sampler pid, capture counts
    aggregators = sorted(glob.glob(os.path.join(case_dir, "aggregator.*.status")))
    samplers = sorted(glob.glob(os.path.join(case_dir, "sampler.*.status")))
    for status_path in aggregators:
        instance = status_path.split(".")[-2]
        log = read_text(os.path.join(case_dir, f"aggregator.{instance}.log"))
        status = read_kv(status_path)
        peer_of = {m.group(1): m.group(2) for m in re.finditer(r"connection (\d+) from pid (\d+) uid", log)}
        for capture in sorted(glob.glob(os.path.join(case_dir, f"cap.{instance}", "*.tndm"))):
            connection = capture.rsplit("-", 1)[-1].split(".")[0]
            counts = count_capture(capture)
            counts["aggregator"] = instance
            counts["sampler_pid"] = peer_of.get(connection)
            streams.append(counts)

    # Sampler side: what each instance says it collected, sent and dropped. Its exit line
    # (`stopped`) is exact: the perf events are disabled before the last drain, so
    # samples_collected = samples_sent + drops, and samples queued for a stream that ended
    # are in drops (drops_disconnected; samples_discarded_unsent, counter 25, says how many).
    collected = sent = smp_dropped = 0
    collected_known = True
    sampler_lower_bound = False
    discarded = 0
    for status_path in samplers:
        instance = status_path.split(".")[-2]
        status = read_kv(status_path)
        log = read_text(os.path.join(case_dir, f"sampler.{instance}.log"))
        pid = status.get("pid")
        mine = [s for s in streams if s["sampler_pid"] == pid and s["statistics"]]
        final = max(mine, key=lambda s: (s["statistics"].get("2", 0), s["statistics"].get("1", 0)), default=None)
        exit_collected = last_int(r"(?<![\w])samples_collected=(\d+)", log)
        exit_sent = last_int(r"(?<![\w])samples_sent=(\d+)", log)
        exit_drops = last_int(r"(?<![\w])drops=(\d+)", log)
        if final and final["statistics"].get("25"):
            discarded += final["statistics"]["25"]
        if exit_collected is not None and exit_sent is not None and exit_drops is not None:
            collected += exit_collected
            sent += exit_sent
            smp_dropped += exit_drops
            if exit_collected != exit_sent + exit_drops:
                reasons.append(f"sampler {instance}: its exit line does not add up: samples_collected {exit_collected} "
                               f"!= samples_sent {exit_sent} + drops {exit_drops}")
            reasons_by = re.findall(r"(?<![\w])drops_by_reason=((?:drops_\w+=\d+ ?)*)", log)
            if reasons_by and exit_drops:
                notes.append(f"sampler {instance} drops: {reasons_by[-1].strip()}")
        elif final:
            stats = final["statistics"]
            sent += stats.get("2", 0)
            smp_dropped += sum(stats.get(code, 0) for code in DROP_CODES)
            collected += stats.get("1", 0)
            sampler_lower_bound = True
            notes.append(f"sampler {instance} ({status.get('how', 'ended')}): no exit line; counts from its last statistics "
                         "record; samples after it are unobservable")
        else:
            collected_known = False
            sampler_lower_bound = True
            notes.append(f"sampler {instance} ({status.get('how', 'ended')}) ended before its first statistics record: "
                         "its counts are unobservable")
        expected = status.get("expected", "0")
        code = status.get("status", "?")
        if status.get("timeout") == "1":
            reasons.append(f"sampler {instance} still running {status.get('stop_seconds')} s after SIGTERM")
        elif code != expected and expected != "any":
            reasons.append(f"sampler {instance} exit status {code} (expected {expected})")
    if discarded:
        notes.append(f"samples discarded unsent (counter 25 of the newest statistics record captured, part of the "
                     f"sampler's drops): {discarded}")

    # Aggregator side: what each instance says it received, and what it dropped itself:
    # `lost: N samples of M unfinished streams` (decoded, not in `samples received`) and
    # `dropped by the aggregator (…, samples): N` (in `samples received`, missing from the
    # metrics); `(max_profile_stacks, profile samples)` are in the metrics, missing only from
    # the profile outputs: noted, not subtracted; the other `dropped by the aggregator` counts
    # are records, not samples.
    decoded = 0          # samples the aggregator decoded: received + lost in unfinished streams
    agg_window = 0       # of the received, dropped at max_processes_per_window
    agg_lost = 0
    received_from_capture = False
    exporters = []
    for status_path in aggregators:
        instance = status_path.split(".")[-2]
        status = read_kv(status_path)
        log = read_text(os.path.join(case_dir, f"aggregator.{instance}.log"))
        done_lines = [line for line in log.splitlines() if "done: " in line]
        done = done_lines[-1] if done_lines else None
        received_done = last_int(r"samples received: (\d+)", done) if done else None
        if received_done is not None:
            decoded += received_done
            lost = re.search(r"lost: (\d+) samples of (\d+) unfinished streams", done)
            if lost:
                agg_lost += int(lost.group(1))
                notes.append(f"aggregator {instance}: lost {lost.group(1)} samples of {lost.group(2)} unfinished streams")
                decoded += int(lost.group(1))
            for limit, count in re.findall(r"dropped by the aggregator \(([^)]*)\): (\d+)", done):
                if limit.endswith(", samples"):
                    agg_window += int(count)
                notes.append(f"aggregator {instance} dropped ({limit}): {count}")
            for exporter in re.findall(r"exporter (\S+) sent=(\d+) retried=(\d+) dropped=(\d+) rejected=(\d+)", done):
                exporters.append(f"{exporter[0]} " + "/".join(exporter[1:]))
            server = re.search(r"connections accepted \d+.*?unfinished at shutdown \d+", done)
            if server:
                notes.append(f"aggregator {instance}: {server.group(0)}")
            if os.path.exists(os.path.join(case_dir, "config.yml")) and "exporter " not in done:
                reasons.append(f"aggregator {instance}: an exporter is configured, but its 'done:' line has no exporter statistics")
        else:
            mine = [s for s in streams if s["aggregator"] == instance]
            if mine:
                decoded += sum(s["samples"] for s in mine)
                received_from_capture = True
                notes.append(f"aggregator {instance} ({status.get('how', 'ended')}): no summary; received = samples in its captures")
            elif status.get("expected") != "137":
                reasons.append(f"aggregator {instance} reported no summary (no 'done:' line)")
        expected = status.get("expected", "0")
        code = status.get("status", "?")
        if status.get("timeout") == "1":
            reasons.append(f"aggregator {instance} did not exit within {status.get('stop_seconds')} s of SIGTERM (killed)")
        elif code != expected and expected != "any":
            reasons.append(f"aggregator {instance} exit status {code} (expected {expected})")
        if status.get("stop_seconds") and status.get("timeout") != "1":
            notes.append(f"aggregator {instance} exited {status.get('stop_seconds')} s after SIGTERM")
        log_bytes = len(log.encode())
        if log_bytes > limits["log_bytes"]:
            reasons.append(f"aggregator {instance} logged {log_bytes} bytes (limit {limits['log_bytes']})")
    agg_dropped = agg_lost + agg_window
    received = decoded - agg_dropped  # received and kept

    # A hostile client instead of a sampler.
    client = {}
    client_path = os.path.join(case_dir, "client.json")
    if os.path.exists(client_path) and not samplers:
        with open(client_path) as f:
            client = json.load(f)
        sent = client.get("samples_sent", 0)
        collected = sent
        notes.append("client: " + ", ".join(f"{k} {v}" for k, v in client.items() if k != "samples_sent"))

    # Every sample received or counted as dropped (by the sampler or the aggregator).
    dropped = smp_dropped + agg_dropped
    if samplers or client:
        if collected_known and not sampler_lower_bound and samplers:
            if collected != received + dropped:
                reasons.append(f"collected {collected} != received {received} + dropped {dropped}: "
                               f"{collected - received - dropped} samples neither received nor counted as dropped")
        if sent > decoded:
            reasons.append(f"{sent - decoded} samples sent but neither received nor counted as dropped")
        elif sent < decoded and not sampler_lower_bound:
            reasons.append(f"the aggregator decoded {decoded} samples > sent {sent}")

    # Bounds.
    agg = peaks.get("aggregator", {})
    smp = peaks.get("sampler", {})
    for role, peak in (("aggregator", agg), ("sampler", smp)):
        if not peak:
            continue
        if peak["hwm_kib"] > limits["rss_mib"] * 1024:
            reasons.append(f"{role} peak RSS {peak['hwm_kib'] // 1024} MiB > {limits['rss_mib']} MiB")
        if peak["threads"] > limits["threads"]:
            reasons.append(f"{role} peak threads {peak['threads']} > {limits['threads']}")
        if peak["fds"] > limits["fds"]:
            reasons.append(f"{role} peak descriptors {peak['fds']} > {limits['fds']}")

    for line in read_text(os.path.join(case_dir, "checks")).splitlines():
        kind, _, text = line.partition(" ")
        (reasons if kind == "FAIL" else notes).append(text)

    def mib(peak):
        return str(peak["hwm_kib"] // 1024) if peak else "-"

    def pair(key):
        return f"{agg.get(key, '-')} / {smp.get(key, '-')}" if smp else str(agg.get(key, "-"))

    row = {
        "case": case,
        "rss": f"{mib(agg)} / {mib(smp)}" if smp else mib(agg),
        "threads": pair("threads"),
        "fds": pair("fds"),
        "collected": (str(collected) if collected_known else "?") + ("+" if sampler_lower_bound else ""),
        "sent": str(sent) + ("+" if sampler_lower_bound else ""),
        "received": str(received) + ("c" if received_from_capture else ""),
        "dropped": f"{smp_dropped} + {agg_dropped}",
        "exporter": ", ".join(exporters) or "-",
        "verdict": "FAIL" if reasons else "OK",
        "reasons": reasons,
        "notes": notes,
    }
    return row


def table(path, last_only):
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if last_only:
        rows = rows[-1:]
    columns = [("case", "case"), ("rss", "peak RSS MiB agg / smp"), ("threads", "threads agg / smp"),
               ("fds", "fds agg / smp"), ("collected", "collected"), ("sent", "sent"), ("received", "received"),
               ("dropped", "dropped smp + agg"),
               ("exporter", "exporter sent/retried/dropped/rejected"), ("verdict", "verdict")]
    lines = ["| " + " | ".join(title for _, title in columns) + " |",
             "|" + "|".join("---" if key == "case" else "---:" for key, _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(row.get(key, "-") for key, _ in columns) + " |")
    lines.append("")
    for row in rows:
        for reason in row["reasons"]:
            lines.append(f"- {row['case']}: FAIL: {reason}")
        for note in row["notes"]:
            lines.append(f"- {row['case']}: {note}")
    print("\n".join(lines))


def option(args, name, default, kind=float):
    if name in args:
        index = args.index(name)
        value = kind(args[index + 1])
        del args[index:index + 2]
        return value
    return default


def main():
    args = sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    command = args.pop(0)
    seconds = option(args, "--seconds", 20.0)
    count = option(args, "--count", 0, int)
    if command == "monitor":
        interval = option(args, "--interval", 0.2)
        limit = option(args, "--limit", 3600.0)
        monitor(args[0], args[1], interval, limit)
    elif command == "captures":
        for path in args:
            print(json.dumps(count_capture(path)))
    elif command == "stream":
        hostile_stream(args[0], args[1], args[2], seconds, count)
    elif command == "idle":
        idle(args[0], int(args[1]), args[2], seconds)
    elif command == "flood":
        flood(args[0], args[1], seconds, count or 1_000_000)
    elif command == "account":
        limits = {"rss_mib": option(args, "--max-rss-mib", 512, int), "threads": option(args, "--max-threads", 64, int),
                  "fds": option(args, "--max-fds", 256, int), "log_bytes": option(args, "--max-log-bytes", 1 << 20, int)}
        print(json.dumps(account(args[0], limits)))
    elif command == "table":
        last = "--last" in args
        table([a for a in args if a != "--last"][0], last)
    elif command == "stub":
        stub(args[0], args[1], args[2], seconds)
    else:
        raise SystemExit(f"unknown command {command}\n{__doc__}")


if __name__ == "__main__":
    main()
