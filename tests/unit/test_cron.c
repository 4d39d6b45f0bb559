/* test_cron.c — core/cron: parsing, and next firings against hand-checked
 * times (UTC). */
#include "tests/unit/test.h"

#include "core/cron.h"

#include <time.h>

/* Unix seconds of a UTC date. */
static int64_t at(int y, int mo, int d, int h, int mi, int s) {
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm);
}

static int64_t next_of(const char *expr, int64_t after) {
    struct fc_cron c;
    const char *err;
    if (fc_cron_parse(expr, &c, &err) != 0) {
        fprintf(stderr, "# %s: %s\n", expr, err);
        FC_CHECK(0);
    }
    return fc_cron_next(&c, after);
}

FC_TEST(cron_next_firings) {
    int64_t t0 = at(2026, 12, 1, 10, 2, 58); /* a Tuesday */
    FC_CHECK_INT(next_of("0 0 4 * * *", t0), at(2026, 12, 2, 4, 0, 0));
    FC_CHECK_INT(next_of("* * * * * *", t0), t0 + 1);
    FC_CHECK_INT(next_of("0 */15 * * * *", t0), at(2026, 12, 1, 10, 15, 0));
    FC_CHECK_INT(next_of("30 5 10 * * *", t0), at(2026, 12, 1, 10, 5, 30));
    FC_CHECK_INT(next_of("0 0 0 1 JAN ?", t0), at(2027, 1, 1, 0, 0, 0));
    FC_CHECK_INT(next_of("0 0 12 ? * MON-FRI", at(2026, 12, 5, 13, 0, 0)), /* Saturday */
                 at(2026, 12, 7, 12, 0, 0));
    FC_CHECK_INT(next_of("0 0 0 29 2 *", t0), at(2028, 2, 29, 0, 0, 0)); /* leap day */
    FC_CHECK_INT(next_of("0 0 0 31 2 *", t0), 0);                          /* never */
    FC_CHECK_INT(next_of("CRON_TZ=UTC 0 0 4 * * *", t0), at(2026, 12, 2, 4, 0, 0));
    FC_CHECK_INT(next_of("0 0 0 * * 7", t0), at(2026, 12, 6, 0, 0, 0)); /* Sunday as 7 */
    FC_CHECK_INT(next_of("@every 4m", t0), t0 + 240);
    FC_CHECK_INT(next_of("@every 1h30m", t0), t0 + 5400);
    /* Either restricted day field matches (classic cron). */
    FC_CHECK_INT(next_of("0 0 0 15 * MON", t0), at(2026, 12, 7, 0, 0, 0));
}

FC_TEST(cron_parse_errors) {
    static const char *const bad[] = {
        "", "* * * * *", "* * * * * * *", "60 * * * * *", "* 60 * * * *", "* * 24 * * *",
        "* * * 0 * *", "* * * * 13 *", "* * * * * 8", "*/0 * * * * *", "5-1 * * * * *",
        "a * * * * *", "@every", "@every 0s", "@every 5x", "CRON_TZ=Asia/Shanghai 0 0 4 * * *",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct fc_cron c;
        const char *err = NULL;
        if (fc_cron_parse(bad[i], &c, &err) != -22)
            fprintf(stderr, "# accepted: '%s'\n", bad[i]);
        FC_CHECK_INT(fc_cron_parse(bad[i], &c, &err), -22);
        FC_CHECK(err != NULL);
    }
}
