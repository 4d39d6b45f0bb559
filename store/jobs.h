/* jobs.h — the durable asynchronous job store (LMDB).
 *
 * One LMDB environment in <data_dir>/async/ (data.mdb, lock.mdb) holds:
 *   jobs      request_id                                   -> record (store/record.h)
 *   payloads  request_id                                   -> payload bytes, for payloads over
 *                                                             FC_JOBS_PAYLOAD_INLINE_BYTES_MAX
 *   due       be64(due_ms) | request_id                    -> "" (Enqueued jobs only)
 *   by_fn     service '/' function 0 be64(created_ms) | id -> "" (every job)
 *   by_state  u8(state) be64(created_ms) | request_id      -> "" (every job)
 * so the due scan, listing by function and recovery (Running jobs) are range
 * reads. Index entries are written in the same txn as the record; the
 * validator (fc_jobs_validate) cross-checks them.
 *
 * Why large payloads live in their own DB and not in a payload file: measured
 * on this machine kind (store/bench_jobs.c --sizes, FULL sync, 1 job/txn) an
 * LMDB commit of a 256 KB value costs about the same as a 1 KB one plus the
 * write bandwidth, while a payload file adds a second fdatasync to every
 * group commit (the file has to be durable before the LMDB commit that
 * references it), and a file needs its own compaction. Out of the record they
 * are written once: state updates rewrite only the small record (~150 B–20 KB)
 * instead of copying up to 256 KB three times per job. The codec keeps a FILE
 * reference form for a later payload file; this store never writes it.
 *
 * Threads:
 *   - Writer: fc_jobs_apply, fc_jobs_append, fc_jobs_recover — ONE thread
 *     only (the store thread); LMDB allows one write txn at a time and the map
 *     growth below relies on it.
 *   - Readers: fc_jobs_get, fc_jobs_list, fc_jobs_due, fc_jobs_stat,
 *     fc_jobs_validate — any thread, concurrently with the writer and each
 *     other. Each call runs its own read-only txn (MDB_NOTLS, begin/abort per
 *     call, ~1 µs) and never blocks the writer; at most FC_JOBS_READERS_MAX
 *     calls at once (-EAGAIN past it).
 *   - fc_jobs_open / fc_jobs_close: once, with no other call running.
 * Map growth: on MDB_MAP_FULL the writer aborts its txn, takes a writer-
 * preferring rwlock that every reader holds for the length of its read txn,
 * doubles the map (up to map_bytes_max) and re-runs the batch. Readers wait
 * for the resize (a few µs); without the lock a remap would pull the pages
 * out from under their txns.
 *
 * Errors: -errno only; LMDB's MDB_* codes are mapped here (MAP_FULL ->
 * -ENOSPC, TXN_FULL -> -E2BIG, READERS_FULL -> -EAGAIN, CORRUPTED/
 * PAGE_NOTFOUND/INVALID -> -EIO, NOTFOUND -> -ENOENT). A record on disk that
 * does not decode is reported as -EBADMSG or -EPROTO, never asserted. */
#ifndef FC_JOBS_H
#define FC_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/record.h"

#define FC_JOBS_MAP_BYTES_DEFAULT (64ull << 20)     /* initial map; grows by doubling */
#define FC_JOBS_MAP_BYTES_MAX_DEFAULT (16ull << 30) /* growth stops here: -ENOSPC (503) */
#define FC_JOBS_READERS_MAX 256u                    /* concurrent read calls */
#define FC_JOBS_BATCH_MAX 4096u                     /* ops per fc_jobs_apply */
#define FC_JOBS_PAYLOAD_INLINE_BYTES_MAX 2048u      /* larger payloads -> "payloads" DB */
#define FC_JOBS_LIST_LIMIT_MAX 1000u                /* jobs per page */
#define FC_JOBS_LIST_SCAN_MAX 10000u                /* index entries examined per list call */
#define FC_JOBS_RESIZE_TRIES_MAX 16u                /* map doublings per apply */
/* Pagination token: 16 hex digits of created_ms, then the request id. */
#define FC_JOBS_TOKEN_BYTES_MAX (16u + FC_RECORD_ID_BYTES_MAX + 1u)
/* The error a job gets when it was Running in a dead fcd run and has no
 * retries left (fc_jobs_recover). */
#define FC_JOBS_RECOVER_ERROR "fcd stopped during the attempt"

static_assert(FC_JOBS_PAYLOAD_INLINE_BYTES_MAX <= FC_RECORD_PAYLOAD_BYTES_MAX, "inline <= max");
static_assert(FC_JOBS_MAP_BYTES_DEFAULT <= FC_JOBS_MAP_BYTES_MAX_DEFAULT, "default <= max");

enum fc_jobs_sync {
    /* Default. Every commit fdatasyncs the data pages and then the meta page:
     * an acknowledged job survives SIGKILL and power loss. */
    FC_JOBS_SYNC_FULL = 0,
    /* MDB_NOMETASYNC: one fdatasync per commit instead of two (about 1.5x the
     * commits/s). Survives SIGKILL (the page cache survives); on power loss
     * or a kernel crash the LAST committed txn may be rolled back (the
     * database stays consistent; the next commit makes the previous one
     * durable). So a 202 can be lost on power loss: use only where that is
     * acceptable. */
    FC_JOBS_SYNC_NOMETASYNC = 1,
};

struct fc_jobs_config {
    const char *data_dir;   /* borrowed for the call; <data_dir>/async/ is created (0700) */
    uint64_t map_bytes;     /* initial map size; 0 = FC_JOBS_MAP_BYTES_DEFAULT. An existing
                               environment opens with at least its used size. */
    uint64_t map_bytes_max; /* 0 = FC_JOBS_MAP_BYTES_MAX_DEFAULT; >= map_bytes */
    enum fc_jobs_sync sync;
    /* Fault injection for tests (0 = off): the Nth mdb_put / mdb_txn_commit of
     * this handle (counted from 1 since open) fails with -EIO instead. */
    uint32_t _fault_put_nth, _fault_commit_nth;
};

struct fc_jobs; /* opaque */

/* Open (creating if needed) the store. On success *out owns the environment;
 * fc_jobs_close releases it. Returns 0, -EINVAL (bad config), -ENOMEM, -EIO,
 * or a -errno from mkdir/open (e.g. -EACCES); on error nothing is left open.
 * Also clears reader slots left by dead processes (mdb_reader_check). */
int fc_jobs_open(const struct fc_jobs_config *cfg, struct fc_jobs **out);
/* Close; no other call may be running. NULL is a no-op. */
void fc_jobs_close(struct fc_jobs *s);

/* ---- writer (the store thread only) -------------------------------------------- */

enum fc_jobs_op_kind {
    /* Insert job (state usually Enqueued). A payload over
     * FC_JOBS_PAYLOAD_INLINE_BYTES_MAX is moved to the payloads DB (with its
     * CRC-32C). job->payload_where must be INLINE. Result -EEXIST when the id
     * is already stored (idempotent caller-chosen task ids): nothing written. */
    FC_JOBS_OP_APPEND = 1,
    /* Replace the stored record of job->request_id by *job and fix the
     * indexes. The payload is immutable after append: job's payload fields
     * are ignored and the stored ones kept. service, function and created_ms
     * must not change (-EINVAL). The state change must be allowed by
     * fc_job_state_transition_ok, or keep the state (e.g. Running lease
     * renewal, destination_status on a final job); else -EINVAL. */
    FC_JOBS_OP_UPDATE = 2,
    /* Remove the job named by id with its payload and index entries
     * (retention). */
    FC_JOBS_OP_DELETE = 3,
};

struct fc_jobs_op {
    uint8_t kind;             /* enum fc_jobs_op_kind */
    uint8_t expect_state;     /* UPDATE/DELETE: 0 = any; else apply only when the stored state
                                 is this one (result -ESTALE otherwise): the writer's compare-and-
                                 set, e.g. "Stop only if still Enqueued or Running" */
    const struct fc_job *job; /* APPEND/UPDATE: borrowed for the call */
    struct fc_slice id;       /* DELETE: the request id; borrowed */
    int result;               /* out: 0 applied; -EEXIST, -ENOENT, -ESTALE, -EINVAL (bad
                                 record or transition), -EBADMSG/-EPROTO (stored record
                                 does not decode); a failed op wrote nothing */
};

/* Apply ops[0..n) in ONE write txn and commit it (group commit): durable per
 * the sync mode when this returns >= 0. Ops run in order; a later op sees
 * the earlier ones. Each op's own failure is in op->result and does not stop
 * the others. Returns the number of ops applied (result 0), or -errno with
 * NOTHING committed (every result then equals it): -ENOSPC (map full at
 * map_bytes_max, or the disk: 503), -E2BIG (the txn touches too many pages
 * for LMDB: split the batch), -EINVAL (n > FC_JOBS_BATCH_MAX), -EIO, -ENOMEM.
 * ops[] and what they point to are borrowed for the call. */
int fc_jobs_apply(struct fc_jobs *s, struct fc_jobs_op *ops, size_t n);

/* fc_jobs_apply of n APPENDs; results[i] (may be NULL) gets op i's result.
 * Returns as fc_jobs_apply. */
int fc_jobs_append(struct fc_jobs *s, const struct fc_job *const *jobs, size_t n, int *results);

struct fc_jobs_recovery {
    uint32_t requeued; /* Running -> Enqueued, due now */
    uint32_t expired;  /* Running -> Expired: older than event_age_max_s */
    uint32_t kept;     /* leases still held by this boot and not yet expired */
    uint32_t corrupt;  /* Running entries whose record does not decode: left as they are */
};

/* Crash recovery, at start (and usable periodically as a lease sweep). Every
 * Running job whose lease_boot != boot_id, or whose lease_until_ms <= now_ms,
 * lost its attempt to fcd's death, not to the function: the attempt does NOT
 * count (a job queued behind a busy instance is "Running" too, and must not
 * burn its last retry because fcd died). The job goes to Expired if older
 * than its event age, else back to Enqueued with due_ms = now_ms; the lease
 * is cleared and an event recorded. At-least-once: the interrupted attempt
 * may have run. One write txn. Returns 0 and fills *out, or -errno as
 * fc_jobs_apply (nothing changed). Writer thread. */
int fc_jobs_recover(struct fc_jobs *s, uint64_t boot_id, uint64_t now_ms,
                    struct fc_jobs_recovery *out);

/* ---- readers (any thread) ----------------------------------------------------------- */

/* Called once per job inside a read txn. job and everything it points to
 * live only until the callback returns (they are in LMDB's map): copy what
 * you keep. Return 0 to continue, non-zero to stop the scan. */
typedef int (*fc_jobs_job_cb)(void *arg, const struct fc_job *job);

/* Copy job id[0..id_len) into buf (reset to length 0 first, grown as
 * needed) and decode it into *out, whose slices point into buf->data: keep
 * buf unchanged while using *out. with_payload also copies an out-of-line
 * payload and points out->payload at it (verifying its CRC-32C). Returns 0,
 * -ENOENT, -EINVAL (id not a valid task id), -ENOMEM, -EBADMSG/-EPROTO
 * (stored record does not decode, or payload CRC mismatch), -EAGAIN, -EIO. */
int fc_jobs_get(struct fc_jobs *s, const char *id, size_t id_len, bool with_payload,
                struct fc_buf *buf, struct fc_job *out);

/* Resumable position in the due index; zero-initialise to start at the
 * earliest job. */
struct fc_jobs_due_cursor {
    uint64_t due_ms;
    uint32_t id_len; /* 0 = before everything */
    char id[FC_RECORD_ID_BYTES_MAX];
    uint64_t corrupt; /* out: entries skipped: record missing, undecodable or not matching */
};

/* Deliver Enqueued jobs strictly after *cur with due_ms <= until_ms, in
 * (due_ms, request_id) order, at most max of them, to cb (payload not
 * resolved: fetch it with fc_jobs_get when the job fires). *cur advances to
 * the last job delivered, so the next call resumes there (load the timer
 * wheel a horizon ahead without re-reading what it holds). Returns the
 * number delivered or -EAGAIN/-EIO (cur unchanged). */
int fc_jobs_due(struct fc_jobs *s, struct fc_jobs_due_cursor *cur, uint64_t until_ms, size_t max,
                void *arg, fc_jobs_job_cb cb);

struct fc_jobs_query {
    struct fc_slice service, function; /* required */
    struct fc_slice qualifier;         /* empty = any */
    uint8_t state;                     /* 0 = any */
    /* created_ms in [begin, end); 0 = unbounded. This is the index order, so
     * the range costs nothing (FC's startedTimeBegin/End map here: fcd's
     * startedTime of a task is its accept time). */
    uint64_t created_ms_begin, created_ms_end;
    struct fc_slice id_prefix; /* empty = any */
    bool descending;           /* newest first */
    bool with_payload;         /* resolve out-of-line payloads for the callback */
    uint32_t limit;            /* 1..FC_JOBS_LIST_LIMIT_MAX */
    struct fc_slice token;     /* a next_token from the previous page; empty = first page */
};

/* List one function's jobs in created_ms order (then request id), filtered,
 * one page: at most q->limit jobs go to cb. next_token receives the opaque
 * token of the next page, or "" when the range is exhausted. A page may hold
 * fewer than limit jobs while next_token is non-empty: the call examines at
 * most FC_JOBS_LIST_SCAN_MAX index entries (bounded work per request).
 * Records that do not decode are skipped. Returns the number delivered, or
 * -EINVAL (bad query or token), -EAGAIN, -EIO. */
int fc_jobs_list(struct fc_jobs *s, const struct fc_jobs_query *q,
                 char next_token[FC_JOBS_TOKEN_BYTES_MAX], void *arg, fc_jobs_job_cb cb);

struct fc_jobs_stat {
    uint64_t jobs, payloads, due, by_fn, by_state; /* entries per DB */
    uint64_t map_bytes;                            /* current map size */
    uint64_t used_bytes; /* pages in use (last page number + 1) * page size */
};
/* Entry counts and sizes. Returns 0, -EAGAIN or -EIO. */
int fc_jobs_stat(struct fc_jobs *s, struct fc_jobs_stat *out);

/* Heavy consistency check (tests, debug builds, `fcd --check-store`): every
 * record decodes under its key; each job has exactly its by_fn and by_state
 * entries, a due entry iff Enqueued (at its due_ms), a payload entry iff
 * payload_where is DB (length and CRC match); no index entry is orphaned.
 * O(jobs) in one read txn. Returns 0 or -EBADMSG with a static *reason
 * (reason may be NULL), or -EAGAIN/-EIO. */
int fc_jobs_validate(struct fc_jobs *s, const char **reason);

#endif
