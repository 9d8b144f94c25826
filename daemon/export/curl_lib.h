/* curl_lib.h — libcurl, loaded when the first OTLP/HTTP destination is created.
 *
 * Only exporter_http.c uses libcurl, and a daemon exporting OTLP/gRPC (what the chart
 * configures) has none: linked at build time, libcurl and the libraries only it needs
 * (GnuTLS, Kerberos, LDAP, libssh2 and others) were mapped and relocated at every start
 * and held 3.6 MiB of idle RSS. Loaded with dlopen instead, they cost nothing until used.
 * The image ships the library all the same (Makefile: DLOPEN_LIBS). */
#ifndef SPANRELAY_CURL_LIB_H
#define SPANRELAY_CURL_LIB_H

#include <stddef.h>

#include <curl/curl.h>

/* The libcurl functions the HTTP exporter calls, under their names without "curl_". */
struct curl_lib {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *easy);
    CURLcode (*easy_setopt)(CURL *easy, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *easy, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *multi);
    CURLMcode (*multi_setopt)(CURLM *multi, CURLMoption option, ...);
    CURLMcode (*multi_add_handle)(CURLM *multi, CURL *easy);
    CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *easy);
    CURLMcode (*multi_socket_action)(CURLM *multi, curl_socket_t s, int ev_bitmask,
                                     int *running_handles);
    CURLMcode (*multi_assign)(CURLM *multi, curl_socket_t s, void *sockp);
    CURLMsg *(*multi_info_read)(CURLM *multi, int *msgs_in_queue);
    const char *(*multi_strerror)(CURLMcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
    CURLU *(*url)(void);
    void (*url_cleanup)(CURLU *u);
    CURLUcode (*url_set)(CURLU *u, CURLUPart part, const char *content, unsigned int flags);
    CURLUcode (*url_get)(const CURLU *u, CURLUPart part, char **content, unsigned int flags);
    void (*free)(void *p);
    time_t (*getdate)(const char *s, const time_t *unused);
};

/* libcurl from the library named soname (the daemon passes CURL_LIB_SONAME, which the
 * Makefile defines), every function resolved and curl_global_init done. Once a call has
 * succeeded, later calls return its table whatever they name: the library stays loaded
 * for the life of the process. NULL with err naming the library and what failed when it
 * cannot be loaded, lacks a function or fails to initialise; a later call tries again.
 * Loop thread only: curl_global_init is not thread-safe. */
const struct curl_lib *curl_lib_load(const char *soname, char *err, size_t errlen);

#endif
