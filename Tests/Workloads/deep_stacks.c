/* Spins for SECONDS of CPU time under ever different call stacks: each round
 * recurses to a random depth through two functions chosen by random bits, so
 * almost every sample has a stack the stream has not interned yet. It makes a
 * sampler produce many bytes per second (to fill a slow reader's buffer). */
#include <stdlib.h>
#include <time.h>

volatile unsigned long sink;
static unsigned long long state = 88172645463325252ull;

static unsigned long long next_random(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

int left(int depth, unsigned long long bits);
int right(int depth, unsigned long long bits);

__attribute__((noinline)) static int leaf(void)
{
    for (unsigned long i = 0; i < 20000; i++)
        sink += i;
    return (int)(sink & 1);
}

__attribute__((noinline)) int left(int depth, unsigned long long bits)
{
    int result = depth == 0 ? leaf() : (bits & 1 ? left : right)(depth - 1, bits >> 1);
    return result + 1;
}

__attribute__((noinline)) int right(int depth, unsigned long long bits)
{
    int result = depth == 0 ? leaf() : (bits & 1 ? right : left)(depth - 1, bits >> 1);
    return result + 2;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    struct timespec now;
    for (;;) {
        sink += left(40 + (int)(next_random() % 80), next_random());
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
        if (now.tv_sec + now.tv_nsec / 1e9 >= seconds)
            return 0;
    }
}
