/* fuzz_otlp.c — libFuzzer target for the wire walk: any bytes, with sampling (rule auto,
 * tracestates rewritten) and enrichment on, must give 0 with a consistent result or -1
 * with a message, and the output of a success must walk again unchanged in count, with
 * no sampler and with the same one (which keeps what it kept). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sampler half;
    static struct config_kv attrs[] = { { "k8s.pod.name", "web-1" }, { "service.name", "x" } };
    sampler_init(&half, 0.5, CONFIG_SAMPLER_AUTO);
    struct otlp_rewrite_opts opts = { &half, "fuzz", attrs, 2 };
    struct otlp_counts counts;
    uint8_t *out = NULL;
    size_t out_len = 0;
    char err[256];
    memset(&counts, 0, sizeof(counts));
    if (otlp_rewrite(data, size, &opts, &out, &out_len, &counts, err, sizeof(err)) == 0) {
        if (counts.kept + counts.sampled_out + counts.invalid_total != counts.spans)
            abort();
        /* With out NULL the result is the input's first out_len bytes (all or none). */
        const uint8_t *again = out ? out : data;
        size_t again_len = out_len;
        struct otlp_rewrite_opts keep_all = { NULL, NULL, NULL, 0 };
        uint8_t *out2 = NULL;
        size_t out2_len = 0;
        struct otlp_counts c2;
        memset(&c2, 0, sizeof(c2));
        if (otlp_rewrite(again, again_len, &keep_all, &out2, &out2_len, &c2, err, sizeof(err)) != 0)
            abort();
        if (c2.kept != counts.kept)
            abort();
        free(out2);
        out2 = NULL;
        if (otlp_rewrite(again, again_len, &opts, &out2, &out2_len, &c2, err, sizeof(err)) != 0)
            abort();
        if (c2.kept != counts.kept)
            abort();
        free(out2);
    } else if (err[0] == '\0') {
        abort();
    }
    free(out);
    return 0;
}
