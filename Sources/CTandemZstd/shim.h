#ifndef CTANDEM_ZSTD_SHIM_H
#define CTANDEM_ZSTD_SHIM_H
// libzstd's one-shot decompression, for ELFCOMPRESS_ZSTD sections (.debug_frame).
#include <zstd.h>
#include <zstd_errors.h>
#endif
