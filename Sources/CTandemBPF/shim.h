#ifndef CTANDEM_BPF_SHIM_H
#define CTANDEM_BPF_SHIM_H
/*
 * libbpf plus the few system calls the sampler makes that Swift cannot call
 * directly (variadic syscall()/prctl(), or macros). Every wrapper returns the
 * raw result; errors are reported through errno as the C call does.
 */
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <linux/capability.h>
#include <linux/perf_event.h>

#include "../../bpf/tandem_sampler.h"

/* perf_event_open(2) of a software cpu-clock event on one CPU, all tasks,
 * sampling at `frequency` Hz. Returns the fd or -1 (errno). */
static inline int tandem_perf_open_cpu_clock(int cpu, unsigned long frequency)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.type = PERF_TYPE_SOFTWARE;
    attr.size = sizeof(attr);
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.freq = 1;
    attr.sample_freq = frequency;
    attr.disabled = 1;
    return (int)syscall(SYS_perf_event_open, &attr, -1 /* every task */, cpu, -1 /* no group */,
                        PERF_FLAG_FD_CLOEXEC);
}

/* ioctl(PERF_EVENT_IOC_ENABLE). */
static inline int tandem_perf_enable(int fd)
{
    return ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
}

/* ioctl(PERF_EVENT_IOC_DISABLE). */
static inline int tandem_perf_disable(int fd)
{
    return ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
}

/* The three 32-bit capability words capget(2) fills for this process, as 64-bit sets. */
struct tandem_capabilities {
    unsigned long long effective;
    unsigned long long permitted;
    unsigned long long inheritable;
};

/* capget(2) of the calling process. */
static inline int tandem_capget(struct tandem_capabilities *out)
{
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    int result = (int)syscall(SYS_capget, &header, data);
    if (result == 0) {
        out->effective = (unsigned long long)data[0].effective | ((unsigned long long)data[1].effective << 32);
        out->permitted = (unsigned long long)data[0].permitted | ((unsigned long long)data[1].permitted << 32);
        out->inheritable = (unsigned long long)data[0].inheritable | ((unsigned long long)data[1].inheritable << 32);
    }
    return result;
}

/* capset(2) of the calling process. */
static inline int tandem_capset(const struct tandem_capabilities *caps)
{
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    data[0].effective = (__u32)caps->effective;
    data[1].effective = (__u32)(caps->effective >> 32);
    data[0].permitted = (__u32)caps->permitted;
    data[1].permitted = (__u32)(caps->permitted >> 32);
    data[0].inheritable = (__u32)caps->inheritable;
    data[1].inheritable = (__u32)(caps->inheritable >> 32);
    return (int)syscall(SYS_capset, &header, data);
}

/* prctl(PR_CAPBSET_DROP, cap): removes `cap` from the bounding set. */
static inline int tandem_capbset_drop(int cap)
{
    return prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0, 0, 0);
}

/* prctl(PR_CAPBSET_READ, cap): 1 if in the bounding set, 0 if not, -1 (errno). */
static inline int tandem_capbset_read(int cap)
{
    return prctl(PR_CAPBSET_READ, (unsigned long)cap, 0, 0, 0);
}

/* prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL). */
static inline int tandem_clear_ambient_capabilities(void)
{
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

/* prctl(PR_SET_NO_NEW_PRIVS, 1). */
static inline int tandem_set_no_new_privs(void)
{
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* prctl(PR_GET_NO_NEW_PRIVS). */
static inline int tandem_get_no_new_privs(void)
{
    return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
}

/* The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap is the
 * authority; this is the compile-time one). */
static inline int tandem_cap_last_cap_compiled(void)
{
    return CAP_LAST_CAP;
}

/* bpf_object__open_mem with an object name (LIBBPF_OPTS is a macro). */
static inline struct bpf_object *tandem_bpf_object_open_mem(const void *bytes, size_t size, const char *name)
{
    LIBBPF_OPTS(bpf_object_open_opts, options, .object_name = name);
    return bpf_object__open_mem(bytes, size, &options);
}

/* Blocks SIGINT, SIGTERM and SIGHUP and returns a signalfd that reports them. */
static inline int tandem_signalfd_for_termination(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* connect(2) a non-blocking AF_UNIX stream socket to `path`. Returns the fd or -1 (errno). */
static inline int tandem_unix_connect(const char *path)
{
    struct sockaddr_un address;
    memset(&address, 0, sizeof(address));
    address.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(address.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* send(2) without blocking and without SIGPIPE. */
static inline long tandem_send_nonblocking(int fd, const void *bytes, size_t count)
{
    return (long)send(fd, bytes, count, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* sendmsg(2) of `count` bytes with `descriptorCount` (1 to 64) descriptors as
 * one SCM_RIGHTS message, without blocking and without SIGPIPE (CMSG_* are
 * macros). A Unix stream socket attaches them to the first byte sent: the
 * receiver gets them in the read that returns that byte. */
static inline long tandem_send_with_descriptors(int fd, const void *bytes, size_t count,
                                                const int *descriptors, int descriptorCount)
{
    union {
        char buffer[CMSG_SPACE(sizeof(int) * 64)];
        struct cmsghdr align;
    } control;
    if (descriptorCount < 1 || descriptorCount > 64) {
        errno = EINVAL;
        return -1;
    }
    memset(&control, 0, sizeof(control));
    struct iovec vector = { .iov_base = (void *)bytes, .iov_len = count };
    struct msghdr message;
    memset(&message, 0, sizeof(message));
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control.buffer;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)descriptorCount);
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)descriptorCount);
    memcpy(CMSG_DATA(header), descriptors, sizeof(int) * (size_t)descriptorCount);
    return (long)sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* PROCMAP_QUERY (Linux 6.11+, <linux/fs.h>; spelled out here because older
 * uapi headers lack it): asks /proc/PID/maps for one mapping without the
 * kernel formatting every line of the file as text. */
struct tandem_procmap_query {
    __u64 size;
    __u64 query_flags;
    __u64 query_addr;
    __u64 vma_start;
    __u64 vma_end;
    __u64 vma_flags;
    __u64 vma_page_size;
    __u64 vma_offset;
    __u64 inode;
    __u32 dev_major;
    __u32 dev_minor;
    __u32 vma_name_size;
    __u32 build_id_size;
    __u64 vma_name_addr;
    __u64 build_id_addr;
};
#define TANDEM_PROCMAP_QUERY _IOWR('f', 17, struct tandem_procmap_query)
#define TANDEM_PROCMAP_QUERY_VMA_WRITABLE 0x02
#define TANDEM_PROCMAP_QUERY_VMA_EXECUTABLE 0x04
#define TANDEM_PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10

/* ioctl(fd of /proc/PID/maps, PROCMAP_QUERY) with `flags`: the mapping that holds `address`
 * (0), or the first executable one that covers or follows it (EXECUTABLE |
 * COVERING_OR_NEXT_VMA); its path (NUL-terminated) in `name` when given. Returns 0, or -1
 * with errno: ENOENT when none, ENOTTY/EINVAL on a kernel (or file) without the query. */
static inline int tandem_procmap_query(int fd, __u64 address, __u64 flags, struct tandem_procmap_query *query,
                                       char *name, __u32 name_size)
{
    memset(query, 0, sizeof(*query));
    query->size = sizeof(*query);
    query->query_flags = flags;
    query->query_addr = address;
    query->vma_name_addr = (__u64)(unsigned long)name;
    query->vma_name_size = name_size;
    return ioctl(fd, TANDEM_PROCMAP_QUERY, query);
}

#endif
