/* batcher.c — size- and time-triggered batches of ring records (see batcher.h). */
#include "export/batcher.h"

#include <stdlib.h>
#include <string.h>

#include "base/stats.h"

struct batcher {
    uv_loop_t *loop;
    const struct config *cfg;
    struct ring *ring;
    struct exporter *exporter;
    uv_timer_t timer;
    int timer_armed;
    int flush_all;
};

static void update_ring_gauges(struct batcher *b)
{
    stats.buffer_bytes = ring_bytes(b->ring);
}

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
    size_t cap = len > b->cfg->exporter_max_batch_bytes ? len : b->cfg->exporter_max_batch_bytes;
    uint8_t *buf = malloc(cap);
    if (!batch || !buf) {
        free(batch);
        free(buf);
        return NULL;
    }
    while (ring_peek(b->ring, &data, &len, &n) == 0) {
        if (total > 0 && (total + len > cap || spans + n > b->cfg->exporter_max_batch_spans))
            break;
        memcpy(buf + total, data, len);
        total += len;
        spans += n;
        ring_pop(b->ring);
    }
    batch->data = buf;
    batch->len = total;
    batch->spans = (uint32_t)spans;
    stats.spans_buffered -= spans;
    stats.spans_in_flight += spans;
    update_ring_gauges(b);
    return batch;
}

/* 1 when the ring holds a full batch's worth. */
static int batch_full(const struct batcher *b)
{
    return ring_bytes(b->ring) >= b->cfg->exporter_max_batch_bytes ||
           ring_spans(b->ring) >= b->cfg->exporter_max_batch_spans;
}

static void send_batches(struct batcher *b, int everything)
{
    while (exporter_can_send(b->exporter) && ring_records(b->ring) > 0 &&
           (everything || batch_full(b))) {
        struct exporter_batch *batch = batch_take(b);
        if (!batch)
            return;
        exporter_send(b->exporter, batch);
    }
}

static void on_timer(uv_timer_t *t)
{
    struct batcher *b = t->data;
    b->timer_armed = 0;
    send_batches(b, 1);
    /* What the exporter could not take yet goes when it says it is ready. */
}

static void on_exporter_ready(void *arg)
{
    struct batcher *b = arg;
    send_batches(b, b->flush_all || !b->timer_armed);
    if (ring_records(b->ring) > 0 && !b->timer_armed && !b->flush_all) {
        uv_timer_start(&b->timer, on_timer, b->cfg->exporter_batch_timeout_ms, 0);
        b->timer_armed = 1;
    }
}

struct batcher *batcher_new(uv_loop_t *loop, const struct config *cfg, struct ring *ring,
                            struct exporter *exporter)
{
    struct batcher *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->loop = loop;
    b->cfg = cfg;
    b->ring = ring;
    b->exporter = exporter;
    uv_timer_init(loop, &b->timer);
    b->timer.data = b;
    exporter_set_ready_cb(exporter, on_exporter_ready, b);
    return b;
}

void batcher_pushed(struct batcher *b)
{
    send_batches(b, b->flush_all);
    if (ring_records(b->ring) > 0 && !b->timer_armed) {
        uv_timer_start(&b->timer, on_timer, b->cfg->exporter_batch_timeout_ms, 0);
        b->timer_armed = 1;
    }
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
