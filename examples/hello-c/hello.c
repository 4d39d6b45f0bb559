/* hello.c — the C example function, a custom runtime written with libfcrt.
 * Built to examples/hello-c/bootstrap; fcd starts it in this directory.
 *
 * Event invoke (/invoke): answers "hello, <event>" ("hello, world" for an
 * empty event). Events that drive fcd's tests:
 *   sleep:<ms>   sleep that long, then answer
 *   crash        abort()
 *   exit         _exit(3)
 *   fail         a failed invocation: x-fc-status 404 and
 *                {"errorMessage":"requested failure"}
 *   log:<text>   print text to stdout and stderr, then answer
 *   mem:<MB>     allocate and touch that many MB, then answer
 *   env:<NAME>   answer getenv(NAME) (empty if unset)
 *
 * HTTP trigger (/http-invoke): 200 with a JSON echo of method, path, query,
 * a few headers and the body length; a path ending in /status/<code> answers
 * that status; the path /cookies answers with two Set-Cookie headers.
 *
 * /initialize, /pre-stop and /pre-freeze answer 200 (libfcrt's default). */
#include "runtime-shim/fcrt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MEM_MB_MAX 65536 /* refuse absurd mem: events rather than overflow */

static bool starts(const char *s, size_t len, const char *prefix) {
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Touch every page so the memory counts as used (RSS, cgroup). */
static void use_memory(long mb) {
    size_t n = (size_t)mb << 20;
    /* volatile: without it the compiler drops malloc, stores and free alike. */
    volatile char *p = malloc(n);
    if (p == NULL)
        return;
    for (size_t i = 0; i < n; i += 4096)
        p[i] = (char)i;
    free((void *)p);
}

static void on_invoke(const struct fcrt_request *req, struct fcrt_response *resp, void *ctx) {
    (void)ctx;
    const char *ev = req->body;
    size_t len = req->body_len;
    if (starts(ev, len, "sleep:")) {
        sleep_ms(strtol(ev + 6, NULL, 10));
    } else if (len == 5 && memcmp(ev, "crash", 5) == 0) {
        abort();
    } else if (len == 4 && memcmp(ev, "exit", 4) == 0) {
        _exit(3);
    } else if (len == 4 && memcmp(ev, "fail", 4) == 0) {
        resp->failed = true;
        resp->content_type = "application/json";
        fcrt_response_set_body_borrowed(resp, "{\"errorMessage\":\"requested failure\"}", 36, NULL,
                                        NULL);
        return;
    } else if (starts(ev, len, "log:")) {
        printf("%.*s\n", (int)(len - 4), ev + 4);
        fprintf(stderr, "%.*s\n", (int)(len - 4), ev + 4);
    } else if (starts(ev, len, "mem:")) {
        long mb = strtol(ev + 4, NULL, 10);
        if (mb > 0 && mb <= MEM_MB_MAX)
            use_memory(mb);
    } else if (starts(ev, len, "env:")) {
        const char *v = getenv(ev + 4); /* the body is NUL-terminated */
        fcrt_response_set_body(resp, v != NULL ? v : "", v != NULL ? strlen(v) : 0);
        return;
    }
    fcrt_response_append(resp, "hello, ", 7);
    if (len == 0)
        fcrt_response_append(resp, "world", 5);
    else
        fcrt_response_append(resp, ev, len);
}

/* Append s[0..n) as a JSON string. */
static void json_str(struct fcrt_response *resp, const char *s, size_t n) {
    fcrt_response_append(resp, "\"", 1);
    size_t run = 0; /* plain bytes not yet appended */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        fcrt_response_append(resp, s + run, i - run);
        if (ch == '"' || ch == '\\')
            fcrt_response_printf(resp, "\\%c", ch);
        else
            fcrt_response_printf(resp, "\\u%04x", ch);
        run = i + 1;
    }
    fcrt_response_append(resp, s + run, n - run);
    fcrt_response_append(resp, "\"", 1);
}

static void on_http(const struct fcrt_request *req, struct fcrt_response *resp, void *ctx) {
    (void)ctx;
    const char *path = req->target;
    size_t plen = req->path_len;
    const char *slash = memrchr(path, '/', plen); /* ".../status/<code>" */
    if (slash != NULL && slash - path >= 7 && memcmp(slash - 7, "/status", 7) == 0) {
        long code = strtol(slash + 1, NULL, 10);
        if (code >= 200 && code <= 599)
            resp->status = (int)code;
    }
    if (plen == 8 && memcmp(path, "/cookies", 8) == 0) {
        fcrt_response_add_header(resp, "Set-Cookie", "a=1; Path=/");
        fcrt_response_add_header(resp, "Set-Cookie", "b=2; Path=/; HttpOnly");
    }
    resp->content_type = "application/json";
    fcrt_response_append(resp, "{\"method\":", 10);
    json_str(resp, req->method, strlen(req->method));
    fcrt_response_append(resp, ",\"path\":", 8);
    json_str(resp, path, plen);
    fcrt_response_append(resp, ",\"query\":", 9);
    json_str(resp, req->query, strlen(req->query));
    fcrt_response_append(resp, ",\"headers\":{", 12);
    static const char *const names[] = {"x-fc-base-path", "content-type", "x-forwarded-for",
                                        "x-fc-client-ip"};
    bool first = true;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = fcrt_request_header(req, names[i]);
        if (v == NULL)
            continue;
        fcrt_response_printf(resp, "%s\"%s\":", first ? "" : ",", names[i]);
        json_str(resp, v, strlen(v));
        first = false;
    }
    fcrt_response_printf(resp, "},\"bodyLength\":%zu}", req->body_len);
}

int main(void) {
    struct fcrt_options o = {
        .runtime_name = "c",
        .invoke_cb = on_invoke,
        .http_cb = on_http,
    };
    int rc = fcrt_serve(&o);
    if (rc < 0) {
        fprintf(stderr, "hello-c: fcrt_serve: %s\n", strerror(-rc));
        return 1;
    }
    return 0;
}
