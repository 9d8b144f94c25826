/* unit.h — what every check suite shares: a runner that prints check's summary line
 * ("100%: Checks: N, Failures: F, Errors: E") which tests/run.sh adds up. */
#ifndef SPANRELAY_UNIT_H
#define SPANRELAY_UNIT_H

#include <check.h>
#include <stdlib.h>

static inline int unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
