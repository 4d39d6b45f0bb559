/* response.h — writes HTTP/1.1 responses into a growable byte buffer.
 *
 * The io thread that owns a connection builds each response in that
 * connection's output buffer; nothing here is shared between threads. Date
 * headers come from a per-thread cache refreshed once per second. */
#ifndef FC_RESPONSE_H
#define FC_RESPONSE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/errors.h"

/* What a response head says besides its status. */
struct fc_response {
    int status;
    const char *request_id;   /* x-fc-request-id; NULL to omit */
    const char *content_type; /* NULL to omit */
    uint64_t content_length;
    bool keep_alive;      /* else "Connection: close" */
    bool http10;          /* HTTP/1.0 client: keep-alive must be announced */
    const char *extra;    /* preformatted "Name: value\r\n" lines, or NULL */
};

/* Append the status line and headers (ending in the blank line).
 * Returns 0 or -ENOMEM (buf unchanged). */
int fc_response_head(struct fc_buf *b, const struct fc_response *r);

/* Append a complete response: head plus body (omitted when head_only, for
 * HEAD requests; Content-Length still counts it). Returns 0 or -ENOMEM. */
int fc_response_full(struct fc_buf *b, const struct fc_response *r, const void *body,
                     bool head_only);

/* Append a complete FC error response (CONTRACT.md §2.4): the row's status,
 * Content-Type: application/json, x-fc-request-id and the JSON body built
 * from the row's template and the variadic arguments. Returns the status
 * written, or -ENOMEM. */
int fc_response_error(struct fc_buf *b, bool keep_alive, bool http10, bool head_only,
                      const char *request_id, enum fc_error err, ...);

/* The same with extra header lines (NULL: none) and a va_list. */
int fc_response_verror(struct fc_buf *b, bool keep_alive, bool http10, bool head_only,
                       const char *request_id, const char *extra, enum fc_error err,
                       va_list ap);

#endif
