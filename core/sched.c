/* sched.c — see sched.h. The worker thread itself is in worker.c. */
#include "core/sched.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/worker.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Zeroed memory that becomes resident only where it is written. */
static void *lazy_zeroed(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int fc_sched_start(const struct fc_config *cfg, struct fc_registry *reg, uint32_t io_count,
                   struct fc_sched **out) {
    struct fc_sched *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->cfg = cfg;
    s->registry = reg;
    s->io_count = io_count;
    s->worker_count = cfg->workers;
    size_t rings = 2 * (size_t)io_count * s->worker_count;
    s->workers = calloc(s->worker_count, sizeof(*s->workers));
    s->rings = aligned_alloc(64, rings * sizeof(*s->rings));
    s->io = aligned_alloc(64, io_count * sizeof(*s->io));
    s->io_ring = calloc(io_count, sizeof(*s->io_ring));
    s->counters_bytes = (size_t)FC_FUNCTIONS_MAX * s->worker_count * sizeof(*s->counters);
    s->instances_bytes = FC_FUNCTIONS_MAX * sizeof(*s->instances);
    s->counters = lazy_zeroed(s->counters_bytes); /* page-aligned: 64 too */
    s->instances = lazy_zeroed(s->instances_bytes);
    s->invs = calloc((size_t)io_count * FC_INV_POOL_MAX, sizeof(*s->invs));
    if (!s->workers || !s->rings || !s->io || !s->io_ring || !s->counters || !s->instances ||
        !s->invs) {
        fc_sched_destroy(s);
        return -ENOMEM;
    }
    for (size_t i = 0; i < rings; i++)
        fc_ring_init(&s->rings[i]);
    for (uint32_t i = 0; i < io_count; i++)
        fc_waker_init(&s->io[i], -1);
    int rc = 0;
    uint32_t started = 0;
    for (; rc == 0 && started < s->worker_count; started++) {
        rc = fc_worker_init(&s->workers[started], s, started);
        if (rc == 0)
            rc = -pthread_create(&s->workers[started].thread, NULL, fc_worker_main,
                                 &s->workers[started]);
    }
    if (rc < 0) {
        s->worker_count = started - 1; /* the failed one is not running */
        fc_sched_stop(s);
        fc_sched_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

struct fc_registry *fc_sched_registry(struct fc_sched *s) {
    return s->registry;
}

void fc_sched_catalog_changed(struct fc_sched *s) {
    for (uint32_t w = 0; w < s->worker_count; w++)
        fc_waker_wake(&s->workers[w].waker, NULL);
    fc_waker_wake(&s->io[s->io_count - 1], NULL); /* the store thread */
}

bool fc_sched_catalog_moved(struct fc_sched *s, const struct fc_catalog_view *view) {
    /* Relaxed: ordered by the sleep flag's RMWs (core/ring.h). */
    return atomic_load_explicit(&s->registry->generation, memory_order_relaxed) !=
           view->generation;
}

void fc_sched_stop(struct fc_sched *s) {
    uint64_t one = 1;
    for (uint32_t w = 0; w < s->worker_count; w++) {
        atomic_store(&s->workers[w].stop, true);
        if (write(s->workers[w].waker.efd, &one, sizeof(one)) < 0)
            FC_LOG_WARN("wake worker-%u: %s", w, strerror(errno));
    }
    for (uint32_t w = 0; w < s->worker_count; w++)
        pthread_join(s->workers[w].thread, NULL);
}

void fc_sched_destroy(struct fc_sched *s) {
    for (uint32_t w = 0; s->workers && w < s->worker_count; w++)
        fc_worker_destroy(&s->workers[w]);
    for (uint32_t i = 0; s->invs && i < s->io_count * FC_INV_POOL_MAX; i++) {
        struct fc_invocation *inv = &s->invs[i];
        if (inv->fn != NULL) /* stopped before it came back to be recycled */
            fc_function_unref(inv->fn);
        fc_buf_free(&inv->head);
        fc_buf_free(&inv->req);
        fc_buf_free(&inv->resp);
        fc_buf_free(&inv->log_tail);
    }
    free(s->workers);
    free(s->rings);
    free(s->io);
    free(s->io_ring);
    if (s->counters)
        munmap(s->counters, s->counters_bytes);
    if (s->instances)
        munmap((void *)s->instances, s->instances_bytes);
    free(s->invs);
    free(s);
}

int fc_sched_pin(const struct fc_config *cfg, uint32_t index) {
    /* SCHED_BATCH: a thread woken by a ring hand-off (or an instance's
     * reply) does not preempt the one running, so each runs its batch to the
     * end before the core switches. bench/sync.sh on one core: 7 context
     * switches per request without it, 0.17 with it, ~3x the req/s. */
    struct sched_param sp = {0};
    if (cfg->sched_batch && sched_setscheduler(0, SCHED_BATCH, &sp) < 0)
        return -errno;
    if (!cfg->pin_threads)
        return 0;
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
        return -errno;
    int count = CPU_COUNT(&allowed);
    if (count <= 0)
        return -EINVAL;
    int want = (int)(index % (uint32_t)count), seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed) || seen++ != want)
            continue;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        return -pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
    }
    return -EINVAL;
}

int fc_inv_pool_init(struct fc_inv_pool *p, struct fc_sched *s, uint32_t io_index) {
    *p = (struct fc_inv_pool){.invs = &s->invs[(size_t)io_index * FC_INV_POOL_MAX],
                              .free = calloc(FC_INV_POOL_MAX, sizeof(*p->free)),
                              .io_index = (uint16_t)io_index};
    return p->free == NULL ? -ENOMEM : 0;
}

void fc_inv_pool_destroy(struct fc_inv_pool *p) {
    free(p->free);
    p->free = NULL;
}

struct fc_invocation *fc_inv_pool_take(struct fc_inv_pool *p) {
    if (p->free_count > 0)
        return p->free[--p->free_count];
    if (p->touched == FC_INV_POOL_MAX)
        return NULL;
    struct fc_invocation *inv = &p->invs[p->touched];
    inv->io_index = p->io_index;
    inv->pool_index = p->touched++;
    return inv;
}

void fc_inv_pool_put(struct fc_inv_pool *p, struct fc_invocation *inv) {
    FC_ASSERT(inv->io_index == p->io_index && p->free_count < p->touched);
    p->free[p->free_count++] = inv;
}

void fc_sched_io_register(struct fc_sched *s, uint32_t io_index, int wake_fd,
                          struct io_uring *ring, const struct fc_uring_features *features) {
    s->io[io_index].efd = wake_fd;
    s->io_ring[io_index] = ring;
    fc_waker_ring(&s->io[io_index], ring, features);
}

/* Placement, see sched.h: the paired worker if it has room (slots of its
 * live instances, starting ones too, beyond what is already placed there),
 * else any worker with room, else the least loaded — among the workers that
 * have instances when the function is at max_instances, since only they
 * will ever have a slot for it. */
static uint32_t place(struct fc_sched *s, const struct fc_invocation *inv) {
    struct fc_counter *c = &s->counters[(size_t)inv->fn->id * s->worker_count];
    bool at_max = atomic_load_explicit(&s->instances[inv->fn->id], memory_order_relaxed) >=
                  inv->fn->max_instances;
    uint32_t n = s->worker_count, paired = inv->io_index % n, best = paired;
    int64_t best_excess = INT64_MAX;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t w = (paired + k) % n;
        uint32_t cap = atomic_load_explicit(&c[w].capacity, memory_order_relaxed);
        uint32_t load = atomic_load_explicit(&c[w].load, memory_order_relaxed);
        if (cap > load)
            return w;
        int64_t excess = (int64_t)load - cap;
        if ((cap > 0 || !at_max) && excess < best_excess) {
            best_excess = excess;
            best = w;
        }
    }
    return best;
}

int fc_sched_submit(struct fc_sched *s, struct fc_invocation *inv) {
    uint32_t w = place(s, inv);
    inv->worker_index = (uint16_t)w;
    void *item = inv;
    /* Relaxed: only a placement hint; the ring push publishes inv itself. */
    atomic_fetch_add_explicit(&s->counters[(size_t)inv->fn->id * s->worker_count + w].load, 1,
                              memory_order_relaxed);
    if (fc_ring_push_burst(fc_sched_ring(s, inv->io_index, w, 0), &item, 1) != 1) {
        atomic_fetch_sub_explicit(&s->counters[(size_t)inv->fn->id * s->worker_count + w].load,
                                  1, memory_order_relaxed);
        return -EAGAIN;
    }
    fc_waker_wake(&s->workers[w].waker, s->io_ring[inv->io_index]);
    return 0;
}

int fc_sched_cancel(struct fc_sched *s, struct fc_invocation *inv) {
    void *notice = fc_cancel_notice(inv);
    uint32_t w = inv->worker_index; /* a stale notice is ignored there (worker.c) */
    if (fc_ring_push_burst(fc_sched_ring(s, inv->io_index, w, 0), &notice, 1) != 1)
        return -EAGAIN;
    fc_waker_wake(&s->workers[w].waker, s->io_ring[inv->io_index]);
    return 0;
}

uint32_t fc_sched_poll(struct fc_sched *s, uint32_t io_index, struct fc_invocation **out,
                       uint32_t n) {
    uint32_t got = 0;
    for (uint32_t w = 0; w < s->worker_count && got < n; w++)
        got += fc_ring_pop_burst(fc_sched_ring(s, io_index, w, 1), (void **)out + got, n - got);
    return got;
}

bool fc_sched_io_may_sleep(struct fc_sched *s, uint32_t io_index) {
    fc_sleep_announce(&s->io[io_index].sleeping);
    for (uint32_t w = 0; w < s->worker_count; w++) {
        if (fc_ring_count(fc_sched_ring(s, io_index, w, 1)) > 0) {
            fc_sleep_clear(&s->io[io_index].sleeping);
            return false;
        }
    }
    return true;
}

void fc_sched_io_awake(struct fc_sched *s, uint32_t io_index) {
    fc_sleep_clear(&s->io[io_index].sleeping);
}

void fc_sched_io_wake(struct fc_sched *s, uint32_t io_index, struct io_uring *from) {
    fc_waker_wake(&s->io[io_index], from);
}
