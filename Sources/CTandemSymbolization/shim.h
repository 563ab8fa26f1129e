#ifndef CTANDEM_SYMBOLIZATION_SHIM_H
#define CTANDEM_SYMBOLIZATION_SHIM_H
// The few C entry points symbolization needs that Swift cannot reach otherwise: the
// demanglers that the C++ and Swift runtimes export, and the vDSO's address. (ELF files
// are read by the pure-Swift ELF target; .gnu_debuglink's CRC-32 comes from zlib.)
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>

// libstdc++'s Itanium C++ ABI demangler (declared in <cxxabi.h>, which is C++ only).
char *__cxa_demangle(const char *mangled_name, char *output_buffer, size_t *length, int *status);

// The Swift runtime's demangler, exported by libswiftCore on Linux and Darwin.
char *swift_demangle(const char *mangled_name, size_t mangled_name_length,
                     char *output_buffer, size_t *output_buffer_size, uint32_t flags);

/// Demangles an Itanium C++ ABI name into a malloc'd string (free with free()),
/// or returns NULL and sets *status (-1 memory, -2 not a valid name, -3 argument).
static inline char *tandem_cxa_demangle(const char *mangled_name, int *status) {
    return __cxa_demangle(mangled_name, NULL, NULL, status);
}

/// Demangles a Swift name into a malloc'd string (free with free()), or NULL.
static inline char *tandem_swift_demangle(const char *mangled_name, size_t length) {
    return swift_demangle(mangled_name, length, NULL, NULL, 0);
}

/// Where the kernel mapped this process's vDSO (`getauxval(AT_SYSINFO_EHDR)`), or 0.
static inline unsigned long tandem_vdso_base(void) { return getauxval(AT_SYSINFO_EHDR); }
#endif
