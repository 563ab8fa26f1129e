/* Spins BEFORE seconds, then dlopens LIBRARY and spins AFTER seconds inside
 * its late_spin: the sampler must notice the new mapping from the stacks.
 * usage: late_loader LIBRARY BEFORE AFTER */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile unsigned long sink;

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    double until = now.tv_sec + now.tv_nsec / 1e9 + atof(argv[2]);
    do {
        for (unsigned long i = 0; i < 2000000; i++)
            sink += i;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    } while (now.tv_sec + now.tv_nsec / 1e9 < until);
    void *library = dlopen(argv[1], RTLD_NOW);
    if (!library) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    void (*late_spin)(double) = (void (*)(double))dlsym(library, "late_spin");
    if (!late_spin)
        return 1;
    late_spin(atof(argv[3]));
    return 0;
}
