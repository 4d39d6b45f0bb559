/* ring.c — see ring.h. */
#include "core/ring.h"


void fc_ring_init(struct fc_ring *r) {
    atomic_store_explicit(&r->write_idx, 0, memory_order_relaxed);
    atomic_store_explicit(&r->read_idx, 0, memory_order_relaxed);
    r->cached_read = r->cached_write = 0;
}

uint32_t fc_ring_push_burst(struct fc_ring *r, void *const *items, uint32_t n) {
    /* Relaxed: only this thread writes write_idx. */
    uint32_t w = atomic_load_explicit(&r->write_idx, memory_order_relaxed);
    uint32_t free_slots = FC_RING_SLOTS - (w - r->cached_read);
    if (free_slots < n) {
        /* Acquire: the consumer's reads of the slots it freed happen before
         * we overwrite them. */
        r->cached_read = atomic_load_explicit(&r->read_idx, memory_order_acquire);
        free_slots = FC_RING_SLOTS - (w - r->cached_read);
        if (n > free_slots)
            n = free_slots;
    }
    for (uint32_t i = 0; i < n; i++)
        r->slots[(w + i) & (FC_RING_SLOTS - 1)] = items[i];
    /* Release: the slot contents (and the objects behind them) are visible
     * before the consumer sees the new index. */
    atomic_store_explicit(&r->write_idx, w + n, memory_order_release);
    return n;
}

uint32_t fc_ring_pop_burst(struct fc_ring *r, void **items, uint32_t n) {
    uint32_t rd = atomic_load_explicit(&r->read_idx, memory_order_relaxed);
    uint32_t avail = r->cached_write - rd;
    if (avail < n) {
        /* Acquire: pairs with the producer's release of write_idx. */
        r->cached_write = atomic_load_explicit(&r->write_idx, memory_order_acquire);
        avail = r->cached_write - rd;
        if (n > avail)
            n = avail;
    }
    for (uint32_t i = 0; i < n; i++)
        items[i] = r->slots[(rd + i) & (FC_RING_SLOTS - 1)];
    /* Release: our slot reads complete before the producer may reuse them. */
    atomic_store_explicit(&r->read_idx, rd + n, memory_order_release);
    return n;
}

uint32_t fc_ring_count(const struct fc_ring *r) {
    return atomic_load_explicit(&r->write_idx, memory_order_acquire) -
           atomic_load_explicit(&r->read_idx, memory_order_acquire);
}
