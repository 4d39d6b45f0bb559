/* main.c — the fcd daemon: configuration, process setup, signals.
 *
 * The main thread owns the process: it builds the config, daemonizes unless
 * --foreground, writes the pid file, starts the io threads and then sleeps
 * in a signalfd. SIGTERM/SIGINT drain (stop accepting, let in-flight
 * requests finish within drain_grace_ms, exit 0); SIGHUP re-reads the config
 * file and applies what can change live (log level, access log). Signals are
 * blocked in every thread, so only the signalfd sees them. */
#include "core/config.h"
#include "core/log.h"
#include "core/async.h"
#include "core/ctl.h"
#include "core/instance.h"
#include "core/sched.h"
#include "io/server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

static int make_dirs(const char *path) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* Classic double fork: the daemon is not a session leader and cannot regain
 * a terminal. stdin/stdout go to /dev/null, stderr to the log file. */
static int daemonize(const struct fc_config *cfg) {
    char log_path[PATH_MAX + 16];
    if (cfg->log_file[0] != '\0')
        snprintf(log_path, sizeof(log_path), "%s", cfg->log_file);
    else
        snprintf(log_path, sizeof(log_path), "%s/fcd.log", cfg->data_dir);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        _exit(0);
    setsid();
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        _exit(0);
    dup2(null_fd, STDIN_FILENO);
    dup2(null_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    close(null_fd);
    close(log_fd);
    return chdir("/") < 0 ? -errno : 0;
}

static int write_pid_file(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    int rc = write(fd, buf, (size_t)n) == n ? 0 : -EIO;
    close(fd);
    return rc;
}

/* SIGHUP: re-read the file; only the log settings change live. */
static void reload(struct fc_config *cfg) {
    if (cfg->config_file[0] == '\0') {
        FC_LOG_INFO("SIGHUP: no config file to reload");
        return;
    }
    struct fc_config fresh;
    fc_config_defaults(&fresh);
    char err[FC_CONFIG_ERR_BYTES];
    int rc = fc_config_load_file(&fresh, cfg->config_file, err);
    fc_config_free(&fresh);
    if (rc < 0) {
        FC_LOG_ERROR("SIGHUP: config not reloaded: %s", err);
        return;
    }
    cfg->log_level = fresh.log_level;
    cfg->access_log = fresh.access_log;
    fc_log_configure(cfg->log_level, cfg->access_log);
    FC_LOG_INFO("SIGHUP: reloaded log_level and access_log from %s (other keys need a restart)",
                cfg->config_file);
}

/* Sleep in the signalfd until SIGTERM or SIGINT. */
static int wait_for_stop(int sfd, struct fc_config *cfg) {
    for (;;) { /* endless until a stop signal */
        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(si))
            return -EIO;
        if (si.ssi_signo == SIGHUP)
            reload(cfg);
        else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            return (int)si.ssi_signo;
    }
}

/* Log the functions the catalog serves at start. */
static void log_catalog(const struct fc_catalog *cat) {
    for (uint32_t id = 0; id < cat->count; id++)
        if (cat->functions[id] != NULL)
            FC_LOG_INFO("function %s/%s from %s", cat->functions[id]->service,
                        cat->functions[id]->name, cat->functions[id]->code_dir);
}

/* Everything between fc_instance_setup and fc_instance_teardown. */
static int serve(struct fc_config *cfg, int sfd) {
    /* The catalog first: the scheduler, store and io threads read it. */
    struct fc_registry registry;
    struct fc_ctl *ctl;
    int rc = fc_ctl_start(cfg, &registry, &ctl);
    if (rc < 0)
        return 1;
    log_catalog(registry.current);
    /* The store thread is the scheduler's last "io thread" (core/async.h). */
    struct fc_sched *sched;
    rc = fc_sched_start(cfg, &registry, cfg->io_threads + 1, &sched);
    if (rc < 0) {
        FC_LOG_ERROR("cannot start workers: %s", strerror(-rc));
        fc_ctl_stop(ctl);
        fc_registry_destroy(&registry);
        return 1;
    }
    fc_ctl_attach(ctl, sched);
    struct fc_async *async;
    rc = fc_async_start(cfg, sched, cfg->io_threads, &async);
    struct fc_server *server = NULL;
    if (rc == 0 && (rc = fc_server_start(cfg, sched, async, ctl, &server)) < 0) {
        FC_LOG_ERROR("cannot start on %s: %s", cfg->listen, strerror(-rc));
        fc_async_stop(async);
    }
    if (rc < 0) {
        fc_sched_stop(sched);
        fc_ctl_stop(ctl);
        fc_sched_destroy(sched);
        fc_registry_destroy(&registry);
        return 1;
    }
    FC_LOG_INFO("fcd started (pid %d, %u io threads, data in %s)", (int)getpid(), cfg->io_threads,
                cfg->data_dir);
    int sig = wait_for_stop(sfd, cfg);
    FC_LOG_INFO("%s: draining (grace %u ms)", sig > 0 ? strsignal(sig) : "signalfd error",
                cfg->drain_grace_ms);
    fc_server_drain(server);
    rc = fc_server_join(server, cfg->drain_grace_ms);
    if (rc == -ETIMEDOUT)
        FC_LOG_WARN("grace period over: remaining connections were closed");
    /* Workers first (instances killed; interrupted async jobs go back to
     * the queue through the still-running store thread), then the store. */
    fc_sched_stop(sched);
    fc_async_stop(async);
    fc_ctl_stop(ctl);
    fc_server_destroy(server);
    fc_sched_destroy(sched);
    fc_registry_destroy(&registry);
    return 0;
}

static int run(struct fc_config *cfg, int sfd) {
    if (fc_instance_setup(cfg) < 0)
        return 1;
    int rc = serve(cfg, sfd);
    fc_instance_teardown();
    if (rc == 0)
        FC_LOG_INFO("fcd stopped");
    return rc;
}

/* Everything after the config: process setup, then run. Returns the exit
 * status; the caller frees the config. */
static int start(struct fc_config *cfg) {
    if (cfg->check_only) {
        printf("fcd: configuration ok\n");
        return 0;
    }
    fc_log_configure(cfg->log_level, cfg->access_log);
    int rc = make_dirs(cfg->data_dir);
    if (rc < 0) {
        fprintf(stderr, "fcd: data_dir %s: %s\n", cfg->data_dir, strerror(-rc));
        return 1;
    }
    if (!cfg->foreground && (rc = daemonize(cfg)) < 0) {
        fprintf(stderr, "fcd: cannot daemonize: %s\n", strerror(-rc));
        return 1;
    }
    if (cfg->pid_file[0] != '\0' && (rc = write_pid_file(cfg->pid_file)) < 0) {
        FC_LOG_ERROR("pid file %s: %s", cfg->pid_file, strerror(-rc));
        return 1;
    }
    /* Block before any thread exists, so every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    sigdelset(&set, SIGPIPE);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        FC_LOG_ERROR("signalfd: %s", strerror(errno));
        rc = 1;
    } else {
        rc = run(cfg, sfd);
        close(sfd);
    }
    if (cfg->pid_file[0] != '\0')
        unlink(cfg->pid_file);
    return rc;
}

int main(int argc, char **argv) {
    struct fc_config cfg;
    char err[FC_CONFIG_ERR_BYTES];
    int rc = fc_config_from_args(&cfg, argc, argv, err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "fcd: %s\n", err);
        fc_config_free(&cfg);
        return rc < 0 ? 2 : 0;
    }
    rc = start(&cfg);
    fc_config_free(&cfg);
    return rc;
}
