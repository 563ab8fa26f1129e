/* What more than one interpreter walker reads the same way: the thread's fs base (its TLS,
 * by CO-RE) and a word of user memory. */
#ifndef TANDEM_WALKER_COMMON_BPF_H
#define TANDEM_WALKER_COMMON_BPF_H

#include <bpf/bpf_core_read.h>

/* Only the field the walker needs; CO-RE finds it in the running kernel's task_struct. */
struct thread_struct___tandem {
    unsigned long fsbase;
} __attribute__((preserve_access_index));

struct task_struct___tandem {
    struct thread_struct___tandem thread;
} __attribute__((preserve_access_index));

static __always_inline int read_user_u64(__u64 *value, __u64 address)
{
    return bpf_probe_read_user(value, sizeof(*value), (void *)address);
}

#endif
