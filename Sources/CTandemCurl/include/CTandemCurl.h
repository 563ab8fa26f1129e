#ifndef CTANDEM_CURL_H
#define CTANDEM_CURL_H
// libcurl, loaded when the first HTTP exporter starts (dlopen), not linked: an aggregator
// that only writes files never maps libcurl and the TLS, Kerberos and LDAP libraries it
// pulls in (about 4 MiB of resident memory at start). <curl/curl.h> gives the types and
// constants only.
//
// libcurl's curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call:
// each wrapper below fixes the argument type for one kind of option.
#include <curl/curl.h>

/// The library's soname, as Debian's libcurl4 ships it.
#define TANDEM_CURL_LIBRARY "libcurl.so.4"

/// A libcurl write or header callback (CURLOPT_WRITEFUNCTION, CURLOPT_HEADERFUNCTION).
typedef size_t (*tandem_curl_data_callback)(char *data, size_t size, size_t count, void *context);

/// Loads TANDEM_CURL_LIBRARY with dlopen(3), resolves every call below with dlsym(3) and
/// runs curl_global_init(CURL_GLOBAL_DEFAULT), once for the process (pthread_once(3)).
/// Returns NULL when libcurl is ready, else what failed (dlerror(3)'s message, or the
/// global init's), the same message on every later call. No other call below may be made
/// before this one returned NULL.
const char *tandem_curl_load(void);

/// curl_version_info(CURLVERSION_FIRST)->version_num, e.g. 0x075801 for 7.88.1.
unsigned int tandem_curl_version_number(void);

CURL *tandem_curl_easy_init(void);
void tandem_curl_easy_cleanup(CURL *handle);
void tandem_curl_easy_reset(CURL *handle);
CURLcode tandem_curl_easy_perform(CURL *handle);
const char *tandem_curl_easy_strerror(CURLcode code);
struct curl_slist *tandem_curl_slist_append(struct curl_slist *list, const char *string);
void tandem_curl_slist_free_all(struct curl_slist *list);

/// curl_easy_setopt for options that take a `long` (CURLOPTTYPE_LONG).
CURLcode tandem_curl_setopt_long(CURL *handle, CURLoption option, long value);
/// curl_easy_setopt for options that take a C string (CURLOPTTYPE_STRINGPOINT); libcurl copies it.
CURLcode tandem_curl_setopt_string(CURL *handle, CURLoption option, const char *value);
/// curl_easy_setopt for options that take an opaque pointer (CURLOPTTYPE_OBJECTPOINT / CBPOINT).
CURLcode tandem_curl_setopt_pointer(CURL *handle, CURLoption option, void *value);
/// curl_easy_setopt for options that take a `curl_off_t` (CURLOPTTYPE_OFF_T).
CURLcode tandem_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
/// curl_easy_setopt for options that take a header list (CURLOPTTYPE_SLISTPOINT).
CURLcode tandem_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *list);
/// curl_easy_setopt for write and header callbacks (CURLOPTTYPE_FUNCTIONPOINT).
CURLcode tandem_curl_setopt_data_callback(CURL *handle, CURLoption option, tandem_curl_data_callback callback);
/// curl_easy_getinfo for information of type `long` (CURLINFO_LONG).
CURLcode tandem_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);

#endif
