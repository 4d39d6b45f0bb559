/* log.h — one line per event: UTC time, level, thread, request id, message.
 *
 *   2026-12-01T10:00:00.123456Z INFO  io-0 6f1c...-... listening on 127.0.0.1:8000
 *
 * Lines go to stderr (fd 2) with one write(2) each, so lines from different
 * threads never interleave. The thread name and the current request id are
 * thread-local; set them with fc_log_thread_set / fc_log_request_set.
 *
 * Access lines (one per HTTP request) are buffered per thread and written by
 * fc_log_flush, which each event loop calls once per iteration: a busy loop
 * pays one write(2) per batch, not per request. Any thread. */
#ifndef FC_LOG_H
#define FC_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum fc_log_level { FC_LOG_DEBUG, FC_LOG_INFO, FC_LOG_WARN, FC_LOG_ERROR, FC_LOG_OFF };

/* Parse "debug", "info", "warn", "error", "off". Returns the level or -EINVAL. */
int fc_log_level_parse(const char *name);

/* Set the process-wide minimum level and whether access lines are written.
 * Safe to call while other threads log (relaxed atomics: a reload may take
 * effect a few lines late on another thread, which is harmless). */
void fc_log_configure(enum fc_log_level min_level, bool access_log);
bool fc_log_enabled(enum fc_log_level level);

/* Name this thread in log lines (copied; at most 15 bytes kept). */
void fc_log_thread_set(const char *name);
/* Tag this thread's next lines with a request id (borrowed: the caller keeps
 * the string alive until it sets another or NULL). */
void fc_log_request_set(const char *request_id);

void fc_log_write(enum fc_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Buffer an access line: method, target, status, response bytes, duration.
 * Strings are (pointer, length) slices and are copied. */
void fc_log_access(const char *method, uint32_t method_len, const char *target,
                   uint32_t target_len, int status, uint64_t bytes, uint64_t duration_us,
                   const char *request_id);
/* Write this thread's buffered access lines. */
void fc_log_flush(void);

#define FC_LOG_(level, ...)                                                                        \
    do {                                                                                           \
        if (fc_log_enabled(level))                                                                 \
            fc_log_write(level, __VA_ARGS__);                                                      \
    } while (0)
#define FC_LOG_DEBUG(...) FC_LOG_(FC_LOG_DEBUG, __VA_ARGS__)
#define FC_LOG_INFO(...) FC_LOG_(FC_LOG_INFO, __VA_ARGS__)
#define FC_LOG_WARN(...) FC_LOG_(FC_LOG_WARN, __VA_ARGS__)
#define FC_LOG_ERROR(...) FC_LOG_(FC_LOG_ERROR, __VA_ARGS__)

#endif
