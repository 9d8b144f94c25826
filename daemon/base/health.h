/* health.h — the operators' endpoint: GET /health (JSON) and GET /metrics (Prometheus)
 * on health.listen. It answers 200 on /health while the loop runs, whatever the
 * backend does (DESIGN.md decision 7). */
#ifndef SPANRELAY_HEALTH_H
#define SPANRELAY_HEALTH_H

#include <stddef.h>
#include <uv.h>

#include "base/stats.h"

struct health_server;

/* Where the export side's counters come from at each request: fills out with at most
 * max destinations (the primary first) and returns how many. */
struct health_source {
    size_t (*destinations)(void *arg, const struct stats_destination **out, size_t max);
    void *arg;
};

/* Listens on "host:port". NULL on failure with a message in err. */
struct health_server *health_start(uv_loop_t *loop, const char *listen,
                                   struct health_source source, char *err, size_t errlen);

/* Stops listening, closes every connection; frees itself once libuv has closed them. */
void health_stop(struct health_server *h);

#endif
