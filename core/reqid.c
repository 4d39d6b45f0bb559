/* reqid.c — see reqid.h. */
#include "core/reqid.h"

#include <errno.h>
#include <sys/random.h>

#define MASK56 ((UINT64_C(1) << 56) - 1)

/* A bijection on 56-bit values: xorshift and multiplication by an odd
 * constant are each invertible mod 2^56, so distinct counters give distinct
 * outputs, while consecutive ids look unrelated. */
static uint64_t mix56(uint64_t x) {
    x &= MASK56;
    x ^= x >> 29;
    x = (x * UINT64_C(0xbf58476d1ce4e5b9)) & MASK56;
    x ^= x >> 31;
    x = (x * UINT64_C(0x94d049bb133111eb)) & MASK56;
    x ^= x >> 27;
    return x;
}

int fc_reqid_init(struct fc_reqid_gen *gen) {
    uint64_t seed[2];
    ssize_t n = getrandom(seed, sizeof(seed), 0);
    if (n != (ssize_t)sizeof(seed))
        return n < 0 ? -errno : -EIO;
    gen->prefix = seed[0];
    gen->counter = seed[1] & MASK56;
    return 0;
}

static char *put_hex(char *p, uint64_t v, int digits) {
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--)
        p[i] = hex[(v >> (4 * (digits - 1 - i))) & 15];
    return p + digits;
}

void fc_reqid_next(struct fc_reqid_gen *gen, char out[FC_REQID_LEN + 1]) {
    uint64_t counter = gen->counter++;
    uint64_t low = mix56(counter);
    /* The high half varies per id too, so ids do not share a visible prefix;
     * uniqueness within the thread rests on `low` alone. */
    uint64_t high = gen->prefix ^ mix56(counter ^ UINT64_C(0x9e3779b97f4a7c15)) << 8;
    /* UUID v4 layout: version nibble 4 in the third group, variant 10xx in
     * the fourth; the prefix fills the 64 - 4 free high bits, the mixed
     * counter the low 56 bits, and 6 prefix bits top up the variant group. */
    char *p = out;
    p = put_hex(p, high >> 32, 8);
    *p++ = '-';
    p = put_hex(p, (high >> 16) & 0xffff, 4);
    *p++ = '-';
    p = put_hex(p, 0x4000 | (high & 0x0fff), 4);
    *p++ = '-';
    p = put_hex(p, 0x8000 | ((high >> 12) & 0x3f) << 8 | (low >> 48), 4);
    *p++ = '-';
    p = put_hex(p, low & UINT64_C(0xffffffffffff), 12);
    *p = '\0';
}
