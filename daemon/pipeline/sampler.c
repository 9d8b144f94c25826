/* sampler.c — the Python and the consistent-probability sampling rules (see sampler.h).
 *
 * The Python bound is the SDK's round(ratio * 2**64). ratio * 2^64 only moves the
 * exponent, so the product is exact and nearbyint() in the default rounding mode
 * rounds it half to even exactly as Python's round() does for a float. */
#include <math.h>
#include <string.h>

#include "pipeline/sampler.h"

#define TWO_POW_64 18446744073709551616.0

/* OpenTelemetry SDKs write thresholds at four hex digits by default. */
#define DEFAULT_PRECISION 4

static void python_init(struct sampler *s, double ratio)
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

void sampler_init(struct sampler *s, double ratio, enum config_sampler_rule rule)
{
    s->rule = rule;
    python_init(s, ratio);
    for (unsigned p = 0; p <= TRACESTATE_HEX_DIGITS; p++)
        s->threshold[p] = tracestate_threshold(ratio, p < DEFAULT_PRECISION ? DEFAULT_PRECISION : p);
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

static uint64_t trace_id_randomness(const uint8_t trace_id[16])
{
    uint64_t r = 0;
    for (int i = 9; i < 16; i++)
        r = (r << 8) | trace_id[i];
    return r;
}

static void consistent_decide(const struct sampler *s, const uint8_t trace_id[16],
                              const char *ts, size_t len, const struct tracestate_ot *ot,
                              struct sampler_decision *d)
{
    uint64_t r = ot->has_rv ? ot->rv : trace_id_randomness(trace_id);
    int has_th = ot->has_th;

    d->rule = STATS_RULE_CONSISTENT;
    if (has_th && r < ot->th) {
        d->th_inconsistent = 1;
        has_th = 0;
    }

    uint64_t t = s->threshold[has_th ? ot->th_digits : 0];
    if (has_th && ot->th > t)
        t = ot->th;
    d->keep = r >= t;
    if (!d->keep || (has_th && t == ot->th))
        return;

    int n = tracestate_set_th(ts, len, ot, t, d->trace_state);
    if (n < 0) {
        d->too_long = 1;
        return;
    }
    d->rewrite = 1;
    d->trace_state_len = (size_t)n;
}

void sampler_decide(const struct sampler *s, const uint8_t trace_id[16], const char *ts,
                    size_t len, struct sampler_decision *d)
{
    struct tracestate_ot ot;

    d->th_inconsistent = 0;
    d->too_long = 0;
    d->rewrite = 0;
    d->trace_state_len = 0;

    if (s->rule != CONFIG_SAMPLER_PYTHON) {
        tracestate_parse(ts, len, &ot);
        if (s->rule == CONFIG_SAMPLER_CONSISTENT || ot.has_th || ot.has_rv) {
            consistent_decide(s, trace_id, ts, len, &ot, d);
            return;
        }
    }
    d->rule = STATS_RULE_PYTHON;
    d->keep = sampler_keep(s, trace_id);
}
