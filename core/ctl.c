/* ctl.c — see ctl.h. The thread, its queues, the catalog model and
 * publishing; the endpoints are in ctl_api.c. */
#include "core/ctl_model.h"

#include "core/apidoc.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/sched.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- requests ------------------------------------------------------------------ */

static char *dup_n(const char *s, uint32_t len) {
    char *out = malloc((size_t)len + 1);
    if (out != NULL) {
        memcpy(out, s, len);
        out[len] = '\0';
    }
    return out;
}

struct fc_ctl_req *fc_ctl_req_new(const char *path, uint32_t path_len, const char *query,
                                  uint32_t query_len, const char *host, uint32_t host_len,
                                  const char *if_match, uint32_t if_match_len) {
    struct fc_ctl_req *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->path = dup_n(path, path_len);
    req->query = dup_n(query ? query : "", query ? query_len : 0);
    req->host = dup_n(host ? host : "", host ? host_len : 0);
    req->if_match = if_match ? dup_n(if_match, if_match_len) : NULL;
    if (!req->path || !req->query || !req->host || (if_match && !req->if_match)) {
        fc_ctl_req_free(req);
        return NULL;
    }
    return req;
}

void fc_ctl_req_free(struct fc_ctl_req *req) {
    if (req == NULL)
        return;
    free(req->path);
    free(req->query);
    free(req->host);
    free(req->if_match);
    fc_buf_free(&req->body);
    fc_buf_free(&req->resp);
    free(req);
}

int fc_ctl_submit(struct fc_ctl *ctl, struct fc_ctl_req *req) {
    pthread_mutex_lock(&ctl->lock);
    if (ctl->queued >= FC_CTL_QUEUE_MAX || ctl->stopping) {
        pthread_mutex_unlock(&ctl->lock);
        return -EAGAIN;
    }
    req->next = NULL;
    if (ctl->queue_tail)
        ctl->queue_tail->next = req;
    else
        ctl->queue_head = req;
    ctl->queue_tail = req;
    ctl->queued++;
    pthread_cond_signal(&ctl->cond);
    pthread_mutex_unlock(&ctl->lock);
    return 0;
}

uint32_t fc_ctl_poll(struct fc_ctl *ctl, uint32_t io_index, struct fc_ctl_req **out, uint32_t n) {
    struct fc_ctl_done *d = &ctl->done[io_index];
    if (atomic_load_explicit(&d->count, memory_order_acquire) == 0)
        return 0;
    uint32_t got = 0;
    pthread_mutex_lock(&d->lock);
    while (got < n && d->head != NULL) {
        out[got++] = d->head;
        d->head = d->head->next;
    }
    if (d->head == NULL)
        d->tail = NULL;
    atomic_fetch_sub_explicit(&d->count, got, memory_order_relaxed); /* under the lock */
    pthread_mutex_unlock(&d->lock);
    return got;
}

bool fc_ctl_pending(struct fc_ctl *ctl, uint32_t io_index) {
    /* Acquire: pairs with the release in answer_back, like the rings. */
    return atomic_load_explicit(&ctl->done[io_index].count, memory_order_acquire) > 0;
}

static void answer_back(struct fc_ctl *ctl, struct fc_ctl_req *req) {
    /* Read before the push: from then on the io thread may free req. */
    uint32_t io_index = req->io_index;
    struct fc_ctl_done *d = &ctl->done[io_index];
    req->next = NULL;
    pthread_mutex_lock(&d->lock);
    if (d->tail)
        d->tail->next = req;
    else
        d->head = req;
    d->tail = req;
    atomic_fetch_add_explicit(&d->count, 1, memory_order_release);
    pthread_mutex_unlock(&d->lock);
    fc_sched_io_wake(ctl->sched, io_index, NULL);
}

static void *ctl_main(void *arg) {
    struct fc_ctl *ctl = arg;
    fc_log_thread_set("ctl");
    pthread_setname_np(pthread_self(), "ctl");
    for (;;) { /* endless until stopped */
        pthread_mutex_lock(&ctl->lock);
        while (ctl->queue_head == NULL && !ctl->stopping)
            pthread_cond_wait(&ctl->cond, &ctl->lock);
        struct fc_ctl_req *req = ctl->queue_head;
        if (req == NULL) { /* stopping with nothing queued */
            pthread_mutex_unlock(&ctl->lock);
            return NULL;
        }
        ctl->queue_head = req->next;
        if (ctl->queue_head == NULL)
            ctl->queue_tail = NULL;
        ctl->queued--;
        pthread_mutex_unlock(&ctl->lock);
        fc_log_request_set(req->request_id);
        fc_ctl_api_handle(ctl, req);
        fc_log_request_set(NULL);
        answer_back(ctl, req);
    }
}

/* ---- the model ------------------------------------------------------------------ */

json_t *fc_ctl_service(struct fc_ctl *ctl, const char *svc) {
    return json_object_get(ctl->root, svc);
}

json_t *fc_ctl_function(struct fc_ctl *ctl, const char *svc, const char *fn) {
    return json_object_get(json_object_get(fc_ctl_service(ctl, svc), "functions"), fn);
}

struct fc_function **fc_ctl_live_slot(struct fc_ctl *ctl, const char *svc, const char *fn) {
    for (uint32_t id = 0; id < FC_FUNCTIONS_MAX; id++)
        if (ctl->live[id] && strcmp(ctl->live[id]->service, svc) == 0 &&
            strcmp(ctl->live[id]->name, fn) == 0)
            return &ctl->live[id];
    return NULL;
}

int fc_ctl_build(struct fc_ctl *ctl, const char *svc, json_t *entry, struct fc_function **out,
                 char err[FC_ERR_BYTES]) {
    json_t *doc = json_object_get(entry, "doc");
    json_t *async = json_object_get(json_object_get(entry, "async"), "LATEST");
    struct fc_function *f =
        fc_apidoc_build(svc, doc, json_object_get(entry, "triggers"), async, err);
    if (f == NULL)
        return -EINVAL;
    const char *name = json_string_value(json_object_get(doc, "functionName"));
    struct fc_function **slot = fc_ctl_live_slot(ctl, svc, name);
    if (slot != NULL) {
        f->id = (*slot)->id;
        f->uid = (*slot)->uid;
        if (fc_function_same_instances(*slot, f))
            f->instance_revision = (*slot)->instance_revision;
    } else {
        uint32_t id = 0;
        while (id < FC_FUNCTIONS_MAX && ctl->live[id] != NULL)
            id++;
        if (id == FC_FUNCTIONS_MAX) {
            fc_function_unref(f);
            snprintf(err, FC_ERR_BYTES, "fcd holds at most %u functions", FC_FUNCTIONS_MAX);
            return -ENOSPC;
        }
        f->id = id;
        f->uid = f->revision;
    }
    *out = f;
    return 0;
}

void fc_ctl_install(struct fc_ctl *ctl, struct fc_function *f) {
    FC_ASSERT(f->id < FC_FUNCTIONS_MAX);
    if (ctl->live[f->id] != NULL)
        fc_function_unref(ctl->live[f->id]);
    ctl->live[f->id] = f;
}

void fc_ctl_uninstall(struct fc_ctl *ctl, const char *svc, const char *fn) {
    struct fc_function **slot = fc_ctl_live_slot(ctl, svc, fn);
    if (slot != NULL) {
        fc_function_unref(*slot);
        *slot = NULL;
    }
}

int fc_ctl_publish(struct fc_ctl *ctl) {
    struct fc_catalog *cat = fc_catalog_new();
    if (cat == NULL)
        return -ENOMEM;
    for (uint32_t id = 0; id < FC_FUNCTIONS_MAX; id++)
        if (ctl->live[id])
            fc_catalog_put(cat, ctl->live[id]);
    const char *svc;
    json_t *entry;
    int rc = 0;
    json_object_foreach(ctl->root, svc, entry) {
        if (rc == 0)
            rc = fc_catalog_add_service(cat, svc);
    }
    if (rc == 0)
        rc = fc_catalog_seal(cat);
    if (rc < 0) {
        fc_catalog_unref(cat);
        return rc;
    }
    if (ctl->published)
        fc_registry_publish(ctl->reg, cat);
    else
        fc_registry_init(ctl->reg, cat);
    ctl->published = true;
    if (ctl->sched != NULL)
        fc_sched_catalog_changed(ctl->sched);
    return 0;
}

/* ---- loading and bootstrap ------------------------------------------------------ */

/* Put one stored document into the model: key "s/S", "f/S/F", "t/S/F/T",
 * "a/S/F/Q" (store/catalog.h). */
struct load {
    struct fc_ctl *ctl;
    char kind; /* the documents this pass takes: parents before children */
};

static int load_cb(const char *key, size_t key_len, const char *value, size_t value_len,
                   void *arg) {
    struct load *pass = arg;
    struct fc_ctl *ctl = pass->ctl;
    if (key_len < 2 || key[0] != pass->kind)
        return 0;
    char k[FC_CATALOG_STORE_KEY_BYTES_MAX + 1], *parts[4] = {0};
    snprintf(k, sizeof(k), "%.*s", (int)key_len, key);
    json_t *doc = json_loadb(value, value_len, 0, NULL);
    char *save, *kind = strtok_r(k, "/", &save);
    for (int i = 0; i < 3; i++)
        parts[i] = strtok_r(NULL, "/", &save);
    if (doc == NULL || kind == NULL || parts[0] == NULL) {
        json_decref(doc);
        FC_LOG_WARN("catalog: skipping an unreadable document '%.*s'", (int)key_len, key);
        return 0;
    }
    int rc = fc_ctl_model_set(ctl, kind[0], parts[0], parts[1], parts[2], doc);
    json_decref(doc);
    return rc;
}

/* Write one bootstrap function (config or --function) through the same
 * model and store path as CreateFunction. */
static int bootstrap_one(struct fc_ctl *ctl, const struct fc_function *f) {
    json_t *fn_doc, *triggers, *async;
    if (fc_apidoc_from_function(f, &fn_doc, &triggers, &async) < 0)
        return -ENOMEM;
    int rc = fc_ctl_put_function(ctl, f->service, fn_doc, triggers, async);
    json_decref(fn_doc);
    json_decref(triggers);
    json_decref(async);
    return rc;
}

/* Drop the stored bootstrap functions the configuration no longer names:
 * the config file and flags are declarative. Their services stay. */
static int bootstrap_prune(struct fc_ctl *ctl) {
    const char *svc, *name;
    json_t *sentry, *fentry, *tmp;
    int rc = 0;
    json_object_foreach(ctl->root, svc, sentry) {
        json_t *fns = json_object_get(sentry, "functions");
        json_object_foreach_safe(fns, tmp, name, fentry) {
            json_t *doc = json_object_get(fentry, "doc");
            if (rc < 0 || !json_is_true(json_object_get(doc, "fcdBootstrap")) ||
                fc_catalog_find(&ctl->cfg->catalog, svc, strlen(svc), name, strlen(name)))
                continue;
            FC_LOG_INFO("function %s/%s left the configuration: removing it", svc, name);
            rc = fc_ctl_forget_function(ctl, svc, name, fentry); /* name goes with it */
        }
    }
    return rc;
}

/* Build every stored function (a document that no longer builds, e.g. its
 * code directory is gone, is logged and left out of the catalog). */
static void build_all(struct fc_ctl *ctl) {
    const char *svc, *name;
    json_t *sentry, *fentry;
    json_object_foreach(ctl->root, svc, sentry) {
        json_object_foreach(json_object_get(sentry, "functions"), name, fentry) {
            char err[FC_ERR_BYTES];
            struct fc_function *f;
            if (fc_ctl_build(ctl, svc, fentry, &f, err) == 0)
                fc_ctl_install(ctl, f);
            else
                FC_LOG_WARN("catalog: function %s/%s is not served: %s", svc, name, err);
        }
    }
}

/* Functions made through the API run from <data_dir>/code as the instance
 * user: say so at start when a directory on the way is closed to others
 * (a 0700 data_dir or parent), instead of every instance failing with
 * "Permission denied". */
static void check_code_reachable(const struct fc_config *cfg) {
    if (geteuid() != 0 || strcmp(cfg->instance_user, "root") == 0)
        return;
    char path[PATH_MAX];
    if (realpath(cfg->data_dir, path) == NULL)
        return;
    for (char *p = path + strlen(path);; *p = '\0') {
        struct stat st;
        if (stat(path[0] ? path : "/", &st) == 0 && !(st.st_mode & S_IXOTH)) {
            FC_LOG_WARN("%s is closed to the instance user '%s' (mode %03o): functions made "
                        "through the API cannot start; allow o+x on it", path[0] ? path : "/",
                        cfg->instance_user, (unsigned)(st.st_mode & 0777));
            return;
        }
        if ((p = strrchr(path, '/')) == NULL || p == path)
            return;
    }
}

int fc_ctl_start(const struct fc_config *cfg, struct fc_registry *reg, struct fc_ctl **out) {
    check_code_reachable(cfg);
    struct fc_ctl *ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return -ENOMEM;
    ctl->cfg = cfg;
    ctl->reg = reg;
    ctl->root = json_object();
    ctl->io_count = cfg->io_threads;
    ctl->done = calloc(cfg->io_threads, sizeof(*ctl->done));
    pthread_mutex_init(&ctl->lock, NULL);
    pthread_cond_init(&ctl->cond, NULL);
    for (uint32_t i = 0; ctl->done && i < cfg->io_threads; i++)
        pthread_mutex_init(&ctl->done[i].lock, NULL);
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/catalog", cfg->data_dir);
    int rc = ctl->root && ctl->done ? fc_catalog_store_open(dir, &ctl->store) : -ENOMEM;
    static const char kinds[] = "sfta"; /* services, functions, triggers, async configs */
    for (const char *k = kinds; rc == 0 && *k; k++)
        rc = fc_catalog_store_load(ctl->store, load_cb, &(struct load){ctl, *k});
    if (rc == 0) {
        fc_ctl_code_empty_trash(ctl);
        build_all(ctl);
    }
    for (uint32_t i = 0; rc == 0 && i < cfg->catalog.count; i++)
        rc = bootstrap_one(ctl, cfg->catalog.functions[i]);
    if (rc == 0)
        rc = bootstrap_prune(ctl);
    if (rc == 0)
        rc = fc_ctl_publish(ctl);
    if (rc == 0)
        rc = -pthread_create(&ctl->thread, NULL, ctl_main, ctl);
    if (rc < 0) {
        FC_LOG_ERROR("management catalog in %s: %s", dir, strerror(-rc));
        if (ctl->published)
            fc_registry_destroy(reg);
        ctl->published = false;
        fc_ctl_free(ctl);
        return rc;
    }
    ctl->running = true;
    *out = ctl;
    return 0;
}

void fc_ctl_attach(struct fc_ctl *ctl, struct fc_sched *sched) {
    ctl->sched = sched;
}

void fc_ctl_free(struct fc_ctl *ctl) {
    for (uint32_t id = 0; id < FC_FUNCTIONS_MAX; id++)
        if (ctl->live[id])
            fc_function_unref(ctl->live[id]);
    fc_catalog_store_close(ctl->store);
    json_decref(ctl->root);
    for (uint32_t i = 0; ctl->done && i < ctl->io_count; i++)
        pthread_mutex_destroy(&ctl->done[i].lock);
    free(ctl->done);
    pthread_mutex_destroy(&ctl->lock);
    pthread_cond_destroy(&ctl->cond);
    free(ctl);
}

void fc_ctl_stop(struct fc_ctl *ctl) {
    if (ctl == NULL)
        return;
    pthread_mutex_lock(&ctl->lock);
    ctl->stopping = true;
    pthread_cond_signal(&ctl->cond);
    pthread_mutex_unlock(&ctl->lock);
    if (ctl->running)
        pthread_join(ctl->thread, NULL);
    /* Answers nobody collected (the io threads are gone). */
    for (uint32_t i = 0; i < ctl->io_count; i++)
        for (struct fc_ctl_req *r = ctl->done[i].head, *next; r; r = next) {
            next = r->next;
            fc_ctl_req_free(r);
        }
    fc_ctl_free(ctl);
}
