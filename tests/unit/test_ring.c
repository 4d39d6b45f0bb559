/* test_ring.c — core/ring: bursts, wrap-around, and a two-thread transfer
 * that checks order and loss; the sleep-flag protocol. */
#include "tests/unit/test.h"

#include "core/ring.h"

#include <pthread.h>
#include <stdint.h>

#define TRANSFER_COUNT 2000000u

FC_TEST(ring_burst_and_wrap) {
    static struct fc_ring r;
    fc_ring_init(&r);
    void *in[FC_RING_SLOTS + 8], *out[FC_RING_SLOTS + 8];
    for (uintptr_t i = 0; i < FC_RING_SLOTS + 8; i++)
        in[i] = (void *)(i + 1);
    /* Fill exactly; one more does not fit. */
    FC_CHECK_INT(fc_ring_push_burst(&r, in, FC_RING_SLOTS + 8), FC_RING_SLOTS);
    FC_CHECK_INT(fc_ring_push_burst(&r, in, 1), 0);
    FC_CHECK_INT(fc_ring_count(&r), FC_RING_SLOTS);
    FC_CHECK_INT(fc_ring_pop_burst(&r, out, 3), 3);
    FC_CHECK(out[0] == in[0] && out[2] == in[2]);
    /* Wrap: the three freed slots take three more, in order. */
    FC_CHECK_INT(fc_ring_push_burst(&r, in + 100, 5), 3);
    FC_CHECK_INT(fc_ring_pop_burst(&r, out, FC_RING_SLOTS + 8), FC_RING_SLOTS);
    FC_CHECK(out[0] == in[3]);
    FC_CHECK(out[FC_RING_SLOTS - 3] == in[100] && out[FC_RING_SLOTS - 1] == in[102]);
    FC_CHECK_INT(fc_ring_pop_burst(&r, out, 1), 0);
    FC_CHECK_INT(fc_ring_count(&r), 0);
}

static struct fc_ring transfer_ring;
static _Atomic uint32_t consumer_flag;

static void *producer(void *arg) {
    (void)arg;
    uintptr_t next = 1;
    while (next <= TRANSFER_COUNT) {
        void *batch[16];
        uint32_t n = 0;
        for (; n < 16 && next + n <= TRANSFER_COUNT; n++)
            batch[n] = (void *)(next + n);
        uint32_t pushed = fc_ring_push_burst(&transfer_ring, batch, n);
        next += pushed;
        (void)fc_sleep_check(&consumer_flag);
    }
    return NULL;
}

FC_TEST(ring_two_threads_in_order) {
    fc_ring_init(&transfer_ring);
    pthread_t th;
    FC_CHECK(pthread_create(&th, NULL, producer, NULL) == 0);
    uintptr_t expect = 1;
    while (expect <= TRANSFER_COUNT) {
        void *items[64];
        fc_sleep_announce(&consumer_flag);
        uint32_t n = fc_ring_pop_burst(&transfer_ring, items, 64);
        fc_sleep_clear(&consumer_flag);
        for (uint32_t i = 0; i < n; i++, expect++)
            if ((uintptr_t)items[i] != expect) {
                fprintf(stderr, "# got %lu, expected %lu\n", (unsigned long)(uintptr_t)items[i],
                        (unsigned long)expect);
                FC_CHECK(0);
            }
    }
    pthread_join(th, NULL);
    FC_CHECK_INT(fc_ring_count(&transfer_ring), 0);
}

FC_TEST(ring_sleep_flag) {
    _Atomic uint32_t flag = 0;
    FC_CHECK(!fc_sleep_check(&flag));
    fc_sleep_announce(&flag);
    FC_CHECK(fc_sleep_check(&flag));
    FC_CHECK(fc_sleep_check(&flag)); /* checking does not consume it */
    fc_sleep_clear(&flag);
    FC_CHECK(!fc_sleep_check(&flag));
}
