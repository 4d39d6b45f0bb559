/* log.c — see log.h. */
#include "core/log.h"

#include <errno.h>
#include <stdatomic.h>
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

/* Writes "2026-12-01T10:00:00.123456Z LEVEL thread reqid " into buf. */
static size_t log_prefix(char *buf, size_t cap, const char *level, const char *request_id) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %-5s %s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000, level, thread_name,
                     request_id ? request_id : "-");
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
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
    size_t len = log_prefix(line, sizeof(line), level_names[level], thread_request_id);
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
    char *p = access_buf + access_len;
    size_t cap = ACCESS_BUF_BYTES - access_len;
    size_t len = log_prefix(p, cap, "INFO", request_id);
    if (target_len > ACCESS_TARGET_BYTES_MAX)
        target_len = ACCESS_TARGET_BYTES_MAX;
    int n = snprintf(p + len, cap - len, "access %.*s %.*s %d %llu %lluus\n", (int)method_len,
                     method, (int)target_len, target, status, (unsigned long long)bytes,
                     (unsigned long long)duration_us);
    if (n > 0 && (size_t)n < cap - len)
        access_len += len + (size_t)n;
}

void fc_log_flush(void) {
    if (access_len > 0)
        write_all(access_buf, access_len);
    access_len = 0;
}
