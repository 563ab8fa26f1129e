/* Spins on the CPU until it has used SECONDS of CPU time; the hot path is
 * main -> a -> b. Built with -O1 -fno-omit-frame-pointer by the tests, which
 * check the sampled user stacks against this binary's symbol table. */
#include <stdlib.h>
#include <time.h>

static double cpu_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

volatile unsigned long sink;

__attribute__((noinline)) int b(double until)
{
    while (cpu_seconds() < until) {
        for (unsigned long i = 0; i < 2000000; i++)
            sink += i;
    }
    return (int)(sink & 1);
}

__attribute__((noinline)) int a(double until)
{
    int result = b(until);
    sink += result; /* not a tail call: a stays on the stack */
    return result + 1;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int result = a(cpu_seconds() + seconds);
    sink += result;
    return 0;
}
