/* catalog.c — see catalog.h. */
#include "store/catalog.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct fc_catalog_store {
    MDB_env *env;
    MDB_dbi dbi;
};

/* LMDB's codes to -errno (only store/ sees MDB_*). */
static int errno_of(int rc) {
    switch (rc) {
    case MDB_SUCCESS: return 0;
    case MDB_NOTFOUND: return -ENOENT;
    case MDB_MAP_FULL: return -ENOSPC;
    case MDB_BAD_VALSIZE: return -EINVAL;
    default: return rc > 0 ? -rc : -EIO;
    }
}

int fc_catalog_store_open(const char *dir, struct fc_catalog_store **out) {
    *out = NULL;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    struct fc_catalog_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&s->env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, FC_CATALOG_STORE_MAP_BYTES);
    if (rc == 0) /* MDB_NOTLS: the txn is not tied to a thread's TLS slot */
        rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
    if (rc == 0)
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc != 0) {
        if (txn)
            mdb_txn_abort(txn);
        if (s->env)
            mdb_env_close(s->env);
        free(s);
        return errno_of(rc);
    }
    *out = s;
    return 0;
}

void fc_catalog_store_close(struct fc_catalog_store *s) {
    if (s == NULL)
        return;
    mdb_env_close(s->env);
    free(s);
}

int fc_catalog_store_load(struct fc_catalog_store *s,
                          int (*each_cb)(const char *, size_t, const char *, size_t, void *),
                          void *arg) {
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return errno_of(rc);
    rc = mdb_cursor_open(txn, s->dbi, &cur);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return errno_of(rc);
    }
    MDB_val k, v;
    int out = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && out == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        out = each_cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (out < 0)
        return out;
    return rc == MDB_NOTFOUND ? 0 : errno_of(rc);
}

int fc_catalog_store_apply(struct fc_catalog_store *s, const struct fc_catalog_store_op *ops,
                           size_t n) {
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(ops[i].key);
        if (len == 0 || len > FC_CATALOG_STORE_KEY_BYTES_MAX)
            return -EINVAL;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return errno_of(rc);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        MDB_val k = {strlen(ops[i].key), (void *)ops[i].key};
        if (ops[i].value != NULL) {
            MDB_val v = {ops[i].value_len, (void *)ops[i].value};
            rc = mdb_put(txn, s->dbi, &k, &v, 0);
        } else {
            rc = mdb_del(txn, s->dbi, &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return errno_of(rc);
    }
    return errno_of(mdb_txn_commit(txn)); /* durable: the env is opened without NOSYNC */
}
