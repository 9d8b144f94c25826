/* batch_split.c — pieces of a batch within limits, or its halves (see batch_split.h).
 *
 * Spans go into pieces in order, greedily, by their encoded size. The resource and
 * scope headers a piece repeats are unknown while its spans are chosen, so the byte
 * budget keeps a margin (a thirty-second of it), and a piece that still ends up over
 * max_bytes is halved until it fits or holds a single span. */
#include "export/batch_split.h"

#include <stdio.h>
#include <stdlib.h>

#include "pipeline/otlp_partition.h"

struct greedy {
    size_t max_spans;
    size_t budget;
    size_t bucket;
    size_t spans;
    size_t bytes;
};

static size_t classify_greedy(void *arg, const uint8_t trace_id[16], size_t span_index,
                              size_t span_bytes)
{
    struct greedy *g = arg;
    (void)trace_id;
    (void)span_index;
    if (g->spans > 0 && (g->spans >= g->max_spans || g->bytes + span_bytes > g->budget)) {
        g->bucket++;
        g->spans = 0;
        g->bytes = 0;
    }
    g->spans++;
    g->bytes += span_bytes;
    return g->bucket;
}

struct halves {
    size_t spans;
    size_t half;
    size_t bytes;   /* of the spans classified so far */
};

/* The first span goes to the first half and the last to the second, so that neither
 * is empty; in between a span goes where most of its bytes fall. */
static size_t classify_half(void *arg, const uint8_t trace_id[16], size_t span_index,
                            size_t span_bytes)
{
    struct halves *h = arg;
    size_t before = h->bytes;
    (void)trace_id;
    h->bytes += span_bytes;
    if (span_index == 0)
        return 0;
    if (span_index + 1 >= h->spans)
        return 1;
    return before + span_bytes / 2 < h->half ? 0 : 1;
}

void batch_split_free(struct exporter_batch *pieces)
{
    while (pieces) {
        struct exporter_batch *next = pieces->next;
        free(pieces->data);
        free(pieces);
        pieces = next;
    }
}

/* The buckets as a list of pieces, which take over their bodies. */
static struct exporter_batch *collect(const struct exporter_batch *b,
                                      struct otlp_partition_out *out, size_t n, char *err,
                                      size_t errlen)
{
    uint64_t spans = 0;
    for (size_t i = 0; i < n; i++)
        spans += out[i].spans;
    if (spans != b->spans) {
        snprintf(err, errlen, "the body holds %llu spans, the batch %u",
                 (unsigned long long)spans, b->spans);
        return NULL;
    }
    struct exporter_batch *head = NULL, **tail = &head;
    for (size_t i = 0; i < n; i++) {
        if (!out[i].data)
            continue;
        struct exporter_batch *p = calloc(1, sizeof(*p));
        if (!p) {
            snprintf(err, errlen, "out of memory");
            batch_split_free(head);
            return NULL;
        }
        *p = (struct exporter_batch){ .data = out[i].data, .len = out[i].len,
                                      .spans = out[i].spans, .first_try_ms = b->first_try_ms };
        out[i] = (struct otlp_partition_out){ 0 };
        *tail = p;
        tail = &p->next;
    }
    return head;
}

static struct exporter_batch *partition(const struct exporter_batch *b, const uint8_t *plain,
                                        size_t n, otlp_partition_classify classify, void *arg,
                                        char *err, size_t errlen)
{
    struct otlp_partition_out *out = calloc(n, sizeof(*out));
    struct exporter_batch *head = NULL;
    if (!out) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (otlp_partition(plain, b->len, n, classify, arg, out, err, errlen) == 0) {
        head = collect(b, out, n, err, errlen);
        otlp_partition_free(out, n);
    }
    free(out);
    return head;
}

struct exporter_batch *batch_split_halves(const struct exporter_batch *b, const uint8_t *plain,
                                          char *err, size_t errlen)
{
    if (b->spans < 2) {
        snprintf(err, errlen, "a batch of %u span(s) has no halves", b->spans);
        return NULL;
    }
    struct halves h = { .spans = b->spans, .half = b->len / 2 };
    return partition(b, plain, 2, classify_half, &h, err, errlen);
}

/* Halves, in place, every piece over max_bytes that holds more than one span. */
static int fit(struct exporter_batch **link, size_t max_bytes, char *err, size_t errlen)
{
    while (*link) {
        struct exporter_batch *p = *link;
        if (p->len <= max_bytes || p->spans < 2) {
            link = &p->next;
            continue;
        }
        struct exporter_batch *h = batch_split_halves(p, p->data, err, errlen);
        if (!h)
            return -1;
        struct exporter_batch *last = h;
        while (last->next)
            last = last->next;
        last->next = p->next;
        *link = h;
        free(p->data);
        free(p);
    }
    return 0;
}

struct exporter_batch *batch_split_limits(const struct exporter_batch *b, const uint8_t *plain,
                                          size_t max_spans, size_t max_bytes, char *err,
                                          size_t errlen)
{
    if (max_spans == 0)
        max_spans = 1;
    if (max_bytes == 0)
        max_bytes = SIZE_MAX;
    struct greedy g = { .max_spans = max_spans, .budget = max_bytes - max_bytes / 32 };
    /* Each piece but the last is closed by the span limit or by the byte budget, and
     * two neighbours closed by bytes hold more than the budget together. */
    size_t n = b->spans / max_spans + 2 * (b->len / g.budget) + 2;
    if (n > b->spans)
        n = b->spans ? b->spans : 1;
    struct exporter_batch *head = partition(b, plain, n, classify_greedy, &g, err, errlen);
    if (head && fit(&head, max_bytes, err, errlen) < 0) {
        batch_split_free(head);
        return NULL;
    }
    return head;
}
