/* assert.h — FC_ASSERT: an invariant check that stays on in release builds
 * (STYLE.md "Assertions"). A broken invariant crashes the process on purpose:
 * at-least-once recovery restarts the work, while carrying on could write a
 * corrupt record or answer the wrong client. Never use it on input from
 * clients, instances or disk: those get an error. Header-only; any thread. */
#ifndef FC_ASSERT_H
#define FC_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define FC_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0)) {                                                        \
            fprintf(stderr, "%s:%d: %s: assertion failed: %s\n", __FILE__, __LINE__, __func__,    \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
