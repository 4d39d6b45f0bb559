/* catalog.h — the durable function catalog (LMDB): the JSON documents the
 * management API creates (services, functions, triggers, async configs).
 *
 * One LMDB environment in <data_dir>/catalog/ (its own, so a management
 * write never waits on the async store's group commit and the other way
 * round). One DB maps a key to a document's JSON text:
 *   "s/" service                            -> service document
 *   "f/" service "/" function               -> function document
 *   "t/" service "/" function "/" trigger   -> trigger document
 *   "a/" service "/" function "/" qualifier -> async invoke config
 * Names follow FC's rule (letters, digits, '_', '-'), so '/' never occurs
 * inside one and key order groups a service's children after it.
 *
 * What a document holds is core/ctl.c's business; here they are opaque
 * bytes. Every change is a batch applied in one write txn, durable (fsync)
 * before fc_catalog_store_apply returns: a management call that answered
 * 200 survives a crash, and a failed call leaves nothing behind.
 *
 * Threads: one thread at a time (the ctl thread); open/close once. */
#ifndef FC_STORE_CATALOG_H
#define FC_STORE_CATALOG_H

#include <stddef.h>

#define FC_CATALOG_STORE_MAP_BYTES (256ull << 20) /* virtual; documents are small */
#define FC_CATALOG_STORE_KEY_BYTES_MAX 511u       /* LMDB's MDB_MAXKEYSIZE */

struct fc_catalog_store;

/* Open (creating) the store in directory dir (created 0700 if missing).
 * Returns 0 and *out, or -errno (nothing open). */
int fc_catalog_store_open(const char *dir, struct fc_catalog_store **out);

void fc_catalog_store_close(struct fc_catalog_store *s);

/* Call each_cb(key, key_len, value, value_len, arg) for every document in
 * key order, in one read txn; the slices are valid during the call only.
 * A callback's negative return stops the walk and is returned. Returns 0 or
 * -errno. */
int fc_catalog_store_load(struct fc_catalog_store *s,
                          int (*each_cb)(const char *key, size_t key_len, const char *value,
                                         size_t value_len, void *arg),
                          void *arg);

/* One change: put value (value != NULL) or delete the key (value == NULL; a
 * missing key is not an error). */
struct fc_catalog_store_op {
    const char *key; /* NUL-terminated, 1..FC_CATALOG_STORE_KEY_BYTES_MAX bytes */
    const char *value;
    size_t value_len;
};

/* Apply ops[0..n) in one write txn and commit it durably. All or nothing:
 * on error nothing changed. Returns 0, -EINVAL (a key out of bounds),
 * -ENOSPC (map full) or another -errno. */
int fc_catalog_store_apply(struct fc_catalog_store *s, const struct fc_catalog_store_op *ops,
                           size_t n);

#endif
