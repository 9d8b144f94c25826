/* retry.c — backoff arithmetic for the exporter's retries and reconnects. */
#include "export/retry.h"

#include <sys/random.h>

uint64_t retry_ceiling_ms(const struct retry_policy *p, int attempt)
{
    uint64_t ceiling = p->initial_ms ? p->initial_ms : 1;
    for (int i = 0; i < attempt && ceiling < p->max_ms; i++)
        ceiling *= 2;
    return ceiling < p->max_ms ? ceiling : p->max_ms;
}

uint64_t retry_backoff_ms(const struct retry_policy *p, int attempt, uint64_t (*rand64)(void))
{
    uint64_t ceiling = retry_ceiling_ms(p, attempt);
    return rand64() % (ceiling + 1);
}

int retry_gives_up(const struct retry_policy *p, uint64_t first_ms, uint64_t now_ms,
                   uint64_t wait_ms)
{
    return now_ms + wait_ms - first_ms > p->max_elapsed_ms;
}

/* xorshift64*: the jitter needs spread, not secrecy. */
uint64_t retry_random(void)
{
    static uint64_t state;
    if (state == 0) {
        if (getrandom(&state, sizeof(state), 0) != sizeof(state) || state == 0)
            state = 0x9e3779b97f4a7c15ull;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545f4914f6cdd1dull;
}
