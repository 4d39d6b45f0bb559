/* registry.h — the function catalog: services, functions and their
 * triggers, as FC models them (CONTRACT.md §5.2–5.4), and the registry that
 * publishes the current catalog to every thread.
 *
 * A catalog is a snapshot: built by one thread (the config parser for the
 * bootstrap functions, the ctl thread for everything else), sealed, and then
 * only read. Functions are immutable while any thread can see them; a
 * change builds a new fc_function (new `revision`, same `uid` and `id`) and a
 * new catalog that reuses every unchanged function object, so an unrelated
 * change rolls no instances over.
 *
 * Lifetimes are reference counts (atomic, touched on publish, on a thread's
 * view refresh, and once per invocation): a catalog holds its functions, a
 * view holds a catalog, an invocation or instance holds its function.
 *
 * The registry (read-mostly swap): the ctl thread publishes a new catalog
 * under a mutex and bumps a generation counter. Each reading thread keeps a
 * view (its own catalog reference) and compares the generation — one relaxed
 * atomic load — before use; only when it changed does it take the mutex to
 * move its reference. So the hot path takes no lock and no shared write.
 *
 * A function's `id` indexes the per-function state other modules keep
 * (worker pools, counters); it stays while the function exists and is
 * reused after it is deleted, so holders compare `uid` too. */
#ifndef FC_REGISTRY_H
#define FC_REGISTRY_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
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
#define FC_DESTINATION_BYTES (FC_SERVICE_NAME_MAX + FC_FUNCTION_NAME_MAX + 2)

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
    char cron[128]; /* the expression as given */
    struct fc_cron schedule;
    char *payload; /* "" when none */
    bool enabled;
};

struct fc_function {
    uint32_t id;       /* index in the catalog, < FC_FUNCTIONS_MAX */
    uint64_t uid;      /* unique per function for the life of the process (ids are reused) */
    uint64_t revision; /* process-wide increasing: a newer object of a function is larger */
    /* The revision of what instances depend on (code, command, environment,
     * limits, hooks): kept by a change that touches only triggers or async
     * settings, so such a change rolls no instance over. */
    uint64_t instance_revision;
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
    char on_success[FC_DESTINATION_BYTES];
    char on_failure[FC_DESTINATION_BYTES];
    struct fc_timer timers[FC_TIMERS_MAX];
    uint32_t timers_count;
    bool http_trigger;                    /* has an HTTP trigger */
    bool http_anonymous;                  /* its authType is anonymous */
    bool http_url_disabled;               /* disableURLInternet: the proxy URL answers 403 */
    uint32_t http_methods;                /* FC_METHOD_* bits */
    char code_checksum[24];               /* FC's codeChecksum of the package; "" when none */
    /* References (fc_function_ref): its line of its own, so taking one does
     * not invalidate the fields every thread reads. */
    _Alignas(64) _Atomic uint32_t refs;
};

struct fc_catalog {
    _Atomic uint32_t refs;
    uint64_t generation; /* set by fc_registry_publish */
    uint32_t count;      /* ids in use are < count; functions[id] is NULL for a free id */
    struct fc_function *functions[FC_FUNCTIONS_MAX];
    uint32_t hash_mask;  /* set by fc_catalog_seal */
    uint32_t *hash;      /* open addressing: id + 1, 0 = empty */
    char **services;     /* sorted, unique; the functions' services and fc_catalog_add_service's */
    uint32_t services_count;
};

/* A new, empty catalog with one reference (the caller's), or NULL. */
struct fc_catalog *fc_catalog_new(void);

/* Put f (taking a reference) at f->id, which must be free in cat. Not sealed
 * yet. */
void fc_catalog_put(struct fc_catalog *cat, struct fc_function *f);

/* Record a service that may have no functions. Returns 0 or -ENOMEM. */
int fc_catalog_add_service(struct fc_catalog *cat, const char *name);

/* A new function named service/name with FC's defaults and one reference
 * (the caller's), uid and id 0 (the caller sets them), a fresh revision.
 * NULL with err set when a name is invalid or memory is out. */
struct fc_function *fc_function_new(const char *service, const char *name, char err[FC_ERR_BYTES]);

/* Do instances of a and b run the same way (code, command, environment,
 * memory, timeouts, concurrency, port, hooks, max instances)? */
bool fc_function_same_instances(const struct fc_function *a, const struct fc_function *b);

/* Resolve code_dir to an absolute path into f->code_dir and default the
 * command to its bootstrap. Returns 0 or -EINVAL with err set. */
int fc_function_set_code(struct fc_function *f, const char *code_dir, char err[FC_ERR_BYTES]);

static inline void fc_function_ref(const struct fc_function *f) {
    /* Relaxed: the caller already holds a reference, nothing to order. */
    atomic_fetch_add_explicit(&((struct fc_function *)f)->refs, 1, memory_order_relaxed);
}

/* Drop a reference; the last one frees f. Any thread. */
void fc_function_unref(const struct fc_function *f);

static inline void fc_catalog_ref(struct fc_catalog *cat) {
    /* Relaxed: the caller already holds a reference. */
    atomic_fetch_add_explicit(&cat->refs, 1, memory_order_relaxed);
}

/* Drop a reference to a heap catalog (fc_catalog_new); the last one drops
 * its functions and frees it. Any thread. */
void fc_catalog_unref(struct fc_catalog *cat);

/* ---- the registry ---- */

struct fc_registry {
    pthread_mutex_t lock;         /* guards current; taken only on publish and view refresh */
    struct fc_catalog *current;
    _Atomic uint64_t generation;  /* current->generation, readable without the lock */
};

/* One thread's reference to the catalog it reads. Zero-initialise. */
struct fc_catalog_view {
    struct fc_catalog *cat;
    uint64_t generation;
};

/* Start with `initial` (sealed; the registry takes the caller's reference). */
void fc_registry_init(struct fc_registry *r, struct fc_catalog *initial);

/* Make `next` (sealed, heap) current, taking the caller's reference, and drop
 * the registry's reference to the previous one. Readers see it on their next
 * fc_registry_view. Any one thread at a time (the ctl thread). */
void fc_registry_publish(struct fc_registry *r, struct fc_catalog *next);

/* The slow half of fc_registry_view: move v to the current catalog. */
void fc_registry_view_refresh(struct fc_registry *r, struct fc_catalog_view *v);

/* The current catalog through the caller's view: refreshed when the
 * generation moved. Valid until this thread's next call or release. */
static inline const struct fc_catalog *fc_registry_view(struct fc_registry *r,
                                                        struct fc_catalog_view *v) {
    /* Relaxed: a changed value sends us to the mutex, which orders the rest. */
    if (atomic_load_explicit(&r->generation, memory_order_relaxed) != v->generation ||
        v->cat == NULL)
        fc_registry_view_refresh(r, v);
    return v->cat;
}

/* Drop the view's reference (thread exit). */
void fc_registry_view_release(struct fc_catalog_view *v);

/* Drop the current catalog. No reader may run. */
void fc_registry_destroy(struct fc_registry *r);

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

/* Is there a service of that name? (Sealed catalog: binary search.) */
bool fc_catalog_has_service(const struct fc_catalog *cat, const char *service, size_t len);

/* Free what an embedded (not heap) catalog holds: the config's bootstrap. */
void fc_catalog_free(struct fc_catalog *cat);

/* A parsed "http://a.b.c.d[:port]/path" (no DNS: endpoints are addresses). */
struct fc_http_url {
    struct sockaddr_in addr;
    char host[64]; /* for the Host header */
    const char *path; /* into the parsed text, "/" at least */
};

/* Parse text into *out (out->path points into text). Returns 0 or -EINVAL. */
int fc_http_url_parse(const char *text, struct fc_http_url *out);

/* An async destination (CONTRACT.md §5.5): FC's ARN
 * "acs:fc:<region>:<account>:services/<s>[.<q>]/functions/<f>" or "<s>/<f>",
 * stored as "<s>/<f>", or an HTTP endpoint "http://IPv4[:port]/path" kept as
 * given. Writes out (cap bytes). Returns 0 or -EINVAL. */
int fc_destination_parse(const char *text, char *out, size_t cap);

/* FC's name rule: letters, digits, '_' and '-', not starting with a digit or
 * '-', 1..max bytes. */
bool fc_name_valid(const char *name, size_t len, size_t max);

#endif
