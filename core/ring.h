/* ring.h — lock-free single-producer single-consumer ring of pointers
 * (model: DPDK's rte_ring, reduced to SPSC).
 *
 * Between each io thread and each worker there is one ring per direction.
 * Ownership of the object behind a pointer moves with it: after a push the
 * producer must not touch it, after a pop the consumer owns it.
 *
 * Indexes are free-running 32-bit counters (wrap is harmless because the
 * capacity is a power of two); each side's index sits on its own cache line
 * with a guard line between, so producer and consumer never share a line
 * they write. The consumer's sleep flag lives here too: see
 * fc_ring_wants_wake. */
#ifndef FC_RING_H
#define FC_RING_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define FC_RING_SLOTS 4096u /* per direction per (io thread, worker) pair */
static_assert((FC_RING_SLOTS & (FC_RING_SLOTS - 1)) == 0, "power of two");

struct fc_ring {
    _Alignas(64) _Atomic uint32_t write_idx; /* producer only */
    uint32_t cached_read;                    /* producer's copy of read_idx */
    char _guard0[64];
    _Alignas(64) _Atomic uint32_t read_idx; /* consumer only */
    uint32_t cached_write;                  /* consumer's copy of write_idx */
    char _guard1[64];
    _Alignas(64) void *slots[FC_RING_SLOTS];
};

/* Zero the indexes. Before either side runs. */
void fc_ring_init(struct fc_ring *r);

/* Push up to n pointers; returns how many went in (0 when full). The caller
 * keeps the rest. Producer thread only. */
uint32_t fc_ring_push_burst(struct fc_ring *r, void *const *items, uint32_t n);

/* Pop up to n pointers into items; returns how many. Consumer only. */
uint32_t fc_ring_pop_burst(struct fc_ring *r, void **items, uint32_t n);

/* Items waiting; exact for the consumer, a hint for anyone else. */
uint32_t fc_ring_count(const struct fc_ring *r);

/* The sleep flag of a ring consumer, and the protocol that makes a wake-up
 * never lost: the consumer announces (flag = 1) and then re-checks its
 * rings; a producer pushes and then checks the flag. Both sides use an
 * acq_rel read-modify-write of the same flag, so the RMWs are totally
 * ordered: either the producer's check reads 1 (it wakes the consumer), or
 * the consumer's announce reads from the producer's check and so sees its
 * push. RMWs rather than seq_cst fences, which gcc's TSan cannot check.
 * One locked instruction per batch on each side. */
static inline void fc_sleep_announce(_Atomic uint32_t *flag) {
    atomic_exchange_explicit(flag, 1, memory_order_acq_rel);
}
static inline bool fc_sleep_check(_Atomic uint32_t *flag) {
    return atomic_fetch_add_explicit(flag, 0, memory_order_acq_rel) != 0;
}
static inline void fc_sleep_clear(_Atomic uint32_t *flag) {
    atomic_store_explicit(flag, 0, memory_order_relaxed); /* only the consumer writes 0 */
}

#endif
