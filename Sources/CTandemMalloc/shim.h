#ifndef CTANDEM_MALLOC_SHIM_H
#define CTANDEM_MALLOC_SHIM_H
// glibc's malloc_trim and mallinfo2, which Swift's Glibc module does not import (they are in
// <malloc.h>): both daemons give freed heap back to the system.
#include <malloc.h>
#endif
