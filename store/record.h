/* record.h — the asynchronous job record and its msgpack codec.
 *
 * A job record is what store/jobs.h keeps per asynchronous invocation
 * (CONTRACT.md §5.6 "stateful async invocations"). On disk it is one msgpack
 * array whose first element is the schema version (FC_RECORD_VERSION); the
 * other elements follow in the order of struct fc_job below. Encoding uses
 * msgpack-c's packer, so any msgpack reader can inspect a record; decoding is
 * a bounds-checked, allocation-free reader of the subset we write (it accepts
 * every integer/str/bin width msgpack allows, not only the smallest).
 *
 * Ownership: struct fc_job never owns memory. Its strings and byte fields are
 * (pointer, length) slices, NOT NUL-terminated:
 *   - before fc_record_encode, they point at the caller's memory, borrowed for
 *     the call;
 *   - after fc_record_decode, they point INTO the decoded buffer (zero-copy):
 *     keep that buffer unchanged and alive while the struct is used. For a
 *     record read from LMDB that means: until the read txn ends (callbacks of
 *     store/jobs.h), or as long as the caller's copy lives (fc_jobs_get).
 *
 * Threads: stateless; any thread.
 * Errors: -errno, with a static reason string "<field>: <why>" where noted.
 *
 * Schema changes: add fields only with a new FC_RECORD_VERSION and keep a
 * decoder for every version still on disk. A decoder meeting a version it does
 * not know returns -EPROTO (never guesses). */
#ifndef FC_RECORD_H
#define FC_RECORD_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/limits.h"

#define FC_RECORD_VERSION 1u

/* Limits on every field. Records over them are never written (encode returns
 * -EINVAL) and never accepted from disk (decode returns -EBADMSG). */
#define FC_RECORD_ID_BYTES_MAX 128u        /* FC task ids: [A-Za-z0-9_-], first a letter or _ */
#define FC_RECORD_SERVICE_BYTES_MAX 128u   /* CONTRACT.md §5.2 serviceName 1–128 */
#define FC_RECORD_FUNCTION_BYTES_MAX 64u   /* CONTRACT.md §5.3 functionName 1–64 */
#define FC_RECORD_QUALIFIER_BYTES_MAX 128u /* a version number or an alias name */
#define FC_RECORD_CONTENT_TYPE_BYTES_MAX 256u
#define FC_RECORD_INSTANCE_ID_BYTES_MAX 128u
#define FC_RECORD_PAYLOAD_BYTES_MAX FC_HTTP_BODY_ASYNC_BYTES_MAX /* 256 KB */
#define FC_RECORD_ERROR_BYTES_MAX 1024u /* invocationErrorMessage; truncate before storing */
/* returnPayload: FC previews up to 1 MB; that is the decoder's bound. fcd
 * stores at most the DEFAULT (callers truncate): a 16 KB result keeps the
 * final-state update of a record to a few pages (see jobs.h on value sizes). */
#define FC_RECORD_RESULT_BYTES_MAX (1024u * 1024)
#define FC_RECORD_RESULT_BYTES_DEFAULT (16u * 1024)
#define FC_RECORD_LOG_TAIL_BYTES_MAX 4096u /* like x-fc-log-result: the last 4 KB */
#define FC_RECORD_DESTINATION_STATUS_BYTES_MAX 64u
#define FC_RECORD_EVENTS_MAX 16u /* newest kept; older ones dropped (see events_total) */
#define FC_RECORD_EVENT_DETAIL_BYTES_MAX 256u
#define FC_RECORD_RETRIES_MAX 8u           /* maxAsyncRetryAttempts 0–8 (§5.5) */
#define FC_RECORD_EVENT_AGE_S_MAX 2592000u /* the older doc's 30 days; the newer says 7 */
#define FC_RECORD_ATTEMPTS_MAX 1000000u    /* throttled re-queues do not count; sanity */
/* Largest record the encoder can produce (all fields at their limits, with
 * msgpack headers); a bound for buffers, not the typical size (~150 bytes). */
#define FC_RECORD_BYTES_MAX                                                                        \
    (FC_RECORD_ID_BYTES_MAX + FC_RECORD_SERVICE_BYTES_MAX + FC_RECORD_FUNCTION_BYTES_MAX +         \
     FC_RECORD_QUALIFIER_BYTES_MAX + FC_RECORD_CONTENT_TYPE_BYTES_MAX +                            \
     FC_RECORD_INSTANCE_ID_BYTES_MAX + FC_RECORD_PAYLOAD_BYTES_MAX + FC_RECORD_ERROR_BYTES_MAX +   \
     FC_RECORD_RESULT_BYTES_MAX + FC_RECORD_LOG_TAIL_BYTES_MAX +                                   \
     FC_RECORD_DESTINATION_STATUS_BYTES_MAX +                                                      \
     FC_RECORD_EVENTS_MAX * (FC_RECORD_EVENT_DETAIL_BYTES_MAX + 32) + 512)

static_assert(FC_RECORD_RESULT_BYTES_DEFAULT <= FC_RECORD_RESULT_BYTES_MAX, "default in bound");
static_assert(FC_RECORD_BYTES_MAX < (1u << 31), "record sizes fit a long and a u32 slice");

/* Job states. The numbers are stored on disk: never renumber, only append.
 * Names are CONTRACT.md §5.6 status values. Legal transitions (enforced by
 * store/jobs.h, see fc_job_state_transition_ok):
 *   Enqueued -> Running | Stopped | Expired | Failed
 *   Running  -> Enqueued (retry, throttled, crash recovery) | Succeeded | Failed
 *             | Stopped | Expired
 *   Succeeded, Failed, Stopped, Expired: final. */
enum fc_job_state {
    FC_JOB_ENQUEUED = 1,
    FC_JOB_RUNNING = 2,
    FC_JOB_SUCCEEDED = 3,
    FC_JOB_FAILED = 4,
    FC_JOB_STOPPED = 5,
    FC_JOB_EXPIRED = 6,
};
#define FC_JOB_STATE_FIRST FC_JOB_ENQUEUED
#define FC_JOB_STATE_LAST FC_JOB_EXPIRED

/* Where the payload bytes live. Numbers are stored on disk. */
enum fc_job_payload_where {
    FC_JOB_PAYLOAD_INLINE = 0, /* in the record: payload.ptr/len */
    FC_JOB_PAYLOAD_DB = 1,     /* store/jobs.h "payloads" DB, key = request_id */
    FC_JOB_PAYLOAD_FILE = 2,   /* an append-only payload file at ref.offset (reserved:
                                  the codec round-trips it; store/jobs.h does not write it) */
};

/* A borrowed byte string; see the ownership note at the top. */

struct fc_job_event {
    uint8_t state; /* enum fc_job_state */
    uint64_t time_ms;
    struct fc_slice detail; /* eventDetail, e.g. {"Error":"UnhandledInvocationError"} */
};

struct fc_job_payload_ref {
    uint64_t offset; /* FC_JOB_PAYLOAD_FILE only; 0 otherwise */
    uint32_t len;
    uint32_t crc32c; /* store/crc32c.h of the payload bytes */
};

/* One job. Times are wall-clock ms since the epoch (0 = not yet). */
struct fc_job {
    uint32_t version;           /* set by decode; encode always writes FC_RECORD_VERSION */
    struct fc_slice request_id; /* the task id */
    struct fc_slice service, function, qualifier;
    uint8_t state; /* enum fc_job_state */
    bool stateful; /* task mode (statefulInvocation) */
    uint64_t created_ms;
    uint64_t due_ms;      /* >= created_ms: created + x-fc-async-delay, or a retry's time */
    uint32_t attempts;    /* attempts finished (or crashed) so far: alreadyRetriedTimes + 1 */
    uint32_t retries_max; /* 0..FC_RECORD_RETRIES_MAX */
    uint32_t event_age_max_s;
    uint64_t lease_until_ms; /* while Running: the attempt's deadline plus slack */
    uint64_t lease_boot;     /* id of the fcd run holding the lease (0 = none) */
    uint64_t started_ms, ended_ms, duration_ms;
    uint64_t max_memory_kb;
    struct fc_slice content_type;
    /* Payload: where == INLINE -> payload holds the bytes. Otherwise ref says
     * where they are; payload.ptr is NULL unless a reader resolved them
     * (store/jobs.h with_payload), in which case payload points at them. */
    uint8_t payload_where; /* enum fc_job_payload_where */
    struct fc_slice payload;
    struct fc_job_payload_ref payload_ref;
    struct fc_slice error;  /* invocationErrorMessage */
    struct fc_slice result; /* returnPayload preview (bytes) */
    struct fc_slice log_tail;
    struct fc_slice destination_status;
    struct fc_slice instance_id;
    uint32_t events_total; /* events ever pushed; eventId of events[i] is
                              events_total - events_count + i */
    uint32_t events_count;
    struct fc_job_event events[FC_RECORD_EVENTS_MAX]; /* oldest first */
};

/* "Enqueued", ... for a valid state; "Invalid" otherwise. Static strings. */
const char *fc_job_state_name(int state);
/* The state named name[0..len) (exact, case-sensitive), or -EINVAL. */
int fc_job_state_parse(const char *name, size_t len);
/* True when a job may go from state `from` to `to` (the table above). */
bool fc_job_state_transition_ok(int from, int to);
static inline bool fc_job_state_is_final(int state) {
    return state >= FC_JOB_SUCCEEDED && state <= FC_JOB_EXPIRED;
}

/* True when id[0..len) is a valid task id: 1..FC_RECORD_ID_BYTES_MAX bytes of
 * [A-Za-z0-9_-], the first a letter or '_'. */
bool fc_record_id_valid(const char *id, size_t len);

/* Append an event, dropping the oldest when FC_RECORD_EVENTS_MAX are held.
 * detail is borrowed (the job points at it). Returns 0, or -EINVAL when
 * detail is over FC_RECORD_EVENT_DETAIL_BYTES_MAX or state is invalid (job
 * unchanged). */
int fc_job_event_push(struct fc_job *j, int state, uint64_t time_ms, const char *detail,
                      size_t detail_len);

/* Check every field against its limit and the cross-field rules (due >=
 * created, events_total >= events_count, payload ref consistent...). Returns
 * 0 or -EINVAL with *reason set ("<field>: <why>"; reason may be NULL). */
int fc_record_check(const struct fc_job *j, const char **reason);

/* Exact size fc_record_encode_to will write for j (j must pass the check). */
size_t fc_record_size(const struct fc_job *j);

/* Encode j (borrowed) into dst[0..cap). Returns the bytes written (exactly
 * fc_record_size(j)), -EINVAL when j fails fc_record_check (*reason set), or
 * -ENOBUFS when cap is too small (dst contents undefined). */
long fc_record_encode_to(const struct fc_job *j, void *dst, size_t cap, const char **reason);

/* Encode j, appending to out. Returns 0, -EINVAL (*reason set) or -ENOMEM;
 * on error out->len is unchanged. */
int fc_record_encode(const struct fc_job *j, struct fc_buf *out, const char **reason);

/* Decode the record in data[0..len) into *out (zero-copy: out's slices point
 * into data). The whole input must be one record (trailing bytes are an
 * error). Returns 0; -EPROTO when the version is unknown (out->version holds
 * it; *reason "version: unknown"); -EBADMSG when the input is truncated,
 * malformed, or a field breaks fc_record_check (*reason names the field).
 * On error *out is partly filled and must not be used. Never reads outside
 * data[0..len), never allocates. reason may be NULL. */
int fc_record_decode(const void *data, size_t len, struct fc_job *out, const char **reason);

/* Read only the version of a record (the first array element). Returns the
 * version (> 0) or -EBADMSG. */
long fc_record_version(const void *data, size_t len);

#endif
