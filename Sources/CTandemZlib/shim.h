#ifndef CTANDEM_ZLIB_SHIM_H
#define CTANDEM_ZLIB_SHIM_H
#include <zlib.h>

/// deflateInit2 (a function-like macro that passes the library version and
/// the stream size to deflateInit2_, which Swift does not import) set up for a
/// gzip wrapper: window bits 15 + 16, memory level 8, the default strategy.
static inline int tandem_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

/// inflateInit (a function-like macro over inflateInit_) for a zlib (RFC 1950) stream,
/// as ELFCOMPRESS_ZLIB sections hold.
static inline int tandem_inflate_init(z_stream *stream) {
    return inflateInit(stream);
}

#endif
