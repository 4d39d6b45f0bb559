/* cron.h — FC timer trigger schedules (CONTRACT.md §5.4): six-field cron
 * expressions "sec min hour day-of-month month day-of-week" and "@every
 * <n>s|m|h" (e.g. "@every 4m", "@every 1h30m"). Times are UTC; a leading
 * "CRON_TZ=UTC " is accepted, other zones are refused.
 *
 * Fields take "*", numbers, ranges a-b, steps ("*" or a range, then a slash
 * and n), lists a,b,c;
 * months JAN..DEC and weekdays SUN..SAT by name too; '?' equals '*' in the
 * day fields. As in classic cron, when both day fields are restricted a day
 * matches if either does.
 *
 * Stateless and pure: any thread. */
#ifndef FC_CRON_H
#define FC_CRON_H

#include <stdbool.h>
#include <stdint.h>

#define FC_CRON_EVERY_S_MAX (366u * 24 * 3600) /* @every longer than a year: refused */

struct fc_cron {
    uint64_t every_s; /* @every: the period; 0 for a cron expression */
    uint64_t sec, min; /* bit i set: value i allowed */
    uint32_t hour, dom, mon; /* dom bits 1..31, mon bits 1..12 */
    uint8_t dow;             /* bits 0..6, Sunday = 0 */
    bool dom_any, dow_any;   /* the field was '*' or '?' */
};

/* Parse text. Returns 0, or -EINVAL with *error naming the bad field. */
int fc_cron_parse(const char *text, struct fc_cron *out, const char **error);

/* The first firing strictly after `after_s` (Unix seconds, UTC). For @every
 * the firings are after_s + every_s (the caller passes the last firing or
 * the start). Returns it, or 0 when none comes within five years (e.g. the
 * 31st of February). */
int64_t fc_cron_next(const struct fc_cron *c, int64_t after_s);

#endif
