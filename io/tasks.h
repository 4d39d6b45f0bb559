/* tasks.h — FC's task API for async invocations (stateful async
 * invocations: get, list, stop; CONTRACT.md §5.6). io thread only. */
#ifndef FC_TASKS_H
#define FC_TASKS_H

#include <stdbool.h>

#include "io/io_thread.h"
#include "io/router.h"

/* Is the route's path a task path (…/stateful-async-invocations[/{id}])? */
bool fc_tasks_route(const struct fc_route *route);

/* Answer a management-API request if its path is a task path: returns the
 * status of the response appended to c->out, 0 when a stop went to the
 * store thread (answered later, c->areq set), or -1 when the path or method
 * is not a task request (the caller answers). */
int fc_tasks_dispatch(struct fc_conn *c, const struct fc_http_req *req,
                      const struct fc_route *route, bool keep_alive, const char *rid);

#endif
