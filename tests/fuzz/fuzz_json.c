/* fuzz_json.c — libFuzzer target for OTLP/JSON: any bytes convert or fail with a
 * message; what converts is a request the wire walk accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/otlp.h"
#include "receive/otlp_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *proto = NULL;
    size_t proto_len = 0;
    char err[256];
    err[0] = '\0';
    if (otlp_json_to_proto((const char *)data, size, &proto, &proto_len, err, sizeof(err)) == 0) {
        struct otlp_rewrite_opts opts = { NULL, NULL, NULL, 0 };
        struct otlp_counts counts;
        uint8_t *out = NULL;
        size_t out_len = 0;
        memset(&counts, 0, sizeof(counts));
        otlp_rewrite(proto, proto_len, &opts, &out, &out_len, &counts, err, sizeof(err));
        free(out);
        free(proto);
    } else if (err[0] == '\0') {
        abort();
    }
    return 0;
}
