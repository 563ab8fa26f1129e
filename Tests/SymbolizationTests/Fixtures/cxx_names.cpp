// C++ names for the demangling tests.
#include <string>
#include <vector>

namespace tandem {
template <typename T> struct Widget {
    T value;
    __attribute__((noinline)) long measure(long factor) const { return static_cast<long>(value) * factor; }
};

__attribute__((noinline)) long free_function(const std::vector<int> &values) {
    long total = 0;
    for (int value : values) total += value;
    return total;
}

__attribute__((noinline)) std::string describe(const char *text, int count) {
    return std::string(text) + std::to_string(count);
}
} // namespace tandem

long tandem_use_names() {
    tandem::Widget<int> widget{3};
    return widget.measure(2) + tandem::free_function({1, 2, 3}) + static_cast<long>(tandem::describe("x", 1).size());
}
