#ifndef CTANDEM_CRYPTO_SHIM_H
#define CTANDEM_CRYPTO_SHIM_H
// OpenSSL's one-shot SHA256(), for the file ids of Universal Profiling.
#include <openssl/sha.h>
#endif
