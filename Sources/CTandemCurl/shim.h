#ifndef CTANDEM_CURL_SHIM_H
#define CTANDEM_CURL_SHIM_H
#include <curl/curl.h>
#endif
