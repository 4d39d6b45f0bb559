/* jobs.c — see jobs.h. */
#include "store/jobs.h"

#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/crc32c.h"
#include "core/assert.h"

/* LMDB's compiled-in key limit (MDB_MAXKEYSIZE, 511 in Debian's 0.9.24);
 * checked against mdb_env_get_maxkeysize at open. */
#define JOBS_LMDB_KEY_BYTES_MAX 511u
#define JOBS_KEY_BYTES_MAX                                                                         \
    (FC_RECORD_SERVICE_BYTES_MAX + 1 + FC_RECORD_FUNCTION_BYTES_MAX + 1 + 8 +                      \
     FC_RECORD_ID_BYTES_MAX)
static_assert(JOBS_KEY_BYTES_MAX <= JOBS_LMDB_KEY_BYTES_MAX, "index keys fit LMDB's key limit");
#define JOBS_DBS 5u
#define JOBS_PATH_BYTES_MAX 4096u

enum { DB_JOBS, DB_PAYLOADS, DB_DUE, DB_BY_FN, DB_BY_STATE };
static const char *const db_names[JOBS_DBS] = {"jobs", "payloads", "due", "by_fn", "by_state"};

struct fc_jobs {
    MDB_env *env;
    MDB_dbi dbi[JOBS_DBS];
    uint64_t map_bytes, map_bytes_max;
    /* Readers hold it shared for each read txn; the writer holds it
     * exclusively only while it remaps (mdb_env_set_mapsize). */
    pthread_rwlock_t resize_lock;
    /* Writer-thread state below. */
    struct fc_buf scratch; /* encoded record of an UPDATE (see op_update) */
    uint32_t fault_put_nth, fault_commit_nth;
    uint64_t puts, commits;
};

/* ---- errors and keys -------------------------------------------------------------- */

/* LMDB's positive codes stop here. */
static int err_from_mdb(int rc) {
    switch (rc) {
    case MDB_SUCCESS: return 0;
    case MDB_NOTFOUND: return -ENOENT;
    case MDB_KEYEXIST: return -EEXIST;
    case MDB_MAP_FULL: return -ENOSPC;
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL: return -E2BIG;
    case MDB_READERS_FULL:
    case MDB_MAP_RESIZED: return -EAGAIN;
    case MDB_DBS_FULL: return -EMFILE;
    case MDB_BAD_VALSIZE: return -EINVAL;
    default: return rc > 0 ? -rc : -EIO; /* a plain errno, or MDB_CORRUPTED and kin */
    }
}

struct key {
    size_t len;
    unsigned char b[JOBS_KEY_BYTES_MAX];
};

static void key_add(struct key *k, const void *p, size_t n) {
    FC_ASSERT(k->len + n <= sizeof(k->b));
    memcpy(k->b + k->len, p, n);
    k->len += n;
}

static void key_be64(struct key *k, uint64_t v) {
    unsigned char b[8];
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (unsigned char)v;
    key_add(k, b, 8);
}

static uint64_t get_be64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void key_due(struct key *k, uint64_t due_ms, struct fc_slice id) {
    k->len = 0;
    key_be64(k, due_ms);
    key_add(k, id.ptr, id.len);
}

/* service '/' function 0: names never hold '/' or 0, so prefixes never collide. */
static void key_fn_prefix(struct key *k, struct fc_slice service, struct fc_slice function) {
    k->len = 0;
    key_add(k, service.ptr, service.len);
    key_add(k, "/", 1);
    key_add(k, function.ptr, function.len);
    key_add(k, "", 1);
}

static void key_fn(struct key *k, const struct fc_job *j) {
    key_fn_prefix(k, j->service, j->function);
    key_be64(k, j->created_ms);
    key_add(k, j->request_id.ptr, j->request_id.len);
}

static void key_state(struct key *k, const struct fc_job *j) {
    k->len = 0;
    key_add(k, &j->state, 1);
    key_be64(k, j->created_ms);
    key_add(k, j->request_id.ptr, j->request_id.len);
}

static MDB_val val_of(const struct key *k) {
    return (MDB_val){k->len, (void *)k->b};
}

static MDB_val val_slice(struct fc_slice s) {
    return (MDB_val){s.len, (void *)s.ptr};
}

/* ---- writer primitives -------------------------------------------------------------- */

static int db_put(struct fc_jobs *s, MDB_txn *txn, int db, MDB_val *k, MDB_val *v, unsigned flags) {
    if (s->fault_put_nth != 0 && ++s->puts == s->fault_put_nth)
        return -EIO;
    return err_from_mdb(mdb_put(txn, s->dbi[db], k, v, flags));
}

static int db_del(struct fc_jobs *s, MDB_txn *txn, int db, const struct key *k) {
    MDB_val kv = val_of(k);
    return err_from_mdb(mdb_del(txn, s->dbi[db], &kv, NULL));
}

/* Index entries of j: due while Enqueued, by_state, and by_fn when with_fn
 * (by_fn's key never changes after append). */
static int index_put(struct fc_jobs *s, MDB_txn *txn, const struct fc_job *j, bool with_fn) {
    struct key k;
    MDB_val kv, empty = {0, NULL};
    int rc = 0;
    if (j->state == FC_JOB_ENQUEUED) {
        key_due(&k, j->due_ms, j->request_id);
        kv = val_of(&k);
        rc = db_put(s, txn, DB_DUE, &kv, &empty, 0);
    }
    if (rc == 0) {
        key_state(&k, j);
        kv = val_of(&k);
        rc = db_put(s, txn, DB_BY_STATE, &kv, &empty, 0);
    }
    if (rc == 0 && with_fn) {
        key_fn(&k, j);
        kv = val_of(&k);
        rc = db_put(s, txn, DB_BY_FN, &kv, &empty, 0);
    }
    return rc;
}

/* Remove what index_put(j) wrote. A missing entry means the indexes are
 * broken: that is our own invariant, so it is asserted. */
static int index_del(struct fc_jobs *s, MDB_txn *txn, const struct fc_job *j, bool with_fn) {
    struct key k;
    int rc = 0;
    if (j->state == FC_JOB_ENQUEUED) {
        key_due(&k, j->due_ms, j->request_id);
        rc = db_del(s, txn, DB_DUE, &k);
    }
    if (rc == 0) {
        key_state(&k, j);
        rc = db_del(s, txn, DB_BY_STATE, &k);
    }
    if (rc == 0 && with_fn) {
        key_fn(&k, j);
        rc = db_del(s, txn, DB_BY_FN, &k);
    }
    FC_ASSERT(rc != -ENOENT); /* indexes agree with records */
    return rc;
}

/* Read and decode the stored record of id. *old points into the txn's pages:
 * valid until the next write to DB_JOBS in this txn. */
static int job_read(struct fc_jobs *s, MDB_txn *txn, struct fc_slice id, struct fc_job *old) {
    MDB_val k = val_slice(id), v;
    int rc = err_from_mdb(mdb_get(txn, s->dbi[DB_JOBS], &k, &v));
    if (rc < 0)
        return rc;
    rc = fc_record_decode(v.mv_data, v.mv_size, old, NULL);
    if (rc == 0) /* paired with the check before every put */
        FC_ASSERT(old->request_id.len == id.len &&
                  memcmp(old->request_id.ptr, id.ptr, id.len) == 0);
    return rc;
}

/* Encode j into a reserved LMDB value for key id (flags: MDB_NOOVERWRITE for
 * appends). j must already pass fc_record_check. */
static int job_write(struct fc_jobs *s, MDB_txn *txn, const struct fc_job *j, unsigned flags) {
    FC_ASSERT(fc_record_check(j, NULL) == 0); /* checked before every put */
    size_t size = fc_record_size(j);
    MDB_val k = val_slice(j->request_id), v = {size, NULL};
    int rc = db_put(s, txn, DB_JOBS, &k, &v, flags | MDB_RESERVE);
    if (rc < 0)
        return rc;
    long n = fc_record_encode_to(j, v.mv_data, size, NULL);
    FC_ASSERT(n == (long)size);
    return 0;
}

/* ---- ops ------------------------------------------------------------------------------ */

static int op_append(struct fc_jobs *s, MDB_txn *txn, const struct fc_job *in) {
    if (in->payload_where != FC_JOB_PAYLOAD_INLINE || fc_record_check(in, NULL) < 0)
        return -EINVAL;
    struct fc_job j = *in;
    if (j.payload.len > FC_JOBS_PAYLOAD_INLINE_BYTES_MAX) {
        j.payload_where = FC_JOB_PAYLOAD_DB;
        j.payload_ref = (struct fc_job_payload_ref){0, j.payload.len,
                                                    fc_crc32c(0, j.payload.ptr, j.payload.len)};
        j.payload = (struct fc_slice){NULL, 0};
    }
    int rc = job_write(s, txn, &j, MDB_NOOVERWRITE); /* -EEXIST: nothing written */
    if (rc < 0)
        return rc;
    if (j.payload_where == FC_JOB_PAYLOAD_DB) {
        MDB_val k = val_slice(j.request_id), v = val_slice(in->payload);
        rc = db_put(s, txn, DB_PAYLOADS, &k, &v, 0);
    }
    return rc < 0 ? rc : index_put(s, txn, &j, true);
}

/* Errors that only concern this op (its result); the others abort the txn. */
static bool op_local_error(int rc) {
    return rc == -EEXIST || rc == -ENOENT || rc == -ESTALE || rc == -EINVAL || rc == -EBADMSG ||
           rc == -EPROTO;
}

static bool update_allowed(const struct fc_job *old, const struct fc_job *nj) {
    bool same_names = old->service.len == nj->service.len &&
                      memcmp(old->service.ptr, nj->service.ptr, nj->service.len) == 0 &&
                      old->function.len == nj->function.len &&
                      memcmp(old->function.ptr, nj->function.ptr, nj->function.len) == 0;
    return same_names && old->created_ms == nj->created_ms &&
           (old->state == nj->state || fc_job_state_transition_ok(old->state, nj->state));
}

/* The new record is encoded into s->scratch BEFORE anything is written: the
 * old record's inline payload, copied into the new one, lives in the page
 * the put may overwrite in place. */
static int op_update(struct fc_jobs *s, MDB_txn *txn, const struct fc_job *in, int expect) {
    struct fc_job old;
    if (fc_record_check(in, NULL) < 0)
        return -EINVAL;
    int rc = job_read(s, txn, in->request_id, &old);
    if (rc < 0)
        return rc;
    if (expect != 0 && old.state != expect)
        return -ESTALE;
    if (!update_allowed(&old, in))
        return -EINVAL;
    struct fc_job j = *in;
    /* The key must not alias the map: LMDB would move it while it writes
     * (recovery passes a job decoded from this very txn). */
    char id[FC_RECORD_ID_BYTES_MAX];
    memcpy(id, in->request_id.ptr, in->request_id.len);
    j.request_id.ptr = id;
    j.payload_where = old.payload_where;
    j.payload = old.payload;
    j.payload_ref = old.payload_ref;
    s->scratch.len = 0;
    rc = fc_record_encode(&j, &s->scratch, NULL);
    if (rc < 0)
        return rc == -EINVAL ? -EINVAL : -ENOMEM;
    rc = index_del(s, txn, &old, false); /* before the put: old points into the record */
    MDB_val k = val_slice(j.request_id), v = {s->scratch.len, s->scratch.data};
    if (rc == 0)
        rc = db_put(s, txn, DB_JOBS, &k, &v, 0);
    return rc < 0 ? rc : index_put(s, txn, &j, false); /* scalars and in's id only */
}

static int op_delete(struct fc_jobs *s, MDB_txn *txn, struct fc_slice id, int expect) {
    struct fc_job old;
    if (!fc_record_id_valid(id.ptr, id.len))
        return -EINVAL;
    int rc = job_read(s, txn, id, &old);
    if (rc < 0)
        return rc;
    if (expect != 0 && old.state != expect)
        return -ESTALE;
    rc = index_del(s, txn, &old, true);
    if (rc == 0 && old.payload_where == FC_JOB_PAYLOAD_DB) {
        MDB_val k = val_slice(id);
        rc = err_from_mdb(mdb_del(txn, s->dbi[DB_PAYLOADS], &k, NULL));
        FC_ASSERT(rc != -ENOENT); /* a DB payload ref always has its entry */
    }
    if (rc == 0) { /* last: old's slices point into this record */
        MDB_val k = val_slice(id);
        rc = err_from_mdb(mdb_del(txn, s->dbi[DB_JOBS], &k, NULL));
    }
    return rc;
}

static int op_run(struct fc_jobs *s, MDB_txn *txn, struct fc_jobs_op *op) {
    switch (op->kind) {
    case FC_JOBS_OP_APPEND: return op->job != NULL ? op_append(s, txn, op->job) : -EINVAL;
    case FC_JOBS_OP_UPDATE:
        return op->job != NULL ? op_update(s, txn, op->job, op->expect_state) : -EINVAL;
    case FC_JOBS_OP_DELETE: return op_delete(s, txn, op->id, op->expect_state);
    default: return -EINVAL;
    }
}

/* ---- apply: one txn per batch, map growth ----------------------------------------- */

static int txn_commit(struct fc_jobs *s, MDB_txn *txn) {
    if (s->fault_commit_nth != 0 && ++s->commits == s->fault_commit_nth) {
        mdb_txn_abort(txn);
        return -EIO;
    }
    return err_from_mdb(mdb_txn_commit(txn)); /* frees txn on success and on error */
}

/* Double the map (bounded by map_bytes_max) while no txn of ours is open:
 * the writer has none (it just aborted) and readers are held off by the
 * lock. Returns 0, or -ENOSPC when already at the maximum. */
static int map_grow(struct fc_jobs *s) {
    if (s->map_bytes >= s->map_bytes_max)
        return -ENOSPC;
    uint64_t next = s->map_bytes * 2 < s->map_bytes_max ? s->map_bytes * 2 : s->map_bytes_max;
    FC_ASSERT(pthread_rwlock_wrlock(&s->resize_lock) == 0);
    int rc = err_from_mdb(mdb_env_set_mapsize(s->env, (size_t)next));
    FC_ASSERT(pthread_rwlock_unlock(&s->resize_lock) == 0);
    if (rc < 0)
        return rc;
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    FC_ASSERT(info.me_mapsize >= next);
    s->map_bytes = info.me_mapsize;
    return 0;
}

typedef int (*batch_fn)(struct fc_jobs *s, MDB_txn *txn, void *arg);

/* Run fn in a write txn and commit; on MDB_MAP_FULL (from a put or the
 * commit) grow the map and run it again from scratch (fn must be
 * re-runnable: its effects died with the aborted txn). */
static int write_txn(struct fc_jobs *s, batch_fn fn, void *arg) {
    for (unsigned tries = 0;; tries++) { /* bounded by FC_JOBS_RESIZE_TRIES_MAX */
        MDB_txn *txn;
        int rc = err_from_mdb(mdb_txn_begin(s->env, NULL, 0, &txn));
        if (rc < 0)
            return rc;
        rc = fn(s, txn, arg);
        if (rc < 0)
            mdb_txn_abort(txn);
        else
            rc = txn_commit(s, txn);
        if (rc != -ENOSPC || tries + 1 >= FC_JOBS_RESIZE_TRIES_MAX)
            return rc;
        rc = map_grow(s);
        if (rc < 0)
            return rc;
    }
}

struct batch {
    struct fc_jobs_op *ops;
    size_t n;
    int applied;
};

static int batch_run(struct fc_jobs *s, MDB_txn *txn, void *arg) {
    struct batch *b = arg;
    b->applied = 0;
    for (size_t i = 0; i < b->n; i++) {
        int rc = op_run(s, txn, &b->ops[i]);
        b->ops[i].result = rc;
        if (rc == 0)
            b->applied++;
        else if (!op_local_error(rc))
            return rc; /* the txn is lost: every op fails with rc */
    }
    return 0;
}

int fc_jobs_apply(struct fc_jobs *s, struct fc_jobs_op *ops, size_t n) {
    FC_ASSERT(s != NULL && (ops != NULL || n == 0));
    if (n > FC_JOBS_BATCH_MAX)
        return -EINVAL;
    struct batch b = {ops, n, 0};
    int rc = write_txn(s, batch_run, &b);
    for (size_t i = 0; i < n && rc < 0; i++)
        ops[i].result = rc;
    if (rc < 0)
        return rc;
    FC_ASSERT(b.applied >= 0 && (size_t)b.applied <= n);
    return b.applied;
}

int fc_jobs_append(struct fc_jobs *s, const struct fc_job *const *jobs, size_t n, int *results) {
    struct fc_jobs_op ops[64];
    if (n > FC_JOBS_BATCH_MAX)
        return -EINVAL;
    if (n <= 64) { /* the common case without an allocation */
        for (size_t i = 0; i < n; i++)
            ops[i] = (struct fc_jobs_op){.kind = FC_JOBS_OP_APPEND, .job = jobs[i]};
        int rc = fc_jobs_apply(s, ops, n);
        for (size_t i = 0; i < n && results != NULL; i++)
            results[i] = ops[i].result;
        return rc;
    }
    struct fc_jobs_op *big = calloc(n, sizeof(*big));
    if (big == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        big[i] = (struct fc_jobs_op){.kind = FC_JOBS_OP_APPEND, .job = jobs[i]};
    int rc = fc_jobs_apply(s, big, n);
    for (size_t i = 0; i < n && results != NULL; i++)
        results[i] = big[i].result;
    free(big);
    return rc;
}

/* ---- recovery ------------------------------------------------------------------------ */

struct recover {
    uint64_t boot_id, now_ms;
    struct fc_jobs_recovery counts;
};

/* Decide the fate of one Running job whose lease is gone (see jobs.h). */
static void recover_job(struct fc_job *j, struct recover *r) {
    FC_ASSERT(j->state == FC_JOB_RUNNING);
    j->lease_boot = 0;
    j->lease_until_ms = 0;
    uint64_t age_ms = r->now_ms > j->created_ms ? r->now_ms - j->created_ms : 0;
    if (j->event_age_max_s != 0 && age_ms > (uint64_t)j->event_age_max_s * 1000) {
        j->state = FC_JOB_EXPIRED;
        r->counts.expired++;
    } else {
        j->state = FC_JOB_ENQUEUED;
        j->due_ms = r->now_ms > j->created_ms ? r->now_ms : j->created_ms;
        r->counts.requeued++;
    }
    if (j->state != FC_JOB_ENQUEUED)
        j->ended_ms = r->now_ms;
    static const char detail[] = "{\"Error\":\"" FC_JOBS_RECOVER_ERROR "\"}";
    int rc = fc_job_event_push(j, j->state, r->now_ms, detail, sizeof(detail) - 1);
    FC_ASSERT(rc == 0);
}

/* Walk the Running part of by_state. Each recovered job leaves it (its entry
 * moves), so the walk re-seeks from `from`, which only moves past kept jobs. */
static int recover_run(struct fc_jobs *s, MDB_txn *txn, void *arg) {
    struct recover *r = arg;
    memset(&r->counts, 0, sizeof(r->counts));
    struct key from = {.len = 1, .b = {FC_JOB_RUNNING}};
    for (;;) { /* ends: each pass recovers one job or moves `from` past one */
        MDB_cursor *c;
        MDB_val k = val_of(&from), v;
        int rc = err_from_mdb(mdb_cursor_open(txn, s->dbi[DB_BY_STATE], &c));
        if (rc < 0)
            return rc;
        rc = err_from_mdb(mdb_cursor_get(c, &k, &v, MDB_SET_RANGE));
        mdb_cursor_close(c);
        if (rc == -ENOENT || (rc == 0 && ((unsigned char *)k.mv_data)[0] != FC_JOB_RUNNING))
            return 0;
        if (rc < 0)
            return rc;
        FC_ASSERT(k.mv_size > 9 && k.mv_size <= sizeof(from.b));
        struct fc_slice id = {(const char *)k.mv_data + 9, (uint32_t)(k.mv_size - 9)};
        struct fc_job j;
        rc = job_read(s, txn, id, &j);
        if (rc == -ENOENT)
            return -EIO; /* an index entry without its job: the store is broken */
        bool corrupt = rc == -EBADMSG || rc == -EPROTO;
        if (rc < 0 && !corrupt)
            return rc;
        if (corrupt || (j.lease_boot == r->boot_id && j.lease_until_ms > r->now_ms)) {
            corrupt ? r->counts.corrupt++ : r->counts.kept++;
            memcpy(from.b, k.mv_data, k.mv_size);
            from.b[k.mv_size] = 0; /* the smallest key after this one */
            from.len = k.mv_size + 1;
            continue;
        }
        recover_job(&j, r);
        struct fc_jobs_op op = {
            .kind = FC_JOBS_OP_UPDATE, .expect_state = FC_JOB_RUNNING, .job = &j};
        rc = op_run(s, txn, &op);
        FC_ASSERT(rc != -ESTALE && rc != -EINVAL); /* Running -> any is allowed */
        if (rc < 0)
            return rc;
    }
}

int fc_jobs_recover(struct fc_jobs *s, uint64_t boot_id, uint64_t now_ms,
                    struct fc_jobs_recovery *out) {
    FC_ASSERT(s != NULL && out != NULL);
    struct recover r = {.boot_id = boot_id, .now_ms = now_ms};
    int rc = write_txn(s, recover_run, &r);
    if (rc < 0)
        return rc;
    *out = r.counts;
    return 0;
}

/* ---- open / close ------------------------------------------------------------------- */

static int env_open(struct fc_jobs *s, const struct fc_jobs_config *cfg, const char *dir) {
    int rc = err_from_mdb(mdb_env_create(&s->env));
    if (rc < 0)
        return rc;
    unsigned flags = MDB_NOTLS | (cfg->sync == FC_JOBS_SYNC_NOMETASYNC ? MDB_NOMETASYNC : 0);
    rc = err_from_mdb(mdb_env_set_maxdbs(s->env, JOBS_DBS));
    if (rc == 0)
        rc = err_from_mdb(mdb_env_set_maxreaders(s->env, FC_JOBS_READERS_MAX));
    if (rc == 0)
        rc = err_from_mdb(mdb_env_set_mapsize(s->env, (size_t)s->map_bytes));
    if (rc == 0)
        rc = err_from_mdb(mdb_env_open(s->env, dir, flags, 0600));
    if (rc < 0)
        return rc;
    if (mdb_env_get_maxkeysize(s->env) < (int)JOBS_KEY_BYTES_MAX)
        return -EINVAL; /* an LMDB built with a smaller MDB_MAXKEYSIZE */
    int dead;
    mdb_reader_check(s->env, &dead); /* slots of crashed processes */
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_bytes = info.me_mapsize; /* at least the existing file's used size */
    MDB_txn *txn = NULL;
    rc = err_from_mdb(mdb_txn_begin(s->env, NULL, 0, &txn));
    for (unsigned i = 0; i < JOBS_DBS && rc == 0; i++)
        rc = err_from_mdb(mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i]));
    if (rc < 0) {
        if (txn != NULL)
            mdb_txn_abort(txn);
        return rc;
    }
    return err_from_mdb(mdb_txn_commit(txn));
}

int fc_jobs_open(const struct fc_jobs_config *cfg, struct fc_jobs **out) {
    FC_ASSERT(cfg != NULL && out != NULL);
    *out = NULL;
    uint64_t map = cfg->map_bytes ? cfg->map_bytes : FC_JOBS_MAP_BYTES_DEFAULT;
    uint64_t max = cfg->map_bytes_max ? cfg->map_bytes_max : FC_JOBS_MAP_BYTES_MAX_DEFAULT;
    if (cfg->data_dir == NULL || map > max || map > SIZE_MAX || max > SIZE_MAX ||
        (cfg->sync != FC_JOBS_SYNC_FULL && cfg->sync != FC_JOBS_SYNC_NOMETASYNC))
        return -EINVAL;
    char dir[JOBS_PATH_BYTES_MAX];
    int n = snprintf(dir, sizeof(dir), "%s/async", cfg->data_dir);
    if (n < 0 || (size_t)n >= sizeof(dir))
        return -ENAMETOOLONG;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    struct fc_jobs *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->map_bytes = map;
    s->map_bytes_max = max;
    s->fault_put_nth = cfg->_fault_put_nth;
    s->fault_commit_nth = cfg->_fault_commit_nth;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* A resize must not starve behind a stream of readers. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = -pthread_rwlock_init(&s->resize_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc < 0) {
        free(s);
        return rc;
    }
    /* Startup allocation: the largest record, so updates never allocate. */
    rc = fc_buf_reserve(&s->scratch, FC_RECORD_BYTES_MAX);
    if (rc == 0)
        rc = env_open(s, cfg, dir);
    if (rc < 0) {
        fc_jobs_close(s);
        return rc;
    }
    if (s->map_bytes > s->map_bytes_max)
        s->map_bytes_max = s->map_bytes; /* an existing store larger than the config */
    *out = s;
    return 0;
}

void fc_jobs_close(struct fc_jobs *s) {
    if (s == NULL)
        return;
    if (s->env != NULL)
        mdb_env_close(s->env); /* also closes the DBIs */
    pthread_rwlock_destroy(&s->resize_lock);
    fc_buf_free(&s->scratch);
    free(s);
}

/* ---- readers ---------------------------------------------------------------------------- */

/* A read txn under the shared resize lock. Pair with read_end. */
static int read_begin(struct fc_jobs *s, MDB_txn **txn) {
    FC_ASSERT(pthread_rwlock_rdlock(&s->resize_lock) == 0);
    int rc = err_from_mdb(mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn));
    if (rc < 0)
        FC_ASSERT(pthread_rwlock_unlock(&s->resize_lock) == 0);
    return rc;
}

static void read_end(struct fc_jobs *s, MDB_txn *txn) {
    mdb_txn_abort(txn);
    FC_ASSERT(pthread_rwlock_unlock(&s->resize_lock) == 0);
}

/* Point j->payload at its out-of-line bytes (in the map; valid in txn). */
static int payload_resolve(struct fc_jobs *s, MDB_txn *txn, struct fc_job *j) {
    if (j->payload_where == FC_JOB_PAYLOAD_INLINE)
        return 0;
    if (j->payload_where != FC_JOB_PAYLOAD_DB)
        return -EBADMSG; /* FILE refs are not written by this store */
    MDB_val k = val_slice(j->request_id), v;
    int rc = err_from_mdb(mdb_get(txn, s->dbi[DB_PAYLOADS], &k, &v));
    if (rc < 0)
        return rc == -ENOENT ? -EBADMSG : rc;
    if (v.mv_size != j->payload_ref.len ||
        fc_crc32c(0, v.mv_data, v.mv_size) != j->payload_ref.crc32c)
        return -EBADMSG;
    j->payload = (struct fc_slice){v.mv_size ? v.mv_data : NULL, (uint32_t)v.mv_size};
    return 0;
}

static int get_copy(struct fc_jobs *s, MDB_txn *txn, struct fc_slice id, bool with_payload,
                    struct fc_buf *buf, struct fc_job *out) {
    MDB_val k = val_slice(id), v, p = {0, NULL};
    int rc = err_from_mdb(mdb_get(txn, s->dbi[DB_JOBS], &k, &v));
    if (rc < 0)
        return rc;
    rc = fc_record_decode(v.mv_data, v.mv_size, out, NULL); /* in the map: check first */
    if (rc == 0 && with_payload && (rc = payload_resolve(s, txn, out)) == 0 &&
        out->payload_where != FC_JOB_PAYLOAD_INLINE)
        p = (MDB_val){out->payload.len, (void *)out->payload.ptr};
    if (rc < 0)
        return rc;
    buf->len = 0;
    if (fc_buf_reserve(buf, v.mv_size + p.mv_size) < 0) /* one allocation, then copies */
        return -ENOMEM;
    memcpy(buf->data, v.mv_data, v.mv_size);
    if (p.mv_size > 0)
        memcpy(buf->data + v.mv_size, p.mv_data, p.mv_size);
    buf->len = v.mv_size + p.mv_size;
    rc = fc_record_decode(buf->data, v.mv_size, out, NULL); /* now pointing into buf */
    FC_ASSERT(rc == 0); /* the same bytes decoded a moment ago */
    if (p.mv_size > 0)
        out->payload = (struct fc_slice){buf->data + v.mv_size, (uint32_t)p.mv_size};
    return 0;
}

int fc_jobs_get(struct fc_jobs *s, const char *id, size_t id_len, bool with_payload,
                struct fc_buf *buf, struct fc_job *out) {
    FC_ASSERT(s != NULL && buf != NULL && out != NULL);
    if (!fc_record_id_valid(id, id_len))
        return -EINVAL;
    MDB_txn *txn;
    int rc = read_begin(s, &txn);
    if (rc < 0)
        return rc;
    rc = get_copy(s, txn, (struct fc_slice){id, (uint32_t)id_len}, with_payload, buf, out);
    read_end(s, txn);
    return rc;
}

/* ---- due scan ------------------------------------------------------------------------- */

static int due_walk(struct fc_jobs *s, MDB_txn *txn, struct fc_jobs_due_cursor *cur,
                    uint64_t until_ms, size_t max, void *arg, fc_jobs_job_cb cb) {
    MDB_cursor *c;
    int rc = err_from_mdb(mdb_cursor_open(txn, s->dbi[DB_DUE], &c));
    if (rc < 0)
        return rc;
    struct key from;
    key_due(&from, cur->due_ms, (struct fc_slice){cur->id, cur->id_len});
    if (cur->id_len > 0)
        from.b[from.len++] = 0; /* strictly after the cursor's key */
    MDB_val k = val_of(&from), v;
    int n = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS && (size_t)n < max;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) { /* bounded by max */
        FC_ASSERT(k.mv_size > 8 && k.mv_size <= 8 + FC_RECORD_ID_BYTES_MAX);
        uint64_t due = get_be64(k.mv_data);
        if (due > until_ms)
            break;
        struct fc_slice id = {(const char *)k.mv_data + 8, (uint32_t)(k.mv_size - 8)};
        cur->due_ms = due; /* advance even past a corrupt record */
        cur->id_len = id.len;
        memcpy(cur->id, id.ptr, id.len);
        struct fc_job j;
        int jr = job_read(s, txn, id, &j);
        if (jr < 0 || j.state != FC_JOB_ENQUEUED || j.due_ms != due) {
            cur->corrupt++; /* undecodable, or (disk damage) disagreeing with its index */
            continue;
        }
        n++;
        if (cb(arg, &j) != 0)
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? n : err_from_mdb(rc);
}

int fc_jobs_due(struct fc_jobs *s, struct fc_jobs_due_cursor *cur, uint64_t until_ms, size_t max,
                void *arg, fc_jobs_job_cb cb) {
    FC_ASSERT(s != NULL && cur != NULL && cb != NULL);
    FC_ASSERT(cur->id_len <= FC_RECORD_ID_BYTES_MAX);
    struct fc_jobs_due_cursor saved = *cur;
    MDB_txn *txn;
    int rc = read_begin(s, &txn);
    if (rc < 0)
        return rc;
    rc = due_walk(s, txn, cur, until_ms, max, arg, cb);
    read_end(s, txn);
    if (rc < 0)
        *cur = saved;
    return rc;
}

/* ---- list ----------------------------------------------------------------------------- */

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Token "<16 hex created_ms><id>" -> by_fn key after prefix. */
static int token_parse(struct fc_slice t, struct key *k) {
    if (t.len < 17 || t.len > FC_JOBS_TOKEN_BYTES_MAX - 1)
        return -EINVAL;
    uint64_t created = 0;
    for (int i = 0; i < 16; i++) {
        int d = hex_digit(t.ptr[i]);
        if (d < 0)
            return -EINVAL;
        created = created << 4 | (uint64_t)d;
    }
    if (!fc_record_id_valid(t.ptr + 16, t.len - 16))
        return -EINVAL;
    key_be64(k, created);
    key_add(k, t.ptr + 16, t.len - 16);
    return 0;
}

static void token_format(char *out, const MDB_val *k, size_t prefix_len) {
    FC_ASSERT(k->mv_size > prefix_len + 8);
    const unsigned char *p = (const unsigned char *)k->mv_data + prefix_len;
    size_t id_len = k->mv_size - prefix_len - 8;
    FC_ASSERT(id_len <= FC_RECORD_ID_BYTES_MAX);
    snprintf(out, FC_JOBS_TOKEN_BYTES_MAX, "%016llx%.*s", (unsigned long long)get_be64(p),
             (int)id_len, (const char *)p + 8);
}

static bool list_match(const struct fc_jobs_query *q, const struct fc_job *j) {
    if (q->state != 0 && j->state != q->state)
        return false;
    if (q->qualifier.len > 0 && (j->qualifier.len != q->qualifier.len ||
                                 memcmp(j->qualifier.ptr, q->qualifier.ptr, q->qualifier.len)))
        return false;
    return q->id_prefix.len == 0 ||
           (j->request_id.len >= q->id_prefix.len &&
            memcmp(j->request_id.ptr, q->id_prefix.ptr, q->id_prefix.len) == 0);
}

struct list_walk {
    const struct fc_jobs_query *q;
    struct key lo, hi; /* the range [lo, hi) of by_fn keys */
    struct key start;  /* the token's key when q->token is set */
    size_t prefix_len;
    char *next_token;
};

/* Position c at the first key to visit, per direction and token. Returns an
 * MDB code. */
static int list_seek(MDB_cursor *c, const struct list_walk *w, MDB_val *k) {
    MDB_val v;
    const struct key *start = w->q->token.len > 0 ? &w->start : w->q->descending ? &w->hi : &w->lo;
    *k = val_of(start);
    int rc = mdb_cursor_get(c, k, &v, MDB_SET_RANGE);
    if (!w->q->descending)
        return rc;
    bool exact = rc == MDB_SUCCESS && w->q->token.len > 0 && k->mv_size == start->len &&
                 memcmp(k->mv_data, start->b, start->len) == 0;
    if (exact)
        return rc;
    if (rc == MDB_NOTFOUND)
        return mdb_cursor_get(c, k, &v, MDB_LAST);
    return rc == MDB_SUCCESS ? mdb_cursor_get(c, k, &v, MDB_PREV) : rc;
}

static bool in_range(const struct list_walk *w, const MDB_val *k) {
    size_t lo_n = k->mv_size < w->lo.len ? k->mv_size : w->lo.len;
    size_t hi_n = k->mv_size < w->hi.len ? k->mv_size : w->hi.len;
    int lo = memcmp(k->mv_data, w->lo.b, lo_n);
    int hi = memcmp(k->mv_data, w->hi.b, hi_n);
    return (lo > 0 || (lo == 0 && k->mv_size >= w->lo.len)) &&
           (hi < 0 || (hi == 0 && k->mv_size < w->hi.len));
}

static int list_walk(struct fc_jobs *s, MDB_txn *txn, struct list_walk *w, void *arg,
                     fc_jobs_job_cb cb) {
    MDB_cursor *c;
    int rc = err_from_mdb(mdb_cursor_open(txn, s->dbi[DB_BY_FN], &c));
    if (rc < 0)
        return rc;
    MDB_val k, v;
    int n = 0;
    unsigned scanned = 0;
    MDB_cursor_op step = w->q->descending ? MDB_PREV : MDB_NEXT;
    for (rc = list_seek(c, w, &k); rc == MDB_SUCCESS && in_range(w, &k);
         rc = mdb_cursor_get(c, &k, &v, step)) { /* bounded by FC_JOBS_LIST_SCAN_MAX */
        if ((uint32_t)n == w->q->limit || scanned++ == FC_JOBS_LIST_SCAN_MAX) {
            token_format(w->next_token, &k, w->prefix_len);
            break;
        }
        FC_ASSERT(k.mv_size > w->prefix_len + 8);
        struct fc_slice id = {(const char *)k.mv_data + w->prefix_len + 8,
                              (uint32_t)(k.mv_size - w->prefix_len - 8)};
        struct fc_job j;
        if (job_read(s, txn, id, &j) < 0 || !list_match(w->q, &j))
            continue; /* corrupt records are skipped, like non-matching ones */
        if (w->q->with_payload && payload_resolve(s, txn, &j) < 0)
            continue;
        n++;
        if (cb(arg, &j) != 0)
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? n : err_from_mdb(rc);
}

static bool query_valid(const struct fc_jobs_query *q) {
    bool state_ok =
        q->state == 0 || (q->state >= FC_JOB_STATE_FIRST && q->state <= FC_JOB_STATE_LAST);
    return q->limit >= 1 && q->limit <= FC_JOBS_LIST_LIMIT_MAX && state_ok &&
           q->service.len <= FC_RECORD_SERVICE_BYTES_MAX &&
           fc_record_id_valid(q->service.ptr, q->service.len) &&
           q->function.len <= FC_RECORD_FUNCTION_BYTES_MAX &&
           fc_record_id_valid(q->function.ptr, q->function.len) &&
           q->id_prefix.len <= FC_RECORD_ID_BYTES_MAX &&
           q->qualifier.len <= FC_RECORD_QUALIFIER_BYTES_MAX;
}

int fc_jobs_list(struct fc_jobs *s, const struct fc_jobs_query *q,
                 char next_token[FC_JOBS_TOKEN_BYTES_MAX], void *arg, fc_jobs_job_cb cb) {
    FC_ASSERT(s != NULL && q != NULL && next_token != NULL && cb != NULL);
    next_token[0] = 0;
    if (!query_valid(q))
        return -EINVAL;
    struct list_walk w = {.q = q, .next_token = next_token};
    key_fn_prefix(&w.lo, q->service, q->function);
    w.prefix_len = w.lo.len;
    w.hi = w.start = w.lo;
    if (q->token.len > 0 && token_parse(q->token, &w.start) < 0)
        return -EINVAL;
    key_be64(&w.lo, q->created_ms_begin);
    if (q->created_ms_end != 0)
        key_be64(&w.hi, q->created_ms_end);
    else
        w.hi.b[w.prefix_len - 1] = 1; /* "service/function\1": past every created_ms */
    MDB_txn *txn;
    int rc = read_begin(s, &txn);
    if (rc < 0)
        return rc;
    rc = list_walk(s, txn, &w, arg, cb);
    read_end(s, txn);
    if (rc < 0)
        next_token[0] = 0;
    return rc;
}

/* ---- stat and validate ------------------------------------------------------------------ */

static int stat_txn(struct fc_jobs *s, MDB_txn *txn, struct fc_jobs_stat *out) {
    uint64_t *counts[JOBS_DBS] = {&out->jobs, &out->payloads, &out->due, &out->by_fn,
                                  &out->by_state};
    for (unsigned i = 0; i < JOBS_DBS; i++) {
        MDB_stat st;
        int rc = err_from_mdb(mdb_stat(txn, s->dbi[i], &st));
        if (rc < 0)
            return rc;
        *counts[i] = st.ms_entries;
    }
    MDB_envinfo info;
    MDB_stat env;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &env);
    out->map_bytes = info.me_mapsize;
    out->used_bytes = ((uint64_t)info.me_last_pgno + 1) * env.ms_psize;
    return 0;
}

int fc_jobs_stat(struct fc_jobs *s, struct fc_jobs_stat *out) {
    FC_ASSERT(s != NULL && out != NULL);
    memset(out, 0, sizeof(*out));
    MDB_txn *txn;
    int rc = read_begin(s, &txn);
    if (rc < 0)
        return rc;
    rc = stat_txn(s, txn, out);
    read_end(s, txn);
    return rc;
}

static bool has_key(struct fc_jobs *s, MDB_txn *txn, int db, const struct key *k) {
    MDB_val kv = val_of(k), v;
    return mdb_get(txn, s->dbi[db], &kv, &v) == MDB_SUCCESS;
}

/* One job's own entries. Returns NULL or the reason it is inconsistent. */
static const char *validate_job(struct fc_jobs *s, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
                                uint64_t *enqueued, uint64_t *ext) {
    struct fc_job j;
    struct key key;
    if (fc_record_decode(v->mv_data, v->mv_size, &j, NULL) < 0)
        return "jobs: a record does not decode";
    if (j.request_id.len != k->mv_size || memcmp(j.request_id.ptr, k->mv_data, k->mv_size) != 0)
        return "jobs: a record's request_id differs from its key";
    key_fn(&key, &j);
    if (!has_key(s, txn, DB_BY_FN, &key))
        return "by_fn: a job has no entry";
    key_state(&key, &j);
    if (!has_key(s, txn, DB_BY_STATE, &key))
        return "by_state: a job has no entry for its state";
    key_due(&key, j.due_ms, j.request_id);
    if ((j.state == FC_JOB_ENQUEUED) != has_key(s, txn, DB_DUE, &key))
        return "due: an entry is missing, or present for a job not Enqueued";
    *enqueued += j.state == FC_JOB_ENQUEUED;
    if (j.payload_where == FC_JOB_PAYLOAD_INLINE)
        return NULL;
    *ext += 1;
    return payload_resolve(s, txn, &j) == 0 ? NULL : "payloads: missing, or length/CRC differ";
}

static int validate_txn(struct fc_jobs *s, MDB_txn *txn, const char **reason) {
    struct fc_jobs_stat st;
    int rc = stat_txn(s, txn, &st);
    MDB_cursor *c;
    if (rc < 0 || (rc = err_from_mdb(mdb_cursor_open(txn, s->dbi[DB_JOBS], &c))) < 0)
        return rc;
    MDB_val k, v;
    uint64_t jobs = 0, enqueued = 0, ext = 0;
    const char *why = NULL;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == MDB_SUCCESS && why == NULL;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) { /* bounded by the entries */
        why = validate_job(s, txn, &k, &v, &enqueued, &ext);
        jobs++;
    }
    mdb_cursor_close(c);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        return err_from_mdb(rc);
    /* Every job has its own entries (above); equal counts leave no room for
     * orphans, since each entry's key names one job. */
    if (why == NULL && (st.by_fn != jobs || st.by_state != jobs))
        why = "by_fn/by_state: entry count differs from the jobs";
    if (why == NULL && st.due != enqueued)
        why = "due: entry count differs from the Enqueued jobs";
    if (why == NULL && st.payloads != ext)
        why = "payloads: entry count differs from the out-of-line payloads";
    if (why != NULL && reason != NULL)
        *reason = why;
    return why == NULL ? 0 : -EBADMSG;
}

int fc_jobs_validate(struct fc_jobs *s, const char **reason) {
    FC_ASSERT(s != NULL);
    MDB_txn *txn;
    int rc = read_begin(s, &txn);
    if (rc < 0)
        return rc;
    rc = validate_txn(s, txn, reason);
    read_end(s, txn);
    return rc;
}
