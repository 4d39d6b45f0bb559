/* test_record.c — store/record.h: the job record codec, and store/crc32c.h. */
#include "store/crc32c.h"
#include "store/record.h"
#include "tests/unit/test.h"

#include <errno.h>
#include <msgpack.h>
#include <stdint.h>

#define SEED 0x5eed1234u

static uint32_t rnd(uint32_t *s) { /* xorshift32: fixed seeds replay */
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static struct fc_slice sl(const char *s) {
    return (struct fc_slice){s, (uint32_t)strlen(s)};
}

/* A job with every field set to a distinct, non-default value. */
static void full_job(struct fc_job *j, const char *payload, uint32_t payload_len) {
    memset(j, 0, sizeof(*j));
    j->request_id = sl("task_01-abc");
    j->service = sl("svc");
    j->function = sl("fn-1");
    j->qualifier = sl("LATEST");
    j->state = FC_JOB_SUCCEEDED;
    j->stateful = true;
    j->created_ms = 1700000000123ull;
    j->due_ms = 1700000005123ull;
    j->attempts = 2;
    j->retries_max = 3;
    j->event_age_max_s = 86400;
    j->lease_until_ms = 1700000065000ull;
    j->lease_boot = 0x1122334455667788ull;
    j->started_ms = 1700000005200ull;
    j->ended_ms = 1700000005300ull;
    j->duration_ms = 100;
    j->max_memory_kb = 65536;
    j->content_type = sl("application/octet-stream");
    j->payload = (struct fc_slice){payload, payload_len};
    j->error = sl("UnhandledInvocationError");
    j->result = (struct fc_slice){"\0\1\2res", 6};
    j->log_tail = (struct fc_slice){"line1\nline2\n", 12};
    j->destination_status = sl("Succeeded");
    j->instance_id = sl("i-42");
    FC_CHECK(fc_job_event_push(j, FC_JOB_ENQUEUED, j->created_ms, "", 0) == 0);
    FC_CHECK(fc_job_event_push(j, FC_JOB_RUNNING, j->started_ms, "{}", 2) == 0);
    FC_CHECK(fc_job_event_push(j, FC_JOB_SUCCEEDED, j->ended_ms, "{\"ok\":1}", 8) == 0);
}

static int slice_eq(struct fc_slice a, struct fc_slice b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static void check_equal(const struct fc_job *a, const struct fc_job *b) {
    FC_CHECK(slice_eq(a->request_id, b->request_id) && slice_eq(a->service, b->service));
    FC_CHECK(slice_eq(a->function, b->function) && slice_eq(a->qualifier, b->qualifier));
    FC_CHECK_INT(a->state, b->state);
    FC_CHECK_INT(a->stateful, b->stateful);
    FC_CHECK_INT(a->created_ms, b->created_ms);
    FC_CHECK_INT(a->due_ms, b->due_ms);
    FC_CHECK_INT(a->attempts, b->attempts);
    FC_CHECK_INT(a->retries_max, b->retries_max);
    FC_CHECK_INT(a->event_age_max_s, b->event_age_max_s);
    FC_CHECK_INT(a->lease_until_ms, b->lease_until_ms);
    FC_CHECK(a->lease_boot == b->lease_boot);
    FC_CHECK_INT(a->started_ms, b->started_ms);
    FC_CHECK_INT(a->ended_ms, b->ended_ms);
    FC_CHECK_INT(a->duration_ms, b->duration_ms);
    FC_CHECK_INT(a->max_memory_kb, b->max_memory_kb);
    FC_CHECK(slice_eq(a->content_type, b->content_type));
    FC_CHECK_INT(a->payload_where, b->payload_where);
    FC_CHECK(slice_eq(a->payload, b->payload));
    FC_CHECK(a->payload_ref.offset == b->payload_ref.offset);
    FC_CHECK_INT(a->payload_ref.len, b->payload_ref.len);
    FC_CHECK_INT(a->payload_ref.crc32c, b->payload_ref.crc32c);
    FC_CHECK(slice_eq(a->error, b->error) && slice_eq(a->result, b->result));
    FC_CHECK(slice_eq(a->log_tail, b->log_tail));
    FC_CHECK(slice_eq(a->destination_status, b->destination_status));
    FC_CHECK(slice_eq(a->instance_id, b->instance_id));
    FC_CHECK_INT(a->events_total, b->events_total);
    FC_CHECK_INT(a->events_count, b->events_count);
    for (uint32_t i = 0; i < a->events_count; i++) {
        FC_CHECK_INT(a->events[i].state, b->events[i].state);
        FC_CHECK_INT(a->events[i].time_ms, b->events[i].time_ms);
        FC_CHECK(slice_eq(a->events[i].detail, b->events[i].detail));
    }
}

/* Encode, check the size, decode from a guard-paged copy, compare; also let
 * msgpack-c parse it (the wire is plain msgpack). */
static void round_trip(const struct fc_job *j) {
    struct fc_buf b = {0};
    const char *why = NULL;
    FC_CHECK_INT(fc_record_encode(j, &b, &why), 0);
    FC_CHECK_INT(b.len, fc_record_size(j));
    char *g = fc_test_guarded(b.data, b.len);
    struct fc_job d;
    int rc = fc_record_decode(g, b.len, &d, &why);
    if (rc != 0)
        fprintf(stderr, "# decode: %s\n", why);
    FC_CHECK_INT(rc, 0);
    FC_CHECK_INT(d.version, FC_RECORD_VERSION);
    check_equal(j, &d);
    FC_CHECK(d.request_id.ptr >= g && d.request_id.ptr < g + b.len); /* zero-copy */
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    msgpack_zone_init(&z, 4096);
    FC_CHECK_INT(msgpack_unpack(b.data, b.len, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
    FC_CHECK_INT(off, b.len);
    FC_CHECK(o.type == MSGPACK_OBJECT_ARRAY && o.via.array.ptr[0].via.u64 == FC_RECORD_VERSION);
    msgpack_zone_destroy(&z);
    fc_test_guarded_free(g, b.len);
    fc_buf_free(&b);
}

FC_TEST(record_round_trip_every_field) {
    struct fc_job j;
    full_job(&j, "hello", 5);
    round_trip(&j);
    /* Out-of-line forms. */
    j.payload_where = FC_JOB_PAYLOAD_DB;
    j.payload = (struct fc_slice){NULL, 0};
    j.payload_ref = (struct fc_job_payload_ref){0, 200000, 0xdeadbeef};
    round_trip(&j);
    j.payload_where = FC_JOB_PAYLOAD_FILE;
    j.payload_ref = (struct fc_job_payload_ref){1ull << 40, 7, 1};
    round_trip(&j);
    /* Empty and minimal. */
    struct fc_job m = {
        .request_id = sl("a"), .service = sl("s"), .function = sl("f"), .state = FC_JOB_ENQUEUED};
    round_trip(&m);
    /* Every integer width (msgpack-c picks the smallest; sz_uint must agree). */
    const uint64_t widths[] = {
        0, 127, 128, 255, 256, 65535, 65536, UINT32_MAX, 1ull + UINT32_MAX, UINT64_MAX};
    for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
        full_job(&j, "", 0);
        j.created_ms = j.due_ms = j.lease_until_ms = j.lease_boot = j.max_memory_kb = widths[i];
        j.duration_ms = widths[i];
        round_trip(&j);
    }
}

FC_TEST(record_limits) {
    static char big[FC_RECORD_RESULT_BYTES_MAX + 1];
    struct fc_job j;
    const char *why = NULL;
    full_job(&j, big, FC_RECORD_PAYLOAD_BYTES_MAX); /* every field at its limit round-trips */
    char id[FC_RECORD_ID_BYTES_MAX + 1];
    memset(id, 'a', sizeof(id));
    j.request_id = (struct fc_slice){id, FC_RECORD_ID_BYTES_MAX};
    j.result = (struct fc_slice){big, FC_RECORD_RESULT_BYTES_MAX};
    j.log_tail = (struct fc_slice){big, FC_RECORD_LOG_TAIL_BYTES_MAX};
    j.error = (struct fc_slice){id, 100};
    for (int i = 0; i < 20; i++) /* oldest dropped, count capped, total counts on */
        FC_CHECK(fc_job_event_push(&j, FC_JOB_RUNNING, (uint64_t)i, big,
                                   FC_RECORD_EVENT_DETAIL_BYTES_MAX) == 0);
    FC_CHECK_INT(j.events_count, FC_RECORD_EVENTS_MAX);
    FC_CHECK_INT(j.events_total, 23);
    FC_CHECK_INT(j.events[0].time_ms, 20 - FC_RECORD_EVENTS_MAX);
    round_trip(&j);
    FC_CHECK(fc_record_size(&j) <= FC_RECORD_BYTES_MAX);
    /* One past each limit: -EINVAL naming the field. */
    struct {
        struct fc_slice *field;
        uint32_t len;
        const char *reason;
    } over[] = {
        {&j.request_id, FC_RECORD_ID_BYTES_MAX + 1, "request_id: invalid value"},
        {&j.payload, FC_RECORD_PAYLOAD_BYTES_MAX + 1, "payload: over its limit"},
        {&j.result, FC_RECORD_RESULT_BYTES_MAX + 1, "result: over its limit"},
        {&j.log_tail, FC_RECORD_LOG_TAIL_BYTES_MAX + 1, "log_tail: over its limit"},
        {&j.error, FC_RECORD_ERROR_BYTES_MAX + 1, "error: over its limit"},
    };
    for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
        struct fc_slice keep = *over[i].field;
        *over[i].field = (struct fc_slice){over[i].field == &j.request_id ? id : big, over[i].len};
        struct fc_buf b = {0};
        FC_CHECK_INT(fc_record_encode(&j, &b, &why), -EINVAL);
        FC_CHECK_STR(why, over[i].reason);
        FC_CHECK_INT(b.len, 0);
        *over[i].field = keep;
    }
    j.retries_max = FC_RECORD_RETRIES_MAX + 1;
    FC_CHECK_INT(fc_record_encode_to(&j, big, sizeof(big), &why), -EINVAL);
    FC_CHECK_STR(why, "retries_max: over its limit");
    j.retries_max = 0;
    j.due_ms = j.created_ms - 1;
    FC_CHECK_INT(fc_record_encode_to(&j, big, sizeof(big), &why), -EINVAL);
    FC_CHECK_STR(why, "due_ms: invalid value");
    j.due_ms = j.created_ms;
    FC_CHECK_INT(fc_record_encode_to(&j, big, 10, &why), -ENOBUFS);
}

FC_TEST(record_ids_and_states) {
    FC_CHECK(fc_record_id_valid("a", 1) && fc_record_id_valid("_x-9", 4));
    FC_CHECK(!fc_record_id_valid("", 0) && fc_record_id_valid("9a", 2)); /* UUID request ids */
    FC_CHECK(!fc_record_id_valid("-a", 2) && !fc_record_id_valid("a b", 3));
    FC_CHECK(!fc_record_id_valid("a/b", 3) && !fc_record_id_valid("a\0b", 3));
    for (int s = FC_JOB_STATE_FIRST; s <= FC_JOB_STATE_LAST; s++) {
        const char *n = fc_job_state_name(s);
        FC_CHECK_INT(fc_job_state_parse(n, strlen(n)), s);
    }
    FC_CHECK_STR(fc_job_state_name(FC_JOB_ENQUEUED), "Enqueued");
    FC_CHECK_STR(fc_job_state_name(FC_JOB_EXPIRED), "Expired");
    FC_CHECK_STR(fc_job_state_name(0), "Invalid");
    FC_CHECK_INT(fc_job_state_parse("running", 7), -EINVAL);
    /* The transition table, exhaustively. */
    static const char *const allowed[] = {"12", "15", "16", "14", "21", "23", "24", "25", "26"};
    for (int from = 0; from <= 7; from++)
        for (int to = 0; to <= 7; to++) {
            char pair[3] = {(char)('0' + from), (char)('0' + to), 0};
            int want = 0;
            for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
                want |= strcmp(pair, allowed[i]) == 0;
            if (fc_job_state_transition_ok(from, to) != want)
                fprintf(stderr, "# transition %d -> %d\n", from, to);
            FC_CHECK_INT(fc_job_state_transition_ok(from, to), want);
        }
}

FC_TEST(record_unknown_version_rejected) {
    struct fc_job j, d;
    full_job(&j, "p", 1);
    struct fc_buf b = {0};
    FC_CHECK_INT(fc_record_encode(&j, &b, NULL), 0);
    FC_CHECK_INT(fc_record_version(b.data, b.len), 1);
    /* The version is the second byte (array16 header of 27: dc 00 1b, then
     * fixint 1). Make it 2, then 200 (uint8 needs a byte more: rebuild). */
    FC_CHECK((unsigned char)b.data[0] == 0xdc && b.data[3] == 1);
    b.data[3] = 2;
    const char *why = NULL;
    FC_CHECK_INT(fc_record_decode(b.data, b.len, &d, &why), -EPROTO);
    FC_CHECK_STR(why, "version: unknown");
    FC_CHECK_INT(d.version, 2);
    /* A future layout with fewer fields is still -EPROTO, not -EBADMSG. */
    const unsigned char v9[] = {0x92, 0x09, 0xc0};
    FC_CHECK_INT(fc_record_decode(v9, sizeof(v9), &d, &why), -EPROTO);
    FC_CHECK_INT(d.version, 9);
    const unsigned char v0[] = {0x91, 0x00};
    FC_CHECK_INT(fc_record_decode(v0, sizeof(v0), &d, &why), -EPROTO);
    FC_CHECK_INT(fc_record_version(v0, sizeof(v0)), -EBADMSG);
    fc_buf_free(&b);
}

/* Every prefix (guard-paged: an over-read faults) and every single-byte
 * change at every position, plus random multi-byte flips: never crash,
 * error or a record that passes the check. */
FC_TEST(record_corrupt_input_never_crashes) {
    struct fc_job j, d;
    full_job(&j, "payload-bytes", 13);
    struct fc_buf b = {0};
    FC_CHECK_INT(fc_record_encode(&j, &b, NULL), 0);
    const char *why;
    for (size_t n = 0; n < b.len; n++) {
        char *g = fc_test_guarded(b.data, n);
        int rc = fc_record_decode(g, n, &d, &why);
        if (rc != -EBADMSG)
            fprintf(stderr, "# prefix %zu: %d\n", n, rc);
        FC_CHECK_INT(rc, -EBADMSG);
        fc_test_guarded_free(g, n);
    }
    char *g = fc_test_guarded(b.data, b.len);
    unsigned accepted = 0;
    for (size_t pos = 0; pos < b.len; pos++)
        for (int v = 0; v < 256; v++) {
            char keep = g[pos];
            g[pos] = (char)v;
            int rc = fc_record_decode(g, b.len, &d, &why);
            FC_CHECK(rc == 0 || rc == -EBADMSG || rc == -EPROTO);
            if (rc == 0) {
                FC_CHECK_INT(fc_record_check(&d, NULL), 0);
                accepted++;
            }
            g[pos] = keep;
        }
    uint32_t seed = SEED;
    for (int round = 0; round < 20000; round++) {
        char *c = fc_test_guarded(b.data, b.len);
        for (uint32_t k = 1 + rnd(&seed) % 8; k > 0; k--)
            c[rnd(&seed) % b.len] ^= (char)(1u << (rnd(&seed) % 8));
        int rc = fc_record_decode(c, b.len, &d, &why);
        if (rc == 0 && fc_record_check(&d, NULL) != 0)
            fprintf(stderr, "# seed %#x round %d\n", SEED, round);
        FC_CHECK(rc == 0 ? fc_record_check(&d, NULL) == 0 : rc == -EBADMSG || rc == -EPROTO);
        fc_test_guarded_free(c, b.len);
    }
    FC_CHECK(accepted > 0); /* e.g. a changed byte inside a string: still a record */
    fc_test_guarded_free(g, b.len);
    /* Trailing bytes. */
    FC_CHECK_INT(fc_buf_append(&b, "x", 1), 0);
    FC_CHECK_INT(fc_record_decode(b.data, b.len, &d, &why), -EBADMSG);
    FC_CHECK_STR(why, "record: trailing bytes");
    fc_buf_free(&b);
}

/* Other widths than msgpack-c's smallest (a uint64 for a small number, str16
 * for a short string) are still accepted: the reader follows the spec. */
FC_TEST(record_decodes_wide_encodings) {
    struct fc_job j, d;
    full_job(&j, "", 0);
    struct fc_buf b = {0};
    FC_CHECK_INT(fc_record_encode(&j, &b, NULL), 0);
    /* Rebuild the record with msgpack-c, widening the version and request_id. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    const unsigned char wide_head[] = {0xdc, 0x00, 0x1b, 0xcf, 0,
                                       0,    0,    0,    0,    0,
                                       0,    1,    0xda, 0x00, (unsigned char)j.request_id.len};
    msgpack_sbuffer_write(&sb, (const char *)wide_head, sizeof(wide_head));
    msgpack_sbuffer_write(&sb, j.request_id.ptr, j.request_id.len);
    size_t skip = 3 + 1 + 1 + j.request_id.len; /* array16, fixint 1, fixstr head + id */
    msgpack_sbuffer_write(&sb, b.data + skip, b.len - skip);
    const char *why = NULL;
    int rc = fc_record_decode(sb.data, sb.size, &d, &why);
    if (rc != 0)
        fprintf(stderr, "# %s\n", why);
    FC_CHECK_INT(rc, 0);
    check_equal(&j, &d);
    msgpack_sbuffer_destroy(&sb);
    fc_buf_free(&b);
}

FC_TEST(record_crc32c_vectors) {
    FC_CHECK(fc_crc32c(0, "123456789", 9) == 0xE3069283u);
    FC_CHECK(fc_crc32c(0, NULL, 0) == 0);
    static const unsigned char zeros[32];
    FC_CHECK(fc_crc32c(0, zeros, 32) == 0x8A9136AAu); /* RFC 3720 B.4 */
    /* Incremental equals one-shot, at every split. */
    char buf[100];
    for (int i = 0; i < 100; i++)
        buf[i] = (char)(i * 7);
    uint32_t whole = fc_crc32c(0, buf, sizeof(buf));
    for (size_t k = 0; k <= sizeof(buf); k++)
        FC_CHECK(fc_crc32c(fc_crc32c(0, buf, k), buf + k, sizeof(buf) - k) == whole);
}
