/* record.c — see record.h. The wire layout (version 1) is one msgpack array:
 *
 *   [version, request_id, service, function, qualifier, state, stateful,
 *    created_ms, due_ms, attempts, retries_max, event_age_max_s,
 *    lease_until_ms, lease_boot, started_ms, ended_ms, duration_ms,
 *    max_memory_kb, content_type, payload, error, result, log_tail,
 *    destination_status, instance_id, events_total, events]
 *
 * Strings are msgpack str, byte fields (payload, result, log_tail) bin.
 * payload is a bin (inline) or the array [where, offset, len, crc32c].
 * events is an array of [state, time_ms, detail]. */
#include "store/record.h"

#include <errno.h>
#include <msgpack.h>
#include <string.h>

#include "core/assert.h"

/* Every element of the version-1 array, in order. The names make the decode
 * error reasons ("service: over its limit"). */
#define RECORD_FIELDS(X)                                                                           \
    X(version)                                                                                     \
    X(request_id) X(service) X(function) X(qualifier) X(state) X(stateful) X(created_ms) X(due_ms) \
        X(attempts) X(retries_max) X(event_age_max_s) X(lease_until_ms) X(lease_boot)              \
            X(started_ms) X(ended_ms) X(duration_ms) X(max_memory_kb) X(content_type) X(payload)   \
                X(error) X(result) X(log_tail) X(destination_status) X(instance_id)                \
                    X(events_total) X(events)

enum record_field {
#define FIELD_ENUM(name) F_##name,
    RECORD_FIELDS(FIELD_ENUM)
#undef FIELD_ENUM
        F_COUNT
};

enum why { WHY_TRUNCATED, WHY_TYPE, WHY_LIMIT, WHY_VALUE, WHY_COUNT };

static const char *const reasons[F_COUNT][WHY_COUNT] = {
#define FIELD_REASONS(name)                                                                        \
    {#name ": truncated", #name ": wrong type", #name ": over its limit", #name ": invalid value"},
    RECORD_FIELDS(FIELD_REASONS)
#undef FIELD_REASONS
};

static int fail(const char **reason, enum record_field f, enum why w, int err) {
    if (reason != NULL)
        *reason = reasons[f][w];
    return err;
}

/* ---- states and ids ------------------------------------------------------------ */

static const char *const state_names[] = {
    [FC_JOB_ENQUEUED] = "Enqueued", [FC_JOB_RUNNING] = "Running", [FC_JOB_SUCCEEDED] = "Succeeded",
    [FC_JOB_FAILED] = "Failed",     [FC_JOB_STOPPED] = "Stopped", [FC_JOB_EXPIRED] = "Expired",
};

static bool state_valid(int s) {
    return s >= FC_JOB_STATE_FIRST && s <= FC_JOB_STATE_LAST;
}

const char *fc_job_state_name(int state) {
    return state_valid(state) ? state_names[state] : "Invalid";
}

int fc_job_state_parse(const char *name, size_t len) {
    for (int s = FC_JOB_STATE_FIRST; s <= FC_JOB_STATE_LAST; s++)
        if (strlen(state_names[s]) == len && memcmp(state_names[s], name, len) == 0)
            return s;
    return -EINVAL;
}

bool fc_job_state_transition_ok(int from, int to) {
    if (!state_valid(from) || !state_valid(to))
        return false;
    if (from == FC_JOB_ENQUEUED)
        return to == FC_JOB_RUNNING || to == FC_JOB_STOPPED || to == FC_JOB_EXPIRED ||
               to == FC_JOB_FAILED;
    if (from == FC_JOB_RUNNING)
        return to != FC_JOB_RUNNING;
    return false; /* final states stay */
}

static bool name_char(char c, bool first) {
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    return first ? alpha : alpha || (c >= '0' && c <= '9') || c == '-';
}

/* FC's name rule (task ids, services, functions): letters, digits, '_' and
 * '-', not starting with a digit or '-'. */
static bool name_valid(const struct fc_slice *s, uint32_t max, bool empty_ok) {
    if (s->len == 0)
        return empty_ok;
    if (s->len > max || s->ptr == NULL)
        return false;
    for (uint32_t i = 0; i < s->len; i++)
        if (!name_char(s->ptr[i], i == 0 && !empty_ok))
            return false;
    return true;
}

/* Task ids: FC's rule for caller-chosen ids (a letter or '_' first) is
 * checked where requests arrive; a stored id may also be an fcd request id,
 * a UUID, which can start with a digit. So: [A-Za-z0-9_-], not '-' first. */
bool fc_record_id_valid(const char *id, size_t len) {
    if (len == 0 || len > FC_RECORD_ID_BYTES_MAX || id[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!name_char(id[i], false))
            return false;
    return true;
}

int fc_job_event_push(struct fc_job *j, int state, uint64_t time_ms, const char *detail,
                      size_t detail_len) {
    FC_ASSERT(j->events_count <= FC_RECORD_EVENTS_MAX);
    if (!state_valid(state) || detail_len > FC_RECORD_EVENT_DETAIL_BYTES_MAX)
        return -EINVAL;
    if (j->events_count == FC_RECORD_EVENTS_MAX) {
        memmove(&j->events[0], &j->events[1], sizeof(j->events[0]) * (FC_RECORD_EVENTS_MAX - 1));
        j->events_count--;
    }
    j->events[j->events_count++] = (struct fc_job_event){
        .state = (uint8_t)state, .time_ms = time_ms, .detail = {detail, (uint32_t)detail_len}};
    j->events_total++;
    FC_ASSERT(j->events_total >= j->events_count);
    return 0;
}

/* ---- check ---------------------------------------------------------------------- */

static bool slice_ok(const struct fc_slice *s, uint32_t max) {
    return s->len <= max && (s->ptr != NULL || s->len == 0);
}

static int check_payload(const struct fc_job *j, const char **reason) {
    const struct fc_job_payload_ref *r = &j->payload_ref;
    switch (j->payload_where) {
    case FC_JOB_PAYLOAD_INLINE:
        if (!slice_ok(&j->payload, FC_RECORD_PAYLOAD_BYTES_MAX))
            return fail(reason, F_payload, WHY_LIMIT, -EINVAL);
        return 0;
    case FC_JOB_PAYLOAD_DB:
    case FC_JOB_PAYLOAD_FILE:
        if (r->len > FC_RECORD_PAYLOAD_BYTES_MAX)
            return fail(reason, F_payload, WHY_LIMIT, -EINVAL);
        if (j->payload_where == FC_JOB_PAYLOAD_DB && r->offset != 0)
            return fail(reason, F_payload, WHY_VALUE, -EINVAL);
        if (j->payload.ptr != NULL && j->payload.len != r->len) /* resolved, must match */
            return fail(reason, F_payload, WHY_VALUE, -EINVAL);
        return 0;
    default: return fail(reason, F_payload, WHY_VALUE, -EINVAL);
    }
}

static int check_events(const struct fc_job *j, const char **reason) {
    if (j->events_count > FC_RECORD_EVENTS_MAX)
        return fail(reason, F_events, WHY_LIMIT, -EINVAL);
    if (j->events_total < j->events_count)
        return fail(reason, F_events_total, WHY_VALUE, -EINVAL);
    for (uint32_t i = 0; i < j->events_count; i++) {
        if (!state_valid(j->events[i].state))
            return fail(reason, F_events, WHY_VALUE, -EINVAL);
        if (!slice_ok(&j->events[i].detail, FC_RECORD_EVENT_DETAIL_BYTES_MAX))
            return fail(reason, F_events, WHY_LIMIT, -EINVAL);
    }
    return 0;
}

static int check_names(const struct fc_job *j, const char **reason) {
    if (!fc_record_id_valid(j->request_id.ptr, j->request_id.len))
        return fail(reason, F_request_id, WHY_VALUE, -EINVAL);
    if (!name_valid(&j->service, FC_RECORD_SERVICE_BYTES_MAX, false))
        return fail(reason, F_service, WHY_VALUE, -EINVAL);
    if (!name_valid(&j->function, FC_RECORD_FUNCTION_BYTES_MAX, false))
        return fail(reason, F_function, WHY_VALUE, -EINVAL);
    if (!name_valid(&j->qualifier, FC_RECORD_QUALIFIER_BYTES_MAX, true))
        return fail(reason, F_qualifier, WHY_VALUE, -EINVAL);
    return 0;
}

int fc_record_check(const struct fc_job *j, const char **reason) {
    int rc = check_names(j, reason);
    if (rc < 0)
        return rc;
    if (!state_valid(j->state))
        return fail(reason, F_state, WHY_VALUE, -EINVAL);
    if (j->due_ms < j->created_ms)
        return fail(reason, F_due_ms, WHY_VALUE, -EINVAL);
    if (j->attempts > FC_RECORD_ATTEMPTS_MAX)
        return fail(reason, F_attempts, WHY_LIMIT, -EINVAL);
    if (j->retries_max > FC_RECORD_RETRIES_MAX)
        return fail(reason, F_retries_max, WHY_LIMIT, -EINVAL);
    if (j->event_age_max_s > FC_RECORD_EVENT_AGE_S_MAX)
        return fail(reason, F_event_age_max_s, WHY_LIMIT, -EINVAL);
    const struct {
        const struct fc_slice *s;
        uint32_t max;
        enum record_field f;
    } slices[] = {
        {&j->content_type, FC_RECORD_CONTENT_TYPE_BYTES_MAX, F_content_type},
        {&j->error, FC_RECORD_ERROR_BYTES_MAX, F_error},
        {&j->result, FC_RECORD_RESULT_BYTES_MAX, F_result},
        {&j->log_tail, FC_RECORD_LOG_TAIL_BYTES_MAX, F_log_tail},
        {&j->destination_status, FC_RECORD_DESTINATION_STATUS_BYTES_MAX, F_destination_status},
        {&j->instance_id, FC_RECORD_INSTANCE_ID_BYTES_MAX, F_instance_id},
    };
    for (size_t i = 0; i < sizeof(slices) / sizeof(slices[0]); i++)
        if (!slice_ok(slices[i].s, slices[i].max))
            return fail(reason, slices[i].f, WHY_LIMIT, -EINVAL);
    rc = check_payload(j, reason);
    return rc < 0 ? rc : check_events(j, reason);
}

/* ---- size ----------------------------------------------------------------------- */

/* These mirror msgpack-c 4.0's choices (smallest form; str8 enabled);
 * fc_record_encode_to asserts that they agree. */
static size_t sz_uint(uint64_t v) {
    return v < 128 ? 1 : v < 256 ? 2 : v < 65536 ? 3 : v <= UINT32_MAX ? 5 : 9;
}
static size_t sz_str(uint32_t len) {
    return (len < 32 ? 1 : len < 256 ? 2 : len < 65536 ? 3 : 5) + len;
}
static size_t sz_bin(uint32_t len) {
    return (len < 256 ? 2 : len < 65536 ? 3 : 5) + len;
}
static size_t sz_array(uint32_t n) {
    return n < 16 ? 1 : n < 65536 ? 3 : 5;
}

static size_t sz_payload(const struct fc_job *j) {
    if (j->payload_where == FC_JOB_PAYLOAD_INLINE)
        return sz_bin(j->payload.len);
    const struct fc_job_payload_ref *r = &j->payload_ref;
    return sz_array(4) + sz_uint(j->payload_where) + sz_uint(r->offset) + sz_uint(r->len) +
           sz_uint(r->crc32c);
}

size_t fc_record_size(const struct fc_job *j) {
    size_t n = sz_array(F_COUNT) + sz_uint(FC_RECORD_VERSION);
    n += sz_str(j->request_id.len) + sz_str(j->service.len) + sz_str(j->function.len) +
         sz_str(j->qualifier.len);
    n += sz_uint(j->state) + 1 /* bool */;
    const uint64_t nums[] = {j->created_ms,      j->due_ms,         j->attempts,     j->retries_max,
                             j->event_age_max_s, j->lease_until_ms, j->lease_boot,   j->started_ms,
                             j->ended_ms,        j->duration_ms,    j->max_memory_kb};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        n += sz_uint(nums[i]);
    n += sz_str(j->content_type.len) + sz_payload(j) + sz_str(j->error.len) +
         sz_bin(j->result.len) + sz_bin(j->log_tail.len) + sz_str(j->destination_status.len) +
         sz_str(j->instance_id.len) + sz_uint(j->events_total) + sz_array(j->events_count);
    for (uint32_t i = 0; i < j->events_count; i++)
        n += sz_array(3) + sz_uint(j->events[i].state) + sz_uint(j->events[i].time_ms) +
             sz_str(j->events[i].detail.len);
    return n;
}

/* ---- encode --------------------------------------------------------------------- */

struct wr {
    char *p;
    size_t left;
};

/* msgpack-c's write callback. The caller sized dst with fc_record_size, so
 * running out of room is a bug in sz_*; fail loudly. */
static int wr_cb(void *data, const char *buf, size_t len) {
    struct wr *w = data;
    FC_ASSERT(len <= w->left);
    if (len > 0) /* an empty slice may be (NULL, 0) */
        memcpy(w->p, buf, len);
    w->p += len;
    w->left -= len;
    return 0;
}

static void pk_str(msgpack_packer *pk, const struct fc_slice *s) {
    msgpack_pack_str_with_body(pk, s->ptr, s->len);
}
static void pk_bin(msgpack_packer *pk, const struct fc_slice *s) {
    msgpack_pack_bin_with_body(pk, s->ptr, s->len);
}

static void pk_payload(msgpack_packer *pk, const struct fc_job *j) {
    if (j->payload_where == FC_JOB_PAYLOAD_INLINE) {
        pk_bin(pk, &j->payload);
        return;
    }
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint64(pk, j->payload_where);
    msgpack_pack_uint64(pk, j->payload_ref.offset);
    msgpack_pack_uint64(pk, j->payload_ref.len);
    msgpack_pack_uint64(pk, j->payload_ref.crc32c);
}

static void pk_job(msgpack_packer *pk, const struct fc_job *j) {
    msgpack_pack_array(pk, F_COUNT);
    msgpack_pack_uint64(pk, FC_RECORD_VERSION); /* first, always: decoders branch on it */
    pk_str(pk, &j->request_id);
    pk_str(pk, &j->service);
    pk_str(pk, &j->function);
    pk_str(pk, &j->qualifier);
    msgpack_pack_uint64(pk, j->state);
    j->stateful ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    const uint64_t nums[] = {j->created_ms,      j->due_ms,         j->attempts,     j->retries_max,
                             j->event_age_max_s, j->lease_until_ms, j->lease_boot,   j->started_ms,
                             j->ended_ms,        j->duration_ms,    j->max_memory_kb};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        msgpack_pack_uint64(pk, nums[i]);
    pk_str(pk, &j->content_type);
    pk_payload(pk, j);
    pk_str(pk, &j->error);
    pk_bin(pk, &j->result);
    pk_bin(pk, &j->log_tail);
    pk_str(pk, &j->destination_status);
    pk_str(pk, &j->instance_id);
    msgpack_pack_uint64(pk, j->events_total);
    msgpack_pack_array(pk, j->events_count);
    for (uint32_t i = 0; i < j->events_count; i++) {
        msgpack_pack_array(pk, 3);
        msgpack_pack_uint64(pk, j->events[i].state);
        msgpack_pack_uint64(pk, j->events[i].time_ms);
        pk_str(pk, &j->events[i].detail);
    }
}

long fc_record_encode_to(const struct fc_job *j, void *dst, size_t cap, const char **reason) {
    int rc = fc_record_check(j, reason);
    if (rc < 0)
        return rc;
    size_t size = fc_record_size(j);
    if (size > cap)
        return -ENOBUFS;
    struct wr w = {dst, size};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, wr_cb);
    pk_job(&pk, j);
    FC_ASSERT(w.left == 0); /* sz_* agree with msgpack-c */
    FC_ASSERT(size <= FC_RECORD_BYTES_MAX);
    return (long)size;
}

int fc_record_encode(const struct fc_job *j, struct fc_buf *out, const char **reason) {
    int rc = fc_record_check(j, reason);
    if (rc < 0)
        return rc;
    size_t size = fc_record_size(j);
    if (fc_buf_reserve(out, size) < 0)
        return -ENOMEM;
    long n = fc_record_encode_to(j, out->data + out->len, out->cap - out->len, reason);
    FC_ASSERT(n == (long)size);
    out->len += size;
    return 0;
}

/* ---- decode --------------------------------------------------------------------- */

/* A cursor over untrusted bytes. Every read checks the remaining length
 * first; on failure it records why and the caller maps that to a reason. */
struct rd {
    const unsigned char *p, *end;
    enum why why;
};

static int rd_fail(struct rd *c, enum why w) {
    c->why = w;
    return -1;
}

static uint64_t be(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Read a header byte and its n-byte big-endian argument. */
static int rd_head(struct rd *c, size_t n, uint64_t *arg) {
    if ((size_t)(c->end - c->p) < 1 + n)
        return rd_fail(c, WHY_TRUNCATED);
    *arg = be(c->p + 1, n);
    c->p += 1 + n;
    return 0;
}

static int rd_uint(struct rd *c, uint64_t *v) {
    if (c->p >= c->end)
        return rd_fail(c, WHY_TRUNCATED);
    unsigned char b = *c->p;
    if (b <= 0x7f) {
        *v = b;
        c->p++;
        return 0;
    }
    size_t n = b == 0xcc || b == 0xd0   ? 1
               : b == 0xcd || b == 0xd1 ? 2
               : b == 0xce || b == 0xd2 ? 4
               : b == 0xcf || b == 0xd3 ? 8
                                        : 0;
    if (n == 0)
        return rd_fail(c, WHY_TYPE);
    if (rd_head(c, n, v) < 0)
        return -1;
    if (b >= 0xd0 && (*v >> (8 * n - 1)) != 0) /* a negative signed int */
        return rd_fail(c, WHY_VALUE);
    return 0;
}

static int rd_uint_max(struct rd *c, uint64_t max, uint64_t *v) {
    if (rd_uint(c, v) < 0)
        return -1;
    return *v > max ? rd_fail(c, WHY_LIMIT) : 0;
}

/* str (want_bin false) or bin (true) of at most max bytes, zero-copy. */
static int rd_raw(struct rd *c, bool want_bin, uint32_t max, struct fc_slice *out) {
    if (c->p >= c->end)
        return rd_fail(c, WHY_TRUNCATED);
    unsigned char b = *c->p;
    /* bin8/16/32 = c4/c5/c6, str8/16/32 = d9/da/db, fixstr = a0..bf */
    unsigned char first = want_bin ? 0xc4 : 0xd9;
    uint64_t len;
    if (!want_bin && b >= 0xa0 && b <= 0xbf) {
        len = b & 0x1f;
        c->p++;
    } else if (b >= first && b <= first + 2) {
        if (rd_head(c, (size_t)1 << (b - first), &len) < 0)
            return -1;
    } else {
        return rd_fail(c, WHY_TYPE);
    }
    if (len > max)
        return rd_fail(c, WHY_LIMIT);
    if ((uint64_t)(c->end - c->p) < len)
        return rd_fail(c, WHY_TRUNCATED);
    *out = (struct fc_slice){len ? (const char *)c->p : NULL, (uint32_t)len};
    c->p += len;
    return 0;
}

static int rd_array(struct rd *c, uint32_t *n) {
    if (c->p >= c->end)
        return rd_fail(c, WHY_TRUNCATED);
    unsigned char b = *c->p;
    uint64_t v;
    if (b >= 0x90 && b <= 0x9f) {
        *n = b & 0x0f;
        c->p++;
        return 0;
    }
    if (b != 0xdc && b != 0xdd)
        return rd_fail(c, WHY_TYPE);
    if (rd_head(c, b == 0xdc ? 2 : 4, &v) < 0)
        return -1;
    *n = (uint32_t)v;
    return 0;
}

static int rd_bool(struct rd *c, bool *v) {
    if (c->p >= c->end)
        return rd_fail(c, WHY_TRUNCATED);
    if (*c->p != 0xc2 && *c->p != 0xc3)
        return rd_fail(c, WHY_TYPE);
    *v = *c->p++ == 0xc3;
    return 0;
}

/* The payload element: a bin, or [where, offset, len, crc32c]. */
static int rd_payload(struct rd *c, struct fc_job *j) {
    if (c->p < c->end && *c->p >= 0xc4 && *c->p <= 0xc6) {
        j->payload_where = FC_JOB_PAYLOAD_INLINE;
        return rd_raw(c, true, FC_RECORD_PAYLOAD_BYTES_MAX, &j->payload);
    }
    uint32_t n;
    uint64_t where, off, len, crc;
    if (rd_array(c, &n) < 0)
        return -1;
    if (n != 4)
        return rd_fail(c, WHY_VALUE);
    if (rd_uint_max(c, FC_JOB_PAYLOAD_FILE, &where) < 0 || rd_uint(c, &off) < 0 ||
        rd_uint_max(c, FC_RECORD_PAYLOAD_BYTES_MAX, &len) < 0 ||
        rd_uint_max(c, UINT32_MAX, &crc) < 0)
        return -1;
    if (where == FC_JOB_PAYLOAD_INLINE)
        return rd_fail(c, WHY_VALUE);
    j->payload_where = (uint8_t)where;
    j->payload = (struct fc_slice){NULL, 0};
    j->payload_ref = (struct fc_job_payload_ref){off, (uint32_t)len, (uint32_t)crc};
    return 0;
}

static int rd_events(struct rd *c, struct fc_job *j) {
    uint32_t n;
    if (rd_array(c, &n) < 0)
        return -1;
    if (n > FC_RECORD_EVENTS_MAX)
        return rd_fail(c, WHY_LIMIT);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t m;
        uint64_t st, t;
        struct fc_job_event *e = &j->events[i];
        if (rd_array(c, &m) < 0)
            return -1;
        if (m != 3)
            return rd_fail(c, WHY_VALUE);
        if (rd_uint_max(c, FC_JOB_STATE_LAST, &st) < 0 || rd_uint(c, &t) < 0 ||
            rd_raw(c, false, FC_RECORD_EVENT_DETAIL_BYTES_MAX, &e->detail) < 0)
            return -1;
        e->state = (uint8_t)st;
        e->time_ms = t;
    }
    j->events_count = n;
    return 0;
}

long fc_record_version(const void *data, size_t len) {
    struct rd c = {data, (const unsigned char *)data + len, WHY_VALUE};
    uint32_t n;
    uint64_t v;
    if (rd_array(&c, &n) < 0 || n < 1 || rd_uint_max(&c, UINT32_MAX, &v) < 0 || v == 0)
        return -EBADMSG;
    return (long)v;
}

/* Read the fields after the version, in wire order. Stops at the first bad
 * one; returns its field index, or F_COUNT when all were read. */
static enum record_field rd_fields(struct rd *c, struct fc_job *j) {
    uint64_t v[F_max_memory_kb - F_created_ms + 1];
#define TRY(field, expr)                                                                           \
    do {                                                                                           \
        if ((expr) < 0)                                                                            \
            return field;                                                                          \
    } while (0)
    TRY(F_request_id, rd_raw(c, false, FC_RECORD_ID_BYTES_MAX, &j->request_id));
    TRY(F_service, rd_raw(c, false, FC_RECORD_SERVICE_BYTES_MAX, &j->service));
    TRY(F_function, rd_raw(c, false, FC_RECORD_FUNCTION_BYTES_MAX, &j->function));
    TRY(F_qualifier, rd_raw(c, false, FC_RECORD_QUALIFIER_BYTES_MAX, &j->qualifier));
    TRY(F_state, rd_uint_max(c, FC_JOB_STATE_LAST, &v[0]));
    j->state = (uint8_t)v[0];
    TRY(F_stateful, rd_bool(c, &j->stateful));
    for (int f = F_created_ms; f <= F_max_memory_kb; f++)
        TRY((enum record_field)f, rd_uint(c, &v[f - F_created_ms]));
    j->created_ms = v[0], j->due_ms = v[1];
    for (int k = 2; k <= 4; k++) /* attempts, retries_max, event_age_max_s are u32 */
        if (v[k] > UINT32_MAX)
            return (c->why = WHY_LIMIT, (enum record_field)(F_created_ms + k));
    j->attempts = (uint32_t)v[2], j->retries_max = (uint32_t)v[3];
    j->event_age_max_s = (uint32_t)v[4], j->lease_until_ms = v[5], j->lease_boot = v[6];
    j->started_ms = v[7], j->ended_ms = v[8], j->duration_ms = v[9], j->max_memory_kb = v[10];
    TRY(F_content_type, rd_raw(c, false, FC_RECORD_CONTENT_TYPE_BYTES_MAX, &j->content_type));
    TRY(F_payload, rd_payload(c, j));
    TRY(F_error, rd_raw(c, false, FC_RECORD_ERROR_BYTES_MAX, &j->error));
    TRY(F_result, rd_raw(c, true, FC_RECORD_RESULT_BYTES_MAX, &j->result));
    TRY(F_log_tail, rd_raw(c, true, FC_RECORD_LOG_TAIL_BYTES_MAX, &j->log_tail));
    TRY(F_destination_status,
        rd_raw(c, false, FC_RECORD_DESTINATION_STATUS_BYTES_MAX, &j->destination_status));
    TRY(F_instance_id, rd_raw(c, false, FC_RECORD_INSTANCE_ID_BYTES_MAX, &j->instance_id));
    TRY(F_events_total, rd_uint_max(c, UINT32_MAX, &v[0]));
    j->events_total = (uint32_t)v[0];
    TRY(F_events, rd_events(c, j));
#undef TRY
    return F_COUNT;
}

int fc_record_decode(const void *data, size_t len, struct fc_job *out, const char **reason) {
    FC_ASSERT(data != NULL || len == 0);
    memset(out, 0, sizeof(*out));
    struct rd c = {data, (const unsigned char *)data + len, WHY_VALUE};
    uint32_t n;
    uint64_t version;
    if (rd_array(&c, &n) < 0)
        return fail(reason, F_version, c.why, -EBADMSG);
    if (n < 1 || rd_uint_max(&c, UINT32_MAX, &version) < 0)
        return fail(reason, F_version, n < 1 ? WHY_TRUNCATED : c.why, -EBADMSG);
    out->version = (uint32_t)version;
    if (version != FC_RECORD_VERSION) {
        if (reason != NULL)
            *reason = "version: unknown";
        return -EPROTO;
    }
    if (n != F_COUNT) {
        if (reason != NULL)
            *reason = "record: wrong number of fields";
        return -EBADMSG;
    }
    enum record_field bad = rd_fields(&c, out);
    if (bad != F_COUNT)
        return fail(reason, bad, c.why, -EBADMSG);
    if (c.p != c.end) {
        if (reason != NULL)
            *reason = "record: trailing bytes";
        return -EBADMSG;
    }
    if (fc_record_check(out, reason) < 0) /* cross-field rules; reason names the field */
        return -EBADMSG;
    FC_ASSERT(out->version == FC_RECORD_VERSION);
    return 0;
}
