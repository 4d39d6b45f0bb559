/* ctl_model.h — private to core/ctl*.c: the ctl thread's state and its
 * catalog model, shared by ctl.c (thread, queues, publishing) and
 * ctl_api.c (the endpoints). Everything here is the ctl thread's alone,
 * except the queue and done lists (their mutexes). */
#ifndef FC_CTL_MODEL_H
#define FC_CTL_MODEL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/ctl.h"
#include "store/catalog.h"

typedef struct json_t json_t;

/* Answered requests of one io thread. */
struct fc_ctl_done {
    pthread_mutex_t lock;
    struct fc_ctl_req *head, *tail;
    _Atomic uint32_t count; /* read without the lock by fc_ctl_pending */
    char _pad[64];
};

struct fc_ctl {
    const struct fc_config *cfg;
    struct fc_registry *reg;
    struct fc_sched *sched;
    struct fc_catalog_store *store;
    /* The model: service name -> {"doc": service document,
     *   "functions": {name -> {"doc": function document,
     *                          "triggers": {name -> trigger document},
     *                          "async": {qualifier -> async config}}}} */
    json_t *root;
    struct fc_function *live[FC_FUNCTIONS_MAX]; /* the current object of each id (a reference) */
    bool published;
    bool running;

    pthread_t thread;
    pthread_mutex_t lock; /* guards the queue and stopping */
    pthread_cond_t cond;
    struct fc_ctl_req *queue_head, *queue_tail;
    uint32_t queued;
    bool stopping;

    struct fc_ctl_done *done; /* [io_count] */
    uint32_t io_count;
};

/* The model's entry of a service / function, or NULL. */
json_t *fc_ctl_service(struct fc_ctl *ctl, const char *svc);
json_t *fc_ctl_function(struct fc_ctl *ctl, const char *svc, const char *fn);

/* The live slot of service/fn, or NULL. */
struct fc_function **fc_ctl_live_slot(struct fc_ctl *ctl, const char *svc, const char *fn);

/* Build the function of a model entry ({"doc","triggers","async"}), with the
 * id and uid of its current version or a free id. Returns 0, -EINVAL (a
 * document does not build: err says why) or -ENOSPC (no free id). */
int fc_ctl_build(struct fc_ctl *ctl, const char *svc, json_t *entry, struct fc_function **out,
                 char err[FC_ERR_BYTES]);

/* Make f (the caller's reference moves in) the live version of its id. */
void fc_ctl_install(struct fc_ctl *ctl, struct fc_function *f);

/* Drop service/fn's live version. */
void fc_ctl_uninstall(struct fc_ctl *ctl, const char *svc, const char *fn);

/* Publish a catalog of the live functions and the model's services. */
int fc_ctl_publish(struct fc_ctl *ctl);

/* Put a loaded document into the model: kind 's', 'f', 't' or 'a' with
 * its names (store/catalog.h keys). doc is borrowed. Returns 0 (an orphan
 * is logged and skipped) or -ENOMEM. */
int fc_ctl_model_set(struct fc_ctl *ctl, char kind, const char *svc, const char *fn,
                     const char *name, json_t *doc);

/* Create or replace service/function from documents (bootstrap), storing
 * them durably and installing the built function (not publishing). All
 * borrowed. Returns 0 or -errno (logged). */
int fc_ctl_put_function(struct fc_ctl *ctl, const char *svc, json_t *fn_doc, json_t *triggers,
                        json_t *async);

/* Remove svc/fn's code revisions under <data_dir>/code except keep_a and
 * keep_b (either may be NULL). Both NULL (the function is deleted): its
 * directory moves to <data_dir>/code/.trash, since its instances may still
 * run from it. */
void fc_ctl_code_prune(struct fc_ctl *ctl, const char *svc, const char *fn, const char *keep_a,
                       const char *keep_b);

/* Delete svc/fn with its triggers and async configs from the store and the
 * model, drop its live version and its code (not publishing). entry is the
 * function's model entry. Returns 0 or -errno (nothing changed). */
int fc_ctl_forget_function(struct fc_ctl *ctl, const char *svc, const char *fn, json_t *entry);

/* Remove <data_dir>/code/.trash (at start: no instance runs). */
void fc_ctl_code_empty_trash(struct fc_ctl *ctl);

/* Answer req (ctl_api.c). */
void fc_ctl_api_handle(struct fc_ctl *ctl, struct fc_ctl_req *req);

void fc_ctl_free(struct fc_ctl *ctl);

#endif
