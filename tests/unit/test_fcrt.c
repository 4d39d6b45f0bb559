/* test_fcrt.c — runtime-shim: libfcrt (the custom-runtime server) and fcshim
 * (the instance launcher).
 *
 * libfcrt is tested through its header, from outside, as the platform sees
 * it: each test forks a child that runs fcrt_serve on a free port with
 * test_handler, its stdout on a pipe, and speaks raw HTTP/1.1 to it.
 *
 * fcshim is run as a program: $FCSHIM if set, else the fcshim next to the
 * running unit-test binary (the Makefile builds both into $(BUILD)), else
 * build/cc/fcshim. */
#include "runtime-shim/fcrt.h"
#include "tests/unit/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define IO_TIMEOUT_S 5
#define RESP_HEAD_MAX 8192

/* ---- the server under test ---------------------------------------------------------- */

struct counters {
    int releases; /* borrowed bodies released */
};

static void count_release(void *arg) {
    ((struct counters *)arg)->releases++;
}

static char big_static[100000]; /* a borrowed body larger than the inline limit */

/* /api: exercise the response calls and report their results. */
static void api_checks(struct fcrt_response *resp, struct counters *cnt) {
    char long_value[FCRT_RESP_HEAD_BYTES_MAX + 1];
    memset(long_value, 'v', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    int r[7];
    r[0] = fcrt_response_add_header(resp, "Content-Length", "1");
    r[1] = fcrt_response_add_header(resp, "Bad Name", "x");
    r[2] = fcrt_response_add_header(resp, "X-Ok", "a\r\nb");
    r[3] = fcrt_response_add_header(resp, "X-Ok", "fine");
    r[4] = fcrt_response_add_header(resp, "X-Long", long_value);
    r[5] = fcrt_response_set_body_borrowed(resp, "borrowed", 8, cnt, count_release);
    r[6] = fcrt_response_append(resp, "+app", 4); /* copies, then releases */
    fcrt_response_printf(resp, " %d", 42);
    fcrt_response_printf(resp, " rc=%d,%d,%d,%d,%d,%d,%d rel=%d", r[0], r[1], r[2], r[3], r[4],
                         r[5], r[6], cnt->releases);
}

static void http_paths(const struct fcrt_request *req, struct fcrt_response *resp,
                       struct counters *cnt) {
    const char *t = req->target;
    if (strcmp(t, "/api") == 0) {
        api_checks(resp, cnt);
    } else if (strcmp(t, "/borrow-big") == 0) {
        fcrt_response_set_body_borrowed(resp, big_static, sizeof(big_static), cnt, count_release);
    } else if (strcmp(t, "/releases") == 0) {
        fcrt_response_printf(resp, "rel=%d", cnt->releases);
    } else if (strcmp(t, "/headers") == 0) {
        const char *n, *v;
        for (size_t i = 0; fcrt_request_header_at(req, i, &n, &v) == 0; i++)
            fcrt_response_printf(resp, "%s=%s;", n, v);
        FC_CHECK(fcrt_request_header_at(req, fcrt_request_header_count(req), &n, &v) == -ENOENT);
    } else {
        fcrt_response_printf(resp, "%s %.*s q=%s len=%zu", req->method, (int)req->path_len, t,
                             req->query, req->body_len);
    }
}

/* One handler for every kind; x-kind tells the test which kind it saw. */
static void test_handler(const struct fcrt_request *req, struct fcrt_response *resp, void *ctx) {
    FC_CHECK(req->body[req->body_len] == '\0' && strlen(req->method) > 0);
    fcrt_response_add_header(resp, "x-kind", req->control_path);
    if (req->kind == FCRT_HTTP_INVOKE) {
        http_paths(req, resp, ctx);
        return;
    }
    const char *b = req->body;
    if (strcmp(b, "fail") == 0 || strcmp(b, "fail500") == 0) {
        resp->failed = true;
        resp->status = b[4] == '5' ? 500 : 200;
        resp->content_type = "application/json";
        fcrt_response_set_body(resp, "{\"errorMessage\":\"x\"}", 20);
    } else if (strncmp(b, "big:", 4) == 0) {
        size_t n = (size_t)atol(b + 4);
        for (size_t i = 0; i < n; i++)
            fcrt_response_append(resp, &"0123456789"[i % 10], 1);
    } else if (strcmp(b, "print") == 0) {
        printf("inside %s\n", req->request_id);
    } else if (strcmp(b, "len") == 0 || req->body_len > 64) {
        fcrt_response_printf(resp, "len=%zu", req->body_len);
    } else {
        fcrt_response_printf(resp, "hello, %s", b);
    }
}

struct server {
    pid_t pid;
    int port;
    int out_fd; /* read end of the child's stdout */
};

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    FC_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    FC_CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int try_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FC_CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {IO_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Connect, retrying while the server starts (up to IO_TIMEOUT_S). */
static int connect_to(int port) {
    for (int i = 0; i < IO_TIMEOUT_S * 500; i++) {
        int fd = try_connect(port);
        if (fd >= 0)
            return fd;
        usleep(2000);
    }
    FC_CHECK(!"server never accepted");
    return -1;
}

static struct counters child_counters;

static void server_start(struct server *s) {
    int p[2];
    FC_CHECK(pipe2(p, O_CLOEXEC) == 0);
    s->port = free_port();
    fflush(NULL);
    s->pid = fork();
    FC_CHECK(s->pid >= 0);
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no server */
        if (getppid() == 1)
            _exit(1);
        dup2(p[1], 1);
        struct fcrt_options o = {.port = (uint16_t)s->port, .ctx = &child_counters};
        o.invoke_cb = o.http_cb = o.initialize_cb = o.pre_stop_cb = o.pre_freeze_cb = test_handler;
        int rc = fcrt_serve(&o);
        _exit(rc == 0 ? 0 : 100 - rc);
    }
    close(p[1]);
    s->out_fd = p[0];
    close(connect_to(s->port)); /* ready */
}

/* SIGTERM the server; it must exit 0 within IO_TIMEOUT_S. */
static void server_stop(struct server *s) {
    FC_CHECK(kill(s->pid, SIGTERM) == 0);
    int st;
    FC_CHECK(waitpid(s->pid, &st, 0) == s->pid);
    FC_CHECK(WIFEXITED(st));
    FC_CHECK_INT(WEXITSTATUS(st), 0);
}

/* Everything the server printed, after it stopped. Caller frees. */
static char *server_stdout(struct server *s) {
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while ((n = read(s->out_fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(s->out_fd);
    return buf;
}

/* ---- a raw HTTP client -------------------------------------------------------------- */

struct reader {
    int fd;
    char *buf;
    size_t len, cap;
};

struct resp {
    int status;
    char head[RESP_HEAD_MAX];
    char *body; /* NUL-terminated; free with resp_free */
    size_t body_len;
};

static void reader_init(struct reader *r, int fd) {
    *r = (struct reader){.fd = fd, .cap = 1 << 16};
    r->buf = malloc(r->cap);
}

static void reader_free(struct reader *r) {
    close(r->fd);
    free(r->buf);
}

/* Read more into r. Returns bytes read, 0 at EOF; fails the test on timeout. */
static size_t reader_fill(struct reader *r) {
    if (r->len == r->cap) {
        r->cap *= 2;
        r->buf = realloc(r->buf, r->cap);
    }
    ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
    FC_CHECK(n >= 0); /* < 0: timeout */
    r->len += (size_t)n;
    return (size_t)n;
}

static void send_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        FC_CHECK(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

static void send_str(int fd, const char *s) {
    send_all(fd, s, strlen(s));
}

/* A header line "name: value" is in the head (names case-insensitive). */
static bool has_header(const struct resp *p, const char *line) {
    char want[512];
    snprintf(want, sizeof(want), "\r\n%s\r\n", line);
    return strcasestr(p->head, want) != NULL;
}

/* Read one response (for HEAD: head_only). Fails the test on EOF/timeout. */
static void read_resp(struct reader *r, struct resp *p, bool head_only) {
    char *end;
    while ((end = memmem(r->buf, r->len, "\r\n\r\n", 4)) == NULL)
        FC_CHECK(reader_fill(r) > 0);
    size_t hl = (size_t)(end + 4 - r->buf);
    FC_CHECK(hl < RESP_HEAD_MAX);
    memcpy(p->head, r->buf, hl);
    p->head[hl] = '\0';
    FC_CHECK(sscanf(p->head, "HTTP/1.1 %d ", &p->status) == 1);
    const char *cl = strcasestr(p->head, "\r\ncontent-length: ");
    p->body_len = cl != NULL && !head_only && p->status >= 200 ? strtoul(cl + 18, NULL, 10) : 0;
    while (r->len < hl + p->body_len)
        FC_CHECK(reader_fill(r) > 0);
    p->body = malloc(p->body_len + 1);
    memcpy(p->body, r->buf + hl, p->body_len);
    p->body[p->body_len] = '\0';
    memmove(r->buf, r->buf + hl + p->body_len, r->len - hl - p->body_len);
    r->len -= hl + p->body_len;
}

static void resp_free(struct resp *p) {
    free(p->body);
}

/* After the last response: the server closes (EOF, nothing more). */
static void expect_closed(struct reader *r) {
    FC_CHECK_INT(r->len, 0);
    FC_CHECK_INT(reader_fill(r), 0);
}

/* Send one request on a fresh connection, read one response. */
static void roundtrip(struct server *s, const char *req, struct resp *p) {
    struct reader r;
    reader_init(&r, connect_to(s->port));
    send_str(r.fd, req);
    read_resp(&r, p, false);
    reader_free(&r);
}

static char *invoke_req(char *buf, size_t cap, const char *id, const char *event) {
    snprintf(buf, cap,
             "POST /invoke HTTP/1.1\r\nHost: x\r\nx-fc-request-id: %s\r\n"
             "x-fc-control-path: /invoke\r\nContent-Length: %zu\r\n\r\n%s",
             id, strlen(event), event);
    return buf;
}

/* ---- libfcrt ------------------------------------------------------------------------ */

FC_TEST(fcrt_keep_alive) {
    struct server s;
    server_start(&s);
    struct reader r;
    reader_init(&r, connect_to(s.port));
    char req[512];
    for (int i = 0; i < 5; i++) {
        char ev[16];
        snprintf(ev, sizeof(ev), "ev%d", i);
        send_str(r.fd, invoke_req(req, sizeof(req), "r", ev));
        struct resp p;
        read_resp(&r, &p, false);
        FC_CHECK_INT(p.status, 200);
        char want[32];
        snprintf(want, sizeof(want), "hello, ev%d", i);
        FC_CHECK_STR(p.body, want);
        FC_CHECK(has_header(&p, "x-kind: /invoke"));
        FC_CHECK(strcasestr(p.head, "connection:") == NULL);
        FC_CHECK(strcasestr(p.head, "x-fc-status") == NULL);
        resp_free(&p);
    }
    reader_free(&r);
    server_stop(&s);
}

/* Many requests in one write, some with answers larger than the inline
 * limit (sent as a tail): answered one each, in order. */
FC_TEST(fcrt_pipelined_in_order) {
    struct server s;
    server_start(&s);
    struct reader r;
    reader_init(&r, connect_to(s.port));
    enum { N = 60 };
    char *all = malloc(N * 256), *p = all;
    for (int i = 0; i < N; i++) {
        char ev[32], req[256];
        if (i % 7 == 3)
            snprintf(ev, sizeof(ev), "big:%d", 20000 + i);
        else
            snprintf(ev, sizeof(ev), "n%d", i);
        p += strlen(strcpy(p, invoke_req(req, sizeof(req), "r", ev)));
    }
    send_all(r.fd, all, (size_t)(p - all));
    for (int i = 0; i < N; i++) {
        struct resp q;
        read_resp(&r, &q, false);
        FC_CHECK_INT(q.status, 200);
        if (i % 7 == 3) {
            FC_CHECK_INT(q.body_len, 20000 + i);
            FC_CHECK(q.body[0] == '0' &&
                     q.body[q.body_len - 1] == "0123456789"[(q.body_len - 1) % 10]);
        } else {
            char want[32];
            snprintf(want, sizeof(want), "hello, n%d", i);
            FC_CHECK_STR(q.body, want);
        }
        resp_free(&q);
    }
    free(all);
    reader_free(&r);
    server_stop(&s);
}

/* A chunked body with an extension and a trailer, sent in small pieces,
 * followed by a pipelined request in the same write as the last chunk. */
FC_TEST(fcrt_chunked_body) {
    struct server s;
    server_start(&s);
    struct reader r;
    reader_init(&r, connect_to(s.port));
    const char *parts[] = {
        "POST /invoke HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "3;ext=1\r\nabc\r\n",
        "4\r\nde",
        "fg\r\n",
        "0\r\nX-Trailer: t\r\n\r\nPOST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nzz",
    };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        send_str(r.fd, parts[i]);
        usleep(20000);
    }
    struct resp p;
    read_resp(&r, &p, false);
    FC_CHECK_INT(p.status, 200);
    FC_CHECK_STR(p.body, "hello, abcdefg");
    resp_free(&p);
    read_resp(&r, &p, false);
    FC_CHECK_STR(p.body, "hello, zz");
    resp_free(&p);
    reader_free(&r);
    server_stop(&s);
}

/* Dispatch by x-fc-control-path, else by method and path. */
FC_TEST(fcrt_control_paths) {
    static const struct {
        const char *method, *target, *control, *kind;
    } cases[] = {
        {"POST", "/invoke", NULL, "/invoke"},
        {"POST", "/initialize", NULL, "/initialize"},
        {"GET", "/pre-stop", NULL, "/pre-stop"},
        {"GET", "/pre-freeze", NULL, "/pre-freeze"},
        {"GET", "/invoke", NULL, "/http-invoke"},
        {"POST", "/invoke?x=1", NULL, "/http-invoke"},
        {"GET", "/some/path", NULL, "/http-invoke"},
        {"POST", "/x", "/invoke", "/invoke"},
        {"POST", "/invoke", "/http-invoke", "/http-invoke"},
        {"POST", "/", "/initialize", "/initialize"},
        {"GET", "/", "/pre-stop", "/pre-stop"},
        {"GET", "/", "/pre-freeze", "/pre-freeze"},
        {"GET", "/pre-stop", "/unknown", "/pre-stop"},
    };
    struct server s;
    server_start(&s);
    struct reader r;
    reader_init(&r, connect_to(s.port));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[512], ctl[128] = "";
        if (cases[i].control != NULL)
            snprintf(ctl, sizeof(ctl), "X-Fc-Control-Path: %s\r\n", cases[i].control);
        snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: 0\r\n\r\n",
                 cases[i].method, cases[i].target, ctl);
        send_str(r.fd, req);
        struct resp p;
        read_resp(&r, &p, false);
        char want[64];
        snprintf(want, sizeof(want), "x-kind: %s", cases[i].kind);
        if (!has_header(&p, want))
            fprintf(stderr, "# case %zu: %s %s (%s): %s", i, cases[i].method, cases[i].target,
                    cases[i].control ? cases[i].control : "-", p.head);
        FC_CHECK(has_header(&p, want));
        resp_free(&p);
    }
    reader_free(&r);
    server_stop(&s);
}

/* The HTTP-trigger view: method, path, query, body; HEAD has no body. */
FC_TEST(fcrt_http_request_fields) {
    struct server s;
    server_start(&s);
    struct resp p;
    roundtrip(&s, "PUT /a/b?x=1&y=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", &p);
    FC_CHECK_STR(p.body, "PUT /a/b q=x=1&y=2 len=3");
    resp_free(&p);
    roundtrip(&s, "GET /headers HTTP/1.1\r\nHost: h\r\nSet-Me: 1\r\nset-me:  2 \r\n\r\n", &p);
    FC_CHECK_STR(p.body, "Host=h;Set-Me=1;set-me=2;");
    resp_free(&p);
    struct reader r;
    reader_init(&r, connect_to(s.port));
    send_str(r.fd, "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    read_resp(&r, &p, true);
    FC_CHECK(has_header(&p, "content-length: 16")); /* of "HEAD /a q= len=0", not sent */
    resp_free(&p);
    read_resp(&r, &p, false);
    FC_CHECK_STR(p.body, "GET /b q= len=0");
    resp_free(&p);
    reader_free(&r);
    server_stop(&s);
}

/* Start/End markers around invokes and initialize, with the handler's own
 * output between them; none for the hooks; failure names the error. */
FC_TEST(fcrt_log_markers) {
    struct server s;
    server_start(&s);
    struct resp p;
    char req[512];
    roundtrip(&s, invoke_req(req, sizeof(req), "id-1", "print"), &p);
    resp_free(&p);
    roundtrip(&s, invoke_req(req, sizeof(req), "id-2", "fail"), &p);
    resp_free(&p);
    roundtrip(&s, "GET /h HTTP/1.1\r\nHost: x\r\nx-fc-request-id: id-3\r\n\r\n", &p);
    resp_free(&p);
    roundtrip(&s, "POST /initialize HTTP/1.1\r\nHost: x\r\nx-fc-request-id: id-4\r\n\r\n", &p);
    resp_free(&p);
    roundtrip(&s, "GET /pre-stop HTTP/1.1\r\nHost: x\r\nx-fc-request-id: id-5\r\n\r\n", &p);
    resp_free(&p);
    roundtrip(&s, "POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nno", &p);
    resp_free(&p);
    server_stop(&s);
    char *out = server_stdout(&s);
    FC_CHECK_STR(out, "FC Invoke Start RequestId: id-1\n"
                      "inside id-1\n"
                      "FC Invoke End RequestId: id-1\n"
                      "FC Invoke Start RequestId: id-2\n"
                      "FC Invoke End RequestId: id-2, Error: Unhandled function error\n"
                      "FC Invoke Start RequestId: id-3\n"
                      "FC Invoke End RequestId: id-3\n"
                      "FC Initialize Start RequestId: id-4\n"
                      "FC Initialize End RequestId: id-4\n"
                      "FC Invoke Start RequestId: \n"
                      "FC Invoke End RequestId: \n");
    free(out);
}

FC_TEST(fcrt_failure_404) {
    struct server s;
    server_start(&s);
    struct resp p;
    char req[512];
    roundtrip(&s, invoke_req(req, sizeof(req), "r", "fail"), &p);
    FC_CHECK_INT(p.status, 404);
    FC_CHECK(has_header(&p, "x-fc-status: 404"));
    FC_CHECK(has_header(&p, "content-type: application/json"));
    FC_CHECK_STR(p.body, "{\"errorMessage\":\"x\"}");
    resp_free(&p);
    roundtrip(&s, invoke_req(req, sizeof(req), "r", "fail500"), &p);
    FC_CHECK_INT(p.status, 500); /* an explicit status stays */
    FC_CHECK(has_header(&p, "x-fc-status: 404"));
    resp_free(&p);
    server_stop(&s);
}

/* Malformed requests: the right status, then the connection closes. */
FC_TEST(fcrt_malformed_400) {
    static const struct {
        const char *req;
        int status;
    } cases[] = {
        {"GET / HTTP/1.1\r\nbad header\r\n\r\n", 400},
        {"GARBAGE\r\n\r\n", 400},
        {"GET / HTTP/1.1\nHost: x\n\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
    };
    struct server s;
    server_start(&s);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct reader r;
        reader_init(&r, connect_to(s.port));
        /* A good request first: the bad one must not spoil its answer. */
        send_str(r.fd, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
        send_str(r.fd, cases[i].req);
        struct resp p;
        read_resp(&r, &p, false);
        FC_CHECK_INT(p.status, 200);
        resp_free(&p);
        read_resp(&r, &p, false);
        if (p.status != cases[i].status)
            fprintf(stderr, "# case %zu: %s", i, p.head);
        FC_CHECK_INT(p.status, cases[i].status);
        FC_CHECK(has_header(&p, "connection: close"));
        resp_free(&p);
        expect_closed(&r);
        reader_free(&r);
    }
    server_stop(&s);
}

/* A head past FCRT_HEAD_BYTES_MAX: 431 and close, without waiting for more. */
FC_TEST(fcrt_head_too_large) {
    struct server s;
    server_start(&s);
    struct reader r;
    reader_init(&r, connect_to(s.port));
    const char *start = "GET / HTTP/1.1\r\nX-Big: ";
    size_t n = FCRT_HEAD_BYTES_MAX - strlen(start); /* exactly the limit, no end */
    char *fill = malloc(n);
    memset(fill, 'a', n);
    send_str(r.fd, start);
    send_all(r.fd, fill, n);
    free(fill);
    struct resp p;
    read_resp(&r, &p, false);
    FC_CHECK_INT(p.status, 431);
    resp_free(&p);
    reader_free(&r);
    server_stop(&s);
}

FC_TEST(fcrt_connection_close) {
    struct server s;
    server_start(&s);
    const char *reqs[] = {
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
    };
    for (int i = 0; i < 2; i++) {
        struct reader r;
        reader_init(&r, connect_to(s.port));
        send_str(r.fd, reqs[i]);
        struct resp p;
        read_resp(&r, &p, false);
        FC_CHECK_INT(p.status, 200);
        FC_CHECK(has_header(&p, "connection: close"));
        resp_free(&p);
        expect_closed(&r);
        reader_free(&r);
    }
    struct reader r; /* HTTP/1.0 asking for keep-alive keeps it */
    reader_init(&r, connect_to(s.port));
    for (int i = 0; i < 2; i++) {
        send_str(r.fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        struct resp p;
        read_resp(&r, &p, false);
        FC_CHECK(has_header(&p, "connection: keep-alive"));
        resp_free(&p);
    }
    reader_free(&r);
    server_stop(&s);
}

/* Many open connections, requests interleaved across them. */
FC_TEST(fcrt_many_connections) {
    enum { N = 300 };
    struct server s;
    server_start(&s);
    static struct reader rs[N];
    for (int i = 0; i < N; i++)
        reader_init(&rs[i], connect_to(s.port));
    for (int round = 0; round < 2; round++) {
        for (int i = N - 1; i >= 0; i--) {
            char req[256], ev[32];
            snprintf(ev, sizeof(ev), "c%d.%d", i, round);
            send_str(rs[i].fd, invoke_req(req, sizeof(req), "r", ev));
        }
        for (int i = 0; i < N; i++) {
            struct resp p;
            read_resp(&rs[i], &p, false);
            char want[64];
            snprintf(want, sizeof(want), "hello, c%d.%d", i, round);
            FC_CHECK_STR(p.body, want);
            resp_free(&p);
        }
    }
    for (int i = 0; i < N; i++)
        reader_free(&rs[i]);
    server_stop(&s);
}

/* A 5 MB body by Content-Length and a 1 MB chunked one; a 2 MB answer. */
FC_TEST(fcrt_big_bodies) {
    struct server s;
    server_start(&s);
    struct reader r;
    reader_init(&r, connect_to(s.port));
    size_t n = 5u << 20;
    char *body = malloc(n);
    memset(body, 'b', n);
    char head[256];
    snprintf(head, sizeof(head), "POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             n);
    send_str(r.fd, head);
    send_all(r.fd, body, n);
    struct resp p;
    read_resp(&r, &p, false);
    FC_CHECK_STR(p.body, "len=5242880");
    resp_free(&p);
    send_str(r.fd, "POST /invoke HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 16; i++) {
        send_str(r.fd, "10000\r\n"); /* 64 KB chunks */
        send_all(r.fd, body, 0x10000);
        send_str(r.fd, "\r\n");
    }
    send_str(r.fd, "0\r\n\r\n");
    read_resp(&r, &p, false);
    FC_CHECK_STR(p.body, "len=1048576");
    resp_free(&p);
    send_str(r.fd, invoke_req(head, sizeof(head), "r", "big:2097152"));
    read_resp(&r, &p, false);
    FC_CHECK_INT(p.body_len, 2097152);
    FC_CHECK(p.body[2097151] == '1');
    resp_free(&p);
    free(body);
    reader_free(&r);
    server_stop(&s);
}

FC_TEST(fcrt_expect_continue) {
    struct server s;
    server_start(&s);
    struct reader r;
    reader_init(&r, connect_to(s.port));
    send_str(r.fd, "POST /invoke HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                   "Content-Length: 3\r\n\r\n");
    struct resp p;
    read_resp(&r, &p, false);
    FC_CHECK_INT(p.status, 100);
    resp_free(&p);
    send_str(r.fd, "abc");
    read_resp(&r, &p, false);
    FC_CHECK_INT(p.status, 200);
    FC_CHECK_STR(p.body, "hello, abc");
    resp_free(&p);
    reader_free(&r);
    server_stop(&s);
}

/* Response calls: header validation, borrowed bodies and their release. */
FC_TEST(fcrt_response_api) {
    struct server s;
    server_start(&s);
    struct reader r;
    reader_init(&r, connect_to(s.port));
    send_str(r.fd, "GET /api HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp p;
    read_resp(&r, &p, false);
    FC_CHECK_STR(p.body, "borrowed+app 42 rc=-22,-22,-22,0,-7,0,0 rel=1");
    FC_CHECK(has_header(&p, "x-ok: fine"));
    resp_free(&p);
    send_str(r.fd, "GET /borrow-big HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /releases HTTP/1.1\r\nHost: x\r\n\r\n");
    read_resp(&r, &p, false);
    FC_CHECK_INT(p.body_len, sizeof(big_static));
    resp_free(&p);
    read_resp(&r, &p, false);
    FC_CHECK_STR(p.body, "rel=2");
    resp_free(&p);
    reader_free(&r);
    server_stop(&s);
}

/* A peer that half-closes after its request still gets the answer. */
FC_TEST(fcrt_half_close) {
    struct server s;
    server_start(&s);
    struct reader r;
    reader_init(&r, connect_to(s.port));
    char req[256];
    send_str(r.fd, invoke_req(req, sizeof(req), "r", "hc"));
    shutdown(r.fd, SHUT_WR);
    struct resp p;
    read_resp(&r, &p, false);
    FC_CHECK_STR(p.body, "hello, hc");
    resp_free(&p);
    expect_closed(&r);
    reader_free(&r);
    server_stop(&s);
}

FC_TEST(fcrt_port_from_env) {
    struct fcrt_options o = {0};
    unsetenv("FC_SERVER_PORT");
    unsetenv("FC_CUSTOM_LISTEN_PORT");
    FC_CHECK_INT(fcrt_port(&o), 9000);
    setenv("FC_CUSTOM_LISTEN_PORT", "9100", 1);
    FC_CHECK_INT(fcrt_port(&o), 9100);
    setenv("FC_SERVER_PORT", "9200", 1);
    FC_CHECK_INT(fcrt_port(&o), 9200);
    o.port = 9300;
    FC_CHECK_INT(fcrt_port(&o), 9300);
    o.port = 0;
    const char *bad[] = {"0", "65536", "12x", "-1", "x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("FC_SERVER_PORT", bad[i], 1);
        FC_CHECK_INT(fcrt_port(&o), -EINVAL);
        FC_CHECK_INT(fcrt_serve(&o), -EINVAL);
    }
}

/* ---- fcshim ------------------------------------------------------------------------- */

static const char *fcshim_path(void) {
    static char next_to_us[PATH_MAX];
    const char *p = getenv("FCSHIM");
    if (p == NULL || *p == '\0') {
        ssize_t n = readlink("/proc/self/exe", next_to_us, sizeof(next_to_us) - 8);
        char *slash = n > 0 ? memrchr(next_to_us, '/', (size_t)n) : NULL;
        if (slash != NULL)
            strcpy(slash + 1, "fcshim");
        p = slash != NULL && access(next_to_us, X_OK) == 0 ? next_to_us : "build/cc/fcshim";
    }
    if (access(p, X_OK) != 0)
        fprintf(stderr, "# fcshim not found at %s: build it or set FCSHIM\n", p);
    FC_CHECK(access(p, X_OK) == 0);
    return p;
}

/* Run argv with stdout and stderr captured (each up to cap-1 bytes,
 * NUL-terminated). Returns the exit status (or 1000 + signal). */
static int run_capture(char *const argv[], char *out, char *err, size_t cap) {
    int po[2], pe[2];
    FC_CHECK(pipe(po) == 0 && pipe(pe) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawn_file_actions_addclose(&fa, po[0]);
    posix_spawn_file_actions_addclose(&fa, pe[0]);
    pid_t pid;
    FC_CHECK(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
    close(po[1]);
    close(pe[1]);
    int st;
    FC_CHECK(waitpid(pid, &st, 0) == pid);
    ssize_t n = read(po[0], out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
    n = read(pe[0], err, cap - 1);
    err[n > 0 ? n : 0] = '\0';
    close(po[0]);
    close(pe[0]);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

static void temp_dir(char *buf, size_t cap) {
    snprintf(buf, cap, "/tmp/fcshim-test-XXXXXX");
    FC_CHECK(mkdtemp(buf) != NULL);
}

/* Runs in the code dir, leads its own session and process group, stdin is
 * /dev/null, no signal blocked or ignored even when the parent had them so. */
FC_TEST(fcshim_session_and_code_dir) {
    char dir[64], out[4096], err[4096];
    temp_dir(dir, sizeof(dir));
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, NULL);
    signal(SIGPIPE, SIG_IGN);
    char *argv[] = {(char *)fcshim_path(),
                    "--code-dir",
                    dir,
                    "--",
                    "/bin/sh",
                    "-c",
                    "echo $$; pwd; cut -d' ' -f5,6 /proc/$$/stat; readlink /proc/$$/fd/0; "
                    /* exec: the shell's own mask (dash blocks signals in
                     * the shell around its forks, so another process
                     * reading /proc/$$/status may catch that moment). */
                    "exec grep -E '^Sig(Blk|Ign)' /proc/self/status",
                    NULL};
    FC_CHECK_INT(run_capture(argv, out, err, sizeof(out)), 0);
    int pid, pgrp, sid;
    char cwd[256], in[256], blk[64], ign[64];
    FC_CHECK(sscanf(out, "%d %255s %d %d %255s SigBlk: %63s SigIgn: %63s", &pid, cwd, &pgrp, &sid,
                    in, blk, ign) == 7);
    FC_CHECK_STR(cwd, dir);
    FC_CHECK_INT(pgrp, pid);
    FC_CHECK_INT(sid, pid);
    FC_CHECK_STR(in, "/dev/null");
    FC_CHECK_STR(blk, "0000000000000000");
    FC_CHECK((strtoull(ign, NULL, 16) & (1ull << (SIGPIPE - 1))) == 0);
    rmdir(dir);
}

FC_TEST(fcshim_exit_codes) {
    char dir[64], file[128], out[4096], err[4096];
    temp_dir(dir, sizeof(dir));
    snprintf(file, sizeof(file), "%s/bootstrap", dir);
    FILE *f = fopen(file, "w");
    FC_CHECK(f != NULL);
    fputs("#!/bin/sh\necho hi\n", f);
    fclose(f);
    chmod(file, 0644); /* not executable */
    char *shim = (char *)fcshim_path();
    static const struct {
        const char *arg[4];
        int code;
        const char *err;
    } cases[] = {
        {{"--", "/nonexistent/bootstrap"}, 127, "fcshim: exec /nonexistent/bootstrap: "},
        {{"--", "no-such-command-fcshim"}, 127, "fcshim: exec no-such-command-fcshim: "},
        {{"--", "FILE"}, 126, "fcshim: exec "},
        {{"--code-dir", "DIR", "--", "./bootstrap"}, 126, "fcshim: exec ./bootstrap: "},
        {{"--code-dir", "/nonexistent", "--", "true"}, 125, "fcshim: chdir /nonexistent: "},
        {{"--bogus", "1", "--", "true"}, 125, "fcshim: unknown option"},
        {{"--"}, 125, "fcshim: no command"},
        {{"--uid", "1", "--", "true"}, 125, "fcshim: --uid and --gid go together"},
        {{"--cgroup", "DIR", "--", "true"}, 125, "fcshim: cgroup "},
        {{"--nofile", "x", "--", "true"}, 125, "fcshim: --nofile x: not a number"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[8] = {shim};
        int n = 1;
        for (int k = 0; k < 4 && cases[i].arg[k] != NULL; k++) {
            const char *a = cases[i].arg[k];
            argv[n++] = strcmp(a, "DIR") == 0 ? dir : strcmp(a, "FILE") == 0 ? file : (char *)a;
        }
        int code = run_capture(argv, out, err, sizeof(out));
        if (code != cases[i].code || strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
            fprintf(stderr, "# case %zu: exit %d, stderr: %s", i, code, err);
        FC_CHECK_INT(code, cases[i].code);
        FC_CHECK(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0);
        FC_CHECK(strchr(err, '\n') == err + strlen(err) - 1 || cases[i].code == 125);
    }
    chmod(file, 0755); /* now it runs */
    char *argv[] = {shim, "--code-dir", dir, "--", "./bootstrap", NULL};
    FC_CHECK_INT(run_capture(argv, out, err, sizeof(out)), 0);
    FC_CHECK_STR(out, "hi\n");
    unlink(file);
    rmdir(dir);
}

/* rlimits and credentials. As root: drop to nobody; otherwise "drop" to
 * our own ids, which must work too. */
FC_TEST(fcshim_limits_and_ids) {
    char out[4096], err[4096], uid[16], gid[16];
    unsigned u = getuid() == 0 ? 65534 : getuid(), g = getuid() == 0 ? 65534 : getgid();
    snprintf(uid, sizeof(uid), "%u", u);
    snprintf(gid, sizeof(gid), "%u", g);
    /* Only root can drop supplementary groups (and fcshim only tries then). */
    bool root = getuid() == 0;
    char *argv[] = {(char *)fcshim_path(),
                    "--nofile",
                    "123",
                    "--nproc",
                    "4000",
                    "--uid",
                    uid,
                    "--gid",
                    gid,
                    "--",
                    "/bin/sh",
                    "-c",
                    root ? "ulimit -n; grep -E '^Max processes' /proc/self/limits | tr -s ' ' | "
                           "cut -d' ' -f3; id -u; id -g; id -G"
                         : "ulimit -n; grep -E '^Max processes' /proc/self/limits | tr -s ' ' | "
                           "cut -d' ' -f3; id -u; id -g; echo $(id -g)",
                    NULL};
    FC_CHECK_INT(run_capture(argv, out, err, sizeof(out)), 0);
    char want[256];
    snprintf(want, sizeof(want), "123\n4000\n%u\n%u\n%u\n", u, g, g);
    FC_CHECK_STR(out, want);
}
