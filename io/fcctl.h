/* fcctl.h — what the modules of fcctl, fcd's command-line client, share.
 *
 *   io/fcctl.c         main: command line, configuration, help, dispatch
 *   io/fcctl_http.c    one signed HTTP/1.1 exchange with fcd, error reports
 *   io/fcctl_cmds.c    service, function, trigger, invoke, tasks, logs
 *   io/fcctl_deploy.c  deploy: template.yml (libyaml) -> FC API calls
 *   io/fcctl_zip.c     a function's CodeUri -> zip bytes (libzip)
 *
 * fcctl is a short-lived, single-threaded program: it allocates freely
 * (malloc) and frees what it allocates, prints to stdout/stderr, and ends
 * with one of the FCCTL_EXIT_* codes. Every function here runs on the main
 * thread. Functions that return `int` return 0 or -errno, except those whose
 * comment says they return an exit code (those print their own message).
 *
 * The one piece of global mutable state is the SIGINT/SIGTERM flag of
 * `fcctl logs -f` (a signal handler can reach nothing else); it lives in
 * fcctl_cmds.c and the context points at it. */
#ifndef FC_FCCTL_H
#define FC_FCCTL_H

#include <assert.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/auth.h"
#include "core/buf.h"
#include "io/http.h"

#define FCCTL_VERSION "0.1.0"
#define FCCTL_API_VERSION "2016-08-15"

/* Exit codes (documented in `fcctl --help`). */
#define FCCTL_EXIT_OK 0
#define FCCTL_EXIT_SERVER 1  /* fcd answered an error, or the function failed */
#define FCCTL_EXIT_USAGE 2   /* bad command line */
#define FCCTL_EXIT_NETWORK 3 /* cannot connect, connection lost, timeout */
#define FCCTL_EXIT_LOCAL 4   /* bad template or config, unreadable file */

/* ---- limits ------------------------------------------------------------------------ */

/* Default connect / read timeout; --timeout S changes it. */
#define FCCTL_TIMEOUT_MS_DEFAULT 10000
#define FCCTL_TIMEOUT_MS_MAX (24 * 3600 * 1000)
/* Host name or address in an endpoint (DNS names are at most 253). */
#define FCCTL_HOST_BYTES_MAX 255u
/* Access key ID, secret and account ID from the config. */
#define FCCTL_CRED_BYTES_MAX 255u
/* Request target (path and query): FC refuses more than 4 KB (CONTRACT.md §3.4). */
#define FCCTL_TARGET_BYTES_MAX 4096u
/* A name or id on the command line (FC names are at most 128 bytes). */
#define FCCTL_NAME_BYTES_MAX 256u
/* Response head, and header lines in it. */
#define FCCTL_RESP_HEAD_BYTES_MAX 65536u
#define FCCTL_RESP_HEADERS_MAX 128u
/* Response body (an invocation answers at most a few MB; logs are paged). */
#define FCCTL_RESP_BODY_BYTES_MAX (256ull << 20)
/* Request body read from -f FILE / stdin. */
#define FCCTL_REQ_BODY_BYTES_MAX (256ull << 20)
/* Extra headers of one request (x-fc-* of invoke). */
#define FCCTL_REQ_HEADERS_MAX 8u
/* Pages a list command follows through nextToken before it stops. */
#define FCCTL_PAGES_MAX 10000u
/* Message buffers (local errors, transport errors). */
#define FCCTL_ERR_BYTES 512u
/* Code packages: files and uncompressed bytes zipped from a CodeUri, the
 * directory depth walked, and the zip's size (FC's own limit is 100 MB). */
#define FCCTL_ZIP_FILES_MAX 100000u
#define FCCTL_ZIP_INPUT_BYTES_MAX (512ull << 20)
#define FCCTL_ZIP_DEPTH_MAX 64u
#define FCCTL_ZIP_BYTES_MAX (100ull << 20)
/* Template file size, YAML nesting and nodes converted (aliases can make a
 * small file expand without bound: "billion laughs"). */
#define FCCTL_TEMPLATE_BYTES_MAX (4u << 20)
#define FCCTL_YAML_DEPTH_MAX 64u
#define FCCTL_YAML_NODES_MAX 100000u

static_assert(FCCTL_RESP_HEADERS_MAX <= 1024u, "the header array lives in the response struct");
static_assert(FCCTL_ZIP_BYTES_MAX <= FCCTL_REQ_BODY_BYTES_MAX / 2,
              "a zip's base64 (4/3) plus the JSON around it fits a request body");

/* ---- context ----------------------------------------------------------------------- */

/* The configuration of one run and the state its requests share. Zeroed,
 * then filled by fcctl.c from the config file, the environment and the
 * flags; commands read it. Strings are NUL-terminated in place. */
struct fcctl {
    char host[FCCTL_HOST_BYTES_MAX + 1]; /* address or name, no brackets */
    char port[8];
    char authority[FCCTL_HOST_BYTES_MAX + 10]; /* Host header: host[:port], [v6] */
    char key_id[FCCTL_CRED_BYTES_MAX + 1];     /* "": requests go unsigned */
    char secret[FCCTL_CRED_BYTES_MAX + 1];
    char account_id[FCCTL_CRED_BYTES_MAX + 1]; /* sent as x-fc-account-id, may be "" */
    int timeout_ms;                            /* connect, and each wait for bytes */
    bool json;                                 /* --json: raw JSON on stdout */
    /* Set by the SIGINT/SIGTERM handler of `logs -f`; NULL elsewhere. A
     * request in flight returns -EINTR once it is set. */
    volatile sig_atomic_t *stop;
    struct fc_auth_scratch *scratch; /* the signer's work space (heap, 33 KB) */
    char error[FCCTL_ERR_BYTES];     /* why the last exchange failed */
};

/* ---- command line ------------------------------------------------------------------ */

/* One option of a command: `--name VALUE`, `--name=VALUE`, `-s VALUE`, or a
 * flag without a value. */
struct fcctl_opt {
    const char *name;
    char short_name; /* 0: none */
    bool has_value;
    const char *help; /* one line for COMMAND --help */
};

#define FCCTL_ARGS_MAX 8u /* positional arguments of a command */
#define FCCTL_OPTS_MAX 12u

/* The parsed command line of one command. Strings point into argv. */
struct fcctl_args {
    const char *pos[FCCTL_ARGS_MAX];
    uint32_t pos_count;
    const struct fcctl_opt *opts;      /* the command's table, NULL-name terminated */
    const char *value[FCCTL_OPTS_MAX]; /* by index in opts; a flag gets "" */
};

/* The value of option `name` of a, or NULL when it was not given. name must
 * be in the command's table (asserted). */
const char *fcctl_arg(const struct fcctl_args *a, const char *name);

/* Print "fcctl: <message>" and a pointer to --help to stderr. Returns
 * FCCTL_EXIT_USAGE. */
int fcctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "fcctl: <message>" to stderr; returns `code` (for one-line returns). */
int fcctl_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a non-negative decimal integer in [min, max] into *out. Returns 0 or
 * -EINVAL (not a number, trailing bytes, out of range). */
int fcctl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* ---- HTTP (fcctl_http.c) ----------------------------------------------------------- */

/* Parse an endpoint "http://HOST[:PORT][/]" (HOST an IPv4 address, a name or
 * "[IPv6]"; the scheme may be left out; PORT defaults to 80) into c->host,
 * c->port and c->authority. Returns 0 or -EINVAL (c->error says why; https
 * is refused: fcctl speaks no TLS). */
int fcctl_endpoint_set(struct fcctl *c, const char *url);

struct fcctl_header {
    const char *name;
    const char *value;
};

/* One request. Strings and body are borrowed for the call. */
struct fcctl_request {
    const char *method;
    const char *target;                 /* origin-form path[?query], percent-encoded */
    const struct fcctl_header *headers; /* extra headers, e.g. x-fc-* */
    uint32_t headers_count;             /* <= FCCTL_REQ_HEADERS_MAX */
    const char *content_type;           /* NULL: no body, or no type */
    const void *body;
    size_t body_len;
};

/* One answer. Owned by the caller after a successful exchange; release it
 * with fcctl_response_free (also safe on a zeroed struct). Header names and
 * values are NUL-terminated in place (their _len fields stay valid). */
struct fcctl_response {
    int status;
    uint32_t headers_count;
    struct fc_http_header headers[FCCTL_RESP_HEADERS_MAX];
    char *body; /* malloc'd, body_len bytes plus a NUL; never NULL on success */
    size_t body_len;
    char *_head; /* the head bytes the headers point into */
};

/* Connect, send req (signed when c->key_id is set: Date, x-fc-account-id,
 * Content-Type and every x-fc-* header are covered) and read the whole
 * answer, on a new connection that is closed afterwards. Any status counts
 * as an answer: the caller judges it.
 *
 * Returns 0 and *out; or -errno with c->error saying what happened and *out
 * zeroed: -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH and the like (cannot
 * reach fcd), -EPROTO (fcd's answer was not HTTP fcctl understands), -E2BIG
 * (answer past a FCCTL_RESP_* limit), -EINTR (*c->stop was set),
 * -EINVAL (fcctl could not sign the request: bad target), -ENOMEM. */
int fcctl_http_exchange(struct fcctl *c, const struct fcctl_request *req,
                        struct fcctl_response *out);

void fcctl_response_free(struct fcctl_response *r);

/* The value of the first header named `name` (ASCII case-insensitive), NUL-
 * terminated, or NULL. Points into r. */
const char *fcctl_response_header(const struct fcctl_response *r, const char *name);

/* The exit code for a failed fcctl_http_exchange: prints "fcctl: <c->error>"
 * and returns FCCTL_EXIT_NETWORK, or FCCTL_EXIT_LOCAL for -EINVAL/-ENOMEM. */
int fcctl_report_transport(struct fcctl *c, int rc);

/* Report a non-2xx answer: "fcctl: <ErrorCode>: <ErrorMessage> (request id
 * <id>)" on stderr, and with --json the body on stdout. Returns
 * FCCTL_EXIT_SERVER. */
int fcctl_report_server(struct fcctl *c, const struct fcctl_response *r);

/* An API call whose only good answers are 2xx: exchange, then report any
 * failure as above. Returns an exit code; on FCCTL_EXIT_OK *out holds the
 * answer (the caller frees it), otherwise *out is already freed. */
int fcctl_api(struct fcctl *c, const struct fcctl_request *req, struct fcctl_response *out);

/* The answer's body as a JSON object (new reference), or NULL after
 * printing why ("fcctl: fcd answered ... that is not a JSON object"). */
json_t *fcctl_response_json(const struct fcctl_response *r);

/* Append name to b percent-encoded as one path segment or query value
 * (RFC 3986 unreserved bytes stay). Returns 0 or -ENOMEM. */
int fcctl_buf_escape(struct fc_buf *b, const char *name);

/* "/2016-08-15/services/<S>[.<Q>][/functions/<F>[<suffix>]]" into b (which
 * is reset first); svc and fn percent-encoded, suffix appended as is (it
 * starts with '/' or '?'). fn, qualifier and suffix may be NULL. Returns 0,
 * -ENOMEM, or -ENAMETOOLONG past FCCTL_TARGET_BYTES_MAX. */
int fcctl_target(struct fc_buf *b, const char *svc, const char *qualifier, const char *fn,
                 const char *suffix);

/* Print a JSON value on stdout, compact, one line. */
void fcctl_print_json(const json_t *v);

/* Print a body on stdout as it came, adding a newline when it has none. */
void fcctl_print_body(const struct fcctl_response *r);

/* ---- commands ---------------------------------------------------------------------- */

/* Each returns an exit code and prints its own results and errors. a holds
 * the command's arguments, already checked against its argument count. */
int fcctl_cmd_service_list(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_service_get(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_service_delete(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_function_list(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_function_get(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_function_delete(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_trigger_list(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_trigger_get(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_trigger_delete(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_invoke(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_tasks_list(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_tasks_get(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_tasks_stop(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_logs(struct fcctl *c, const struct fcctl_args *a);
int fcctl_cmd_deploy(struct fcctl *c, const struct fcctl_args *a);

/* Split "A/B[/C]" (want 2 or 3 parts) into parts[], each NUL-terminated in
 * out (FCCTL_NAME_BYTES_MAX * 3 bytes). Returns 0 or -EINVAL (wrong count,
 * an empty or over-long part). */
int fcctl_split_path(const char *arg, uint32_t want, char *out, const char *parts[3]);

/* ---- deploy helpers (fcctl_zip.c) -------------------------------------------------- */

/* The code package of a function: CodeUri `path` as zip bytes. A directory
 * is zipped recursively (entries in name order, Unix modes kept so
 * `bootstrap` stays executable; a symbolic link is followed only when its
 * target lies inside the directory, otherwise it is left out with a warning
 * on stderr); a `.zip` file is taken as is; any other file is zipped alone.
 *
 * Returns 0 with *zip (malloc'd, the caller frees) and *zip_len; or -errno
 * with err saying why: -ENOENT / -EACCES / other I/O errors, -E2BIG (past a
 * FCCTL_ZIP_* limit), -ENODATA (nothing to zip), -ENOMEM. */
int fcctl_zip_code(const char *path, void **zip, size_t *zip_len, char err[FCCTL_ERR_BYTES]);

#endif
