/* router.h — maps a request target to one of fcd's routes (CONTRACT.md §1,
 * §3.1, §5.1). Stateless and zero-copy: the result's slices point into the
 * target. Any thread. */
#ifndef FC_ROUTER_H
#define FC_ROUTER_H

#include <stdint.h>

#include "core/buf.h"
#include "io/http.h"

enum fc_route_kind {
    FC_ROUTE_NONE,         /* no such path: 400 PathNotSupported */
    FC_ROUTE_HEALTH,       /* /healthz */
    FC_ROUTE_HTTP_TRIGGER, /* /{ver}/proxy/{s}[.{q}]/{f}/{path...} */
    FC_ROUTE_INVOKE,       /* POST /{ver}/services/{s}[.{q}]/functions/{f}/invocations */
    FC_ROUTE_API,          /* any other /{ver}/... management path */
};


struct fc_route {
    enum fc_route_kind kind;
    struct fc_slice version;   /* "2016-08-15" or "2021-04-06" */
    struct fc_slice service;   /* trigger and invoke routes */
    struct fc_slice qualifier; /* after '.', or ?qualifier= on 2021-04-06; may be empty */
    struct fc_slice function;
    struct fc_slice path;  /* trigger: the rest of the path after {f}, starting at '/'
                            * (empty when the target ends at {f}); api: after {ver} */
    struct fc_slice query; /* after '?', without it; may be empty */
};

/* The next '/'-separated segment of [*p, end); advances *p past it and its
 * slash. For the routers of sub-paths (io/tasks.c). */
struct fc_slice fc_route_segment(const char **p, const char *end);

/* Classify target[0..len) for method. Returns the route kind (also stored in
 * out->kind). Names are taken raw (no percent-decoding): FC names are
 * [A-Za-z0-9_-] only, so a name holding '%' is simply not found. */
enum fc_route_kind fc_route_match(enum fc_http_method method, const char *target, uint32_t len,
                                  struct fc_route *out);

#endif
