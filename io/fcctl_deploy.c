/* fcctl_deploy.c — `fcctl deploy`: a Funcraft template.yml (ROS format,
 * Transform Aliyun::Serverless-2018-04-03) to FC API calls.
 *
 * Three steps, so that a local mistake changes nothing on the server:
 *   1. load: the YAML (libyaml's document API) becomes a jansson tree;
 *   2. plan: the tree is checked and turned into API bodies, and every
 *      function's CodeUri is zipped and base64-encoded;
 *   3. apply: per service, function and event, GET it, then create (POST)
 *      on 404 or update (PUT) on 200; one line of output per resource.
 *
 * YAML scalars resolve as js-yaml's default schema does (Funcraft is
 * written with js-yaml): plain true/false, null/~/empty, integers and
 * floats get their types; quoted scalars stay strings. Local tags (!Ref,
 * !GetAtt) are refused. Properties fcctl does not know are skipped with a
 * warning; resources other than services (and the functions inside them)
 * likewise. */
#include "io/fcctl.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "core/assert.h"

#define TEMPLATE_VERSION "2015-09-01"
#define TEMPLATE_TRANSFORM "Aliyun::Serverless-2018-04-03"
#define TYPE_SERVICE "Aliyun::Serverless::Service"
#define TYPE_FUNCTION "Aliyun::Serverless::Function"
#define SERVICE_NAME_MAX 128u
#define FUNCTION_NAME_MAX 64u
#define TRIGGER_NAME_MAX 128u
#define WHERE_BYTES 256u /* template paths in messages */

/* ---- YAML -> JSON ------------------------------------------------------------------ */

struct yconv {
    yaml_document_t *doc;
    uint32_t nodes;
    const char *file;
    char *err;
};

static json_t *ynode(struct yconv *y, yaml_node_t *n, uint32_t depth);

/* A plain scalar's value per the core schema; quoted ones are strings. */
static json_t *yscalar(const yaml_node_t *n) {
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || strlen(s) != len)
        return json_stringn(s, len);
    if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0)
        return json_null();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return json_true();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return json_false();
    const char *d = s + (s[0] == '-' || s[0] == '+');
    size_t digits = strspn(d, "0123456789");
    if (digits > 0 && d[digits] == '\0') {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno == 0)
            return json_integer(v);
    }
    if ((digits > 0 || d[0] == '.') && strspn(d, "0123456789.eE+-") == strlen(d)) {
        char *end;
        double v = strtod(s, &end);
        if (*end == '\0')
            return json_real(v);
    }
    return json_stringn(s, len);
}

static json_t *ymapping(struct yconv *y, yaml_node_t *n, uint32_t depth) {
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; o && p < n->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        if (k == NULL || k->type != YAML_SCALAR_NODE) {
            snprintf(y->err, FCCTL_ERR_BYTES, "%s:%zu: a mapping key must be a scalar", y->file,
                     n->start_mark.line + 1);
            json_decref(o);
            return NULL;
        }
        const char *key = (const char *)k->data.scalar.value;
        json_t *v = ynode(y, yaml_document_get_node(y->doc, p->value), depth + 1);
        if (v != NULL && json_object_get(o, key) != NULL) {
            snprintf(y->err, FCCTL_ERR_BYTES, "%s:%zu: duplicate key '%s'", y->file,
                     k->start_mark.line + 1, key);
            json_decref(v);
            v = NULL;
        }
        if (v == NULL || json_object_set_new(o, key, v) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *ynode(struct yconv *y, yaml_node_t *n, uint32_t depth) {
    if (n == NULL)
        return snprintf(y->err, FCCTL_ERR_BYTES, "%s: broken YAML document", y->file), NULL;
    if (++y->nodes > FCCTL_YAML_NODES_MAX || depth > FCCTL_YAML_DEPTH_MAX) {
        snprintf(y->err, FCCTL_ERR_BYTES, "%s:%zu: more than %u nodes or %u levels", y->file,
                 n->start_mark.line + 1, FCCTL_YAML_NODES_MAX, FCCTL_YAML_DEPTH_MAX);
        return NULL;
    }
    const char *tag = (const char *)n->tag;
    if (tag != NULL && tag[0] == '!') {
        snprintf(y->err, FCCTL_ERR_BYTES, "%s:%zu: YAML tag %s is not supported", y->file,
                 n->start_mark.line + 1, tag);
        return NULL;
    }
    json_t *v = NULL;
    if (n->type == YAML_SCALAR_NODE) {
        v = yscalar(n);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        v = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start;
             v && i < n->data.sequence.items.top; i++) {
            json_t *e = ynode(y, yaml_document_get_node(y->doc, *i), depth + 1);
            if (e == NULL || json_array_append_new(v, e) < 0)
                json_decref(v), v = NULL;
        }
        return v;
    } else if (n->type == YAML_MAPPING_NODE) {
        return ymapping(y, n, depth);
    }
    if (v == NULL && y->err[0] == '\0')
        snprintf(y->err, FCCTL_ERR_BYTES, "%s:%zu: not valid UTF-8", y->file,
                 n->start_mark.line + 1);
    return v;
}

/* Parse the YAML text into a JSON tree. Returns it, or NULL with err set. */
static json_t *yaml_to_json(const char *text, size_t len, const char *file, char *err) {
    yaml_parser_t parser;
    yaml_document_t doc;
    FC_ASSERT(yaml_parser_initialize(&parser) == 1);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    json_t *out = NULL;
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, FCCTL_ERR_BYTES, "%s:%zu:%zu: %s", file, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "bad YAML");
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    struct yconv y = {&doc, 0, file, err};
    if (root == NULL)
        snprintf(err, FCCTL_ERR_BYTES, "%s: empty document", file);
    else
        out = ynode(&y, root, 0);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return out;
}

/* ---- plan -------------------------------------------------------------------------- */

/* A check failed: the message names the template path of the value. */
struct planner {
    const char *file;
    const char *base_dir; /* CodeUri is relative to it */
    char *err;
};

static int perr(struct planner *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct planner *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(p->err, FCCTL_ERR_BYTES / 2, "%s: ", p->file);
    n = n < (int)FCCTL_ERR_BYTES / 2 ? n : (int)FCCTL_ERR_BYTES / 2 - 1; /* a long path: cut */
    vsnprintf(p->err + n, FCCTL_ERR_BYTES - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* A template path for messages ("Resources.svc.fn.Properties"), cut with
 * "..." past WHERE_BYTES. */
static void where_fmt(char out[WHERE_BYTES], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void where_fmt(char out[WHERE_BYTES], const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, WHERE_BYTES, fmt, ap);
    va_end(ap);
    if (n >= (int)WHERE_BYTES)
        strcpy(out + WHERE_BYTES - 4, "...");
}

static bool name_ok(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n == 0 || n > max || (s[0] >= '0' && s[0] <= '9') || s[0] == '-')
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

enum pkind { P_STRING, P_INT, P_BOOL, P_NUMBER, P_OBJECT, P_ARRAY, P_ENV, P_SKIP };

struct prop {
    const char *yaml; /* key in the template */
    const char *api;  /* key in the API body */
    enum pkind kind;
};

static const struct prop service_props[] = {
    {"Description", "description", P_STRING},
    {"Role", "role", P_STRING},
    {"InternetAccess", "internetAccess", P_BOOL},
    {"LogConfig", "logConfig", P_OBJECT},
    {"VpcConfig", "vpcConfig", P_OBJECT},
    {"NasConfig", "nasConfig", P_OBJECT},
    {"TracingConfig", "tracingConfig", P_OBJECT},
    {"OssMountConfig", "ossMountConfig", P_OBJECT},
    {NULL, NULL, P_SKIP},
};

static const struct prop function_props[] = {
    {"Runtime", "runtime", P_STRING},
    {"Handler", "handler", P_STRING},
    {"CodeUri", NULL, P_SKIP}, /* zipped by plan_code */
    {"Timeout", "timeout", P_INT},
    {"MemorySize", "memorySize", P_INT},
    {"InstanceConcurrency", "instanceConcurrency", P_INT},
    {"CAPort", "caPort", P_INT},
    {"EnvironmentVariables", "environmentVariables", P_ENV},
    {"Initializer", "initializer", P_STRING},
    {"InitializationTimeout", "initializationTimeout", P_INT},
    {"Description", "description", P_STRING},
    {"InstanceType", "instanceType", P_STRING},
    {"InstanceLifecycleConfig", "instanceLifecycleConfig", P_OBJECT},
    {"CustomRuntimeConfig", "customRuntimeConfig", P_OBJECT},
    {"CustomContainerConfig", "customContainerConfig", P_OBJECT},
    {"CustomHealthCheckConfig", "customHealthCheckConfig", P_OBJECT},
    {"CustomDNS", "customDNS", P_OBJECT},
    {"Cpu", "cpu", P_NUMBER},
    {"DiskSize", "diskSize", P_INT},
    {"GpuMemorySize", "gpuMemorySize", P_INT},
    {"InstanceSoftConcurrency", "instanceSoftConcurrency", P_INT},
    {"Layers", "layers", P_ARRAY},
    {NULL, NULL, P_SKIP},
};

/* A deep copy of v whose object keys start lower-case (VpcId -> vpcId),
 * as the API spells the nested fields of LogConfig, VpcConfig, ... */
static json_t *lower_keys(const json_t *v) {
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            json_array_append_new(a, lower_keys(e));
        }
        return a;
    }
    if (!json_is_object(v))
        return json_deep_copy(v);
    json_t *o = json_object();
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e) {
        char key[256];
        snprintf(key, sizeof(key), "%s", k);
        if (key[0] >= 'A' && key[0] <= 'Z')
            key[0] = (char)(key[0] - 'A' + 'a');
        json_object_set_new(o, key, lower_keys(e));
    }
    return o;
}

/* EnvironmentVariables: a map of scalars, all sent as strings. */
static json_t *env_map(struct planner *p, const char *where, const json_t *v) {
    json_t *o = json_object();
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e) {
        char *text = json_is_string(e) ? strdup(json_string_value(e))
                     : json_is_number(e) || json_is_boolean(e)
                         ? json_dumps(e, JSON_ENCODE_ANY | JSON_COMPACT)
                         : NULL;
        if (text == NULL) {
            json_decref(o);
            perr(p, "%s.%s: expected a string", where, k);
            return NULL;
        }
        json_object_set_new(o, k, json_string(text));
        free(text);
    }
    return o;
}

/* One property value converted per its kind, or NULL (p->err says why). */
static json_t *prop_value(struct planner *p, const char *where, const struct prop *pr,
                          const json_t *v) {
    static const char *const want[] = {"a string",  "an integer", "true or false", "a number",
                                       "a mapping", "a list",     "a mapping",     ""};
    bool ok = pr->kind == P_STRING   ? json_is_string(v)
              : pr->kind == P_INT    ? json_is_integer(v)
              : pr->kind == P_BOOL   ? json_is_boolean(v)
              : pr->kind == P_NUMBER ? json_is_number(v)
              : pr->kind == P_ARRAY  ? json_is_array(v)
                                     : json_is_object(v);
    if (!ok)
        return perr(p, "%s.%s: expected %s", where, pr->yaml, want[pr->kind]), NULL;
    if (pr->kind == P_ENV)
        return env_map(p, where, v);
    return pr->kind == P_OBJECT || pr->kind == P_ARRAY ? lower_keys(v) : json_deep_copy(v);
}

/* Properties (a mapping or absent) into a new API body per table. */
static json_t *map_props(struct planner *p, const char *where, const json_t *props,
                         const struct prop *table) {
    if (props != NULL && !json_is_object(props))
        return perr(p, "%s: expected a mapping", where), NULL;
    json_t *body = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)props, k, v) {
        const struct prop *pr = table;
        while (pr->yaml != NULL && strcmp(pr->yaml, k) != 0)
            pr++;
        if (pr->yaml == NULL) {
            fprintf(stderr, "fcctl: warning: %s: %s.%s is not supported, skipped\n", p->file, where,
                    k);
            continue;
        }
        if (pr->kind == P_SKIP || json_is_null(v))
            continue;
        json_t *value = prop_value(p, where, pr, v);
        if (value == NULL) {
            json_decref(body);
            return NULL;
        }
        json_object_set_new(body, pr->api, value);
    }
    return body;
}

/* An HTTP event's triggerConfig. */
static json_t *http_config(struct planner *p, const char *where, const json_t *props) {
    const char *auth = json_string_value(json_object_get(props, "AuthType"));
    const json_t *methods = json_object_get(props, "Methods");
    if (auth == NULL || (strcasecmp(auth, "anonymous") != 0 && strcasecmp(auth, "function") != 0))
        return perr(p, "%s.AuthType: expected ANONYMOUS or FUNCTION", where), NULL;
    if (!json_is_array(methods) || json_array_size(methods) == 0)
        return perr(p, "%s.Methods: expected a list such as [GET, POST]", where), NULL;
    json_t *m = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach(methods, i, e) {
        char up[16];
        const char *s = json_string_value(e);
        if (s == NULL || strlen(s) == 0 || strlen(s) >= sizeof(up)) {
            json_decref(m);
            return perr(p, "%s.Methods[%zu]: expected an HTTP method", where, i), NULL;
        }
        for (size_t j = 0; j <= strlen(s); j++)
            up[j] = s[j] >= 'a' && s[j] <= 'z' ? (char)(s[j] - 'a' + 'A') : s[j];
        json_array_append_new(m, json_string(up));
    }
    const char *lower = strcasecmp(auth, "function") == 0 ? "function" : "anonymous";
    return json_pack("{s:s,s:o}", "authType", lower, "methods", m);
}

/* A Timer event's triggerConfig. */
static json_t *timer_config(struct planner *p, const char *where, const json_t *props) {
    const char *cron = json_string_value(json_object_get(props, "CronExpression"));
    const json_t *payload = json_object_get(props, "Payload");
    const json_t *enable = json_object_get(props, "Enable");
    if (cron == NULL || cron[0] == '\0')
        return perr(p, "%s.CronExpression: expected a string", where), NULL;
    if (enable != NULL && !json_is_boolean(enable))
        return perr(p, "%s.Enable: expected true or false", where), NULL;
    char *text = payload == NULL || json_is_null(payload) ? strdup("")
                 : json_is_string(payload)                ? strdup(json_string_value(payload))
                                           : json_dumps(payload, JSON_ENCODE_ANY | JSON_COMPACT);
    json_t *cfg = json_pack("{s:s,s:s,s:b}", "cronExpression", cron, "payload", text ? text : "",
                            "enable", enable == NULL || json_is_true(enable));
    free(text);
    return cfg;
}

/* Warn about the keys of props that known[] does not list. */
static void warn_unknown(struct planner *p, const char *where, const json_t *props,
                         const char *const *known) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)props, k, v) {
        const char *const *kn = known;
        while (*kn != NULL && strcmp(*kn, k) != 0)
            kn++;
        if (*kn == NULL)
            fprintf(stderr, "fcctl: warning: %s: %s.%s is not supported, skipped\n", p->file, where,
                    k);
    }
}

/* One event: {"name", "body": {triggerType, triggerConfig[, qualifier...]}}. */
static json_t *plan_event(struct planner *p, const char *where, const char *name,
                          const json_t *ev) {
    static const char *const http_keys[] = {"AuthType",       "Methods",     "Qualifier",
                                            "InvocationRole", "Description", NULL};
    static const char *const timer_keys[] = {"CronExpression", "Payload",     "Enable", "Qualifier",
                                             "InvocationRole", "Description", NULL};
    char at[WHERE_BYTES];
    where_fmt(at, "%s.%s", where, name);
    if (!name_ok(name, TRIGGER_NAME_MAX))
        return perr(p, "%s: a trigger name is 1 to %u letters, digits, '_' or '-'", at,
                    TRIGGER_NAME_MAX),
               NULL;
    const char *type = json_string_value(json_object_get(ev, "Type"));
    const json_t *props = json_object_get(ev, "Properties");
    if (type == NULL || !json_is_object(props))
        return perr(p, "%s: expected Type and Properties", at), NULL;
    bool http = strcasecmp(type, "HTTP") == 0;
    if (!http && strcasecmp(type, "Timer") != 0)
        return perr(p, "%s: event type %s is not supported (HTTP, Timer)", at, type), NULL;
    char props_at[WHERE_BYTES];
    where_fmt(props_at, "%s.Properties", at);
    json_t *cfg = http ? http_config(p, props_at, props) : timer_config(p, props_at, props);
    if (cfg == NULL)
        return NULL;
    warn_unknown(p, props_at, props, http ? http_keys : timer_keys);
    json_t *body =
        json_pack("{s:s,s:o}", "triggerType", http ? "http" : "timer", "triggerConfig", cfg);
    static const char *const extra[][2] = {{"Qualifier", "qualifier"},
                                           {"InvocationRole", "invocationRole"},
                                           {"Description", "description"}};
    for (size_t i = 0; i < 3; i++) {
        const json_t *v = json_object_get(props, extra[i][0]);
        if (v != NULL && !json_is_string(v)) {
            json_decref(body);
            return perr(p, "%s.%s: expected a string", props_at, extra[i][0]), NULL;
        }
        if (v != NULL)
            json_object_set_new(body, extra[i][1], json_deep_copy(v));
    }
    return json_pack("{s:s,s:o}", "name", name, "body", body);
}

/* CodeUri -> body.code.zipFile (base64 of the zip); notes the zip size. */
static int plan_code(struct planner *p, const char *where, const char *uri, json_t *body,
                     json_t *fn) {
    if (strncasecmp(uri, "oss://", 6) == 0)
        return perr(p, "%s.CodeUri: oss:// code is not supported", where);
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s%s%s", uri[0] == '/' ? "" : p->base_dir,
                 uri[0] == '/' ? "" : "/", uri) >= (int)sizeof(path))
        return perr(p, "%s.CodeUri: path too long", where);
    void *zip = NULL;
    size_t zip_len = 0;
    char zerr[FCCTL_ERR_BYTES];
    int rc = fcctl_zip_code(path, &zip, &zip_len, zerr);
    if (rc < 0)
        return perr(p, "%s.CodeUri: %s", where, zerr);
    struct fc_buf b64 = {0};
    rc = fc_buf_base64(&b64, zip, zip_len);
    free(zip);
    json_t *s = rc == 0 ? json_stringn(b64.data, b64.len) : NULL;
    fc_buf_free(&b64);
    if (s == NULL)
        return perr(p, "out of memory");
    json_object_set_new(body, "code", json_pack("{s:o}", "zipFile", s));
    json_object_set_new(fn, "codeBytes", json_integer((json_int_t)zip_len));
    return 0;
}

/* One function: {"name", "body", "codeBytes"?, "triggers": [...]}. */
static json_t *plan_function(struct planner *p, const char *svc, const char *name,
                             const json_t *def) {
    char at[WHERE_BYTES];
    where_fmt(at, "Resources.%s.%s", svc, name);
    const char *type = json_string_value(json_object_get(def, "Type"));
    if (!json_is_object(def) || type == NULL || strcmp(type, TYPE_FUNCTION) != 0)
        return perr(p, "%s: expected Type: " TYPE_FUNCTION, at), NULL;
    if (!name_ok(name, FUNCTION_NAME_MAX))
        return perr(p, "%s: a function name is 1 to %u letters, digits, '_' or '-'", at,
                    FUNCTION_NAME_MAX),
               NULL;
    static const char *const keys[] = {"Type", "Properties", "Events", "Metadata", NULL};
    warn_unknown(p, at, def, keys);
    const json_t *props = json_object_get(def, "Properties");
    char where[WHERE_BYTES];
    where_fmt(where, "%s.Properties", at);
    json_t *body = map_props(p, where, props, function_props);
    if (body == NULL)
        return NULL;
    json_t *fn = json_pack("{s:s,s:o,s:[]}", "name", name, "body", body, "triggers");
    const json_t *uri = json_object_get(props, "CodeUri");
    const json_t *events = json_object_get(def, "Events");
    if (json_object_get(body, "runtime") == NULL) {
        perr(p, "%s.Runtime: required", where);
        goto fail;
    }
    if (uri != NULL && !json_is_string(uri)) {
        perr(p, "%s.CodeUri: expected a path", where);
        goto fail;
    }
    if (uri != NULL && plan_code(p, where, json_string_value(uri), body, fn) < 0)
        goto fail;
    if (events != NULL && !json_is_object(events)) {
        perr(p, "%s.Events: expected a mapping", at);
        goto fail;
    }
    where_fmt(where, "%s.Events", at);
    const char *k;
    json_t *ev;
    json_object_foreach((json_t *)events, k, ev) {
        json_t *t = plan_event(p, where, k, ev);
        if (t == NULL)
            goto fail;
        json_array_append_new(json_object_get(fn, "triggers"), t);
    }
    return fn;
fail:
    json_decref(fn);
    return NULL;
}

/* One service: {"name", "body", "functions": [...]}. */
static json_t *plan_service(struct planner *p, const char *name, const json_t *def) {
    if (!name_ok(name, SERVICE_NAME_MAX))
        return perr(p, "Resources.%s: a service name is 1 to %u letters, digits, '_' or '-'", name,
                    SERVICE_NAME_MAX),
               NULL;
    char where[WHERE_BYTES];
    where_fmt(where, "Resources.%s.Properties", name);
    json_t *body = map_props(p, where, json_object_get(def, "Properties"), service_props);
    json_t *svc =
        body ? json_pack("{s:s,s:o,s:[]}", "name", name, "body", body, "functions") : NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(svc ? def : NULL), k, v) {
        if (strcmp(k, "Type") == 0 || strcmp(k, "Properties") == 0 || strcmp(k, "Metadata") == 0)
            continue;
        json_t *fn = plan_function(p, name, k, v);
        if (fn == NULL) {
            json_decref(svc);
            return NULL;
        }
        json_array_append_new(json_object_get(svc, "functions"), fn);
    }
    return svc;
}

/* The whole template: an array of planned services. */
static json_t *plan_template(struct planner *p, const json_t *tpl) {
    const char *version = json_string_value(json_object_get(tpl, "ROSTemplateFormatVersion"));
    const char *transform = json_string_value(json_object_get(tpl, "Transform"));
    const json_t *res = json_object_get(tpl, "Resources");
    if (!json_is_object(tpl))
        return perr(p, "expected a mapping at the top"), NULL;
    if (version == NULL || strcmp(version, TEMPLATE_VERSION) != 0)
        return perr(p, "ROSTemplateFormatVersion: expected '" TEMPLATE_VERSION "'"), NULL;
    if (transform == NULL || strcmp(transform, TEMPLATE_TRANSFORM) != 0)
        return perr(p, "Transform: expected '" TEMPLATE_TRANSFORM "'"), NULL;
    if (!json_is_object(res))
        return perr(p, "Resources: expected a mapping"), NULL;
    json_t *plan = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)res, k, v) {
        const char *type = json_string_value(json_object_get(v, "Type"));
        if (type == NULL || strcmp(type, TYPE_SERVICE) != 0) {
            fprintf(stderr,
                    "fcctl: warning: %s: Resources.%s: type %s is not supported, "
                    "skipped\n",
                    p->file, k, type ? type : "(none)");
            continue;
        }
        json_t *svc = plan_service(p, k, v);
        if (svc == NULL) {
            json_decref(plan);
            return NULL;
        }
        json_array_append_new(plan, svc);
    }
    if (json_array_size(plan) == 0) {
        json_decref(plan);
        return perr(p, "Resources: no " TYPE_SERVICE), NULL;
    }
    return plan;
}

/* ---- apply ------------------------------------------------------------------------- */

/* What one upsert is about. Strings are borrowed. */
struct upsert {
    const char *kind;     /* "service", "function", "trigger" */
    const char *display;  /* "svc/fn" */
    const char *item;     /* target of the resource */
    const char *coll;     /* target of its collection (POST) */
    const char *name_key; /* "serviceName", ... (sent on create only) */
    const char *name;
    const json_t *body;
    const char *note; /* appended to the output line */
};

/* GET the resource; 404: is absent, 2xx: exists (a trigger must keep its
 * type: FC cannot change it). Returns an exit code. */
static int probe(struct fcctl *c, const struct upsert *u, bool *exists) {
    struct fcctl_request req = {.method = "GET", .target = u->item};
    struct fcctl_response r;
    int rc = fcctl_http_exchange(c, &req, &r);
    if (rc < 0)
        return fcctl_report_transport(c, rc);
    *exists = r.status >= 200 && r.status <= 299;
    rc = *exists || r.status == 404 ? FCCTL_EXIT_OK : fcctl_report_server(c, &r);
    const char *want = json_string_value(json_object_get(u->body, "triggerType"));
    json_t *doc = rc == 0 && *exists && want != NULL ? fcctl_response_json(&r) : NULL;
    const char *have = json_string_value(json_object_get(doc, "triggerType"));
    if (have != NULL && strcmp(have, want) != 0)
        rc = fcctl_fail(FCCTL_EXIT_LOCAL,
                        "trigger %s is of type %s in fcd and %s in the template: "
                        "delete it first (fcctl trigger delete %s)",
                        u->display, have, want, u->display);
    json_decref(doc);
    fcctl_response_free(&r);
    return rc;
}

static int upsert(struct fcctl *c, const struct upsert *u, json_t *report) {
    bool exists = false;
    int rc = probe(c, u, &exists);
    if (rc != FCCTL_EXIT_OK)
        return rc;
    json_t *send = json_deep_copy(u->body);
    if (exists)
        json_object_del(send, "triggerType"); /* not a field of UpdateTrigger */
    else
        json_object_set_new(send, u->name_key, json_string(u->name));
    char *text = json_dumps(send, JSON_COMPACT);
    json_decref(send);
    if (text == NULL)
        return fcctl_fail(FCCTL_EXIT_LOCAL, "out of memory");
    struct fcctl_request req = {.method = exists ? "PUT" : "POST",
                                .target = exists ? u->item : u->coll,
                                .content_type = "application/json",
                                .body = text,
                                .body_len = strlen(text)};
    struct fcctl_response r;
    rc = fcctl_api(c, &req, &r);
    free(text);
    if (rc != FCCTL_EXIT_OK)
        return rc;
    const char *action = exists ? "updated" : "created";
    if (report != NULL) {
        json_t *doc = json_loadb(r.body, r.body_len, 0, NULL);
        json_array_append_new(report, json_pack("{s:s,s:s,s:s,s:o?}", "resource", u->kind, "name",
                                                u->display, "action", action, "response", doc));
    } else {
        printf("%s %s %s%s\n", action, u->kind, u->display, u->note);
        fflush(stdout);
    }
    fcctl_response_free(&r);
    return FCCTL_EXIT_OK;
}

/* The triggers of one planned function. */
static int apply_triggers(struct fcctl *c, const char *svc, const char *fn, const json_t *triggers,
                          json_t *report) {
    struct fc_buf item = {0}, coll = {0};
    size_t i;
    const json_t *t;
    int rc = FCCTL_EXIT_OK;
    json_array_foreach(triggers, i, t) {
        const char *name = json_string_value(json_object_get(t, "name"));
        char suffix[16 + TRIGGER_NAME_MAX], display[3 * FCCTL_NAME_BYTES_MAX];
        snprintf(suffix, sizeof(suffix), "/triggers/%s", name); /* name_ok: no escaping */
        snprintf(display, sizeof(display), "%s/%s/%s", svc, fn, name);
        if (fcctl_target(&item, svc, NULL, fn, suffix) < 0 ||
            fcctl_target(&coll, svc, NULL, fn, "/triggers") < 0) {
            rc = fcctl_fail(FCCTL_EXIT_LOCAL, "out of memory");
            break;
        }
        struct upsert u = {.kind = "trigger",
                           .display = display,
                           .item = item.data,
                           .coll = coll.data,
                           .name_key = "triggerName",
                           .name = name,
                           .body = json_object_get(t, "body"),
                           .note = ""};
        if ((rc = upsert(c, &u, report)) != FCCTL_EXIT_OK)
            break;
    }
    fc_buf_free(&item);
    fc_buf_free(&coll);
    return rc;
}

/* The functions (and their triggers) of one planned service. */
static int apply_functions(struct fcctl *c, const char *svc, const json_t *fns, json_t *report) {
    struct fc_buf item = {0}, coll = {0};
    size_t i;
    const json_t *f;
    int rc = FCCTL_EXIT_OK;
    json_array_foreach(fns, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        char display[2 * FCCTL_NAME_BYTES_MAX], note[64] = "";
        snprintf(display, sizeof(display), "%s/%s", svc, name);
        const json_t *bytes = json_object_get(f, "codeBytes");
        if (bytes != NULL)
            snprintf(note, sizeof(note), " (code: %lld bytes zipped)",
                     (long long)json_integer_value(bytes));
        if (fcctl_target(&item, svc, NULL, name, NULL) < 0 ||
            fcctl_target(&coll, svc, NULL, NULL, "/functions") < 0) {
            rc = fcctl_fail(FCCTL_EXIT_LOCAL, "out of memory");
            break;
        }
        struct upsert u = {.kind = "function",
                           .display = display,
                           .item = item.data,
                           .coll = coll.data,
                           .name_key = "functionName",
                           .name = name,
                           .body = json_object_get(f, "body"),
                           .note = note};
        rc = upsert(c, &u, report);
        if (rc == FCCTL_EXIT_OK)
            rc = apply_triggers(c, svc, name, json_object_get(f, "triggers"), report);
        if (rc != FCCTL_EXIT_OK)
            break;
    }
    fc_buf_free(&item);
    fc_buf_free(&coll);
    return rc;
}

static int apply(struct fcctl *c, const json_t *plan, json_t *report) {
    struct fc_buf item = {0};
    size_t i;
    const json_t *s;
    int rc = FCCTL_EXIT_OK;
    json_array_foreach(plan, i, s) {
        const char *name = json_string_value(json_object_get(s, "name"));
        if (fcctl_target(&item, name, NULL, NULL, NULL) < 0) {
            rc = fcctl_fail(FCCTL_EXIT_LOCAL, "out of memory");
            break;
        }
        struct upsert u = {.kind = "service",
                           .display = name,
                           .item = item.data,
                           .coll = "/" FCCTL_API_VERSION "/services",
                           .name_key = "serviceName",
                           .name = name,
                           .body = json_object_get(s, "body"),
                           .note = ""};
        rc = upsert(c, &u, report);
        if (rc == FCCTL_EXIT_OK)
            rc = apply_functions(c, name, json_object_get(s, "functions"), report);
        if (rc != FCCTL_EXIT_OK)
            break;
    }
    fc_buf_free(&item);
    return rc;
}

/* ---- the command ------------------------------------------------------------------- */

/* The template file of arg (a file, or DIR/template.yml / DIR/template.yaml)
 * into path; dir gets its directory. Returns an exit code. */
static int find_template(const char *arg, char path[PATH_MAX], char dir[PATH_MAX]) {
    struct stat st;
    if (stat(arg, &st) < 0)
        return fcctl_fail(FCCTL_EXIT_LOCAL, "%s: %s", arg, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        static const char *const names[] = {"template.yml", "template.yaml"};
        for (size_t i = 0; i < 2; i++) {
            if (snprintf(path, PATH_MAX, "%s/%s", arg, names[i]) >= PATH_MAX)
                return fcctl_fail(FCCTL_EXIT_LOCAL, "%s: path too long", arg);
            if (stat(path, &st) == 0) {
                snprintf(dir, PATH_MAX, "%s", arg);
                return FCCTL_EXIT_OK;
            }
        }
        return fcctl_fail(FCCTL_EXIT_LOCAL, "%s: no template.yml or template.yaml in it", arg);
    }
    if (strlen(arg) >= PATH_MAX)
        return fcctl_fail(FCCTL_EXIT_LOCAL, "%s: path too long", arg);
    strcpy(path, arg);
    const char *slash = strrchr(arg, '/');
    snprintf(dir, PATH_MAX, "%.*s", slash ? (int)(slash - arg) : 1, slash ? arg : ".");
    if (dir[0] == '\0')
        strcpy(dir, "/");
    return FCCTL_EXIT_OK;
}

/* The template as a JSON tree, or NULL after printing why. */
static json_t *load_template(const char *path) {
    char err[FCCTL_ERR_BYTES] = "";
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return fcctl_fail(FCCTL_EXIT_LOCAL, "%s: %s", path, strerror(errno)), NULL;
    char *text = malloc(FCCTL_TEMPLATE_BYTES_MAX + 1);
    size_t n = text ? fread(text, 1, FCCTL_TEMPLATE_BYTES_MAX + 1, f) : 0;
    bool bad = text == NULL || ferror(f) || n > FCCTL_TEMPLATE_BYTES_MAX;
    fclose(f);
    json_t *tpl = NULL;
    if (bad)
        fcctl_fail(FCCTL_EXIT_LOCAL, "%s: unreadable, or larger than %u bytes", path,
                   FCCTL_TEMPLATE_BYTES_MAX);
    else if ((tpl = yaml_to_json(text, n, path, err)) == NULL)
        fcctl_fail(FCCTL_EXIT_LOCAL, "%s", err);
    free(text);
    return tpl;
}

int fcctl_cmd_deploy(struct fcctl *c, const struct fcctl_args *a) {
    char path[PATH_MAX], dir[PATH_MAX], err[FCCTL_ERR_BYTES] = "";
    int rc = find_template(a->pos[0], path, dir);
    if (rc != FCCTL_EXIT_OK)
        return rc;
    json_t *tpl = load_template(path);
    if (tpl == NULL)
        return FCCTL_EXIT_LOCAL;
    struct planner p = {path, dir, err};
    json_t *plan = plan_template(&p, tpl);
    json_decref(tpl);
    if (plan == NULL)
        return fcctl_fail(FCCTL_EXIT_LOCAL, "%s", err);
    json_t *report = c->json ? json_array() : NULL;
    rc = apply(c, plan, report);
    if (rc == FCCTL_EXIT_OK && report != NULL)
        fcctl_print_json(report);
    json_decref(report);
    json_decref(plan);
    return rc;
}
