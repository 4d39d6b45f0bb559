/* cron.c — see cron.h. */
#include "core/cron.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define FIELDS 6
#define SEARCH_YEARS 5

static const struct {
    const char *name;
    int lo, hi;
} fields[FIELDS] = {{"second", 0, 59}, {"minute", 0, 59},     {"hour", 0, 23},
                    {"day of month", 1, 31}, {"month", 1, 12}, {"day of week", 0, 6}};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

/* A number or (months, weekdays) a three-letter name at *p. */
static int value(const char **p, int field) {
    if (field >= 4 && strlen(*p) >= 3) {
        const char *const *names = field == 4 ? month_names : day_names;
        int n = field == 4 ? 12 : 7;
        for (int i = 0; i < n; i++) {
            if (strncasecmp(*p, names[i], 3) == 0) {
                *p += 3;
                return field == 4 ? i + 1 : i;
            }
        }
    }
    if (**p < '0' || **p > '9')
        return -1;
    char *end;
    long v = strtol(*p, &end, 10);
    *p = end;
    return v > 1000 ? -1 : (int)v;
}

/* One comma-separated element: "*", "?", "a", "a-b", with an optional "/n". */
static int element(const char *p, const char *end, int field, uint64_t *bits) {
    int lo = fields[field].lo, hi = fields[field].hi, step = 1;
    if (*p == '*' || *p == '?') {
        p++;
    } else {
        lo = value(&p, field);
        hi = lo;
        if (p < end && *p == '-') {
            p++;
            hi = value(&p, field);
        }
    }
    if (p < end && *p == '/') {
        p++;
        step = value(&p, -1);
        if (hi == lo && p == end)
            hi = fields[field].hi; /* "5/15": from 5 on */
    }
    if (field == 5 && hi == 7) { /* 7 is Sunday too */
        *bits |= 1;
        hi = lo == 7 ? 0 : 6;
        lo = lo == 7 ? 0 : lo;
    }
    if (p != end || lo < fields[field].lo || hi > fields[field].hi || lo > hi || step <= 0)
        return -EINVAL;
    for (int v = lo; v <= hi; v += step)
        *bits |= UINT64_C(1) << v;
    return 0;
}

static int field_parse(const char *text, size_t len, int field, uint64_t *bits, bool *any) {
    char buf[128];
    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, text, len);
    buf[len] = '\0';
    *bits = 0;
    *any = strcmp(buf, "*") == 0 || strcmp(buf, "?") == 0;
    for (char *p = buf; *p;) {
        char *comma = strchr(p, ',');
        char *end = comma ? comma : p + strlen(p);
        if (element(p, end, field, bits) < 0)
            return -EINVAL;
        p = comma ? comma + 1 : end;
    }
    return 0;
}

/* "@every 1h30m", "@every 45s". */
static int every_parse(const char *p, struct fc_cron *out, const char **error) {
    uint64_t total = 0;
    while (*p == ' ')
        p++;
    while (*p) {
        char *end;
        unsigned long n = strtoul(p, &end, 10);
        uint64_t unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : 0;
        if (end == p || unit == 0 || n > FC_CRON_EVERY_S_MAX) {
            *error = "@every: expected a duration like 30s, 4m or 1h30m";
            return -EINVAL;
        }
        total += n * unit;
        p = end + 1;
    }
    if (total == 0 || total > FC_CRON_EVERY_S_MAX) {
        *error = "@every: the period must be 1 s to a year";
        return -EINVAL;
    }
    out->every_s = total;
    return 0;
}

int fc_cron_parse(const char *text, struct fc_cron *out, const char **error) {
    memset(out, 0, sizeof(*out));
    *error = NULL;
    if (strncmp(text, "CRON_TZ=", 8) == 0) {
        if (strncmp(text + 8, "UTC ", 4) != 0) {
            *error = "CRON_TZ: only UTC is supported";
            return -EINVAL;
        }
        text += 12;
    }
    if (strncmp(text, "@every", 6) == 0)
        return every_parse(text + 6, out, error);
    uint64_t bits[FIELDS];
    bool any[FIELDS];
    const char *p = text;
    for (int f = 0; f < FIELDS; f++) {
        while (*p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ' ')
            p++;
        if (field_parse(start, (size_t)(p - start), f, &bits[f], &any[f]) < 0) {
            *error = fields[f].name;
            return -EINVAL;
        }
    }
    while (*p == ' ')
        p++;
    if (*p != '\0') {
        *error = "more than six fields";
        return -EINVAL;
    }
    *out = (struct fc_cron){.sec = bits[0], .min = bits[1], .hour = (uint32_t)bits[2],
                            .dom = (uint32_t)bits[3], .mon = (uint32_t)bits[4],
                            .dow = (uint8_t)bits[5], .dom_any = any[3], .dow_any = any[5]};
    return 0;
}

static bool day_matches(const struct fc_cron *c, const struct tm *tm) {
    bool dom = c->dom >> tm->tm_mday & 1, dow = c->dow >> tm->tm_wday & 1;
    if (c->dom_any || c->dow_any)
        return dom && dow; /* one of them is '*': the other decides */
    return dom || dow;
}

/* Field by field from the largest: a mismatch jumps to the start of the
 * next unit, so the loop runs at most a few hundred times a year. */
int64_t fc_cron_next(const struct fc_cron *c, int64_t after_s) {
    if (c->every_s > 0)
        return after_s + (int64_t)c->every_s;
    time_t t = (time_t)after_s + 1;
    time_t limit = t + (time_t)SEARCH_YEARS * 366 * 24 * 3600;
    while (t < limit) {
        struct tm tm;
        gmtime_r(&t, &tm);
        if (!(c->mon >> (tm.tm_mon + 1) & 1)) {
            tm.tm_mon++, tm.tm_mday = 1, tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        } else if (!day_matches(c, &tm)) {
            tm.tm_mday++, tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        } else if (!(c->hour >> tm.tm_hour & 1)) {
            tm.tm_hour++, tm.tm_min = tm.tm_sec = 0;
        } else if (!(c->min >> tm.tm_min & 1)) {
            tm.tm_min++, tm.tm_sec = 0;
        } else if (!(c->sec >> tm.tm_sec & 1)) {
            tm.tm_sec++;
        } else {
            return (int64_t)t;
        }
        t = timegm(&tm); /* normalises the overflowed field */
    }
    return 0;
}
