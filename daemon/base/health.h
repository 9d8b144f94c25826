/* health.h — the operators' endpoint: GET /health (JSON) and GET /metrics (Prometheus)
 * on health.listen. It answers 200 on /health while the loop runs, whatever the
 * backend does (DESIGN.md decision 7). */
#ifndef SPANRELAY_HEALTH_H
#define SPANRELAY_HEALTH_H

#include <stddef.h>
#include <uv.h>

struct health_server;

/* Listens on "host:port". NULL on failure with a message in err. */
struct health_server *health_start(uv_loop_t *loop, const char *listen, char *err, size_t errlen);

/* Stops listening, closes every connection; frees itself once libuv has closed them. */
void health_stop(struct health_server *h);

#endif
