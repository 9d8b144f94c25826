/* exporter.c — the exporter's policy, above the wire protocols: which batch goes when,
 * retries with backoff, giving up, connection backoff, state for /health, and the
 * WARNING lines operators read (logger "otel.exporter", rate-limited, never ERROR).
 *
 * A batch is compressed once, then sent and resent as is. The exporter holds at most
 * capacity batches (in flight plus waiting to retry): while the backend is down the
 * batcher stops handing it more, so the ring absorbs what it can and drops the rest,
 * and memory outside the ring stays bounded by capacity × exporter.maxBatchBytes, or
 * by the largest record when a single one is larger (a compressed batch keeps only its
 * compressed body). The pieces a batch is split into take its place: while they are
 * out the batcher hands over nothing more.
 *
 * State for /health: `ready` once an export succeeds; `failing` while exports reach the
 * backend (or its connection) but come back retryable or unanswered — a black hole or
 * a backend that answers UNAVAILABLE to everything is not ready; `backing_off` while no
 * connection can be made. exporter_up is 1 only when ready. */
#include "export/exporter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/compress.h"
#include "base/log.h"
#include "export/batch_split.h"
#include "export/exporter_transport.h"
#include "export/retry.h"

#define LOGGER "otel.exporter"
#define WARN_INTERVAL_MS 10000

struct export_item {
    struct exporter_batch *batch;
    struct exporter_request req;
    uint8_t *compressed;           /* owned; NULL when sent uncompressed */
    uint64_t not_before_ms;        /* loop time of the next attempt */
    struct export_item *next;      /* retry queue link */
};

struct exporter {
    uv_loop_t *loop;
    const struct export_target *target;
    struct stats_lane_exporter *st;
    const struct exporter_transport_ops *ops;
    struct exporter_transport *transport;
    exporter_done_cb done;
    void *done_arg;
    exporter_ready_cb ready;
    void *ready_arg;
    exporter_give_cb give;         /* hand-back mode: retryable batches go back */
    void *give_arg;
    struct retry_policy policy;
    int capacity;
    int in_flight;                 /* items inside the transport */
    int waiting;                   /* items in the retry queue */
    struct export_item *retry_head;/* sorted by not_before_ms */
    uv_timer_t retry_timer;
    int connect_failures;
    int connected;
    int failing;                   /* retryable failures since the last success */
    int shutting_down;
    uint64_t deadline_ms;
    int freeing;
    /* One limiter per kind of news: a flood of "will retry" must not hide that data
     * is being dropped. */
    struct log_limiter retry_limiter;
    struct log_limiter drop_limiter;
    struct log_limiter partial_limiter;
    struct log_limiter split_limiter;
    struct log_limiter too_large_limiter;
    struct log_limiter ceiling_limiter;
    /* The backend's request ceiling as seen so far, in plain bytes; 0: none seen. */
    uint64_t largest_accepted;
    uint64_t smallest_refused;
};

static void item_free(struct export_item *it)
{
    free(it->compressed);
    free(it->batch->data);
    free(it->batch);
    free(it);
}

/* The batch is finished for good: report it, free it, and tell the batcher. */
static void item_finish(struct exporter *e, struct export_item *it, uint32_t exported,
                        uint32_t failed, enum stats_fail_reason reason)
{
    e->done(e->done_arg, it->batch, exported, failed, reason);
    item_free(it);
    if (e->ready && !e->freeing)
        e->ready(e->ready_arg);
}

/* The batch leaves this exporter unfinished, for another to send. */
static void item_give(struct exporter *e, struct export_item *it)
{
    e->give(e->give_arg, it->batch);
    item_free(it);
    if (e->ready && !e->freeing)
        e->ready(e->ready_arg);
}

static void set_state(struct exporter *e, enum stats_exporter_state state, const char *error)
{
    e->st->state = state;
    e->st->up = state == STATS_EXPORTER_READY;
    if (error)
        snprintf(e->st->last_error, sizeof(e->st->last_error), "%s", error);
}

static void retry_queue_insert(struct exporter *e, struct export_item *it)
{
    struct export_item **p = &e->retry_head;
    while (*p && (*p)->not_before_ms <= it->not_before_ms)
        p = &(*p)->next;
    it->next = *p;
    *p = it;
    e->waiting++;
}

static void send_due(struct exporter *e);

static void on_retry_timer(uv_timer_t *t)
{
    send_due(t->data);
}

static void arm_retry_timer(struct exporter *e)
{
    if (!e->retry_head || e->freeing)
        return;
    /* With the transport full, its next answer sends what is due (send_due); a timer
     * due now would fire again and again within one turn of the loop, which would
     * never poll for that answer. */
    if (e->in_flight >= e->ops->capacity(e->transport)) {
        uv_timer_stop(&e->retry_timer);
        return;
    }
    uint64_t now = uv_now(e->loop);
    uint64_t at = e->retry_head->not_before_ms;
    uv_timer_start(&e->retry_timer, on_retry_timer, at > now ? at - now : 0, 0);
}

static void transmit(struct exporter *e, struct export_item *it)
{
    it->batch->attempts++;
    if (it->batch->attempts > 1)
        e->st->retries++;
    e->st->requests++;
    e->in_flight++;
    if (e->ops->send(e->transport, &it->req) < 0) {
        /* The transport cannot take it now (it never should within capacity): try
         * again after a backoff rather than lose track of the batch. */
        e->in_flight--;
        it->not_before_ms = uv_now(e->loop) + 1 +
                            retry_backoff_ms(&e->policy, it->batch->attempts - 1, retry_random);
        retry_queue_insert(e, it);
        arm_retry_timer(e);
    }
}

/* Sends every waiting batch whose time has come, as capacity allows. */
static void send_due(struct exporter *e)
{
    uint64_t now = uv_now(e->loop);
    while (e->retry_head && e->retry_head->not_before_ms <= now &&
           e->in_flight < e->ops->capacity(e->transport)) {
        struct export_item *it = e->retry_head;
        e->retry_head = it->next;
        e->waiting--;
        transmit(e, it);
    }
    arm_retry_timer(e);
}

struct exporter *exporter_new(uv_loop_t *loop, const struct export_target *target,
                              const struct exporter_transport_ops *ops,
                              struct stats_lane_exporter *st, exporter_done_cb done, void *arg,
                              char *err, size_t errlen)
{
    err[0] = '\0';
    struct exporter *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "exporter: out of memory");
        return NULL;
    }
    e->loop = loop;
    e->target = target;
    e->st = st;
    e->done = done;
    e->done_arg = arg;
    e->ops = ops;
    e->policy = (struct retry_policy){ target->retry_initial_interval_ms,
                                       target->retry_max_interval_ms,
                                       target->retry_max_elapsed_ms };
    e->retry_limiter = (struct log_limiter)LOG_LIMITER_INIT(WARN_INTERVAL_MS);
    e->drop_limiter = (struct log_limiter)LOG_LIMITER_INIT(WARN_INTERVAL_MS);
    e->partial_limiter = (struct log_limiter)LOG_LIMITER_INIT(WARN_INTERVAL_MS);
    e->split_limiter = (struct log_limiter)LOG_LIMITER_INIT(WARN_INTERVAL_MS);
    e->too_large_limiter = (struct log_limiter)LOG_LIMITER_INIT(WARN_INTERVAL_MS);
    e->ceiling_limiter = (struct log_limiter)LOG_LIMITER_INIT(WARN_INTERVAL_MS);
    e->transport = e->ops->create(loop, target, e, err, errlen);
    if (!e->transport) {
        free(e);
        return NULL;
    }
    e->capacity = e->ops->capacity(e->transport);
    uv_timer_init(loop, &e->retry_timer);
    e->retry_timer.data = e;
    set_state(e, STATS_EXPORTER_CONNECTING, NULL);
    return e;
}

int exporter_can_send(const struct exporter *e)
{
    return !e->freeing && e->in_flight + e->waiting < e->capacity;
}

void exporter_set_ready_cb(struct exporter *e, exporter_ready_cb cb, void *arg)
{
    e->ready = cb;
    e->ready_arg = arg;
}

/* Compresses the batch once for all its attempts. 0, or -1 when compression failed
 * (the batch then goes uncompressed: a backend takes both). */
static void item_compress(struct exporter *e, struct export_item *it)
{
    struct exporter_batch *b = it->batch;
    size_t out_len = 0;
    int rc = -1;
    it->req.body = b->data;
    it->req.len = b->len;
    it->req.encoding = "";
    if (e->target->compression == CONFIG_COMPRESSION_GZIP) {
        /* Level 1: on span batches it keeps most of level 6's ratio for a fraction of
         * the CPU, and the sidecar's CPU is the application's (make bench). */
        rc = compress_gzip(b->data, b->len, 1, &it->compressed, &out_len);
        if (rc == 0)
            it->req.encoding = "gzip";
    } else if (e->target->compression == CONFIG_COMPRESSION_ZSTD) {
        rc = compress_zstd(b->data, b->len, 3, &it->compressed, &out_len);
        if (rc == 0)
            it->req.encoding = "zstd";
    } else {
        return;
    }
    if (rc == 0) {
        it->req.body = it->compressed;
        it->req.len = out_len;
        /* Every attempt sends the compressed body: the plain one is not needed again,
         * unless the batch may be handed to another exporter. */
        if (!e->target->keep_plain_body) {
            free(b->data);
            b->data = NULL;
        }
    } else {
        free(it->compressed);
        it->compressed = NULL;
    }
}

/* Starts a batch: sent now when the transport has room, queued first in line
 * otherwise (its not_before is its first try). */
static void item_start(struct exporter *e, struct exporter_batch *batch)
{
    struct export_item *it = calloc(1, sizeof(*it));
    if (!it) {
        e->done(e->done_arg, batch, 0, batch->spans, STATS_FAIL_NO_MEMORY);
        free(batch->data);
        free(batch);
        return;
    }
    it->batch = batch;
    it->req.owner = it;
    batch->attempts = 0;
    item_compress(e, it);
    if (e->in_flight < e->ops->capacity(e->transport)) {
        transmit(e, it);
    } else {
        it->not_before_ms = batch->first_try_ms;
        retry_queue_insert(e, it);
        arm_retry_timer(e);
    }
}

/* Starts each piece, in order. */
static void start_pieces(struct exporter *e, struct exporter_batch *pieces)
{
    while (pieces) {
        struct exporter_batch *p = pieces;
        pieces = p->next;
        p->next = NULL;
        item_start(e, p);
    }
}

void exporter_send(struct exporter *e, struct exporter_batch *batch)
{
    batch->first_try_ms = uv_now(e->loop);
    size_t max_bytes = export_target_request_limit(e->target, e->st->max_request_bytes);
    /* The batcher keeps its batches within the limits, but a single record may be
     * larger (an SDK's whole export, or one from before a ceiling was learned). */
    if (batch->spans > 1 && (batch->spans > e->target->max_batch_spans || batch->len > max_bytes)) {
        char err[128];
        struct exporter_batch *pieces = batch_split_limits(batch, batch->data,
                                                           e->target->max_batch_spans, max_bytes,
                                                           err, sizeof(err));
        if (pieces) {
            free(batch->data);
            free(batch);
            start_pieces(e, pieces);
            return;
        }
        /* Sent whole: the backend may well take it. */
        const char *why = err;
        log_write_limited(&e->split_limiter, LOG_WARNING, LOGGER,
                          "cannot split a request over the batch limits, sending it whole",
                          (struct log_field[]){ LOG_STR("error", why),
                                                LOG_INT("spans", batch->spans),
                                                LOG_INT("bytes", batch->len),
                                                LOG_STR("destination", e->target->name) },
                          4);
    }
    item_start(e, batch);
}

static void warn(struct exporter *e, struct log_limiter *lim, const char *msg,
                 const struct exporter_result *res, const struct exporter_batch *b)
{
    log_write_limited(lim, LOG_WARNING, LOGGER, msg,
                      (struct log_field[]){ LOG_STR("error", res->message),
                                            LOG_INT("spans", b->spans),
                                            LOG_INT("attempts", b->attempts),
                                            LOG_STR("protocol", e->ops->name),
                                            LOG_STR("destination", e->target->name) },
                      5);
}

/* What a request of size plain bytes showed of the backend's ceiling, which lies
 * between the largest size accepted and the smallest refused. Requests are capped at
 * the largest accepted, or at half the smallest refused when that is more (the size
 * halving would try next: small acceptances, such as the spans sent with one too large,
 * say little of the ceiling). A ceiling that moves is followed: an acceptance at or over
 * the smallest refusal forgets it, a refusal at or under the largest acceptance forgets
 * that. */
static void learn_size(struct exporter *e, uint64_t size, int accepted)
{
    if (accepted) {
        if (size > e->largest_accepted)
            e->largest_accepted = size;
        if (e->smallest_refused && size >= e->smallest_refused)
            e->smallest_refused = 0;
    } else {
        if (!e->smallest_refused || size < e->smallest_refused)
            e->smallest_refused = size;
        if (e->largest_accepted >= size)
            e->largest_accepted = 0;
    }
    uint64_t cap = 0;
    if (e->smallest_refused)
        cap = e->largest_accepted > e->smallest_refused / 2 ? e->largest_accepted
                                                            : e->smallest_refused / 2;
    if (cap == e->st->max_request_bytes)
        return;
    e->st->max_request_bytes = cap;
    log_write_limited(&e->ceiling_limiter, LOG_INFO, LOGGER,
                      "request size limit set from the backend's answers",
                      (struct log_field[]){ LOG_INT("max_request_bytes", cap),
                                            LOG_INT("largest_accepted", e->largest_accepted),
                                            LOG_INT("smallest_refused", e->smallest_refused),
                                            LOG_STR("destination", e->target->name) },
                      4);
}

/* The plain body of a batch, inflated again when only its compressed body was kept;
 * NULL when that fails. The caller frees it when it is not batch->data. */
static uint8_t *plain_body(const struct export_item *it)
{
    const struct exporter_batch *b = it->batch;
    uint8_t *out = NULL;
    size_t n = 0;
    if (b->data)
        return b->data;
    int rc = strcmp(it->req.encoding, "zstd") == 0
                 ? compress_unzstd(it->compressed, it->req.len, b->len, &out, &n)
                 : compress_gunzip(it->compressed, it->req.len, b->len, &out, &n);
    if (rc != COMPRESS_OK || n != b->len) {
        free(out);
        return NULL;
    }
    return out;
}

/* The backend refused the request for its size: it goes again in halves (each halved
 * again when refused in turn, each compressed on its own). Only a single span over the
 * ceiling is given up. */
static void handle_too_large(struct exporter *e, struct export_item *it,
                             const struct exporter_result *res)
{
    struct exporter_batch *b = it->batch;
    snprintf(e->st->last_error, sizeof(e->st->last_error), "%s", res->message);
    learn_size(e, b->len, 0);
    if (b->spans < 2) {
        if (b->spans == 1)
            log_write_limited(&e->too_large_limiter, LOG_WARNING, LOGGER,
                              "a span is larger than the backend accepts, dropped",
                              (struct log_field[]){
                                  LOG_INT("request_bytes", b->len),
                                  LOG_INT("max_request_bytes", e->st->max_request_bytes),
                                  LOG_STR("error", res->message),
                                  LOG_STR("protocol", e->ops->name),
                                  LOG_STR("destination", e->target->name) },
                              5);
        item_finish(e, it, 0, b->spans, STATS_FAIL_TOO_LARGE);
        return;
    }
    char err[128] = "cannot inflate the compressed body";
    uint8_t *plain = plain_body(it);
    struct exporter_batch *halves = plain ? batch_split_halves(b, plain, err, sizeof(err)) : NULL;
    if (plain != b->data)
        free(plain);
    if (!halves) {
        const char *why = err;
        log_write_limited(&e->too_large_limiter, LOG_WARNING, LOGGER,
                          "cannot split a request the backend finds too large, dropped",
                          (struct log_field[]){ LOG_STR("error", why),
                                                LOG_INT("spans", b->spans),
                                                LOG_INT("request_bytes", b->len),
                                                LOG_STR("destination", e->target->name) },
                          4);
        item_finish(e, it, 0, b->spans, STATS_FAIL_TOO_LARGE);
        return;
    }
    item_free(it);
    start_pieces(e, halves);
}

static void handle_ok(struct exporter *e, struct export_item *it, const struct exporter_result *res)
{
    struct exporter_batch *b = it->batch;
    learn_size(e, b->len, 1);
    uint32_t rejected = res->rejected < 0 ? 0
                        : res->rejected > (int64_t)b->spans ? b->spans : (uint32_t)res->rejected;
    if (rejected > 0 || res->message[0]) {
        e->st->backend_rejected += rejected;
        log_write_limited(&e->partial_limiter, LOG_WARNING, LOGGER,
                          "backend accepted the batch partially",
                          (struct log_field[]){ LOG_INT("rejected_spans", rejected),
                                                LOG_STR("error", res->message),
                                                LOG_STR("destination", e->target->name) },
                          3);
    }
    item_finish(e, it, b->spans - rejected, rejected, STATS_FAIL_BACKEND_REJECTED);
}

/* While shutting down a batch is retried until the deadline whatever its age, and
 * never waits longer than retry.maxInterval nor past the deadline. */
static void handle_retry(struct exporter *e, struct export_item *it,
                         const struct exporter_result *res)
{
    struct exporter_batch *b = it->batch;
    uint64_t now = uv_now(e->loop);
    uint64_t wait = res->retry_after_ms ? res->retry_after_ms
                                        : retry_backoff_ms(&e->policy, b->attempts - 1, retry_random);
    /* A backend may ask for any delay; past the elapsed-time budget it means give up,
     * and capping it here keeps the loop-time arithmetic from overflowing. */
    if (wait > e->policy.max_elapsed_ms)
        wait = e->policy.max_elapsed_ms + 1;
    if (e->freeing) {
        warn(e, &e->drop_limiter, "export unanswered at shutdown, batch dropped", res, b);
        item_finish(e, it, 0, b->spans, STATS_FAIL_SHUTDOWN_IN_FLIGHT);
        return;
    }
    if (e->give && !e->shutting_down) {
        item_give(e, it);
        return;
    }
    if (e->shutting_down) {
        if (now >= e->deadline_ms) {
            warn(e, &e->drop_limiter, "export failed at shutdown, batch dropped", res, b);
            item_finish(e, it, 0, b->spans, STATS_FAIL_SHUTDOWN);
            return;
        }
        if (wait > e->policy.max_ms)
            wait = e->policy.max_ms;
        if (wait > e->deadline_ms - now)
            wait = e->deadline_ms - now;
    } else if (retry_gives_up(&e->policy, b->first_try_ms, now, wait)) {
        warn(e, &e->drop_limiter, "export failed, retries exhausted, batch dropped", res, b);
        item_finish(e, it, 0, b->spans, STATS_FAIL_RETRIES_EXHAUSTED);
        return;
    }
    warn(e, &e->retry_limiter, "export failed, will retry", res, b);
    it->not_before_ms = now + wait;
    retry_queue_insert(e, it);
    arm_retry_timer(e);
}

void exporter_transport_done(struct exporter *e, struct exporter_request *req,
                             const struct exporter_result *res)
{
    struct export_item *it = req->owner;
    e->in_flight--;
    switch (res->outcome) {
    case EXPORTER_OK:
        e->failing = 0;
        if (!e->connected)
            exporter_transport_state(e, 1, NULL);
        set_state(e, STATS_EXPORTER_READY, NULL);
        handle_ok(e, it, res);
        break;
    case EXPORTER_RETRY:
        /* What the transport answers while being destroyed says nothing of the backend. */
        if (!e->freeing) {
            if (!res->connected)
                e->connected = 0;
            e->failing++;
            set_state(e, res->connected || res->timed_out ? STATS_EXPORTER_FAILING
                                                          : STATS_EXPORTER_BACKING_OFF,
                      res->message);
        }
        handle_retry(e, it, res);
        break;
    case EXPORTER_TOO_LARGE:
        handle_too_large(e, it, res);
        break;
    case EXPORTER_FAIL:
        snprintf(e->st->last_error, sizeof(e->st->last_error), "%s", res->message);
        warn(e, &e->drop_limiter, "backend refused the batch, dropped (not retryable)", res,
             it->batch);
        item_finish(e, it, 0, it->batch->spans, STATS_FAIL_REFUSED);
        break;
    }
    if (!e->freeing)
        send_due(e);
}

uint64_t exporter_reconnect_delay_ms(struct exporter *e)
{
    if (e->connect_failures == 0) {
        e->connect_failures = 1;
        return 0;
    }
    uint64_t wait = retry_backoff_ms(&e->policy, e->connect_failures - 1, retry_random);
    e->connect_failures++;
    return wait;
}

/* A connection proves little: a backend that refuses every export stays `failing`
 * until one succeeds. */
void exporter_transport_state(struct exporter *e, int connected, const char *error)
{
    e->connected = connected;
    if (connected) {
        e->connect_failures = 0;
        if (!e->failing)
            set_state(e, STATS_EXPORTER_READY, NULL);
        log_write(LOG_INFO, LOGGER, "connected to backend",
                  (struct log_field[]){ LOG_STR("protocol", e->ops->name),
                                        LOG_STR("destination", e->target->name) },
                  2);
    } else {
        set_state(e, e->st->state == STATS_EXPORTER_FAILING ? STATS_EXPORTER_FAILING
                                                             : STATS_EXPORTER_BACKING_OFF,
                  error);
    }
}

void exporter_hand_back(struct exporter *e, exporter_give_cb give, void *arg)
{
    e->give = give;
    e->give_arg = arg;
    if (!give || e->shutting_down)
        return;
    while (e->retry_head) {
        struct export_item *it = e->retry_head;
        e->retry_head = it->next;
        e->waiting--;
        item_give(e, it);
    }
    uv_timer_stop(&e->retry_timer);
}

void exporter_shutdown(struct exporter *e, uint64_t deadline_ms)
{
    e->shutting_down = 1;
    e->deadline_ms = deadline_ms;
    /* Waiting batches are tried now: waiting out a backoff past the deadline helps no one. */
    for (struct export_item *it = e->retry_head; it; it = it->next)
        it->not_before_ms = 0;
    send_due(e);
}

static void exporter_on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void exporter_free(struct exporter *e)
{
    e->freeing = 1;
    /* The transport answers what it holds (RETRY "shutdown"), which lands in
     * handle_retry and, with freeing set, finishes as shutdown_in_flight. */
    e->ops->destroy(e->transport);
    while (e->retry_head) {
        struct export_item *it = e->retry_head;
        e->retry_head = it->next;
        e->waiting--;
        item_finish(e, it, 0, it->batch->spans, STATS_FAIL_SHUTDOWN);
    }
    uv_timer_stop(&e->retry_timer);
    uv_close((uv_handle_t *)&e->retry_timer, exporter_on_timer_closed);
}
