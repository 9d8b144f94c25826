/* test_hashring.c — hashring.c: the Collector's own published vectors (point positions
 * with 5 points per endpoint, owners with 100), owners computed by the independent
 * Python ring (tests/integration/hashring.py), the skip of a taken position, the first
 * point at or after a position and the wrap, order and duplicate independence, what an
 * endpoint joining moves, and the shares /health shows. */
#include "unit.h"

#include <stdint.h>
#include <string.h>

#include "base/codec.h"
#include "export/hashring.h"

static const char *const fleet4[] = {
    "127.0.0.2:4317", "127.0.0.3:4317", "127.0.0.4:4317", "127.0.0.5:4317"
};

static void hex_id(const char *hex, uint8_t id[16])
{
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(codec_hex_value(hex[2 * i]) * 16 + codec_hex_value(hex[2 * i + 1]));
}

static const char *owner_name(const struct hashring *r, const uint8_t *key, size_t len)
{
    return hashring_endpoint(r, hashring_owner_of(r, key, len));
}

/* The Collector's consistent_hashing_test.go: positionsForEndpoints with weight 5. */
START_TEST(test_collector_points)
{
    static const struct { uint32_t pos; const char *endpoint; } want[] = {
        { 1401, "endpoint-1" },  { 4175, "endpoint-1" },  { 10240, "endpoint-2" },
        { 14133, "endpoint-1" }, { 15002, "endpoint-2" }, { 17836, "endpoint-1" },
        { 21263, "endpoint-2" }, { 21667, "endpoint-1" }, { 26806, "endpoint-2" },
        { 27020, "endpoint-2" },
    };
    const char *const eps[] = { "endpoint-2", "endpoint-1", "endpoint-1" };
    struct hashring *r = hashring_new(eps, 3, 5);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(hashring_endpoints(r), 2);
    ck_assert_uint_eq(hashring_points(r), 10);
    for (size_t k = 0; k < 10; k++) {
        size_t e;
        ck_assert_uint_eq(hashring_point(r, k, &e), want[k].pos);
        ck_assert_str_eq(hashring_endpoint(r, e), want[k].endpoint);
    }
    hashring_free(r);
}
END_TEST

/* The Collector's TestEndpointFor: 100 points, keys of any length. */
START_TEST(test_collector_owners)
{
    const char *const eps[] = { "endpoint-1", "endpoint-2" };
    struct hashring *r = hashring_new(eps, 2, HASHRING_POINTS);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(hashring_points(r), 200);
    const uint8_t k1[] = { 1, 2, 0, 0 }, k2[] = { 128, 128, 0, 0 };
    ck_assert_str_eq(owner_name(r, k1, 4), "endpoint-1");
    ck_assert_str_eq(owner_name(r, k2, 4), "endpoint-2");
    ck_assert_str_eq(owner_name(r, (const uint8_t *)"ad-service-7", 12), "endpoint-1");
    ck_assert_str_eq(owner_name(r, (const uint8_t *)"get-recommendations-1", 21),
                     "endpoint-2");
    hashring_free(r);
}
END_TEST

/* Owners named by tests/integration/hashring.py for a four- and a three-gateway fleet. */
START_TEST(test_python_owners)
{
    static const struct { const char *id; int of4, of3; uint32_t pos; } cases[] = {
        { "e7eee7615ef35f30e49b482e15cae750", 1, 1, 25371 },
        { "07201e12617b0feda7e1647796ff022b", 3, 1, 33200 },
        { "ea8ed02a82a175930f2337cd3794c522", 2, 2, 19761 },
        { "08006d6b1af0c0cbd625658aac2c9faa", 0, 0, 9904 },
        { "07d13c447e33051eeef95a60e56143d6", 2, 2, 3466 },
        { "c43bcad76c008a9b0a6b5fc933154a6d", 3, 1, 8006 },
        { "e28404a897c525262e6a7c07bcbee841", 0, 0, 10154 },
        { "f745c55d4e9f747f615164c6f728d718", 1, 1, 33353 },
        { "353713827ac883d7fb9659234074f525", 1, 1, 6733 },
        { "8f6c68082389d2e47f1e175a90bc432f", 2, 2, 1638 },
        { "b946e6a9471109f3b79f110a26f6229f", 2, 2, 15556 },
        { "a3452526e7bc1642aeb42bf227d50fff", 0, 0, 5587 },
    };
    struct hashring *r4 = hashring_new(fleet4, 4, HASHRING_POINTS);
    struct hashring *r3 = hashring_new(fleet4, 3, HASHRING_POINTS);
    ck_assert_ptr_nonnull(r4);
    ck_assert_ptr_nonnull(r3);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t id[16];
        hex_id(cases[i].id, id);
        ck_assert_uint_eq(hashring_position(id, 16), cases[i].pos);
        ck_assert_str_eq(hashring_endpoint(r4, hashring_owner(r4, id)), fleet4[cases[i].of4]);
        ck_assert_str_eq(hashring_endpoint(r3, hashring_owner(r3, id)), fleet4[cases[i].of3]);
    }
    /* the shares hashring.py measures */
    ck_assert_uint_eq(hashring_span_of(r3, 0), 12999);
    ck_assert_uint_eq(hashring_span_of(r3, 1), 11784);
    ck_assert_uint_eq(hashring_span_of(r3, 2), 11217);
    hashring_free(r4);
    hashring_free(r3);
}
END_TEST

/* "10.0.0.1:4317" point 91 and "10.0.0.4:4317" point 76 both land on 23534: the
 * endpoint first in sorted order keeps it, the other places 99 points. */
START_TEST(test_taken_position_skipped)
{
    const char *const eps[] = { "10.0.0.4:4317", "10.0.0.1:4317" };
    struct hashring *r = hashring_new(eps, 2, HASHRING_POINTS);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(hashring_points(r), 199);
    int found = 0;
    for (size_t k = 0; k < hashring_points(r); k++) {
        size_t e;
        if (hashring_point(r, k, &e) == 23534) {
            ck_assert_str_eq(hashring_endpoint(r, e), "10.0.0.1:4317");
            found++;
        }
    }
    ck_assert_int_eq(found, 1);
    hashring_free(r);
}
END_TEST

/* A key on a point belongs to that point; one past the last point wraps to the first.
 * The Collector's five-point ring starts with endpoint-1 and ends with endpoint-2. */
START_TEST(test_first_point_at_or_after_and_wrap)
{
    const char *const eps[] = { "endpoint-1", "endpoint-2" };
    struct hashring *r = hashring_new(eps, 2, 5);
    ck_assert_ptr_nonnull(r);
    size_t n = hashring_points(r), first_e, last_e;
    uint32_t first = hashring_point(r, 0, &first_e);
    uint32_t last = hashring_point(r, n - 1, &last_e);
    ck_assert_uint_ne(first_e, last_e);
    int on_point = 0, between = 0, wrapped = 0;
    for (uint32_t i = 0; i < 2000000 && !(on_point && between && wrapped); i++) {
        uint8_t key[4] = { (uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8),
                           (uint8_t)i };
        uint32_t pos = hashring_position(key, 4);
        size_t owner = hashring_owner_of(r, key, 4);
        if (pos > last || pos <= first) {
            ck_assert_uint_eq(owner, first_e);
            wrapped += pos > last;
            continue;
        }
        for (size_t k = 1; k < n; k++) {
            size_t e;
            uint32_t p = hashring_point(r, k, &e);
            if (p < pos)
                continue;
            ck_assert_uint_eq(owner, e);
            if (p == pos)
                on_point++;
            else
                between++;
            break;
        }
    }
    ck_assert_int_gt(on_point, 0);
    ck_assert_int_gt(between, 0);
    ck_assert_int_gt(wrapped, 0);
    hashring_free(r);
}
END_TEST

START_TEST(test_order_and_duplicates_do_not_matter)
{
    const char *const shuffled[] = {
        "127.0.0.5:4317", "127.0.0.3:4317", "127.0.0.5:4317", "127.0.0.2:4317",
        "127.0.0.4:4317", "127.0.0.2:4317"
    };
    struct hashring *a = hashring_new(fleet4, 4, HASHRING_POINTS);
    struct hashring *b = hashring_new(shuffled, 6, HASHRING_POINTS);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(hashring_endpoints(b), 4);
    ck_assert_uint_eq(hashring_points(a), hashring_points(b));
    for (size_t i = 0; i < 4; i++)
        ck_assert_str_eq(hashring_endpoint(a, i), hashring_endpoint(b, i));
    for (size_t k = 0; k < hashring_points(a); k++) {
        size_t ea, eb;
        ck_assert_uint_eq(hashring_point(a, k, &ea), hashring_point(b, k, &eb));
        ck_assert_uint_eq(ea, eb);
    }
    ck_assert_uint_eq(hashring_find(b, "127.0.0.4:4317"), 2);
    ck_assert_uint_eq(hashring_find(b, "127.0.0.9:4317"), HASHRING_NONE);
    hashring_free(a);
    hashring_free(b);
}
END_TEST

/* A fourth endpoint takes traces only for itself: every other trace keeps its owner. */
START_TEST(test_join_moves_only_to_newcomer)
{
    struct hashring *r3 = hashring_new(fleet4, 3, HASHRING_POINTS);
    struct hashring *r4 = hashring_new(fleet4, 4, HASHRING_POINTS);
    ck_assert_ptr_nonnull(r3);
    ck_assert_ptr_nonnull(r4);
    unsigned moved = 0, total = 36000;
    for (uint32_t i = 0; i < total; i++) {
        uint8_t id[16] = { 0 };
        memcpy(id, &i, sizeof(i));
        id[15] = (uint8_t)(i * 31u);
        const char *before = hashring_endpoint(r3, hashring_owner(r3, id));
        const char *after = hashring_endpoint(r4, hashring_owner(r4, id));
        if (strcmp(before, after) != 0) {
            ck_assert_str_eq(after, fleet4[3]);
            moved++;
        }
    }
    /* the newcomer's share of the ring, hashring.py: 8257 of 36000 */
    ck_assert_uint_eq(hashring_span_of(r4, 3), 8257);
    ck_assert_uint_gt(moved, total / 6);
    ck_assert_uint_lt(moved, total / 3);
    hashring_free(r3);
    hashring_free(r4);
}
END_TEST

START_TEST(test_shares_cover_the_ring)
{
    for (size_t n = 1; n <= 4; n++) {
        struct hashring *r = hashring_new(fleet4, n, HASHRING_POINTS);
        ck_assert_ptr_nonnull(r);
        uint32_t sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += hashring_span_of(r, i);
        ck_assert_uint_eq(sum, HASHRING_POSITIONS);
        hashring_free(r);
    }
    const char *const one[] = { "gw:4317" };
    struct hashring *r = hashring_new(one, 1, 1);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(hashring_span_of(r, 0), HASHRING_POSITIONS);
    ck_assert_uint_eq(hashring_owner_of(r, (const uint8_t *)"x", 1), 0);
    ck_assert_uint_eq(hashring_span_of(r, 1), 0);
    ck_assert_ptr_null(hashring_endpoint(r, 1));
    hashring_free(r);
}
END_TEST

START_TEST(test_empty_ring_and_bad_points)
{
    struct hashring *r = hashring_new(NULL, 0, HASHRING_POINTS);
    ck_assert_ptr_nonnull(r);
    uint8_t id[16] = { 1 };
    ck_assert_uint_eq(hashring_owner(r, id), HASHRING_NONE);
    ck_assert_uint_eq(hashring_endpoints(r), 0);
    ck_assert_uint_eq(hashring_points(r), 0);
    ck_assert_uint_eq(hashring_find(r, "a:1"), HASHRING_NONE);
    hashring_free(r);
    hashring_free(NULL);
    ck_assert_ptr_null(hashring_new(fleet4, 4, 0));
    ck_assert_ptr_null(hashring_new(fleet4, 4, 257));
}
END_TEST

static Suite *hashring_suite(void)
{
    Suite *s = suite_create("hashring");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_collector_points);
    tcase_add_test(tc, test_collector_owners);
    tcase_add_test(tc, test_python_owners);
    tcase_add_test(tc, test_taken_position_skipped);
    tcase_add_test(tc, test_first_point_at_or_after_and_wrap);
    tcase_add_test(tc, test_order_and_duplicates_do_not_matter);
    tcase_add_test(tc, test_join_moves_only_to_newcomer);
    tcase_add_test(tc, test_shares_cover_the_ring);
    tcase_add_test(tc, test_empty_ring_and_bad_points);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(hashring_suite());
}
