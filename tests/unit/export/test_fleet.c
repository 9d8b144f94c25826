/* test_fleet.c — fleet.c: who joins and who leaves as the resolver's answer changes,
 * state kept across answers, ejection exactly at ejectAfter and readmission on the first
 * answer, the ring never emptied by ejection, and the ring matching its members. */
#include "unit.h"

#include <stdio.h>
#include <string.h>

#include "export/fleet.h"

#define EJECT_MS 30000

static struct fleet *f;
static struct fleet_change ch;

static void setup(void)
{
    f = fleet_new(EJECT_MS);
    ck_assert_ptr_nonnull(f);
    memset(&ch, 0, sizeof(ch));
}

static void teardown(void)
{
    fleet_free(f);
}

static void set(const char *const *eps, size_t n)
{
    ck_assert_int_eq(fleet_set_endpoints(f, eps, n, &ch), 0);
}

static int listed(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

/* The ring holds exactly the members not ejected. */
static void assert_ring(const char *const *want, size_t n)
{
    const struct hashring *r = fleet_ring(f);
    ck_assert_uint_eq(hashring_endpoints(r), n);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_ne(hashring_find(r, want[i]), HASHRING_NONE);
}

START_TEST(test_join_and_leave)
{
    const char *const first[] = { "10.0.0.3:4317", "10.0.0.1:4317", "10.0.0.2:4317",
                                  "10.0.0.1:4317" };
    set(first, 4);
    ck_assert_uint_eq(ch.joined_count, 3);
    ck_assert_uint_eq(ch.left_count, 0);
    ck_assert_uint_eq(fleet_members(f), 3);
    ck_assert_str_eq(fleet_member(f, 0), "10.0.0.1:4317");
    assert_ring(first, 3);

    const char *const second[] = { "10.0.0.2:4317", "10.0.0.4:4317", "10.0.0.3:4317" };
    set(second, 3);
    ck_assert_uint_eq(ch.joined_count, 1);
    ck_assert_str_eq(ch.joined[0], "10.0.0.4:4317");
    ck_assert_uint_eq(ch.left_count, 1);
    ck_assert_str_eq(ch.left[0], "10.0.0.1:4317");
    assert_ring(second, 3);
    ck_assert_uint_eq(fleet_find(f, "10.0.0.1:4317"), HASHRING_NONE);

    set(second, 3); /* the same answer: nothing to do */
    ck_assert_uint_eq(ch.joined_count, 0);
    ck_assert_uint_eq(ch.left_count, 0);

    set(NULL, 0);
    ck_assert_uint_eq(ch.left_count, 3);
    ck_assert(listed(ch.left, ch.left_count, "10.0.0.4:4317"));
    ck_assert_uint_eq(hashring_endpoints(fleet_ring(f)), 0);
}
END_TEST

START_TEST(test_eject_at_eject_after_and_readmit)
{
    const char *const eps[] = { "a:1", "b:1", "c:1" };
    set(eps, 3);
    fleet_set_reachable(f, "b:1", 0, 1000);
    fleet_set_reachable(f, "b:1", 0, 5000); /* still down: the clock runs from 1000 */
    ck_assert_int_eq(fleet_update(f, 1000 + EJECT_MS - 1), 0);
    assert_ring(eps, 3);
    ck_assert_int_eq(fleet_update(f, 1000 + EJECT_MS), 1);
    size_t b = fleet_find(f, "b:1");
    ck_assert(fleet_member_ejected(f, b));
    ck_assert(!fleet_member_reachable(f, b));
    ck_assert_uint_eq(hashring_endpoints(fleet_ring(f)), 2);
    ck_assert_uint_eq(hashring_find(fleet_ring(f), "b:1"), HASHRING_NONE);
    ck_assert_uint_eq(fleet_ejections(f), 1);
    ck_assert_int_eq(fleet_update(f, 1000 + 2 * EJECT_MS), 0);

    /* an ejected member stays a member: a new answer keeps it ejected */
    set(eps, 3);
    ck_assert(fleet_member_ejected(f, fleet_find(f, "b:1")));

    fleet_set_reachable(f, "b:1", 1, 90000);
    ck_assert_int_eq(fleet_update(f, 90000), 1);
    assert_ring(eps, 3);
    ck_assert_uint_eq(fleet_ejections(f), 1);
}
END_TEST

START_TEST(test_flapping_restarts_the_clock)
{
    const char *const eps[] = { "a:1", "b:1" };
    set(eps, 2);
    fleet_set_reachable(f, "a:1", 0, 0);
    fleet_set_reachable(f, "a:1", 1, 20000);
    fleet_set_reachable(f, "a:1", 0, 25000);
    ck_assert_int_eq(fleet_update(f, EJECT_MS + 1000), 0);
    ck_assert_int_eq(fleet_update(f, 25000 + EJECT_MS), 1);
    fleet_set_reachable(f, "nobody:1", 0, 0); /* not a member: ignored */
    ck_assert_uint_eq(fleet_members(f), 2);
}
END_TEST

START_TEST(test_ejection_never_empties_the_ring)
{
    const char *const eps[] = { "a:1", "b:1" };
    set(eps, 2);
    fleet_set_reachable(f, "a:1", 0, 0);
    fleet_set_reachable(f, "b:1", 0, 0);
    ck_assert_int_eq(fleet_update(f, EJECT_MS), 1);
    ck_assert_uint_eq(hashring_endpoints(fleet_ring(f)), 1);
    ck_assert_int_eq(fleet_update(f, 10 * EJECT_MS), 0);
    ck_assert_uint_eq(hashring_endpoints(fleet_ring(f)), 1);
    /* the one left in the ring leaves the fleet: the ejected one comes back, since its
     * traces have nowhere else to go */
    char ejected[16];
    snprintf(ejected, sizeof(ejected), "%s", fleet_member(f, fleet_member_ejected(f, 0) ? 0 : 1));
    const char *const rest[] = { ejected };
    const char *kept = ejected;
    set(rest, 1);
    ck_assert_uint_eq(fleet_members(f), 1);
    ck_assert(!fleet_member_ejected(f, 0));
    assert_ring(&kept, 1);
}
END_TEST

START_TEST(test_new_fleet_is_empty)
{
    ck_assert_uint_eq(fleet_members(f), 0);
    ck_assert_uint_eq(hashring_endpoints(fleet_ring(f)), 0);
    ck_assert_ptr_null(fleet_member(f, 0));
    ck_assert_int_eq(fleet_member_ejected(f, 0), 0);
    ck_assert_int_eq(fleet_update(f, 1), 0);
    fleet_free(NULL);
}
END_TEST

static Suite *fleet_suite(void)
{
    Suite *s = suite_create("fleet");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_join_and_leave);
    tcase_add_test(tc, test_eject_at_eject_after_and_readmit);
    tcase_add_test(tc, test_flapping_restarts_the_clock);
    tcase_add_test(tc, test_ejection_never_empties_the_ring);
    tcase_add_test(tc, test_new_fleet_is_empty);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(fleet_suite());
}
