/* test_reqid.c — core/reqid: format and uniqueness. */
#include "tests/unit/test.h"

#include "core/reqid.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define IDS_PER_THREAD 20000
#define THREADS 4

static int id_cmp(const void *a, const void *b) {
    return memcmp(a, b, FC_REQID_LEN);
}

FC_TEST(reqid_format) {
    struct fc_reqid_gen gen;
    FC_CHECK(fc_reqid_init(&gen) == 0);
    for (int n = 0; n < 1000; n++) {
        char id[FC_REQID_LEN + 1];
        fc_reqid_next(&gen, id);
        FC_CHECK_INT(strlen(id), FC_REQID_LEN);
        for (int i = 0; i < FC_REQID_LEN; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                FC_CHECK(id[i] == '-');
            else
                FC_CHECK(isxdigit((unsigned char)id[i]) && !isupper((unsigned char)id[i]));
        }
        FC_CHECK(id[14] == '7');                      /* version 7 */
        FC_CHECK(strchr("89ab", id[19]) != NULL);     /* RFC 4122 variant */
    }
}

/* Time first: the id's millisecond is now's, and one thread's ids increase. */
FC_TEST(reqid_time_ordered) {
    struct fc_reqid_gen gen;
    FC_CHECK(fc_reqid_init(&gen) == 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t before = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    char prev[FC_REQID_LEN + 1], id[FC_REQID_LEN + 1];
    fc_reqid_next(&gen, prev);
    for (int n = 0; n < 1000; n++) {
        fc_reqid_next(&gen, id);
        FC_CHECK(strcmp(prev, id) < 0);
        memcpy(prev, id, sizeof(id));
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t after = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = '\0';
    uint64_t ms = strtoull(hex, NULL, 16);
    FC_CHECK(before <= ms && ms <= after);
}

static char ids[THREADS][IDS_PER_THREAD][FC_REQID_LEN + 1];

static void *make_ids(void *arg) {
    char(*out)[FC_REQID_LEN + 1] = arg;
    struct fc_reqid_gen gen;
    FC_CHECK(fc_reqid_init(&gen) == 0);
    for (int i = 0; i < IDS_PER_THREAD; i++)
        fc_reqid_next(&gen, out[i]);
    return NULL;
}

FC_TEST(reqid_unique_across_threads) {
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        FC_CHECK(pthread_create(&th[i], NULL, make_ids, ids[i]) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    qsort(ids, THREADS * IDS_PER_THREAD, FC_REQID_LEN + 1, id_cmp);
    char(*flat)[FC_REQID_LEN + 1] = &ids[0][0];
    for (int i = 1; i < THREADS * IDS_PER_THREAD; i++)
        FC_CHECK(memcmp(flat[i - 1], flat[i], FC_REQID_LEN) != 0);
}
