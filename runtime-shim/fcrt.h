/* fcrt.h — libfcrt: write a Function Compute custom runtime in C.
 *
 * A custom runtime is an HTTP/1.1 server the platform starts in the code
 * directory (CONTRACT.md §6). libfcrt is that server: it listens on
 * 0.0.0.0:$FC_SERVER_PORT (else $FC_CUSTOM_LISTEN_PORT, else 9000), parses each
 * request, calls the handler for its kind (event invoke, HTTP invoke,
 * initialize, pre-stop, pre-freeze), writes the answer and prints the FC log
 * markers to stdout:
 *
 *     FC Invoke Start RequestId: <id>            before an invoke / HTTP invoke
 *     FC Invoke End RequestId: <id>              after it (before the response
 *                                                is sent, so the line is in
 *                                                the pipe first)
 *     FC Invoke End RequestId: <id>, Error: Unhandled function error
 *                                                after a failed one
 *     FC Initialize Start/End RequestId: <id>    around /initialize
 *
 * A minimal runtime:
 *
 *     static void hello(const struct fcrt_request *req, struct fcrt_response *resp, void *ctx) {
 *         fcrt_response_printf(resp, "hello, %s", req->body);
 *     }
 *     int main(void) {
 *         struct fcrt_options o = {.invoke_cb = hello};
 *         return fcrt_serve(&o) < 0 ? 1 : 0;
 *     }
 *
 * Threads. Everything runs on the thread that calls fcrt_serve: one epoll
 * loop, non-blocking sockets, handlers called one at a time. A handler that
 * blocks (sleeps, computes) blocks every connection; that is the
 * instance-concurrency-1 model of FC. Run several processes for more.
 *
 * Connections. HTTP/1.1 keep-alive with any number of connections up to
 * FCRT_CONNS_MAX (past it, new connections wait in the kernel's accept queue).
 * Pipelined requests are answered in order. Bodies come by Content-Length or
 * chunked; `Expect: 100-continue` is answered with 100 at once. A request with
 * `Connection: close` (or HTTP/1.0 without keep-alive) gets its response and
 * the connection is closed. Malformed requests get 400 (too large a head 431,
 * too large a body 413, an unsupported Transfer-Encoding 501) and the
 * connection is closed. There is no idle timeout: the platform owns its
 * connections and closes them.
 *
 * Memory. A connection slot's buffers are allocated when first needed and
 * reused for every later request on it: a steady keep-alive stream does no
 * allocation per request. A buffer grows to the largest request (response)
 * seen on the connection, up to the _MAX limits below, and is kept until the
 * connection closes; slots keep at most FCRT_KEEP_BYTES per buffer for the
 * next connection.
 *
 * stdout is set to line buffering by fcrt_serve, so a handler's printf lines
 * and the markers keep their order and each line leaves in one write.
 *
 * Errors are -errno. Strings handed to a handler are NUL-terminated and live
 * until the handler returns. */
#ifndef FCRT_H
#define FCRT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits ---------------------------------------------------------------------- */

/* Request line + headers. fcd forwards heads up to its own 1 MiB bound plus
 * its x-fc-* headers. Past it: 431 and close. */
#define FCRT_HEAD_BYTES_MAX (1024u * 1024 + 16u * 1024)
/* Header lines per request (fcd: up to 256 client headers + ~30 x-fc-*).
 * Past it: 431 and close. */
#define FCRT_HEADERS_MAX 320u
/* Request body (FC's 32 MB sync limit). Past it: 413 and close. */
#define FCRT_BODY_BYTES_MAX (32u * 1024 * 1024)
/* Response body a handler may set. Past it the body call returns -EFBIG. */
#define FCRT_RESP_BODY_BYTES_MAX (32u * 1024 * 1024)
/* Response headers a handler adds, as "Name: value\r\n" text. Past it the
 * add call returns -E2BIG. */
#define FCRT_RESP_HEAD_BYTES_MAX (16u * 1024)
/* Open connections. Past it, accepting pauses until one closes. */
#define FCRT_CONNS_MAX 1024u
/* Queued response bytes on one connection before its pipeline stops being
 * read (backpressure on a client that sends without reading). */
#define FCRT_OUT_PENDING_BYTES_MAX (256u * 1024)
/* Response bodies up to this are copied behind their head, so pipelined
 * answers leave in one write; larger ones are sent from where they are. */
#define FCRT_INLINE_BODY_BYTES_MAX (16u * 1024)
/* A closed connection's buffers are kept for the next one up to this size. */
#define FCRT_KEEP_BYTES (64u * 1024)
/* epoll events taken per wait. */
#define FCRT_EVENTS_MAX 64u

static_assert(FCRT_INLINE_BODY_BYTES_MAX + FCRT_RESP_HEAD_BYTES_MAX < FCRT_OUT_PENDING_BYTES_MAX,
              "one inline response fits under the backpressure mark");
static_assert(FCRT_KEEP_BYTES <= FCRT_OUT_PENDING_BYTES_MAX, "kept buffers are small");
static_assert(FCRT_BODY_BYTES_MAX <= UINT32_MAX / 2, "body offsets fit in 32 bits with room");

/* ---- requests ---------------------------------------------------------------------- */

/* What the platform asks for, from `x-fc-control-path` (CONTRACT.md §6.3),
 * else from the request line: POST /invoke, POST /initialize, GET /pre-stop,
 * GET /pre-freeze; anything else is an HTTP-trigger request. */
enum fcrt_kind {
    FCRT_INVOKE = 0,  /* event function: body = event, answer body = result */
    FCRT_HTTP_INVOKE, /* HTTP trigger: the client's request, answered as is */
    FCRT_INITIALIZE,  /* once per instance, before the first invoke */
    FCRT_PRE_STOP,    /* lifecycle hook before the instance is stopped */
    FCRT_PRE_FREEZE,  /* lifecycle hook before the instance is frozen */
};

/* A request as the handler sees it. Borrowed: every pointer points into the
 * connection's buffer and is valid until the handler returns; copy what you
 * keep. Every string is NUL-terminated (the terminator is written into the
 * buffer), and the lengths are exact. */
struct fcrt_request {
    enum fcrt_kind kind;
    const char *control_path; /* "/invoke", "/http-invoke", "/initialize",
                               * "/pre-stop" or "/pre-freeze" (static) */
    const char *method;       /* "GET", "POST", ... as sent */
    const char *target;       /* full request-target: path?query */
    size_t target_len;
    size_t path_len;        /* target[0..path_len) is the path */
    const char *query;      /* after '?', or "" when there is none */
    const char *body;       /* decoded body (chunked is undone); "" if none */
    size_t body_len;        /* may contain NULs: trust body_len */
    const char *request_id; /* x-fc-request-id, or "" when absent */

    const void *_http; /* private: the parsed head */
};

/* Value of the first header named `name` (ASCII case-insensitive), or NULL.
 * The value is NUL-terminated with surrounding whitespace removed and is
 * valid until the handler returns. */
const char *fcrt_request_header(const struct fcrt_request *req, const char *name);

/* Number of header lines of the request. */
size_t fcrt_request_header_count(const struct fcrt_request *req);

/* The i-th header line, in received order (repeated names stay separate).
 * Sets *name and *value (NUL-terminated, valid until the handler returns).
 * Returns 0, or -ENOENT when i >= the count (outputs untouched). */
int fcrt_request_header_at(const struct fcrt_request *req, size_t i, const char **name,
                           const char **value);

/* ---- responses ---------------------------------------------------------------------- */

/* Release callback of a borrowed body: called once, when its bytes are
 * written or the connection is gone (possibly inside fcrt_serve's loop, never
 * from another thread). */
typedef void (*fcrt_release_cb)(void *arg);

/* The answer the handler fills. The handler sets the public fields directly
 * and the body and headers with the calls below; fcrt adds Content-Length,
 * Content-Type (when set), x-fc-status (when failed) and Connection. */
struct fcrt_response {
    int status;               /* default 200; 100..599 */
    const char *content_type; /* NULL: no Content-Type. Must stay valid
                               * until the handler returns (a literal). */
    bool failed;              /* the function failed: the answer carries
                               * `x-fc-status: 404`, a status left at 200
                               * becomes 404 (the contract asks for both),
                               * and the End marker names the error */

    void *_conn; /* private: the connection whose buffers hold the answer */
};

/* Copy data[0..len) as the body, replacing any body set before.
 * Returns 0; -EFBIG past FCRT_RESP_BODY_BYTES_MAX or -ENOMEM (the body
 * is then empty). */
int fcrt_response_set_body(struct fcrt_response *resp, const void *data, size_t len);

/* Append data[0..len) to the body (a borrowed body is copied first).
 * Returns 0; -EFBIG or -ENOMEM leave the body as it was. */
int fcrt_response_append(struct fcrt_response *resp, const void *data, size_t len);

/* Append printf-formatted text to the body. Returns the bytes appended;
 * -EFBIG, -ENOMEM or -EINVAL (bad format) leave the body as it was. */
int fcrt_response_printf(struct fcrt_response *resp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Use data[0..len) as the body without copying, replacing any body set
 * before. The bytes must stay valid and unchanged until release_cb(arg) is
 * called (NULL release_cb: the data is static or outlives fcrt_serve).
 * Returns 0, or -EFBIG (then release_cb is not called and the body is
 * empty). */
int fcrt_response_set_body_borrowed(struct fcrt_response *resp, const void *data, size_t len,
                                    void *arg, fcrt_release_cb release_cb);

/* Add a response header (copied; repeated names stay separate lines, as
 * for Set-Cookie). Returns 0; -EINVAL when the name is not an HTTP token or
 * either contains CR, LF or NUL, or the name is one fcrt writes itself
 * (Content-Length, Transfer-Encoding, Connection); -E2BIG past
 * FCRT_RESP_HEAD_BYTES_MAX; -ENOMEM. The headers are unchanged on error. */
int fcrt_response_add_header(struct fcrt_response *resp, const char *name, const char *value);

/* ---- serving ----------------------------------------------------------------------- */

/* Handle one request. `req` is borrowed, `resp` arrives with status 200, no
 * body, no headers. ctx is fcrt_options.ctx. Runs on the fcrt_serve thread. */
typedef void (*fcrt_handler_cb)(const struct fcrt_request *req, struct fcrt_response *resp,
                                void *ctx);

struct fcrt_options {
    uint16_t port;            /* 0: $FC_SERVER_PORT, else
                               * $FC_CUSTOM_LISTEN_PORT, else 9000 */
    const char *runtime_name; /* if set, print "FunctionCompute <name>
                               * runtime inited." once listening (the
                               * cold-start marker of FC's log format) */
    void *ctx;                /* passed to every handler */
    /* One handler per kind; NULL answers 200 with an empty body. */
    fcrt_handler_cb invoke_cb;
    fcrt_handler_cb http_cb;
    fcrt_handler_cb initialize_cb;
    fcrt_handler_cb pre_stop_cb;
    fcrt_handler_cb pre_freeze_cb;
};

/* Listen and serve until SIGTERM or SIGINT. opts is read at the call only.
 * The calling thread runs the loop; SIGTERM/SIGINT handlers are installed for
 * the duration (they only wake the loop) and the previous ones restored.
 * Signals arriving while a handler runs take effect when it returns; the
 * connections are then closed without waiting for queued output.
 *
 * Returns 0 after a signal; -EINVAL for a port variable that is not a
 * number in 1..65535; -errno from socket/bind/listen/epoll (-EADDRINUSE
 * commonly) or -ENOMEM at start. Nothing is left open on return. */
int fcrt_serve(const struct fcrt_options *opts);

/* The port fcrt_serve would listen on for opts (see fcrt_options.port).
 * Returns 1..65535, or -EINVAL when the chosen variable is not a number in
 * that range. */
int fcrt_port(const struct fcrt_options *opts);

#endif
