/* Spends SECONDS of CPU time mostly in the kernel: reads /dev/zero in large
 * blocks, so most samples carry a kernel stack (read -> clear_user ...). */
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char buffer[1 << 20];

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int fd = open("/dev/zero", O_RDONLY);
    if (fd < 0)
        return 1;
    struct timespec now;
    for (;;) {
        for (int i = 0; i < 64; i++)
            if (read(fd, buffer, sizeof(buffer)) < 0)
                return 1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
        if (now.tv_sec + now.tv_nsec / 1e9 >= seconds)
            break;
    }
    return 0;
}
