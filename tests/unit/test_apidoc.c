/* test_apidoc.c — core/apidoc.h: FC's management documents. */
#include "core/apidoc.h"
#include "tests/unit/test.h"

#include <jansson.h>

static json_t *parse(const char *text) {
    json_t *j = json_loads(text, 0, NULL);
    FC_CHECK(j != NULL);
    return j;
}

FC_TEST(apidoc_read_keys_types_ranges) {
    char err[FC_ERR_BYTES];
    /* Keys match case-insensitively (the Python SDK's tests send them
     * capitalised) and come out in FC's spelling; unknown keys are dropped. */
    json_t *body = parse("{\"FunctionName\":\"f\",\"TIMEOUT\":7,\"bogus\":1,"
                         "\"environmentVariables\":{\"A\":\"1\"},"
                         "\"customRuntimeConfig\":{\"Command\":[\"/code/run\"],\"args\":[\"-x\"]}}");
    json_t *doc = fc_apidoc_read(FC_APIDOC_FUNCTION, body, err);
    FC_CHECK(doc != NULL);
    FC_CHECK_STR(json_string_value(json_object_get(doc, "functionName")), "f");
    FC_CHECK_INT(json_integer_value(json_object_get(doc, "timeout")), 7);
    FC_CHECK(json_object_get(doc, "bogus") == NULL);
    FC_CHECK(json_object_get(json_object_get(doc, "customRuntimeConfig"), "command") != NULL);
    json_decref(doc);
    json_decref(body);

    static const struct {
        const char *body, *key;
    } bad[] = {
        {"{\"timeout\":\"x\"}", "timeout"},
        {"{\"timeout\":0}", "timeout"},
        {"{\"memorySize\":99999}", "memorySize"},
        {"{\"environmentVariables\":{\"A\":1}}", "environmentVariables"},
        {"{\"customRuntimeConfig\":{\"command\":\"x\"}}", "customRuntimeConfig.command"},
        {"{\"instanceConcurrency\":201}", "instanceConcurrency"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        body = parse(bad[i].body);
        FC_CHECK(fc_apidoc_read(FC_APIDOC_FUNCTION, body, err) == NULL);
        if (strncmp(err, bad[i].key, strlen(bad[i].key)) != 0) {
            fprintf(stderr, "# case %zu: %s\n", i, err);
            FC_CHECK(0);
        }
        json_decref(body);
    }
    body = parse("[1]");
    FC_CHECK(fc_apidoc_read(FC_APIDOC_SERVICE, body, err) == NULL);
    json_decref(body);
}

FC_TEST(apidoc_trigger_config_string_merge_public) {
    char err[FC_ERR_BYTES];
    /* fc-open20210406 sends triggerConfig as a JSON string. */
    json_t *body = parse("{\"triggerName\":\"h\",\"triggerType\":\"http\",\"triggerConfig\":"
                         "\"{\\\"authType\\\":\\\"function\\\",\\\"methods\\\":[\\\"GET\\\"]}\"}");
    json_t *doc = fc_apidoc_read(FC_APIDOC_TRIGGER, body, err);
    FC_CHECK(doc != NULL && json_is_object(json_object_get(doc, "triggerConfig")));
    json_t *update = parse("{\"description\":\"d\"}");
    json_t *merged = fc_apidoc_merge(doc, update);
    FC_CHECK_STR(json_string_value(json_object_get(merged, "description")), "d");
    FC_CHECK(json_object_get(merged, "triggerConfig") != NULL);
    json_object_set_new(merged, "fcdCodeDir", json_string("/x"));
    json_object_set_new(merged, "code", json_object());
    json_t *pub = fc_apidoc_public(merged);
    FC_CHECK(json_object_get(pub, "fcdCodeDir") == NULL && json_object_get(pub, "code") == NULL);
    FC_CHECK(json_object_get(pub, "triggerName") != NULL);
    json_decref(pub);
    json_decref(merged);
    json_decref(update);
    json_decref(doc);
    json_decref(body);
}

FC_TEST(apidoc_build_function) {
    char err[FC_ERR_BYTES];
    json_t *doc = parse("{\"functionName\":\"fn\",\"timeout\":9,\"memorySize\":256,"
                        "\"instanceConcurrency\":4,\"initializer\":\"i\",\"fcdCodeDir\":\"/tmp\","
                        "\"environmentVariables\":{\"A\":\"b\"},"
                        "\"customRuntimeConfig\":{\"command\":[\"/code/run\"],\"args\":[\"-x\"]},"
                        "\"instanceLifecycleConfig\":{\"preStop\":{\"handler\":\"p\",\"timeout\":5}}}");
    json_t *triggers = parse(
        "{\"h\":{\"triggerType\":\"http\",\"triggerConfig\":{\"authType\":\"anonymous\","
        "\"methods\":[\"GET\",\"post\"]}},"
        "\"t\":{\"triggerType\":\"timer\",\"triggerConfig\":{\"cronExpression\":\"@every 5m\","
        "\"payload\":\"x\",\"enable\":false}}}");
    json_t *async = parse("{\"maxAsyncRetryAttempts\":0,\"statefulInvocation\":true,"
                          "\"destinationConfig\":{\"onFailure\":{\"destination\":"
                          "\"acs:fc:cn:1:services/s.LATEST/functions/g\"}}}");
    struct fc_function *f = fc_apidoc_build("svc", doc, triggers, async, err);
    FC_CHECK(f != NULL);
    FC_CHECK_INT(f->timeout_s, 9);
    FC_CHECK_INT(f->memory_mb, 256);
    FC_CHECK_INT(f->concurrency, 4);
    FC_CHECK_STR(f->argv[0], "/tmp/run"); /* /code means the code directory */
    FC_CHECK_STR(f->argv[1], "-x");
    FC_CHECK(f->argv[2] == NULL);
    FC_CHECK_STR(f->env[0], "A=b");
    FC_CHECK_STR(f->initializer, "i");
    FC_CHECK_STR(f->pre_stop, "p");
    FC_CHECK_INT(f->pre_stop_timeout_s, 5);
    FC_CHECK(f->http_trigger && f->http_anonymous);
    FC_CHECK_INT(f->http_methods, FC_METHOD_GET | FC_METHOD_POST);
    FC_CHECK_INT(f->timers_count, 1);
    FC_CHECK(!f->timers[0].enabled);
    FC_CHECK_STR(f->timers[0].cron, "@every 5m");
    FC_CHECK_INT(f->async_retries, 0);
    FC_CHECK(f->async_stateful);
    FC_CHECK_STR(f->on_failure, "s/g");
    fc_function_unref(f);

    /* authType defaults to function (FC's default); disableURLInternet. */
    json_t *http = json_object_get(json_object_get(triggers, "h"), "triggerConfig");
    json_object_del(http, "authType");
    json_object_set_new(http, "disableURLInternet", json_true());
    f = fc_apidoc_build("svc", doc, triggers, async, err);
    FC_CHECK(f != NULL && f->http_trigger && !f->http_anonymous && f->http_url_disabled);
    fc_function_unref(f);

    /* Documents that do not build say why. */
    json_object_set_new(json_object_get(json_object_get(triggers, "h"), "triggerConfig"),
                        "authType", json_string("open"));
    FC_CHECK(fc_apidoc_build("svc", doc, triggers, async, err) == NULL);
    FC_CHECK(strstr(err, "authType") != NULL);
    json_object_del(triggers, "h");
    json_object_set_new(doc, "fcdCodeDir", json_string("/no/such/dir"));
    FC_CHECK(fc_apidoc_build("svc", doc, triggers, async, err) == NULL);
    FC_CHECK(strstr(err, "does not exist") != NULL);
    json_decref(async);
    json_decref(triggers);
    json_decref(doc);
}

/* A bootstrap function (--function) turns into documents that build the
 * same function again. */
FC_TEST(apidoc_bootstrap_round_trip) {
    char err[FC_ERR_BYTES];
    struct fc_catalog cat = {0};
    FC_CHECK_INT(fc_catalog_add_flag(&cat, "hello=/tmp,timeout=5,concurrency=8,instances=3,"
                                           "initializer=init", err), 0);
    json_t *doc, *triggers, *async;
    FC_CHECK_INT(fc_apidoc_from_function(cat.functions[0], &doc, &triggers, &async), 0);
    FC_CHECK(async == NULL); /* the defaults */
    FC_CHECK(json_is_true(json_object_get(doc, "fcdBootstrap")));
    struct fc_function *f = fc_apidoc_build("default", doc, triggers, NULL, err);
    FC_CHECK(f != NULL);
    const struct fc_function *g = cat.functions[0];
    FC_CHECK_INT(f->timeout_s, g->timeout_s);
    FC_CHECK_INT(f->concurrency, g->concurrency);
    FC_CHECK_INT(f->max_instances, 3);
    FC_CHECK_STR(f->initializer, "init");
    FC_CHECK_STR(f->argv[0], g->argv[0]);
    FC_CHECK_STR(f->code_dir, g->code_dir);
    FC_CHECK(f->http_trigger && f->http_anonymous && f->http_methods == FC_METHOD_ALL);
    fc_function_unref(f);
    json_decref(doc);
    json_decref(triggers);
    fc_catalog_free(&cat);
}
