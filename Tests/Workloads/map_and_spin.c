/* Maps each FILE read-only and executable, as a loader maps code, then spins until it
 * has used SECONDS of CPU time. Once sampled, its process has the files' unwind tables
 * compiled by the aggregator: with large files, a queue of long compiles on demand.
 * usage: map_and_spin SECONDS FILE... */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double cpu_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

volatile unsigned long sink;

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    for (int i = 2; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        struct stat status;
        if (fd < 0 || fstat(fd, &status) != 0
            || mmap(NULL, status.st_size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) == MAP_FAILED) {
            perror(argv[i]);
            return 1;
        }
        close(fd);
    }
    double until = cpu_seconds() + atof(argv[1]);
    while (cpu_seconds() < until)
        for (unsigned long i = 0; i < 2000000; i++)
            sink += i;
    return 0;
}
