/* The shared-library half of tandem's demo workload: CPU time spent here is
 * attributed to libtandemdemo.so (samples.native.count{shlib_name=libtandemdemo}). */
#include <stdint.h>
#include <time.h>

static double thread_cpu_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

/* Spins for `ms` milliseconds of this thread's CPU time. */
__attribute__((noinline)) uint64_t demo_library_checksum(double ms) {
    volatile uint64_t state = 88172645463325252ULL;
    double end = thread_cpu_ms() + ms;
    do {
        for (int i = 0; i < 200000; i++) {
            uint64_t x = state;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            state = x;
        }
    } while (thread_cpu_ms() < end);
    return state;
}
