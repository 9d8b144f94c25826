/* fuzz_http.c — libFuzzer target for the OTLP/HTTP receiver: an HTTP/1.1 server
 * connection fed arbitrary bytes in arbitrary chunks (conn_driver.h), with the real
 * pipeline behind it. */
#include "conn_driver.h"
#include "receive/receiver_protocols.h"

static struct http1_settings settings;

static void start(struct conn *c)
{
    if (!settings.handler)
        receiver_http_settings(&settings, driver_config(), driver_pipeline());
    http1_conn_start(c, &settings);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    driver_run(start, NULL, 0, data, size);
    return 0;
}
