/* retry.h — exponential backoff with full jitter, bounded by an elapsed-time budget.
 *
 * The n-th retry (n from 0) waits a uniformly random time in [0, min(max, initial·2^n)]
 * ("full jitter"), so that many sidecars whose backend comes back do not retry in step. */
#ifndef SPANRELAY_RETRY_H
#define SPANRELAY_RETRY_H

#include <stdint.h>

struct retry_policy {
    uint64_t initial_ms;
    uint64_t max_ms;
    uint64_t max_elapsed_ms;
};

/* Upper end of the n-th wait: min(max, initial·2^n), without overflow. */
uint64_t retry_ceiling_ms(const struct retry_policy *p, int attempt);

/* The n-th wait, drawn with rand64 (a uniform 64-bit source; retry_random by default). */
uint64_t retry_backoff_ms(const struct retry_policy *p, int attempt, uint64_t (*rand64)(void));

/* 1 when a retry waiting wait_ms, started first_ms, would end past the budget at now_ms. */
int retry_gives_up(const struct retry_policy *p, uint64_t first_ms, uint64_t now_ms,
                   uint64_t wait_ms);

/* A fast non-cryptographic 64-bit generator seeded from getrandom. */
uint64_t retry_random(void);

#endif
