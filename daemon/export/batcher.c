/* batcher.c — size- and time-triggered batches of ring records (see batcher.h). */
#include "export/batcher.h"

#include <stdlib.h>
#include <string.h>

struct batcher {
    uv_loop_t *loop;
    const struct export_target *target;
    struct ring *ring;
    struct batcher_sink sink;
    size_t max_bytes;            /* maxBatchBytes, or the backend's ceiling when lower */
    uv_timer_t timer;
    int timer_armed;
    int flush_all;
};

/* Pops records into one batch within the limits. NULL when the ring is empty or
 * memory is short (records then stay in the ring for the next try). */
static struct exporter_batch *batch_take(struct batcher *b)
{
    size_t total = 0;
    uint64_t spans = 0;
    const uint8_t *data;
    size_t len;
    uint32_t n;

    if (ring_peek(b->ring, &data, &len, &n) < 0)
        return NULL;
    struct exporter_batch *batch = calloc(1, sizeof(*batch));
    size_t cap = len > b->max_bytes ? len : b->max_bytes;
    uint8_t *buf = malloc(cap);
    if (!batch || !buf) {
        free(batch);
        free(buf);
        return NULL;
    }
    while (ring_peek(b->ring, &data, &len, &n) == 0) {
        if (total > 0 && (total + len > cap || spans + n > b->target->max_batch_spans))
            break;
        memcpy(buf + total, data, len);
        total += len;
        spans += n;
        ring_pop(b->ring);
    }
    batch->data = buf;
    batch->len = total;
    batch->spans = (uint32_t)spans;
    return batch;
}

/* 1 when the ring holds a full batch's worth. */
static int batch_full(const struct batcher *b)
{
    return ring_bytes(b->ring) >= b->max_bytes ||
           ring_spans(b->ring) >= b->target->max_batch_spans;
}

static void send_batches(struct batcher *b, int everything)
{
    while (b->sink.can_send(b->sink.arg) && ring_records(b->ring) > 0 &&
           (everything || batch_full(b))) {
        struct exporter_batch *batch = batch_take(b);
        if (!batch)
            return;
        b->sink.send(b->sink.arg, batch);
    }
}

static void on_timer(uv_timer_t *t)
{
    struct batcher *b = t->data;
    b->timer_armed = 0;
    send_batches(b, 1);
    /* What the exporter could not take yet goes when it says it is ready. */
}

void batcher_ready(struct batcher *b)
{
    send_batches(b, b->flush_all || !b->timer_armed);
    if (ring_records(b->ring) > 0 && !b->timer_armed && !b->flush_all) {
        uv_timer_start(&b->timer, on_timer, b->target->batch_timeout_ms, 0);
        b->timer_armed = 1;
    }
}

struct batcher *batcher_new(uv_loop_t *loop, const struct export_target *target,
                            struct ring *ring, struct batcher_sink sink)
{
    struct batcher *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->loop = loop;
    b->target = target;
    b->ring = ring;
    b->sink = sink;
    b->max_bytes = target->max_batch_bytes;
    uv_timer_init(loop, &b->timer);
    b->timer.data = b;
    return b;
}

void batcher_pushed(struct batcher *b)
{
    send_batches(b, b->flush_all);
    if (ring_records(b->ring) > 0 && !b->timer_armed) {
        uv_timer_start(&b->timer, on_timer, b->target->batch_timeout_ms, 0);
        b->timer_armed = 1;
    }
}

void batcher_limit_bytes(struct batcher *b, size_t max_bytes)
{
    b->max_bytes = export_target_request_limit(b->target, max_bytes);
}

void batcher_flush_all(struct batcher *b)
{
    b->flush_all = 1;
    uv_timer_stop(&b->timer);
    b->timer_armed = 0;
    send_batches(b, 1);
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void batcher_free(struct batcher *b)
{
    uv_timer_stop(&b->timer);
    uv_close((uv_handle_t *)&b->timer, on_closed);
}
