/* test_log.c — core/log: the line formats (event and access lines), read
 * back from stderr redirected to a file. */
#include "tests/unit/test.h"

#include "core/log.h"

#include <fcntl.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* Point stderr at a new temp file; returns its fd for capture_read. */
static int capture_start(void) {
    char path[] = "/tmp/fcd-test-log-XXXXXX";
    int fd = mkstemp(path);
    FC_CHECK(fd >= 0);
    unlink(path);
    FC_CHECK(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    return fd;
}

static size_t capture_read(int fd, char *buf, size_t cap) {
    ssize_t n = pread(fd, buf, cap - 1, 0);
    FC_CHECK(n >= 0);
    buf[n] = '\0';
    return (size_t)n;
}

/* The line's "YYYY-MM-DDTHH:MM:SS.uuuuuuZ " is now's (within 2 s); returns
 * what follows it. */
static const char *check_time(const char *line) {
    struct tm tm = {0};
    const char *rest = strptime(line, "%Y-%m-%dT%H:%M:%S", &tm);
    FC_CHECK(rest != NULL && rest[0] == '.');
    for (int i = 1; i <= 6; i++)
        FC_CHECK(rest[i] >= '0' && rest[i] <= '9');
    FC_CHECK(rest[7] == 'Z' && rest[8] == ' ');
    time_t at = timegm(&tm), now = time(NULL);
    FC_CHECK(at <= now && now - at <= 2);
    return rest + 9;
}

/* Flush, then stderr must hold exactly two lines: `first` and `second`
 * after their timestamps. */
static void check_two_lines(int fd, const char *first, const char *second) {
    fc_log_flush();
    char buf[4096];
    capture_read(fd, buf, sizeof(buf));
    char *next = strchr(buf, '\n');
    FC_CHECK(next != NULL);
    *next++ = '\0';
    FC_CHECK(strcmp(check_time(buf), first) == 0);
    char *end = strchr(next, '\n');
    FC_CHECK(end != NULL && end[1] == '\0');
    *end = '\0';
    FC_CHECK(strcmp(check_time(next), second) == 0);
}

FC_TEST(log_access_line) {
    int fd = capture_start();
    fc_log_configure(FC_LOG_INFO, true);
    fc_log_thread_set("io-7");
    fc_log_access("GET", 3, "/x?y=1", 6, 200, 123, 4567, "rid-1");
    fc_log_access("POST", 4, "/z", 2, 503, 0, 0, NULL);
    check_two_lines(fd, "INFO  io-7 rid-1 access GET /x?y=1 200 123 4567us",
                    "INFO  io-7 - access POST /z 503 0 0us");
}

FC_TEST(log_access_target_is_cut) {
    int fd = capture_start();
    fc_log_configure(FC_LOG_INFO, true);
    char target[3000];
    memset(target, 'a', sizeof(target));
    fc_log_access("GET", 3, target, sizeof(target), 200, 1, 1, "r");
    fc_log_flush();
    char buf[4096];
    capture_read(fd, buf, sizeof(buf));
    const char *a = strstr(buf, " access GET ");
    FC_CHECK(a != NULL);
    a += strlen(" access GET ");
    size_t run = strspn(a, "a");
    FC_CHECK(run == 512 && strcmp(a + run, " 200 1 1us\n") == 0);
}

FC_TEST(log_event_line_and_levels) {
    int fd = capture_start();
    fc_log_configure(FC_LOG_WARN, false);
    fc_log_thread_set("worker-0");
    fc_log_request_set("abc");
    FC_LOG_INFO("not written: below the level");
    FC_LOG_WARN("hello %d", 5);
    fc_log_request_set(NULL);
    FC_LOG_ERROR("bye");
    fc_log_access("GET", 3, "/", 1, 200, 1, 1, "r"); /* access lines are off */
    check_two_lines(fd, "WARN  worker-0 abc hello 5", "ERROR worker-0 - bye");
}
