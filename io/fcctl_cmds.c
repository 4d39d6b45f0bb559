/* fcctl_cmds.c — fcctl's commands on existing resources: service, function
 * and trigger list/get/delete, invoke, tasks and logs.
 *
 * Human output is a table (lists) or "key: value" lines (get); --json
 * prints fcd's JSON instead: the body as received for a single resource,
 * one merged document when a list took several pages. */
#include "io/fcctl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/assert.h"

/* Page size asked of list calls (FC's own maximum for services and functions). */
#define LIST_PAGE_MAX 100u
#define TASKS_LIMIT_DEFAULT 100u
#define TASKS_LIMIT_MAX 100000u
#define LOGS_TAIL_DEFAULT 8192u
#define LOGS_TAIL_MAX (1u << 20) /* fcd answers at most 1 MiB per call */
/* What one poll of `logs -f` asks for; a full answer means "ask again now". */
#define LOGS_FOLLOW_BYTES 262144u
#define LOGS_POLL_MS 500
#define TABLE_COLS_MAX 6u
/* The largest x-fc-log-result fcctl decodes (fcd sends the last 4 KB). */
#define LOG_RESULT_BYTES_MAX (1u << 20)

/* ---- output ------------------------------------------------------------------------ */

/* "2026-03-02T10:00:00.123Z" for ms since the epoch. */
static void format_ms(int64_t ms, char out[32]) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || gmtime_r(&s, &tm) == NULL) {
        snprintf(out, 32, "%lld", (long long)ms);
        return;
    }
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static bool is_ms_time(const char *key) {
    return strcmp(key, "startedTime") == 0 || strcmp(key, "endTime") == 0 ||
           strcmp(key, "timestamp") == 0;
}

/* A JSON value as display text (malloc'd): strings as they are, "-" for
 * null or missing, ms time stamps as dates, containers as compact JSON. */
static char *cell_text(const char *key, const json_t *v) {
    char buf[64];
    if (v == NULL || json_is_null(v))
        return strdup("-");
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v) && key != NULL && is_ms_time(key)) {
        format_ms(json_integer_value(v), buf);
        return strdup(buf);
    }
    if (json_is_integer(v))
        return snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v)), strdup(buf);
    if (json_is_real(v))
        return snprintf(buf, sizeof(buf), "%g", json_real_value(v)), strdup(buf);
    if (json_is_boolean(v))
        return strdup(json_is_true(v) ? "true" : "false");
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s != NULL ? s : strdup("?");
}

struct column {
    const char *title;
    const char *field;
};

/* Print items (an array of objects) as a table of the given columns. */
static void print_table(const struct column *cols, uint32_t ncols, const json_t *items) {
    FC_ASSERT(ncols > 0 && ncols <= TABLE_COLS_MAX);
    size_t rows = json_array_size(items);
    char **cells = calloc((rows + 1) * ncols, sizeof(char *));
    size_t width[TABLE_COLS_MAX] = {0};
    for (uint32_t j = 0; cells != NULL && j < ncols; j++)
        cells[j] = strdup(cols[j].title);
    for (size_t i = 0; cells != NULL && i < rows; i++)
        for (uint32_t j = 0; j < ncols; j++)
            cells[(i + 1) * ncols + j] =
                cell_text(cols[j].field, json_object_get(json_array_get(items, i), cols[j].field));
    for (size_t i = 0; cells != NULL && i < (rows + 1) * ncols; i++)
        if (cells[i] != NULL && strlen(cells[i]) > width[i % ncols])
            width[i % ncols] = strlen(cells[i]);
    for (size_t r = 0; cells != NULL && r <= rows; r++) {
        uint32_t last = 0; /* the last non-empty cell: no trailing blanks after it */
        for (uint32_t j = 0; j < ncols; j++)
            if (cells[r * ncols + j] == NULL || cells[r * ncols + j][0] != '\0')
                last = j;
        for (uint32_t j = 0; j <= last; j++) {
            const char *s = cells[r * ncols + j] ? cells[r * ncols + j] : "?";
            if (j < last)
                printf("%-*s  ", (int)width[j], s);
            else
                printf("%s\n", s);
        }
    }
    for (size_t i = 0; cells != NULL && i < (rows + 1) * ncols; i++)
        free(cells[i]);
    free(cells);
}

/* Print an object as "key: value" lines; arrays of objects (a task's
 * events) one element per indented line. */
static void print_object(const json_t *doc) {
    size_t width = 0;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)doc, key, v) {
        if (strlen(key) > width)
            width = strlen(key);
    }
    json_object_foreach((json_t *)doc, key, v) {
        if (json_is_array(v) && json_array_size(v) > 0 && json_is_object(json_array_get(v, 0))) {
            printf("%s:\n", key);
            size_t i;
            const json_t *e;
            json_array_foreach(v, i, e) {
                const char *k2;
                const json_t *v2;
                printf(" ");
                json_object_foreach((json_t *)e, k2, v2) {
                    char *t = cell_text(k2, v2);
                    printf(" %s=%s", k2, t);
                    free(t);
                }
                printf("\n");
            }
            continue;
        }
        char *t = cell_text(key, v);
        if (t != NULL && t[0] != '\0')
            printf("%-*s  %s\n", (int)width, key, t);
        else
            printf("%s\n", key);
        free(t);
    }
}

/* ---- generic calls ----------------------------------------------------------------- */

static int target_or_usage(int rc) {
    return rc == -ENAMETOOLONG ? fcctl_usage_error("names too long for a request")
                               : fcctl_fail(FCCTL_EXIT_LOCAL, "out of memory");
}

/* GET target and print the resource. Returns an exit code. */
static int get_and_print(struct fcctl *c, const char *target) {
    struct fcctl_request req = {.method = "GET", .target = target};
    struct fcctl_response r;
    int rc = fcctl_api(c, &req, &r);
    if (rc != FCCTL_EXIT_OK)
        return rc;
    json_t *doc = c->json ? NULL : fcctl_response_json(&r);
    if (c->json)
        fcctl_print_body(&r);
    else if (doc != NULL)
        print_object(doc);
    else
        rc = FCCTL_EXIT_SERVER;
    json_decref(doc);
    fcctl_response_free(&r);
    return rc;
}

/* DELETE target; says what went. Returns an exit code. */
static int delete_and_say(struct fcctl *c, const char *target, const char *what, const char *name) {
    struct fcctl_request req = {.method = "DELETE", .target = target};
    struct fcctl_response r;
    int rc = fcctl_api(c, &req, &r);
    if (rc != FCCTL_EXIT_OK)
        return rc;
    if (c->json && r.body_len > 0)
        fcctl_print_body(&r);
    else if (!c->json)
        printf("deleted %s %s\n", what, name);
    fcctl_response_free(&r);
    return FCCTL_EXIT_OK;
}

/* One page of a list: GET base?limit=N[&extra][&nextToken=T]. */
static int list_page(struct fcctl *c, const char *base, uint64_t limit, const char *extra,
                     const char *token, json_t **page) {
    struct fc_buf t = {0};
    int rc = fc_buf_printf(&t, "%s?limit=%llu%s", base, (unsigned long long)limit, extra);
    if (rc == 0 && token != NULL) {
        rc = fc_buf_printf(&t, "&nextToken=");
        rc = rc < 0 ? rc : fcctl_buf_escape(&t, token);
    }
    rc = rc < 0 ? rc : fc_buf_append(&t, "", 1);
    if (rc < 0) {
        fc_buf_free(&t);
        return fcctl_fail(FCCTL_EXIT_LOCAL, "out of memory");
    }
    struct fcctl_request req = {.method = "GET", .target = t.data};
    struct fcctl_response r;
    rc = fcctl_api(c, &req, &r);
    fc_buf_free(&t);
    if (rc != FCCTL_EXIT_OK)
        return rc;
    *page = fcctl_response_json(&r);
    fcctl_response_free(&r);
    return *page != NULL ? FCCTL_EXIT_OK : FCCTL_EXIT_SERVER;
}

/* Every item of a paged list (at most max_items), as one document: the last
 * page with its `key` array replaced by all items. Returns an exit code. */
static int list_all(struct fcctl *c, const char *base, const char *key, uint64_t max_items,
                    const char *extra, json_t **out) {
    json_t *items = json_array(), *page = NULL;
    char *token = NULL;
    int rc = items != NULL ? FCCTL_EXIT_OK : fcctl_fail(FCCTL_EXIT_LOCAL, "out of memory");
    for (uint32_t pages = 0; rc == FCCTL_EXIT_OK; pages++) {
        if (pages == FCCTL_PAGES_MAX) {
            rc = fcctl_fail(FCCTL_EXIT_SERVER, "more than %u pages: stopping", FCCTL_PAGES_MAX);
            break;
        }
        uint64_t left = max_items - json_array_size(items);
        json_decref(page);
        page = NULL;
        rc = list_page(c, base, left < LIST_PAGE_MAX ? left : LIST_PAGE_MAX, extra, token, &page);
        if (rc != FCCTL_EXIT_OK)
            break;
        json_t *got = json_object_get(page, key);
        if (got != NULL && !json_is_array(got)) {
            rc = fcctl_fail(FCCTL_EXIT_SERVER, "fcd's answer: \"%s\" is not an array", key);
            break;
        }
        if (got != NULL)
            json_array_extend(items, got);
        const char *next = json_string_value(json_object_get(page, "nextToken"));
        if (next != NULL && token != NULL && strcmp(next, token) == 0) {
            rc = fcctl_fail(FCCTL_EXIT_SERVER, "fcd's answer repeats nextToken %s", next);
            break;
        }
        free(token);
        token = next != NULL && next[0] != '\0' ? strdup(next) : NULL;
        if (token == NULL || json_array_size(items) >= max_items)
            break;
    }
    free(token);
    while (json_array_size(items) > max_items) /* a server that sent more than asked */
        json_array_remove(items, json_array_size(items) - 1);
    if (rc == FCCTL_EXIT_OK) {
        if (json_array_size(items) > 0 || json_object_get(page, key) != NULL)
            json_object_set(page, key, items); /* absent stays absent (tasks, §5.6) */
        *out = page;
        page = NULL;
    }
    json_decref(page);
    json_decref(items);
    return rc;
}

/* A list command: all pages, then a table (or the JSON). */
static int list_command(struct fcctl *c, const char *base, const char *key,
                        const struct column *cols, uint32_t ncols) {
    json_t *doc = NULL;
    int rc = list_all(c, base, key, UINT64_MAX, "", &doc);
    if (rc != FCCTL_EXIT_OK)
        return rc;
    if (c->json)
        fcctl_print_json(doc);
    else
        print_table(cols, ncols, json_object_get(doc, key));
    json_decref(doc);
    return FCCTL_EXIT_OK;
}

/* Parse SVC/FN[/TRIGGER] or report a usage error. */
static int names(const char *arg, uint32_t want, char buf[3 * FCCTL_NAME_BYTES_MAX],
                 const char *parts[3]) {
    if (fcctl_split_path(arg, want, buf, parts) == 0)
        return 0;
    return fcctl_usage_error("expected %s, not '%s'", want == 2 ? "SVC/FN" : "SVC/FN/TRIGGER", arg);
}

/* ---- service, function, trigger ---------------------------------------------------- */

int fcctl_cmd_service_list(struct fcctl *c, const struct fcctl_args *a) {
    (void)a;
    static const struct column cols[] = {
        {"NAME", "serviceName"}, {"DESCRIPTION", "description"}, {"MODIFIED", "lastModifiedTime"}};
    return list_command(c, "/" FCCTL_API_VERSION "/services", "services", cols, 3);
}

int fcctl_cmd_service_get(struct fcctl *c, const struct fcctl_args *a) {
    struct fc_buf t = {0};
    int rc = fcctl_target(&t, a->pos[0], NULL, NULL, NULL);
    rc = rc < 0 ? target_or_usage(rc) : get_and_print(c, t.data);
    fc_buf_free(&t);
    return rc;
}

int fcctl_cmd_service_delete(struct fcctl *c, const struct fcctl_args *a) {
    struct fc_buf t = {0};
    int rc = fcctl_target(&t, a->pos[0], NULL, NULL, NULL);
    rc = rc < 0 ? target_or_usage(rc) : delete_and_say(c, t.data, "service", a->pos[0]);
    fc_buf_free(&t);
    return rc;
}

int fcctl_cmd_function_list(struct fcctl *c, const struct fcctl_args *a) {
    static const struct column cols[] = {{"NAME", "functionName"},
                                         {"RUNTIME", "runtime"},
                                         {"MEMORY_MB", "memorySize"},
                                         {"TIMEOUT_S", "timeout"},
                                         {"MODIFIED", "lastModifiedTime"}};
    struct fc_buf t = {0};
    int rc = fcctl_target(&t, a->pos[0], NULL, NULL, "/functions");
    rc = rc < 0 ? target_or_usage(rc) : list_command(c, t.data, "functions", cols, 5);
    fc_buf_free(&t);
    return rc;
}

/* A command on SVC/FN[/TRIGGER]: 0 get, 1 delete, 2 list triggers. */
static int on_path(struct fcctl *c, const char *arg, uint32_t want, int op) {
    static const struct column cols[] = {
        {"NAME", "triggerName"}, {"TYPE", "triggerType"}, {"CONFIG", "triggerConfig"}};
    char buf[3 * FCCTL_NAME_BYTES_MAX];
    const char *p[3];
    int rc = names(arg, want, buf, p);
    if (rc != 0)
        return rc;
    struct fc_buf t = {0};
    char suffix[FCCTL_NAME_BYTES_MAX * 3 + 16] = "";
    if (want == 3 || op == 2)
        snprintf(suffix, sizeof(suffix), "/triggers");
    rc = fcctl_target(&t, p[0], NULL, p[1], suffix);
    if (rc == 0 && want == 3) {
        rc = fc_buf_append(&t, "/", 1);
        rc = rc < 0 ? rc : fcctl_buf_escape(&t, p[2]);
        rc = rc < 0 ? rc : fc_buf_append(&t, "", 1);
    }
    if (rc < 0)
        rc = target_or_usage(rc);
    else if (op == 0)
        rc = get_and_print(c, t.data);
    else if (op == 1)
        rc = delete_and_say(c, t.data, want == 3 ? "trigger" : "function", arg);
    else
        rc = list_command(c, t.data, "triggers", cols, 3);
    fc_buf_free(&t);
    return rc;
}

int fcctl_cmd_function_get(struct fcctl *c, const struct fcctl_args *a) {
    return on_path(c, a->pos[0], 2, 0);
}

int fcctl_cmd_function_delete(struct fcctl *c, const struct fcctl_args *a) {
    return on_path(c, a->pos[0], 2, 1);
}

int fcctl_cmd_trigger_list(struct fcctl *c, const struct fcctl_args *a) {
    return on_path(c, a->pos[0], 2, 2);
}

int fcctl_cmd_trigger_get(struct fcctl *c, const struct fcctl_args *a) {
    return on_path(c, a->pos[0], 3, 0);
}

int fcctl_cmd_trigger_delete(struct fcctl *c, const struct fcctl_args *a) {
    return on_path(c, a->pos[0], 3, 1);
}

/* ---- invoke ------------------------------------------------------------------------ */

/* The whole of FILE ('-': stdin) into *out. Returns an exit code. */
static int read_event(const char *path, struct fc_buf *out) {
    bool std_in = strcmp(path, "-") == 0;
    int fd = std_in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fcctl_fail(FCCTL_EXIT_LOCAL, "%s: %s", path, strerror(errno));
    int rc = FCCTL_EXIT_OK;
    for (;;) {
        if (fc_buf_reserve(out, 65536) < 0) {
            rc = fcctl_fail(FCCTL_EXIT_LOCAL, "out of memory");
            break;
        }
        ssize_t n = read(fd, out->data + out->len, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = fcctl_fail(FCCTL_EXIT_LOCAL, "%s: %s", path, strerror(errno));
        if (n <= 0)
            break;
        out->len += (size_t)n;
        if (out->len > FCCTL_REQ_BODY_BYTES_MAX) {
            rc = fcctl_fail(FCCTL_EXIT_LOCAL, "%s: larger than %llu bytes", path,
                            (unsigned long long)FCCTL_REQ_BODY_BYTES_MAX);
            break;
        }
    }
    if (!std_in)
        close(fd);
    return rc;
}

/* Decode x-fc-log-result (base64) to stderr. */
static void print_log_result(const char *b64) {
    size_t len = strlen(b64);
    if (len > LOG_RESULT_BYTES_MAX)
        len = LOG_RESULT_BYTES_MAX;
    unsigned char *out = malloc(len / 4 * 3 + 3);
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int n = 0, m = 0;
    if (out != NULL && ctx != NULL) {
        EVP_DecodeInit(ctx);
        if (EVP_DecodeUpdate(ctx, out, &n, (const unsigned char *)b64, (int)len) >= 0 &&
            EVP_DecodeFinal(ctx, out + n, &m) == 1)
            fwrite(out, 1, (size_t)(n + m), stderr);
        else
            fprintf(stderr, "fcctl: x-fc-log-result is not base64\n");
    }
    EVP_ENCODE_CTX_free(ctx);
    free(out);
}

/* Options of invoke into headers; returns an exit code. */
static int invoke_headers(const struct fcctl_args *a, struct fcctl_header h[FCCTL_REQ_HEADERS_MAX],
                          uint32_t *n) {
    bool async = fcctl_arg(a, "async") != NULL;
    const char *delay = fcctl_arg(a, "delay"), *task = fcctl_arg(a, "task-id");
    uint64_t d;
    if (fcctl_arg(a, "data") != NULL && fcctl_arg(a, "file") != NULL)
        return fcctl_usage_error("-d and -f exclude each other");
    if ((delay != NULL || task != NULL) && !async)
        return fcctl_usage_error("--%s needs --async", delay != NULL ? "delay" : "task-id");
    if (delay != NULL && fcctl_parse_u64(delay, 0, 1000000000, &d) < 0)
        return fcctl_usage_error("--delay: expected whole seconds, not '%s'", delay);
    if (task != NULL && (task[0] == '\0' || strlen(task) >= FCCTL_NAME_BYTES_MAX))
        return fcctl_usage_error("--task-id: expected 1 to %u bytes", FCCTL_NAME_BYTES_MAX - 1);
    *n = 0;
    if (async)
        h[(*n)++] = (struct fcctl_header){"x-fc-invocation-type", "Async"};
    if (delay != NULL)
        h[(*n)++] = (struct fcctl_header){"x-fc-async-delay", delay};
    if (task != NULL)
        h[(*n)++] = (struct fcctl_header){"x-fc-stateful-async-invocation-id", task};
    if (fcctl_arg(a, "log") != NULL)
        h[(*n)++] = (struct fcctl_header){"x-fc-log-type", "Tail"};
    FC_ASSERT(*n <= FCCTL_REQ_HEADERS_MAX);
    return FCCTL_EXIT_OK;
}

/* The answer of an invocation: log, ids or body. Returns an exit code. */
static int invoke_output(struct fcctl *c, const struct fcctl_args *a,
                         const struct fcctl_response *r) {
    const char *rid = fcctl_response_header(r, "x-fc-request-id");
    const char *log = fcctl_response_header(r, "x-fc-log-result");
    if (fcctl_arg(a, "log") != NULL && log != NULL)
        print_log_result(log);
    if (fcctl_arg(a, "async") != NULL) {
        const char *task = fcctl_response_header(r, "x-fc-stateful-async-invocation-id");
        if (c->json) {
            json_t *o = json_pack("{s:s?}", "requestId", rid);
            if (o != NULL && task != NULL)
                json_object_set_new(o, "taskId", json_string(task));
            fcctl_print_json(o);
            json_decref(o);
            return FCCTL_EXIT_OK;
        }
        printf("request id: %s\n", rid ? rid : "-");
        if (task != NULL)
            printf("task id: %s\n", task);
        return FCCTL_EXIT_OK;
    }
    fwrite(r->body, 1, r->body_len, stdout);
    const char *err = fcctl_response_header(r, "x-fc-error-type");
    if (err == NULL)
        return FCCTL_EXIT_OK;
    fflush(stdout);
    return fcctl_fail(FCCTL_EXIT_SERVER, "function error: %s (request id %s)", err,
                      rid ? rid : "-");
}

int fcctl_cmd_invoke(struct fcctl *c, const struct fcctl_args *a) {
    char buf[3 * FCCTL_NAME_BYTES_MAX];
    const char *p[3];
    struct fcctl_header h[FCCTL_REQ_HEADERS_MAX];
    uint32_t nh = 0;
    int rc = names(a->pos[0], 2, buf, p);
    rc = rc != 0 ? rc : invoke_headers(a, h, &nh);
    if (rc != 0)
        return rc;
    struct fc_buf event = {0}, t = {0};
    const char *file = fcctl_arg(a, "file"), *data = fcctl_arg(a, "data");
    if (file != NULL && (rc = read_event(file, &event)) != FCCTL_EXIT_OK)
        return fc_buf_free(&event), rc;
    if (data != NULL && fc_buf_append(&event, data, strlen(data)) < 0)
        return fcctl_fail(FCCTL_EXIT_LOCAL, "out of memory");
    rc = fcctl_target(&t, p[0], fcctl_arg(a, "qualifier"), p[1], "/invocations");
    if (rc < 0) {
        fc_buf_free(&event);
        return target_or_usage(rc);
    }
    struct fcctl_request req = {
        .method = "POST", .target = t.data, .headers = h, .headers_count = nh};
    if (event.len > 0) {
        req.content_type = "application/octet-stream";
        req.body = event.data;
        req.body_len = event.len;
    }
    struct fcctl_response r;
    rc = fcctl_http_exchange(c, &req, &r);
    fc_buf_free(&event);
    fc_buf_free(&t);
    if (rc < 0)
        return fcctl_report_transport(c, rc);
    rc = r.status >= 200 && r.status <= 299 ? invoke_output(c, a, &r) : fcctl_report_server(c, &r);
    fcctl_response_free(&r);
    return rc;
}

/* ---- tasks ------------------------------------------------------------------------- */

/* Target of SVC/FN's tasks, with "/ID" when id is given. Returns an exit code. */
static int tasks_target(const char *arg, const char *id, struct fc_buf *t) {
    char buf[3 * FCCTL_NAME_BYTES_MAX];
    const char *p[3];
    int rc = names(arg, 2, buf, p);
    if (rc != 0)
        return rc;
    if (id != NULL && (id[0] == '\0' || strlen(id) >= FCCTL_NAME_BYTES_MAX))
        return fcctl_usage_error("task id: expected 1 to %u bytes", FCCTL_NAME_BYTES_MAX - 1);
    rc = fcctl_target(t, p[0], NULL, p[1], "/stateful-async-invocations");
    if (rc == 0 && id != NULL) {
        rc = fc_buf_append(t, "/", 1);
        rc = rc < 0 ? rc : fcctl_buf_escape(t, id);
        rc = rc < 0 ? rc : fc_buf_append(t, "", 1);
    }
    return rc < 0 ? target_or_usage(rc) : FCCTL_EXIT_OK;
}

int fcctl_cmd_tasks_list(struct fcctl *c, const struct fcctl_args *a) {
    static const struct column cols[] = {{"ID", "invocationId"},
                                         {"STATUS", "status"},
                                         {"STARTED", "startedTime"},
                                         {"DURATION_MS", "durationMs"},
                                         {"RETRIES", "alreadyRetriedTimes"},
                                         {"ERROR", "invocationErrorMessage"}};
    uint64_t limit = TASKS_LIMIT_DEFAULT;
    const char *l = fcctl_arg(a, "limit"), *status = fcctl_arg(a, "status");
    if (l != NULL && fcctl_parse_u64(l, 1, TASKS_LIMIT_MAX, &limit) < 0)
        return fcctl_usage_error("--limit: expected 1 to %u", TASKS_LIMIT_MAX);
    struct fc_buf t = {0}, extra = {0};
    int rc = tasks_target(a->pos[0], NULL, &t);
    if (rc == 0 && status != NULL &&
        (fc_buf_printf(&extra, "&status=") < 0 || fcctl_buf_escape(&extra, status) < 0))
        rc = fcctl_fail(FCCTL_EXIT_LOCAL, "out of memory");
    if (rc == 0 && fc_buf_printf(&extra, "&sortOrderByTime=desc") < 0)
        rc = fcctl_fail(FCCTL_EXIT_LOCAL, "out of memory");
    json_t *doc = NULL;
    if (rc == 0)
        rc = list_all(c, t.data, "invocations", limit, extra.data, &doc);
    if (rc == 0 && c->json)
        fcctl_print_json(doc);
    else if (rc == 0)
        print_table(cols, 6, json_object_get(doc, "invocations"));
    json_decref(doc);
    fc_buf_free(&t);
    fc_buf_free(&extra);
    return rc;
}

int fcctl_cmd_tasks_get(struct fcctl *c, const struct fcctl_args *a) {
    struct fc_buf t = {0};
    int rc = tasks_target(a->pos[0], a->pos[1], &t);
    rc = rc != 0 ? rc : get_and_print(c, t.data);
    fc_buf_free(&t);
    return rc;
}

int fcctl_cmd_tasks_stop(struct fcctl *c, const struct fcctl_args *a) {
    struct fc_buf t = {0};
    int rc = tasks_target(a->pos[0], a->pos[1], &t);
    struct fcctl_request req = {.method = "PUT", .target = t.data};
    struct fcctl_response r;
    rc = rc != 0 ? rc : fcctl_api(c, &req, &r);
    fc_buf_free(&t);
    if (rc != FCCTL_EXIT_OK)
        return rc;
    if (c->json && r.body_len > 0)
        fcctl_print_body(&r);
    else if (!c->json)
        printf("stopped task %s\n", a->pos[1]);
    fcctl_response_free(&r);
    return FCCTL_EXIT_OK;
}

/* ---- logs -------------------------------------------------------------------------- */

/* The one global: set by SIGINT/SIGTERM during `logs -f` (see fcctl.h). */
static volatile sig_atomic_t logs_stop;

static void on_stop_signal(int sig) {
    (void)sig;
    logs_stop = 1;
}

/* One GET of the log from offset (-1: the last `limit` bytes); prints the
 * bytes, sets *next and *got. Returns an exit code, or -EINTR when stopped. */
static int logs_fetch(struct fcctl *c, const char *base, int64_t offset, uint64_t limit,
                      int64_t *next, size_t *got) {
    char target[FCCTL_TARGET_BYTES_MAX + 64];
    snprintf(target, sizeof(target), "%s?offset=%lld&limit=%llu", base, (long long)offset,
             (unsigned long long)limit);
    struct fcctl_request req = {.method = "GET", .target = target};
    struct fcctl_response r;
    int rc = fcctl_http_exchange(c, &req, &r);
    if (rc == -EINTR)
        return rc;
    if (rc < 0)
        return fcctl_report_transport(c, rc);
    if (r.status < 200 || r.status > 299) {
        rc = fcctl_report_server(c, &r);
        fcctl_response_free(&r);
        return rc;
    }
    const char *off = fcctl_response_header(&r, "x-fcd-log-offset");
    uint64_t v;
    if (off == NULL || fcctl_parse_u64(off, 0, INT64_MAX, &v) < 0) {
        fcctl_response_free(&r);
        return fcctl_fail(FCCTL_EXIT_SERVER, "fcd's answer has no valid x-fcd-log-offset");
    }
    fwrite(r.body, 1, r.body_len, stdout);
    fflush(stdout);
    *next = (int64_t)v;
    *got = r.body_len;
    fcctl_response_free(&r);
    return FCCTL_EXIT_OK;
}

int fcctl_cmd_logs(struct fcctl *c, const struct fcctl_args *a) {
    uint64_t tail = LOGS_TAIL_DEFAULT;
    const char *t = fcctl_arg(a, "tail");
    if (t != NULL && fcctl_parse_u64(t, 1, LOGS_TAIL_MAX, &tail) < 0)
        return fcctl_usage_error("--tail: expected 1 to %u bytes", LOGS_TAIL_MAX);
    struct fc_buf base = {0};
    char buf[3 * FCCTL_NAME_BYTES_MAX];
    const char *p[3];
    int rc = names(a->pos[0], 2, buf, p);
    if (rc != 0)
        return rc;
    if ((rc = fcctl_target(&base, p[0], NULL, p[1], "/logs")) < 0)
        return fc_buf_free(&base), target_or_usage(rc);
    bool follow = fcctl_arg(a, "follow") != NULL;
    if (follow) { /* no SA_RESTART: a wait in progress returns EINTR */
        struct sigaction sa = {.sa_handler = on_stop_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        c->stop = &logs_stop;
    }
    int64_t offset = -1;
    size_t got = 0;
    rc = logs_fetch(c, base.data, -1, tail, &offset, &got);
    got = 0;
    while (follow && rc == FCCTL_EXIT_OK && !logs_stop) { /* ends on a signal or an error */
        if (got < LOGS_FOLLOW_BYTES) { /* a full answer: more is waiting, ask at once */
            struct timespec ts = {0, LOGS_POLL_MS * 1000000L};
            nanosleep(&ts, NULL); /* EINTR: the loop condition sees the flag */
            if (logs_stop)
                break;
        }
        rc = logs_fetch(c, base.data, offset, LOGS_FOLLOW_BYTES, &offset, &got);
    }
    fc_buf_free(&base);
    return rc == -EINTR ? FCCTL_EXIT_OK : rc;
}
