/* server.h — the io_uring HTTP/1.1 front end: io threads, connections,
 * request dispatch.
 *
 * fc_server_start opens one SO_REUSEPORT listening socket per io thread (so
 * the kernel spreads new connections) and starts the threads. Each io thread
 * owns one io_uring (no SQPOLL), its listening socket, a pool of connections
 * sized at start, a provided-buffer ring for multishot recv and a timer wheel
 * for idle, header and linger timeouts. A connection belongs to one io thread
 * for life; no lock is taken on the request path.
 *
 * The main thread calls start, drain (on SIGTERM), join and destroy; the
 * server reads the config it was given and never changes it. */
#ifndef FC_SERVER_H
#define FC_SERVER_H

#include <stdint.h>

#include "core/async.h"
#include "core/config.h"
#include "core/sched.h"

struct fc_server;
struct fc_ctl;

/* Bind the listening sockets and start cfg->io_threads io threads, which
 * hand invocations to `sched` (started for cfg->io_threads io threads plus
 * the store thread) and async requests to `async`. cfg, sched and async are
 * borrowed until fc_server_destroy. Returns 0 with *out set, or -errno
 * (-EADDRINUSE, -EACCES, io_uring setup errors); nothing is left running
 * then. The bound address (port 0 resolved) is logged as "listening on". */
int fc_server_start(const struct fc_config *cfg, struct fc_sched *sched, struct fc_async *async,
                    struct fc_ctl *ctl, struct fc_server **out);

/* Stop accepting, close idle connections, and let each in-flight request
 * finish (its response says Connection: close). Returns at once; any thread. */
void fc_server_drain(struct fc_server *s);

/* Wait until every io thread has finished its connections, at most
 * grace_ms after which the remaining connections are closed. Returns 0 when
 * everything drained in time, -ETIMEDOUT when connections were cut. */
int fc_server_join(struct fc_server *s, uint32_t grace_ms);

/* Free everything; the threads must have been joined, and the scheduler
 * stopped (its workers write the io threads' eventfds, closed here). */
void fc_server_destroy(struct fc_server *s);

#endif
