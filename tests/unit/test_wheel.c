/* test_wheel.c — core/wheel: order, cancel, cascading, and a fixed-seed
 * random comparison against a sorted-list model. */
#include "tests/unit/test.h"

#include "core/wheel.h"

#include <stdint.h>

#define MAX_TIMERS 512

struct timer {
    struct fc_wheel_entry entry; /* first: the callback casts back */
    uint64_t fired_at;
    int fired;
};

static uint64_t clock_now;

static void on_fire(struct fc_wheel_entry *e) {
    struct timer *t = (struct timer *)e;
    t->fired++;
    t->fired_at = clock_now;
}

/* Advance the clock to `to` one millisecond at a time, running the wheel. */
static void advance(struct fc_wheel *w, uint64_t to) {
    while (clock_now < to) {
        clock_now++;
        fc_wheel_run(w, clock_now);
        FC_CHECK(fc_wheel_validate(w) == 0);
    }
}

FC_TEST(wheel_fires_in_order) {
    struct fc_wheel w;
    clock_now = 1000;
    fc_wheel_init(&w, clock_now);
    struct timer t[4] = {0};
    const uint64_t at[4] = {1005, 1001, 1063, 1064};
    for (int i = 0; i < 4; i++) {
        fc_wheel_entry_init(&t[i].entry, on_fire);
        fc_wheel_link(&w, &t[i].entry, at[i]);
    }
    FC_CHECK_INT(fc_wheel_next_ms(&w), 1001);
    advance(&w, 1100);
    for (int i = 0; i < 4; i++) {
        FC_CHECK_INT(t[i].fired, 1);
        FC_CHECK_INT(t[i].fired_at, at[i]);
        FC_CHECK(!fc_wheel_is_linked(&t[i].entry));
    }
    FC_CHECK_INT(fc_wheel_next_ms(&w), UINT64_MAX);
}

FC_TEST(wheel_cancel) {
    struct fc_wheel w;
    clock_now = 0;
    fc_wheel_init(&w, 0);
    struct timer a = {0}, b = {0};
    fc_wheel_entry_init(&a.entry, on_fire);
    fc_wheel_entry_init(&b.entry, on_fire);
    fc_wheel_link(&w, &a.entry, 10);
    fc_wheel_link(&w, &b.entry, 5000);
    fc_wheel_unlink(&a.entry);
    fc_wheel_unlink(&a.entry); /* twice is a no-op */
    advance(&w, 20);
    FC_CHECK_INT(a.fired, 0);
    fc_wheel_unlink(&b.entry);
    advance(&w, 6000);
    FC_CHECK_INT(b.fired, 0);
    /* A timer in the past fires at the next run. */
    fc_wheel_link(&w, &a.entry, 1);
    fc_wheel_run(&w, clock_now);
    FC_CHECK_INT(a.fired, 1);
}

FC_TEST(wheel_far_future_cascades) {
    struct fc_wheel w;
    clock_now = 12345;
    fc_wheel_init(&w, clock_now);
    /* Beyond the wheel's 2^30 ms span: filed at the top and re-filed. */
    const uint64_t far = clock_now + (UINT64_C(1) << 31) + 77;
    struct timer t = {0}, near = {0};
    fc_wheel_entry_init(&t.entry, on_fire);
    fc_wheel_entry_init(&near.entry, on_fire);
    fc_wheel_link(&w, &t.entry, far);
    fc_wheel_link(&w, &near.entry, clock_now + 3600000);
    /* Jump in large steps as a sleeping loop would, never past a timer. */
    for (int guard = 0; guard < 100000 && t.fired == 0; guard++) {
        uint64_t next = fc_wheel_next_ms(&w);
        FC_CHECK(next > clock_now || next == clock_now);
        FC_CHECK(next <= far);
        clock_now = next;
        fc_wheel_run(&w, clock_now);
        FC_CHECK(fc_wheel_validate(&w) == 0);
    }
    FC_CHECK_INT(near.fired, 1);
    FC_CHECK_INT(near.fired_at, 12345 + 3600000);
    FC_CHECK_INT(t.fired, 1);
    FC_CHECK_INT(t.fired_at, far);
}

static uint64_t rng_state;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

FC_TEST(wheel_random_against_model) {
    const uint64_t seed = 0x5eed1234abcdULL;
    rng_state = seed;
    static struct timer t[MAX_TIMERS];
    static uint64_t due[MAX_TIMERS];
    struct fc_wheel w;
    clock_now = rng() % 100000;
    fc_wheel_init(&w, clock_now);
    memset(t, 0, sizeof(t));
    for (int i = 0; i < MAX_TIMERS; i++)
        fc_wheel_entry_init(&t[i].entry, on_fire);
    for (int round = 0; round < 20000; round++) {
        int i = (int)(rng() % MAX_TIMERS);
        if (fc_wheel_is_linked(&t[i].entry) && rng() % 3 == 0) {
            fc_wheel_unlink(&t[i].entry);
            due[i] = 0;
        } else if (!fc_wheel_is_linked(&t[i].entry)) {
            uint64_t span = (uint64_t[]){10, 100, 5000, 400000}[rng() % 4];
            due[i] = clock_now + 1 + rng() % span; /* always in the future */
            t[i].fired = 0;
            fc_wheel_link(&w, &t[i].entry, due[i]);
        }
        uint64_t step = rng() % 50;
        for (uint64_t s = 0; s < step; s++) {
            clock_now++;
            fc_wheel_run(&w, clock_now);
            for (int k = 0; k < MAX_TIMERS; k++) {
                if (due[k] != 0 && due[k] <= clock_now) {
                    if (t[k].fired != 1 || t[k].fired_at != due[k])
                        fprintf(stderr, "# seed %llx: timer %d due %llu fired %d at %llu\n",
                                (unsigned long long)seed, k, (unsigned long long)due[k],
                                t[k].fired, (unsigned long long)t[k].fired_at);
                    FC_CHECK_INT(t[k].fired, 1);
                    FC_CHECK_INT(t[k].fired_at, due[k]);
                    due[k] = 0;
                }
            }
        }
        FC_CHECK(fc_wheel_validate(&w) == 0);
    }
}
