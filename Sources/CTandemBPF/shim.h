#ifndef CTANDEM_BPF_SHIM_H
#define CTANDEM_BPF_SHIM_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#endif
