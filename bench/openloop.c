/* openloop.c — open-loop HTTP/1.1 load generator on io_uring (issue 7).
 *
 *   openloop -c CONNS -r RATE -d SECONDS [-H 'Name: value']... [-m METHOD]
 *            [-b BODYFILE] http://IPv4[:PORT][/PATH]
 *
 * Request k (k = 0, 1, ...) is *intended* to start at t0 + k/RATE, for all k
 * with k/RATE < SECONDS. Requests are handed, in order, to whichever
 * keep-alive connection is free; a request whose time has come while every
 * connection is still busy waits, and that wait counts in its latency
 * (intended start -> last byte of the response). So a server stall shows up
 * in the latency of every request scheduled during it, instead of being
 * hidden by a generator that simply sends less (coordinated omission: wrk's
 * closed loop). Requests are identical, so the backlog is just the counter
 * difference due - issued: no queue, no allocation per request.
 *
 * Output: one JSON line on stdout:
 *   rate_target, rate_achieved (responses completed within [t0, t0+SECONDS]
 *   divided by SECONDS: the throughput the server delivered during the run),
 *   requests (complete responses, any status), errors (non-2xx/3xx responses
 *   + connection failures + requests not done by the drain deadline),
 *   p50_us .. p999_us, max_us (intended start -> last byte; from a log-linear
 *   histogram, relative error < 0.4 %), and the details scheduled,
 *   incomplete, status_errors, io_errors, connections, duration_s.
 * Diagnostics go to stderr. Exit status 0 when the run took place (errors or
 * not), 2 for bad usage, 1 when it could not start.
 *
 * Bounds: after SECONDS no new request is scheduled; outstanding ones get a
 * drain of OL_DRAIN_NS (2 s), then the run ends and the rest count as
 * incomplete. Memory is fixed at startup: OL_RECV_BYTES per connection, the
 * request (at most OL_REQUEST_BYTES_MAX) once, one histogram.
 *
 * Responses: Content-Length, chunked (extensions and trailers skipped), no
 * body (HEAD, 1xx skipped, 204, 304), or neither (read until close). One
 * request at a time per connection (no pipelining). A connection the server
 * closes (Connection: close, EOF, error) is reopened with a blocking connect
 * (loopback: microseconds); the request on it, if any, counts as an error.
 *
 * Single-threaded; one io_uring with at most one send and one recv in flight
 * per connection. Standalone: it shares no code with fcd (it probes ring
 * flags the same way as core/uring.c, though). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OL_CONNS_MAX 4096u
#define OL_HEADERS_MAX 64u
#define OL_REQUEST_BYTES_MAX (1u << 20)
#define OL_RECV_BYTES 16384u    /* per connection; a response head must fit in it */
#define OL_LINE_BYTES_MAX 1024u /* a chunk-size or trailer line */
#define OL_DRAIN_NS 2000000000ull
#define OL_RATE_MAX 10e6
#define OL_SECONDS_MAX 3600.0
#define OL_START_DELAY_NS 10000000ull /* t0 = 10 ms after connecting */
#define OL_RECONNECTS_MAX 100000u     /* then a failing connection stays dead */

_Static_assert(OL_LINE_BYTES_MAX < OL_RECV_BYTES, "a line must fit in the buffer");

/* ---- histogram: HdrHistogram-style log-linear buckets of nanoseconds ----------
 * Values below 2^B are exact; above, each power of two [2^m, 2^(m+1)) is split
 * into 2^(B-1) equal buckets, so a bucket is at most 1/2^(B-1) = 0.78 % of its
 * values wide and its midpoint is within 0.4 %. 7424 counters, 58 KiB. */
#define HIST_BITS 8u
#define HIST_SUB (1u << HIST_BITS)
#define HIST_HALF (HIST_SUB / 2)
#define HIST_BUCKETS (HIST_SUB + (64u - HIST_BITS) * HIST_HALF)

struct hist {
    uint64_t count[HIST_BUCKETS];
    uint64_t n;
    uint64_t max;
};

static unsigned hist_index(uint64_t v) {
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned m = 63u - (unsigned)__builtin_clzll(v); /* m >= HIST_BITS */
    unsigned shift = m - (HIST_BITS - 1);            /* v >> shift in [HALF, SUB) */
    return HIST_SUB + (m - HIST_BITS) * HIST_HALF + (unsigned)((v >> shift) - HIST_HALF);
}

/* The midpoint of bucket i (exact below HIST_SUB). */
static double hist_value(unsigned i) {
    if (i < HIST_SUB)
        return i;
    unsigned r = i - HIST_SUB;
    unsigned m = r / HIST_HALF + HIST_BITS;
    unsigned shift = m - (HIST_BITS - 1);
    uint64_t lo = (uint64_t)(r % HIST_HALF + HIST_HALF) << shift;
    return (double)lo + (double)((1ull << shift) - 1) / 2.0;
}

static void hist_record(struct hist *h, uint64_t v) {
    unsigned i = hist_index(v);
    if (i >= HIST_BUCKETS)
        abort();
    h->count[i]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

/* Nearest-rank percentile p (0 < p <= 100) in ns, capped at the exact max. */
static double hist_percentile(const struct hist *h, double p) {
    uint64_t rank = (uint64_t)((p / 100.0) * (double)h->n + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= rank) {
            double v = hist_value(i);
            return v > (double)h->max ? (double)h->max : v;
        }
    }
    return (double)h->max;
}

/* ---- connections ----------------------------------------------------------------- */
enum resp_state {
    ST_HEAD,
    ST_BODY_LEN,
    ST_CHUNK_SIZE,
    ST_CHUNK_DATA,
    ST_CHUNK_CRLF,
    ST_TRAILER,
    ST_UNTIL_CLOSE,
    ST_DONE,
};

struct conn {
    int fd;
    bool busy;    /* a request is assigned and not yet accounted */
    bool broken;  /* reopen once no op is in flight */
    bool dead;    /* could not reopen */
    unsigned ops; /* SQEs in flight (send, recv) */
    uint64_t intended_ns;
    uint32_t sent; /* bytes of the request sent */
    uint32_t len;  /* bytes in buf */
    enum resp_state state;
    uint64_t remaining; /* body or chunk bytes left */
    int status;
    bool close_after; /* the server will close: reopen after this response */
    char buf[OL_RECV_BYTES];
};

struct ol {
    struct io_uring ring;
    struct sockaddr_in addr;
    const char *req; /* the request, built once; sends read from it */
    uint32_t req_len;
    bool head_method;
    double rate;
    uint64_t t0, t_end; /* monotonic ns */
    uint64_t scheduled, issued;
    uint64_t completed, in_window, status_errors, io_errors;
    uint32_t reconnects;
    unsigned nconns, ndead, nfree;
    unsigned *free_list; /* stack of idle connection indices */
    struct conn *conns;
    struct hist hist;
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t intended(const struct ol *ol, uint64_t k) {
    return ol->t0 + (uint64_t)((double)k * 1e9 / ol->rate);
}

static struct io_uring_sqe *get_sqe(struct ol *ol) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ol->ring);
    if (!sqe) { /* SQ full: flush it (sized for 2 per connection, so rare) */
        io_uring_submit(&ol->ring);
        sqe = io_uring_get_sqe(&ol->ring);
    }
    if (!sqe)
        abort();
    return sqe;
}

static void queue_send(struct ol *ol, unsigned idx) {
    struct conn *c = &ol->conns[idx];
    struct io_uring_sqe *sqe = get_sqe(ol);
    io_uring_prep_send(sqe, c->fd, ol->req + c->sent, ol->req_len - c->sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, (uint64_t)idx << 1);
    c->ops++;
}

static void queue_recv(struct ol *ol, unsigned idx) {
    struct conn *c = &ol->conns[idx];
    struct io_uring_sqe *sqe = get_sqe(ol);
    io_uring_prep_recv(sqe, c->fd, c->buf + c->len, OL_RECV_BYTES - c->len, 0);
    io_uring_sqe_set_data64(sqe, ((uint64_t)idx << 1) | 1);
    c->ops++;
}

/* Blocking connect with TCP_NODELAY. Returns 0 or -errno (fd left -1). */
static int conn_open(struct ol *ol, struct conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (const struct sockaddr *)&ol->addr, sizeof ol->addr) < 0) {
        int err = -errno;
        close(c->fd);
        c->fd = -1;
        return err;
    }
    c->broken = c->busy = c->close_after = false;
    c->len = 0;
    return 0;
}

static void conn_issue(struct ol *ol, unsigned idx, uint64_t k) {
    struct conn *c = &ol->conns[idx];
    c->busy = true;
    c->intended_ns = intended(ol, k);
    c->sent = 0;
    c->state = ST_HEAD;
    c->remaining = 0;
    c->status = 0;
    queue_send(ol, idx);
    queue_recv(ol, idx);
}

/* The request on c failed (I/O error, EOF, malformed response): count it,
 * and stop the connection; ops in flight end with errors, then it reopens. */
static void conn_fail(struct ol *ol, struct conn *c) {
    if (c->busy) {
        ol->io_errors++;
        c->busy = false;
    }
    if (!c->broken) {
        c->broken = true;
        shutdown(c->fd, SHUT_RDWR);
    }
}

static void conn_complete(struct ol *ol, struct conn *c, uint64_t now) {
    /* now >= intended_ns: a request is issued only once due (0 guards float rounding). */
    hist_record(&ol->hist, now > c->intended_ns ? now - c->intended_ns : 0);
    ol->completed++;
    if (now <= ol->t_end)
        ol->in_window++;
    if (c->status < 200 || c->status >= 400)
        ol->status_errors++;
    c->busy = false;
    c->state = ST_DONE;
    if (c->close_after || c->len > 0) /* the server closes, or sent extra bytes */
        conn_fail(ol, c);
}

/* Once no op is in flight and the request is accounted: reopen if needed and
 * put c back on the free list. */
static void conn_settle(struct ol *ol, unsigned idx) {
    struct conn *c = &ol->conns[idx];
    if (c->ops > 0 || c->busy)
        return;
    if (c->broken) {
        close(c->fd);
        c->fd = -1;
        int rc = -ENOBUFS;
        if (ol->reconnects < OL_RECONNECTS_MAX) {
            ol->reconnects++;
            rc = conn_open(ol, c);
        }
        if (rc < 0) {
            if (ol->ndead == 0)
                fprintf(stderr, "openloop: reconnect failed: %s\n", strerror(-rc));
            c->dead = true;
            ol->ndead++;
            return;
        }
    }
    ol->free_list[ol->nfree++] = idx;
}

/* ---- response parsing -------------------------------------------------------------- */

static bool header_is(const char *line, size_t len, const char *name, const char **value,
                      size_t *value_len) {
    size_t n = strlen(name);
    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
        return false;
    const char *v = line + n + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *value = v;
    *value_len = (size_t)(end - v);
    return true;
}

static bool contains_token(const char *v, size_t len, const char *tok) {
    size_t n = strlen(tok);
    for (size_t i = 0; i + n <= len; i++)
        if (strncasecmp(v + i, tok, n) == 0)
            return true;
    return false;
}

/* Parse a response head p[0..len) (ending with its last header's CRLF) and set
 * c->state for the body. Returns 0 or -1 (malformed). */
static int head_parse(struct ol *ol, struct conn *c, const char *p, size_t len) {
    if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
        return -1;
    int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (status < 100 || status > 999)
        return -1;
    bool http10 = p[7] == '0', chunked = false, has_len = false, keep_alive = false;
    uint64_t clen = 0;
    const char *line = memchr(p, '\n', len);
    while (line && (size_t)(++line - p) < len) {
        const char *eol = memchr(line, '\n', len - (size_t)(line - p));
        if (!eol)
            break;
        size_t ll = (size_t)(eol - line);
        if (ll > 0 && line[ll - 1] == '\r')
            ll--;
        const char *v;
        size_t vl;
        if (header_is(line, ll, "content-length", &v, &vl)) {
            char *end;
            clen = strtoull(v, &end, 10);
            if (end != v + vl || vl == 0)
                return -1;
            has_len = true;
        } else if (header_is(line, ll, "transfer-encoding", &v, &vl)) {
            chunked = contains_token(v, vl, "chunked");
        } else if (header_is(line, ll, "connection", &v, &vl)) {
            if (contains_token(v, vl, "close"))
                c->close_after = true;
            keep_alive = contains_token(v, vl, "keep-alive");
        }
        line = eol;
    }
    if (http10 && !keep_alive)
        c->close_after = true;
    c->status = status;
    if (status < 200) { /* interim (100 Continue): the real head follows */
        c->close_after = false;
        c->state = ST_HEAD;
    } else if (ol->head_method || status == 204 || status == 304) {
        c->state = ST_DONE;
    } else if (chunked) {
        c->state = ST_CHUNK_SIZE;
    } else if (has_len) {
        c->remaining = clen;
        c->state = clen ? ST_BODY_LEN : ST_DONE;
    } else {
        c->close_after = true;
        c->state = ST_UNTIL_CLOSE;
    }
    return 0;
}

/* One step of the chunked-body states on p[0..avail). Returns bytes consumed,
 * 0 when more input is needed, or -1 (malformed). */
static long chunk_step(struct conn *c, const char *p, size_t avail) {
    const char *eol;
    size_t n;
    switch (c->state) {
    case ST_CHUNK_SIZE: {
        eol = memmem(p, avail, "\r\n", 2);
        if (!eol)
            return avail >= OL_LINE_BYTES_MAX ? -1 : 0;
        char *end;
        c->remaining = strtoull(p, &end, 16);
        if (end == p || (end < eol && *end != ';' && *end != ' ' && *end != '\t'))
            return -1;
        c->state = c->remaining ? ST_CHUNK_DATA : ST_TRAILER;
        return eol - p + 2;
    }
    case ST_CHUNK_DATA:
        n = avail < c->remaining ? avail : (size_t)c->remaining;
        c->remaining -= n;
        if (c->remaining == 0)
            c->state = ST_CHUNK_CRLF;
        return (long)n;
    case ST_CHUNK_CRLF:
        if (avail < 2)
            return 0;
        if (p[0] != '\r' || p[1] != '\n')
            return -1;
        c->state = ST_CHUNK_SIZE;
        return 2;
    case ST_TRAILER: /* trailer lines, then the empty line */
        eol = memmem(p, avail, "\r\n", 2);
        if (!eol)
            return avail >= OL_LINE_BYTES_MAX ? -1 : 0;
        if (eol == p)
            c->state = ST_DONE;
        return eol - p + 2;
    default: return -1;
    }
}

/* Consume what c->buf holds. Returns 1 (response complete), 0 (need more) or
 * -1 (malformed or too large). Consumed bytes are removed from c->buf. */
static int resp_feed(struct ol *ol, struct conn *c) {
    size_t pos = 0;
    int rc = 0;
    while (rc == 0) {
        const char *p = c->buf + pos;
        size_t avail = c->len - pos;
        long used;
        if (c->state == ST_HEAD) {
            const char *end = memmem(p, avail, "\r\n\r\n", 4);
            if (!end) {
                if (avail >= OL_RECV_BYTES)
                    rc = -1;
                break;
            }
            if (head_parse(ol, c, p, (size_t)(end - p) + 2) < 0)
                rc = -1;
            used = end - p + 4;
        } else if (c->state == ST_BODY_LEN) {
            used = (long)(avail < c->remaining ? avail : c->remaining);
            c->remaining -= (uint64_t)used;
            if (c->remaining == 0)
                c->state = ST_DONE;
        } else if (c->state == ST_UNTIL_CLOSE) {
            used = (long)avail;
        } else {
            used = chunk_step(c, p, avail);
            if (used < 0)
                rc = -1;
        }
        if (rc == 0 && c->state == ST_DONE)
            rc = 1;
        if (rc < 0 || (rc == 0 && used == 0))
            break;
        pos += (size_t)used;
    }
    if (rc >= 0) {
        memmove(c->buf, c->buf + pos, c->len - pos);
        c->len -= (uint32_t)pos;
    }
    return rc;
}

/* ---- completions -------------------------------------------------------------------- */

static void on_send(struct ol *ol, unsigned idx, int res) {
    struct conn *c = &ol->conns[idx];
    if (c->broken)
        return;
    if (res <= 0) {
        conn_fail(ol, c);
        return;
    }
    c->sent += (uint32_t)res;
    if (c->sent < ol->req_len) /* short send: the rest */
        queue_send(ol, idx);
}

static void on_recv(struct ol *ol, unsigned idx, int res, uint64_t now) {
    struct conn *c = &ol->conns[idx];
    if (c->broken)
        return;
    if (res == 0 && c->busy && c->state == ST_UNTIL_CLOSE) {
        conn_complete(ol, c, now); /* the body ended with the connection */
        return;
    }
    if (res <= 0 || !c->busy) {
        conn_fail(ol, c);
        return;
    }
    c->len += (uint32_t)res;
    int rc = resp_feed(ol, c);
    if (rc > 0)
        conn_complete(ol, c, now);
    else if (rc == 0)
        queue_recv(ol, idx);
    else
        conn_fail(ol, c);
}

static void reap(struct ol *ol) {
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    uint64_t now = now_ns();
    io_uring_for_each_cqe(&ol->ring, head, cqe) {
        n++;
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        if (ud == LIBURING_UDATA_TIMEOUT) /* liburing's own wait timeout */
            continue;
        unsigned idx = (unsigned)(ud >> 1);
        if (idx >= ol->nconns)
            abort();
        struct conn *c = &ol->conns[idx];
        if (c->ops == 0)
            abort();
        c->ops--;
        if (ud & 1)
            on_recv(ol, idx, cqe->res, now);
        else
            on_send(ol, idx, cqe->res);
        conn_settle(ol, idx);
    }
    io_uring_cq_advance(&ol->ring, n);
}

/* ---- the run -------------------------------------------------------------------------- */

/* Hand every due request to a free connection, then submit and wait for a
 * completion or the next request's time. Ends when every scheduled request
 * is accounted, at the drain deadline, or when no connection is left. */
static int run(struct ol *ol) {
    uint64_t deadline = ol->t_end + OL_DRAIN_NS;
    for (;;) { /* bounded by deadline */
        uint64_t now = now_ns();
        uint64_t due = 0;
        if (now >= ol->t0) {
            due = (uint64_t)((double)(now - ol->t0) * ol->rate / 1e9) + 1;
            if (due > ol->scheduled)
                due = ol->scheduled;
        }
        while (ol->issued < due && ol->nfree > 0)
            conn_issue(ol, ol->free_list[--ol->nfree], ol->issued++);
        uint64_t failed = ol->io_errors; /* requests accounted so far */
        if (ol->completed + failed >= ol->scheduled || now >= deadline)
            break;
        if (ol->ndead == ol->nconns) {
            fprintf(stderr, "openloop: every connection failed\n");
            break;
        }
        uint64_t wake = deadline;
        if (ol->issued == due && ol->issued < ol->scheduled) {
            uint64_t next = intended(ol, ol->issued);
            if (next < wake)
                wake = next;
        }
        uint64_t wait = wake > now ? wake - now : 0;
        struct __kernel_timespec ts = {.tv_sec = (long long)(wait / 1000000000ull),
                                       .tv_nsec = (long long)(wait % 1000000000ull)};
        struct io_uring_cqe *cqe;
        int rc = io_uring_submit_and_wait_timeout(&ol->ring, &cqe, 1, &ts, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            fprintf(stderr, "openloop: io_uring wait: %s\n", strerror(-rc));
            return rc;
        }
        reap(ol);
    }
    return 0;
}

static void print_result(const struct ol *ol, double secs) {
    uint64_t accounted = ol->completed + ol->io_errors;
    uint64_t incomplete = ol->scheduled > accounted ? ol->scheduled - accounted : 0;
    uint64_t errors = ol->status_errors + ol->io_errors + incomplete;
    printf("{\"rate_target\":%.1f,\"rate_achieved\":%.1f,\"requests\":%llu,\"errors\":%llu",
           ol->rate, (double)ol->in_window / secs, (unsigned long long)ol->completed,
           (unsigned long long)errors);
    static const struct {
        const char *name;
        double p;
    } pct[] = {{"p50_us", 50}, {"p90_us", 90}, {"p99_us", 99}, {"p999_us", 99.9}};
    for (size_t i = 0; i < sizeof pct / sizeof pct[0]; i++) {
        if (ol->hist.n)
            printf(",\"%s\":%.1f", pct[i].name, hist_percentile(&ol->hist, pct[i].p) / 1e3);
        else
            printf(",\"%s\":null", pct[i].name);
    }
    if (ol->hist.n)
        printf(",\"max_us\":%.1f", (double)ol->hist.max / 1e3);
    else
        printf(",\"max_us\":null");
    printf(",\"scheduled\":%llu,\"incomplete\":%llu,\"status_errors\":%llu,\"io_errors\":%llu,"
           "\"connections\":%u,\"duration_s\":%g}\n",
           (unsigned long long)ol->scheduled, (unsigned long long)incomplete,
           (unsigned long long)ol->status_errors, (unsigned long long)ol->io_errors, ol->nconns,
           secs);
    fflush(stdout);
}

/* ---- setup ------------------------------------------------------------------------------ */

static void usage(void) {
    fprintf(stderr, "usage: openloop -c CONNS -r RATE -d SECONDS [-H 'Name: value']...\n"
                    "                [-m METHOD] [-b BODYFILE] http://IPv4[:PORT][/PATH]\n");
    exit(2);
}

/* Split http://A.B.C.D[:PORT][/PATH] into ol->addr, host (for Host:) and path. */
static int parse_url(struct ol *ol, const char *url, char *host, size_t host_size,
                     const char **path) {
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7;
    *path = strchr(h, '/');
    size_t hl = *path ? (size_t)(*path - h) : strlen(h);
    if (!*path)
        *path = "/";
    if (hl == 0 || hl >= host_size)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char ip[64];
    unsigned long port = 80;
    const char *colon = strchr(host, ':');
    size_t il = colon ? (size_t)(colon - host) : hl;
    if (il >= sizeof ip)
        return -1;
    memcpy(ip, host, il);
    ip[il] = '\0';
    if (colon) {
        char *end;
        port = strtoul(colon + 1, &end, 10);
        if (*end || port == 0 || port > 65535)
            return -1;
    }
    ol->addr.sin_family = AF_INET;
    ol->addr.sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, ip, &ol->addr.sin_addr) == 1 ? 0 : -1;
}

/* Read the body file (at most OL_REQUEST_BYTES_MAX / 2). Returns its length or -1. */
static long read_body(const char *path, char **out) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = OL_REQUEST_BYTES_MAX / 2;
    char *b = malloc(cap + 1);
    size_t n = b ? fread(b, 1, cap + 1, f) : 0;
    bool bad = !b || ferror(f) || n > cap;
    fclose(f);
    if (bad) {
        free(b);
        return -1;
    }
    *out = b;
    return (long)n;
}

/* Build the request once. Returns 0 or -1 (too large). */
static int build_request(struct ol *ol, const char *method, const char *host, const char *path,
                         const char **headers, unsigned nheaders, const char *body, long body_len) {
    char *req = malloc(OL_REQUEST_BYTES_MAX);
    if (!req)
        return -1;
    size_t cap = OL_REQUEST_BYTES_MAX, n = 0;
    bool has_host = false;
    for (unsigned i = 0; i < nheaders; i++)
        has_host |= strncasecmp(headers[i], "host:", 5) == 0;
    int w = snprintf(req, cap, "%s %s HTTP/1.1\r\n", method, path);
    n += (size_t)w;
    if (!has_host && n < cap)
        n += (size_t)snprintf(req + n, cap - n, "Host: %s\r\n", host);
    for (unsigned i = 0; i < nheaders && n < cap; i++)
        n += (size_t)snprintf(req + n, cap - n, "%s\r\n", headers[i]);
    if (body && n < cap)
        n += (size_t)snprintf(req + n, cap - n, "Content-Length: %ld\r\n", body_len);
    if (n < cap)
        n += (size_t)snprintf(req + n, cap - n, "\r\n");
    if (n + (size_t)(body ? body_len : 0) >= cap) {
        free(req);
        return -1;
    }
    if (body)
        memcpy(req + n, body, (size_t)body_len);
    ol->req = req;
    ol->req_len = (uint32_t)(n + (size_t)(body ? body_len : 0));
    return 0;
}

/* The best ring flags the kernel accepts, as core/uring.c probes them. */
static int ring_init(struct ol *ol) {
    unsigned entries = 8;
    while (entries < 2 * ol->nconns + 8)
        entries *= 2;
    static const unsigned flag_sets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
        rc = io_uring_queue_init(entries, &ol->ring, flag_sets[i]);
        if (rc == 0)
            return 0;
    }
    return rc;
}

int main(int argc, char **argv) {
    static struct ol ol_storage; /* the histogram is 58 KiB: not on the stack */
    struct ol *ol = &ol_storage;
    const char *headers[OL_HEADERS_MAX], *method = "GET", *body_path = NULL;
    unsigned nheaders = 0;
    long conns = 0;
    double rate = 0, secs = 0;
    int opt;
    while ((opt = getopt(argc, argv, "c:r:d:H:m:b:")) != -1) {
        switch (opt) {
        case 'c': conns = strtol(optarg, NULL, 10); break;
        case 'r': rate = strtod(optarg, NULL); break;
        case 'd': secs = strtod(optarg, NULL); break;
        case 'H':
            if (nheaders == OL_HEADERS_MAX || strpbrk(optarg, "\r\n"))
                usage();
            headers[nheaders++] = optarg;
            break;
        case 'm': method = optarg; break;
        case 'b': body_path = optarg; break;
        default: usage();
        }
    }
    if (optind != argc - 1 || conns < 1 || conns > (long)OL_CONNS_MAX || !(rate > 0) ||
        rate > OL_RATE_MAX || !(secs > 0) || secs > OL_SECONDS_MAX)
        usage();
    char host[256];
    const char *path;
    if (parse_url(ol, argv[optind], host, sizeof host, &path) < 0) {
        fprintf(stderr, "openloop: URL must be http://IPv4[:PORT][/PATH]\n");
        return 2;
    }
    char *body = NULL;
    long body_len = 0;
    if (body_path && (body_len = read_body(body_path, &body)) < 0) {
        fprintf(stderr, "openloop: cannot read %s (or over %u bytes)\n", body_path,
                OL_REQUEST_BYTES_MAX / 2);
        return 2;
    }
    if (build_request(ol, method, host, path, headers, nheaders, body, body_len) < 0) {
        fprintf(stderr, "openloop: request too large\n");
        return 2;
    }
    free(body);
    ol->head_method = strcmp(method, "HEAD") == 0;
    ol->rate = rate;
    ol->scheduled = (uint64_t)(rate * secs);
    if (ol->scheduled == 0)
        ol->scheduled = 1;
    ol->nconns = (unsigned)conns;
    ol->conns = calloc(ol->nconns, sizeof *ol->conns);
    ol->free_list = calloc(ol->nconns, sizeof *ol->free_list);
    if (!ol->conns || !ol->free_list) {
        fprintf(stderr, "openloop: out of memory\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake at the intended times, not 50 µs late */
    int rc = ring_init(ol);
    if (rc < 0) {
        fprintf(stderr, "openloop: io_uring: %s\n", strerror(-rc));
        return 1;
    }
    for (unsigned i = 0; i < ol->nconns; i++) {
        rc = conn_open(ol, &ol->conns[i]);
        if (rc < 0) {
            fprintf(stderr, "openloop: connect: %s\n", strerror(-rc));
            return 1;
        }
        ol->free_list[ol->nfree++] = i;
    }
    ol->t0 = now_ns() + OL_START_DELAY_NS;
    ol->t_end = ol->t0 + (uint64_t)(secs * 1e9);
    rc = run(ol);
    print_result(ol, secs);
    return rc < 0 ? 1 : 0;
}
