/* otlp_response.c — encodes the receivers' answers with protobuf-c. */
#include "otlp_response.h"

#include <string.h>

#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

/* Cuts message so that the encoding fits buflen with room for tags and lengths. */
static void clip(char *dst, size_t dstlen, const char *src, size_t buflen)
{
    size_t max = buflen > 32 ? buflen - 32 : 0;
    if (max >= dstlen)
        max = dstlen - 1;
    size_t n = strlen(src);
    if (n > max)
        n = max;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

size_t otlp_response_export(uint8_t *buf, size_t buflen, int64_t rejected_spans,
                            const char *message)
{
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse resp =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess partial =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
    char text[OTLP_RESPONSE_MAX];
    clip(text, sizeof(text), message ? message : "", buflen);
    if (rejected_spans > 0 || text[0]) {
        partial.rejected_spans = rejected_spans;
        partial.error_message = text;
        resp.partial_success = &partial;
    }
    if (opentelemetry__proto__collector__trace__v1__export_trace_service_response__get_packed_size(&resp) > buflen)
        return 0;
    return opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(&resp, buf);
}

size_t otlp_response_status(uint8_t *buf, size_t buflen, int code, const char *message)
{
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    char text[OTLP_RESPONSE_MAX];
    clip(text, sizeof(text), message ? message : "", buflen);
    st.code = code;
    st.message = text;
    if (google__rpc__status__get_packed_size(&st) > buflen)
        return 0;
    return google__rpc__status__pack(&st, buf);
}
