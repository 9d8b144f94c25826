/* curl_lib.c — loads libcurl with dlopen and resolves the functions the HTTP exporter
 * calls (curl_lib.h says why it is not linked). */
#include "export/curl_lib.h"

#include <dlfcn.h>
#include <stdio.h>

static struct curl_lib lib;
static int loaded;

/* Where each function's address goes. A data pointer written into a function pointer's
 * storage is how POSIX hands out dlsym's results. */
struct symbol {
    const char *name;
    void **slot;
};

static const struct symbol symbols[] = {
    { "curl_global_init", (void **)&lib.global_init },
    { "curl_easy_init", (void **)&lib.easy_init },
    { "curl_easy_cleanup", (void **)&lib.easy_cleanup },
    { "curl_easy_setopt", (void **)&lib.easy_setopt },
    { "curl_easy_getinfo", (void **)&lib.easy_getinfo },
    { "curl_easy_strerror", (void **)&lib.easy_strerror },
    { "curl_multi_init", (void **)&lib.multi_init },
    { "curl_multi_cleanup", (void **)&lib.multi_cleanup },
    { "curl_multi_setopt", (void **)&lib.multi_setopt },
    { "curl_multi_add_handle", (void **)&lib.multi_add_handle },
    { "curl_multi_remove_handle", (void **)&lib.multi_remove_handle },
    { "curl_multi_socket_action", (void **)&lib.multi_socket_action },
    { "curl_multi_assign", (void **)&lib.multi_assign },
    { "curl_multi_info_read", (void **)&lib.multi_info_read },
    { "curl_multi_strerror", (void **)&lib.multi_strerror },
    { "curl_slist_append", (void **)&lib.slist_append },
    { "curl_slist_free_all", (void **)&lib.slist_free_all },
    { "curl_url", (void **)&lib.url },
    { "curl_url_cleanup", (void **)&lib.url_cleanup },
    { "curl_url_set", (void **)&lib.url_set },
    { "curl_url_get", (void **)&lib.url_get },
    { "curl_free", (void **)&lib.free },
    { "curl_getdate", (void **)&lib.getdate },
};

static int resolve(void *handle, const char *soname, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        void *sym = dlsym(handle, symbols[i].name);
        if (!sym) {
            snprintf(err, errlen, "exporter: %s has no %s (libcurl 7.62 or later is needed)",
                     soname, symbols[i].name);
            return -1;
        }
        *symbols[i].slot = sym;
    }
    return 0;
}

const struct curl_lib *curl_lib_load(const char *soname, char *err, size_t errlen)
{
    if (loaded)
        return &lib;
    void *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(err, errlen,
                 "exporter: OTLP/HTTP needs libcurl, and %s cannot be loaded (%s)",
                 soname, dlerror());
        return NULL;
    }
    if (resolve(handle, soname, err, errlen) != 0) {
        dlclose(handle);
        return NULL;
    }
    if (lib.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "exporter: %s: curl_global_init failed", soname);
        dlclose(handle);
        return NULL;
    }
    loaded = 1;
    return &lib;
}
