/* reqid.c — see reqid.h. */
#include "core/reqid.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>

#define COUNTER_BITS 44
#define COUNTER_MASK ((UINT64_C(1) << COUNTER_BITS) - 1)
#define PREFIX_BITS 30 /* 12 in rand_a, 18 atop the counter in rand_b */

int fc_reqid_init(struct fc_reqid_gen *gen) {
    uint64_t seed[2];
    ssize_t n = getrandom(seed, sizeof(seed), 0);
    if (n != (ssize_t)sizeof(seed))
        return n < 0 ? -errno : -EIO;
    gen->prefix = seed[0] >> (64 - PREFIX_BITS);
    gen->counter = seed[1] & COUNTER_MASK;
    return 0;
}

static char *put_hex(char *p, uint64_t v, int digits) {
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--)
        p[i] = hex[(v >> (4 * (digits - 1 - i))) & 15];
    return p + digits;
}

void fc_reqid_next(struct fc_reqid_gen *gen, char out[FC_REQID_LEN + 1]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    uint64_t counter = gen->counter++ & COUNTER_MASK;
    /* RFC 9562 layout: unix_ts_ms(48) ver(4)=7 rand_a(12) var(2)=10 rand_b(62). */
    uint64_t rand_a = gen->prefix >> (PREFIX_BITS - 12);
    uint64_t rand_b = (gen->prefix & ((UINT64_C(1) << (PREFIX_BITS - 12)) - 1)) << COUNTER_BITS |
                      counter;
    char *p = out;
    p = put_hex(p, ms >> 16, 8);
    *p++ = '-';
    p = put_hex(p, ms & 0xffff, 4);
    *p++ = '-';
    p = put_hex(p, 0x7000 | rand_a, 4);
    *p++ = '-';
    p = put_hex(p, 0x8000 | rand_b >> 48, 4);
    *p++ = '-';
    p = put_hex(p, rand_b & UINT64_C(0xffffffffffff), 12);
    *p = '\0';
}
