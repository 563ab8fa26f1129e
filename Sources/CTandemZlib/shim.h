#ifndef CTANDEM_ZLIB_SHIM_H
#define CTANDEM_ZLIB_SHIM_H
// deflateInit2 is a function-like macro (it passes the library version and the
// stream size to deflateInit2_), which Swift does not import.
#include <zlib.h>

/// deflateInit2 set up for a gzip wrapper (window bits 15 + 16), memory level 8
/// and the default strategy.
static inline int tandem_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

#endif
