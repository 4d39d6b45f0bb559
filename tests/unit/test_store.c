/* test_store.c — store/jobs.h: the LMDB job store. Every test works in its
 * own mkdtemp directory and runs fc_jobs_validate (jobs vs indexes) after
 * each change. */
#include "store/jobs.h"
#include "tests/unit/test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEED 0xc0ffee11u
#define T0_MS 1700000000000ull

static uint32_t rnd(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void tmp_dir(char *dir) {
    strcpy(dir, "/tmp/fc-store-XXXXXX");
    FC_CHECK(mkdtemp(dir) != NULL);
}

static void tmp_remove(const char *dir) {
    char p[256];
    snprintf(p, sizeof(p), "%s/async/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/async/lock.mdb", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/async", dir);
    rmdir(p);
    rmdir(dir);
}

static struct fc_jobs *open_at(const char *dir, uint64_t map, uint64_t max) {
    struct fc_jobs_config cfg = {.data_dir = dir, .map_bytes = map, .map_bytes_max = max};
    struct fc_jobs *s = NULL;
    FC_CHECK_INT(fc_jobs_open(&cfg, &s), 0);
    return s;
}

static void validate(struct fc_jobs *s) {
    const char *why = "?";
    int rc = fc_jobs_validate(s, &why);
    if (rc != 0)
        fprintf(stderr, "# validate: %s\n", why);
    FC_CHECK_INT(rc, 0);
}

static struct fc_slice sl(const char *s) {
    return (struct fc_slice){s, (uint32_t)strlen(s)};
}

/* A job whose strings live in the caller's `id` buffer (kept alive). */
static struct fc_job mk(const char *id, const char *fn, uint64_t created, uint64_t delay) {
    return (struct fc_job){.request_id = sl(id),
                           .service = sl("svc"),
                           .function = sl(fn),
                           .qualifier = sl("LATEST"),
                           .state = FC_JOB_ENQUEUED,
                           .created_ms = created,
                           .due_ms = created + delay,
                           .retries_max = 3,
                           .event_age_max_s = 86400,
                           .payload = sl("{\"k\":1}")};
}

static int get_state(struct fc_jobs *s, const char *id, struct fc_buf *b) {
    struct fc_job j;
    int rc = fc_jobs_get(s, id, strlen(id), false, b, &j);
    return rc < 0 ? rc : j.state;
}

FC_TEST(store_append_get) {
    char dir[64];
    tmp_dir(dir);
    struct fc_jobs *s = open_at(dir, 0, 0);
    static char big[FC_RECORD_PAYLOAD_BYTES_MAX];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 31 + 7);
    struct fc_job a = mk("small", "f", T0_MS, 0), b = mk("large", "f", T0_MS, 0);
    b.payload = (struct fc_slice){big, sizeof(big)};
    b.content_type = sl("application/octet-stream");
    const struct fc_job *jobs[] = {&a, &b};
    int res[2];
    FC_CHECK_INT(fc_jobs_append(s, jobs, 2, res), 2);
    FC_CHECK(res[0] == 0 && res[1] == 0);
    validate(s);
    struct fc_buf buf = {0};
    struct fc_job g;
    FC_CHECK_INT(fc_jobs_get(s, "small", 5, false, &buf, &g), 0);
    FC_CHECK_SLICE(g.payload.ptr, g.payload.len, "{\"k\":1}");
    FC_CHECK_INT(g.payload_where, FC_JOB_PAYLOAD_INLINE);
    FC_CHECK(g.request_id.ptr >= buf.data && g.request_id.ptr < buf.data + buf.len);
    FC_CHECK_INT(fc_jobs_get(s, "large", 5, false, &buf, &g), 0);
    FC_CHECK_INT(g.payload_where, FC_JOB_PAYLOAD_DB); /* moved out of the record */
    FC_CHECK(g.payload.ptr == NULL && g.payload_ref.len == sizeof(big));
    FC_CHECK_SLICE(g.content_type.ptr, g.content_type.len, "application/octet-stream");
    FC_CHECK_INT(fc_jobs_get(s, "large", 5, true, &buf, &g), 0);
    FC_CHECK(g.payload.len == sizeof(big) && memcmp(g.payload.ptr, big, sizeof(big)) == 0);
    FC_CHECK_INT(fc_jobs_get(s, "nope", 4, false, &buf, &g), -ENOENT);
    FC_CHECK_INT(fc_jobs_get(s, "-bad", 4, false, &buf, &g), -EINVAL);
    /* Reopen: still there. */
    fc_jobs_close(s);
    s = open_at(dir, 0, 0);
    FC_CHECK_INT(fc_jobs_get(s, "large", 5, true, &buf, &g), 0);
    FC_CHECK(memcmp(g.payload.ptr, big, sizeof(big)) == 0);
    validate(s);
    struct fc_jobs_stat st;
    FC_CHECK_INT(fc_jobs_stat(s, &st), 0);
    FC_CHECK(st.jobs == 2 && st.payloads == 1 && st.due == 2 && st.by_fn == 2);
    fc_buf_free(&buf);
    fc_jobs_close(s);
    tmp_remove(dir);
}

FC_TEST(store_duplicate_ids) {
    char dir[64];
    tmp_dir(dir);
    struct fc_jobs *s = open_at(dir, 0, 0);
    struct fc_job a = mk("dup", "f", T0_MS, 0), b = mk("dup", "f", T0_MS + 5, 9),
                  c = mk("other", "f", T0_MS, 0);
    b.payload = sl("second");
    const struct fc_job *batch1[] = {&a, &b, &c}; /* a duplicate inside one batch */
    int res[3];
    FC_CHECK_INT(fc_jobs_append(s, batch1, 3, res), 2);
    FC_CHECK(res[0] == 0 && res[1] == -EEXIST && res[2] == 0);
    const struct fc_job *batch2[] = {&b}; /* and across batches */
    FC_CHECK_INT(fc_jobs_append(s, batch2, 1, res), 0);
    FC_CHECK_INT(res[0], -EEXIST);
    struct fc_buf buf = {0};
    struct fc_job g;
    FC_CHECK_INT(fc_jobs_get(s, "dup", 3, false, &buf, &g), 0);
    FC_CHECK_SLICE(g.payload.ptr, g.payload.len, "{\"k\":1}"); /* the first one stays */
    FC_CHECK_INT(g.created_ms, T0_MS);
    struct fc_jobs_stat st;
    FC_CHECK_INT(fc_jobs_stat(s, &st), 0);
    FC_CHECK(st.jobs == 2 && st.due == 2);
    validate(s);
    /* An invalid record is refused per op, the rest of the batch commits. */
    struct fc_job bad = mk("bad", "f", T0_MS, 0), ok = mk("ok", "f", T0_MS, 0);
    bad.retries_max = 99;
    const struct fc_job *batch3[] = {&bad, &ok};
    FC_CHECK_INT(fc_jobs_append(s, batch3, 2, res), 1);
    FC_CHECK(res[0] == -EINVAL && res[1] == 0);
    validate(s);
    fc_buf_free(&buf);
    fc_jobs_close(s);
    tmp_remove(dir);
}

struct collect {
    int n;
    uint64_t due[64];
    char ids[64][16];
};

static int collect_cb(void *arg, const struct fc_job *j) {
    struct collect *c = arg;
    FC_CHECK(c->n < 64 && j->request_id.len < 16);
    c->due[c->n] = j->due_ms;
    memcpy(c->ids[c->n], j->request_id.ptr, j->request_id.len);
    c->ids[c->n][j->request_id.len] = 0;
    c->n++;
    return 0;
}

FC_TEST(store_due_order) {
    char dir[64];
    tmp_dir(dir);
    struct fc_jobs *s = open_at(dir, 0, 0);
    uint32_t seed = SEED;
    char ids[40][16];
    struct fc_job jobs[40];
    const struct fc_job *ptrs[40];
    for (int i = 0; i < 40; i++) {
        snprintf(ids[i], sizeof(ids[i]), "j%02d", i);
        jobs[i] = mk(ids[i], "f", T0_MS, rnd(&seed) % 10 * 1000); /* ties on due_ms */
        ptrs[i] = &jobs[i];
    }
    FC_CHECK_INT(fc_jobs_append(s, ptrs, 40, NULL), 40);
    /* Non-Enqueued jobs leave the due index. */
    jobs[3].state = FC_JOB_RUNNING;
    struct fc_jobs_op op = {.kind = FC_JOBS_OP_UPDATE, .job = &jobs[3]};
    FC_CHECK_INT(fc_jobs_apply(s, &op, 1), 1);
    validate(s);
    struct collect all = {0};
    struct fc_jobs_due_cursor cur = {0};
    FC_CHECK_INT(fc_jobs_due(s, &cur, UINT64_MAX, 64, &all, collect_cb), 39);
    for (int i = 1; i < all.n; i++) /* (due, id) order */
        FC_CHECK(all.due[i - 1] < all.due[i] ||
                 (all.due[i - 1] == all.due[i] && strcmp(all.ids[i - 1], all.ids[i]) < 0));
    for (int i = 0; i < all.n; i++)
        FC_CHECK(strcmp(all.ids[i], "j03") != 0);
    /* Resuming in pages of 7 gives the same sequence; until_ms cuts. */
    struct collect paged = {0};
    struct fc_jobs_due_cursor c2 = {0};
    int got;
    while ((got = fc_jobs_due(s, &c2, UINT64_MAX, 7, &paged, collect_cb)) > 0)
        FC_CHECK(got <= 7);
    FC_CHECK_INT(got, 0);
    FC_CHECK_INT(paged.n, 39);
    FC_CHECK(memcmp(paged.ids, all.ids, sizeof(all.ids)) == 0);
    struct collect early = {0};
    struct fc_jobs_due_cursor c3 = {0};
    int n = fc_jobs_due(s, &c3, T0_MS + 4999, 64, &early, collect_cb);
    FC_CHECK(n > 0 && n < 39);
    for (int i = 0; i < n; i++)
        FC_CHECK(early.due[i] <= T0_MS + 4999);
    FC_CHECK(all.due[n] > T0_MS + 4999);
    fc_jobs_close(s);
    tmp_remove(dir);
}

/* Random appends, transitions and deletes against a model (state per id);
 * after every batch the validator cross-checks records and indexes. */
FC_TEST(store_updates_keep_indexes) {
    char dir[64];
    tmp_dir(dir);
    struct fc_jobs *s = open_at(dir, 0, 0);
    enum { N = 60 };
    char ids[N][16] = {{0}};
    int model[N] = {0}; /* 0 = absent */
    static char big[10000];
    uint32_t seed = SEED;
    struct fc_buf buf = {0};
    for (int round = 0; round < 150; round++) {
        struct fc_jobs_op ops[8];
        struct fc_job jobs[8];
        int want[8], idx[8], nops = 1 + (int)(rnd(&seed) % 8);
        for (int k = 0; k < nops; k++) {
            int i = idx[k] = (int)(rnd(&seed) % N);
            snprintf(ids[i], sizeof(ids[i]), "t%d", i);
            jobs[k] = mk(ids[i], i % 3 ? "fa" : "fb", T0_MS + (uint64_t)i, rnd(&seed) % 5000);
            if (i % 4 == 0)
                jobs[k].payload = (struct fc_slice){big, sizeof(big)};
            int cur = model[i];
            for (int p = 0; p < k; p++) /* earlier ops of this batch on the same id */
                if (idx[p] == i && want[p] == 0)
                    cur = ops[p].kind == FC_JOBS_OP_DELETE ? 0 : jobs[p].state;
            uint32_t r = rnd(&seed) % 10;
            ops[k] = (struct fc_jobs_op){.job = &jobs[k], .id = sl(ids[i])};
            if (cur == 0 || r == 0) {
                ops[k].kind = FC_JOBS_OP_APPEND;
                want[k] = cur == 0 ? 0 : -EEXIST;
            } else if (r == 1) {
                ops[k].kind = FC_JOBS_OP_DELETE;
                ops[k].expect_state = (uint8_t)(r % 2 ? 0 : cur);
                want[k] = 0;
            } else {
                int to = FC_JOB_STATE_FIRST + (int)(rnd(&seed) % 6);
                jobs[k].state = (uint8_t)to;
                ops[k].kind = FC_JOBS_OP_UPDATE;
                ops[k].expect_state = (uint8_t)(r == 2 ? FC_JOB_EXPIRED : 0);
                want[k] = r == 2 && cur != FC_JOB_EXPIRED                    ? -ESTALE
                          : to == cur || fc_job_state_transition_ok(cur, to) ? 0
                                                                             : -EINVAL;
            }
        }
        int applied = fc_jobs_apply(s, ops, (size_t)nops), expect_applied = 0;
        for (int k = 0; k < nops; k++) {
            if (ops[k].result != want[k])
                fprintf(stderr, "# seed %#x round %d op %d kind %d: %d, want %d\n", SEED, round, k,
                        ops[k].kind, ops[k].result, want[k]);
            FC_CHECK_INT(ops[k].result, want[k]);
            if (want[k] == 0) {
                expect_applied++;
                model[idx[k]] = ops[k].kind == FC_JOBS_OP_DELETE ? 0 : jobs[k].state;
            }
        }
        FC_CHECK_INT(applied, expect_applied);
        validate(s);
        for (int i = 0; i < N; i++)
            if (ids[i][0] != 0)
                FC_CHECK_INT(get_state(s, ids[i], &buf), model[i] ? model[i] : -ENOENT);
    }
    fc_buf_free(&buf);
    fc_jobs_close(s);
    tmp_remove(dir);
}

struct list_out {
    int n;
    char ids[100][16];
};

static int list_cb(void *arg, const struct fc_job *j) {
    struct list_out *o = arg;
    FC_CHECK(o->n < 100 && j->request_id.len < 16);
    memcpy(o->ids[o->n], j->request_id.ptr, j->request_id.len);
    o->ids[o->n][j->request_id.len] = 0;
    o->n++;
    return 0;
}

/* All pages of a query, concatenated into out. */
static void list_all(struct fc_jobs *s, struct fc_jobs_query q, struct list_out *out) {
    char token[FC_JOBS_TOKEN_BYTES_MAX];
    memset(out, 0, sizeof(*out));
    for (int pages = 0; pages < 100; pages++) {
        int n = fc_jobs_list(s, &q, token, out, list_cb);
        FC_CHECK(n >= 0 && (uint32_t)n <= q.limit);
        if (token[0] == 0)
            return;
        static char keep[FC_JOBS_TOKEN_BYTES_MAX];
        strcpy(keep, token);
        q.token = sl(keep);
    }
    FC_CHECK(!"pagination did not end");
}

FC_TEST(store_list_filters_pagination) {
    char dir[64];
    tmp_dir(dir);
    struct fc_jobs *s = open_at(dir, 0, 0);
    char ids[30][16];
    struct fc_job jobs[30];
    const struct fc_job *ptrs[30];
    for (int i = 0; i < 30; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%s%02d", i % 2 ? "odd" : "even", i);
        /* f and its prefix-sibling f2 must not mix. */
        jobs[i] = mk(ids[i], i < 25 ? "f" : "f2", T0_MS + (uint64_t)(i / 2) * 10, 0);
        ptrs[i] = &jobs[i];
    }
    FC_CHECK_INT(fc_jobs_append(s, ptrs, 30, NULL), 30);
    jobs[4].state = FC_JOB_RUNNING;
    struct fc_jobs_op op = {.kind = FC_JOBS_OP_UPDATE, .job = &jobs[4]};
    FC_CHECK_INT(fc_jobs_apply(s, &op, 1), 1);
    struct fc_jobs_query q = {.service = sl("svc"), .function = sl("f"), .limit = 4};
    struct list_out out;
    list_all(s, q, &out);
    FC_CHECK_INT(out.n, 25);
    for (int i = 0; i < 25; i++) /* created order; ties by id ("even" < "odd") */
        FC_CHECK_STR(out.ids[i], ids[i]);
    q.descending = true;
    list_all(s, q, &out);
    FC_CHECK_INT(out.n, 25);
    for (int i = 0; i < 25; i++)
        FC_CHECK_STR(out.ids[i], ids[24 - i]);
    q = (struct fc_jobs_query){
        .service = sl("svc"), .function = sl("f"), .limit = 3, .id_prefix = sl("odd")};
    list_all(s, q, &out);
    FC_CHECK_INT(out.n, 12);
    q = (struct fc_jobs_query){
        .service = sl("svc"), .function = sl("f"), .limit = 10, .state = FC_JOB_RUNNING};
    list_all(s, q, &out);
    FC_CHECK(out.n == 1 && strcmp(out.ids[0], "even04") == 0);
    q = (struct fc_jobs_query){.service = sl("svc"),
                               .function = sl("f"),
                               .limit = 100,
                               .created_ms_begin = T0_MS + 20,
                               .created_ms_end = T0_MS + 50};
    list_all(s, q, &out); /* created T0+20, +30, +40: ids 4..9 */
    FC_CHECK_INT(out.n, 6);
    FC_CHECK_STR(out.ids[0], "even04");
    q = (struct fc_jobs_query){.service = sl("svc"), .function = sl("f2"), .limit = 100};
    list_all(s, q, &out);
    FC_CHECK_INT(out.n, 5);
    char token[FC_JOBS_TOKEN_BYTES_MAX];
    q.token = sl("zz");
    FC_CHECK_INT(fc_jobs_list(s, &q, token, &out, list_cb), -EINVAL);
    q.token = sl("0000000000000000-bad");
    FC_CHECK_INT(fc_jobs_list(s, &q, token, &out, list_cb), -EINVAL);
    q.token = (struct fc_slice){0};
    q.limit = 0;
    FC_CHECK_INT(fc_jobs_list(s, &q, token, &out, list_cb), -EINVAL);
    fc_jobs_close(s);
    tmp_remove(dir);
}

FC_TEST(store_map_full_grows) {
    char dir[64];
    tmp_dir(dir);
    /* 1 MB map, 8 MB max; 60 KB payloads: growth, then -ENOSPC. */
    struct fc_jobs *s = open_at(dir, 1 << 20, 8 << 20);
    static char payload[60 * 1024];
    char ids[400][16];
    int stored = 0, rc = 0;
    for (int i = 0; i < 400; i++) {
        snprintf(ids[i], sizeof(ids[i]), "m%d", i);
        struct fc_job j = mk(ids[i], "f", T0_MS, 0);
        j.payload = (struct fc_slice){payload, sizeof(payload)};
        const struct fc_job *p = &j;
        rc = fc_jobs_append(s, &p, 1, NULL);
        if (rc < 0)
            break;
        stored++;
    }
    FC_CHECK_INT(rc, -ENOSPC);
    FC_CHECK(stored > 20); /* at least 1 MB worth went in after growing */
    struct fc_jobs_stat st;
    FC_CHECK_INT(fc_jobs_stat(s, &st), 0);
    FC_CHECK_INT(st.map_bytes, 8 << 20);
    FC_CHECK_INT(st.jobs, stored);
    validate(s);
    /* Deleting makes room again. */
    struct fc_jobs_op del = {.kind = FC_JOBS_OP_DELETE, .id = sl(ids[0])};
    FC_CHECK_INT(fc_jobs_apply(s, &del, 1), 1);
    struct fc_job j = mk("again", "f", T0_MS, 0);
    const struct fc_job *p = &j;
    FC_CHECK_INT(fc_jobs_append(s, &p, 1, NULL), 1);
    validate(s);
    fc_jobs_close(s);
    tmp_remove(dir);
}

FC_TEST(store_fault_injection) {
    for (uint32_t nth = 1; nth <= 6; nth++) {
        for (int commit = 0; commit < 2; commit++) {
            char dir[64];
            tmp_dir(dir);
            struct fc_jobs_config cfg = {.data_dir = dir};
            commit ? (cfg._fault_commit_nth = nth) : (cfg._fault_put_nth = nth);
            struct fc_jobs *s = NULL;
            FC_CHECK_INT(fc_jobs_open(&cfg, &s), 0);
            struct fc_job a = mk("a", "f", T0_MS, 0), b = mk("b", "f", T0_MS, 0);
            const struct fc_job *jobs[] = {&a, &b};
            int res[2], rc, batches = 0, failed = 0;
            /* Batches of 2 until one fails; every put counts (4 per job). */
            for (int k = 0; k < 8; k++) {
                char ia[16], ib[16];
                snprintf(ia, sizeof(ia), "a%d", k);
                snprintf(ib, sizeof(ib), "b%d", k);
                a.request_id = sl(ia);
                b.request_id = sl(ib);
                rc = fc_jobs_append(s, jobs, 2, res);
                if (rc < 0) {
                    FC_CHECK_INT(rc, -EIO);
                    FC_CHECK(res[0] == -EIO && res[1] == -EIO);
                    failed = k + 1;
                    struct fc_buf buf = {0};
                    FC_CHECK_INT(get_state(s, ia, &buf), -ENOENT); /* nothing committed */
                    FC_CHECK_INT(get_state(s, ib, &buf), -ENOENT);
                    fc_buf_free(&buf);
                } else {
                    FC_CHECK_INT(rc, 2);
                    batches++;
                }
                validate(s);
            }
            if (failed == 0)
                fprintf(stderr, "# nth %u commit %d: no failure injected\n", nth, commit);
            FC_CHECK(failed > 0 && batches == 7);
            fc_jobs_close(s);
            tmp_remove(dir);
        }
    }
}

FC_TEST(store_recover_leases) {
    char dir[64];
    tmp_dir(dir);
    struct fc_jobs *s = open_at(dir, 0, 0);
    const char *names[] = {"other_boot", "expired_lease", "held", "no_retries", "too_old"};
    struct fc_job j[5];
    const struct fc_job *ptrs[5];
    for (int i = 0; i < 5; i++) {
        j[i] = mk(names[i], "f", T0_MS, 0);
        ptrs[i] = &j[i];
    }
    FC_CHECK_INT(fc_jobs_append(s, ptrs, 5, NULL), 5);
    const uint64_t now = T0_MS + 60000, boot = 77;
    struct fc_jobs_op ops[5];
    for (int i = 0; i < 5; i++) {
        j[i].state = FC_JOB_RUNNING;
        j[i].lease_boot = i == 0 ? 76 : boot;
        j[i].lease_until_ms = i == 1 ? now - 1 : now + 30000;
        ops[i] = (struct fc_jobs_op){.kind = FC_JOBS_OP_UPDATE, .job = &j[i]};
    }
    j[3].lease_boot = 1;
    j[3].attempts = 3; /* retries_max 3: this crash is the 4th attempt */
    j[4].lease_boot = 1;
    j[4].event_age_max_s = 10;
    FC_CHECK_INT(fc_jobs_apply(s, ops, 5), 5);
    struct fc_jobs_recovery r;
    FC_CHECK_INT(fc_jobs_recover(s, boot, now, &r), 0);
    FC_CHECK(r.requeued == 3 && r.expired == 1 && r.kept == 1);
    validate(s);
    struct fc_buf buf = {0};
    struct fc_job g;
    FC_CHECK_INT(fc_jobs_get(s, "other_boot", 10, false, &buf, &g), 0);
    FC_CHECK(g.state == FC_JOB_ENQUEUED && g.attempts == 0 && g.due_ms == now);
    FC_CHECK(g.lease_boot == 0 && g.events_count == 1 && g.events[0].state == FC_JOB_ENQUEUED);
    FC_CHECK_INT(get_state(s, "expired_lease", &buf), FC_JOB_ENQUEUED);
    FC_CHECK_INT(get_state(s, "held", &buf), FC_JOB_RUNNING);
    /* fcd's death does not use up an attempt: back in the queue. */
    FC_CHECK_INT(fc_jobs_get(s, "no_retries", 10, false, &buf, &g), 0);
    FC_CHECK(g.state == FC_JOB_ENQUEUED && g.attempts == 3);
    FC_CHECK_INT(get_state(s, "too_old", &buf), FC_JOB_EXPIRED);
    /* Idempotent: a second pass finds only the held lease. */
    FC_CHECK_INT(fc_jobs_recover(s, boot, now, &r), 0);
    FC_CHECK(r.requeued == 0 && r.expired == 0 && r.kept == 1);
    /* The due index now serves the requeued ones. */
    struct collect c = {0};
    struct fc_jobs_due_cursor cur = {0};
    FC_CHECK_INT(fc_jobs_due(s, &cur, now, 64, &c, collect_cb), 3);
    fc_buf_free(&buf);
    fc_jobs_close(s);
    tmp_remove(dir);
}

/* Readers on other threads while the writer appends and the map grows (run
 * under TSan: the resize lock keeps remaps away from live read txns). */
struct reader_arg {
    struct fc_jobs *s;
    int stop; /* atomic accesses only */
};

static void *reader_main(void *p) {
    struct reader_arg *a = p;
    struct fc_buf buf = {0};
    struct fc_job j;
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) { /* ends when the writer is done */
        int rc = fc_jobs_get(a->s, "r0", 2, true, &buf, &j);
        FC_CHECK(rc == 0 || rc == -ENOENT);
        struct fc_jobs_stat st;
        FC_CHECK_INT(fc_jobs_stat(a->s, &st), 0);
    }
    fc_buf_free(&buf);
    return NULL;
}

FC_TEST(store_readers_during_growth) {
    char dir[64];
    tmp_dir(dir);
    struct fc_jobs *s = open_at(dir, 1 << 20, 64 << 20);
    struct reader_arg a = {.s = s};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        FC_CHECK_INT(pthread_create(&t[i], NULL, reader_main, &a), 0);
    static char payload[100 * 1024];
    for (int i = 0; i < 200; i++) {
        char id[16];
        snprintf(id, sizeof(id), "r%d", i);
        struct fc_job j = mk(id, "f", T0_MS, 0);
        j.payload = (struct fc_slice){payload, sizeof(payload)};
        const struct fc_job *p = &j;
        FC_CHECK_INT(fc_jobs_append(s, &p, 1, NULL), 1);
    }
    __atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    struct fc_jobs_stat st;
    FC_CHECK_INT(fc_jobs_stat(s, &st), 0);
    FC_CHECK(st.map_bytes > (1 << 20)); /* it did grow */
    validate(s);
    fc_jobs_close(s);
    tmp_remove(dir);
}

/* ---- kill -9 ------------------------------------------------------------------------- */

#define CRASH_ROUNDS 6
#define CRASH_IDS_MAX 200000

/* The child: append batches forever; after each commit returns, write the
 * acknowledged ids (as numbers) to the pipe. Killed by the parent. */
static void crash_child(const char *dir, int fd, uint32_t batch, size_t payload_len) {
    struct fc_jobs *s = open_at(dir, 0, 0);
    static char payload[FC_RECORD_PAYLOAD_BYTES_MAX];
    static struct fc_job jobs[1024];
    static const struct fc_job *ptrs[1024];
    static char ids[1024][16];
    static uint32_t acked[1024];
    for (uint32_t next = 0;;) { /* endless: the parent kills us */
        for (uint32_t k = 0; k < batch; k++) {
            snprintf(ids[k], sizeof(ids[k]), "k%u", next + k);
            jobs[k] = mk(ids[k], "f", T0_MS + next + k, 0);
            jobs[k].payload = (struct fc_slice){payload, (uint32_t)payload_len};
            ptrs[k] = &jobs[k];
            acked[k] = next + k;
        }
        if (fc_jobs_append(s, ptrs, batch, NULL) != (int)batch)
            _exit(3);
        if (write(fd, acked, batch * sizeof(uint32_t)) != (ssize_t)(batch * sizeof(uint32_t)))
            _exit(4);
        next += batch;
    }
}

static void crash_round(uint32_t *seed, uint32_t batch, size_t payload_len, int round) {
    char dir[64];
    tmp_dir(dir);
    int p[2];
    FC_CHECK_INT(pipe(p), 0);
    pid_t pid = fork();
    FC_CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        crash_child(dir, p[1], batch, payload_len);
    }
    close(p[1]);
    static uint32_t acked[CRASH_IDS_MAX];
    size_t n = 0;
    ssize_t r;
    /* Wait for the first acknowledgement (a slow start under sanitizers must
     * not make a round vacuous), then kill at a random moment. */
    while (n < sizeof(uint32_t) && (r = read(p[0], (char *)acked + n, sizeof(uint32_t) - n)) > 0)
        n += (size_t)r;
    struct timespec d = {0, (long)(20 + rnd(seed) % 200) * 1000000L};
    nanosleep(&d, NULL);
    kill(pid, SIGKILL);
    int status;
    FC_CHECK(waitpid(pid, &status, 0) == pid);
    FC_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    while ((r = read(p[0], (char *)acked + n, sizeof(acked) - n)) > 0)
        n += (size_t)r;
    close(p[0]);
    n /= sizeof(uint32_t); /* a torn last write only loses ids we then skip */
    struct fc_jobs *s = open_at(dir, 0, 0);
    struct fc_buf buf = {0};
    struct fc_jobs_stat st;
    FC_CHECK_INT(fc_jobs_stat(s, &st), 0);
    for (size_t i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof(id), "k%u", acked[i]);
        struct fc_job j;
        int rc = fc_jobs_get(s, id, strlen(id), true, &buf, &j);
        if (rc != 0)
            fprintf(stderr, "# round %d (seed %#x): acknowledged %s: %d\n", round, SEED, id, rc);
        FC_CHECK_INT(rc, 0);
        FC_CHECK_INT(j.payload.len, payload_len);
    }
    validate(s);
    fprintf(stderr, "# crash round %d: batch %u payload %zu: %zu acked, %llu stored\n", round,
            batch, payload_len, n, (unsigned long long)st.jobs);
    FC_CHECK(n > 0 && st.jobs >= n);
    fc_buf_free(&buf);
    fc_jobs_close(s);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    FC_CHECK_INT(system(cmd), 0);
}

FC_TEST(store_crash_kill9_acked_survive) {
    uint32_t seed = SEED;
    for (int round = 0; round < CRASH_ROUNDS; round++)
        crash_round(&seed, round % 2 ? 64 : 1, 100, round);
    /* Killed in the middle of large batches (1024 x 4 KB, out-of-line). */
    for (int round = 0; round < 2; round++)
        crash_round(&seed, 1024, 4096, CRASH_ROUNDS + round);
}
