#ifndef CTANDEM_ZLIB_SHIM_H
#define CTANDEM_ZLIB_SHIM_H
#include <zlib.h>

/// deflateInit2 is a function-like macro (it passes the library version and
/// the stream size), which Swift does not import.
static inline int tandem_deflate_init2(z_stream *stream, int level, int windowBits) {
    return deflateInit2(stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
#endif
