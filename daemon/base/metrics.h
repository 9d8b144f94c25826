/* metrics.h — renders the counters of stats.h for operators: Prometheus text for
 * /metrics and the JSON document of /health. Pure formatting, no I/O. */
#ifndef SPANRELAY_METRICS_H
#define SPANRELAY_METRICS_H

#include <stddef.h>

/* Both return a malloc'd NUL-terminated text (caller frees) and its length, or NULL. */
char *metrics_render_prometheus(size_t *len);
char *metrics_render_health(size_t *len);

/* Process start, for uptime; set once by main. */
void metrics_set_start_time(void);

#endif
