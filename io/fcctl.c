/* fcctl.c — fcctl's main: the command table, the command line, the
 * configuration (config file, then environment, then flags) and help.
 *
 *   fcctl [--endpoint URL] [--timeout S] [--json] COMMAND [ARGS] [OPTIONS]
 *
 * Global options may stand anywhere; a command's own options after its
 * name. Commands live in fcctl_cmds.c and fcctl_deploy.c. */
#include "io/fcctl.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/assert.h"

#define ENDPOINT_DEFAULT "http://127.0.0.1:8000"
#define CONFIG_NAME ".fcctl.json"
#define ENDPOINT_BYTES_MAX 512u

/* ---- the command table ------------------------------------------------------------- */

static const struct fcctl_opt no_opts[] = {{NULL, 0, false, NULL}};

static const struct fcctl_opt invoke_opts[] = {
    {"data", 'd', true, "-d, --data DATA      the event (default: empty)"},
    {"file", 'f', true, "-f, --file FILE      the event from FILE ('-': stdin), byte for byte"},
    {"async", 0, false, "--async              invoke asynchronously; prints the request id"},
    {"delay", 0, true, "--delay S            with --async: run no sooner than S seconds from now"},
    {"log", 0, false, "--log                print the invocation's log tail to stderr"},
    {"qualifier", 0, true, "--qualifier Q        version or alias (default LATEST)"},
    {"task-id", 0, true, "--task-id ID         with --async: the task id (idempotent submit)"},
    {NULL, 0, false, NULL},
};

static const struct fcctl_opt tasks_list_opts[] = {
    {"status", 0, true, "--status S           only tasks in state S (Running, Succeeded, ...)"},
    {"limit", 0, true, "--limit N            at most N tasks, newest first (default 100)"},
    {NULL, 0, false, NULL},
};

static const struct fcctl_opt logs_opts[] = {
    {"follow", 'f', false, "-f, --follow         keep printing new lines until Ctrl-C"},
    {"tail", 0, true, "--tail BYTES         start this many bytes before the end (default 8192)"},
    {NULL, 0, false, NULL},
};

struct cmd {
    const char *group;
    const char *verb; /* NULL: a one-word command */
    const char *args; /* positional arguments, for usage lines */
    uint32_t args_min, args_max;
    const struct fcctl_opt *opts;
    const char *opts_usage; /* the options in the usage line, "" without */
    const char *summary;    /* one line for fcctl --help */
    const char *detail;     /* more for COMMAND --help, or NULL */
    int (*run)(struct fcctl *c, const struct fcctl_args *a);
};

static const struct cmd cmds[] = {
    {"service", "list", "", 0, 0, no_opts, "", "list services", NULL, fcctl_cmd_service_list},
    {"service", "get", "NAME", 1, 1, no_opts, "", "show a service", NULL, fcctl_cmd_service_get},
    {"service", "delete", "NAME", 1, 1, no_opts, "", "delete a service (its functions first)", NULL,
     fcctl_cmd_service_delete},
    {"function", "list", "SVC", 1, 1, no_opts, "", "list a service's functions", NULL,
     fcctl_cmd_function_list},
    {"function", "get", "SVC/FN", 1, 1, no_opts, "", "show a function", NULL,
     fcctl_cmd_function_get},
    {"function", "delete", "SVC/FN", 1, 1, no_opts, "", "delete a function (its triggers first)",
     NULL, fcctl_cmd_function_delete},
    {"trigger", "list", "SVC/FN", 1, 1, no_opts, "", "list a function's triggers", NULL,
     fcctl_cmd_trigger_list},
    {"trigger", "get", "SVC/FN/TRIGGER", 1, 1, no_opts, "", "show a trigger", NULL,
     fcctl_cmd_trigger_get},
    {"trigger", "delete", "SVC/FN/TRIGGER", 1, 1, no_opts, "", "delete a trigger", NULL,
     fcctl_cmd_trigger_delete},
    {"deploy", NULL, "DIR|TEMPLATE.yml", 1, 1, no_opts, "",
     "create or update what a Funcraft template.yml declares",
     "DIR means DIR/template.yml (or DIR/template.yaml): a Funcraft (ROS) template,\n"
     "ROSTemplateFormatVersion '2015-09-01', Transform 'Aliyun::Serverless-2018-04-03'.\n"
     "Each Aliyun::Serverless::Service, each function in it (its CodeUri zipped: Unix modes\n"
     "kept, symbolic links followed only inside the code directory) and each HTTP or Timer\n"
     "event is created, or updated when it exists; one line per resource says which.\n"
     "A bad template or unreadable code stops the deploy before anything is sent (exit 4).",
     fcctl_cmd_deploy},
    {"invoke", NULL, "SVC/FN", 1, 1, invoke_opts,
     "[-d DATA | -f FILE] [--async [--delay S] [--task-id ID]] [--log] [--qualifier Q]",
     "invoke a function",
     "The answer's body goes to stdout unchanged. A function error (x-fc-error-type)\n"
     "prints the body too and exits 1. --async prints 'request id: ID', and 'task id: ID'\n"
     "when fcd runs the call as a task.",
     fcctl_cmd_invoke},
    {"tasks", "list", "SVC/FN", 1, 1, tasks_list_opts, "[--status S] [--limit N]",
     "list asynchronous tasks, newest first", NULL, fcctl_cmd_tasks_list},
    {"tasks", "get", "SVC/FN ID", 2, 2, no_opts, "", "show a task", NULL, fcctl_cmd_tasks_get},
    {"tasks", "stop", "SVC/FN ID", 2, 2, no_opts, "", "stop a task", NULL, fcctl_cmd_tasks_stop},
    {"logs", NULL, "SVC/FN", 1, 1, logs_opts, "[-f] [--tail BYTES]",
     "print the end of a function's log",
     "The log is fcd's file of the function's output (stdout and stderr of its\n"
     "instances). -f keeps polling it every 500 ms until SIGINT or SIGTERM (exit 0).",
     fcctl_cmd_logs},
};
#define CMDS_COUNT (sizeof(cmds) / sizeof(cmds[0]))

enum { G_ENDPOINT, G_TIMEOUT, G_JSON, G_HELP, G_VERSION, G_COUNT };
static const struct fcctl_opt global_opts[] = {
    [G_ENDPOINT] = {"endpoint", 0, true, NULL}, [G_TIMEOUT] = {"timeout", 0, true, NULL},
    [G_JSON] = {"json", 0, false, NULL},        [G_HELP] = {"help", 'h', false, NULL},
    [G_VERSION] = {"version", 0, false, NULL},  [G_COUNT] = {NULL, 0, false, NULL}, /* end */
};

static_assert(G_COUNT <= FCCTL_OPTS_MAX, "global values fit struct fcctl_args");

/* ---- shared helpers ---------------------------------------------------------------- */

int fcctl_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("fcctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int fcctl_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("fcctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see fcctl --help)\n", stderr);
    va_end(ap);
    return FCCTL_EXIT_USAGE;
}

int fcctl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
    if (s == NULL || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

const char *fcctl_arg(const struct fcctl_args *a, const char *name) {
    for (uint32_t i = 0; a->opts[i].name != NULL; i++)
        if (strcmp(a->opts[i].name, name) == 0)
            return a->value[i];
    FC_ASSERT(!"option not in the command's table");
    return NULL;
}

int fcctl_split_path(const char *arg, uint32_t want, char *out, const char *parts[3]) {
    FC_ASSERT(want >= 2 && want <= 3);
    uint32_t n = 0;
    const char *p = arg;
    for (;;) {
        size_t len = strcspn(p, "/");
        if (n == want || len == 0 || len >= FCCTL_NAME_BYTES_MAX)
            return -EINVAL;
        char *dst = out + n * FCCTL_NAME_BYTES_MAX;
        memcpy(dst, p, len);
        dst[len] = '\0';
        parts[n++] = dst;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    return n == want ? 0 : -EINVAL;
}

/* ---- help -------------------------------------------------------------------------- */

static void print_usage_line(FILE *f, const struct cmd *k) {
    fprintf(f, "fcctl %s%s%s%s%s%s%s\n", k->group, k->verb ? " " : "", k->verb ? k->verb : "",
            k->args[0] ? " " : "", k->args, k->opts_usage[0] ? " " : "", k->opts_usage);
}

static void help_command(const struct cmd *k) {
    printf("usage: ");
    print_usage_line(stdout, k);
    printf("\n%c%s.\n", k->summary[0] - 'a' + 'A', k->summary + 1);
    if (k->detail != NULL)
        printf("%s\n", k->detail);
    if (k->opts[0].name != NULL)
        printf("\nOptions:\n");
    for (const struct fcctl_opt *o = k->opts; o->name != NULL; o++)
        printf("  %s\n", o->help);
    printf("\nGlobal options (--endpoint, --timeout, --json) and exit codes: fcctl --help\n");
}

static void help_group(const char *group) {
    printf("usage:\n");
    for (size_t i = 0; i < CMDS_COUNT; i++)
        if (strcmp(cmds[i].group, group) == 0) {
            printf("  ");
            print_usage_line(stdout, &cmds[i]);
        }
    printf("\nfcctl %s VERB --help for one of them.\n", group);
}

static void help_global(void) {
    printf("usage: fcctl [--endpoint URL] [--timeout S] [--json] COMMAND [ARGS]\n\n"
           "fcctl is the command-line client of fcd, a self-hosted Function Compute (FC 2.0\n"
           "API, /" FCCTL_API_VERSION "/...).\n\nCommands:\n");
    for (size_t i = 0; i < CMDS_COUNT; i++) {
        char head[64];
        snprintf(head, sizeof(head), "%s%s%s %s", cmds[i].group, cmds[i].verb ? " " : "",
                 cmds[i].verb ? cmds[i].verb : "", cmds[i].args);
        printf("  %-30s %s\n", head, cmds[i].summary);
    }
    printf(
        "\nfcctl COMMAND --help shows a command's options.\n\n"
        "Global options (anywhere on the line):\n"
        "  --endpoint URL   fcd's address, http://HOST:PORT or http://[IPv6]:PORT\n"
        "  --timeout S      connect timeout, and the longest wait for answer bytes (default 10;\n"
        "                   raise it to invoke functions that run longer)\n"
        "  --json           print fcd's JSON answer instead of a table or text\n"
        "  -h, --help       this help; --version: fcctl's version\n\n"
        "Configuration (a flag beats the environment, which beats the file):\n"
        "  FC_ENDPOINT            endpoint (default " ENDPOINT_DEFAULT ")\n"
        "  FC_ACCESS_KEY_ID       access key; without one, requests go unsigned\n"
        "  FC_ACCESS_KEY_SECRET   its secret (requests are signed with the FC scheme)\n"
        "  FC_ACCOUNT_ID          sent as x-fc-account-id (may be empty)\n"
        "  config file: $FCCTL_CONFIG, else ~/" CONFIG_NAME ", a JSON object with the keys\n"
        "  \"endpoint\", \"access_key_id\", \"access_key_secret\", \"account_id\".\n\n"
        "Exit codes:\n"
        "  0  success\n"
        "  1  fcd answered an error (printed as 'fcctl: CODE: MESSAGE (request id ID)';\n"
        "     with --json the error JSON also goes to stdout), or the function failed\n"
        "  2  usage error (bad command line)\n"
        "  3  cannot connect to fcd, connection lost, or timeout\n"
        "  4  local error: bad template or config, unreadable file\n");
}

/* ---- the command line -------------------------------------------------------------- */

struct cmdline {
    const struct cmd *cmd;
    const char *group; /* given, even if the verb is missing */
    struct fcctl_args args;
    const char *global[G_COUNT];
};

static const struct cmd *cmd_find(const char *group, const char *verb) {
    for (size_t i = 0; i < CMDS_COUNT; i++)
        if (strcmp(cmds[i].group, group) == 0 &&
            (cmds[i].verb == NULL || (verb != NULL && strcmp(cmds[i].verb, verb) == 0)))
            return &cmds[i];
    return NULL;
}

/* The index of the option `arg` names in table, or -1. *inline_value is set
 * for "--name=value" and "-xvalue". */
static int opt_find(const struct fcctl_opt *table, const char *arg, const char **inline_value) {
    *inline_value = NULL;
    for (int i = 0; table[i].name != NULL; i++) {
        const struct fcctl_opt *o = &table[i];
        if (arg[1] == '-') {
            size_t n = strlen(o->name);
            if (strncmp(arg + 2, o->name, n) != 0 || (arg[2 + n] != '\0' && arg[2 + n] != '='))
                continue;
            *inline_value = arg[2 + n] == '=' ? arg + 3 + n : NULL;
            return i;
        }
        if (o->short_name != 0 && arg[1] == o->short_name) {
            *inline_value = arg[2] != '\0' ? arg + 2 : NULL;
            return i;
        }
    }
    return -1;
}

/* One option at argv[*i]; takes its value from argv[*i + 1] when needed. */
static int take_option(struct cmdline *cl, int argc, char **argv, int *i) {
    const char *arg = argv[*i], *value;
    const struct fcctl_opt *table = global_opts;
    const char **slot;
    int k = opt_find(global_opts, arg, &value);
    if (k >= 0) {
        slot = &cl->global[k];
    } else if (cl->cmd != NULL && (k = opt_find(cl->cmd->opts, arg, &value)) >= 0) {
        table = cl->cmd->opts;
        slot = &cl->args.value[k];
    } else {
        return fcctl_usage_error("unknown option '%s'%s%s", arg, cl->cmd ? " for " : "",
                                 cl->cmd ? cl->cmd->group : "");
    }
    if (!table[k].has_value) {
        if (value != NULL)
            return fcctl_usage_error("option --%s takes no value", table[k].name);
        *slot = "";
        return 0;
    }
    if (value == NULL && *i + 1 >= argc)
        return fcctl_usage_error("option --%s needs a value", table[k].name);
    *slot = value != NULL ? value : argv[++*i];
    return 0;
}

/* A positional word: the group, then the verb, then the arguments. */
static int take_word(struct cmdline *cl, const char *word) {
    if (cl->group == NULL) {
        bool known = false;
        for (size_t i = 0; i < CMDS_COUNT; i++)
            known = known || strcmp(cmds[i].group, word) == 0;
        if (!known)
            return fcctl_usage_error("unknown command '%s'", word);
        cl->group = word;
        cl->cmd = cmd_find(word, NULL); /* a one-word command, else NULL until the verb */
    } else if (cl->cmd == NULL) {
        cl->cmd = cmd_find(cl->group, word);
        if (cl->cmd == NULL)
            return fcctl_usage_error("unknown command '%s %s'", cl->group, word);
    } else {
        if (cl->args.pos_count == FCCTL_ARGS_MAX)
            return fcctl_usage_error("too many arguments");
        cl->args.pos[cl->args.pos_count++] = word;
    }
    if (cl->cmd != NULL)
        cl->args.opts = cl->cmd->opts;
    return 0;
}

static int parse(struct cmdline *cl, int argc, char **argv) {
    bool words_only = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int rc;
        if (!words_only && strcmp(arg, "--") == 0)
            words_only = true, rc = 0;
        else if (!words_only && arg[0] == '-' && arg[1] != '\0')
            rc = take_option(cl, argc, argv, &i);
        else
            rc = take_word(cl, arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- configuration ----------------------------------------------------------------- */

static int copy_cred(char *dst, const char *src, const char *what) {
    if (strlen(src) > FCCTL_CRED_BYTES_MAX)
        return fcctl_fail(FCCTL_EXIT_LOCAL, "%s: longer than %u bytes", what, FCCTL_CRED_BYTES_MAX);
    strcpy(dst, src);
    return 0;
}

/* Read the config file: $FCCTL_CONFIG (must exist), else ~/.fcctl.json (if
 * it exists). The endpoint goes to endpoint[]. Returns an exit code. */
static int load_file(struct fcctl *c, char endpoint[ENDPOINT_BYTES_MAX]) {
    const char *path = getenv("FCCTL_CONFIG"), *home = getenv("HOME");
    char buf[4096];
    if (path == NULL || path[0] == '\0') { /* ~/.fcctl.json, if there is one */
        if (home == NULL || home[0] == '\0' ||
            snprintf(buf, sizeof(buf), "%s/" CONFIG_NAME, home) >= (int)sizeof(buf) ||
            access(buf, F_OK) != 0)
            return 0;
        path = buf;
    }
    json_error_t err;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL)
        return fcctl_fail(FCCTL_EXIT_LOCAL, "config %s:%d: %s", path, err.line, err.text);
    const char *key;
    json_t *v;
    int rc =
        json_is_object(doc) ? 0 : fcctl_fail(FCCTL_EXIT_LOCAL, "config %s: not an object", path);
    json_object_foreach(doc, key, v) {
        const char *s = json_string_value(v);
        char *dst = strcmp(key, "access_key_id") == 0       ? c->key_id
                    : strcmp(key, "access_key_secret") == 0 ? c->secret
                    : strcmp(key, "account_id") == 0        ? c->account_id
                                                            : NULL;
        if (rc == 0 && s == NULL)
            rc = fcctl_fail(FCCTL_EXIT_LOCAL, "config %s: %s: expected a string", path, key);
        else if (rc == 0 && strcmp(key, "endpoint") == 0)
            rc = strlen(s) < ENDPOINT_BYTES_MAX
                     ? (strcpy(endpoint, s), 0)
                     : fcctl_fail(FCCTL_EXIT_LOCAL, "config: endpoint too long");
        else if (rc == 0 && dst == NULL)
            rc = fcctl_fail(FCCTL_EXIT_LOCAL, "config %s: unknown key \"%s\"", path, key);
        else if (rc == 0)
            rc = copy_cred(dst, s, key);
    }
    json_decref(doc);
    return rc;
}

/* File, then environment, then flags. Returns an exit code. */
static int configure(struct fcctl *c, const struct cmdline *cl) {
    /* Flags first: a usage error is reported as one, whatever the file says. */
    const char *flag = cl->global[G_ENDPOINT], *timeout = cl->global[G_TIMEOUT];
    c->timeout_ms = FCCTL_TIMEOUT_MS_DEFAULT;
    if (timeout != NULL) {
        char *end;
        double s = strtod(timeout, &end);
        if (end == timeout || *end != '\0' || !isfinite(s) || s < 0.001 ||
            s * 1000 > FCCTL_TIMEOUT_MS_MAX)
            return fcctl_usage_error("--timeout: expected seconds, 0.001 to %d",
                                     FCCTL_TIMEOUT_MS_MAX / 1000);
        c->timeout_ms = (int)(s * 1000);
    }
    if (flag != NULL && fcctl_endpoint_set(c, flag) < 0)
        return fcctl_usage_error("%s", c->error);
    c->json = cl->global[G_JSON] != NULL;
    char endpoint[ENDPOINT_BYTES_MAX] = ENDPOINT_DEFAULT;
    int rc = load_file(c, endpoint);
    static const struct {
        const char *env;
        size_t off;
    } envs[] = {{"FC_ACCESS_KEY_ID", offsetof(struct fcctl, key_id)},
                {"FC_ACCESS_KEY_SECRET", offsetof(struct fcctl, secret)},
                {"FC_ACCOUNT_ID", offsetof(struct fcctl, account_id)}};
    for (size_t i = 0; i < 3 && rc == 0; i++) {
        const char *v = getenv(envs[i].env);
        if (v != NULL)
            rc = copy_cred((char *)c + envs[i].off, v, envs[i].env);
    }
    const char *ep = getenv("FC_ENDPOINT");
    if (rc == 0 && ep != NULL && ep[0] != '\0')
        rc = strlen(ep) < ENDPOINT_BYTES_MAX ? (strcpy(endpoint, ep), 0)
                                             : fcctl_fail(FCCTL_EXIT_LOCAL, "FC_ENDPOINT too long");
    if (rc != 0)
        return rc;
    if ((c->key_id[0] == '\0') != (c->secret[0] == '\0'))
        return fcctl_fail(FCCTL_EXIT_LOCAL, "an access key needs both its ID and its secret "
                                            "(FC_ACCESS_KEY_ID, FC_ACCESS_KEY_SECRET)");
    if (flag == NULL && fcctl_endpoint_set(c, endpoint) < 0)
        return fcctl_fail(FCCTL_EXIT_LOCAL, "%s", c->error);
    return 0;
}

/* ---- main -------------------------------------------------------------------------- */

static int run(struct fcctl *c, int argc, char **argv) {
    struct cmdline cl = {.args.opts = no_opts};
    int rc = parse(&cl, argc, argv);
    if (rc != 0)
        return rc;
    if (cl.global[G_HELP] != NULL) {
        if (cl.cmd != NULL)
            help_command(cl.cmd);
        else if (cl.group != NULL)
            help_group(cl.group);
        else
            help_global();
        return FCCTL_EXIT_OK;
    }
    if (cl.global[G_VERSION] != NULL)
        return puts("fcctl " FCCTL_VERSION), FCCTL_EXIT_OK;
    if (cl.group == NULL)
        return fcctl_usage_error("missing command");
    if (cl.cmd == NULL)
        return fcctl_usage_error("'%s' needs a verb: list, get, ...", cl.group);
    const struct cmd *k = cl.cmd;
    if (cl.args.pos_count < k->args_min || cl.args.pos_count > k->args_max)
        return fcctl_usage_error("usage: fcctl %s%s%s %s", k->group, k->verb ? " " : "",
                                 k->verb ? k->verb : "", k->args);
    rc = configure(c, &cl);
    return rc != 0 ? rc : k->run(c, &cl.args);
}

int main(int argc, char **argv) {
    struct fcctl *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return fcctl_fail(FCCTL_EXIT_LOCAL, "out of memory");
    int rc = run(c, argc, argv);
    if (fflush(stdout) != 0 && rc == FCCTL_EXIT_OK)
        rc = fcctl_fail(FCCTL_EXIT_LOCAL, "writing to stdout: %s", strerror(errno));
    if (c->scratch != NULL) {
        OPENSSL_cleanse(c->scratch, sizeof(*c->scratch));
        free(c->scratch);
    }
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
    return rc;
}
