/* test.h — the unit-test vocabulary. Each test is `FC_TEST(name) { ... }` in
 * tests/unit/test_<module>.c and is listed in tests/unit/list.h. The runner
 * (runner.c) forks every test into its own child with a timeout, so a crash,
 * a hang or an assertion in one test fails that test only. */
#ifndef FC_TEST_H
#define FC_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FC_TEST(name) void fc_test_##name(void)

/* Fail the running test (the child exits 1) with the location and a reason. */
#define FC_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);             \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define FC_CHECK_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "# %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a,  \
                    a_, #b, b_);                                                                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define FC_CHECK_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || strcmp(a_, b_) != 0) {                                                   \
            fprintf(stderr, "# %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,    \
                    a_ ? a_ : "(null)", b_);                                                       \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Compare a (pointer, length) slice with a C string. */
#define FC_CHECK_SLICE(ptr, len, str)                                                              \
    do {                                                                                           \
        size_t l_ = (size_t)(len), sl_ = strlen(str);                                              \
        if (l_ != sl_ || memcmp((ptr), (str), l_) != 0) {                                          \
            fprintf(stderr, "# %s:%d: %s == \"%.*s\", expected \"%s\"\n", __FILE__, __LINE__,      \
                    #ptr, (int)l_, (const char *)(ptr), str);                                      \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* A buffer whose last byte sits right before a PROT_NONE page, so reading
 * past `len` faults (picohttpparser's guard-page tests). Free with
 * fc_test_guarded_free. */
char *fc_test_guarded(const void *data, size_t len);
void fc_test_guarded_free(char *p, size_t len);

#endif
