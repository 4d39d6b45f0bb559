/* config.c — see config.h. */
#include "core/config.h"

#include "core/limits.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum key_type { KEY_UINT, KEY_STRING, KEY_BOOL, KEY_LOG_LEVEL, KEY_LISTEN, KEY_NETWORK,
                KEY_DURABILITY };

/* One configurable key: where it lives in struct fc_config and its range. */
struct key {
    const char *name; /* dotted path in the JSON file */
    enum key_type type;
    size_t offset;
    size_t size; /* of a string field */
    uint32_t min, max;
};

#define UINT_KEY(n, field, lo, hi) {n, KEY_UINT, offsetof(struct fc_config, field), 0, lo, hi}
#define STR_KEY(n, field)                                                                          \
    {n, KEY_STRING, offsetof(struct fc_config, field), sizeof(((struct fc_config *)0)->field), 0, 0}

static const struct key keys[] = {
    {"listen", KEY_LISTEN, 0, 0, 0, 0},
    STR_KEY("data_dir", data_dir),
    STR_KEY("pid_file", pid_file),
    STR_KEY("log_file", log_file),
    UINT_KEY("io_threads", io_threads, 1, FC_IO_THREADS_MAX),
    UINT_KEY("workers", workers, 1, FC_WORKERS_MAX),
    {"log_level", KEY_LOG_LEVEL, offsetof(struct fc_config, log_level), 0, 0, 0},
    {"access_log", KEY_BOOL, offsetof(struct fc_config, access_log), 0, 0, 0},
    {"pin_threads", KEY_BOOL, offsetof(struct fc_config, pin_threads), 0, 0, 0},
    {"api_anonymous", KEY_BOOL, offsetof(struct fc_config, api_anonymous), 0, 0, 0},
    {"sched_batch", KEY_BOOL, offsetof(struct fc_config, sched_batch), 0, 0, 0},
    UINT_KEY("drain_grace_ms", drain_grace_ms, 0, 3600000),
    UINT_KEY("instance_idle_s", instance_idle_s, 1, 86400),
    STR_KEY("instance_user", instance_user),
    UINT_KEY("instance_nofile", instance_nofile, 64, 1048576),
    UINT_KEY("instance_nproc", instance_nproc, 16, 4194304),
    {"instance_network", KEY_NETWORK, offsetof(struct fc_config, instance_isolated), 0, 0, 0},
    {"async_durability", KEY_DURABILITY, offsetof(struct fc_config, async_nometasync), 0, 0, 0},
    UINT_KEY("http.head_bytes_max", http.head_bytes_max, 1024, FC_HTTP_HEAD_BYTES_MAX),
    UINT_KEY("http.headers_max", http.headers_max, 1, FC_HTTP_HEADERS_MAX),
    UINT_KEY("http.body_sync_bytes_max", http.body_sync_bytes_max, 0, FC_HTTP_BODY_SYNC_BYTES_MAX),
    UINT_KEY("http.body_async_bytes_max", http.body_async_bytes_max, 0,
             FC_HTTP_BODY_ASYNC_BYTES_MAX),
    UINT_KEY("http.idle_timeout_ms", http.idle_timeout_ms, 1, 3600000),
    UINT_KEY("http.header_timeout_ms", http.header_timeout_ms, 1, 3600000),
    UINT_KEY("http.connections_max", http.connections_max, 1, FC_CONNS_PER_THREAD_MAX),
    {"http.uring_basic", KEY_BOOL, offsetof(struct fc_config, http.uring_basic), 0, 0, 0},
};
#define KEYS_COUNT (sizeof(keys) / sizeof(keys[0]))

__attribute__((format(printf, 2, 3))) static int fail(char *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, FC_CONFIG_ERR_BYTES, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

void fc_config_free(struct fc_config *c) {
    fc_catalog_free(&c->catalog);
    for (uint32_t i = 0; i < c->keys_count; i++) {
        free((char *)c->keys[i].access_key_id);
        free((char *)c->keys[i].secret);
        free((char *)c->keys[i].account_id);
    }
    free(c->keys);
    c->keys = NULL;
    c->keys_count = 0;
}

/* Add an access key (copied). Returns 0 or -ENOMEM. */
static int key_add(struct fc_config *c, const char *id, size_t id_len, const char *secret,
                   const char *account) {
    struct fc_auth_key *keys = realloc(c->keys, (c->keys_count + 1) * sizeof(*keys));
    if (keys == NULL)
        return -ENOMEM;
    c->keys = keys;
    struct fc_auth_key *k = &keys[c->keys_count];
    k->access_key_id = strndup(id, id_len);
    k->secret = strdup(secret);
    k->account_id = account ? strdup(account) : NULL;
    if (k->access_key_id == NULL || k->secret == NULL || (account && k->account_id == NULL))
        return -ENOMEM;
    c->keys_count++;
    return 0;
}

/* "access_keys": [{"access_key_id": "...", "access_key_secret": "...",
 * "account_id": "..."}, ...] */
static int keys_json(struct fc_config *c, json_t *arr, char *err) {
    if (!json_is_array(arr))
        return fail(err, "access_keys: expected an array of objects");
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        const char *id = json_string_value(json_object_get(o, "access_key_id"));
        const char *secret = json_string_value(json_object_get(o, "access_key_secret"));
        json_t *acct = json_object_get(o, "account_id");
        if (!json_is_object(o) || id == NULL || secret == NULL || *id == '\0' ||
            *secret == '\0' || (acct && !json_is_string(acct)) ||
            json_object_size(o) != 2u + (acct != NULL))
            return fail(err, "access_keys[%zu]: expected {\"access_key_id\", "
                             "\"access_key_secret\"[, \"account_id\"]}", i);
        if (key_add(c, id, strlen(id), secret, json_string_value(acct)) < 0)
            return fail(err, "out of memory");
    }
    return 0;
}

void fc_config_defaults(struct fc_config *c) {
    memset(c, 0, sizeof(*c));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t n = cores < 1 ? 1 : cores > FC_IO_THREADS_MAX ? FC_IO_THREADS_MAX : (uint32_t)cores;
    snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8000");
    fc_config_parse_listen(c->listen, &c->listen_addr, &c->listen_addr_len);
    snprintf(c->data_dir, sizeof(c->data_dir), "/var/lib/fcd");
    c->io_threads = n;
    c->workers = n;
    c->log_level = FC_LOG_INFO;
    c->access_log = true;
    c->pin_threads = true;
    c->sched_batch = true;
    c->foreground = false;
    c->drain_grace_ms = FC_DRAIN_GRACE_MS_DEFAULT;
    c->instance_idle_s = FC_INSTANCE_IDLE_S_DEFAULT;
    snprintf(c->instance_user, sizeof(c->instance_user), "nobody");
    c->instance_nofile = 65536;
    c->instance_nproc = 65536;
    c->http.head_bytes_max = FC_HTTP_HEAD_BYTES_DEFAULT;
    c->http.headers_max = FC_HTTP_HEADERS_DEFAULT;
    c->http.body_sync_bytes_max = FC_HTTP_BODY_SYNC_BYTES_DEFAULT;
    c->http.body_async_bytes_max = FC_HTTP_BODY_ASYNC_BYTES_DEFAULT;
    c->http.idle_timeout_ms = FC_HTTP_IDLE_TIMEOUT_MS_DEFAULT;
    c->http.header_timeout_ms = FC_HTTP_HEADER_TIMEOUT_MS_DEFAULT;
    c->http.connections_max = FC_CONNS_PER_THREAD_DEFAULT;
}

int fc_config_parse_listen(const char *text, struct sockaddr_storage *out, socklen_t *out_len) {
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon[1] == '\0')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || errno != 0 || port > 65535)
        return -EINVAL;
    char host[INET6_ADDRSTRLEN + 2];
    size_t host_len = (size_t)(colon - text);
    if (host_len >= sizeof(host))
        return -EINVAL;
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *in4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host[host_len - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
            return -EINVAL;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *out_len = sizeof(*in6);
        return 0;
    }
    if (host_len == 0)
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
        return -EINVAL;
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *out_len = sizeof(*in4);
    return 0;
}

/* Set one key from a string (flags) or JSON value (file); exactly one given. */
static int key_set(struct fc_config *c, const struct key *k, const char *text, json_t *value,
                   char *err) {
    char *field = (char *)c + k->offset;
    char buf[64];
    if (value != NULL && !json_is_string(value)) {
        if (k->type == KEY_UINT && json_is_integer(value)) {
            snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(value));
            text = buf;
        } else if (k->type == KEY_BOOL && json_is_boolean(value)) {
            text = json_is_true(value) ? "true" : "false";
        } else {
            return fail(err, "%s: wrong type", k->name);
        }
    } else if (value != NULL) {
        if (k->type == KEY_UINT || k->type == KEY_BOOL)
            return fail(err, "%s: wrong type (a string)", k->name);
        text = json_string_value(value);
    }
    switch (k->type) {
    case KEY_UINT: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (*text == '\0' || *end != '\0' || errno != 0 || v < k->min || v > k->max)
            return fail(err, "%s: expected an integer in %u..%u, got '%s'", k->name, k->min,
                        k->max, text);
        *(uint32_t *)field = (uint32_t)v;
        return 0;
    }
    case KEY_STRING:
        if (strlen(text) >= k->size || text[0] == '\0')
            return fail(err, "%s: expected a non-empty string shorter than %zu bytes", k->name,
                        k->size);
        memcpy(field, text, strlen(text) + 1);
        return 0;
    case KEY_BOOL:
        if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
            return fail(err, "%s: expected true or false, got '%s'", k->name, text);
        *(bool *)field = text[0] == 't';
        return 0;
    case KEY_LOG_LEVEL: {
        int level = fc_log_level_parse(text);
        if (level < 0)
            return fail(err, "%s: expected debug, info, warn, error or off, got '%s'", k->name,
                        text);
        *(enum fc_log_level *)field = (enum fc_log_level)level;
        return 0;
    }
    case KEY_NETWORK:
        if (strcmp(text, "shared") != 0 && strcmp(text, "isolated") != 0)
            return fail(err, "%s: expected shared or isolated, got '%s'", k->name, text);
        *(bool *)field = text[0] == 'i';
        return 0;
    case KEY_DURABILITY:
        if (strcmp(text, "full") != 0 && strcmp(text, "nometasync") != 0)
            return fail(err, "%s: expected full or nometasync, got '%s'", k->name, text);
        *(bool *)field = text[0] == 'n';
        return 0;
    case KEY_LISTEN:
        if (strlen(text) >= sizeof(c->listen) ||
            fc_config_parse_listen(text, &c->listen_addr, &c->listen_addr_len) < 0)
            return fail(err, "%s: expected ADDR:PORT (e.g. 127.0.0.1:8000 or [::1]:8000), got '%s'",
                        k->name, text);
        snprintf(c->listen, sizeof(c->listen), "%s", text);
        return 0;
    }
    return fail(err, "%s: unhandled key type", k->name);
}

static const struct key *key_find(const char *name) {
    for (size_t i = 0; i < KEYS_COUNT; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* Apply every member of a JSON object whose dotted prefix is `prefix`. */
static int apply_object(struct fc_config *c, json_t *obj, const char *prefix, char *err) {
    const char *member;
    json_t *value;
    json_object_foreach(obj, member, value) {
        char name[128];
        snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", member);
        if (*prefix == '\0' && strcmp(member, "access_keys") == 0) {
            int rc = keys_json(c, value, err);
            if (rc < 0)
                return rc;
            continue;
        }
        if (*prefix == '\0' && strcmp(member, "services") == 0) {
            char fn_err[FC_ERR_BYTES];
            if (fc_catalog_add_json(&c->catalog, value, fn_err) < 0)
                return fail(err, "%s", fn_err);
            continue;
        }
        if (json_is_object(value) && *prefix == '\0' && strcmp(member, "http") == 0) {
            int rc = apply_object(c, value, member, err);
            if (rc < 0)
                return rc;
            continue;
        }
        const struct key *k = key_find(name);
        if (k == NULL)
            return fail(err, "%s: unknown key", name);
        int rc = key_set(c, k, NULL, value, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int fc_config_load_file(struct fc_config *c, const char *path, char err[FC_CONFIG_ERR_BYTES]) {
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        int rc = access(path, R_OK) == 0 ? -EINVAL : -ENOENT;
        snprintf(err, FC_CONFIG_ERR_BYTES, "%.200s:%d:%d: %s", path, jerr.line, jerr.column,
                 jerr.text);
        return rc;
    }
    int rc = 0;
    if (!json_is_object(root)) {
        rc = fail(err, "%s: expected a JSON object at the top", path);
    } else {
        char key_err[FC_CONFIG_ERR_BYTES];
        rc = apply_object(c, root, "", key_err);
        if (rc < 0)
            snprintf(err, FC_CONFIG_ERR_BYTES, "%.200s: %.300s", path, key_err);
    }
    json_decref(root);
    return rc;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: fcd [options]\n"
            "  --config FILE        JSON config file (flags override it)\n"
            "  --listen ADDR:PORT   listen address (default 127.0.0.1:8000)\n"
            "  --data-dir DIR       data directory (default /var/lib/fcd)\n"
            "  --io-threads N       io threads (default: one per core)\n"
            "  --workers N          worker threads (default: one per core)\n"
            "  --log-level LEVEL    debug, info, warn, error, off (default info)\n"
            "  --pid-file FILE      write the pid here\n"
            "  --function NAME=DIR[,timeout=S][,memory=MB][,concurrency=N][,instances=N]\n"
            "                       declare function NAME in service 'default' from code\n"
            "                       directory DIR (its executable 'bootstrap'), with an\n"
            "                       anonymous HTTP trigger (repeatable)\n"
            "  --access-key ID:SECRET  an access key for signed requests (repeatable); with\n"
            "                       any key, management calls and InvokeFunction must be signed\n"
            "  --api-anonymous      allow unsigned management calls (off by default)\n"
            "  --foreground         do not daemonize; log to stderr\n"
            "  --check-config       validate the configuration and exit\n"
            "  --help, --version\n");
}

enum { OPT_CONFIG = 256, OPT_CHECK, OPT_FOREGROUND, OPT_HELP, OPT_VERSION, OPT_API_ANONYMOUS };

static const struct option options[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"listen", required_argument, NULL, 'l'},
    {"data-dir", required_argument, NULL, 'd'},
    {"io-threads", required_argument, NULL, 'i'},
    {"workers", required_argument, NULL, 'w'},
    {"log-level", required_argument, NULL, 'v'},
    {"pid-file", required_argument, NULL, 'p'},
    {"function", required_argument, NULL, 'f'},
    {"access-key", required_argument, NULL, 'k'},
    {"foreground", no_argument, NULL, OPT_FOREGROUND},
    {"api-anonymous", no_argument, NULL, OPT_API_ANONYMOUS},
    {"check-config", no_argument, NULL, OPT_CHECK},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* The config key each value-taking flag sets. */
static const char *flag_key(int opt) {
    switch (opt) {
    case 'l': return "listen";
    case 'd': return "data_dir";
    case 'i': return "io_threads";
    case 'w': return "workers";
    case 'v': return "log_level";
    case 'p': return "pid_file";
    default: return NULL;
    }
}

int fc_config_from_args(struct fc_config *c, int argc, char **argv,
                        char err[FC_CONFIG_ERR_BYTES]) {
    fc_config_defaults(c);
    /* Pass 1: only --config, so the file applies before every other flag. */
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == OPT_CONFIG) {
            if (strlen(optarg) >= sizeof(c->config_file))
                return fail(err, "--config: path too long");
            snprintf(c->config_file, sizeof(c->config_file), "%s", optarg);
        }
    }
    if (c->config_file[0] != '\0') {
        int rc = fc_config_load_file(c, c->config_file, err);
        if (rc < 0)
            return -EINVAL;
    }
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        const char *key = flag_key(opt);
        if (key != NULL) {
            int rc = key_set(c, key_find(key), optarg, NULL, err);
            if (rc < 0)
                return rc;
            continue;
        }
        switch (opt) {
        case OPT_CONFIG: break;
        case 'k': {
            const char *colon = strchr(optarg, ':');
            if (colon == NULL || colon == optarg || colon[1] == '\0')
                return fail(err, "--access-key: expected ID:SECRET");
            if (key_add(c, optarg, (size_t)(colon - optarg), colon + 1, NULL) < 0)
                return fail(err, "out of memory");
            break;
        }
        case 'f': {
            char fn_err[FC_ERR_BYTES];
            if (fc_catalog_add_flag(&c->catalog, optarg, fn_err) < 0)
                return fail(err, "%s", fn_err);
            break;
        }
        case OPT_FOREGROUND: c->foreground = true; break;
        case OPT_API_ANONYMOUS: c->api_anonymous = true; break;
        case OPT_CHECK: c->check_only = true; break;
        case OPT_HELP: usage(stdout); return 1;
        case OPT_VERSION: puts("fcd 0.1.0"); return 1;
        default:
            return fail(err, "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return fail(err, "unexpected argument '%s' (see --help)", argv[optind]);
    if (fc_catalog_seal(&c->catalog) < 0)
        return fail(err, "out of memory");
    return 0;
}
