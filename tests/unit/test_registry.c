/* test_registry.c — core/registry: the function catalog from JSON and
 * from --function, defaults, lookups, and errors that name the key. */
#include "tests/unit/test.h"

#include "core/registry.h"

#include <jansson.h>

static int add_json(struct fc_catalog *cat, const char *text, char *err) {
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    FC_CHECK(root != NULL);
    int rc = fc_catalog_add_json(cat, root, err);
    json_decref(root);
    return rc;
}

FC_TEST(registry_json_and_defaults) {
    struct fc_catalog cat = {0};
    char err[FC_ERR_BYTES] = "";
    int rc = add_json(&cat,
                      "{\"svc\":{\"functions\":{"
                      "\"a\":{\"code_dir\":\"/tmp\",\"timeout_s\":7,\"environment\":{\"K\":\"v\"},"
                      "\"http_trigger\":{\"auth_type\":\"anonymous\",\"methods\":[\"GET\"]}},"
                      "\"b\":{\"code_dir\":\"/tmp\",\"command\":[\"/bin/sh\"],\"args\":[\"-c\",\"x\"]}"
                      "}}}",
                      err);
    if (rc)
        fprintf(stderr, "# %s\n", err);
    FC_CHECK_INT(rc, 0);
    FC_CHECK_INT(fc_catalog_seal(&cat), 0);
    const struct fc_function *a = fc_catalog_find(&cat, "svc", 3, "a", 1);
    FC_CHECK(a != NULL);
    FC_CHECK_INT(a->timeout_s, 7);
    FC_CHECK_INT(a->memory_mb, 128);
    FC_CHECK_INT(a->concurrency, 1);
    FC_CHECK_INT(a->ca_port, 9000);
    FC_CHECK_STR(a->argv[0], "/tmp/bootstrap");
    FC_CHECK_STR(a->env[0], "K=v");
    FC_CHECK(a->http_trigger && a->http_anonymous && a->http_methods == FC_METHOD_GET);
    const struct fc_function *b = fc_catalog_find(&cat, "svc", 3, "b", 1);
    FC_CHECK(b != NULL && !b->http_trigger);
    FC_CHECK_STR(b->argv[0], "/bin/sh");
    FC_CHECK_STR(b->argv[2], "x");
    FC_CHECK(b->argv[3] == NULL);
    FC_CHECK(fc_catalog_find(&cat, "svc", 3, "c", 1) == NULL);
    FC_CHECK(fc_catalog_find(&cat, "sv", 2, "a", 1) == NULL);
    FC_CHECK(fc_catalog_has_service(&cat, "svc", 3) && !fc_catalog_has_service(&cat, "x", 1));
    fc_catalog_free(&cat);
}

FC_TEST(registry_flag) {
    struct fc_catalog cat = {0};
    char err[FC_ERR_BYTES] = "";
    FC_CHECK_INT(fc_catalog_add_flag(&cat, "hello=/tmp,timeout=5,concurrency=8,memory=256", err), 0);
    FC_CHECK_INT(fc_catalog_add_flag(&cat, "hello=/tmp", err), -22);
    FC_CHECK(strstr(err, "declared twice") != NULL);
    FC_CHECK_INT(fc_catalog_add_flag(&cat, "x=/tmp,bogus=1", err), -22);
    FC_CHECK(strstr(err, "bogus") != NULL);
    FC_CHECK_INT(fc_catalog_add_flag(&cat, "y=/tmp,timeout=0", err), -22);
    FC_CHECK(strstr(err, "timeout") != NULL);
    FC_CHECK_INT(fc_catalog_add_flag(&cat, "-bad=/tmp", err), -22);
    FC_CHECK_INT(fc_catalog_add_flag(&cat, "z=/no/such/dir", err), -22);
    FC_CHECK(strstr(err, "/no/such/dir") != NULL);
    FC_CHECK_INT(fc_catalog_seal(&cat), 0);
    FC_CHECK_INT(cat.count, 1);
    const struct fc_function *f = fc_catalog_find(&cat, "default", 7, "hello", 5);
    FC_CHECK(f != NULL && f->timeout_s == 5 && f->concurrency == 8 && f->memory_mb == 256);
    FC_CHECK(f->http_trigger && f->http_anonymous && f->http_methods == FC_METHOD_ALL);
    fc_catalog_free(&cat);
}

FC_TEST(registry_errors_name_the_key) {
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"s\":{\"functions\":{\"f\":{\"code_dir\":\"/tmp\",\"timeout_s\":0}}}}",
         "services.s.functions.f.timeout_s"},
        {"{\"s\":{\"functions\":{\"f\":{\"code_dir\":\"/tmp\",\"colour\":1}}}}",
         "services.s.functions.f.colour: unknown key"},
        {"{\"s\":{\"functions\":{\"f\":{}}}}", "code_dir"},
        {"{\"s\":{\"fns\":{}}}", "services.s"},
        {"{\"s\":{\"functions\":{\"f\":{\"code_dir\":\"/tmp\",\"environment\":{\"FC_X\":\"1\"}}}}}",
         "environment.FC_X"},
        {"{\"s\":{\"functions\":{\"f\":{\"code_dir\":\"/tmp\",\"http_trigger\":{\"methods\":[\"BREW\"]}}}}}",
         "http_trigger.methods"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fc_catalog cat = {0};
        char err[FC_ERR_BYTES] = "";
        FC_CHECK_INT(add_json(&cat, cases[i].json, err), -22);
        if (strstr(err, cases[i].needle) == NULL)
            fprintf(stderr, "# case %zu: '%s' lacks '%s'\n", i, err, cases[i].needle);
        FC_CHECK(strstr(err, cases[i].needle) != NULL);
        fc_catalog_free(&cat);
    }
}

FC_TEST(registry_names) {
    FC_CHECK(fc_name_valid("a_b-1", 5, 64));
    FC_CHECK(!fc_name_valid("1ab", 3, 64));
    FC_CHECK(!fc_name_valid("-ab", 3, 64));
    FC_CHECK(!fc_name_valid("a.b", 3, 64));
    FC_CHECK(!fc_name_valid("", 0, 64));
    FC_CHECK(!fc_name_valid("abc", 3, 2));
}

/* The registry hands each reader the catalog published last; an old
 * catalog (and its functions) lives until its last view moves on. */
FC_TEST(registry_publish_and_views) {
    char err[FC_ERR_BYTES];
    struct fc_catalog *first = fc_catalog_new();
    struct fc_function *a = fc_function_new("s", "a", err);
    FC_CHECK(first && a && fc_function_set_code(a, "/tmp", err) == 0);
    a->id = 3;
    fc_catalog_put(first, a);
    FC_CHECK_INT(fc_catalog_add_service(first, "empty"), 0);
    FC_CHECK_INT(fc_catalog_seal(first), 0);
    FC_CHECK(fc_catalog_has_service(first, "empty", 5) && fc_catalog_has_service(first, "s", 1));
    FC_CHECK(!fc_catalog_has_service(first, "t", 1) && !fc_catalog_has_service(first, "emp", 3));
    FC_CHECK(fc_catalog_find(first, "s", 1, "a", 1) == a && first->functions[0] == NULL);
    struct fc_registry reg;
    fc_registry_init(&reg, first);
    struct fc_catalog_view v1 = {0}, v2 = {0};
    FC_CHECK(fc_registry_view(&reg, &v1) == first);

    /* A new version of a, same id: the old one stays readable through v1. */
    struct fc_function *a2 = fc_function_new("s", "a", err);
    FC_CHECK(a2 && fc_function_set_code(a2, "/tmp", err) == 0);
    a2->id = 3;
    FC_CHECK(a2->revision > a->revision);
    struct fc_catalog *second = fc_catalog_new();
    fc_catalog_put(second, a2);
    fc_function_unref(a2); /* the catalog holds it now */
    FC_CHECK_INT(fc_catalog_seal(second), 0);
    fc_registry_publish(&reg, second);
    FC_CHECK(fc_registry_view(&reg, &v2) == second);
    FC_CHECK_INT(atomic_load(&a->refs), 2); /* ours and the first catalog's (v1 holds it) */
    FC_CHECK(fc_catalog_find(v1.cat, "s", 1, "a", 1) == a);
    FC_CHECK(fc_registry_view(&reg, &v1) == second); /* v1 moves on: first is freed */
    FC_CHECK_INT(atomic_load(&a->refs), 1);
    FC_CHECK(!fc_catalog_has_service(second, "empty", 5));
    fc_function_unref(a);
    fc_registry_view_release(&v1);
    fc_registry_view_release(&v2);
    fc_registry_destroy(&reg);
}
