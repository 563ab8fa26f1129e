#include "CTandemCurl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

// The calls tandem makes, resolved once by tandem_curl_load. The variadic ones keep their
// variadic type: a call through it passes its argument as libcurl expects.
static struct {
    CURLcode (*global_init)(long flags);
    curl_version_info_data *(*version_info)(CURLversion version);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *handle);
    void (*easy_reset)(CURL *handle);
    CURLcode (*easy_perform)(CURL *handle);
    const char *(*easy_strerror)(CURLcode code);
    CURLcode (*easy_setopt)(CURL *handle, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *handle, CURLINFO info, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *string);
    void (*slist_free_all)(struct curl_slist *list);
} curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const char *load_failure;
static char load_message[512];

static int resolve(void *library, const char *name, void **function) {
    *function = dlsym(library, name);
    if (*function != NULL) return 1;
    snprintf(load_message, sizeof load_message, "dlsym(%s) in %s failed: %s", name, TANDEM_CURL_LIBRARY, dlerror());
    load_failure = load_message;
    return 0;
}

static void load(void) {
    void *library = dlopen(TANDEM_CURL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(load_message, sizeof load_message, "dlopen(%s) failed: %s", TANDEM_CURL_LIBRARY, dlerror());
        load_failure = load_message;
        return;
    }
    if (!resolve(library, "curl_global_init", (void **)&curl.global_init)
        || !resolve(library, "curl_version_info", (void **)&curl.version_info)
        || !resolve(library, "curl_easy_init", (void **)&curl.easy_init)
        || !resolve(library, "curl_easy_cleanup", (void **)&curl.easy_cleanup)
        || !resolve(library, "curl_easy_reset", (void **)&curl.easy_reset)
        || !resolve(library, "curl_easy_perform", (void **)&curl.easy_perform)
        || !resolve(library, "curl_easy_strerror", (void **)&curl.easy_strerror)
        || !resolve(library, "curl_easy_setopt", (void **)&curl.easy_setopt)
        || !resolve(library, "curl_easy_getinfo", (void **)&curl.easy_getinfo)
        || !resolve(library, "curl_slist_append", (void **)&curl.slist_append)
        || !resolve(library, "curl_slist_free_all", (void **)&curl.slist_free_all)) {
        return;
    }
    // curl_global_init is not thread-safe before 7.84: pthread_once runs it once, before any handle.
    CURLcode code = curl.global_init(CURL_GLOBAL_DEFAULT);
    if (code != CURLE_OK) {
        snprintf(load_message, sizeof load_message, "curl_global_init failed (CURLcode %d): %s", (int)code,
                 curl.easy_strerror(code));
        load_failure = load_message;
    }
}

const char *tandem_curl_load(void) {
    pthread_once(&load_once, load);
    return load_failure;
}

unsigned int tandem_curl_version_number(void) {
    curl_version_info_data *info = curl.version_info(CURLVERSION_FIRST);
    return info != NULL ? info->version_num : 0;
}

CURL *tandem_curl_easy_init(void) { return curl.easy_init(); }
void tandem_curl_easy_cleanup(CURL *handle) { curl.easy_cleanup(handle); }
void tandem_curl_easy_reset(CURL *handle) { curl.easy_reset(handle); }
CURLcode tandem_curl_easy_perform(CURL *handle) { return curl.easy_perform(handle); }
const char *tandem_curl_easy_strerror(CURLcode code) { return curl.easy_strerror(code); }
struct curl_slist *tandem_curl_slist_append(struct curl_slist *list, const char *string) {
    return curl.slist_append(list, string);
}
void tandem_curl_slist_free_all(struct curl_slist *list) { curl.slist_free_all(list); }

CURLcode tandem_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl.easy_setopt(handle, option, value);
}
CURLcode tandem_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl.easy_setopt(handle, option, value);
}
CURLcode tandem_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl.easy_setopt(handle, option, value);
}
CURLcode tandem_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl.easy_setopt(handle, option, value);
}
CURLcode tandem_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *list) {
    return curl.easy_setopt(handle, option, list);
}
CURLcode tandem_curl_setopt_data_callback(CURL *handle, CURLoption option, tandem_curl_data_callback callback) {
    return curl.easy_setopt(handle, option, callback);
}
CURLcode tandem_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl.easy_getinfo(handle, info, value);
}
