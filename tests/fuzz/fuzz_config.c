/* fuzz_config.c — libFuzzer target for the YAML configuration: any document loads or
 * fails with a message, and never leaks. */
#include <stdint.h>
#include <stdlib.h>

#include "base/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    char err[512];
    err[0] = '\0';
    if (config_defaults(&cfg) < 0)
        return 0;
    if (config_load_string(&cfg, (const char *)data, size, err, sizeof(err)) == 0)
        config_validate(&cfg, err, sizeof(err));
    else if (err[0] == '\0')
        abort();
    config_free(&cfg);
    return 0;
}
