#ifndef CTANDEM_CURL_SHIM_H
#define CTANDEM_CURL_SHIM_H
// libcurl's curl_easy_setopt and curl_easy_getinfo are variadic, which Swift
// cannot call: each wrapper below fixes the argument type for one kind of option.
#include <curl/curl.h>

/// A libcurl write or header callback (CURLOPT_WRITEFUNCTION, CURLOPT_HEADERFUNCTION).
typedef size_t (*tandem_curl_data_callback)(char *data, size_t size, size_t count, void *context);

/// curl_easy_setopt for options that take a `long` (CURLOPTTYPE_LONG).
static inline CURLcode tandem_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

/// curl_easy_setopt for options that take a C string (CURLOPTTYPE_STRINGPOINT); libcurl copies it.
static inline CURLcode tandem_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

/// curl_easy_setopt for options that take an opaque pointer (CURLOPTTYPE_OBJECTPOINT / CBPOINT).
static inline CURLcode tandem_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

/// curl_easy_setopt for options that take a `curl_off_t` (CURLOPTTYPE_OFF_T).
static inline CURLcode tandem_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/// curl_easy_setopt for options that take a header list (CURLOPTTYPE_SLISTPOINT).
static inline CURLcode tandem_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *list) {
    return curl_easy_setopt(handle, option, list);
}

/// curl_easy_setopt for write and header callbacks (CURLOPTTYPE_FUNCTIONPOINT).
static inline CURLcode tandem_curl_setopt_data_callback(CURL *handle, CURLoption option, tandem_curl_data_callback callback) {
    return curl_easy_setopt(handle, option, callback);
}

/// curl_easy_getinfo for information of type `long` (CURLINFO_LONG).
static inline CURLcode tandem_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

#endif
