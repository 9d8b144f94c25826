/* tracestate.h — the W3C tracestate list and OpenTelemetry's `ot` entry in it: the
 * rejection threshold `th` and the explicit randomness `rv` of consistent probability
 * sampling (OpenTelemetry specification, "TraceState: Probability Sampling" and
 * "TraceState Handling"; DESIGN.md decision 12).
 *
 * Thresholds and randomness are 56-bit integers. A threshold T keeps the spans whose
 * randomness R is at least T: T = 0 keeps everything, TRACESTATE_REJECT_ALL nothing
 * (and is never written). In text, `th` is 1 to 14 hex digits, the value's leading
 * digits with trailing zeros removed ("th:0" keeps all, "th:c" a quarter); `rv` is
 * exactly 14 hex digits. Hex digits are read in either case and written in lower case. */
#ifndef SPANRELAY_TRACESTATE_H
#define SPANRELAY_TRACESTATE_H

#include <stddef.h>
#include <stdint.h>

/* W3C Trace Context: at most 32 list members; 512 characters is what every vendor
 * must propagate. OpenTelemetry: the `ot` entry's value at most 256 characters. */
#define TRACESTATE_MAX_MEMBERS 32
#define TRACESTATE_MAX_LEN 512
#define TRACESTATE_OT_MAX_LEN 256

#define TRACESTATE_HEX_DIGITS 14
#define TRACESTATE_REJECT_ALL (1ULL << 56)
#define TRACESTATE_RANDOMNESS_MASK (TRACESTATE_REJECT_ALL - 1)

/* What a tracestate says for sampling, and where, for tracestate_set_th(). */
struct tracestate_ot {
    unsigned members;        /* non-empty list members, the `ot` one included */
    int has_ot;              /* an `ot=` list member is present (the first one counts) */
    size_t ot_start, ot_end; /* that member, "ot=...", within the tracestate */
    int has_th;              /* a valid `th` (1 to 14 hex digits) in it */
    uint64_t th;
    unsigned th_digits;      /* its precision: digits without the trailing zeros */
    size_t th_start, th_end; /* the "th:..." sub-key within the tracestate (valid or not);
                                th_end == 0: there is none */
    int has_rv;              /* a valid `rv` (14 hex digits) in it */
    uint64_t rv;
};

/* Reads ts[0..len). Never fails: what does not parse is simply not there. */
void tracestate_parse(const char *ts, size_t len, struct tracestate_ot *ot);

/* The threshold for probability p with `precision` significant hex digits (1 to 14),
 * rounded as the specification says: T = 2^56 - round(p * 2^56), rounded to the
 * nearest value with that many leading digits; the precision grows by one digit for
 * every leading `f` a small probability gives (0.001 at precision 4 is ffbe77), up to
 * 14. p >= 1 gives 0; p <= 0, NaN, and p below 2^-57 give TRACESTATE_REJECT_ALL. */
uint64_t tracestate_threshold(double p, unsigned precision);

/* Writes the `th` value of t (< TRACESTATE_REJECT_ALL) into out (at least 15 bytes,
 * NUL-terminated) and returns its length: "0" for 0, else up to 14 digits. */
size_t tracestate_th_format(uint64_t t, char *out);

/* 0 with *t set for 1 to 14 hex digits; -1 otherwise. */
int tracestate_th_parse(const char *s, size_t len, uint64_t *t);

/* 0 with *rv set for exactly 14 hex digits; -1 otherwise. */
int tracestate_rv_parse(const char *s, size_t len, uint64_t *rv);

/* Writes into out (TRACESTATE_MAX_LEN bytes) the tracestate ts[0..len), parsed into ot,
 * with `th` set to t: the `ot` member, its other sub-keys and their order kept, moves to
 * the front of the list as W3C Trace Context asks of an updated entry (a new one
 * "ot=th:<t>" is added there); every other list member is copied as it was, in order.
 * Returns the new length, or -1 when the result would break the limits above (too long,
 * or a 33rd member): the caller then leaves the tracestate as it was. */
int tracestate_set_th(const char *ts, size_t len, const struct tracestate_ot *ot, uint64_t t,
                      char *out);

#endif
