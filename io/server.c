/* server.c — io threads: listening sockets, the io_uring event loop, accept,
 * wake-ups and drain. The connection state machine is in conn.c. */
#include "io/server.h"

#include "core/limits.h"
#include "core/log.h"
#include "io/io_thread.h"

#include <arpa/inet.h>
#include "core/assert.h"
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING_ENTRIES 4096
#define ACCEPT_RETRY_MS 100 /* after EMFILE/ENFILE: let fds free up */
#define BUF_GROUP_ID 1

struct fc_server {
    const struct fc_config *cfg;
    struct fc_sched *sched;
    uint32_t threads_count;
    struct fc_io *threads;
    /* Set by the main thread, read by io threads after their eventfd fires;
     * the eventfd write/read orders them, so relaxed would do, but drain is
     * rare and seq_cst costs nothing here. */
    _Atomic bool drain;
    _Atomic bool stop;
    _Atomic uint32_t threads_running;
};

uint64_t fc_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- listening sockets -------------------------------------------------------- */

static int listen_socket(const struct sockaddr_storage *addr,
                         socklen_t len) {
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (addr->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)addr, len) < 0 || listen(fd, SOMAXCONN) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

/* SO_REUSEPORT would let a second fcd (same uid) join our port and take
 * half the connections without a word. A plain bind first fails with
 * EADDRINUSE when anyone holds the address. */
static int address_free(const struct sockaddr_storage *addr, socklen_t len) {
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    int rc = bind(fd, (const struct sockaddr *)addr, len) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* Open every thread's socket; the first one resolves port 0 for the rest. */
static int listen_all(struct fc_server *s) {
    struct sockaddr_storage addr = s->cfg->listen_addr;
    socklen_t len = s->cfg->listen_addr_len;
    int rc = address_free(&addr, len);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < s->threads_count; i++) {
        int fd = listen_socket(&addr, len);
        if (fd < 0)
            return fd;
        s->threads[i].listen_fd = fd;
        if (i == 0)
            getsockname(fd, (struct sockaddr *)&addr, &len);
    }
    char host[INET6_ADDRSTRLEN];
    const void *ip = addr.ss_family == AF_INET6
                         ? (const void *)&((struct sockaddr_in6 *)&addr)->sin6_addr
                         : (const void *)&((struct sockaddr_in *)&addr)->sin_addr;
    inet_ntop(addr.ss_family, ip, host, sizeof(host));
    unsigned port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
    FC_LOG_INFO(addr.ss_family == AF_INET6 ? "listening on [%s]:%u" : "listening on %s:%u", host,
                port);
    return 0;
}

/* ---- per-thread setup --------------------------------------------------------- */

static int io_init(struct fc_io *io) {
    const struct fc_config *cfg = io->cfg;
    int rc = fc_uring_init(&io->ring, RING_ENTRIES, &io->features);
    if (rc < 0)
        return rc;
    io->basic = cfg->http.uring_basic || !io->features.recv_multishot;
    if (!io->basic && fc_uring_bufs_init(&io->ring, &io->bufs, BUF_GROUP_ID, FC_RECV_BUFS,
                                         FC_RECV_BUF_BYTES) < 0)
        io->basic = true;
    io->limits = (struct fc_http_limits){cfg->http.head_bytes_max, cfg->http.headers_max};
    io->headers = calloc(cfg->http.headers_max, sizeof(*io->headers));
    io->conns = calloc(cfg->http.connections_max, sizeof(*io->conns));
    io->auth = malloc(sizeof(*io->auth));
    io->areqs = calloc(FC_ASYNC_REQS_MAX, sizeof(*io->areqs));
    if (io->headers == NULL || io->conns == NULL || io->auth == NULL || io->areqs == NULL)
        return -ENOMEM;
    for (uint32_t i = FC_ASYNC_REQS_MAX; i-- > 0;) {
        io->areqs[i].next_free = io->free_areqs;
        io->free_areqs = &io->areqs[i];
    }
    rc = fc_reqid_init(&io->reqid);
    if (rc < 0)
        return rc;
    rc = fc_inv_pool_init(&io->invs, io->sched, io->index);
    if (rc < 0)
        return rc;
    fc_sched_io_register(io->sched, io->index, io->wake_fd, &io->ring, &io->features);
    io->now_ms = fc_now_us() / 1000;
    fc_wheel_init(&io->wheel, io->now_ms);
    return 0;
}

static void io_destroy(struct fc_io *io) {
    if (io->ring.ring_fd > 0) {
        fc_uring_bufs_destroy(&io->ring, &io->bufs);
        io_uring_queue_exit(&io->ring);
    }
    if (io->wake_fd >= 0)
        close(io->wake_fd);
    if (io->listen_fd >= 0)
        close(io->listen_fd);
    io->wake_fd = io->listen_fd = -1;
    for (uint32_t i = 0; i < io->spare_count; i++)
        fc_buf_free(&io->spare[i]);
    free(io->headers);
    free(io->conns);
    fc_inv_pool_destroy(&io->invs);
    free(io->auth);
    fc_buf_free(&io->scratch);
    for (uint32_t i = 0; io->areqs && i < FC_ASYNC_REQS_MAX; i++) {
        fc_buf_free(&io->areqs[i].payload);
        if (io->areqs[i].fn != NULL) /* its answer never came back (stopped) */
            fc_function_unref(io->areqs[i].fn);
    }
    free(io->areqs);
}

static void log_features(const struct fc_io *io) {
    FC_LOG_INFO("io_uring: %s, %s, %s (kernel features probed at start)",
                io->features.single_issuer ? "SINGLE_ISSUER+DEFER_TASKRUN"
                : io->features.coop_taskrun ? "COOP_TASKRUN"
                                            : "no task-run flags",
                io->basic ? "single-shot accept" : "multishot accept",
                io->basic ? "poll+recv (basic mode)" : "multishot recv with a provided buffer ring");
}

/* ---- operations --------------------------------------------------------------- */

static void arm_accept(struct fc_io *io) {
    struct io_uring_sqe *sqe = fc_uring_sqe(&io->ring);
    if (io->basic)
        io_uring_prep_accept(sqe, io->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    else
        io_uring_prep_multishot_accept(sqe, io->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, fc_op_data(io, FC_OP_ACCEPT));
    io->accept_armed = true;
}

static void accept_retry_cb(struct fc_wheel_entry *e) {
    struct fc_io *io = (struct fc_io *)((char *)e - offsetof(struct fc_io, accept_retry));
    if (!io->draining && !io->accept_armed)
        arm_accept(io);
}

static void on_accept(struct fc_io *io, int res, uint32_t flags) {
    if (io->basic || !(flags & IORING_CQE_F_MORE))
        io->accept_armed = false;
    if (res >= 0)
        fc_conn_accepted(io, res);
    else if (res == -EMFILE || res == -ENFILE || res == -ENOMEM || res == -ENOBUFS)
        FC_LOG_WARN("accept: %s; retrying in %d ms", strerror(-res), ACCEPT_RETRY_MS);
    if (io->draining || io->accept_armed)
        return;
    if (res < 0 && res != -EINTR && res != -ECONNABORTED) {
        if (!fc_wheel_is_linked(&io->accept_retry))
            fc_wheel_link(&io->wheel, &io->accept_retry, io->now_ms + ACCEPT_RETRY_MS);
    } else {
        arm_accept(io);
    }
}

static void arm_wake(struct fc_io *io) {
    struct io_uring_sqe *sqe = fc_uring_sqe(&io->ring);
    io_uring_prep_read(sqe, io->wake_fd, &io->wake_value, sizeof(io->wake_value), 0);
    io_uring_sqe_set_data64(sqe, fc_op_data(io, FC_OP_WAKE));
}

static void on_wake(struct fc_io *io) {
    struct fc_server *s = io->server;
    if (atomic_load(&s->stop) && !io->stopping) {
        io->stopping = true;
        fc_conn_close_all(io);
    }
    if (atomic_load(&s->drain) && !io->draining) {
        io->draining = true;
        /* Shutting the listener down completes its accept (-EINVAL); the
         * kernel stops queueing new connections for this socket. */
        shutdown(io->listen_fd, SHUT_RDWR);
        fc_wheel_unlink(&io->accept_retry);
        fc_conn_drain_all(io);
    }
    arm_wake(io);
}

static void handle_cqe(struct fc_io *io, const struct io_uring_cqe *cqe) {
    uint64_t data = cqe->user_data;
    if (data == FC_URING_WAKE_MSG)
        return; /* a worker's MSG_RING: the loop polls its rings anyway */
    void *ptr = (void *)(uintptr_t)(data & ~(uint64_t)FC_OP_MASK);
    switch ((enum fc_op)(data & FC_OP_MASK)) {
    case FC_OP_ACCEPT: on_accept(io, cqe->res, cqe->flags); break;
    case FC_OP_WAKE: on_wake(io); break;
    case FC_OP_RECV: fc_conn_on_recv(ptr, cqe->res, cqe->flags); break;
    case FC_OP_SEND: fc_conn_on_send(ptr, cqe->res); break;
    default: FC_ASSERT(!"unknown io_uring operation");
    }
}

/* ---- the loop ----------------------------------------------------------------- */

/* Answer the invocations workers finished for this thread, and the async
 * requests the store thread committed. */
static void take_completions(struct fc_io *io) {
    struct fc_invocation *done[64];
    uint32_t n;
    while ((n = fc_sched_poll(io->sched, io->index, done, 64)) > 0)
        for (uint32_t i = 0; i < n; i++)
            fc_conn_on_invocation(done[i]->conn, done[i]);
    struct fc_async_req *acks[64];
    while (io->async != NULL && (n = fc_async_poll(io->async, io->index, acks, 64)) > 0)
        for (uint32_t i = 0; i < n; i++)
            fc_conn_on_async(acks[i]->conn, acks[i]);
    struct fc_ctl_req *answers[16];
    while ((n = fc_ctl_poll(io->ctl, io->index, answers, 16)) > 0)
        for (uint32_t i = 0; i < n; i++)
            fc_conn_on_ctl(answers[i]->conn, answers[i]);
}

static void io_loop(struct fc_io *io) {
    arm_wake(io);
    arm_accept(io);
    /* Endless until drained: every iteration submits, waits for at least one
     * completion or the next timer, and handles all completions in a batch. */
    for (;;) {
        io->now_ms = fc_now_us() / 1000;
        fc_wheel_run(&io->wheel, io->now_ms);
        take_completions(io);
        fc_log_flush();
        if ((io->draining && io->conns_open == 0) || io->stopping)
            break;
        /* With completions already waiting, just poll. */
        bool may_sleep = fc_sched_io_may_sleep(io->sched, io->index) &&
                         (io->async == NULL || !fc_async_pending(io->async, io->index)) &&
                         !fc_ctl_pending(io->ctl, io->index);
        uint64_t until = may_sleep ? fc_wheel_next_ms(&io->wheel) : io->now_ms;
        int rc = fc_uring_wait(&io->ring, io->now_ms, until);
        fc_sched_io_awake(io->sched, io->index);
        if (rc < 0) {
            FC_LOG_ERROR("io_uring wait: %s", strerror(-rc));
            break;
        }
        io->now_ms = fc_now_us() / 1000;
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&io->ring, head, cqe) {
            handle_cqe(io, cqe);
            seen++;
        }
        io_uring_cq_advance(&io->ring, seen);
    }
}

static void *io_main(void *arg) {
    struct fc_io *io = arg;
    char name[16];
    snprintf(name, sizeof(name), "io-%u", io->index);
    fc_log_thread_set(name);
    pthread_setname_np(pthread_self(), name);
    if (fc_sched_pin(io->cfg, io->index) < 0)
        FC_LOG_WARN("cannot set the scheduling of %s (SCHED_BATCH, pinning)", name);
    /* The ring is created here: SINGLE_ISSUER binds it to this thread. */
    int rc = io_init(io);
    if (rc < 0) {
        FC_LOG_ERROR("io thread setup failed: %s", strerror(-rc));
        exit(1); /* the server cannot run with a thread missing */
    }
    if (io->index == 0)
        log_features(io);
    fc_wheel_entry_init(&io->accept_retry, accept_retry_cb);
    io_loop(io);
    fc_registry_view_release(&io->view);
    fc_log_flush();
    atomic_fetch_sub(&io->server->threads_running, 1);
    return NULL;
}

/* ---- public ------------------------------------------------------------------- */

int fc_server_start(const struct fc_config *cfg, struct fc_sched *sched, struct fc_async *async,
                    struct fc_ctl *ctl, struct fc_server **out) {
    struct fc_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->cfg = cfg;
    s->sched = sched;
    s->threads_count = cfg->io_threads;
    s->threads = calloc(s->threads_count, sizeof(*s->threads));
    if (s->threads == NULL) {
        free(s);
        return -ENOMEM;
    }
    int rc = 0;
    for (uint32_t i = 0; i < s->threads_count; i++) {
        /* The eventfd exists before the thread, so a drain can never miss it. */
        int wake_fd = eventfd(0, EFD_CLOEXEC);
        s->threads[i] = (struct fc_io){.server = s, .cfg = cfg, .index = i, .listen_fd = -1,
                                       .wake_fd = wake_fd, .sched = sched, .async = async,
                                       .ctl = ctl, .registry = fc_sched_registry(sched)};
        if (wake_fd < 0)
            rc = -errno;
    }
    if (rc == 0)
        rc = listen_all(s);
    for (uint32_t i = 0; rc == 0 && i < s->threads_count; i++) {
        atomic_fetch_add(&s->threads_running, 1);
        rc = -pthread_create(&s->threads[i].thread, NULL, io_main, &s->threads[i]);
        if (rc < 0) {
            atomic_fetch_sub(&s->threads_running, 1);
            for (uint32_t j = i; j < s->threads_count; j++)
                io_destroy(&s->threads[j]);
            s->threads_count = i; /* join only what started */
        }
    }
    if (rc < 0) {
        fc_server_drain(s);
        fc_server_join(s, 1000);
        fc_server_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void wake_all(struct fc_server *s) {
    uint64_t one = 1;
    for (uint32_t i = 0; i < s->threads_count; i++)
        if (s->threads[i].wake_fd >= 0 && write(s->threads[i].wake_fd, &one, sizeof(one)) < 0)
            FC_LOG_WARN("wake io-%u: %s", i, strerror(errno));
}

void fc_server_drain(struct fc_server *s) {
    atomic_store(&s->drain, true);
    wake_all(s);
}

int fc_server_join(struct fc_server *s, uint32_t grace_ms) {
    uint64_t deadline = fc_now_us() / 1000 + grace_ms;
    int rc = 0;
    while (atomic_load(&s->threads_running) > 0) {
        if (fc_now_us() / 1000 >= deadline) {
            atomic_store(&s->stop, true);
            wake_all(s);
            rc = -ETIMEDOUT;
            break;
        }
        usleep(10000);
    }
    for (uint32_t i = 0; i < s->threads_count; i++)
        pthread_join(s->threads[i].thread, NULL);
    return rc;
}

void fc_server_destroy(struct fc_server *s) {
    for (uint32_t i = 0; i < s->threads_count; i++)
        io_destroy(&s->threads[i]);
    free(s->threads);
    free(s);
}
