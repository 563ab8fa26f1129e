#ifndef CTANDEM_ZLIB_SHIM_H
#define CTANDEM_ZLIB_SHIM_H
#include <zlib.h>

/// deflateInit2 is a function-like macro (it passes the library version and
/// the stream size to deflateInit2_), which Swift does not import.
static inline int tandem_deflate_init2(z_stream *stream, int level, int windowBits) {
    return deflateInit2(stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}

/// deflateInit2 set up for a gzip wrapper (window bits 15 + 16).
static inline int tandem_deflate_init_gzip(z_stream *stream, int level) {
    return tandem_deflate_init2(stream, level, 15 + 16);
}

#endif
