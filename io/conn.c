/* conn.c — the client connection state machine of an io thread.
 *
 * Input: multishot recv hands us provided buffers; their bytes are copied
 * into the connection's own `in` buffer (so a request head split over many
 * packets is one contiguous slice) and the provided buffer goes straight
 * back to the kernel. In basic mode (kernels without multishot recv) a poll
 * says the socket is readable and recv(2) reads into `in` directly.
 *
 * Requests are handled in order, one complete request at a time; responses
 * are appended to `out`. While a send is in flight its bytes sit in `wbuf`,
 * which nothing else touches, so pipelined responses can keep accumulating in
 * `out` (double buffering) and go out with the next send.
 *
 * Closing: the fd is shut down at once, which completes any recv/send still
 * in flight; the fd is closed and the connection returned to the pool only
 * when no operation refers to it any more. A response that ends the
 * connection is followed by a lingering close (our FIN, then discard input
 * until the client's, bounded by a timer) so the client reads the response
 * instead of a reset. */
#include "io/io_thread.h"

#include "core/limits.h"
#include "core/log.h"
#include "io/router.h"

#include "core/assert.h"
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINGER_MS 2000
#define SPARE_BUF_BYTES_MAX (64u * 1024) /* bigger buffers are freed, not kept */
#define RECV_BASIC_BYTES 16384

static void conn_close(struct fc_conn *c);
static void conn_process(struct fc_conn *c);

/* ---- buffers ------------------------------------------------------------------ */

/* Give an emptied buffer back to the thread's spare stack (or free it). */
static void buf_release(struct fc_io *io, struct fc_buf *b) {
    if (b->data != NULL && b->cap <= SPARE_BUF_BYTES_MAX &&
        io->spare_count < sizeof(io->spare) / sizeof(io->spare[0])) {
        b->len = 0;
        io->spare[io->spare_count++] = *b;
        *b = (struct fc_buf){0};
        return;
    }
    fc_buf_free(b);
}

/* Reserve room in a connection buffer, reusing a spare one when it is empty. */
static int buf_reserve(struct fc_io *io, struct fc_buf *b, size_t more) {
    if (b->data == NULL && io->spare_count > 0)
        *b = io->spare[--io->spare_count];
    return fc_buf_reserve(b, more);
}

/* ---- timers ------------------------------------------------------------------- */

static void conn_timer_cb(struct fc_wheel_entry *e) {
    struct fc_conn *c = (struct fc_conn *)((char *)e - offsetof(struct fc_conn, timer));
    if (c->timer_kind == FC_TIMER_REQUEST)
        FC_LOG_DEBUG("request timeout on fd %d after %zu bytes", c->fd, c->in.len);
    c->timer_kind = FC_TIMER_NONE;
    conn_close(c);
}

static void conn_timer_set(struct fc_conn *c, enum fc_conn_timer kind, uint32_t ms) {
    fc_wheel_unlink(&c->timer);
    c->timer_kind = kind;
    if (kind != FC_TIMER_NONE)
        fc_wheel_link(&c->io->wheel, &c->timer, c->io->now_ms + ms);
}

/* Pick the timer for the connection's state after an event. `progress`
 * says body bytes arrived, which restarts the request timer in PHASE_BODY;
 * a head must arrive whole within header_timeout_ms of its first byte. */
static void conn_timer_update(struct fc_conn *c, bool progress) {
    const struct fc_config *cfg = c->io->cfg;
    if (c->lingering)
        return; /* armed once when lingering started */
    if (fc_conn_waiting(c) && !c->send_busy) {
        /* The function's own timeout bounds the wait (worker's wheel). */
        conn_timer_set(c, FC_TIMER_NONE, 0);
    } else if (c->send_busy) {
        if (c->timer_kind != FC_TIMER_SEND || progress)
            conn_timer_set(c, FC_TIMER_SEND, cfg->http.idle_timeout_ms);
    } else if (c->phase == FC_PHASE_BODY || c->in.len > 0) {
        if (c->timer_kind != FC_TIMER_REQUEST || (progress && c->phase == FC_PHASE_BODY))
            conn_timer_set(c, FC_TIMER_REQUEST, cfg->http.header_timeout_ms);
    } else if (c->timer_kind != FC_TIMER_IDLE) {
        conn_timer_set(c, FC_TIMER_IDLE, cfg->http.idle_timeout_ms);
    }
}

/* ---- lifecycle ---------------------------------------------------------------- */

static void conn_free_if_done(struct fc_conn *c) {
    if (!c->closed || c->ops > 0 || fc_conn_waiting(c))
        return;
    struct fc_io *io = c->io;
    close(c->fd);
    buf_release(io, &c->in);
    buf_release(io, &c->out);
    buf_release(io, &c->wbuf);
    c->fd = -1;
    c->next_free = io->free_conns;
    io->free_conns = c;
    FC_ASSERT(io->conns_open > 0);
    io->conns_open--;
}

static void conn_close(struct fc_conn *c) {
    if (c->closed)
        return;
    c->closed = true;
    /* The client is gone: stop its invocation. It still comes back through
     * the scheduler, which is when the connection is freed. */
    if (c->inv != NULL && fc_sched_cancel(c->io->sched, c->inv) < 0)
        FC_LOG_WARN("cancel of %s not delivered (ring full); it runs to its end",
                    c->inv->request_id);
    fc_wheel_unlink(&c->timer);
    c->timer_kind = FC_TIMER_NONE;
    /* Completes any recv or send still in flight, so ops drains to 0. */
    if (c->ops > 0)
        shutdown(c->fd, SHUT_RDWR);
    conn_free_if_done(c);
}

/* Our FIN goes out after the last response; input is discarded until the
 * client closes too or LINGER_MS pass. */
static void conn_linger(struct fc_conn *c) {
    if (c->peer_eof || !c->recv_armed) {
        conn_close(c);
        return;
    }
    shutdown(c->fd, SHUT_WR);
    c->lingering = true;
    c->in.len = 0;
    conn_timer_set(c, FC_TIMER_LINGER, LINGER_MS);
}

static void conn_arm_recv(struct fc_conn *c) {
    struct fc_io *io = c->io;
    struct io_uring_sqe *sqe = fc_uring_sqe(&io->ring);
    if (io->basic) {
        io_uring_prep_poll_add(sqe, c->fd, POLLIN | POLLRDHUP);
    } else {
        io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = io->bufs.bgid;
    }
    io_uring_sqe_set_data64(sqe, fc_op_data(c, FC_OP_RECV));
    c->recv_armed = true;
    c->ops++;
}

static void conn_flush(struct fc_conn *c) {
    if (c->send_busy || c->closed)
        return;
    if (c->wbuf_sent == c->wbuf.len) {
        if (c->out.len == 0)
            return;
        struct fc_buf t = c->wbuf; /* swap: out is sent, the old wbuf collects */
        c->wbuf = c->out;
        c->out = t;
        c->out.len = 0;
        c->wbuf_sent = 0;
    }
    struct io_uring_sqe *sqe = fc_uring_sqe(&c->io->ring);
    io_uring_prep_send(sqe, c->fd, c->wbuf.data + c->wbuf_sent, c->wbuf.len - c->wbuf_sent,
                       MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, fc_op_data(c, FC_OP_SEND));
    c->send_busy = true;
    c->ops++;
}

/* A freed connection, else a never-used one from the pool's untouched tail
 * (so an idle daemon keeps only the connections it has needed resident). */
static struct fc_conn *conn_take(struct fc_io *io) {
    struct fc_conn *c = io->free_conns;
    if (c != NULL)
        io->free_conns = c->next_free;
    else if (io->conns_touched < io->cfg->http.connections_max)
        c = &io->conns[io->conns_touched++];
    return c;
}

void fc_conn_accepted(struct fc_io *io, int fd) {
    struct fc_conn *c = io->draining ? NULL : conn_take(io);
    if (c == NULL) {
        /* Past connections_max: answer at once without a connection object
         * (a non-blocking send of a few hundred bytes into an empty socket
         * buffer), so the loop never stalls on an overloaded thread. */
        struct fc_buf b = {0};
        char rid[FC_REQID_LEN + 1];
        fc_reqid_next(&io->reqid, rid);
        if (fc_response_error(&b, false, false, false, rid, FC_ERR_RESOURCE_THROTTLED,
                              io->draining ? "server is shutting down"
                                           : "too many connections") > 0)
            (void)send(fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
        fc_buf_free(&b);
        close(fd);
        return;
    }
    io->conns_open++;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *c = (struct fc_conn){.io = io, .fd = fd, .phase = FC_PHASE_HEAD};
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof(peer);
    if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0) {
        const void *ip = peer.ss_family == AF_INET6
                             ? (const void *)&((struct sockaddr_in6 *)&peer)->sin6_addr
                             : (const void *)&((struct sockaddr_in *)&peer)->sin_addr;
        inet_ntop(peer.ss_family, ip, c->client_ip, sizeof(c->client_ip));
    }
    fc_wheel_entry_init(&c->timer, conn_timer_cb);
    conn_arm_recv(c);
    conn_timer_update(c, false);
}

/* ---- input -------------------------------------------------------------------- */

/* Bound on buffered input: one maximal request (sync or async, whichever
 * limit is larger) plus a maximal pipelined head. */
static size_t conn_in_max(const struct fc_config *cfg) {
    size_t body = cfg->http.body_sync_bytes_max > cfg->http.body_async_bytes_max
                      ? cfg->http.body_sync_bytes_max
                      : cfg->http.body_async_bytes_max;
    return 2 * (size_t)cfg->http.head_bytes_max + body;
}

static int conn_append_input(struct fc_conn *c, const char *data, size_t len) {
    if (c->in.len + len > conn_in_max(c->io->cfg))
        return -E2BIG;
    if (buf_reserve(c->io, &c->in, len) < 0)
        return -ENOMEM;
    memcpy(c->in.data + c->in.len, data, len);
    c->in.len += len;
    return 0;
}

/* Basic mode: the socket is readable; read what is there. Returns bytes
 * read (0 at EOF) or -errno. */
static ssize_t conn_read_basic(struct fc_conn *c) {
    size_t total = 0;
    for (;;) {
        /* Full: hand over what was read (a chunked body shrinks as it is
         * decoded); too large only if nothing could be read. */
        if (c->in.len > conn_in_max(c->io->cfg))
            return total > 0 ? (ssize_t)total : -E2BIG;
        if (buf_reserve(c->io, &c->in, RECV_BASIC_BYTES) < 0)
            return -ENOMEM;
        ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, MSG_DONTWAIT);
        if (n > 0) {
            c->in.len += (size_t)n;
            total += (size_t)n;
            continue;
        }
        if (n == 0)
            return total > 0 ? (ssize_t)total : 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return total > 0 ? (ssize_t)total : -EAGAIN;
        if (errno != EINTR)
            return -errno;
    }
}

/* An error found while reading a request: answer it and end the connection. */
static void conn_fail(struct fc_conn *c, enum fc_error err, const char *reason) {
    char rid[FC_REQID_LEN + 1];
    fc_reqid_next(&c->io->reqid, rid);
    int status;
    if (err == FC_ERR_ENTITY_TOO_LARGE)
        status = fc_response_error(&c->out, false, false, false, rid, err,
                                   (unsigned long long)c->body_max);
    else
        status = fc_response_error(&c->out, false, false, false, rid, err, reason);
    fc_log_access("-", 1, "-", 1, status, 0, 0, rid);
    c->close_after_send = true;
    c->in.len = 0;
    conn_flush(c);
}

static void conn_handle_eof(struct fc_conn *c) {
    c->peer_eof = true;
    if (c->lingering || c->closed || fc_conn_waiting(c)) {
        conn_close(c); /* with an invocation running: the client cancelled */
        return;
    }
    /* A half-closed client still gets the responses to complete requests
     * (already queued); an incomplete request can never finish. */
    if (c->send_busy || c->out.len > 0)
        c->close_after_send = true;
    else
        conn_close(c);
}

void fc_conn_on_recv(struct fc_conn *c, int res, uint32_t flags) {
    struct fc_io *io = c->io;
    if (io->basic || !(flags & IORING_CQE_F_MORE)) {
        c->recv_armed = false;
        c->ops--;
    }
    if (!io->basic && (flags & IORING_CQE_F_BUFFER)) {
        uint16_t bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
        /* After a response that ends the connection, input is discarded. */
        if (res > 0 && !c->closed && !c->lingering && !c->close_after_send &&
            conn_append_input(c, fc_uring_buf_addr(&io->bufs, bid), (size_t)res) < 0)
            res = -E2BIG;
        fc_uring_buf_recycle(&io->bufs, bid);
    } else if (io->basic && res > 0 && !c->closed) {
        ssize_t n = conn_read_basic(c);
        res = n == -EAGAIN ? -ENOBUFS : (int)n;
        if (c->lingering || c->close_after_send) {
            c->in.len = 0;
            if (res == -E2BIG)
                res = -ENOBUFS; /* discarded, not too large: read on */
        }
    }
    if (c->closed) {
        conn_free_if_done(c);
        return;
    }
    if (res > 0) {
        if (!c->lingering)
            conn_process(c);
    } else if (res == 0) {
        conn_handle_eof(c);
    } else if (res == -E2BIG) {
        conn_fail(c, FC_ERR_INVALID_ARGUMENT, "request too large");
    } else if (res != -ENOBUFS) {
        conn_close(c); /* reset by peer and the like */
    }
    if (!c->closed && !c->recv_armed && !c->peer_eof)
        conn_arm_recv(c);
}

void fc_conn_on_send(struct fc_conn *c, int res) {
    c->ops--;
    c->send_busy = false;
    if (c->closed) {
        conn_free_if_done(c);
        return;
    }
    if (res < 0) {
        conn_close(c);
        return;
    }
    c->wbuf_sent += (size_t)res;
    if (c->wbuf_sent < c->wbuf.len) {
        conn_flush(c); /* short send: the rest */
        conn_timer_update(c, true);
        return;
    }
    c->wbuf.len = c->wbuf_sent = 0;
    if (c->out.len == 0)
        buf_release(c->io, &c->wbuf);
    if (c->out.len > 0) {
        conn_flush(c);
    } else if (c->close_after_send) {
        conn_linger(c);
        return;
    }
    conn_process(c); /* requests held back while output was full */
}

/* ---- requests ----------------------------------------------------------------- */

/* Decide this request's body limit and framing after its head. Returns
 * false when the declared body is over the limit (answer EntityTooLarge). */
static bool conn_begin_body(struct fc_conn *c, const struct fc_http_req *req, size_t head_len) {
    const struct fc_config *cfg = c->io->cfg;
    c->head_len = head_len;
    c->phase = FC_PHASE_BODY;
    c->chunked = req->chunked;
    c->continue_sent = false;
    c->body_max = cfg->http.body_sync_bytes_max;
    struct fc_route route;
    if (fc_route_match(req->method_id, req->target, req->target_len, &route) == FC_ROUTE_API)
        c->body_max = FC_CTL_BODY_BYTES_MAX; /* CreateFunction carries the code */
    const struct fc_http_header *it =
        fc_http_header_find(req, "x-fc-invocation-type", sizeof("x-fc-invocation-type") - 1);
    if (it != NULL && it->value_len == 5 && strncasecmp(it->value, "async", 5) == 0)
        c->body_max = cfg->http.body_async_bytes_max;
    c->body_len = req->has_content_length ? req->content_length : 0;
    if (c->chunked) {
        c->body_len = 0;
        c->raw_pos = head_len;
        memset(&c->dec, 0, sizeof(c->dec));
    }
    return c->chunked || c->body_len <= c->body_max;
}

/* Is the body complete? Returns 1 yes (*consumed = bytes of head and raw
 * body), 0 not yet, -EBADMSG or -E2BIG for a bad chunked body. Chunked
 * bodies are decoded in place as they arrive. */
static int conn_body_ready(struct fc_conn *c, size_t *consumed) {
    if (!c->chunked) {
        *consumed = c->head_len + c->body_len;
        return c->in.len >= *consumed;
    }
    char *raw = c->in.data + c->raw_pos;
    size_t raw_len = c->in.len - c->raw_pos, dec_len = raw_len;
    ssize_t rc = fc_http_chunked_decode(&c->dec, raw, &dec_len, &c->body_len, c->body_max);
    if (rc == -EBADMSG || rc == -E2BIG)
        return (int)rc;
    /* Decoded bytes go right after those decoded before; what remains after
     * the body (rc >= 0) is the next request. */
    char *dst = c->in.data + c->head_len + (c->body_len - dec_len);
    memmove(dst, raw, dec_len);
    if (rc == -EAGAIN) {
        c->in.len = (size_t)(dst + dec_len - c->in.data);
        c->raw_pos = c->in.len;
        return 0;
    }
    size_t rest = (size_t)rc;
    memmove(dst + dec_len, raw + raw_len - rest, rest);
    c->in.len = (size_t)(dst + dec_len - c->in.data) + rest;
    *consumed = c->head_len + c->body_len;
    return 1;
}

/* Tell an `Expect: 100-continue` client to send its body (RFC 9110 §10.1.1),
 * once, and only when the body has not started arriving. */
static void conn_maybe_continue(struct fc_conn *c, const struct fc_http_req *req) {
    if (c->continue_sent || !req->expect_continue || c->in.len > c->head_len)
        return;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    fc_buf_append(&c->out, cont, sizeof(cont) - 1);
    c->continue_sent = true;
}

/* Parse (or re-parse) the head at the front of `in`. */
static ssize_t conn_parse_head(struct fc_conn *c, struct fc_http_req *req, size_t prev_len) {
    struct fc_io *io = c->io;
    req->headers = io->headers;
    req->headers_cap = io->limits.headers_max;
    return fc_http_parse_request(c->in.data, c->in.len, prev_len, &io->limits, req);
}

static void conn_finish_request(struct fc_conn *c, const struct fc_http_req *req,
                                size_t consumed) {
    struct fc_io *io = c->io;
    char rid[FC_REQID_LEN + 1];
    fc_reqid_next(&io->reqid, rid);
    bool keep_alive = req->keep_alive && !io->draining;
    size_t before = c->out.len + c->wbuf.len;
    int status =
        fc_dispatch(c, req, c->in.data + c->head_len, c->body_len, consumed, keep_alive, rid);
    c->phase = FC_PHASE_HEAD;
    c->parsed_len = 0;
    c->timer_kind = FC_TIMER_NONE;
    if (status == 0) { /* an invocation or async store runs for it */
        c->inv_keep_alive = keep_alive;
        c->inv_http10 = req->minor_version == 0;
        if (c->request_taken) { /* the invocation took the request bytes */
            c->request_taken = false;
            return;
        }
    } else {
        fc_log_access(req->method, req->method_len, req->target, req->target_len, status,
                      c->out.len + c->wbuf.len - before, fc_now_us() - c->request_start_us, rid);
    }
    if (!c->request_taken) { /* else an invocation that failed to start took it */
        memmove(c->in.data, c->in.data + consumed, c->in.len - consumed);
        c->in.len -= consumed;
    }
    c->request_taken = false;
    if (!keep_alive)
        c->close_after_send = true;
}

/* Handle every complete request in `in`, in order; stop at an incomplete
 * one, at an error, or while a lot of output is waiting for the client. */
static void conn_process(struct fc_conn *c) {
    struct fc_http_req req;
    bool have_req = false; /* req describes the head at the front of `in` */
    while (!c->closed && !c->close_after_send && !fc_conn_waiting(c) &&
           c->out.len < FC_CONN_OUT_BYTES_MAX) {
        if (c->phase == FC_PHASE_HEAD) {
            if (c->in.len == 0)
                break;
            ssize_t rc = conn_parse_head(c, &req, c->parsed_len);
            if (rc == -EAGAIN) {
                c->parsed_len = c->in.len;
                break;
            }
            if (rc < 0) {
                conn_fail(c, rc == -ENOTSUP ? FC_ERR_NOT_IMPLEMENTED : FC_ERR_INVALID_ARGUMENT,
                          req.error);
                return;
            }
            c->request_start_us = fc_now_us();
            if (!conn_begin_body(c, &req, (size_t)rc)) {
                conn_fail(c, FC_ERR_ENTITY_TOO_LARGE, NULL);
                return;
            }
            enum fc_error denied;
            char why[FC_AUTH_MESSAGE_BYTES_MAX];
            if (c->body_max == FC_CTL_BODY_BYTES_MAX && (c->chunked || c->body_len > 0) &&
                !fc_dispatch_upload_allowed(c, &req, &denied, why)) {
                conn_fail(c, denied, why);
                return;
            }
            have_req = true;
        }
        size_t consumed = 0;
        int ready = conn_body_ready(c, &consumed);
        if (ready < 0) {
            conn_fail(c, ready == -E2BIG ? FC_ERR_ENTITY_TOO_LARGE : FC_ERR_INVALID_ARGUMENT,
                      "malformed chunked body");
            return;
        }
        if (!have_req) {
            ssize_t rc = conn_parse_head(c, &req, 0);
            FC_ASSERT(rc == (ssize_t)c->head_len); /* the same bytes parsed before */
            (void)rc;
            have_req = true;
        }
        if (!ready) {
            conn_maybe_continue(c, &req);
            break;
        }
        conn_finish_request(c, &req, consumed);
        have_req = false;
    }
    conn_flush(c);
    conn_timer_update(c, true);
}

/* ---- thread-wide -------------------------------------------------------------- */

void fc_conn_drain_all(struct fc_io *io) {
    for (uint32_t i = 0; i < io->conns_touched; i++) {
        struct fc_conn *c = &io->conns[i];
        if (c->fd < 0 || c->closed)
            continue;
        if (c->phase == FC_PHASE_HEAD && c->in.len == 0 && !c->send_busy && c->out.len == 0 &&
            !fc_conn_waiting(c))
            conn_close(c);
    }
}

void fc_conn_close_all(struct fc_io *io) {
    for (uint32_t i = 0; i < io->conns_touched; i++)
        if (io->conns[i].fd >= 0)
            conn_close(&io->conns[i]);
}

/* ---- invocations ------------------------------------------------------------ */

int fc_conn_take_request(struct fc_conn *c, size_t consumed, struct fc_buf *to) {
    FC_ASSERT(consumed <= c->in.len);
    struct fc_buf rest = {0};
    if (c->in.len > consumed &&
        buf_reserve(c->io, &rest, c->in.len - consumed) < 0)
        return -ENOMEM;
    if (c->in.len > consumed) {
        memcpy(rest.data, c->in.data + consumed, c->in.len - consumed);
        rest.len = c->in.len - consumed;
    }
    buf_release(c->io, to); /* whatever it held from its last use */
    *to = c->in;
    to->len = consumed;
    c->in = rest;
    c->request_taken = true;
    return 0;
}

void fc_conn_on_invocation(struct fc_conn *c, struct fc_invocation *inv) {
    struct fc_io *io = c->io;
    FC_ASSERT(c->inv == inv);
    if (inv->result == FC_INV_REPLACE && !c->closed && fc_sched_submit(io->sched, inv) == 0)
        return; /* placed again: still running for this connection */
    c->inv = NULL;
    if (c->closed) { /* the client went away: 499, as nginx logs it */
        fc_log_access(inv->req.data + c->inv_method_off, c->inv_method_len,
                      inv->req.data + c->inv_target_off, c->inv_target_len, 499, 0,
                      fc_now_us() - c->request_start_us, inv->request_id);
        fc_dispatch_recycle(io, inv);
        conn_free_if_done(c);
        return;
    }
    bool keep_alive = c->inv_keep_alive && !io->draining;
    size_t before = c->out.len + c->wbuf.len;
    int status = fc_dispatch_complete(c, inv, keep_alive);
    fc_log_access(inv->req.data + c->inv_method_off, c->inv_method_len,
                  inv->req.data + c->inv_target_off, c->inv_target_len, status,
                  c->out.len + c->wbuf.len - before, fc_now_us() - c->request_start_us,
                  inv->request_id);
    fc_dispatch_recycle(io, inv);
    if (!keep_alive)
        c->close_after_send = true;
    conn_process(c); /* pipelined requests that waited, then flush */
}

void fc_conn_on_ctl(struct fc_conn *c, struct fc_ctl_req *req) {
    FC_ASSERT(c->creq == req);
    c->creq = NULL;
    if (!c->closed) {
        bool keep_alive = c->inv_keep_alive && !c->io->draining;
        size_t before = c->out.len + c->wbuf.len;
        struct fc_response r = {.status = req->status,
                                .request_id = req->request_id,
                                .content_type = req->content_type,
                                .content_length = req->resp.len,
                                .keep_alive = keep_alive,
                                .http10 = c->inv_http10,
                                .extra = req->extra[0] ? req->extra : NULL};
        int status = fc_response_full(&c->out, &r, req->resp.data, false) < 0 ? 500 : req->status;
        fc_log_access(c->async_method, (uint32_t)strlen(c->async_method), c->async_target,
                      (uint32_t)strlen(c->async_target), status, c->out.len + c->wbuf.len - before,
                      fc_now_us() - c->request_start_us, req->request_id);
        if (!keep_alive)
            c->close_after_send = true;
    }
    fc_ctl_req_free(req);
    if (c->closed)
        conn_free_if_done(c);
    else
        conn_process(c);
}

void fc_conn_on_async(struct fc_conn *c, struct fc_async_req *req) {
    struct fc_io *io = c->io;
    FC_ASSERT(c->areq == req);
    c->areq = NULL;
    if (!c->closed) {
        bool keep_alive = c->inv_keep_alive && !io->draining;
        size_t before = c->out.len + c->wbuf.len;
        int status = fc_dispatch_async_complete(c, req, keep_alive);
        fc_log_access(c->async_method, (uint32_t)strlen(c->async_method), c->async_target,
                      (uint32_t)strlen(c->async_target), status, c->out.len + c->wbuf.len - before,
                      fc_now_us() - c->request_start_us, req->id);
        if (!keep_alive)
            c->close_after_send = true;
    }
    fc_buf_free(&req->payload);
    if (req->fn != NULL)
        fc_function_unref(req->fn);
    req->fn = NULL;
    req->next_free = io->free_areqs;
    io->free_areqs = req;
    if (c->closed)
        conn_free_if_done(c);
    else
        conn_process(c);
}
