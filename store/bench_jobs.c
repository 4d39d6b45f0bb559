/* bench_jobs.c — the job store's commit floor (BENCH.md: "LMDB commit" and
 * "LMDB group commit" rows). Not a test: prints numbers, asserts nothing.
 *
 *   bench_jobs [--seconds S] [--dir D]          group commit: 1, 64, 1024 jobs per txn,
 *                                               FULL and NOMETASYNC, through fc_jobs_append
 *   bench_jobs --sizes [--seconds S] [--dir D]  payload size vs commit cost: raw LMDB value
 *                                               vs payload file + fdatasync + small record,
 *                                               and the store itself (payloads DB)
 *
 * Each case runs for S seconds (default 2) in a fresh directory under D
 * (default /tmp), alternating the cases as BENCH.md asks; pin it with
 * `taskset -c 0`. Build: see the Makefile target bench-store. */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/jobs.h"

#define BENCH_BATCH_MAX 1024u
#define BENCH_JOBS_MAX 50000000u /* bound on the loop besides the time */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fresh_dir(const char *base, char *dir, size_t cap) {
    snprintf(dir, cap, "%s/fc-bench-XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_dir(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* Append batches of `batch` jobs with `payload_len`-byte payloads for
 * `seconds`; print commits/s, jobs/s and µs per commit. */
static void bench_store(const char *base, enum fc_jobs_sync sync, unsigned batch,
                        size_t payload_len, double seconds) {
    char dir[512];
    fresh_dir(base, dir, sizeof(dir));
    struct fc_jobs_config cfg = {.data_dir = dir, .map_bytes = 1ull << 30, .sync = sync};
    struct fc_jobs *s;
    int rc = fc_jobs_open(&cfg, &s);
    if (rc < 0) {
        fprintf(stderr, "open: %s\n", strerror(-rc));
        exit(1);
    }
    static char payload[FC_RECORD_PAYLOAD_BYTES_MAX], ids[BENCH_BATCH_MAX][24];
    static struct fc_job jobs[BENCH_BATCH_MAX];
    static const struct fc_job *ptrs[BENCH_BATCH_MAX];
    memset(payload, 'p', sizeof(payload));
    unsigned long commits = 0, total = 0;
    double t0 = now_s(), t;
    while ((t = now_s()) - t0 < seconds && total < BENCH_JOBS_MAX) {
        for (unsigned k = 0; k < batch; k++) {
            snprintf(ids[k], sizeof(ids[k]), "job_%lu", total + k);
            jobs[k] = (struct fc_job){.request_id = {ids[k], (uint32_t)strlen(ids[k])},
                                      .service = {"svc", 3},
                                      .function = {"hello", 5},
                                      .qualifier = {"LATEST", 6},
                                      .state = FC_JOB_ENQUEUED,
                                      .created_ms = 1700000000000ull + total,
                                      .due_ms = 1700000000000ull + total,
                                      .retries_max = 3,
                                      .event_age_max_s = 86400,
                                      .payload = {payload, (uint32_t)payload_len}};
            ptrs[k] = &jobs[k];
        }
        rc = fc_jobs_append(s, ptrs, batch, NULL);
        if (rc != (int)batch) {
            fprintf(stderr, "append: %d\n", rc);
            exit(1);
        }
        commits++;
        total += batch;
    }
    double el = t - t0;
    printf("store %-10s %4u/txn payload %6zu B: %8.0f commits/s %9.0f jobs/s %7.0f us/commit\n",
           sync == FC_JOBS_SYNC_FULL ? "FULL" : "NOMETASYNC", batch, payload_len,
           (double)commits / el, (double)total / el, el / (double)commits * 1e6);
    fc_jobs_close(s);
    remove_dir(dir);
}

#define CHECK_MDB(x)                                                                               \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ != 0) {                                                                            \
            fprintf(stderr, "%s: %s\n", #x, mdb_strerror(rc_));                                    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Raw LMDB, default sync: one value of value_len per txn under a be64 key,
 * or (use_file) the value appended to a payload file that is fdatasync'd
 * before the LMDB commit of a 100-byte record — the alternative design. */
static void bench_raw(const char *base, size_t value_len, int use_file, double seconds) {
    char dir[512], path[600];
    fresh_dir(base, dir, sizeof(dir));
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    CHECK_MDB(mdb_env_create(&env));
    CHECK_MDB(mdb_env_set_mapsize(env, 4ull << 30));
    CHECK_MDB(mdb_env_open(env, dir, 0, 0600));
    snprintf(path, sizeof(path), "%s/payload", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
    static char value[FC_RECORD_PAYLOAD_BYTES_MAX];
    memset(value, 'v', sizeof(value));
    unsigned long n = 0;
    double t0 = now_s(), t;
    while ((t = now_s()) - t0 < seconds && n < BENCH_JOBS_MAX) {
        if (use_file && (write(fd, value, value_len) != (ssize_t)value_len || fdatasync(fd) < 0)) {
            perror("payload file");
            exit(1);
        }
        unsigned long long key = __builtin_bswap64(n);
        MDB_val k = {8, &key}, v = {use_file ? 100 : value_len, value};
        CHECK_MDB(mdb_txn_begin(env, NULL, 0, &txn));
        CHECK_MDB(mdb_dbi_open(txn, NULL, 0, &dbi));
        CHECK_MDB(mdb_put(txn, dbi, &k, &v, MDB_APPEND));
        CHECK_MDB(mdb_txn_commit(txn));
        n++;
    }
    double el = t - t0;
    printf("raw   %-22s value %6zu B: %8.0f commits/s %7.0f us/commit %6.1f MB/s\n",
           use_file ? "file+fdatasync+LMDB" : "LMDB value", value_len, (double)n / el,
           el / (double)n * 1e6, (double)n * (double)value_len / el / 1e6);
    close(fd);
    mdb_env_close(env);
    remove_dir(dir);
}

int main(int argc, char **argv) {
    double seconds = 2;
    const char *base = "/tmp";
    int sizes = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sizes") == 0)
            sizes = 1;
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            base = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--sizes] [--seconds S] [--dir D]\n", argv[0]);
            return 2;
        }
    }
    if (sizes) {
        const size_t lens[] = {1024, 16 * 1024, 64 * 1024, 256 * 1024};
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            bench_raw(base, lens[i], 0, seconds); /* A B A B: alternate the designs */
            bench_raw(base, lens[i], 1, seconds);
            bench_store(base, FC_JOBS_SYNC_FULL, 1, lens[i], seconds);
            bench_store(base, FC_JOBS_SYNC_FULL, 64, lens[i], seconds);
        }
        return 0;
    }
    const unsigned batches[] = {1, 64, 1024};
    for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
        bench_store(base, FC_JOBS_SYNC_FULL, batches[i], 100, seconds);
        bench_store(base, FC_JOBS_SYNC_NOMETASYNC, batches[i], 100, seconds);
    }
    return 0;
}
