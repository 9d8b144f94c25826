/* otlp_response.c — encodes the receivers' answers with protobuf-c. */
#include "receive/otlp_response.h"

#include <string.h>

#include "google/rpc/error_details.pb-c.h"
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

size_t otlp_response_status_retry(uint8_t *buf, size_t buflen, int code, const char *message,
                                  uint64_t retry_delay_ms)
{
    Google__Protobuf__Duration delay = GOOGLE__PROTOBUF__DURATION__INIT;
    delay.seconds = (int64_t)(retry_delay_ms / 1000);
    delay.nanos = (int32_t)(retry_delay_ms % 1000) * 1000000;
    Google__Rpc__RetryInfo info = GOOGLE__RPC__RETRY_INFO__INIT;
    info.retry_delay = &delay;
    uint8_t packed_info[64];
    if (google__rpc__retry_info__get_packed_size(&info) > sizeof(packed_info))
        return 0;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = "type.googleapis.com/google.rpc.RetryInfo";
    any.value.data = packed_info;
    any.value.len = google__rpc__retry_info__pack(&info, packed_info);
    Google__Protobuf__Any *details[] = { &any };

    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    char text[OTLP_RESPONSE_MAX];
    clip(text, sizeof(text), message ? message : "", buflen > 96 ? buflen - 64 : 0);
    st.code = code;
    st.message = text;
    st.details = details;
    st.n_details = 1;
    if (google__rpc__status__get_packed_size(&st) > buflen)
        return 0;
    return google__rpc__status__pack(&st, buf);
}
