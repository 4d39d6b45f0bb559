/* config.h — fcd's configuration: defaults, a JSON file, then flags.
 *
 * Precedence: built-in defaults < the file given by --config < flags. The file
 * is JSON (jansson); every key is checked, and an unknown key or a bad value
 * is an error that names the key ("http.idle_timeout_ms: expected an integer
 * in 1..3600000"). See README.md "Configuration" for every key.
 *
 * Main thread only; the io and worker threads get a const pointer to a
 * finished config and never see it change (SIGHUP reloads only what can
 * change live: log level and access log). */
#ifndef FC_CONFIG_H
#define FC_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/auth.h"
#include "core/log.h"
#include "core/registry.h"

#define FC_CONFIG_ERR_BYTES 512

struct fc_config {
    char config_file[PATH_MAX]; /* "" when none */
    char listen[128];           /* "ADDR:PORT" as given, for messages */
    struct sockaddr_storage listen_addr;
    socklen_t listen_addr_len;
    char data_dir[PATH_MAX];
    char pid_file[PATH_MAX]; /* "" when none */
    char log_file[PATH_MAX]; /* "" = stderr; used when not --foreground */
    uint32_t io_threads;
    uint32_t workers;
    enum fc_log_level log_level;
    bool access_log;
    bool foreground;
    bool check_only; /* --check-config */
    bool pin_threads; /* io thread i and worker i on the i-th allowed CPU */
    bool sched_batch; /* io and worker threads run SCHED_BATCH */
    uint32_t drain_grace_ms;
    struct fc_catalog catalog; /* "services" in the file, then --function flags; sealed */
    struct fc_auth_key *keys;  /* "access_keys" in the file, then --access-key flags */
    uint32_t keys_count;
    bool api_anonymous;        /* unsigned management calls allowed (--api-anonymous) */
    uint32_t instance_idle_s;  /* idle instances are reclaimed after this */
    char instance_user[64];    /* run instances as this user when fcd is root; "root" = no drop */
    uint32_t instance_nofile;  /* RLIMIT_NOFILE of an instance */
    uint32_t instance_nproc;   /* RLIMIT_NPROC of an instance (per user: shared by all) */
    bool instance_isolated;    /* "instance_network": "isolated": a netns per instance */
    bool async_nometasync;     /* "async_durability": "nometasync" (see store/jobs.h) */
    struct {
        uint32_t head_bytes_max;
        uint32_t headers_max;
        uint32_t body_sync_bytes_max;
        uint32_t body_async_bytes_max;
        uint32_t idle_timeout_ms;
        uint32_t header_timeout_ms;
        uint32_t connections_max; /* per io thread */
        bool uring_basic; /* use only io_uring features of 5.x kernels (tests the fallback) */
    } http;
};

/* Fill c with the built-in defaults (io_threads and workers = online cores). */
void fc_config_defaults(struct fc_config *c);

/* Release what the config owns (the catalog). */
void fc_config_free(struct fc_config *c);

/* Apply a JSON config file on top of c. Returns 0, or -EINVAL / -ENOENT with
 * a message naming the file and key in err; c may then be partly updated. */
int fc_config_load_file(struct fc_config *c, const char *path, char err[FC_CONFIG_ERR_BYTES]);

/* Build the whole config from argv: defaults, then --config FILE, then the
 * other flags. Returns 0; 1 when --help or --version was printed (exit 0);
 * -EINVAL with err set on any bad flag, file or value. */
int fc_config_from_args(struct fc_config *c, int argc, char **argv,
                        char err[FC_CONFIG_ERR_BYTES]);

/* Parse "127.0.0.1:8000", "[::1]:8000" or ":8000" into out. Returns 0 or -EINVAL. */
int fc_config_parse_listen(const char *text, struct sockaddr_storage *out, socklen_t *out_len);

#endif
