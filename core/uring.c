/* uring.c — see uring.h. */
#include "core/uring.h"

#include "core/ring.h"

#include "core/assert.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int fc_uring_init(struct io_uring *ring, unsigned entries, struct fc_uring_features *out) {
    static const unsigned flag_sets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        0,
    };
    memset(out, 0, sizeof(*out));
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
        struct io_uring_params p = {.flags = flag_sets[i] | IORING_SETUP_CQSIZE,
                                    .cq_entries = entries * 4};
        rc = io_uring_queue_init_params(entries, ring, &p);
        if (rc == 0) {
            out->single_issuer = (flag_sets[i] & IORING_SETUP_SINGLE_ISSUER) != 0;
            out->coop_taskrun = (flag_sets[i] & IORING_SETUP_COOP_TASKRUN) != 0;
            break;
        }
        if (rc != -EINVAL)
            return rc;
    }
    if (rc < 0)
        return rc;
    struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
    if (probe != NULL) {
        /* Multishot flavours have no opcode of their own; they arrived with
         * IORING_OP_SOCKET (5.19), so that opcode stands for them. */
        bool ms = io_uring_opcode_supported(probe, IORING_OP_SOCKET);
        out->accept_multishot = ms;
        out->recv_multishot = ms;
        out->msg_ring = io_uring_opcode_supported(probe, IORING_OP_MSG_RING);
        io_uring_free_probe(probe);
    }
    return 0;
}

int fc_uring_bufs_init(struct io_uring *ring, struct fc_uring_bufs *bufs, uint16_t bgid,
                       uint32_t count, uint32_t size) {
    FC_ASSERT(count > 0 && (count & (count - 1)) == 0 && count <= 32768);
    memset(bufs, 0, sizeof(*bufs));
    size_t ring_bytes = count * sizeof(struct io_uring_buf);
    void *br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (br == MAP_FAILED)
        return -errno;
    char *base = malloc((size_t)count * size);
    if (base == NULL) {
        munmap(br, ring_bytes);
        return -ENOMEM;
    }
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)br, .ring_entries = count, .bgid = bgid};
    int rc = io_uring_register_buf_ring(ring, &reg, 0);
    if (rc < 0) {
        free(base);
        munmap(br, ring_bytes);
        return rc;
    }
    bufs->br = br;
    bufs->base = base;
    bufs->count = count;
    bufs->size = size;
    bufs->bgid = bgid;
    io_uring_buf_ring_init(bufs->br);
    for (uint32_t i = 0; i < count; i++)
        io_uring_buf_ring_add(bufs->br, fc_uring_buf_addr(bufs, (uint16_t)i), size, (uint16_t)i,
                              io_uring_buf_ring_mask(count), (int)i);
    io_uring_buf_ring_advance(bufs->br, (int)count);
    return 0;
}

void fc_uring_bufs_destroy(struct io_uring *ring, struct fc_uring_bufs *bufs) {
    if (bufs->br == NULL)
        return;
    io_uring_unregister_buf_ring(ring, bufs->bgid);
    munmap(bufs->br, bufs->count * sizeof(struct io_uring_buf));
    free(bufs->base);
    memset(bufs, 0, sizeof(*bufs));
}

struct io_uring_sqe *fc_uring_sqe(struct io_uring *ring) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (sqe == NULL) {
        io_uring_submit(ring);
        sqe = io_uring_get_sqe(ring);
    }
    FC_ASSERT(sqe != NULL);
    return sqe;
}

int fc_uring_wait(struct io_uring *ring, uint64_t now_ms, uint64_t until_ms) {
    struct __kernel_timespec ts = {0}, *tsp = NULL;
    if (until_ms != UINT64_MAX) {
        uint64_t wait_ms = until_ms > now_ms ? until_ms - now_ms : 0;
        ts.tv_sec = (long long)(wait_ms / 1000);
        ts.tv_nsec = (long long)(wait_ms % 1000) * 1000000;
        tsp = &ts;
    }
    struct io_uring_cqe *cqe;
    int rc = io_uring_submit_and_wait_timeout(ring, &cqe, 1, tsp, NULL);
    return rc >= 0 || rc == -ETIME || rc == -EINTR || rc == -EBUSY ? 0 : rc;
}

void fc_waker_init(struct fc_waker *w, int efd) {
    atomic_init(&w->sleeping, 0);
    atomic_init(&w->ring_fd, -1);
    w->efd = efd;
}

void fc_waker_ring(struct fc_waker *w, const struct io_uring *ring,
                   const struct fc_uring_features *f) {
    /* Release: a producer that reads the fd may use it at once. */
    atomic_store_explicit(&w->ring_fd, f->msg_ring ? ring->ring_fd : -1, memory_order_release);
}

void fc_waker_wake(struct fc_waker *w, struct io_uring *from) {
    if (!fc_sleep_check(&w->sleeping))
        return;
    int ring_fd = atomic_load_explicit(&w->ring_fd, memory_order_acquire);
    if (from != NULL && ring_fd >= 0) {
        struct io_uring_sqe *sqe = fc_uring_sqe(from);
        io_uring_prep_msg_ring(sqe, ring_fd, 0, FC_URING_WAKE_MSG, 0);
        /* A failure posts a CQE on our ring with this user_data: ignored too. */
        io_uring_sqe_set_data64(sqe, FC_URING_WAKE_MSG);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        return;
    }
    uint64_t one = 1;
    if (write(w->efd, &one, sizeof(one)) < 0)
        return; /* the counter is full: the sleeper has a wake-up pending anyway */
}
