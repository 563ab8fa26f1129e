// A PIE executable for the symbolization tests: prints the run-time addresses of
// its functions (and of one in a shared library), then waits for stdin to close,
// so that the test can read its /proc/PID/maps.
#include <stdio.h>
#include <unistd.h>

extern int tandem_library_function(int value);

__attribute__((noinline)) int tandem_fixture_exported(int value) {
    return value * 3 + 1;
}

__attribute__((noinline)) static int tandem_fixture_static(int value) {
    return tandem_fixture_exported(value) + tandem_library_function(value) + 2;
}

int main(int argc, char **argv) {
    (void)argv;
    printf("tandem_fixture_exported %p\n", (void *)&tandem_fixture_exported);
    printf("tandem_fixture_static %p\n", (void *)&tandem_fixture_static);
    printf("tandem_library_function %p\n", (void *)&tandem_library_function);
    printf("main %p\n", (void *)&main);
    fflush(stdout);
    char buffer[64];
    while (read(0, buffer, sizeof buffer) > 0) {
    }
    return tandem_fixture_static(argc) > 1000000;
}
