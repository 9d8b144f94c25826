/* unit_json.h — reading the JSON operators see (log lines, /health) in check suites:
 * a member that must be there, as a string or an integer. */
#ifndef SPANRELAY_UNIT_JSON_H
#define SPANRELAY_UNIT_JSON_H

#include <check.h>
#include <json-c/json.h>
#include <stdint.h>

static inline const char *unit_json_str(json_object *doc, const char *key)
{
    json_object *v;
    ck_assert_msg(json_object_object_get_ex(doc, key, &v), "no %s", key);
    return json_object_get_string(v);
}

static inline int64_t unit_json_int(json_object *doc, const char *key)
{
    json_object *v;
    ck_assert_msg(json_object_object_get_ex(doc, key, &v), "no %s", key);
    return json_object_get_int64(v);
}

#endif
