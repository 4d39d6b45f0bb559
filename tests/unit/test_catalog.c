/* test_catalog.c — store/catalog.h: the catalog's documents in LMDB. */
#include "store/catalog.h"
#include "tests/unit/test.h"

#include <errno.h>
#include <unistd.h>

struct seen {
    char keys[8][64];
    char values[8][64];
    int n;
};

static int collect_cb(const char *key, size_t key_len, const char *value, size_t value_len,
                      void *arg) {
    struct seen *s = arg;
    FC_CHECK(s->n < 8);
    snprintf(s->keys[s->n], 64, "%.*s", (int)key_len, key);
    snprintf(s->values[s->n], 64, "%.*s", (int)value_len, value);
    s->n++;
    return 0;
}

static int stop_cb(const char *key, size_t key_len, const char *value, size_t value_len,
                   void *arg) {
    (void)key, (void)key_len, (void)value, (void)value_len, (void)arg;
    return -ECANCELED;
}

static void remove_store(const char *dir) {
    char p[256];
    snprintf(p, sizeof(p), "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

FC_TEST(catalog_store_apply_load_reopen) {
    char dir[] = "/tmp/fc-catalog-XXXXXX";
    FC_CHECK(mkdtemp(dir) != NULL);
    struct fc_catalog_store *s;
    FC_CHECK_INT(fc_catalog_store_open(dir, &s), 0);
    struct fc_catalog_store_op ops[] = {
        {"s/svc", "{\"a\":1}", 7}, {"f/svc/fn", "{}", 2}, {"t/svc/fn/http", "[]", 2}};
    FC_CHECK_INT(fc_catalog_store_apply(s, ops, 3), 0);
    /* Delete one, replace one, and a missing delete is no error. */
    struct fc_catalog_store_op more[] = {
        {"t/svc/fn/http", NULL, 0}, {"s/svc", "{\"a\":2}", 7}, {"t/none", NULL, 0}};
    FC_CHECK_INT(fc_catalog_store_apply(s, more, 3), 0);
    fc_catalog_store_close(s);

    FC_CHECK_INT(fc_catalog_store_open(dir, &s), 0);
    struct seen seen = {0};
    FC_CHECK_INT(fc_catalog_store_load(s, collect_cb, &seen), 0);
    FC_CHECK_INT(seen.n, 2); /* key order */
    FC_CHECK_STR(seen.keys[0], "f/svc/fn");
    FC_CHECK_STR(seen.keys[1], "s/svc");
    FC_CHECK_STR(seen.values[1], "{\"a\":2}");
    FC_CHECK_INT(fc_catalog_store_load(s, stop_cb, NULL), -ECANCELED);
    /* A bad key fails the whole batch: nothing of it is stored. */
    struct fc_catalog_store_op bad[] = {{"s/new", "{}", 2}, {"", "{}", 2}};
    FC_CHECK_INT(fc_catalog_store_apply(s, bad, 2), -EINVAL);
    seen.n = 0;
    FC_CHECK_INT(fc_catalog_store_load(s, collect_cb, &seen), 0);
    FC_CHECK_INT(seen.n, 2);
    fc_catalog_store_close(s);
    remove_store(dir);
}
