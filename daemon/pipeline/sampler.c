/* sampler.c — ParentBased(TraceIdRatioBased(ratio)) on the trace id alone.
 *
 * The bound is the Python SDK's round(ratio * 2**64). ratio * 2^64 only moves the
 * exponent, so the product is exact and nearbyint() in the default rounding mode
 * rounds it half to even exactly as Python's round() does for a float. */
#include <math.h>

#include "pipeline/sampler.h"

#define TWO_POW_64 18446744073709551616.0

void sampler_init(struct sampler *s, double ratio)
{
    s->keep_all = 0;
    s->bound = 0;

    /* Written so that NaN, like any ratio <= 0, keeps nothing. */
    if (!(ratio > 0.0))
        return;
    if (ratio >= 1.0) {
        s->keep_all = 1;
        return;
    }

    double bound = nearbyint(ratio * TWO_POW_64);
    if (bound >= TWO_POW_64) {
        s->keep_all = 1;
        return;
    }
    s->bound = (uint64_t)bound;
}

int sampler_keep(const struct sampler *s, const uint8_t trace_id[16])
{
    if (s->keep_all)
        return 1;

    uint64_t low = 0;
    for (int i = 8; i < 16; i++)
        low = (low << 8) | trace_id[i];
    return low < s->bound;
}
