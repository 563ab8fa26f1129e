/* A context-switch-heavy workload for bench/off-cpu-overhead.sh: two threads pass one
 * byte back and forth over two pipes ROUNDS times, so each round trip is two blocking
 * reads and (at least) two switches. Prints the wall time of the exchange:
 *   rounds=N seconds=S
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int ping[2], pong[2];
static long rounds;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void *echo(void *unused)
{
    char byte;
    for (long i = 0; i < rounds; i++) {
        if (read(ping[0], &byte, 1) != 1 || write(pong[1], &byte, 1) != 1) {
            perror("echo");
            exit(1);
        }
    }
    return unused;
}

int main(int argc, char **argv)
{
    rounds = argc > 1 ? atol(argv[1]) : 100000;
    if (pipe(ping) || pipe(pong)) {
        perror("pipe");
        return 1;
    }
    pthread_t thread;
    pthread_create(&thread, NULL, echo, NULL);
    double start = now();
    char byte = 'x';
    for (long i = 0; i < rounds; i++) {
        if (write(ping[1], &byte, 1) != 1 || read(pong[0], &byte, 1) != 1) {
            perror("ping");
            return 1;
        }
    }
    double seconds = now() - start;
    pthread_join(thread, NULL);
    printf("rounds=%ld seconds=%.6f\n", rounds, seconds);
    return 0;
}
