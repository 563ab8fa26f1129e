/* A fixed amount of CPU work for bench/overhead.sh: ITERATIONS rounds of a
 * multiply-xor hash through three frame-pointer-built functions (so that
 * stack-walking profilers have a real stack to walk), then its own wall and CPU
 * times on one line:  wall_s cpu_s checksum
 *
 *   fixed-work [ITERATIONS]     (default 600000000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(clockid_t clock) {
    struct timespec now;
    clock_gettime(clock, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

__attribute__((noinline)) static uint64_t mix(uint64_t hash, uint64_t rounds) {
    for (uint64_t i = 0; i < rounds; i++) hash = (hash ^ i) * 1099511628211ULL;
    return hash;
}

__attribute__((noinline)) static uint64_t middle(uint64_t hash, uint64_t rounds) {
    return mix(hash, rounds) + 1;
}

__attribute__((noinline)) static uint64_t outer(uint64_t total) {
    uint64_t hash = 1469598103934665603ULL;
    const uint64_t chunk = 1000000;
    for (uint64_t done = 0; done < total; done += chunk) hash = middle(hash, chunk);
    return hash;
}

int main(int argc, char **argv) {
    uint64_t iterations = argc > 1 ? strtoull(argv[1], NULL, 10) : 600000000ULL;
    double wall = seconds(CLOCK_MONOTONIC), cpu = seconds(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t checksum = outer(iterations);
    printf("%.6f %.6f %llu\n", seconds(CLOCK_MONOTONIC) - wall, seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu,
           (unsigned long long)checksum);
    return 0;
}
