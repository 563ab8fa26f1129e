"""Runs tandem's BPF program (bpf/sampler.bpf.c compiled to OBJECT) on its own against one node
process, with only the V8 walker's maps filled: cpu-clock events at 99 Hz on every CPU, PID in
v8_processes, the layout read_v8dbg.py reads from the process's executable in v8_layouts. Drains
the ring buffer as the sampler does (no wake-ups), decodes the function records as the aggregator
would (sequential strings), and prints the walker's counters, how many of the process's samples
had JavaScript frames and a named leaf, the leaf functions' shares and the deepest stack.

    clang -target bpf -D__TARGET_ARCH_x86 -O2 -g -I/usr/include/x86_64-linux-gnu -Ibpf \
        -c bpf/sampler.bpf.c -o /tmp/s.o
    node Tests/Workloads/node/known_truth.js 60 & python3 scripts/v8-layouts/check_walker.py /tmp/s.o $! 5

With --unfollowed the process is not put in v8_processes (the walker costs it nothing): with
`sysctl kernel.bpf_stats_enabled=1`, the program's run time per sample in the two runs gives the
walker's cost (bench/v8-walker-cost.sh). A check of the walker without the sampler (root needed). Loading takes seconds (the verifier):
start the workload long enough before.
"""
import collections, ctypes, os, struct, sys, time
sys.path.insert(0, '/work/wt-v8/scripts/v8-layouts')
import read_v8dbg
bpf = ctypes.CDLL('libbpf.so.1', use_errno=True)
libc = ctypes.CDLL(None, use_errno=True)
for name, res, args in [
    ('bpf_object__open_file', ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_void_p]),
    ('bpf_object__load', ctypes.c_int, [ctypes.c_void_p]),
    ('bpf_object__find_map_fd_by_name', ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
    ('bpf_object__find_program_by_name', ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]),
    ('bpf_program__fd', ctypes.c_int, [ctypes.c_void_p]),
    ('bpf_map_update_elem', ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64]),
    ('bpf_map_lookup_elem', ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]),
    ('ring_buffer__new', ctypes.c_void_p, [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]),
    ('ring_buffer__consume', ctypes.c_int, [ctypes.c_void_p]),
]:
    getattr(bpf, name).restype = res; getattr(bpf, name).argtypes = args
SAMPLE_BYTES = 40 + 8 + 127 * 8 * 2 + 8
FRAME = struct.Struct('<QQIIBBHI')
FIELDS = struct.Struct('<IIQIII6H')
def string(layout, kind, raw):
    if not raw or kind >= layout['first_nonstring_type'] or kind & layout['string_representation_mask'] != 0: return None
    length = struct.unpack_from('<i', raw, layout['string_length'])[0]
    chars = raw[layout['seq_string_chars']:]
    if kind & layout['string_encoding_mask'] == layout['one_byte_string_tag']: return chars[:length].decode('latin-1')
    return chars[:2 * length].decode('utf-16-le', 'replace')
obj_path, pid, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
follow = '--unfollowed' not in sys.argv[4:]
values = read_v8dbg.layout(os.readlink(f'/proc/{pid}/exe')); layout = dict(values)
obj = bpf.bpf_object__open_file(obj_path.encode(), None)
assert obj and bpf.bpf_object__load(obj) == 0
fd = lambda n: bpf.bpf_object__find_map_fd_by_name(obj, n.encode())
packed = struct.pack('<IH' + 'H' * (len(values) - 2), *[v for _, v in values])
key0 = ctypes.c_uint32(0)
assert bpf.bpf_map_update_elem(fd('v8_layouts'), ctypes.byref(key0), ctypes.create_string_buffer(packed, len(packed)), 0) == 0
g = ctypes.c_uint64(1); bpf.bpf_map_update_elem(fd('v8_stream'), ctypes.byref(key0), ctypes.byref(g), 0)
key = ctypes.c_uint32(pid)
if follow:
    assert bpf.bpf_map_update_elem(fd('v8_processes'), ctypes.byref(key), ctypes.create_string_buffer(8), 0) == 0
functions, samples, leaves, stacks = {}, collections.Counter(), collections.Counter(), []
@ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
def handle(_, data, size):
    raw = ctypes.string_at(data, size); kind = struct.unpack_from('<I', raw)[0]
    if kind == 10:
        _, fpid, sfi, fp, _, flags, sfi_b, scope_b, name_b, name_t, script_b, script_t = FIELDS.unpack_from(raw)
        b = FIELDS.size
        functions[(sfi, fp)] = (string(layout, name_t, raw[b+256:b+256+name_b]) or '(anonymous)',
                                string(layout, script_t, raw[b+528:b+528+script_b]), flags)
    elif kind == 9:
        count, flags = struct.unpack_from('<II', raw, SAMPLE_BYTES); samples['v8 samples'] += 1
        frames = [FRAME.unpack_from(raw, SAMPLE_BYTES + 8 + 32 * i) for i in range(count)]
        if count: samples['with JavaScript frames'] += 1
        stacks.append(frames)
    return 0
ring = bpf.ring_buffer__new(fd('events'), handle, None, None)
prog_fd = bpf.bpf_program__fd(bpf.bpf_object__find_program_by_name(obj, b'tandem_sample'))
attr = bytearray(128); struct.pack_into('<IIQQQ', attr, 0, 1, 128, 0, 99, 0); struct.pack_into('<Q', attr, 40, 1 << 10)
events = []
for cpu in range(os.cpu_count()):
    efd = libc.syscall(298, ctypes.c_char_p(bytes(attr)), -1, cpu, -1, 0); assert efd >= 0
    libc.ioctl(efd, 0x40042408, prog_fd); libc.ioctl(efd, 0x2400, 0); events.append(efd)
end = time.time() + seconds
while time.time() < end:
    time.sleep(0.05); bpf.ring_buffer__consume(ring)
for efd in events: os.close(efd)
# The program's run statistics (kernel.bpf_stats_enabled=1): the newest tandem_sample is this one.
import json, subprocess
programs = [p for p in json.loads(subprocess.run(['bpftool', '-j', 'prog', 'show'], capture_output=True, text=True).stdout)
            if p.get('name') == 'tandem_sample']
if programs:
    newest = max(programs, key=lambda p: p['id'])
    if newest.get('run_cnt'):
        print(f"bpf run_cnt {newest['run_cnt']} run_time_ns {newest['run_time_ns']}"
              f" = {newest['run_time_ns'] / newest['run_cnt']:.0f} ns per sample")
bpf.ring_buffer__consume(ring)
c = []
for index in (0, 26, 27, 28, 29):
    k, v = ctypes.c_uint32(index), ctypes.c_uint64(0); bpf.bpf_map_lookup_elem(fd('counters'), ctypes.byref(k), ctypes.byref(v)); c.append(v.value)
print('counters samples/v8 walks/with frames/function records/ring full:', c)
named = 0
kinds = collections.Counter()
for frames in stacks:
    if not frames: continue
    leaf = frames[0]; f = functions.get((leaf[1], leaf[2]))
    kinds[(leaf[4], leaf[5], leaf[6])] += 1
    if f: named += 1; leaves[f'{f[0]} ({os.path.basename(f[1] or "?")})'] += 1
print(f"samples of pid {pid}: {samples['v8 samples']}, with JS frames: {samples['with JavaScript frames']}, leaf named: {named}, function records: {len(functions)}")
print('leaf kinds (kind, code kind, flags):', dict(kinds))
for label, n in leaves.most_common(10): print(f'  {100 * n / max(1, sum(leaves.values())):5.1f}%  {label}')
if stacks:
    full = max(stacks, key=len)
    print('deepest:', ' <- '.join((functions.get((f[1], f[2])) or ('?',))[0] for f in full))
