/* http.h — HTTP/1.1 request parser (RFC 9112), zero-copy and stateless.
 *
 * The parser never allocates and never copies: every string in a parsed
 * request points into the caller's buffer, so the caller keeps that buffer
 * unchanged while it uses the request. Any thread may call it; it keeps no
 * state between calls except what the caller passes back in.
 *
 * Errors are -errno with a reason: on -EBADMSG / -E2BIG / -ENOTSUP the
 * request's `error` field names what was wrong (a static string, suitable for
 * the FC error message), so no failure is a bare -1 (picohttpparser leaves
 * that to the caller; we do not).
 *
 * Smuggling rules (RFC 9112 §6.1, §6.3): Content-Length together with
 * Transfer-Encoding, differing Content-Length values, a Transfer-Encoding
 * other than a single final `chunked`, obs-fold, bytes outside the token /
 * field-value grammar, all reject the request. */
#ifndef FC_HTTP_H
#define FC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum fc_http_method {
    FC_HTTP_OTHER = 0, /* a valid token fcd has no special handling for */
    FC_HTTP_GET,
    FC_HTTP_HEAD,
    FC_HTTP_POST,
    FC_HTTP_PUT,
    FC_HTTP_DELETE,
    FC_HTTP_PATCH,
    FC_HTTP_OPTIONS,
};

struct fc_http_header {
    const char *name; /* as received; compare case-insensitively */
    const char *value; /* leading/trailing OWS stripped */
    uint32_t name_len;
    uint32_t value_len;
};

/* Parse limits. Owned by the caller; read-only to the parser. */
struct fc_http_limits {
    uint32_t head_bytes_max; /* request line + headers + CRLFs */
    uint32_t headers_max;    /* header lines; <= the caller's array size */
};

struct fc_http_req {
    const char *method;
    const char *target; /* request-target as sent: origin-form path?query,
                         * absolute-form (scheme ":" ...) or "*" (OPTIONS) */
    uint32_t method_len;
    uint32_t target_len;
    enum fc_http_method method_id;
    uint8_t minor_version; /* 0 or 1 (HTTP/1.0 or HTTP/1.1) */

    bool keep_alive;      /* per version and Connection header */
    bool chunked;         /* Transfer-Encoding: chunked */
    bool expect_continue; /* Expect: 100-continue */
    bool has_content_length;
    uint64_t content_length; /* valid when has_content_length */

    /* Caller-owned array of `headers_cap` entries; the parser fills
     * headers[0..headers_count). */
    struct fc_http_header *headers;
    uint32_t headers_cap;
    uint32_t headers_count;

    const char *error; /* static reason when the parse failed */
};

/* Parse a request head in buf[0..len). `prev_len` is the length of the same
 * buffer at the previous call that returned -EAGAIN (0 the first time): the
 * parser may skip work it already did, but the result must be the same as a
 * parse from scratch. req->headers and req->headers_cap must be set by the
 * caller; everything else is written by the parser.
 *
 * Returns the number of bytes of the head (the body, if any, starts there);
 * -EAGAIN when the head is incomplete (and within limits so far);
 * -EBADMSG when malformed (answer 400 and close);
 * -E2BIG when the head exceeds limits->head_bytes_max or the header count
 *   exceeds limits->headers_max (answer 400 and close);
 * -ENOTSUP for a Transfer-Encoding fcd does not implement (answer 501, close).
 * On every error req->error is set. Leading empty lines before the request
 * line are skipped (RFC 9112 §2.2) and counted in the return value; they
 * count against head_bytes_max too.
 *
 * Every line must end in CRLF: a bare LF (which RFC 9112 §2.2 would let us
 * accept) or a bare CR is -EBADMSG, so that no proxy in front can split lines
 * differently. A bare LF fails as soon as it arrives; everything else is
 * judged once the head is complete, so an incomplete head is -EAGAIN even if
 * its first lines are already bad. An HTTP version other than 1.0 and 1.1 is
 * -EBADMSG ("unsupported HTTP version"); so is an Expect other than
 * 100-continue ("unsupported Expect"; RFC 9110 would answer 417). */
ssize_t fc_http_parse_request(const char *buf, size_t len, size_t prev_len,
                              const struct fc_http_limits *limits, struct fc_http_req *req);

/* Find the first header whose name equals `name` (ASCII case-insensitive).
 * Returns it, or NULL. */
const struct fc_http_header *fc_http_header_find(const struct fc_http_req *req, const char *name,
                                                 size_t name_len);

/* Chunked transfer-coding decoder state. Zero it to start (memset or = {0}). */
struct fc_http_chunked {
    uint64_t chunk_left; /* data bytes left in the current chunk */
    uint8_t state;       /* private */
    uint8_t ext_bytes;   /* private: reserved, unused (line_bytes bounds
                          * the size line, extensions included) */
    uint16_t line_bytes; /* private: bounds size lines and trailers */
};

/* Decode chunked data in place: reads buf[0..*len), moves the decoded data to
 * the front of buf and sets *len to the number of decoded bytes. May be
 * called with any fragmentation of the input, even one byte at a time.
 * `*total` is added the decoded count and checked against body_bytes_max.
 *
 * Returns -EAGAIN when more input is needed (all of buf was consumed);
 * a count n >= 0 when the body ended: n bytes of the *input* remained after
 * the final CRLF of the trailer section (the next pipelined request; they
 * were NOT moved: a caller that passed in_len input bytes finds them at
 * original_buf + in_len - n);
 * -EBADMSG on a bad chunk size, missing CRLF, over-long extensions or
 * trailers; -E2BIG when the decoded total would exceed body_bytes_max
 * (checked at each chunk-size line, before that chunk's data is read).
 * On error *len still counts the bytes decoded before it, and later calls
 * return -EBADMSG; after the end, later calls decode nothing and return
 * their whole input as left over. Bare LF and CR are rejected here too. */
ssize_t fc_http_chunked_decode(struct fc_http_chunked *dec, char *buf, size_t *len,
                               uint64_t *total, uint64_t body_bytes_max);

/* Status code reason phrases for the response writer ("OK", "Not Found", ...).
 * Returns a static string; "Unknown" for codes without a phrase. */
const char *fc_http_reason(int status);

/* A parsed response head (from an instance). Same ownership rules as
 * struct fc_http_req: strings point into the caller's buffer. */
struct fc_http_resp {
    int status;            /* 100..999 */
    uint8_t minor_version; /* 0 or 1 */
    bool keep_alive;       /* per version and Connection header */
    bool chunked;          /* Transfer-Encoding: chunked (final) */
    bool has_content_length;
    uint64_t content_length;
    struct fc_http_header *headers; /* caller-owned, headers_cap entries */
    uint32_t headers_cap;
    uint32_t headers_count;
    const char *error; /* static reason when the parse failed */
};

/* Parse a response head in buf[0..len) (status line, headers, blank line).
 * Returns the head's length; -EAGAIN when incomplete; -EBADMSG when
 * malformed (including CL+TE together and differing Content-Lengths);
 * -E2BIG over the limits. resp->error is set on every error. The caller
 * decides the body framing: none for 1xx/204/304 and HEAD requests, chunked,
 * Content-Length, else until the connection closes. */
ssize_t fc_http_parse_response(const char *buf, size_t len, const struct fc_http_limits *limits,
                               struct fc_http_resp *resp);

#endif
