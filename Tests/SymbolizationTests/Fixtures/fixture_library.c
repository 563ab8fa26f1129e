// A shared library for the symbolization tests.
__attribute__((noinline)) static int tandem_library_helper(int value) {
    return value ^ 0x5a;
}

__attribute__((noinline)) int tandem_library_function(int value) {
    return tandem_library_helper(value) * 5;
}
