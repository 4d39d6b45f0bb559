/* fcshim_bench.c — start-to-ready of an instance, against the bare spawn floor.
 *
 *   fcshim_bench FCSHIM CODE_DIR [RUNS]
 *
 * Prints the median (and min, p90) over RUNS (default 20) of:
 *   spawn /bin/true + wait       posix_spawn and reap: the floor of any start
 *   fcshim /bin/true + wait      the shim's own setup cost on top of it
 *   bootstrap -> ready           posix_spawn of CODE_DIR/bootstrap directly,
 *                                until 127.0.0.1:port accepts a connection
 *   fcshim bootstrap -> ready    the same through fcshim --code-dir
 * "Ready" is how fcd decides an instance started (CONTRACT.md §6.1): connect
 * is retried without sleeping, and the exit of /bin/true is polled the same
 * way, so neither number includes a poll interval or the scheduler's wake-up
 * latency. Each instance is killed (whole process group) after. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RUNS_MAX 1000
#define READY_TIMEOUT_NS (5 * 1000000000LL)

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("free_port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static bool accepts(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Spawn argv with stdout/stderr to /dev/null and, when port > 0,
 * FC_SERVER_PORT=port. Returns the pid. */
static pid_t spawn(char *const argv[], int port) {
    char var[32];
    snprintf(var, sizeof(var), "FC_SERVER_PORT=%d", port);
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = calloc(n + 2, sizeof(*env));
    memcpy(env, environ, n * sizeof(*env));
    env[n] = port > 0 ? var : NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    if (rc != 0) {
        fprintf(stderr, "posix_spawn %s: %s\n", argv[0], strerror(rc));
        exit(1);
    }
    return pid;
}

/* One run: spawn, then wait for exit (port 0) or for the port to accept. */
static long long run_once(char *const argv[], bool wait_ready) {
    int port = wait_ready ? free_port() : 0;
    long long t0 = now_ns();
    pid_t pid = spawn(argv, port);
    int st;
    if (!wait_ready) { /* spin, as the ready loop does: no wake-up latency */
        while (waitpid(pid, &st, WNOHANG) == 0)
            ;
        return now_ns() - t0;
    }
    while (!accepts(port)) {
        if (now_ns() - t0 > READY_TIMEOUT_NS) {
            fprintf(stderr, "%s: not ready after 5 s\n", argv[0]);
            exit(1);
        }
    }
    long long dt = now_ns() - t0;
    kill(-pid, SIGKILL); /* fcshim made it a group leader */
    kill(pid, SIGKILL);  /* the bare bootstrap is not one */
    waitpid(pid, &st, 0);
    return dt;
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void measure(const char *name, char *const argv[], bool wait_ready, int runs) {
    static long long t[RUNS_MAX];
    run_once(argv, wait_ready); /* warm the page cache */
    for (int i = 0; i < runs; i++)
        t[i] = run_once(argv, wait_ready);
    qsort(t, (size_t)runs, sizeof(t[0]), cmp_ll);
    printf("%-28s median %8.3f ms   min %8.3f ms   p90 %8.3f ms   (n=%d)\n", name,
           t[runs / 2] / 1e6, t[0] / 1e6, t[runs * 9 / 10] / 1e6, runs);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s FCSHIM CODE_DIR [RUNS]\n", argv[0]);
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 20;
    if (runs < 1 || runs > RUNS_MAX)
        runs = 20;
    char boot[4096];
    snprintf(boot, sizeof(boot), "%s/bootstrap", argv[2]);
    char *t_true[] = {"/bin/true", NULL};
    char *s_true[] = {argv[1], "--", "/bin/true", NULL};
    char *b_ready[] = {boot, NULL};
    char *s_ready[] = {argv[1], "--code-dir", argv[2], "--", "./bootstrap", NULL};
    measure("spawn /bin/true + wait", t_true, false, runs);
    measure("fcshim /bin/true + wait", s_true, false, runs);
    measure("bootstrap -> ready", b_ready, true, runs);
    measure("fcshim bootstrap -> ready", s_ready, true, runs);
    return 0;
}
