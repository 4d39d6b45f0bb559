/* instance.h — the process side of a function instance: spawn through
 * fcshim, memory cgroup, port, environment, kill, reap.
 *
 * fcd posix_spawn()s `fcshim` (a small launcher next to the fcd binary),
 * which puts itself in a new session (so the instance is one process
 * group), joins the instance's memory cgroup, sets rlimits, changes to the
 * code directory and execs the function's command. posix_spawn uses
 * CLONE_VFORK|CLONE_VM, so the cost does not grow with fcd's memory (fork
 * of a 512 MiB parent costs 19 ms here, posix_spawn 0.6 ms; BENCH.md).
 *
 * Memory cgroups: probed once at start — v2 (memory.max) or v1
 * (memory.limit_in_bytes under the memory hierarchy); each instance gets
 * its own child cgroup with the function's memory limit, whose peak gives
 * maxMemoryUsage. Without a writable hierarchy instances run unlimited and
 * the peak comes from /proc/PID/status VmHWM (logged once).
 *
 * Network: by default an instance shares fcd's network and listens on the
 * free loopback port fcd gives it in FC_SERVER_PORT. In isolated mode
 * (config instance_network "isolated", root only) each instance gets its own
 * network namespace with only `lo` up, listens on the function's caPort
 * (9000 unless set) unchanged, and fcd connects from inside the namespace
 * (fc_instance_socket).
 *
 * Called by worker threads; fc_instance_setup by the main thread. */
#ifndef FC_INSTANCE_H
#define FC_INSTANCE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "core/registry.h"

#define FC_INSTANCE_ID_LEN 38 /* "c-" + 36 */

struct fc_proc {
    pid_t pid;   /* fcshim, then the runtime (same pid: fcshim execs it) */
    int pidfd;   /* readable when the process exits */
    int out_fd;  /* the instance's stdout and stderr (one pipe, so lines keep their
                  * order), read end, non-blocking */
    uint16_t port;
    char id[FC_INSTANCE_ID_LEN + 1];
    char cgroup[PATH_MAX]; /* "" when running without one */
    bool cgroup_v2;
    int netns_fd; /* isolated mode: the instance's network namespace, else -1 */
    int peak_fd;  /* the cgroup's peak memory file, kept open: read per invocation */
};

/* Probe cgroups and find fcshim. Main thread, once, before workers start.
 * Returns 0 or -ENOENT when fcshim is missing (fcd cannot run functions). */
int fc_instance_setup(const struct fc_config *cfg);

/* Remove what fc_instance_setup made (fcd's parent cgroup). Main thread,
 * once, after the workers stopped and every instance is reaped. */
void fc_instance_teardown(void);

/* Start an instance of fn with id `id`. On success fills *p and returns 0;
 * on failure returns -errno with err set (nothing left behind). */
int fc_instance_spawn(const struct fc_function *fn, const char *id, struct fc_proc *p,
                      char *err, size_t err_len);

/* A non-blocking TCP socket in the instance's network (its namespace in
 * isolated mode), to connect to 127.0.0.1:p->port. Returns the fd or -errno. */
int fc_instance_socket(const struct fc_proc *p);

/* SIGKILL the instance's whole process group (gunicorn's workers too).
 * Idempotent. */
void fc_instance_kill(const struct fc_proc *p);

/* Reap the exited process (pidfd readable) and release fds and cgroup,
 * all but out_fd: output may still wait in the pipe. Sets *oom when the
 * cgroup recorded an OOM kill. Returns the wait status. */
int fc_instance_reap(struct fc_proc *p, bool *oom);

/* Close the output pipe once nothing more will be read from it. */
void fc_instance_close_output(struct fc_proc *p);

/* Peak memory in KiB since the last reset (cgroup) or of the process. */
uint32_t fc_instance_peak_kb(const struct fc_proc *p);
/* Reset the cgroup's peak (v1 only allows it); no-op otherwise. */
void fc_instance_peak_reset(const struct fc_proc *p);

#endif
