/* metrics.h — renders the counters of stats.h for operators: Prometheus text for
 * /metrics and the JSON document of /health. Pure formatting, no I/O.
 *
 * Export-side series carry a `destination` label, one per destination given (the
 * primary first); /health lists every destination under "destinations" and repeats the
 * primary's exporter, buffer and span terms at the top level. */
#ifndef SPANRELAY_METRICS_H
#define SPANRELAY_METRICS_H

#include <stddef.h>

#include "base/stats.h"

/* Both return a malloc'd NUL-terminated text (caller frees) and its length, or NULL. */
char *metrics_render_prometheus(const struct stats_destination *const *dests, size_t n,
                                size_t *len);
char *metrics_render_health(const struct stats_destination *const *dests, size_t n,
                            size_t *len);

/* Process start, for uptime; set once by main. */
void metrics_set_start_time(void);

#endif
