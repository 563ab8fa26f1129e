#ifndef CTANDEM_ELF_SHIM_H
#define CTANDEM_ELF_SHIM_H
#include <libelf.h>
#include <gelf.h>
#endif
