#ifndef CTANDEM_LZMA_SHIM_H
#define CTANDEM_LZMA_SHIM_H
// liblzma, to decompress MiniDebugInfo (the xz-compressed ELF in .gnu_debugdata).
#include <lzma.h>
#endif
