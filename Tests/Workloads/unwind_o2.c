/* Spins for SECONDS (argv[1]) of CPU time in code without frame pointers (built
 * -O2 -fomit-frame-pointer): a recursion of non-inlined functions with stack
 * frames of their own, and qsort calls that run a comparator below libc's
 * frames. Every sample's user stack should unwind to _start. */
#include <stdlib.h>
#include <time.h>

volatile unsigned long sink;

__attribute__((noinline)) static int compare(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    for (int i = 0; i < 20; i++)
        sink += i;
    return x < y ? -1 : x > y;
}

__attribute__((noinline)) static unsigned long sort_round(unsigned long seed)
{
    unsigned long values[512];
    for (int i = 0; i < 512; i++) {
        seed = seed * 6364136223846793005ul + 1442695040888963407ul;
        values[i] = seed >> 17;
    }
    qsort(values, 512, sizeof(values[0]), compare);
    return values[seed & 511];
}

__attribute__((noinline)) static unsigned long descend(int depth, unsigned long seed)
{
    volatile unsigned long frame[4] = {seed, seed + 1, seed + 2, seed + 3};
    if (depth == 0)
        return sort_round(seed) + frame[1];
    unsigned long below = descend(depth - 1, seed * 31 + (unsigned long)depth);
    return below ^ frame[depth & 3];
}

static double cpu_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5;
    double end = cpu_seconds() + seconds;
    unsigned long seed = 1;
    while (cpu_seconds() < end)
        seed += descend((int)(seed % 7), seed);
    return seed == 0; /* 0: the loop ran */
}
