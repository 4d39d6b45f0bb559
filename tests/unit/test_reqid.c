/* test_reqid.c — core/reqid: format and uniqueness. */
#include "tests/unit/test.h"

#include "core/reqid.h"

#include <ctype.h>
#include <pthread.h>

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
        FC_CHECK(id[14] == '4');                      /* version 4 */
        FC_CHECK(strchr("89ab", id[19]) != NULL);     /* RFC 4122 variant */
    }
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
