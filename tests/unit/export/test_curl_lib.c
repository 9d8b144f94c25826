/* test_curl_lib.c — curl_lib.c: libcurl loaded on demand with every function the HTTP
 * exporter calls, the same table on later calls, and the errors an operator sees when
 * the library is missing or is not libcurl. */
#include "unit.h"

#include <string.h>

#include "export/curl_lib.h"

START_TEST(test_loads_every_function)
{
    char err[256] = "";
    const struct curl_lib *c = curl_lib_load(CURL_LIB_SONAME, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    void *const *slot = (void *const *)c;
    for (size_t i = 0; i < sizeof(*c) / sizeof(void *); i++)
        ck_assert_ptr_nonnull(slot[i]);
    ck_assert_ptr_eq(curl_lib_load(CURL_LIB_SONAME, err, sizeof(err)), c);

    /* Usable as linked libcurl was: a handle, an option, a URL parsed. */
    CURL *easy = c->easy_init();
    ck_assert_ptr_nonnull(easy);
    ck_assert_int_eq(c->easy_setopt(easy, CURLOPT_NOSIGNAL, 1L), CURLE_OK);
    c->easy_cleanup(easy);
    CURLU *u = c->url();
    char *host = NULL;
    ck_assert_int_eq(c->url_set(u, CURLUPART_URL, "http://tempo:4318/v1/traces", 0), CURLUE_OK);
    ck_assert_int_eq(c->url_get(u, CURLUPART_HOST, &host, 0), CURLUE_OK);
    ck_assert_str_eq(host, "tempo");
    c->free(host);
    c->url_cleanup(u);
    ck_assert_int_eq(c->getdate("Wed, 21 Oct 2015 07:28:00 GMT", NULL), 1445412480);
}
END_TEST

START_TEST(test_missing_library_named)
{
    char err[256] = "";
    ck_assert_ptr_null(curl_lib_load("libcurl-absent.so.4", err, sizeof(err)));
    ck_assert_msg(strstr(err, "OTLP/HTTP needs libcurl, and libcurl-absent.so.4 cannot be "
                              "loaded (") == err + strlen("exporter: "), "%s", err);
    /* A failure is not remembered: the real library still loads. */
    ck_assert_ptr_nonnull(curl_lib_load(CURL_LIB_SONAME, err, sizeof(err)));
}
END_TEST

START_TEST(test_not_libcurl_named)
{
    char err[256] = "";
    ck_assert_ptr_null(curl_lib_load("libz.so.1", err, sizeof(err)));
    ck_assert_str_eq(err, "exporter: libz.so.1 has no curl_global_init "
                          "(libcurl 7.62 or later is needed)");
}
END_TEST

static Suite *curl_lib_suite(void)
{
    Suite *s = suite_create("curl_lib");
    TCase *tc = tcase_create("core");
    /* Failures first: the sanitized run keeps one process (CK_FORK=no), where a
     * successful load is kept for the tests after it. */
    tcase_add_test(tc, test_not_libcurl_named);
    tcase_add_test(tc, test_missing_library_named);
    tcase_add_test(tc, test_loads_every_function);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(curl_lib_suite());
}
