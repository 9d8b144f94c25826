/* fake_transport.h — a wire protocol with no network for the export-policy suites
 * (test_exporter.c, test_lane.c): it keeps what exporter.c sends and answers each
 * request from a loop callback (never from inside send(), as the contract says) with
 * the next answer of a script the test wrote, or holds it unanswered. With a ceiling
 * set, a request whose plain body (gzip inflated) is larger is answered TOO_LARGE
 * instead, as a backend with a request size limit does. */
#ifndef SPANRELAY_FAKE_TRANSPORT_H
#define SPANRELAY_FAKE_TRANSPORT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <check.h>

#include "base/compress.h"
#include "base/log.h"
#include "export/exporter_transport.h"

#define FAKE_MAX_SCRIPT 64
#define FAKE_MAX_SENT 256
#define FAKE_HOLD (-1)          /* script entry: never answer (a black hole) */

struct fake_answer {
    int outcome;                /* enum exporter_outcome, or FAKE_HOLD */
    int connected;
    int timed_out;
    int64_t rejected;
    uint64_t retry_after_ms;
    const char *message;
};

struct fake_sent {
    uint64_t at_ms;             /* loop time of send() */
    size_t len;
    uint8_t *body;              /* a copy */
    size_t plain_len;
    uint8_t *plain;             /* the body inflated when it came gzip'd, else NULL */
    int outcome;                /* the answer it got, or FAKE_HOLD */
};

struct fake_transport {
    uv_loop_t *loop;
    struct exporter *e;
    int capacity;
    int create_fails;
    struct fake_answer script[FAKE_MAX_SCRIPT];
    int script_len;
    int script_next;            /* past the end: the last entry repeats */
    struct exporter_request *held[FAKE_MAX_SENT];
    int held_count;
    struct fake_sent sent[FAKE_MAX_SENT];
    int sent_count;
    int answered;               /* answers delivered from the script */
    int destroyed;
    const struct export_target *target;
    void (*after_answer)(void); /* called after each scripted answer was handled */
    size_t ceiling;             /* 0, or the largest plain body accepted */
    int refused_too_large;
};

/* The one fake a suite uses; reset by fake_reset(). */
static struct fake_transport fake;

struct fake_pending {
    uv_timer_t timer;
    struct exporter_request *req;
    struct fake_answer answer;
    struct fake_pending *next;
};

/* Answers scheduled but not yet delivered: destroy() answers them itself. */
static struct fake_pending *fake_pending_head;

/* Forgets what was sent so far (not the script nor the counts). */
static inline void fake_forget_sent(void)
{
    for (int i = 0; i < fake.sent_count; i++) {
        free(fake.sent[i].body);
        free(fake.sent[i].plain);
    }
    memset(fake.sent, 0, sizeof(fake.sent));
    fake.sent_count = 0;
}

static void fake_reset(void)
{
    fake_forget_sent();
    memset(&fake, 0, sizeof(fake));
    fake.capacity = 2;
}

static inline void fake_script(struct fake_answer a)
{
    if (fake.script_len < FAKE_MAX_SCRIPT)
        fake.script[fake.script_len++] = a;
}

static void fake_result(const struct fake_answer *a, struct exporter_result *res)
{
    memset(res, 0, sizeof(*res));
    res->outcome = (enum exporter_outcome)a->outcome;
    res->connected = a->connected;
    res->timed_out = a->timed_out;
    res->rejected = a->rejected;
    res->retry_after_ms = a->retry_after_ms;
    snprintf(res->message, sizeof(res->message), "%s", a->message ? a->message : "");
}

static void fake_pending_closed(uv_handle_t *h)
{
    free(h->data);
}

static void fake_pending_unlink(struct fake_pending *p)
{
    struct fake_pending **pp = &fake_pending_head;
    while (*pp && *pp != p)
        pp = &(*pp)->next;
    if (*pp)
        *pp = p->next;
    uv_close((uv_handle_t *)&p->timer, fake_pending_closed);
}

static void fake_on_answer(uv_timer_t *t)
{
    struct fake_pending *p = t->data;
    struct exporter_result res;
    fake_result(&p->answer, &res);
    struct exporter_request *req = p->req;
    fake_pending_unlink(p);
    fake.answered++;
    exporter_transport_done(fake.e, req, &res);
    if (fake.after_answer)
        fake.after_answer();
}

static struct exporter_transport *fake_create(uv_loop_t *loop, const struct export_target *target,
                                             struct exporter *e, char *err, size_t errlen)
{
    if (fake.create_fails) {
        snprintf(err, errlen, "%s.endpoint: fake refuses", target->key);
        return NULL;
    }
    fake.loop = loop;
    fake.e = e;
    fake.target = target;
    return (struct exporter_transport *)&fake;
}

static int fake_capacity(const struct exporter_transport *t)
{
    return ((const struct fake_transport *)t)->capacity;
}

/* A copy of the request's body, and of it inflated when it is gzip'd. */
static void fake_keep(struct fake_sent *s, const struct exporter_request *req)
{
    s->at_ms = uv_now(fake.loop);
    s->len = req->len;
    s->body = malloc(req->len ? req->len : 1);
    memcpy(s->body, req->body, req->len);
    s->plain_len = req->len;
    if (req->encoding && strcmp(req->encoding, "gzip") == 0)
        ck_assert_int_eq(compress_gunzip(req->body, req->len, 1 << 30, &s->plain, &s->plain_len),
                         0);
}

/* What the backend reads: the plain body. */
static inline const uint8_t *fake_plain(const struct fake_sent *s)
{
    return s->plain ? s->plain : s->body;
}

static int fake_send(struct exporter_transport *t, struct exporter_request *req)
{
    (void)t;
    struct fake_sent *s = NULL;
    if (fake.sent_count < FAKE_MAX_SENT) {
        s = &fake.sent[fake.sent_count++];
        fake_keep(s, req);
    }
    struct fake_answer a = { .outcome = EXPORTER_OK, .connected = 1 };
    if (fake.ceiling && s && s->plain_len > fake.ceiling) {
        a = (struct fake_answer){ EXPORTER_TOO_LARGE, 1, 0, 0, 0,
                                  "RESOURCE_EXHAUSTED: grpc: received message larger than max" };
        fake.refused_too_large++;
    } else if (fake.script_len > 0) {
        int i = fake.script_next < fake.script_len ? fake.script_next : fake.script_len - 1;
        a = fake.script[i];
        fake.script_next++;
    }
    if (s)
        s->outcome = a.outcome;
    if (a.outcome == FAKE_HOLD) {
        fake.held[fake.held_count++] = req;
        return 0;
    }
    struct fake_pending *p = calloc(1, sizeof(*p));
    p->req = req;
    p->answer = a;
    uv_timer_init(fake.loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, fake_on_answer, 0, 0);
    p->next = fake_pending_head;
    fake_pending_head = p;
    return 0;
}

/* As the real transports do: what is held is answered RETRY "shutdown" before
 * destroy() returns. */
static void fake_destroy(struct exporter_transport *t)
{
    (void)t;
    struct exporter_result res;
    struct fake_answer a = { .outcome = EXPORTER_RETRY, .message = "shutdown" };
    fake_result(&a, &res);
    int n = fake.held_count;
    fake.held_count = 0;
    for (int i = 0; i < n; i++)
        exporter_transport_done(fake.e, fake.held[i], &res);
    while (fake_pending_head) {
        struct fake_pending *p = fake_pending_head;
        struct exporter_request *req = p->req;
        fake_pending_unlink(p);
        exporter_transport_done(fake.e, req, &res);
    }
    fake.destroyed = 1;
}

static const struct exporter_transport_ops fake_ops = {
    .name = "fake",
    .create = fake_create,
    .capacity = fake_capacity,
    .send = fake_send,
    .destroy = fake_destroy,
};

static inline int fake_answered_at_least(void *arg)
{
    return fake.answered >= *(int *)arg;
}

static void fake_on_tick(uv_timer_t *t)
{
    (void)t;
}

/* A loop for a test, with a timer that wakes it up regularly so that fake_run_until
 * sees its deadline, and a log going to a temporary file. */
static FILE *fake_loop_init(uv_loop_t *loop, uv_timer_t *tick)
{
    fake_reset();
    FILE *log_out = tmpfile();
    log_init(LOG_DEBUG, log_out);
    ck_assert_int_eq(uv_loop_init(loop), 0);
    uv_timer_init(loop, tick);
    uv_timer_start(tick, fake_on_tick, 5, 5);
    return log_out;
}

static void fake_close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes whatever the test left open, then the loop and the log. */
static void fake_loop_close(uv_loop_t *loop, FILE *log_out)
{
    uv_walk(loop, fake_close_handle, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(loop), 0);
    fake_reset();
    fclose(log_out);
}

/* Runs the loop until cond() holds or timeout_ms of loop time pass; 1 when it held. */
static int fake_run_until(uv_loop_t *loop, int (*cond)(void *), void *arg, uint64_t timeout_ms)
{
    uint64_t end = uv_now(loop) + timeout_ms;
    while (!cond(arg)) {
        if (uv_now(loop) >= end)
            return 0;
        uv_run(loop, UV_RUN_ONCE);
        uv_update_time(loop);
    }
    return 1;
}

#endif
