/* Alternates 30 ms of computing (thread CPU time) with 70 ms of nanosleep for SECONDS of
 * wall time, in main -> cycle -> nap. Prints the truth the off-CPU tests compare with:
 *   slept_ns=N   the wall time measured around every nanosleep
 *   naps=N       how many sleeps
 *   switches=N   the thread's context switches within the sleeps (getrusage): one per nap,
 *                more when the woken thread is preempted before it leaves the sleep
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

volatile unsigned long sink;
static long long switches;

static long long switches_now(void)
{
    struct rusage usage;
    getrusage(RUSAGE_THREAD, &usage);
    return usage.ru_nvcsw + usage.ru_nivcsw;
}

static long long now_ns(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return now.tv_sec * 1000000000LL + now.tv_nsec;
}

__attribute__((noinline)) long long nap(void)
{
    struct timespec duration = {0, 70 * 1000 * 1000};
    long long switched = switches_now();
    long long start = now_ns(CLOCK_MONOTONIC);
    nanosleep(&duration, NULL);
    long long slept = now_ns(CLOCK_MONOTONIC) - start;
    switches += switches_now() - switched;
    return slept;
}

__attribute__((noinline)) void compute(void)
{
    long long until = now_ns(CLOCK_THREAD_CPUTIME_ID) + 30 * 1000 * 1000;
    while (now_ns(CLOCK_THREAD_CPUTIME_ID) < until) {
        for (unsigned long i = 0; i < 100000; i++)
            sink += i;
    }
}

__attribute__((noinline)) long long cycle(long long *naps)
{
    compute();
    *naps += 1;
    long long slept = nap();
    sink += 1; /* not a tail call */
    return slept;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    long long end = now_ns(CLOCK_MONOTONIC) + (long long)(seconds * 1e9);
    long long slept = 0, naps = 0;
    while (now_ns(CLOCK_MONOTONIC) < end)
        slept += cycle(&naps);
    printf("slept_ns=%lld\nnaps=%lld\nswitches=%lld\n", slept, naps, switches);
    return 0;
}
