/* wheel.h — hierarchical timer wheel, O(1) link and unlink (model: h2o's
 * lib/common/timerwheel.c).
 *
 * FC_WHEEL_LEVELS levels of 64 slots; level L holds timers whose expiry
 * agrees with the wheel's current time on every bit above 6(L+1), so level 0
 * is exact to the millisecond and five levels span 2^30 ms (12.4 days);
 * later timers sit in the top level and are re-filed each time it turns.
 * Entries are intrusive: the caller embeds struct fc_wheel_entry in its own
 * object and owns it; the wheel never allocates.
 *
 * Time is whatever monotonic milliseconds the caller passes as `now`; tests
 * drive it by hand. Not thread-safe: one wheel per thread. */
#ifndef FC_WHEEL_H
#define FC_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_WHEEL_LEVELS 5
#define FC_WHEEL_SLOTS 64

struct fc_wheel_entry;
typedef void (*fc_wheel_cb)(struct fc_wheel_entry *entry);

struct fc_wheel_entry {
    struct fc_wheel_entry *_next, *_prev; /* NULL when not linked */
    uint64_t expire_ms;
    fc_wheel_cb cb;
};

struct fc_wheel {
    uint64_t now_ms; /* time of the last fc_wheel_run */
    uint64_t occupied[FC_WHEEL_LEVELS]; /* bit per non-empty slot */
    struct fc_wheel_entry slots[FC_WHEEL_LEVELS][FC_WHEEL_SLOTS]; /* list heads */
};

void fc_wheel_init(struct fc_wheel *w, uint64_t now_ms);

/* Prepare an entry; cb fires once when it expires. */
void fc_wheel_entry_init(struct fc_wheel_entry *e, fc_wheel_cb cb);

/* Arm e to fire at expire_ms (a time <= now fires at the next run).
 * e must not be linked. */
void fc_wheel_link(struct fc_wheel *w, struct fc_wheel_entry *e, uint64_t expire_ms);

/* Disarm e; no-op when not linked. */
void fc_wheel_unlink(struct fc_wheel_entry *e);

static inline bool fc_wheel_is_linked(const struct fc_wheel_entry *e) {
    return e->_next != NULL;
}

/* Fire every entry with expire_ms <= now_ms, earliest level first; each is
 * unlinked before its callback runs, which may link or unlink any entry.
 * Returns how many fired. */
size_t fc_wheel_run(struct fc_wheel *w, uint64_t now_ms);

/* A time at which fc_wheel_run has work: <= the earliest expiry (exact for
 * timers due within 64 ms), or UINT64_MAX when the wheel is empty. Callers
 * sleep until then. */
uint64_t fc_wheel_next_ms(const struct fc_wheel *w);

/* Check every invariant; returns 0 or -EINVAL. Heavy: tests and debug only. */
int fc_wheel_validate(const struct fc_wheel *w);

#endif
