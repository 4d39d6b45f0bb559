/* fcshim.c — the instance launcher. fcd posix_spawn()s it for every
 * custom-runtime instance; it sets the process up and execs the runtime:
 *
 *   fcshim [--code-dir DIR] [--cgroup DIR]... [--uid N --gid N] [--nofile N]
 *          [--nproc N] [--netns PATH] -- COMMAND [ARGS...]
 *
 * In this order (each step needs the privileges the later ones drop):
 *   1. signals: every disposition back to default, nothing blocked. posix_spawn
 *      keeps ignored signals and the mask across exec, and fcd blocks and
 *      ignores some (SIGPIPE; signals it takes by signalfd): a runtime must
 *      not start with SIGTERM blocked or SIGPIPE ignored.
 *   2. setsid(): own session and process group (pgid = pid), so fcd can
 *      kill(-pid) the whole instance, children too (gunicorn's workers).
 *   3. --cgroup DIR (repeatable): on v1, "0" to DIR/tasks: moves this thread,
 *      which is all of us (single-threaded), without the kernel's global
 *      threadgroup lock that a cgroup.procs write takes and whose RCU grace
 *      period costs 5-20 ms of every cold start. On v2 (no tasks file) our pid
 *      to DIR/cgroup.procs. Children follow us.
 *   4. --netns PATH: setns() into that network namespace (isolated mode).
 *   5. --nofile N, --nproc N: setrlimit, soft = hard = N.
 *   6. --code-dir DIR: chdir.
 *   7. --uid N --gid N (both or neither): setgroups(0), setgid, setuid.
 *   8. PR_SET_PDEATHSIG = SIGKILL, after setuid because a credential change
 *      clears it; then, if our parent already changed (fcd died before we got
 *      here), give up. Note: the signal comes when the *thread* that spawned
 *      us exits, not the process: fcd must spawn from a long-lived thread.
 *   9. stdin from /dev/null (fcd passes stdout/stderr as pipes already); every
 *      other inherited fd above 2 is marked close-on-exec, so the instance
 *      never holds one of fcd's sockets.
 *  10. execvp(COMMAND, ARGS): a COMMAND without '/' is searched in $PATH.
 * The environment passes through untouched: fcd builds it.
 *
 * On failure fcshim prints one line to stderr, `fcshim: <what>: <strerror>`,
 * and exits with
 *   127  the command was not found (FC's CAFileNotFound),
 *   126  it was found but cannot be executed: no permission, not a program
 *        (CAFilePermission),
 *   125  any other failure, usage errors included (CAExited).
 * A runtime that itself exits 125..127 is indistinguishable; fcd should read
 * the stderr line to be sure. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXIT_NOT_FOUND 127
#define EXIT_NOT_EXECUTABLE 126
#define EXIT_SETUP 125
#define CGROUPS_MAX 8 /* one per v1 controller we use, and v2 */

struct shim_opts {
    const char *code_dir;
    const char *cgroups[CGROUPS_MAX];
    int cgroups_count;
    const char *netns;
    long long uid, gid;      /* -1: unchanged */
    long long nofile, nproc; /* -1: unchanged */
    char **argv;             /* COMMAND and ARGS */
};

static void __attribute__((noreturn)) die(int code, const char *what, const char *arg, int err) {
    if (arg != NULL)
        fprintf(stderr, "fcshim: %s %s: %s\n", what, arg, strerror(err));
    else
        fprintf(stderr, "fcshim: %s: %s\n", what, strerror(err));
    exit(code);
}

static void __attribute__((noreturn)) usage(const char *why) {
    fprintf(stderr,
            "fcshim: %s\nusage: fcshim [--code-dir DIR] [--cgroup DIR]... [--uid N --gid N] "
            "[--nofile N] [--nproc N] [--netns PATH] -- COMMAND [ARGS...]\n",
            why);
    exit(EXIT_SETUP);
}

static long long number(const char *opt, const char *v, long long max) {
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < 0 || n > max) {
        fprintf(stderr, "fcshim: %s %s: not a number in 0..%lld\n", opt, v, max);
        exit(EXIT_SETUP);
    }
    return n;
}

/* Parse argv. Options take their value as the next argument; COMMAND starts
 * after "--" (or at the first argument that is not an option). */
static void parse_args(int argc, char **argv, struct shim_opts *o) {
    *o = (struct shim_opts){.uid = -1, .gid = -1, .nofile = -1, .nproc = -1};
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strncmp(a, "--", 2) != 0)
            break;
        if (i + 1 >= argc)
            usage("option needs a value");
        const char *v = argv[++i];
        if (strcmp(a, "--code-dir") == 0)
            o->code_dir = v;
        else if (strcmp(a, "--cgroup") == 0 && o->cgroups_count < CGROUPS_MAX)
            o->cgroups[o->cgroups_count++] = v;
        else if (strcmp(a, "--netns") == 0)
            o->netns = v;
        else if (strcmp(a, "--uid") == 0)
            o->uid = number(a, v, UINT32_MAX - 1);
        else if (strcmp(a, "--gid") == 0)
            o->gid = number(a, v, UINT32_MAX - 1);
        else if (strcmp(a, "--nofile") == 0)
            o->nofile = number(a, v, INT32_MAX);
        else if (strcmp(a, "--nproc") == 0)
            o->nproc = number(a, v, INT32_MAX);
        else
            usage(strcmp(a, "--cgroup") == 0 ? "too many --cgroup" : "unknown option");
    }
    if (i >= argc)
        usage("no command");
    if ((o->uid < 0) != (o->gid < 0))
        usage("--uid and --gid go together");
    o->argv = argv + i;
}

/* Default dispositions and an empty mask (step 1). SIGKILL/SIGSTOP and
 * glibc's internal signals refuse sigaction with EINVAL; that is fine. */
static void signals_reset(void) {
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Move into DIR: "0" (this thread) to DIR/tasks on v1, else our pid to
 * DIR/cgroup.procs (step 3). */
static void cgroup_join(const char *dir) {
    char path[PATH_MAX], pid[24];
    const char *files[] = {"tasks", "cgroup.procs"};
    int err = ENOENT;
    for (int i = 0; i < 2; i++) {
        if (snprintf(path, sizeof(path), "%s/%s", dir, files[i]) >= (int)sizeof(path))
            die(EXIT_SETUP, "cgroup", dir, ENAMETOOLONG);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && i == 0)
            continue;
        if (fd < 0)
            die(EXIT_SETUP, "cgroup", path, errno);
        int n = i == 0 ? snprintf(pid, sizeof(pid), "0\n")
                       : snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
        ssize_t w = write(fd, pid, (size_t)n);
        err = errno;
        close(fd);
        if (w != n)
            die(EXIT_SETUP, "cgroup", path, w < 0 ? err : EIO);
        return;
    }
    die(EXIT_SETUP, "cgroup", dir, err);
}

static void netns_enter(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die(EXIT_SETUP, "netns", path, errno);
    if (setns(fd, CLONE_NEWNET) < 0)
        die(EXIT_SETUP, "netns", path, errno);
    close(fd);
}

static void limit_set(int resource, const char *name, long long n) {
    struct rlimit rl = {(rlim_t)n, (rlim_t)n};
    if (setrlimit(resource, &rl) < 0)
        die(EXIT_SETUP, "setrlimit", name, errno);
}

/* Step 7. Only root may drop supplementary groups; anyone else can only
 * "change" to its own ids (setgid/setuid then fail with EPERM otherwise), so
 * the groups are left as they are. */
static void credentials_drop(long long uid, long long gid) {
    if (geteuid() == 0 && setgroups(0, NULL) < 0)
        die(EXIT_SETUP, "setgroups", NULL, errno);
    if (setgid((gid_t)gid) < 0)
        die(EXIT_SETUP, "setgid", NULL, errno);
    if (setuid((uid_t)uid) < 0)
        die(EXIT_SETUP, "setuid", NULL, errno);
}

/* Step 9: stdin from /dev/null; fds above 2 close at exec. */
static void fds_prepare(void) {
    int fd = open("/dev/null", O_RDONLY);
    if (fd < 0)
        die(EXIT_SETUP, "open", "/dev/null", errno);
    if (fd != 0) {
        if (dup2(fd, 0) < 0)
            die(EXIT_SETUP, "dup2", "stdin", errno);
        close(fd);
    }
#ifdef SYS_close_range
    /* Linux 5.11+; on older kernels fcd's own O_CLOEXEC discipline is all. */
    syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
#endif
}

static int exit_code_of_exec(int err) {
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
    case ELOOP: return EXIT_NOT_FOUND;
    case EACCES:
    case EPERM:
    case ENOEXEC:
    case EISDIR:
    case ETXTBSY:
    case ELIBBAD: return EXIT_NOT_EXECUTABLE;
    default: return EXIT_SETUP;
    }
}

int main(int argc, char **argv) {
    struct shim_opts o;
    parse_args(argc, argv, &o);
    pid_t parent = getppid();
    signals_reset();
    /* setsid fails (EPERM) only for a group leader; one that leads its own
     * session already has what we want. */
    if (setsid() < 0 && getsid(0) != getpid())
        die(EXIT_SETUP, "setsid", NULL, errno);
    for (int i = 0; i < o.cgroups_count; i++)
        cgroup_join(o.cgroups[i]);
    if (o.netns != NULL)
        netns_enter(o.netns);
    if (o.nofile >= 0)
        limit_set(RLIMIT_NOFILE, "nofile", o.nofile);
    if (o.nproc >= 0)
        limit_set(RLIMIT_NPROC, "nproc", o.nproc);
    if (o.code_dir != NULL && chdir(o.code_dir) < 0)
        die(EXIT_SETUP, "chdir", o.code_dir, errno);
    if (o.uid >= 0)
        credentials_drop(o.uid, o.gid);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        die(EXIT_SETUP, "prctl PDEATHSIG", NULL, errno);
    if (getppid() != parent)
        die(EXIT_SETUP, "parent exited", NULL, ESRCH);
    fds_prepare();
    execvp(o.argv[0], o.argv);
    int err = errno;
    die(exit_code_of_exec(err), "exec", o.argv[0], err);
}
