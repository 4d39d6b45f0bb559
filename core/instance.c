/* instance.c — see instance.h. */
#include "core/instance.h"

#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <netinet/in.h>
#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define ENV_FC_MAX 24     /* FC_* and system variables fcd sets */
#define SHIM_ARGS_MAX 16  /* fcshim's own options */

/* Set once by fc_instance_setup (main thread, before workers exist), then
 * only read. */
static char shim_path[PATH_MAX];
static char cgroup_parent[PATH_MAX]; /* "" = no memory cgroups */
static bool cgroup_v2;
static char region[] = "local";
static char uid_arg[16], gid_arg[16];   /* "" = keep fcd's credentials */
static char nofile_arg[16], nproc_arg[16];
static bool isolated;
static _Thread_local int home_netns = -1; /* the worker thread's own namespace */

static int write_text(const char *dir, const char *file, const char *text) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int rc = n == (ssize_t)strlen(text) ? 0 : -errno;
    close(fd);
    return rc;
}

/* Our own memory cgroup (v1 line "N:memory:/path", v2 line "0::/path"). */
static int own_cgroup(bool v2, char *out, size_t cap) {
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f == NULL)
        return -errno;
    char line[PATH_MAX];
    int rc = -ENOENT;
    while (rc < 0 && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *path = v2 ? (strncmp(line, "0::", 3) == 0 ? line + 3 : NULL)
                        : strstr(line, ":memory:") ? strstr(line, ":memory:") + 8 : NULL;
        if (path != NULL) {
            size_t n = strcmp(path, "/") == 0 ? 0 : strlen(path);
            if (n >= cap)
                break;
            memcpy(out, path, n);
            out[n] = '\0';
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

/* Remove what fcds that did not stop cleanly (SIGKILL, a crash) left under
 * dir: their fcd-PID cgroups with the instance cgroups in them. A group
 * something still runs in stays: its pid may be another pid namespace's. */
static void cgroup_sweep_stale(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int pid, end = 0;
        if (sscanf(e->d_name, "fcd-%d%n", &pid, &end) != 1 || e->d_name[end] != '\0' ||
            pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%.3000s/%s", dir, e->d_name);
        DIR *pd = opendir(parent);
        struct dirent *ie;
        while (pd != NULL && (ie = readdir(pd)) != NULL) {
            char inst[PATH_MAX + 256];
            snprintf(inst, sizeof(inst), "%s/%s", parent, ie->d_name);
            if (ie->d_type == DT_DIR && ie->d_name[0] != '.')
                rmdir(inst);
        }
        if (pd != NULL)
            closedir(pd);
        if (rmdir(parent) < 0)
            FC_LOG_WARN("instances: %s of a stopped fcd is still in use", parent);
    }
    closedir(d);
}

/* Try v2, then v1: create fcd's parent cgroup under our own and check a
 * child can get a limit. */
static void cgroup_probe(void) {
    static const struct {
        const char *root, *limit_file;
        bool v2;
    } kinds[] = {{"/sys/fs/cgroup", "memory.max", true},
                 {"/sys/fs/cgroup/memory", "memory.limit_in_bytes", false}};
    for (size_t i = 0; i < 2; i++) {
        char own[PATH_MAX / 2], parent[PATH_MAX], probe[PATH_MAX + 16];
        if (kinds[i].v2 && access("/sys/fs/cgroup/cgroup.controllers", R_OK) != 0)
            continue;
        if (own_cgroup(kinds[i].v2, own, sizeof(own)) < 0)
            continue;
        snprintf(parent, sizeof(parent), "%s%s", kinds[i].root, own);
        cgroup_sweep_stale(parent);
        snprintf(parent + strlen(parent), sizeof(parent) - strlen(parent), "/fcd-%d", (int)getpid());
        if (mkdir(parent, 0755) < 0 && errno != EEXIST)
            continue;
        if (kinds[i].v2)
            write_text(parent, "cgroup.subtree_control", "+memory");
        snprintf(probe, sizeof(probe), "%s/probe", parent);
        bool ok = mkdir(probe, 0755) == 0 && write_text(probe, kinds[i].limit_file, "67108864") == 0;
        rmdir(probe);
        if (ok) {
            snprintf(cgroup_parent, sizeof(cgroup_parent), "%s", parent);
            cgroup_v2 = kinds[i].v2;
            FC_LOG_INFO("instances: memory cgroup %s (%s)", parent, kinds[i].v2 ? "v2" : "v1");
            return;
        }
        rmdir(parent);
    }
    FC_LOG_WARN("instances: no writable memory cgroup; running without memory limits, "
                "maxMemoryUsage from VmHWM");
}

/* When fcd runs as root, instances run as cfg->instance_user. */
/* A limit no higher than fcd's own hard limit: raising a hard limit needs
 * CAP_SYS_RESOURCE, which a container may not grant even to root. */
static unsigned long clamp_limit(int resource, uint32_t want) {
    struct rlimit rl;
    if (getrlimit(resource, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
        return (unsigned long)rl.rlim_max;
    return want;
}

static int credentials_setup(const struct fc_config *cfg) {
    snprintf(nofile_arg, sizeof(nofile_arg), "%lu", clamp_limit(RLIMIT_NOFILE, cfg->instance_nofile));
    snprintf(nproc_arg, sizeof(nproc_arg), "%lu", clamp_limit(RLIMIT_NPROC, cfg->instance_nproc));
    if (geteuid() != 0 || strcmp(cfg->instance_user, "root") == 0)
        return 0;
    struct passwd *pw = getpwnam(cfg->instance_user);
    if (pw == NULL) {
        FC_LOG_ERROR("instance_user '%s': no such user", cfg->instance_user);
        return -ENOENT;
    }
    snprintf(uid_arg, sizeof(uid_arg), "%u", (unsigned)pw->pw_uid);
    snprintf(gid_arg, sizeof(gid_arg), "%u", (unsigned)pw->pw_gid);
    FC_LOG_INFO("instances run as %s (uid %s, gid %s)", cfg->instance_user, uid_arg, gid_arg);
    return 0;
}

int fc_instance_setup(const struct fc_config *cfg) {
    int rc = credentials_setup(cfg);
    if (rc < 0)
        return rc;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0)
        return -errno;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    *slash = '\0';
    snprintf(shim_path, sizeof(shim_path), "%.4000s/fcshim", exe);
    if (access(shim_path, X_OK) != 0) {
        FC_LOG_ERROR("instances: %s not found: functions cannot start", shim_path);
        return -ENOENT;
    }
    cgroup_probe();
    isolated = cfg->instance_isolated;
    if (isolated && geteuid() != 0) {
        FC_LOG_ERROR("instance_network isolated needs root (CAP_SYS_ADMIN)");
        return -EPERM;
    }
    if (isolated)
        FC_LOG_INFO("instances: isolated mode, a network namespace each, listening on caPort");
    return 0;
}

void fc_instance_teardown(void) {
    if (cgroup_parent[0] != '\0' && rmdir(cgroup_parent) < 0)
        FC_LOG_WARN("instances: cannot remove %s: %s", cgroup_parent, strerror(errno));
}

/* Enter `fd`'s network namespace on this thread; remember our own first. */
static int netns_enter(int fd) {
    if (home_netns < 0 && (home_netns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

static void netns_leave(void) {
    if (setns(home_netns, CLONE_NEWNET) < 0)
        FC_LOG_ERROR("cannot return to fcd's network namespace: %s", strerror(errno));
}

/* A new network namespace with `lo` up; returns its fd or -errno. The
 * calling thread moves into it for the moment and comes back. */
static int netns_create(void) {
    if (home_netns < 0 && (home_netns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    if (unshare(CLONE_NEWNET) < 0)
        return -errno;
    int rc = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (rc < 0 || sock < 0 || ioctl(sock, SIOCGIFFLAGS, &ifr) < 0 ||
        (ifr.ifr_flags |= IFF_UP, ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)) {
        int err = -errno;
        if (rc >= 0)
            close(rc);
        rc = err;
    }
    if (sock >= 0)
        close(sock);
    netns_leave();
    return rc;
}

int fc_instance_socket(const struct fc_proc *p) {
    if (p->netns_fd >= 0) {
        int rc = netns_enter(p->netns_fd);
        if (rc < 0)
            return rc;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err = fd < 0 ? -errno : 0;
    if (p->netns_fd >= 0)
        netns_leave();
    return fd < 0 ? err : fd;
}

/* A free loopback port: bind port 0 and let it go. The instance binds it
 * moments later; a collision shows up as FunctionNotStarted, not silence. */
static int pick_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int rc = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                     getsockname(fd, (struct sockaddr *)&a, &len) == 0
                 ? ntohs(a.sin_port)
                 : -errno;
    close(fd);
    return rc;
}

static int cgroup_create(const struct fc_function *fn, struct fc_proc *p) {
    if (cgroup_parent[0] == '\0')
        return 0;
    snprintf(p->cgroup, sizeof(p->cgroup), "%.3000s/%s", cgroup_parent, p->id);
    char limit[32];
    snprintf(limit, sizeof(limit), "%llu", (unsigned long long)fn->memory_mb << 20);
    if (mkdir(p->cgroup, 0755) < 0 ||
        write_text(p->cgroup, cgroup_v2 ? "memory.max" : "memory.limit_in_bytes", limit) < 0) {
        int err = -errno;
        rmdir(p->cgroup);
        p->cgroup[0] = '\0';
        return err;
    }
    if (!cgroup_v2) /* no swap here, but never let the limit spill into it */
        write_text(p->cgroup, "memory.memsw.limit_in_bytes", limit);
    p->cgroup_v2 = cgroup_v2;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", p->cgroup,
             cgroup_v2 ? "memory.peak" : "memory.max_usage_in_bytes");
    p->peak_fd = open(path, (cgroup_v2 ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    return 0;
}

/* The instance's environment: a clean one with FC's variables (CONTRACT.md
 * §6.2, both naming families), PATH, HOME and LANG, then the function's own.
 * Strings live in `store`. */
static void build_env(const struct fc_function *fn, const struct fc_proc *p, char **env,
                      char store[ENV_FC_MAX][PATH_MAX + 32]) {
    int n = 0;
#define ENV(...) snprintf(store[n], sizeof(store[n]), __VA_ARGS__), env[n] = store[n], n++
    ENV("PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin");
    ENV("HOME=/tmp");
    ENV("LANG=C.UTF-8");
    ENV("FC_SERVER_PORT=%u", p->port);
    ENV("FC_CUSTOM_LISTEN_PORT=%u", p->port);
    ENV("FC_FUNC_CODE_PATH=%s", fn->code_dir);
    ENV("FC_FUNCTION_NAME=%s", fn->name);
    ENV("FC_SERVICE_NAME=%s", fn->service);
    ENV("FC_FUNCTION_HANDLER=%s", fn->name);
    ENV("FC_FUNCTION_MEMORY_SIZE=%u", fn->memory_mb);
    ENV("FC_MEMORY_SIZE=%u", fn->memory_mb);
    ENV("FC_TIMEOUT=%u", fn->timeout_s);
    ENV("FC_INITIALIZER=%s", fn->initializer ? fn->initializer : "");
    ENV("FC_INITIALIZATION_TIMEOUT=%u", fn->initialization_timeout_s);
    ENV("FC_INSTANCE_ID=%s", p->id);
    ENV("FC_REGION=%s", region);
    ENV("FC_ACCOUNT_ID=local");
    ENV("FC_QUALIFIER=LATEST");
    ENV("FC_FUNCTION_VERSION=LATEST");
#undef ENV
    for (char *const *u = fn->env; *u; u++)
        env[n++] = *u;
    env[n] = NULL;
}

static int spawn_shim(const struct fc_function *fn, struct fc_proc *p, int out_w) {
    char *argv[SHIM_ARGS_MAX + FC_FUNCTION_ARGS_MAX + 2];
    int n = 0;
    argv[n++] = shim_path;
    argv[n++] = "--code-dir";
    argv[n++] = (char *)fn->code_dir;
    if (p->cgroup[0] != '\0') {
        argv[n++] = "--cgroup";
        argv[n++] = p->cgroup;
    }
    char netns_path[64];
    if (p->netns_fd >= 0) { /* fcshim (still root) opens it through our fd table */
        snprintf(netns_path, sizeof(netns_path), "/proc/%d/fd/%d", (int)getpid(), p->netns_fd);
        argv[n++] = "--netns";
        argv[n++] = netns_path;
    }
    if (uid_arg[0] != '\0') {
        argv[n++] = "--uid";
        argv[n++] = uid_arg;
        argv[n++] = "--gid";
        argv[n++] = gid_arg;
    }
    argv[n++] = "--nofile";
    argv[n++] = nofile_arg;
    argv[n++] = "--nproc";
    argv[n++] = nproc_arg;
    argv[n++] = "--";
    for (char *const *a = fn->argv; *a; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    static _Thread_local char store[ENV_FC_MAX][PATH_MAX + 32];
    char *env[ENV_FC_MAX + FC_FUNCTION_ENV_MAX + 1];
    build_env(fn, p, env, store);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    /* stdout and stderr share one pipe: FC keeps one log stream, and lines
     * must reach it in the order the runtime wrote them. */
    posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out_w, STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    /* fcd blocks SIGTERM/SIGINT/SIGHUP/SIGPIPE for its signalfd; the
     * instance must start with nothing blocked and default handlers. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    /* The instance gets the default policy, not the SCHED_BATCH of the
     * worker thread that spawns it (core/sched.c). */
    struct sched_param sp = {0};
    posix_spawnattr_setschedpolicy(&attr, SCHED_OTHER);
    posix_spawnattr_setschedparam(&attr, &sp);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETSCHEDULER);
    int rc = posix_spawn(&p->pid, shim_path, &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return -rc;
}

int fc_instance_spawn(const struct fc_function *fn, const char *id, struct fc_proc *p, char *err,
                      size_t err_len) {
    memset(p, 0, sizeof(*p));
    p->pidfd = p->out_fd = p->netns_fd = p->peak_fd = -1;
    snprintf(p->id, sizeof(p->id), "%s", id);
    int port = fn->ca_port;
    if (isolated)
        p->netns_fd = netns_create();
    else
        port = pick_port();
    if (p->netns_fd < -1)
        port = p->netns_fd;
    int out[2] = {-1, -1};
    int rc = port < 0 ? port : 0;
    if (rc == 0 && pipe2(out, O_CLOEXEC) < 0)
        rc = -errno;
    p->port = (uint16_t)port;
    if (rc == 0 && cgroup_create(fn, p) < 0)
        FC_LOG_WARN("instance %s: no memory cgroup: %s", id, strerror(errno));
    if (rc == 0)
        rc = spawn_shim(fn, p, out[1]);
    if (rc == 0) {
        p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
        if (p->pidfd < 0) {
            rc = -errno;
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
        }
    }
    if (out[1] >= 0) /* the child's ends */
        close(out[1]);
    if (rc < 0) {
        snprintf(err, err_len, "cannot start instance: %s", strerror(-rc));
        if (out[0] >= 0) close(out[0]);
        if (p->cgroup[0]) rmdir(p->cgroup);
        if (p->netns_fd >= 0) close(p->netns_fd);
        if (p->peak_fd >= 0) close(p->peak_fd);
        return rc;
    }
    p->out_fd = out[0];
    fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
    return 0;
}

/* SIGKILL whatever runs in the instance's cgroup: processes that left its
 * process group (setsid daemons) too. cgroup.kill (v2, Linux 5.14) does it
 * in one step; otherwise each pid listed, the way systemd does on v1. */
static void cgroup_kill_all(const struct fc_proc *p) {
    if (p->cgroup[0] == '\0')
        return;
    if (p->cgroup_v2 && write_text(p->cgroup, "cgroup.kill", "1") == 0)
        return;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/cgroup.procs", p->cgroup);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    long pid;
    while (fscanf(f, "%ld", &pid) == 1)
        if (pid > 0)
            kill((pid_t)pid, SIGKILL);
    fclose(f);
}

void fc_instance_kill(const struct fc_proc *p) {
    if (p->pid <= 0)
        return;
    kill(-p->pid, SIGKILL); /* fcshim made the pid a process group leader... */
    kill(p->pid, SIGKILL);  /* ...unless it has not got that far yet */
    cgroup_kill_all(p);
}

int fc_instance_reap(struct fc_proc *p, bool *oom) {
    int status = 0;
    *oom = false;
    if (p->pid > 0) {
        fc_instance_kill(p); /* leftovers of the group (e.g. gunicorn workers) */
        while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (p->cgroup[0] != '\0') {
        /* v1: "oom_kill N" in memory.oom_control; v2: "oom_kill N" in memory.events. */
        char path[PATH_MAX + 32], line[128];
        snprintf(path, sizeof(path), "%s/%s", p->cgroup,
                 p->cgroup_v2 ? "memory.events" : "memory.oom_control");
        FILE *f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f))
            if (strncmp(line, "oom_kill ", 9) == 0 && atoll(line + 9) > 0)
                *oom = true;
        if (f)
            fclose(f);
        /* The group may take a moment to empty after SIGKILL (and a
         * process forking meanwhile may have put a new one there). */
        for (int i = 0; i < 100 && rmdir(p->cgroup) < 0 && errno == EBUSY; i++) {
            cgroup_kill_all(p);
            usleep(1000);
        }
    }
    if (p->pidfd >= 0) close(p->pidfd);
    if (p->netns_fd >= 0) close(p->netns_fd); /* the namespace dies with its last user */
    if (p->peak_fd >= 0) close(p->peak_fd);
    p->pidfd = p->netns_fd = p->peak_fd = -1;
    p->pid = 0;
    return status;
}

void fc_instance_close_output(struct fc_proc *p) {
    if (p->out_fd >= 0)
        close(p->out_fd);
    p->out_fd = -1;
}

uint32_t fc_instance_peak_kb(const struct fc_proc *p) {
    if (p->peak_fd >= 0) {
        char buf[32];
        ssize_t n = pread(p->peak_fd, buf, sizeof(buf) - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            return (uint32_t)(strtoull(buf, NULL, 10) >> 10);
        }
    }
    char path[64], line[128];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)p->pid);
    FILE *f = fopen(path, "re");
    uint32_t kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = (uint32_t)strtoul(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

void fc_instance_peak_reset(const struct fc_proc *p) {
    if (p->peak_fd >= 0 && !p->cgroup_v2 && pwrite(p->peak_fd, "0", 1, 0) < 0)
        FC_LOG_DEBUG("instance %s: peak reset: %s", p->id, strerror(errno));
}
