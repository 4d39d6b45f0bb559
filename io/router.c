/* router.c — see router.h. */
#include "io/router.h"

#include <string.h>

static const char *const api_versions[] = {"2016-08-15", "2021-04-06"};
#define API_VERSION_LEN 10

static int slice_eq(struct fc_slice s, const char *lit) {
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

struct fc_slice fc_route_segment(const char **p, const char *end) {
    const char *start = *p;
    while (*p < end && **p != '/')
        (*p)++;
    struct fc_slice s = {start, (uint32_t)(*p - start)};
    if (*p < end)
        (*p)++; /* the '/' */
    return s;
}

/* Split "{s}.{q}" at its first '.'. */
static void split_qualifier(struct fc_slice s, struct fc_route *out) {
    const char *dot = memchr(s.ptr, '.', s.len);
    out->service = s;
    if (dot != NULL) {
        out->service.len = (uint32_t)(dot - s.ptr);
        out->qualifier = (struct fc_slice){dot + 1, (uint32_t)(s.ptr + s.len - dot - 1)};
    }
}

/* "/proxy/{s}[.{q}]/{f}[/path]" after the version. */
static enum fc_route_kind match_proxy(const char *p, const char *end, struct fc_route *out) {
    struct fc_slice svc = fc_route_segment(&p, end);
    if (svc.len == 0)
        return FC_ROUTE_NONE;
    split_qualifier(svc, out);
    const char *fn_start = p;
    out->function = fc_route_segment(&p, end);
    if (out->function.len == 0)
        return FC_ROUTE_NONE;
    const char *rest = fn_start + out->function.len;
    out->path = (struct fc_slice){rest, (uint32_t)(end - rest)};
    return out->kind = FC_ROUTE_HTTP_TRIGGER;
}

/* "/services/{s}[.{q}]/functions/{f}/invocations" after the version. */
static int match_invoke(const char *p, const char *end, struct fc_route *out) {
    struct fc_slice seg = fc_route_segment(&p, end);
    if (!slice_eq(seg, "services"))
        return 0;
    struct fc_slice svc = fc_route_segment(&p, end);
    if (svc.len == 0 || !slice_eq(fc_route_segment(&p, end), "functions"))
        return 0;
    struct fc_slice fn = fc_route_segment(&p, end);
    if (fn.len == 0 || !slice_eq(fc_route_segment(&p, end), "invocations") || p != end ||
        end[-1] == '/')
        return 0;
    split_qualifier(svc, out);
    out->function = fn;
    return 1;
}

/* The 2021-04-06 API carries the qualifier as ?qualifier=. */
static void query_qualifier(struct fc_route *out) {
    const char *q = out->query.ptr, *end = q + out->query.len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) > 10 && memcmp(q, "qualifier=", 10) == 0) {
            out->qualifier = (struct fc_slice){q + 10, (uint32_t)(stop - q - 10)};
            return;
        }
        q = stop + (amp != NULL);
    }
}

enum fc_route_kind fc_route_match(enum fc_http_method method, const char *target, uint32_t len,
                                  struct fc_route *out) {
    memset(out, 0, sizeof(*out));
    const char *qmark = memchr(target, '?', len);
    const char *end = qmark ? qmark : target + len;
    if (qmark)
        out->query = (struct fc_slice){qmark + 1, (uint32_t)(target + len - qmark - 1)};
    if ((size_t)(end - target) == 8 && memcmp(target, "/healthz", 8) == 0)
        return out->kind = FC_ROUTE_HEALTH;
    if (end - target < 1 + API_VERSION_LEN || target[0] != '/')
        return FC_ROUTE_NONE;
    const char *p = target + 1;
    out->version = fc_route_segment(&p, end);
    if (!slice_eq(out->version, api_versions[0]) && !slice_eq(out->version, api_versions[1]))
        return out->kind = FC_ROUTE_NONE;
    const char *after_version = p;
    if ((size_t)(end - p) >= 6 && memcmp(p, "proxy/", 6) == 0)
        return match_proxy(p + 6, end, out);
    if (method == FC_HTTP_POST && match_invoke(p, end, out)) {
        if (slice_eq(out->version, api_versions[1]))
            query_qualifier(out);
        return out->kind = FC_ROUTE_INVOKE;
    }
    out->path = (struct fc_slice){after_version, (uint32_t)(end - after_version)};
    return out->kind = FC_ROUTE_API;
}
