/* runner.c — runs the unit tests of list.h, each in a forked child with a
 * timeout (libuv's model), prints TAP and ends with "N passed, N failed".
 *
 *   unit-tests            run all
 *   unit-tests --list     print the names
 *   unit-tests NAME...    run only these */
#include "tests/unit/list.h"
#include "tests/unit/test.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_TIMEOUT_S 60

#define DECLARE(name) FC_TEST(name);
FC_TEST_LIST(DECLARE)
#undef DECLARE

struct test_case {
    const char *name;
    void (*fn)(void);
};

static const struct test_case tests[] = {
#define ENTRY(name) {#name, fc_test_##name},
    FC_TEST_LIST(ENTRY)
#undef ENTRY
};
#define TESTS_COUNT (sizeof(tests) / sizeof(tests[0]))

char *fc_test_guarded(const void *data, size_t len) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t span = (len + page - 1) / page * page + page;
    char *base = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FC_CHECK(base != MAP_FAILED);
    FC_CHECK(mprotect(base + span - page, page, PROT_NONE) == 0);
    char *p = base + span - page - len;
    memcpy(p, data, len);
    return p;
}

void fc_test_guarded_free(char *p, size_t len) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t span = (len + page - 1) / page * page + page;
    munmap(p + len + page - span, span);
}

/* Runs one test in a child; returns 1 when it passed. */
static int run_one(const struct test_case *t) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        alarm(TEST_TIMEOUT_S);
        t->fn();
        fflush(NULL);
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 1;
    if (WIFSIGNALED(status))
        printf("# %s: killed by signal %d%s\n", t->name, WTERMSIG(status),
               WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
    return 0;
}

static const struct test_case *find(const char *name) {
    for (size_t i = 0; i < TESTS_COUNT; i++)
        if (strcmp(tests[i].name, name) == 0)
            return &tests[i];
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < TESTS_COUNT; i++)
            puts(tests[i].name);
        return 0;
    }
    size_t total = argc > 1 ? (size_t)argc - 1 : TESTS_COUNT;
    unsigned passed = 0, failed = 0;
    printf("1..%zu\n", total);
    for (size_t i = 0; i < total; i++) {
        const struct test_case *t = argc > 1 ? find(argv[i + 1]) : &tests[i];
        const char *name = argc > 1 ? argv[i + 1] : t->name;
        int ok = t != NULL && run_one(t);
        printf("%s %zu - %s%s\n", ok ? "ok" : "not ok", i + 1, name, t ? "" : " (no such test)");
        ok ? passed++ : failed++;
    }
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
