/* reqid.h — FC-style request ids (UUID v4 text form), without a lock.
 *
 * Each thread owns a generator: a random 64-bit prefix drawn once from
 * getrandom(2) and a counter. The id's low 56 bits are a bijective mix of the
 * counter (unique within a thread by construction); the high 64 bits are the
 * prefix xor another mix of the counter, so two threads collide with
 * probability about 2^-64 per pair of ids. Not a security token. */
#ifndef FC_REQID_H
#define FC_REQID_H

#include <stdint.h>

#define FC_REQID_LEN 36 /* xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx */

struct fc_reqid_gen {
    uint64_t prefix;
    uint64_t counter;
};

/* Seed a generator from getrandom(2). Returns 0 or -errno. Owner thread only. */
int fc_reqid_init(struct fc_reqid_gen *gen);

/* Write the next id and a NUL into out[0..FC_REQID_LEN]. Owner thread only. */
void fc_reqid_next(struct fc_reqid_gen *gen, char out[FC_REQID_LEN + 1]);

#endif
