/* wheel.c — see wheel.h. */
#include "core/wheel.h"

#include "core/assert.h"
#include <errno.h>

#define SLOT_BITS 6
#define SPAN_BITS (SLOT_BITS * FC_WHEEL_LEVELS)

static inline unsigned slot_of(uint64_t t, unsigned level) {
    return (unsigned)(t >> (SLOT_BITS * level)) & (FC_WHEEL_SLOTS - 1);
}

/* The lowest level whose higher bits of t agree with now; timers past the
 * wheel's span go to the top level, filed by a clamped time. */
static unsigned level_of(uint64_t now, uint64_t t) {
    for (unsigned level = 0; level < FC_WHEEL_LEVELS - 1; level++)
        if ((t >> (SLOT_BITS * (level + 1))) == (now >> (SLOT_BITS * (level + 1))))
            return level;
    return FC_WHEEL_LEVELS - 1;
}

void fc_wheel_init(struct fc_wheel *w, uint64_t now_ms) {
    w->now_ms = now_ms;
    for (unsigned l = 0; l < FC_WHEEL_LEVELS; l++) {
        w->occupied[l] = 0;
        for (unsigned s = 0; s < FC_WHEEL_SLOTS; s++)
            w->slots[l][s]._next = w->slots[l][s]._prev = &w->slots[l][s];
    }
}

void fc_wheel_entry_init(struct fc_wheel_entry *e, fc_wheel_cb cb) {
    e->_next = e->_prev = NULL;
    e->expire_ms = 0;
    e->cb = cb;
}

void fc_wheel_link(struct fc_wheel *w, struct fc_wheel_entry *e, uint64_t expire_ms) {
    FC_ASSERT(!fc_wheel_is_linked(e));
    FC_ASSERT(e->cb != NULL);
    e->expire_ms = expire_ms;
    uint64_t t = expire_ms < w->now_ms ? w->now_ms : expire_ms;
    /* Past the span, file one top-level slot short of a full turn, so the
     * entry never lands in the slot the clock is in (which would make
     * fc_wheel_next_ms answer "now" forever). */
    uint64_t horizon =
        w->now_ms + (UINT64_C(1) << SPAN_BITS) - (UINT64_C(1) << (SLOT_BITS * (FC_WHEEL_LEVELS - 1)));
    if (t > horizon)
        t = horizon;
    unsigned level = level_of(w->now_ms, t), slot = slot_of(t, level);
    struct fc_wheel_entry *head = &w->slots[level][slot];
    e->_prev = head->_prev;
    e->_next = head;
    head->_prev->_next = e;
    head->_prev = e;
    w->occupied[level] |= UINT64_C(1) << slot;
}

/* Slot occupancy bits are cleared lazily by fc_wheel_run, so unlink stays
 * O(1) without finding its slot. */
void fc_wheel_unlink(struct fc_wheel_entry *e) {
    if (!fc_wheel_is_linked(e))
        return;
    e->_prev->_next = e->_next;
    e->_next->_prev = e->_prev;
    e->_next = e->_prev = NULL;
}

/* Move a slot's entries onto a private list, leaving the slot empty. */
static void slot_take(struct fc_wheel *w, unsigned level, unsigned slot,
                      struct fc_wheel_entry *out) {
    struct fc_wheel_entry *head = &w->slots[level][slot];
    w->occupied[level] &= ~(UINT64_C(1) << slot);
    if (head->_next == head)
        return;
    out->_prev->_next = head->_next;
    head->_next->_prev = out->_prev;
    head->_prev->_next = out;
    out->_prev = head->_prev;
    head->_next = head->_prev = head;
}

size_t fc_wheel_run(struct fc_wheel *w, uint64_t now_ms) {
    if (now_ms < w->now_ms)
        return 0;
    /* Gather every slot the clock passed over on each level (all 64 when a
     * level turned over completely); those entries are either due or must be
     * re-filed relative to the new time. */
    struct fc_wheel_entry todo = {.cb = NULL};
    todo._next = todo._prev = &todo;
    uint64_t then = w->now_ms;
    for (unsigned level = 0; level < FC_WHEEL_LEVELS; level++) {
        unsigned shift = SLOT_BITS * level;
        uint64_t from = then >> shift, to = now_ms >> shift;
        if (to - from >= FC_WHEEL_SLOTS) {
            for (unsigned s = 0; s < FC_WHEEL_SLOTS; s++)
                if (w->occupied[level] & (UINT64_C(1) << s))
                    slot_take(w, level, s, &todo);
            continue;
        }
        for (uint64_t i = from; i <= to; i++) {
            unsigned s = (unsigned)i & (FC_WHEEL_SLOTS - 1);
            if (w->occupied[level] & (UINT64_C(1) << s))
                slot_take(w, level, s, &todo);
        }
    }
    w->now_ms = now_ms;
    size_t fired = 0;
    while (todo._next != &todo) {
        struct fc_wheel_entry *e = todo._next;
        e->_prev->_next = e->_next;
        e->_next->_prev = e->_prev;
        e->_next = e->_prev = NULL;
        if (e->expire_ms <= now_ms) {
            fired++;
            e->cb(e);
        } else {
            fc_wheel_link(w, e, e->expire_ms);
        }
    }
    return fired;
}

/* Start time of the first occupied slot of a level at or after the current
 * one, going round once. */
static uint64_t level_next_ms(const struct fc_wheel *w, unsigned level) {
    uint64_t bits = w->occupied[level];
    unsigned shift = SLOT_BITS * level, cur = slot_of(w->now_ms, level);
    uint64_t rotated = (bits >> cur) | (cur ? bits << (FC_WHEEL_SLOTS - cur) : 0);
    unsigned ahead = (unsigned)__builtin_ctzll(rotated);
    uint64_t block = (w->now_ms >> shift) + ahead;
    uint64_t start = block << shift;
    return start < w->now_ms ? w->now_ms : start;
}

uint64_t fc_wheel_next_ms(const struct fc_wheel *w) {
    uint64_t next = UINT64_MAX;
    for (unsigned level = 0; level < FC_WHEEL_LEVELS; level++) {
        if (w->occupied[level] == 0)
            continue;
        uint64_t t = level_next_ms(w, level);
        if (t < next)
            next = t;
    }
    return next;
}

int fc_wheel_validate(const struct fc_wheel *w) {
    for (unsigned level = 0; level < FC_WHEEL_LEVELS; level++) {
        for (unsigned s = 0; s < FC_WHEEL_SLOTS; s++) {
            const struct fc_wheel_entry *head = &w->slots[level][s];
            for (const struct fc_wheel_entry *e = head->_next; e != head; e = e->_next) {
                if (e->_next->_prev != e || e->cb == NULL)
                    return -EINVAL;
                if (!(w->occupied[level] & (UINT64_C(1) << s)))
                    return -EINVAL; /* an entry in a slot marked empty is never run */
                uint64_t t = e->expire_ms < w->now_ms ? w->now_ms : e->expire_ms;
                if (level < FC_WHEEL_LEVELS - 1 && level_of(w->now_ms, t) > level)
                    return -EINVAL;
            }
        }
    }
    return 0;
}
