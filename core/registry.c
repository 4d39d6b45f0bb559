/* registry.c — see registry.h. */
#include "core/registry.h"

#include "core/assert.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MEMORY_MB_MAX 32768
#define TIMEOUT_S_MAX 86400
#define INIT_TIMEOUT_S_MAX 300

__attribute__((format(printf, 2, 3))) static int fail(char *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, FC_ERR_BYTES, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int fc_http_url_parse(const char *text, struct fc_http_url *out) {
    memset(out, 0, sizeof(*out));
    if (strncmp(text, "http://", 7) != 0)
        return -EINVAL;
    const char *host = text + 7, *slash = strchr(host, '/');
    size_t hlen = slash ? (size_t)(slash - host) : strlen(host);
    if (hlen == 0 || hlen >= sizeof(out->host))
        return -EINVAL;
    memcpy(out->host, host, hlen);
    char ip[64];
    snprintf(ip, sizeof(ip), "%s", out->host);
    unsigned long port = 80;
    char *colon = strchr(ip, ':');
    if (colon != NULL) {
        char *end;
        *colon = '\0';
        port = strtoul(colon + 1, &end, 10);
        if (*end != '\0' || port == 0 || port > 65535)
            return -EINVAL;
    }
    if (strcmp(ip, "localhost") == 0)
        snprintf(ip, sizeof(ip), "127.0.0.1");
    out->addr.sin_family = AF_INET;
    out->addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &out->addr.sin_addr) != 1)
        return -EINVAL;
    out->path = slash ? slash : "/";
    for (const char *c = out->path; *c; c++)
        if (*c <= ' ' || *c >= 0x7f) /* it goes into a request line as it is */
            return -EINVAL;
    return 0;
}

bool fc_name_valid(const char *name, size_t len, size_t max) {
    if (len == 0 || len > max || (name[0] >= '0' && name[0] <= '9') || name[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Process-wide sequences for fc_function's uid and revision: the only
 * global state here, because an object's age must compare across catalogs
 * and threads. */
static _Atomic uint64_t revision_seq;

static void function_free(struct fc_function *f) {
    for (char **p = f->argv; *p; p++)
        free(*p);
    for (char **p = f->env; *p; p++)
        free(*p);
    free(f->initializer);
    free(f->pre_stop);
    for (uint32_t i = 0; i < f->timers_count; i++)
        free(f->timers[i].payload);
    free(f);
}

struct fc_function *fc_function_new(const char *service, const char *name,
                                    char err[FC_ERR_BYTES]) {
    if (!fc_name_valid(service, strlen(service), FC_SERVICE_NAME_MAX)) {
        fail(err, "service name '%s' is invalid", service);
        return NULL;
    }
    if (!fc_name_valid(name, strlen(name), FC_FUNCTION_NAME_MAX)) {
        fail(err, "function name '%s' is invalid", name);
        return NULL;
    }
    struct fc_function *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        fail(err, "out of memory");
        return NULL;
    }
    snprintf(f->service, sizeof(f->service), "%s", service);
    snprintf(f->name, sizeof(f->name), "%s", name);
    /* Relaxed: a unique number is all that is needed. */
    f->revision = atomic_fetch_add_explicit(&revision_seq, 1, memory_order_relaxed) + 1;
    f->instance_revision = f->revision;
    atomic_init(&f->refs, 1);
    f->memory_mb = 128;
    f->timeout_s = 3;
    f->initialization_timeout_s = 3;
    f->pre_stop_timeout_s = 3;
    f->async_retries = 3;
    f->async_max_age_s = 86400;
    f->concurrency = 1;
    f->max_instances = 16;
    f->ca_port = 9000;
    return f;
}

static bool strings_equal(const char *a, const char *b) {
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool vectors_equal(char *const *a, char *const *b) {
    for (; *a && *b; a++, b++)
        if (strcmp(*a, *b) != 0)
            return false;
    return *a == NULL && *b == NULL;
}

bool fc_function_same_instances(const struct fc_function *a, const struct fc_function *b) {
    return strcmp(a->code_dir, b->code_dir) == 0 && vectors_equal(a->argv, b->argv) &&
           vectors_equal(a->env, b->env) && strings_equal(a->initializer, b->initializer) &&
           strings_equal(a->pre_stop, b->pre_stop) &&
           a->pre_stop_timeout_s == b->pre_stop_timeout_s && a->memory_mb == b->memory_mb &&
           a->timeout_s == b->timeout_s &&
           a->initialization_timeout_s == b->initialization_timeout_s &&
           a->concurrency == b->concurrency && a->max_instances == b->max_instances &&
           a->ca_port == b->ca_port;
}

/* A new function of the config (bootstrap) catalog, or NULL (err set). */
static struct fc_function *function_new(struct fc_catalog *cat, const char *service,
                                        const char *name, char *err) {
    if (fc_catalog_find(cat, service, strlen(service), name, strlen(name)) != NULL) {
        fail(err, "function '%s' is declared twice in service '%s'", name, service);
        return NULL;
    }
    if (cat->count >= FC_FUNCTIONS_MAX) {
        fail(err, "more than %u functions", FC_FUNCTIONS_MAX);
        return NULL;
    }
    return fc_function_new(service, name, err);
}

int fc_function_set_code(struct fc_function *f, const char *code_dir, char err[FC_ERR_BYTES]) {
    if (code_dir == NULL || realpath(code_dir, f->code_dir) == NULL)
        return fail(err, "%s/%s: code_dir '%s' does not exist", f->service, f->name,
                    code_dir ? code_dir : "(missing)");
    if (f->argv[0] == NULL) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof(path), "%s/bootstrap", f->code_dir);
        f->argv[0] = strdup(path);
        if (f->argv[0] == NULL)
            return fail(err, "out of memory");
    }
    return 0;
}

/* Give f its code and the next id of the config catalog. */
static int function_finish(struct fc_catalog *cat, struct fc_function *f, const char *code_dir,
                           char *err) {
    int rc = fc_function_set_code(f, code_dir, err);
    if (rc < 0)
        return rc;
    f->id = cat->count;
    f->uid = f->revision;
    cat->functions[cat->count++] = f;
    return 0;
}

static int uint_member(json_t *obj, const char *key, uint32_t min, uint32_t max, uint32_t *out,
                       const char *where, char *err) {
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return fail(err, "%s.%s: expected an integer in %u..%u", where, key, min, max);
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

/* A non-empty string member (a handler name). */
static int string_member(json_t *obj, const char *key, char **out, const char *where, char *err) {
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return fail(err, "%s.%s: expected a non-empty string", where, key);
    *out = strdup(json_string_value(v));
    return *out ? 0 : fail(err, "out of memory");
}

/* Append the strings of a JSON array to a NULL-terminated vector. */
static int strings_member(json_t *obj, const char *key, char **vec, size_t max, const char *where,
                          char *err) {
    json_t *arr = json_object_get(obj, key);
    if (arr == NULL)
        return 0;
    if (!json_is_array(arr))
        return fail(err, "%s.%s: expected an array of strings", where, key);
    size_t n = 0;
    while (vec[n])
        n++;
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s) {
        if (!json_is_string(s) || n >= max)
            return fail(err, "%s.%s: expected at most %zu strings", where, key, max);
        vec[n++] = strdup(json_string_value(s));
    }
    return 0;
}

static int env_member(json_t *obj, struct fc_function *f, const char *where, char *err) {
    json_t *env = json_object_get(obj, "environment");
    if (env == NULL)
        return 0;
    if (!json_is_object(env))
        return fail(err, "%s.environment: expected an object of strings", where);
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v) {
        if (!json_is_string(v) || n >= FC_FUNCTION_ENV_MAX || !fc_name_valid(k, strlen(k), 128) ||
            strncmp(k, "FC_", 3) == 0)
            return fail(err, "%s.environment.%s: expected a string value, a name of letters, "
                             "digits and '_' not starting with FC_",
                        where, k);
        if (asprintf(&f->env[n++], "%s=%s", k, json_string_value(v)) < 0)
            return fail(err, "out of memory");
    }
    return 0;
}

static const char *const method_names[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH",
                                           "OPTIONS"};

static int trigger_member(json_t *obj, struct fc_function *f, const char *where, char *err) {
    json_t *t = json_object_get(obj, "http_trigger");
    if (t == NULL)
        return 0;
    const char *auth = json_string_value(json_object_get(t, "auth_type"));
    if (!json_is_object(t) || (auth && strcmp(auth, "anonymous") && strcmp(auth, "function")))
        return fail(err, "%s.http_trigger: expected {\"auth_type\": \"anonymous\"|\"function\", "
                         "\"methods\": [...]}", where);
    f->http_trigger = true;
    f->http_anonymous = auth != NULL && strcmp(auth, "anonymous") == 0;
    json_t *methods = json_object_get(t, "methods"), *m;
    size_t i;
    f->http_methods = methods ? 0 : FC_METHOD_ALL;
    json_array_foreach(methods, i, m) {
        size_t k = 0;
        while (k < 7 && !(json_is_string(m) && strcmp(json_string_value(m), method_names[k]) == 0))
            k++;
        if (k == 7)
            return fail(err, "%s.http_trigger.methods: unknown method", where);
        f->http_methods |= 1u << k;
    }
    return 0;
}

int fc_destination_parse(const char *s, char *out, size_t cap) {
    out[0] = '\0';
    if (strncmp(s, "http://", 7) == 0) { /* an HTTP endpoint: http://IPv4[:port]/path */
        struct fc_http_url url;
        if (strlen(s) >= cap || fc_http_url_parse(s, &url) < 0)
            return -EINVAL;
        snprintf(out, cap, "%s", s);
        return 0;
    }
    const char *at = strstr(s, ":services/");
    if (strncmp(s, "acs:fc:", 7) == 0 && at != NULL) {
        const char *svc = at + 10, *f = strstr(svc, "/functions/");
        if (f == NULL)
            return -EINVAL;
        size_t svc_len = strcspn(svc, "./");
        snprintf(out, cap, "%.*s/%s", (int)svc_len, svc, f + 11);
    } else {
        snprintf(out, cap, "%s", s);
    }
    const char *slash = strchr(out, '/');
    if (slash == NULL || !fc_name_valid(out, (size_t)(slash - out), FC_SERVICE_NAME_MAX) ||
        !fc_name_valid(slash + 1, strlen(slash + 1), FC_FUNCTION_NAME_MAX))
        return -EINVAL;
    return 0;
}

/* A config destination: a JSON string for fc_destination_parse, or absent. */
static int destination(json_t *v, char out[FC_DESTINATION_BYTES]) {
    out[0] = '\0';
    if (v == NULL)
        return 0;
    const char *s = json_string_value(v);
    return s == NULL ? -EINVAL : fc_destination_parse(s, out, FC_DESTINATION_BYTES);
}

/* "async": {"max_retries": 0..8, "max_event_age_s": 1..604800, "stateful": bool}
 * (FC's async invoke config, CONTRACT.md §5.5). */
static int async_member(json_t *obj, struct fc_function *f, const char *where, char *err) {
    json_t *a = json_object_get(obj, "async");
    if (a == NULL)
        return 0;
    char at[FC_SERVICE_NAME_MAX + FC_FUNCTION_NAME_MAX + 48];
    snprintf(at, sizeof(at), "%s.async", where);
    json_t *stateful = json_object_get(a, "stateful");
    size_t known = (json_object_get(a, "max_retries") != NULL) +
                   (json_object_get(a, "max_event_age_s") != NULL) + (stateful != NULL) +
                   (json_object_get(a, "on_success") != NULL) +
                   (json_object_get(a, "on_failure") != NULL);
    if (!json_is_object(a) || json_object_size(a) != known ||
        (stateful != NULL && !json_is_boolean(stateful)) ||
        destination(json_object_get(a, "on_success"), f->on_success) < 0 ||
        destination(json_object_get(a, "on_failure"), f->on_failure) < 0)
        return fail(err, "%s: expected {\"max_retries\", \"max_event_age_s\", \"stateful\", "
                         "\"on_success\", \"on_failure\"} with destinations as "
                         "acs:fc:REGION:ACCOUNT:services/S/functions/F or S/F",
                    at);
    f->async_stateful = json_is_true(stateful);
    int rc = uint_member(a, "max_retries", 0, 8, &f->async_retries, at, err);
    return rc ? rc : uint_member(a, "max_event_age_s", 1, 604800, &f->async_max_age_s, at, err);
}

/* "timer_triggers": [{"name": "t", "cron": "0 0 4 * * *" | "@every 5m",
 * "payload": "...", "enable": true}] */
static int timers_member(json_t *obj, struct fc_function *f, const char *where, char *err) {
    json_t *arr = json_object_get(obj, "timer_triggers"), *t;
    size_t i;
    if (arr != NULL && (!json_is_array(arr) || json_array_size(arr) > FC_TIMERS_MAX))
        return fail(err, "%s.timer_triggers: expected an array of at most %u", where,
                    FC_TIMERS_MAX);
    json_array_foreach(arr, i, t) {
        const char *name = json_string_value(json_object_get(t, "name"));
        const char *cron = json_string_value(json_object_get(t, "cron"));
        json_t *payload = json_object_get(t, "payload"), *enable = json_object_get(t, "enable");
        size_t known = 2 + (payload != NULL) + (enable != NULL);
        struct fc_timer *tm = &f->timers[f->timers_count];
        const char *why = NULL;
        if (!json_is_object(t) || json_object_size(t) != known || name == NULL ||
            !fc_name_valid(name, strlen(name), FC_FUNCTION_NAME_MAX) || cron == NULL ||
            strlen(cron) >= sizeof(tm->cron) ||
            (payload && !json_is_string(payload)) || (enable && !json_is_boolean(enable)) ||
            fc_cron_parse(cron, &tm->schedule, &why) < 0)
            return fail(err, "%s.timer_triggers[%zu]: expected {\"name\", \"cron\", \"payload\", "
                             "\"enable\"}%s%s", where, i, why ? ": bad cron " : "", why ? why : "");
        snprintf(tm->name, sizeof(tm->name), "%s", name);
        snprintf(tm->cron, sizeof(tm->cron), "%s", cron);
        tm->payload = strdup(payload ? json_string_value(payload) : "");
        tm->enabled = enable == NULL || json_is_true(enable);
        f->timers_count++;
    }
    return 0;
}

static const char *const function_keys[] = {
    "code_dir", "command", "args", "environment", "memory_mb", "timeout_s",
    "initializer", "initialization_timeout_s", "instance_concurrency", "max_instances",
    "ca_port", "http_trigger", "pre_stop", "pre_stop_timeout_s", "async", "timer_triggers", NULL};

static int function_members(json_t *obj, struct fc_function *f, const char *where, char *err) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        const char *const *k = function_keys;
        while (*k && strcmp(*k, key) != 0)
            k++;
        if (*k == NULL)
            return fail(err, "%s.%s: unknown key", where, key);
    }
    int rc = 0;
    if (!rc) rc = uint_member(obj, "memory_mb", 64, MEMORY_MB_MAX, &f->memory_mb, where, err);
    if (!rc) rc = uint_member(obj, "timeout_s", 1, TIMEOUT_S_MAX, &f->timeout_s, where, err);
    if (!rc) rc = uint_member(obj, "initialization_timeout_s", 1, INIT_TIMEOUT_S_MAX,
                              &f->initialization_timeout_s, where, err);
    if (!rc) rc = uint_member(obj, "instance_concurrency", 1, FC_CONCURRENCY_MAX, &f->concurrency,
                              where, err);
    if (!rc) rc = uint_member(obj, "max_instances", 1, FC_INSTANCES_MAX, &f->max_instances, where,
                              err);
    if (!rc) rc = uint_member(obj, "ca_port", 1, 65535, &f->ca_port, where, err);
    if (!rc) rc = uint_member(obj, "pre_stop_timeout_s", 1, INIT_TIMEOUT_S_MAX,
                              &f->pre_stop_timeout_s, where, err);
    if (!rc) rc = string_member(obj, "initializer", &f->initializer, where, err);
    if (!rc) rc = string_member(obj, "pre_stop", &f->pre_stop, where, err);
    if (!rc) rc = strings_member(obj, "command", f->argv, FC_FUNCTION_ARGS_MAX, where, err);
    if (!rc) rc = strings_member(obj, "args", f->argv, FC_FUNCTION_ARGS_MAX, where, err);
    if (!rc) rc = env_member(obj, f, where, err);
    if (!rc) rc = trigger_member(obj, f, where, err);
    if (!rc) rc = async_member(obj, f, where, err);
    if (!rc) rc = timers_member(obj, f, where, err);
    if (!rc && json_object_get(obj, "args") && !json_object_get(obj, "command"))
        return fail(err, "%s.args: needs a command", where);
    return rc;
}

static int add_service(struct fc_catalog *cat, const char *svc, json_t *sobj, char *err) {
    json_t *fns = json_object_get(sobj, "functions");
    if (!json_is_object(sobj) || json_object_size(sobj) != (fns != NULL) || !json_is_object(fns))
        return fail(err, "services.%s: expected {\"functions\": {...}}", svc);
    const char *name;
    json_t *fobj;
    json_object_foreach(fns, name, fobj) {
        char where[FC_SERVICE_NAME_MAX + FC_FUNCTION_NAME_MAX + 32];
        snprintf(where, sizeof(where), "services.%.128s.functions.%.64s", svc, name);
        if (!json_is_object(fobj))
            return fail(err, "%s: expected an object", where);
        struct fc_function *f = function_new(cat, svc, name, err);
        if (f == NULL)
            return -EINVAL;
        int rc = function_members(fobj, f, where, err);
        if (rc == 0)
            rc = function_finish(cat, f, json_string_value(json_object_get(fobj, "code_dir")), err);
        if (rc < 0) {
            function_free(f);
            return rc;
        }
    }
    return 0;
}

int fc_catalog_add_json(struct fc_catalog *cat, const void *services_json, char err[FC_ERR_BYTES]) {
    json_t *services = (json_t *)services_json;
    if (!json_is_object(services))
        return fail(err, "services: expected an object");
    const char *svc;
    json_t *sobj;
    json_object_foreach(services, svc, sobj) {
        int rc = add_service(cat, svc, sobj, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* One ",key=value" option of --function. */
static int flag_option(struct fc_function *f, const char *key, const char *value, char *err) {
    if (strcmp(key, "initializer") == 0) {
        f->initializer = strdup(value);
        return 0;
    }
    static const struct {
        const char *key;
        size_t offset;
        uint32_t min, max;
    } opts[] = {
        {"timeout", offsetof(struct fc_function, timeout_s), 1, TIMEOUT_S_MAX},
        {"memory", offsetof(struct fc_function, memory_mb), 64, MEMORY_MB_MAX},
        {"concurrency", offsetof(struct fc_function, concurrency), 1, FC_CONCURRENCY_MAX},
        {"instances", offsetof(struct fc_function, max_instances), 1, FC_INSTANCES_MAX},
    };
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if (strcmp(key, opts[i].key) != 0)
            continue;
        char *end;
        long v = strtol(value, &end, 10);
        if (*value == '\0' || *end != '\0' || v < opts[i].min || v > opts[i].max)
            return fail(err, "--function %s: %s: expected an integer in %u..%u", f->name, key,
                        opts[i].min, opts[i].max);
        *(uint32_t *)((char *)f + opts[i].offset) = (uint32_t)v;
        return 0;
    }
    return fail(err, "--function %s: unknown option '%s' (timeout, memory, concurrency, "
                     "instances, initializer)", f->name, key);
}

int fc_catalog_add_flag(struct fc_catalog *cat, const char *text, char err[FC_ERR_BYTES]) {
    char buf[PATH_MAX + 256];
    if (strlen(text) >= sizeof(buf))
        return fail(err, "--function: too long");
    snprintf(buf, sizeof(buf), "%s", text);
    char *eq = strchr(buf, '=');
    if (eq == NULL)
        return fail(err, "--function '%s': expected NAME=DIR[,timeout=S,...]", text);
    *eq = '\0';
    char *save, *dir = strtok_r(eq + 1, ",", &save);
    struct fc_function *f = function_new(cat, "default", buf, err);
    if (f == NULL)
        return -EINVAL;
    f->http_trigger = f->http_anonymous = true;
    f->http_methods = FC_METHOD_ALL;
    int rc = 0;
    for (char *opt; rc == 0 && (opt = strtok_r(NULL, ",", &save)) != NULL;) {
        char *v = strchr(opt, '=');
        rc = v ? (*v = '\0', flag_option(f, opt, v + 1, err))
               : fail(err, "--function %s: option '%s' needs =VALUE", f->name, opt);
    }
    if (rc == 0)
        rc = function_finish(cat, f, dir, err);
    if (rc < 0)
        function_free(f);
    return rc;
}

static uint32_t name_hash(const char *svc, size_t svc_len, const char *fn, size_t fn_len) {
    uint32_t h = 2166136261u; /* FNV-1a over "svc/fn" */
    for (size_t i = 0; i < svc_len; i++)
        h = (h ^ (uint8_t)svc[i]) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (size_t i = 0; i < fn_len; i++)
        h = (h ^ (uint8_t)fn[i]) * 16777619u;
    return h;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int fc_catalog_add_service(struct fc_catalog *cat, const char *name) {
    char **grown = realloc(cat->services, (cat->services_count + 1) * sizeof(*grown));
    if (grown == NULL)
        return -ENOMEM;
    cat->services = grown;
    cat->services[cat->services_count] = strdup(name);
    if (cat->services[cat->services_count] == NULL)
        return -ENOMEM;
    cat->services_count++;
    return 0;
}

/* Every function's service into the sorted, unique service list. */
static int seal_services(struct fc_catalog *cat) {
    for (uint32_t id = 0; id < cat->count; id++)
        if (cat->functions[id] && fc_catalog_add_service(cat, cat->functions[id]->service) < 0)
            return -ENOMEM;
    if (cat->services_count == 0)
        return 0;
    qsort(cat->services, cat->services_count, sizeof(*cat->services), name_cmp);
    uint32_t kept = 1;
    for (uint32_t i = 1; i < cat->services_count; i++) {
        if (strcmp(cat->services[i], cat->services[kept - 1]) == 0)
            free(cat->services[i]);
        else
            cat->services[kept++] = cat->services[i];
    }
    cat->services_count = kept;
    return 0;
}

int fc_catalog_seal(struct fc_catalog *cat) {
    uint32_t size = 16;
    while (size < cat->count * 2)
        size *= 2;
    free(cat->hash);
    cat->hash = calloc(size, sizeof(*cat->hash));
    if (cat->hash == NULL || seal_services(cat) < 0)
        return -ENOMEM;
    cat->hash_mask = size - 1;
    for (uint32_t id = 0; id < cat->count; id++) {
        const struct fc_function *f = cat->functions[id];
        if (f == NULL)
            continue;
        FC_ASSERT(f->id == id);
        uint32_t i = name_hash(f->service, strlen(f->service), f->name, strlen(f->name));
        while (cat->hash[i & cat->hash_mask] != 0)
            i++;
        cat->hash[i & cat->hash_mask] = id + 1;
    }
    return 0;
}

static bool names_equal(const struct fc_function *f, const char *svc, size_t svc_len,
                        const char *fn, size_t fn_len) {
    return strlen(f->service) == svc_len && memcmp(f->service, svc, svc_len) == 0 &&
           strlen(f->name) == fn_len && memcmp(f->name, fn, fn_len) == 0;
}

const struct fc_function *fc_catalog_find(const struct fc_catalog *cat, const char *service,
                                          size_t service_len, const char *name, size_t name_len) {
    if (cat->hash == NULL) { /* still being built: its builder only */
        for (uint32_t id = 0; id < cat->count; id++)
            if (cat->functions[id] &&
                names_equal(cat->functions[id], service, service_len, name, name_len))
                return cat->functions[id];
        return NULL;
    }
    for (uint32_t i = name_hash(service, service_len, name, name_len);; i++) {
        uint32_t slot = cat->hash[i & cat->hash_mask];
        if (slot == 0)
            return NULL;
        const struct fc_function *f = cat->functions[slot - 1];
        if (names_equal(f, service, service_len, name, name_len))
            return f;
    }
}

bool fc_catalog_has_service(const struct fc_catalog *cat, const char *service, size_t len) {
    uint32_t lo = 0, hi = cat->services_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const char *s = cat->services[mid];
        size_t slen = strlen(s);
        int c = memcmp(s, service, slen < len ? slen : len);
        if (c == 0)
            c = slen < len ? -1 : slen > len ? 1 : 0;
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

void fc_catalog_free(struct fc_catalog *cat) {
    for (uint32_t id = 0; id < cat->count; id++)
        if (cat->functions[id])
            fc_function_unref(cat->functions[id]);
    for (uint32_t i = 0; i < cat->services_count; i++)
        free(cat->services[i]);
    free(cat->services);
    free(cat->hash);
    cat->services = NULL;
    cat->services_count = 0;
    cat->hash = NULL;
    cat->count = 0;
}

void fc_function_unref(const struct fc_function *f) {
    /* acq_rel: the last holder must see every other holder's use finished. */
    if (atomic_fetch_sub_explicit(&((struct fc_function *)f)->refs, 1, memory_order_acq_rel) == 1)
        function_free((struct fc_function *)f);
}

struct fc_catalog *fc_catalog_new(void) {
    struct fc_catalog *cat = calloc(1, sizeof(*cat));
    if (cat != NULL)
        atomic_init(&cat->refs, 1);
    return cat;
}

void fc_catalog_put(struct fc_catalog *cat, struct fc_function *f) {
    FC_ASSERT(f->id < FC_FUNCTIONS_MAX && cat->functions[f->id] == NULL && cat->hash == NULL);
    fc_function_ref(f);
    cat->functions[f->id] = f;
    if (f->id >= cat->count)
        cat->count = f->id + 1;
}

void fc_catalog_unref(struct fc_catalog *cat) {
    if (cat == NULL ||
        atomic_fetch_sub_explicit(&cat->refs, 1, memory_order_acq_rel) != 1) /* as above */
        return;
    fc_catalog_free(cat);
    free(cat);
}

void fc_registry_init(struct fc_registry *r, struct fc_catalog *initial) {
    pthread_mutex_init(&r->lock, NULL);
    r->current = initial;
    initial->generation = 1;
    atomic_init(&r->generation, 1);
}

void fc_registry_publish(struct fc_registry *r, struct fc_catalog *next) {
    pthread_mutex_lock(&r->lock);
    struct fc_catalog *old = r->current;
    next->generation = old->generation + 1;
    r->current = next;
    /* Relaxed: readers that see it take the lock, which orders the catalog. */
    atomic_store_explicit(&r->generation, next->generation, memory_order_relaxed);
    pthread_mutex_unlock(&r->lock);
    fc_catalog_unref(old);
}

void fc_registry_view_refresh(struct fc_registry *r, struct fc_catalog_view *v) {
    pthread_mutex_lock(&r->lock);
    struct fc_catalog *old = v->cat;
    v->cat = r->current;
    v->generation = v->cat->generation;
    atomic_fetch_add_explicit(&v->cat->refs, 1, memory_order_relaxed); /* under the lock */
    pthread_mutex_unlock(&r->lock);
    fc_catalog_unref(old);
}

void fc_registry_view_release(struct fc_catalog_view *v) {
    fc_catalog_unref(v->cat);
    v->cat = NULL;
    v->generation = 0;
}

void fc_registry_destroy(struct fc_registry *r) {
    fc_catalog_unref(r->current);
    r->current = NULL;
    pthread_mutex_destroy(&r->lock);
}
