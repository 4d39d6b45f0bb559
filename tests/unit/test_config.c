/* test_config.c — core/config: defaults, file + flags precedence, and errors
 * that name the key. */
#include "tests/unit/test.h"

#include "core/config.h"

#include <errno.h>
#include <unistd.h>

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    FC_CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

static int from_args(struct fc_config *c, char *err, int argc, const char **argv) {
    return fc_config_from_args(c, argc, (char **)argv, err);
}

FC_TEST(config_defaults) {
    struct fc_config c;
    char err[FC_CONFIG_ERR_BYTES];
    const char *argv[] = {"fcd"};
    FC_CHECK_INT(from_args(&c, err, 1, argv), 0);
    FC_CHECK_STR(c.listen, "127.0.0.1:8000");
    FC_CHECK(c.io_threads >= 1 && c.workers >= 1);
    FC_CHECK_INT(c.http.headers_max, 100);
    FC_CHECK_INT(c.http.head_bytes_max, 64 * 1024);
    FC_CHECK_INT(c.http.body_sync_bytes_max, 6 * 1024 * 1024);
    FC_CHECK(!c.foreground);
}

FC_TEST(config_file_and_flags) {
    char path[] = "/tmp/fcd-config-XXXXXX";
    int fd = mkstemp(path);
    FC_CHECK(fd >= 0);
    close(fd);
    write_file(path, "{\"listen\":\"[::1]:9100\",\"io_threads\":3,\"log_level\":\"warn\","
                     "\"http\":{\"idle_timeout_ms\":1500,\"headers_max\":50}}");
    struct fc_config c;
    char err[FC_CONFIG_ERR_BYTES];
    const char *argv[] = {"fcd", "--io-threads", "2", "--config", path, "--foreground",
                          "--data-dir", "/tmp/x"};
    int rc = from_args(&c, err, 8, argv);
    unlink(path);
    if (rc != 0)
        fprintf(stderr, "# %s\n", err);
    FC_CHECK_INT(rc, 0);
    FC_CHECK_STR(c.listen, "[::1]:9100");
    FC_CHECK_INT(c.io_threads, 2); /* the flag wins over the file */
    FC_CHECK_INT(c.log_level, FC_LOG_WARN);
    FC_CHECK_INT(c.http.idle_timeout_ms, 1500);
    FC_CHECK_INT(c.http.headers_max, 50);
    FC_CHECK_STR(c.data_dir, "/tmp/x");
    FC_CHECK(c.foreground);
}

FC_TEST(config_unknown_key_named) {
    char path[] = "/tmp/fcd-config-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    write_file(path, "{\"http\":{\"idle_timeout\":5}}");
    struct fc_config c;
    char err[FC_CONFIG_ERR_BYTES];
    const char *argv[] = {"fcd", "--config", path};
    FC_CHECK_INT(from_args(&c, err, 3, argv), -EINVAL);
    unlink(path);
    FC_CHECK(strstr(err, "http.idle_timeout: unknown key") != NULL);
    const char *argv2[] = {"fcd", "--no-such-flag"};
    FC_CHECK_INT(from_args(&c, err, 2, argv2), -EINVAL);
    FC_CHECK(strstr(err, "--no-such-flag") != NULL);
}

FC_TEST(config_bad_value_named) {
    struct fc_config c;
    char err[FC_CONFIG_ERR_BYTES];
    const char *a1[] = {"fcd", "--listen", "127.0.0.1"};
    FC_CHECK_INT(from_args(&c, err, 3, a1), -EINVAL);
    FC_CHECK(strstr(err, "listen:") != NULL);
    const char *a2[] = {"fcd", "--io-threads", "0"};
    FC_CHECK_INT(from_args(&c, err, 3, a2), -EINVAL);
    FC_CHECK(strstr(err, "io_threads:") != NULL);
    const char *a3[] = {"fcd", "--log-level", "loud"};
    FC_CHECK_INT(from_args(&c, err, 3, a3), -EINVAL);
    FC_CHECK(strstr(err, "log_level:") != NULL);
    char path[] = "/tmp/fcd-config-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    write_file(path, "{\"http\":{\"headers_max\":\"many\"}}");
    const char *a4[] = {"fcd", "--config", path};
    FC_CHECK_INT(from_args(&c, err, 3, a4), -EINVAL);
    FC_CHECK(strstr(err, "http.headers_max: wrong type") != NULL);
    write_file(path, "{\"listen\": ");
    FC_CHECK_INT(from_args(&c, err, 3, a4), -EINVAL);
    FC_CHECK(strstr(err, path) != NULL);
    unlink(path);
}
