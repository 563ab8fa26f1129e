/* The library tandem_late_loader dlopens after it has run for a while. */
#include <time.h>

volatile unsigned long late_sink;

__attribute__((noinline)) void late_spin(double seconds)
{
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    double until = now.tv_sec + now.tv_nsec / 1e9 + seconds;
    for (;;) {
        for (unsigned long i = 0; i < 2000000; i++)
            late_sink += i;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
        if (now.tv_sec + now.tv_nsec / 1e9 >= until)
            return;
    }
}
