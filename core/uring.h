/* uring.h — io_uring setup for fcd's threads, with what liburing 2.3 lacks.
 *
 * fc_uring_init probes the kernel and picks the best ring flags it accepts:
 * SINGLE_ISSUER + DEFER_TASKRUN (6.1+), else COOP_TASKRUN (5.19+), else none
 * (any 5.x), and records which it got so the caller can log it once.
 * fc_uring_buf_ring_* wrap a provided-buffer ring (kernel 5.19+), mapped by
 * hand because liburing 2.3 has no io_uring_setup_buf_ring.
 *
 * One ring per thread; these calls are made by the owning thread. */
#ifndef FC_URING_H
#define FC_URING_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct fc_uring_features {
    bool single_issuer;  /* IORING_SETUP_SINGLE_ISSUER + DEFER_TASKRUN */
    bool coop_taskrun;   /* IORING_SETUP_COOP_TASKRUN */
    bool recv_multishot; /* IORING_RECV_MULTISHOT + provided buffer rings */
    bool accept_multishot;
    bool msg_ring; /* IORING_OP_MSG_RING (5.18+) */
};

/* Initialise ring with `entries` SQEs, trying the flag sets above in order.
 * Returns 0 or -errno (io_uring unavailable: e.g. -ENOSYS, -EPERM when
 * kernel.io_uring_disabled forbids it). */
int fc_uring_init(struct io_uring *ring, unsigned entries, struct fc_uring_features *out);

/* A provided-buffer ring of `count` (power of two) buffers of `size` bytes,
 * registered as group `bgid`. The buffers are one allocation owned here. */
struct fc_uring_bufs {
    struct io_uring_buf_ring *br;
    char *base;
    uint32_t count;
    uint32_t size;
    uint16_t bgid;
};

/* Register the ring and hand all buffers to the kernel. Returns 0 or -errno
 * (-EINVAL/-ENOENT on kernels without buffer rings; nothing is left
 * allocated then). */
int fc_uring_bufs_init(struct io_uring *ring, struct fc_uring_bufs *bufs, uint16_t bgid,
                       uint32_t count, uint32_t size);

static inline char *fc_uring_buf_addr(const struct fc_uring_bufs *bufs, uint16_t bid) {
    return bufs->base + (size_t)bid * bufs->size;
}

/* Give buffer `bid` back to the kernel once its data has been consumed. */
static inline void fc_uring_buf_recycle(struct fc_uring_bufs *bufs, uint16_t bid) {
    io_uring_buf_ring_add(bufs->br, fc_uring_buf_addr(bufs, bid), bufs->size, bid,
                          io_uring_buf_ring_mask(bufs->count), 0);
    io_uring_buf_ring_advance(bufs->br, 1);
}

void fc_uring_bufs_destroy(struct io_uring *ring, struct fc_uring_bufs *bufs);

/* Submit what is queued and wait for at least one completion, at most until
 * the monotonic time until_ms (UINT64_MAX: no limit; <= now_ms: do not wait).
 * Returns 0 (completions or the time came) or -errno for a ring that cannot
 * go on. The caller then reaps the CQ. */
int fc_uring_wait(struct io_uring *ring, uint64_t now_ms, uint64_t until_ms);

/* How other threads wake a thread that sleeps in its io_uring. The sleeper
 * announces itself on `sleeping` (fc_sleep_announce, core/ring.h) and keeps
 * a read armed on `efd`. A producer that pushed work and finds the flag set
 * either queues an IORING_OP_MSG_RING to the sleeper's ring on its own ring
 * (no syscall of its own: it goes out with the producer's next submit, and
 * arrives as a CQE with user_data FC_URING_WAKE_MSG) or, without a ring of
 * its own or kernel support, writes the eventfd (one syscall). */
struct fc_waker {
    _Alignas(64) _Atomic uint32_t sleeping;
    _Atomic int ring_fd; /* the sleeper's ring, once it exists; -1 before */
    int efd;
};

#define FC_URING_WAKE_MSG 0 /* user_data of a MSG_RING wake-up: handlers ignore it */

/* efd must be an eventfd owned by the caller. */
void fc_waker_init(struct fc_waker *w, int efd);
/* The sleeper publishes its ring (after creating it, on its own thread). */
void fc_waker_ring(struct fc_waker *w, const struct io_uring *ring,
                   const struct fc_uring_features *f);
/* After pushing to w's rings: wake it if it sleeps. `from` is the calling
 * thread's own ring, or NULL (the eventfd is used). */
void fc_waker_wake(struct fc_waker *w, struct io_uring *from);

/* Get an SQE, submitting what is queued when the SQ is full. Never NULL:
 * after a submit the SQ has room (the kernel consumed it). */
struct io_uring_sqe *fc_uring_sqe(struct io_uring *ring);

#endif
