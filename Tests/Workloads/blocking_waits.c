/* Blocks the main thread ROUNDS times in one kind of wait and measures each wait itself,
 * for the off-CPU tests:
 *   blocking_waits pipe  ROUNDS DELAY_US   read() of a pipe another thread writes after DELAY_US
 *   blocking_waits futex ROUNDS DELAY_US   pthread_mutex_lock() of a mutex another thread holds for DELAY_US
 *   blocking_waits fsync ROUNDS BYTES      fsync() of a file in /var/tmp after writing BYTES to it
 * The main thread waits in main -> <kind>_cycle -> wait_<kind>. The truth it prints is
 * measured around the blocking call: wall time minus the thread's own CPU time in it, i.e.
 * the time it spent off the CPU:
 *   off_ns=N     the sum over all waits
 *   squared_deviations_ns2=N  the sum of each wait's squared deviation from the mean off-CPU time (for the spread)
 *   waits=N      how many waits there were
 *   blocked=N    how many of them lasted longer than 100 us (those that surely switched out)
 *   switches=N   the thread's context switches, voluntary or not, within the waits (getrusage)
 * It then stays 500 ms longer, for the sampler to read its mappings.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return now.tv_sec * 1000000000LL + now.tv_nsec;
}

static void pause_us(long us)
{
    struct timespec duration = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&duration, NULL);
}

static long long total_off, waits, blocked, switches;
/* The running mean of a wait's time off the CPU and the sum of squared deviations from it
 * (Welford's update): exact to the nanosecond where sums of squares would cancel out. */
static double mean_off, squared_deviations;
static long rounds, parameter;
static int to_main[2], to_helper[2];
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
volatile int sink;

/* Start and end of one measured wait. */
static long long wall_start, cpu_start, switches_start;

static long long switches_now(void)
{
    struct rusage usage;
    getrusage(RUSAGE_THREAD, &usage);
    return usage.ru_nvcsw + usage.ru_nivcsw;
}

static inline void begin(void)
{
    switches_start = switches_now();
    wall_start = now_ns(CLOCK_MONOTONIC);
    cpu_start = now_ns(CLOCK_THREAD_CPUTIME_ID);
}
static inline void end(void)
{
    long long wall = now_ns(CLOCK_MONOTONIC) - wall_start;
    long long cpu = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
    switches += switches_now() - switches_start;
    long long off = wall - cpu;
    total_off += off;
    waits += 1;
    double delta = (double)off - mean_off;
    mean_off += delta / (double)waits;
    squared_deviations += delta * ((double)off - mean_off);
    blocked += off > 100000;
}

static void must(int ok, const char *what)
{
    if (!ok) {
        perror(what);
        exit(1);
    }
}

/* --- pipe: the helper writes a byte DELAY_US after the main thread asks for it. --- */
static void *pipe_writer(void *unused)
{
    char byte;
    for (long i = 0; i < rounds; i++) {
        must(read(to_helper[0], &byte, 1) == 1, "read to_helper");
        pause_us(parameter);
        must(write(to_main[1], "x", 1) == 1, "write to_main");
    }
    return unused;
}

__attribute__((noinline)) void wait_pipe(void)
{
    char byte;
    begin();
    must(read(to_main[0], &byte, 1) == 1, "read to_main");
    end();
}

__attribute__((noinline)) void pipe_cycle(void)
{
    must(write(to_helper[1], "g", 1) == 1, "write to_helper");
    wait_pipe();
    sink += 1; /* not a tail call */
}

/* --- futex: the helper takes the mutex, tells the main thread, holds it DELAY_US. --- */
static void *mutex_holder(void *unused)
{
    char byte;
    for (long i = 0; i < rounds; i++) {
        pthread_mutex_lock(&mutex);
        must(write(to_main[1], "h", 1) == 1, "write to_main");
        pause_us(parameter);
        pthread_mutex_unlock(&mutex);
        must(read(to_helper[0], &byte, 1) == 1, "read to_helper");
    }
    return unused;
}

__attribute__((noinline)) void wait_mutex(void)
{
    begin();
    pthread_mutex_lock(&mutex);
    end();
    pthread_mutex_unlock(&mutex);
}

__attribute__((noinline)) void futex_cycle(void)
{
    char byte;
    must(read(to_main[0], &byte, 1) == 1, "read to_main");
    wait_mutex();
    must(write(to_helper[1], "d", 1) == 1, "write to_helper");
    sink += 1;
}

/* --- fsync: rewrite BYTES of a file in /var/tmp, then wait for them to reach the disk. --- */
static int file = -1;
static char *block;

__attribute__((noinline)) void wait_fsync(void)
{
    begin();
    must(fsync(file) == 0, "fsync");
    end();
}

__attribute__((noinline)) void fsync_cycle(long round)
{
    memset(block, (int)round, (size_t)parameter);
    must(pwrite(file, block, (size_t)parameter, 0) == parameter, "pwrite");
    wait_fsync();
    sink += 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s pipe|futex|fsync ROUNDS DELAY_US|BYTES\n", argv[0]);
        return 2;
    }
    /* The helper is detached, not joined: pthread_join would block the main thread in a
     * futex wait outside the measured ones whenever the helper had not exited yet, and the
     * futex test would see one wait more than the program counted. */
    rounds = atol(argv[2]);
    parameter = atol(argv[3]);
    pthread_t helper;
    must(pipe(to_main) == 0 && pipe(to_helper) == 0, "pipe");
    if (strcmp(argv[1], "pipe") == 0) {
        must(pthread_create(&helper, NULL, pipe_writer, NULL) == 0, "pthread_create");
        for (long i = 0; i < rounds; i++)
            pipe_cycle();
        pthread_detach(helper); /* not joined: see main */
    } else if (strcmp(argv[1], "futex") == 0) {
        must(pthread_create(&helper, NULL, mutex_holder, NULL) == 0, "pthread_create");
        for (long i = 0; i < rounds; i++)
            futex_cycle();
        pthread_detach(helper); /* not joined: see main */
    } else if (strcmp(argv[1], "fsync") == 0) {
        char path[] = "/var/tmp/tandem-fsync-XXXXXX"; /* /var/tmp: on a disk, where /tmp may be tmpfs */
        file = mkstemp(path);
        must(file >= 0, "mkstemp");
        unlink(path);
        block = malloc((size_t)parameter);
        must(block != NULL, "malloc");
        for (long i = 0; i < rounds; i++)
            fsync_cycle(i);
    } else {
        fprintf(stderr, "unknown wait %s\n", argv[1]);
        return 2;
    }
    printf("off_ns=%lld\nsquared_deviations_ns2=%.0f\nwaits=%lld\nblocked=%lld\nswitches=%lld\n", total_off,
           squared_deviations, waits, blocked, switches);
    fflush(stdout);
    pause_us(500000);
    return 0;
}
