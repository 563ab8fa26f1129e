/*
 * The HotSpot JVM walker's maps (docs/jvm.md): the sampling object includes it for the maps
 * (each shared by name with the JVM walker's object, and written by HotSpotLoading). The
 * walker's object adds the walk (hotspot_unwind.bpf.h) and the records
 * (hotspot_records.bpf.h).
 */
#include "tandem_hotspot.h"
#include "walker_common.bpf.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TANDEM_HOTSPOT_LAYOUTS);
    __type(key, __u32);
    __type(value, struct tandem_hotspot_layout);
} hotspot_layouts SEC(".maps");

/* pid → the process's checked statics (written by HotSpotLoading from control record 21). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TANDEM_HOTSPOT_MAX_PROCESSES);
    __type(key, __u32);
    __type(value, struct tandem_hotspot_process);
} hotspot_processes SEC(".maps");

/* Methods sent, with the stream generation they were sent in. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct tandem_hotspot_method_key);
    __type(value, __u64);
} hotspot_methods_sent SEC(".maps");

/* nmethods whose code record was sent (key: the nmethod, its fingerprint), with the stream generation. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct tandem_hotspot_method_key);
    __type(value, __u64);
} hotspot_codes_sent SEC(".maps");

/* [0]: the generation of the stream the sampler writes now. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} hotspot_stream SEC(".maps");

/* The Java frames of the walk in progress on this CPU. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct tandem_hotspot_scratch);
} hotspot_scratch SEC(".maps");

static __always_inline int hotspot_read_s32(__s32 *value, __u64 address)
{
    return bpf_probe_read_user(value, sizeof(*value), (void *)address);
}

static __always_inline int hotspot_read_u16(__u16 *value, __u64 address)
{
    return bpf_probe_read_user(value, sizeof(*value), (void *)address);
}

