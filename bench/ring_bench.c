/* ring_bench.c — the cost of an io thread → worker hand-off (issue 4: "measure
 * the hand-off cost in a micro-benchmark and record it").
 *
 * Two threads ping-pong a pointer through a pair of fc_rings, the way an
 * invocation goes io thread → worker → io thread, and report the round trip:
 *   spin   — the consumer polls its ring (no sleep, no syscall)
 *   wake   — the consumer announces sleep (fc_sleep_announce), re-checks and
 *            blocks in read(2) on an eventfd; the producer pushes, checks the
 *            flag (fc_sleep_check) and writes the eventfd: fcd's protocol
 * each with both threads on one CPU and on two CPUs (when there are two).
 *
 *   ring_bench [round_trips]      (default 20000; bounded, stops by itself) */
#include "core/ring.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct side {
    struct fc_ring ring;   /* what this side consumes */
    _Atomic uint32_t sleeping;
    int efd;
};

struct pair {
    struct side a, b; /* a: the "io thread" consumes completions; b: the "worker" */
    bool wake;
    long trips;
    int cpu_a, cpu_b;
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void push(struct side *to, void *item, bool wake) {
    while (fc_ring_push_burst(&to->ring, &item, 1) != 1)
        ; /* never full here: one item in flight */
    uint64_t one = 1;
    if (wake && fc_sleep_check(&to->sleeping) && write(to->efd, &one, sizeof(one)) < 0)
        abort();
}

static void *pop(struct side *me, bool wake) {
    void *item;
    for (;;) {
        if (fc_ring_pop_burst(&me->ring, &item, 1) == 1)
            return item;
        if (!wake)
            continue; /* spin */
        fc_sleep_announce(&me->sleeping);
        if (fc_ring_pop_burst(&me->ring, &item, 1) == 1) {
            fc_sleep_clear(&me->sleeping);
            return item;
        }
        uint64_t v;
        if (read(me->efd, &v, sizeof(v)) < 0)
            abort();
        fc_sleep_clear(&me->sleeping);
    }
}

static void *worker(void *arg) {
    struct pair *p = arg;
    pin(p->cpu_b);
    for (long i = 0; i < p->trips; i++)
        push(&p->a, pop(&p->b, p->wake), p->wake);
    return NULL;
}

static double run(bool wake, int cpu_a, int cpu_b, long trips) {
    struct pair *p = aligned_alloc(64, sizeof(*p));
    *p = (struct pair){.wake = wake, .trips = trips, .cpu_a = cpu_a, .cpu_b = cpu_b};
    fc_ring_init(&p->a.ring);
    fc_ring_init(&p->b.ring);
    p->a.efd = eventfd(0, 0);
    p->b.efd = eventfd(0, 0);
    pthread_t th;
    pthread_create(&th, NULL, worker, p);
    pin(cpu_a);
    uint64_t t0 = now_ns();
    for (long i = 0; i < trips; i++) {
        push(&p->b, (void *)(uintptr_t)(i + 1), wake);
        if ((uintptr_t)pop(&p->a, wake) != (uintptr_t)(i + 1))
            abort();
    }
    uint64_t t1 = now_ns();
    pthread_join(th, NULL);
    close(p->a.efd);
    close(p->b.efd);
    free(p);
    return (double)(t1 - t0) / (double)trips / 1000.0;
}

int main(int argc, char **argv) {
    long trips = argc > 1 ? atol(argv[1]) : 20000;
    if (trips <= 0 || trips > 10000000)
        trips = 20000;
    bool two = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
    printf("fc_ring hand-off, round trip io -> worker -> io (%ld trips)\n", trips);
    /* Spinning on one CPU would only measure time slices: skipped. */
    printf("  wake (eventfd when asleep), same CPU:  %8.2f us\n", run(true, 0, 0, trips));
    if (two) {
        printf("  wake (eventfd when asleep), two CPUs:  %8.2f us\n", run(true, 0, 1, trips));
        printf("  spin (ring polling only),   two CPUs:  %8.2f us\n", run(false, 0, 1, trips));
    }
    return 0;
}
