#ifndef CTANDEM_PATHS_SHIM_H
#define CTANDEM_PATHS_SHIM_H
/*
 * openat2(2), which glibc does not wrap, for descriptor passing's path resolution
 * (Sources/DescriptorPassing): apart from the sampler core's shim, so that only the
 * part that opens paths carries it.
 */
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

/* openat2(2) (Linux 5.6+): opens `path` relative to `dirfd` with open(2) `flags` and
 * the RESOLVE_* bits of `resolve`. Returns the fd, or -1 with errno (ENOSYS on an
 * older kernel). */
static inline int tandem_openat2(int dirfd, const char *path, unsigned long long flags,
                                 unsigned long long resolve)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = flags;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

#endif
