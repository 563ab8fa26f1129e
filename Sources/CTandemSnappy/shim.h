#ifndef CTANDEM_SNAPPY_SHIM_H
#define CTANDEM_SNAPPY_SHIM_H
// libsnappy's C interface (snappy_compress, snappy_max_compressed_length),
// used for the block format that Prometheus remote write requires.
#include <snappy-c.h>
#endif
