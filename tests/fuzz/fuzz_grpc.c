/* fuzz_grpc.c — libFuzzer target for the OTLP/gRPC receiver: an HTTP/2 server
 * connection fed the connection preface, then arbitrary bytes in arbitrary chunks
 * (conn_driver.h), with the real pipeline behind it. */
#include <string.h>

#include "conn_driver.h"
#include "receive/receiver_protocols.h"

static struct receiver_grpc_settings settings;

static void start(struct conn *c)
{
    settings.cfg = driver_config();
    settings.pipeline = driver_pipeline();
    receiver_grpc_start(c, &settings);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    driver_run(start, (const uint8_t *)preface, strlen(preface), data, size);
    return 0;
}
