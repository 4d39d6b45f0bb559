/* sched.h — the scheduler: worker threads, the rings between io threads and
 * workers, placement of invocations, and wake-ups.
 *
 * Between io thread i and worker w there are two SPSC rings: submit (i→w)
 * and complete (w→i). An invocation's pointer travels through them and its
 * ownership with it (core/invocation.h).
 *
 * Placement (io thread, no lock): per function and worker the scheduler
 * keeps two counters on their own cache line — `capacity` (slots of ready
 * instances, written by the worker) and `load` (invocations submitted and
 * not yet completed). An invocation goes to the io thread's paired worker if
 * it has a free slot, else to any worker with one, else to the worker with
 * the least load (which starts an instance if the function may have
 * another, or queues the invocation, bounded). Counters are hints: a worker
 * that is wrong about capacity queues or starts an instance.
 *
 * Wake-ups: a thread about to sleep announces it on its `sleeping` flag and
 * re-checks its rings; a producer that pushed a batch writes the consumer's
 * eventfd only when the flag is set (fc_sleep_announce / fc_sleep_check in
 * ring.h). So a busy consumer costs its producers nothing but the pushes. */
#ifndef FC_SCHED_H
#define FC_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/invocation.h"
#include "core/uring.h"

struct fc_sched;

/* Start cfg->workers worker threads for io_count io threads. cfg and reg
 * (the published catalog every thread reads) are borrowed until
 * fc_sched_destroy. Main thread. Returns 0 or -errno; nothing is left
 * running on error. */
int fc_sched_start(const struct fc_config *cfg, struct fc_registry *reg, uint32_t io_count,
                   struct fc_sched **out);

/* The registry the scheduler was started with. */
struct fc_registry *fc_sched_registry(struct fc_sched *s);

/* A new catalog was published: wake the workers and the store thread that
 * sleep, so they retire replaced pools and re-arm timer triggers now (io
 * threads look at the catalog on their next request anyway). Any thread,
 * after fc_registry_publish; the sleepers re-check the registry's generation
 * after announcing sleep (core/ring.h's protocol). */
void fc_sched_catalog_changed(struct fc_sched *s);

/* Has the registry moved past view's generation? For a sleeper's re-check. */
bool fc_sched_catalog_moved(struct fc_sched *s, const struct fc_catalog_view *view);

/* Stop the workers: every instance is killed, queued and running
 * invocations complete with FC_INV_INTERNAL. Then join. Main thread, after
 * the io threads have stopped. */
void fc_sched_stop(struct fc_sched *s);
void fc_sched_destroy(struct fc_sched *s);

/* Set up the calling io or worker thread: SCHED_BATCH when
 * cfg->sched_batch (hand-offs do not preempt: larger batches), and pinned to
 * the index-th CPU of the process's allowed set when cfg->pin_threads (so io
 * thread i and worker i share core i, where their hand-offs are cheapest:
 * BENCH.md). Returns 0 or -errno (the thread runs on as it was). */
int fc_sched_pin(const struct fc_config *cfg, uint32_t index);

/* ---- io thread side (io_index = the calling io thread) ---- */

/* Tell the scheduler how to wake io thread io_index: its eventfd (it keeps
 * a read armed on it) and its ring (for MSG_RING wake-ups, which it reports
 * as CQEs with user_data FC_URING_WAKE_MSG; also the ring its own wake-ups
 * of workers are sent from). On the io thread, before its first submit. */
void fc_sched_io_register(struct fc_sched *s, uint32_t io_index, int wake_fd,
                          struct io_uring *ring, const struct fc_uring_features *features);

/* Io thread io_index's FC_INV_POOL_MAX invocations (core/worker.h), owned
 * by that thread alone: a stack of freed invocations over the pool's
 * never-used tail, so an idle daemon keeps resident only what load touched. */
struct fc_inv_pool {
    struct fc_invocation *invs;  /* FC_INV_POOL_MAX */
    struct fc_invocation **free; /* stack of freed invocations */
    uint32_t free_count;
    uint32_t touched; /* invs[0..touched) have been handed out */
    uint16_t io_index;
};

int fc_inv_pool_init(struct fc_inv_pool *p, struct fc_sched *s, uint32_t io_index);
void fc_inv_pool_destroy(struct fc_inv_pool *p);
/* An idle invocation with io_index and pool_index set; NULL when all are in flight. */
struct fc_invocation *fc_inv_pool_take(struct fc_inv_pool *p);
void fc_inv_pool_put(struct fc_inv_pool *p, struct fc_invocation *inv);

/* Hand inv (request part filled, inv->io_index set) to a worker. Returns 0
 * (the worker owns inv) or -EAGAIN when the chosen ring is full (the caller
 * keeps inv and answers 503). */
int fc_sched_submit(struct fc_sched *s, struct fc_invocation *inv);

/* The client of inv went away: ask its worker to stop it. inv must be
 * submitted and not yet completed from the caller's point of view; it will
 * still come back through fc_sched_poll (with FC_INV_CANCELLED or whatever
 * it had finished with). Returns 0 or -EAGAIN (ring full: the invocation
 * just runs to its end). */
int fc_sched_cancel(struct fc_sched *s, struct fc_invocation *inv);

/* Pop up to n completed invocations for io thread io_index. */
uint32_t fc_sched_poll(struct fc_sched *s, uint32_t io_index, struct fc_invocation **out,
                       uint32_t n);

/* Before sleeping: returns false when completions are already waiting (do
 * not sleep); true means the sleeping flag is set and a producer will write
 * the eventfd. fc_sched_io_awake clears the flag after waking. */
bool fc_sched_io_may_sleep(struct fc_sched *s, uint32_t io_index);
void fc_sched_io_awake(struct fc_sched *s, uint32_t io_index);

/* Wake io thread io_index if it sleeps: for other producers of its rings
 * (workers, the store thread). Call after pushing. `from` is the caller's
 * own ring (the wake-up rides on its next submit) or NULL (eventfd). */
void fc_sched_io_wake(struct fc_sched *s, uint32_t io_index, struct io_uring *from);

#endif
