/* The known workload of bench/chaos.sh, built with -O1 -fno-omit-frame-pointer.
 *
 *   workload spin SECONDS   burns SECONDS of CPU in main -> outer -> inner
 *   workload jit SECONDS    the same, with the leaf in anonymous executable memory
 *                           (as a JIT's code is), so the aggregator consults
 *                           /tmp/perf-PID.map for it
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double cpu_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

volatile uint64_t sink;

__attribute__((noinline)) static void inner(void) {
    for (uint64_t i = 0; i < 2000000; i++) sink += i;
}

__attribute__((noinline)) static void outer(double until, void (*leaf)(void)) {
    while (cpu_seconds() < until) leaf();
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "spin") != 0 && strcmp(argv[1], "jit") != 0)) {
        fprintf(stderr, "usage: workload spin|jit SECONDS\n");
        return 64;
    }
    double until = cpu_seconds() + atof(argv[2]);
    void (*leaf)(void) = inner;
    if (strcmp(argv[1], "jit") == 0) {
        /* mov rcx, 2000000; loop: dec rcx; jnz loop; ret */
        static const unsigned char code[] = {0x48, 0xC7, 0xC1, 0x80, 0x84, 0x1E, 0x00,
                                             0x48, 0xFF, 0xC9, 0x75, 0xFB, 0xC3};
        void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED) { perror("mmap"); return 1; }
        memcpy(page, code, sizeof code);
        leaf = (void (*)(void))page;
    }
    outer(until, leaf);
    return 0;
}
