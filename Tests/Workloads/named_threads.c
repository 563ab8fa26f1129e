/* A worker thread named "tnd-worker" spins for SECONDS/2 of its CPU time, renames
 * itself "tnd-renamed" and spins as long again; the main thread only waits. The tests
 * check that the worker's samples carry the worker's own names, in that order, while
 * the process keeps its own name. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

volatile unsigned long sink;

static double thread_cpu_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

static void spin(double seconds)
{
    double until = thread_cpu_seconds() + seconds;
    while (thread_cpu_seconds() < until) {
        for (unsigned long i = 0; i < 1000000; i++)
            sink += i;
    }
}

static void *worker(void *argument)
{
    double half = *(double *)argument / 2;
    pthread_setname_np(pthread_self(), "tnd-worker");
    spin(half);
    pthread_setname_np(pthread_self(), "tnd-renamed");
    spin(half);
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    pthread_t thread;
    if (pthread_create(&thread, NULL, worker, &seconds) != 0)
        return 1;
    pthread_join(thread, NULL);
    return 0;
}
