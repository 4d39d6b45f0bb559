/* registry.h — the function catalog: services, functions and their HTTP
 * triggers, as FC models them (CONTRACT.md §5.2–5.4).
 *
 * A catalog is built once by the main thread (from the config file's
 * "services" object and from --function flags), sealed, and then only read:
 * io threads look functions up, workers read their settings. Functions are
 * immutable while any thread can see them. A function's `id` indexes the
 * per-function state other modules keep (worker pools, counters).
 *
 * The later management API builds catalogs through the same calls. */
#ifndef FC_REGISTRY_H
#define FC_REGISTRY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "core/cron.h"

#define FC_SERVICE_NAME_MAX 128  /* FC: 1–128 chars */
#define FC_FUNCTION_NAME_MAX 64  /* FC: 1–64 chars */
#define FC_FUNCTIONS_MAX 4096    /* per fcd */
#define FC_FUNCTION_ARGS_MAX 64  /* command + args */
#define FC_FUNCTION_ENV_MAX 128  /* user environment variables */
#define FC_CONCURRENCY_MAX 200   /* instanceConcurrency upper bound */
#define FC_INSTANCES_MAX 1024    /* per function */
#define FC_ERR_BYTES 512
#define FC_TIMERS_MAX 8          /* timer triggers per function */

/* HTTP trigger methods, one bit each. */
enum {
    FC_METHOD_GET = 1 << 0,
    FC_METHOD_POST = 1 << 1,
    FC_METHOD_PUT = 1 << 2,
    FC_METHOD_DELETE = 1 << 3,
    FC_METHOD_HEAD = 1 << 4,
    FC_METHOD_PATCH = 1 << 5,
    FC_METHOD_OPTIONS = 1 << 6,
    FC_METHOD_ALL = (1 << 7) - 1,
};

/* A timer trigger (CONTRACT.md §5.4): fires an async invocation whose event
 * is {"triggerTime", "triggerName", "payload"}. */
struct fc_timer {
    char name[FC_FUNCTION_NAME_MAX + 1];
    struct fc_cron schedule;
    char *payload; /* "" when none */
    bool enabled;
};

struct fc_function {
    uint32_t id; /* index in the catalog */
    char service[FC_SERVICE_NAME_MAX + 1];
    char name[FC_FUNCTION_NAME_MAX + 1];
    char code_dir[PATH_MAX];         /* absolute */
    char *argv[FC_FUNCTION_ARGS_MAX + 1]; /* NULL-terminated; default {code_dir/bootstrap} */
    char *env[FC_FUNCTION_ENV_MAX + 1];   /* "NAME=value", NULL-terminated */
    char *initializer;                    /* NULL: no /initialize call */
    char *pre_stop;                       /* NULL: no /pre-stop call before stopping */
    uint32_t pre_stop_timeout_s;          /* default 3 */
    uint32_t memory_mb;                   /* default 128 */
    uint32_t timeout_s;                   /* default 3 (FC's) */
    uint32_t initialization_timeout_s;    /* default 3 */
    uint32_t concurrency;                 /* instanceConcurrency, default 1 */
    uint32_t max_instances;               /* default 16 */
    uint32_t ca_port;                     /* default 9000; used in isolated mode */
    uint32_t async_retries;               /* maxAsyncRetryAttempts 0..8, default 3 */
    uint32_t async_max_age_s;             /* maxAsyncEventAgeInSeconds, default 86400 */
    bool async_stateful;                  /* statefulInvocation: every async call is a task */
    /* Async destinations: another function, as "service/function" (from an
     * ARN acs:fc:<region>:<account>:services/<s>[.<q>]/functions/<f> or the
     * short form), or an HTTP endpoint "http://IPv4[:port]/path"; "" = none. */
    char on_success[FC_SERVICE_NAME_MAX + FC_FUNCTION_NAME_MAX + 2];
    char on_failure[FC_SERVICE_NAME_MAX + FC_FUNCTION_NAME_MAX + 2];
    struct fc_timer timers[FC_TIMERS_MAX];
    uint32_t timers_count;
    bool http_trigger;                    /* has an HTTP trigger */
    bool http_anonymous;                  /* its authType is anonymous */
    uint32_t http_methods;                /* FC_METHOD_* bits */
};

struct fc_catalog {
    uint32_t count;
    struct fc_function *functions[FC_FUNCTIONS_MAX];
    uint32_t hash_mask;  /* set by fc_catalog_seal */
    uint32_t *hash;      /* open addressing: id + 1, 0 = empty */
};

/* Add the functions of a config file's "services" object (a jansson json_t *,
 * passed as void * so this header does not need jansson):
 *   {"svc": {"functions": {"fn": {"code_dir": "...", "timeout_s": 3, ...}}}}
 * Returns 0, or -EINVAL with err naming the key (services.svc.functions.fn.x). */
int fc_catalog_add_json(struct fc_catalog *cat, const void *services_json,
                        char err[FC_ERR_BYTES]);

/* Add one function from the --function flag:
 *   NAME=DIR[,timeout=S][,memory=MB][,concurrency=N][,instances=N][,initializer=H]
 * in service "default", with an anonymous HTTP trigger for all methods.
 * Returns 0 or -EINVAL with err set. */
int fc_catalog_add_flag(struct fc_catalog *cat, const char *text, char err[FC_ERR_BYTES]);

/* Build the lookup table. After this the catalog is read-only. Returns 0 or
 * -ENOMEM. */
int fc_catalog_seal(struct fc_catalog *cat);

/* Find a function by names (not NUL-terminated). Any thread, sealed catalog.
 * Returns NULL when absent. */
const struct fc_function *fc_catalog_find(const struct fc_catalog *cat, const char *service,
                                          size_t service_len, const char *name, size_t name_len);

/* Is there a service of that name? */
bool fc_catalog_has_service(const struct fc_catalog *cat, const char *service, size_t len);

void fc_catalog_free(struct fc_catalog *cat);

/* A parsed "http://a.b.c.d[:port]/path" (no DNS: endpoints are addresses). */
struct fc_http_url {
    struct sockaddr_in addr;
    char host[64]; /* for the Host header */
    const char *path; /* into the parsed text, "/" at least */
};

/* Parse text into *out (out->path points into text). Returns 0 or -EINVAL. */
int fc_http_url_parse(const char *text, struct fc_http_url *out);

/* FC's name rule: letters, digits, '_' and '-', not starting with a digit or
 * '-', 1..max bytes. */
bool fc_name_valid(const char *name, size_t len, size_t max);

#endif
