/* Starts and joins THREADS threads one after another, each returning at once, then sleeps
 * NAPS times for 10 ms in main -> nap, measuring each sleep. For the off-CPU test that
 * exiting threads leave nothing pending: their last switch off the CPU never comes back.
 * Prints:
 *   slept_ns=N   the wall time measured around the sleeps after the threads
 *   naps=N       how many sleeps
 * It then stays 500 ms longer, for the sampler to read its mappings.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile int sink;

static long long now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000000000LL + now.tv_nsec;
}

static void *leave(void *unused)
{
    return unused;
}

__attribute__((noinline)) long long nap(void)
{
    struct timespec duration = {0, 10 * 1000 * 1000};
    long long start = now_ns();
    nanosleep(&duration, NULL);
    long long slept = now_ns() - start;
    sink += 1; /* not a tail call */
    return slept;
}

int main(int argc, char **argv)
{
    long threads = argc > 1 ? atol(argv[1]) : 6000;
    long naps = argc > 2 ? atol(argv[2]) : 50;
    for (long i = 0; i < threads; i++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, leave, NULL) != 0 || pthread_join(thread, NULL) != 0) {
            perror("pthread");
            return 1;
        }
    }
    long long slept = 0;
    for (long i = 0; i < naps; i++)
        slept += nap();
    printf("slept_ns=%lld\nnaps=%ld\n", slept, naps);
    fflush(stdout);
    struct timespec linger = {0, 500 * 1000 * 1000};
    nanosleep(&linger, NULL);
    return 0;
}
