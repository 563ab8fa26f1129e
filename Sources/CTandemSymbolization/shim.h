#ifndef CTANDEM_ELF_SHIM_H
#define CTANDEM_ELF_SHIM_H
// libelf for ELF symbol tables, plus the few C entry points symbolization needs
// next to it: zlib's crc32 (for .gnu_debuglink checks) and the demanglers that
// the C++ and Swift runtimes export.
#include <libelf.h>
#include <gelf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>
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

/// zlib's crc32 over a buffer; the CRC-32 that .gnu_debuglink stores.
static inline uint32_t tandem_crc32(uint32_t crc, const uint8_t *bytes, size_t count) {
    return (uint32_t)crc32((uLong)crc, (const Bytef *)bytes, (uInt)count);
}

/// The symbol type (STT_*) of a symbol's st_info (GELF_ST_TYPE is a macro).
static inline unsigned char tandem_symbol_type(unsigned char info) { return GELF_ST_TYPE(info); }

/// Where the kernel mapped this process's vDSO (`getauxval(AT_SYSINFO_EHDR)`), or 0.
static inline unsigned long tandem_vdso_base(void) { return getauxval(AT_SYSINFO_EHDR); }
#endif
