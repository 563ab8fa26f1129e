#ifndef CTANDEM_MALLOC_SHIM_H
#define CTANDEM_MALLOC_SHIM_H
// glibc's malloc_trim, which Swift's Glibc module does not import (it is in <malloc.h>):
// the aggregator gives the heap a finished stream used back to the system.
#include <malloc.h>
#endif
