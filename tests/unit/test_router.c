/* test_router.c — io/router: every route of CONTRACT.md §3.1 and §5.1. */
#include "tests/unit/test.h"

#include "io/router.h"

static enum fc_route_kind match(enum fc_http_method m, const char *target, struct fc_route *r) {
    return fc_route_match(m, target, (uint32_t)strlen(target), r);
}

FC_TEST(router_paths) {
    struct fc_route r;
    FC_CHECK_INT(match(FC_HTTP_GET, "/healthz", &r), FC_ROUTE_HEALTH);
    FC_CHECK_INT(match(FC_HTTP_GET, "/healthz?x=1", &r), FC_ROUTE_HEALTH);
    FC_CHECK_INT(match(FC_HTTP_GET, "/healthzz", &r), FC_ROUTE_NONE);
    FC_CHECK_INT(match(FC_HTTP_GET, "/", &r), FC_ROUTE_NONE);
    FC_CHECK_INT(match(FC_HTTP_GET, "/2015-01-01/services", &r), FC_ROUTE_NONE);

    FC_CHECK_INT(match(FC_HTTP_GET, "/2016-08-15/proxy/svc.LATEST/fn/a/b?q=1", &r),
                 FC_ROUTE_HTTP_TRIGGER);
    FC_CHECK_SLICE(r.service.ptr, r.service.len, "svc");
    FC_CHECK_SLICE(r.qualifier.ptr, r.qualifier.len, "LATEST");
    FC_CHECK_SLICE(r.function.ptr, r.function.len, "fn");
    FC_CHECK_SLICE(r.path.ptr, r.path.len, "/a/b");
    FC_CHECK_SLICE(r.query.ptr, r.query.len, "q=1");

    FC_CHECK_INT(match(FC_HTTP_POST, "/2016-08-15/proxy/svc/fn", &r), FC_ROUTE_HTTP_TRIGGER);
    FC_CHECK_INT(r.qualifier.len, 0);
    FC_CHECK_INT(r.path.len, 0);
    FC_CHECK_INT(match(FC_HTTP_POST, "/2016-08-15/proxy/svc/fn/", &r), FC_ROUTE_HTTP_TRIGGER);
    FC_CHECK_SLICE(r.path.ptr, r.path.len, "/");
    FC_CHECK_INT(match(FC_HTTP_GET, "/2016-08-15/proxy/svc", &r), FC_ROUTE_NONE);
    FC_CHECK_INT(match(FC_HTTP_GET, "/2016-08-15/proxy//fn", &r), FC_ROUTE_NONE);

    FC_CHECK_INT(match(FC_HTTP_POST, "/2016-08-15/services/s.prod/functions/f/invocations", &r),
                 FC_ROUTE_INVOKE);
    FC_CHECK_SLICE(r.service.ptr, r.service.len, "s");
    FC_CHECK_SLICE(r.qualifier.ptr, r.qualifier.len, "prod");
    FC_CHECK_SLICE(r.function.ptr, r.function.len, "f");
    FC_CHECK_INT(match(FC_HTTP_POST, "/2021-04-06/services/s/functions/f/invocations?qualifier=v1",
                       &r),
                 FC_ROUTE_INVOKE);
    FC_CHECK_SLICE(r.qualifier.ptr, r.qualifier.len, "v1");
    /* GET on the invocations path is the management API's business. */
    FC_CHECK_INT(match(FC_HTTP_GET, "/2016-08-15/services/s/functions/f/invocations", &r),
                 FC_ROUTE_API);
    FC_CHECK_INT(match(FC_HTTP_POST, "/2016-08-15/services/s/functions/f/invocations/x", &r),
                 FC_ROUTE_API);
    FC_CHECK_INT(match(FC_HTTP_GET, "/2016-08-15/services?limit=2", &r), FC_ROUTE_API);
    FC_CHECK_SLICE(r.path.ptr, r.path.len, "services");
}
