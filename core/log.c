/* log.c — see log.h. */
#include "core/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_BYTES_MAX 2048
#define ACCESS_BUF_BYTES 16384
#define ACCESS_TARGET_BYTES_MAX 512 /* longer targets are cut in access lines */

/* Process-wide settings, written at start and on SIGHUP; relaxed is enough:
 * nothing else is published through them. */
static _Atomic int log_min_level = FC_LOG_INFO;
static _Atomic bool log_access = true;

static _Thread_local char thread_name[16] = "main";
static _Thread_local const char *thread_request_id;
static _Thread_local char access_buf[ACCESS_BUF_BYTES];
static _Thread_local size_t access_len;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

int fc_log_level_parse(const char *name) {
    for (int i = 0; i <= FC_LOG_OFF; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    if (strcasecmp(name, "warning") == 0)
        return FC_LOG_WARN;
    return -EINVAL;
}

void fc_log_configure(enum fc_log_level min_level, bool access_log) {
    atomic_store_explicit(&log_min_level, (int)min_level, memory_order_relaxed);
    atomic_store_explicit(&log_access, access_log, memory_order_relaxed);
}

bool fc_log_enabled(enum fc_log_level level) {
    return (int)level >= atomic_load_explicit(&log_min_level, memory_order_relaxed);
}

void fc_log_thread_set(const char *name) {
    snprintf(thread_name, sizeof(thread_name), "%s", name);
}

void fc_log_request_set(const char *request_id) {
    thread_request_id = request_id;
}

/* A small string builder over a fixed buffer: appends past the end are cut
 * (the buffer always has room for the NUL). No printf: the access line runs
 * once per request. */
struct line {
    char *p;
    size_t len, cap;
};

static void put(struct line *l, const char *s, size_t n) {
    if (n > l->cap - 1 - l->len)
        n = l->cap - 1 - l->len;
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void put_str(struct line *l, const char *s) {
    put(l, s, strlen(s));
}

/* v in decimal, at least `width` digits (zero-padded). */
static void put_u64(struct line *l, uint64_t v, int width) {
    char d[20];
    int n = 0;
    do {
        d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 || n < width);
    put(l, d + sizeof(d) - n, (size_t)n);
}

/* "2026-12-01T10:00:00" of the thread's last second: gmtime and its
 * formatting once a second, not once a line. */
static _Thread_local time_t clock_second = -1;
static _Thread_local char clock_text[64];

/* Writes "2026-12-01T10:00:00.123456Z LEVEL thread reqid " into l. */
static void log_prefix(struct line *l, const char *level, const char *request_id) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != clock_second) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(clock_text, sizeof(clock_text), "%04d-%02d-%02dT%02d:%02d:%02d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        clock_second = ts.tv_sec;
    }
    put_str(l, clock_text);
    put(l, ".", 1);
    put_u64(l, (uint64_t)ts.tv_nsec / 1000, 6);
    put(l, "Z ", 2);
    size_t level_len = strlen(level);
    put(l, level, level_len);
    put(l, "      ", level_len < 5 ? 6 - level_len : 1); /* "%-5s " */
    put_str(l, thread_name);
    put(l, " ", 1);
    put_str(l, request_id ? request_id : "-");
    put(l, " ", 1);
}

/* Best effort: a log line that cannot be written is dropped, never retried
 * in a loop that could stall the caller. */
static void write_all(const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

void fc_log_write(enum fc_log_level level, const char *fmt, ...) {
    char line[LOG_LINE_BYTES_MAX];
    struct line l = {line, 0, sizeof(line)};
    log_prefix(&l, level_names[level], thread_request_id);
    size_t len = l.len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
    va_end(ap);
    if (n > 0)
        len += (size_t)n < sizeof(line) - len - 1 ? (size_t)n : sizeof(line) - len - 2;
    line[len++] = '\n';
    write_all(line, len);
}

void fc_log_access(const char *method, uint32_t method_len, const char *target,
                   uint32_t target_len, int status, uint64_t bytes, uint64_t duration_us,
                   const char *request_id) {
    if (!atomic_load_explicit(&log_access, memory_order_relaxed))
        return;
    if (ACCESS_BUF_BYTES - access_len < LOG_LINE_BYTES_MAX)
        fc_log_flush();
    /* LOG_LINE_BYTES_MAX of room: the line is never cut (target is). */
    struct line l = {access_buf + access_len, 0, LOG_LINE_BYTES_MAX};
    log_prefix(&l, "INFO", request_id);
    put(&l, "access ", 7);
    put(&l, method, method_len);
    put(&l, " ", 1);
    put(&l, target, target_len < ACCESS_TARGET_BYTES_MAX ? target_len : ACCESS_TARGET_BYTES_MAX);
    put(&l, " ", 1);
    put_u64(&l, status < 0 ? 0 : (uint64_t)status, 1);
    put(&l, " ", 1);
    put_u64(&l, bytes, 1);
    put(&l, " ", 1);
    put_u64(&l, duration_us, 1);
    put(&l, "us\n", 3);
    access_len += l.len;
}

void fc_log_flush(void) {
    if (access_len > 0)
        write_all(access_buf, access_len);
    access_len = 0;
}
