/* apidoc.c — see apidoc.h. */
#include "core/apidoc.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* What a field holds. */
enum field_kind {
    F_STRING,
    F_INT,
    F_BOOL,
    F_OBJECT,   /* nested, read with its own field table */
    F_ANY,      /* kept as given (objects FC stores but fcd does not use) */
    F_STRMAP,   /* object of strings (environmentVariables) */
    F_STRARRAY, /* array of strings */
    F_CONFIG,   /* triggerConfig: an object, or an object as a JSON string (2021-04-06 SDK) */
};

struct field {
    const char *name;
    enum field_kind kind;
    long long min, max;       /* F_INT */
    const struct field *sub;  /* F_OBJECT */
};

#define END {NULL, 0, 0, 0, NULL}

static const struct field lifecycle_hook[] = {
    {"handler", F_STRING, 0, 0, NULL}, {"timeout", F_INT, 1, 300, NULL}, END};
static const struct field lifecycle[] = {
    {"preStop", F_OBJECT, 0, 0, lifecycle_hook}, {"preFreeze", F_OBJECT, 0, 0, lifecycle_hook}, END};
static const struct field runtime_config[] = {
    {"command", F_STRARRAY, 0, 0, NULL}, {"args", F_STRARRAY, 0, 0, NULL}, END};

static const struct field service_fields[] = {
    {"serviceName", F_STRING, 0, 0, NULL},   {"description", F_STRING, 0, 0, NULL},
    {"role", F_STRING, 0, 0, NULL},          {"logConfig", F_ANY, 0, 0, NULL},
    {"vpcConfig", F_ANY, 0, 0, NULL},        {"nasConfig", F_ANY, 0, 0, NULL},
    {"ossMountConfig", F_ANY, 0, 0, NULL},   {"internetAccess", F_BOOL, 0, 0, NULL},
    {"tracingConfig", F_ANY, 0, 0, NULL},    END};

static const struct field function_fields[] = {
    {"functionName", F_STRING, 0, 0, NULL},
    {"description", F_STRING, 0, 0, NULL},
    {"runtime", F_STRING, 0, 0, NULL},
    {"handler", F_STRING, 0, 0, NULL},
    {"initializer", F_STRING, 0, 0, NULL},
    {"initializationTimeout", F_INT, 1, 300, NULL},
    {"timeout", F_INT, 1, 86400, NULL},
    {"memorySize", F_INT, 64, 32768, NULL},
    {"instanceConcurrency", F_INT, 1, FC_CONCURRENCY_MAX, NULL},
    {"caPort", F_INT, 1, 65535, NULL},
    {"environmentVariables", F_STRMAP, 0, 0, NULL},
    {"customRuntimeConfig", F_OBJECT, 0, 0, runtime_config},
    {"instanceLifecycleConfig", F_OBJECT, 0, 0, lifecycle},
    {"code", F_ANY, 0, 0, NULL},
    {"cpu", F_ANY, 0, 0, NULL},
    {"diskSize", F_ANY, 0, 0, NULL},
    {"instanceType", F_STRING, 0, 0, NULL},
    {"layers", F_ANY, 0, 0, NULL},
    {"customDNS", F_ANY, 0, 0, NULL},
    {"customHealthCheckConfig", F_ANY, 0, 0, NULL},
    {"gpuMemorySize", F_ANY, 0, 0, NULL},
    {"instanceSoftConcurrency", F_ANY, 0, 0, NULL},
    END};

static const struct field trigger_fields[] = {
    {"triggerName", F_STRING, 0, 0, NULL}, {"triggerType", F_STRING, 0, 0, NULL},
    {"triggerConfig", F_CONFIG, 0, 0, NULL}, {"description", F_STRING, 0, 0, NULL},
    {"qualifier", F_STRING, 0, 0, NULL},   {"sourceArn", F_STRING, 0, 0, NULL},
    {"invocationRole", F_STRING, 0, 0, NULL}, END};

static const struct field destination[] = {{"destination", F_STRING, 0, 0, NULL}, END};
static const struct field destination_config[] = {
    {"onSuccess", F_OBJECT, 0, 0, destination}, {"onFailure", F_OBJECT, 0, 0, destination}, END};
static const struct field async_fields[] = {
    {"maxAsyncEventAgeInSeconds", F_INT, 1, 604800, NULL},
    {"maxAsyncRetryAttempts", F_INT, 0, 8, NULL},
    {"destinationConfig", F_OBJECT, 0, 0, destination_config},
    {"statefulInvocation", F_BOOL, 0, 0, NULL},
    END};

static const struct field *const tables[] = {
    [FC_APIDOC_SERVICE] = service_fields,
    [FC_APIDOC_FUNCTION] = function_fields,
    [FC_APIDOC_TRIGGER] = trigger_fields,
    [FC_APIDOC_ASYNC_CONFIG] = async_fields,
};

__attribute__((format(printf, 2, 3))) static void *fail(char *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, FC_ERR_BYTES, fmt, ap);
    va_end(ap);
    return NULL;
}

static json_t *read_object(const struct field *table, json_t *obj, const char *where, char *err);

static bool strings_only(json_t *v, bool map) {
    const char *k;
    size_t i;
    json_t *s;
    if (map) {
        json_object_foreach(v, k, s) if (!json_is_string(s)) return false;
    } else {
        json_array_foreach(v, i, s) if (!json_is_string(s)) return false;
    }
    return true;
}

/* One known field's value, checked; a new reference or NULL (err set). */
static json_t *read_value(const struct field *f, json_t *v, const char *where, char *err) {
    switch (f->kind) {
    case F_STRING:
        return json_is_string(v) ? json_incref(v) : fail(err, "%s%s: expected a string", where, f->name);
    case F_BOOL:
        return json_is_boolean(v) ? json_incref(v) : fail(err, "%s%s: expected a boolean", where, f->name);
    case F_INT:
        if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max)
            return fail(err, "%s%s: expected an integer in %lld..%lld", where, f->name, f->min, f->max);
        return json_incref(v);
    case F_STRMAP:
        if (!json_is_object(v) || !strings_only(v, true))
            return fail(err, "%s%s: expected an object of strings", where, f->name);
        return json_incref(v);
    case F_STRARRAY:
        if (!json_is_array(v) || !strings_only(v, false))
            return fail(err, "%s%s: expected an array of strings", where, f->name);
        return json_incref(v);
    case F_ANY: return json_incref(v);
    case F_CONFIG:
        if (json_is_string(v)) { /* fc-open20210406 sends the object as a JSON string */
            json_t *o = json_loads(json_string_value(v), 0, NULL);
            if (json_is_object(o))
                return o;
            json_decref(o);
        }
        return json_is_object(v) ? json_incref(v)
                                 : fail(err, "%s%s: expected an object", where, f->name);
    case F_OBJECT: {
        if (json_is_null(v))
            return json_incref(v);
        if (!json_is_object(v))
            return fail(err, "%s%s: expected an object", where, f->name);
        char inner[128];
        snprintf(inner, sizeof(inner), "%s%s.", where, f->name);
        return read_object(f->sub, v, inner, err);
    }
    }
    return fail(err, "%s%s: unsupported", where, f->name);
}

static json_t *read_object(const struct field *table, json_t *obj, const char *where, char *err) {
    json_t *out = json_object(), *v;
    const char *key;
    json_object_foreach(obj, key, v) {
        const struct field *f = table;
        while (f->name && strcasecmp(f->name, key) != 0)
            f++;
        if (f->name == NULL)
            continue; /* unknown: ignored, as FC's Go server does */
        json_t *value = read_value(f, v, where, err);
        if (value == NULL) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, f->name, value);
    }
    return out;
}

json_t *fc_apidoc_read(enum fc_apidoc_kind kind, json_t *body, char err[FC_ERR_BYTES]) {
    if (!json_is_object(body))
        return fail(err, "the request body must be a JSON object");
    return read_object(tables[kind], body, "", err);
}

json_t *fc_apidoc_merge(json_t *stored, json_t *update) {
    json_t *out = json_deep_copy(stored);
    if (out != NULL && json_object_update(out, update) < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *fc_apidoc_public(json_t *doc) {
    json_t *out = json_object(), *v;
    const char *key;
    json_object_foreach(doc, key, v) {
        if (strncmp(key, "fcd", 3) != 0 && strcmp(key, "code") != 0)
            json_object_set(out, key, v);
    }
    return out;
}

void fc_apidoc_time(long long unix_s, char out[32]) {
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- documents -> fc_function ---------------------------------------------------- */

static long long int_or(json_t *obj, const char *key, long long dflt) {
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static char *str_dup_or_null(json_t *obj, const char *key) {
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? strdup(s) : NULL;
}

/* FC runs a custom runtime's command in /code; fcd's code directory is
 * elsewhere, so "/code/x" in the command means code_dir/x. */
static char *command_word(const char *word, const char *code_dir) {
    char *out;
    if (strncmp(word, "/code/", 6) == 0 || strcmp(word, "/code") == 0)
        return asprintf(&out, "%s%s", code_dir, word + 5) < 0 ? NULL : out;
    return strdup(word);
}

static int build_command(struct fc_function *f, json_t *doc, const char *code_dir, char *err) {
    json_t *crc = json_object_get(doc, "customRuntimeConfig");
    json_t *parts[2] = {json_object_get(crc, "command"), json_object_get(crc, "args")};
    size_t n = 0, i;
    json_t *w;
    if (json_array_size(parts[0]) == 0 && json_array_size(parts[1]) > 0) {
        fail(err, "customRuntimeConfig.args: needs a command");
        return -EINVAL;
    }
    for (int p = 0; p < 2; p++) {
        json_array_foreach(parts[p], i, w) {
            if (n >= FC_FUNCTION_ARGS_MAX) {
                fail(err, "customRuntimeConfig: more than %u words", FC_FUNCTION_ARGS_MAX);
                return -EINVAL;
            }
            if ((f->argv[n++] = command_word(json_string_value(w), code_dir)) == NULL)
                return -ENOMEM;
        }
    }
    return 0;
}

static int build_env(struct fc_function *f, json_t *doc, char *err) {
    const char *k;
    json_t *v;
    size_t n = 0;
    json_object_foreach(json_object_get(doc, "environmentVariables"), k, v) {
        if (n >= FC_FUNCTION_ENV_MAX || !fc_name_valid(k, strlen(k), 128)) {
            /* The config file's rule too, so every bootstrap function builds. */
            fail(err, "environmentVariables.%s: names are letters, digits, '_' and '-', not "
                      "starting with a digit or '-'; at most %u", k, FC_FUNCTION_ENV_MAX);
            return -EINVAL;
        }
        if (asprintf(&f->env[n++], "%s=%s", k, json_string_value(v)) < 0)
            return -ENOMEM;
    }
    return 0;
}

static const char *const method_names[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH",
                                           "OPTIONS"};

static int build_http_trigger(struct fc_function *f, const char *name, json_t *config,
                              char *err) {
    if (f->http_trigger) {
        fail(err, "a function has at most one HTTP trigger ('%s' is a second)", name);
        return -EINVAL;
    }
    json_t *auth_value = json_object_get(config, "authType");
    const char *auth = auth_value ? json_string_value(auth_value) : "function"; /* FC's default */
    if (auth == NULL || (strcasecmp(auth, "anonymous") != 0 && strcasecmp(auth, "function") != 0)) {
        fail(err, "triggerConfig.authType: expected \"anonymous\" or \"function\"");
        return -EINVAL;
    }
    json_t *disabled = json_object_get(config, "disableURLInternet");
    if (disabled != NULL && !json_is_boolean(disabled)) {
        fail(err, "triggerConfig.disableURLInternet: expected a boolean");
        return -EINVAL;
    }
    f->http_trigger = true;
    f->http_anonymous = strcasecmp(auth, "anonymous") == 0;
    f->http_url_disabled = json_is_true(disabled);
    json_t *methods = json_object_get(config, "methods"), *m;
    size_t i;
    f->http_methods = 0;
    json_array_foreach(methods, i, m) {
        size_t k = 0;
        while (k < 7 && !(json_is_string(m) && strcasecmp(json_string_value(m), method_names[k]) == 0))
            k++;
        if (k == 7) {
            fail(err, "triggerConfig.methods: expected GET, POST, PUT, DELETE, HEAD, PATCH or OPTIONS");
            return -EINVAL;
        }
        f->http_methods |= 1u << k;
    }
    if (!json_is_array(methods) || f->http_methods == 0) {
        fail(err, "triggerConfig.methods: expected a non-empty array of HTTP methods");
        return -EINVAL;
    }
    return 0;
}

static int build_timer_trigger(struct fc_function *f, const char *name, json_t *config,
                               char *err) {
    if (f->timers_count >= FC_TIMERS_MAX) {
        fail(err, "a function has at most %u timer triggers", FC_TIMERS_MAX);
        return -EINVAL;
    }
    struct fc_timer *t = &f->timers[f->timers_count];
    const char *cron = json_string_value(json_object_get(config, "cronExpression")), *why = NULL;
    json_t *payload = json_object_get(config, "payload"), *enable = json_object_get(config, "enable");
    if (cron == NULL || strlen(cron) >= sizeof(t->cron) || fc_cron_parse(cron, &t->schedule, &why) < 0) {
        fail(err, "triggerConfig.cronExpression: %s", why ? why : "expected a cron expression");
        return -EINVAL;
    }
    if ((payload && !json_is_string(payload)) || (enable && !json_is_boolean(enable))) {
        fail(err, "triggerConfig: payload is a string and enable a boolean");
        return -EINVAL;
    }
    snprintf(t->name, sizeof(t->name), "%s", name);
    snprintf(t->cron, sizeof(t->cron), "%s", cron);
    t->payload = strdup(payload ? json_string_value(payload) : "");
    t->enabled = enable == NULL || json_is_true(enable);
    f->timers_count++;
    return t->payload ? 0 : -ENOMEM;
}

static int build_triggers(struct fc_function *f, json_t *triggers, char *err) {
    const char *name;
    json_t *t;
    json_object_foreach(triggers, name, t) {
        const char *type = json_string_value(json_object_get(t, "triggerType"));
        json_t *config = json_object_get(t, "triggerConfig");
        int rc = type && strcasecmp(type, "http") == 0 ? build_http_trigger(f, name, config, err)
                 : type && strcasecmp(type, "timer") == 0
                     ? build_timer_trigger(f, name, config, err)
                     : (fail(err, "triggerType '%s' is not supported by fcd (http, timer)",
                             type ? type : ""),
                        -EINVAL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A destination ARN or "s/f" or "http://..." into out (registry's rule). */
static int build_destination(json_t *config, const char *which, char *out, size_t cap,
                             char *err) {
    json_t *d = json_object_get(json_object_get(json_object_get(config, "destinationConfig"), which),
                                "destination");
    const char *s = json_string_value(d);
    out[0] = '\0';
    if (s == NULL || *s == '\0')
        return 0;
    if (fc_destination_parse(s, out, cap) < 0) {
        fail(err, "destinationConfig.%s.destination: expected acs:fc:REGION:ACCOUNT:services/S/"
                  "functions/F or http://IPv4[:port]/path", which);
        return -EINVAL;
    }
    return 0;
}

static int build_async(struct fc_function *f, json_t *config, char *err) {
    if (config == NULL)
        return 0;
    f->async_retries = (uint32_t)int_or(config, "maxAsyncRetryAttempts", f->async_retries);
    f->async_max_age_s = (uint32_t)int_or(config, "maxAsyncEventAgeInSeconds", f->async_max_age_s);
    f->async_stateful = json_is_true(json_object_get(config, "statefulInvocation"));
    int rc = build_destination(config, "onSuccess", f->on_success, sizeof(f->on_success), err);
    return rc ? rc : build_destination(config, "onFailure", f->on_failure, sizeof(f->on_failure), err);
}

static int build_settings(struct fc_function *f, json_t *doc) {
    f->memory_mb = (uint32_t)int_or(doc, "memorySize", f->memory_mb);
    f->timeout_s = (uint32_t)int_or(doc, "timeout", f->timeout_s);
    f->initialization_timeout_s =
        (uint32_t)int_or(doc, "initializationTimeout", f->initialization_timeout_s);
    f->concurrency = (uint32_t)int_or(doc, "instanceConcurrency", f->concurrency);
    f->ca_port = (uint32_t)int_or(doc, "caPort", f->ca_port);
    f->max_instances = (uint32_t)int_or(doc, "fcdMaxInstances", f->max_instances);
    json_t *pre_stop = json_object_get(json_object_get(doc, "instanceLifecycleConfig"), "preStop");
    f->pre_stop_timeout_s = (uint32_t)int_or(pre_stop, "timeout", f->pre_stop_timeout_s);
    f->initializer = str_dup_or_null(doc, "initializer");
    f->pre_stop = str_dup_or_null(pre_stop, "handler");
    const char *sum = json_string_value(json_object_get(doc, "codeChecksum"));
    snprintf(f->code_checksum, sizeof(f->code_checksum), "%s", sum ? sum : "");
    return 0;
}

struct fc_function *fc_apidoc_build(const char *service, json_t *fn_doc, json_t *triggers,
                                    json_t *async_config, char err[FC_ERR_BYTES]) {
    const char *name = json_string_value(json_object_get(fn_doc, "functionName"));
    const char *code_dir = json_string_value(json_object_get(fn_doc, "fcdCodeDir"));
    struct fc_function *f = fc_function_new(service, name ? name : "", err);
    if (f == NULL)
        return NULL;
    int rc = build_settings(f, fn_doc);
    if (rc == 0)
        rc = code_dir ? build_command(f, fn_doc, code_dir, err)
                      : (fail(err, "function '%s' has no code", f->name), -EINVAL);
    if (rc == 0)
        rc = build_env(f, fn_doc, err);
    if (rc == 0)
        rc = build_triggers(f, triggers, err);
    if (rc == 0)
        rc = build_async(f, async_config, err);
    if (rc == 0)
        rc = fc_function_set_code(f, code_dir, err);
    if (rc == -ENOMEM)
        fail(err, "out of memory");
    if (rc < 0) {
        fc_function_unref(f);
        return NULL;
    }
    return f;
}

/* ---- bootstrap function -> documents ---------------------------------------------- */

static json_t *string_array(char *const *v) {
    json_t *a = json_array();
    for (; *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

static json_t *function_doc(const struct fc_function *f) {
    json_t *env = json_object();
    for (char *const *e = f->env; *e; e++) {
        const char *eq = strchr(*e, '=');
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - *e), *e);
        json_object_set_new(env, key, json_string(eq + 1));
    }
    json_t *doc = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:I, s:b}",
                            "functionName", f->name, "runtime", "custom", "handler",
                            "index.handler", "timeout", (json_int_t)f->timeout_s, "memorySize",
                            (json_int_t)f->memory_mb, "instanceConcurrency",
                            (json_int_t)f->concurrency, "caPort", (json_int_t)f->ca_port,
                            "initializationTimeout", (json_int_t)f->initialization_timeout_s,
                            "environmentVariables", env, "fcdCodeDir", f->code_dir,
                            "fcdMaxInstances", (json_int_t)f->max_instances, "fcdBootstrap", 1);
    if (doc == NULL)
        return NULL;
    if (f->initializer)
        json_object_set_new(doc, "initializer", json_string(f->initializer));
    if (f->pre_stop)
        json_object_set_new(doc, "instanceLifecycleConfig",
                            json_pack("{s:{s:s, s:I}}", "preStop", "handler", f->pre_stop,
                                      "timeout", (json_int_t)f->pre_stop_timeout_s));
    json_object_set_new(doc, "customRuntimeConfig",
                        json_pack("{s:o, s:[]}", "command", string_array(f->argv), "args"));
    return doc;
}

static json_t *trigger_docs(const struct fc_function *f) {
    json_t *out = json_object();
    if (f->http_trigger) {
        json_t *methods = json_array();
        for (size_t k = 0; k < 7; k++)
            if (f->http_methods & (1u << k))
                json_array_append_new(methods, json_string(method_names[k]));
        json_object_set_new(out, "http",
                            json_pack("{s:s, s:s, s:{s:s, s:o}}", "triggerName", "http",
                                      "triggerType", "http", "triggerConfig", "authType",
                                      f->http_anonymous ? "anonymous" : "function", "methods",
                                      methods));
    }
    for (uint32_t i = 0; i < f->timers_count; i++) {
        const struct fc_timer *t = &f->timers[i];
        json_object_set_new(out, t->name,
                            json_pack("{s:s, s:s, s:{s:s, s:s, s:b}}", "triggerName", t->name,
                                      "triggerType", "timer", "triggerConfig", "cronExpression",
                                      t->cron, "payload", t->payload, "enable", t->enabled));
    }
    return out;
}

static json_t *async_doc(const struct fc_function *f) {
    if (f->async_retries == 3 && f->async_max_age_s == 86400 && !f->async_stateful &&
        !f->on_success[0] && !f->on_failure[0])
        return NULL;
    json_t *doc = json_pack("{s:I, s:I, s:b}", "maxAsyncRetryAttempts",
                            (json_int_t)f->async_retries, "maxAsyncEventAgeInSeconds",
                            (json_int_t)f->async_max_age_s, "statefulInvocation",
                            f->async_stateful);
    json_t *dest = json_object();
    if (f->on_success[0])
        json_object_set_new(dest, "onSuccess", json_pack("{s:s}", "destination", f->on_success));
    if (f->on_failure[0])
        json_object_set_new(dest, "onFailure", json_pack("{s:s}", "destination", f->on_failure));
    json_object_set_new(doc, "destinationConfig", dest);
    return doc;
}

int fc_apidoc_from_function(const struct fc_function *f, json_t **fn_doc, json_t **triggers,
                            json_t **async_config) {
    *fn_doc = function_doc(f);
    *triggers = trigger_docs(f);
    *async_config = async_doc(f);
    if (*fn_doc == NULL || *triggers == NULL) {
        json_decref(*fn_doc);
        json_decref(*triggers);
        json_decref(*async_config);
        return -ENOMEM;
    }
    return 0;
}
