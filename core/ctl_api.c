/* ctl_api.c — the management endpoints (CONTRACT.md §5.1), on the ctl
 * thread. Paths are after "/{version}/":
 *
 *   services                                   POST create, GET list
 *   services/S                                 GET, PUT, DELETE
 *   services/S/functions                       POST create, GET list
 *   services/S/functions/F                     GET, PUT, DELETE
 *   services/S/functions/F/code                GET {url, checksum}
 *   services/S/functions/F/code/package.zip    GET the package (fcd: the url above)
 *   services/S/functions/F/triggers            POST create, GET list
 *   services/S/functions/F/triggers/T          GET, PUT, DELETE
 *   services/S/functions/F/async-invoke-config PUT, GET, DELETE
 *   services/S/functions/F/async-invoke-configs GET list
 *   services/S/functions/F/logs                GET (fcd: the function's log file)
 *
 * Each change is validated completely (documents read, code unpacked, the
 * function built) before anything is stored; then it is stored in one
 * durable LMDB txn, applied to the model and published. A failure at any
 * step leaves no trace: the unpacked code is removed, the model untouched. */
#include "core/ctl_model.h"

#include "core/apidoc.h"
#include "core/log.h"
#include "io/http.h"
#include "store/code.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEGMENTS_MAX 8
#define KEY_BYTES (FC_CATALOG_STORE_KEY_BYTES_MAX + 1)

struct call {
    struct fc_ctl *ctl;
    struct fc_ctl_req *req;
    char *seg[SEGMENTS_MAX];
    int segs;
    char qualifier[FC_FUNCTION_NAME_MAX + 1]; /* "LATEST" when none */
    json_t *body;                             /* parsed JSON body, or NULL */
    char path[1024];                          /* the path as requested (seg[] cut it up) */
};

/* ---- answers ------------------------------------------------------------------- */

static void answer_json(struct call *c, int status, json_t *obj) {
    char *text = json_dumps(obj, JSON_COMPACT);
    c->req->status = status;
    c->req->content_type = "application/json";
    c->req->resp.len = 0;
    if (text == NULL || fc_buf_append(&c->req->resp, text, strlen(text)) < 0)
        c->req->status = 500;
    free(text);
    json_decref(obj);
}

static void answer_error(struct call *c, enum fc_error err, ...);

/* 400 PathNotSupported: "'METHOD' against 'path' is not supported". */
static void not_supported(struct call *c) {
    static const char *const names[] = {"request", "GET", "HEAD", "POST", "PUT",
                                        "DELETE", "PATCH", "OPTIONS"};
    int m = c->req->method;
    answer_error(c, FC_ERR_PATH_NOT_SUPPORTED,
                 m >= 0 && m < (int)(sizeof(names) / sizeof(names[0])) ? names[m] : "request",
                 c->path);
}

static void answer_error(struct call *c, enum fc_error err, ...) {
    char body[2048];
    va_list ap;
    va_start(ap, err);
    int n = fc_error_vjson(body, sizeof(body), err, c->req->request_id, ap);
    va_end(ap);
    c->req->status = fc_error_status(err);
    c->req->content_type = "application/json";
    c->req->resp.len = 0;
    if (n < 0 || fc_buf_append(&c->req->resp, body, (size_t)n) < 0)
        c->req->status = 500;
}

/* DELETE: 204 and no body, and no Content-Type (fc2 would parse "" as JSON). */
static void answer_empty(struct call *c) {
    c->req->status = 204;
    c->req->content_type = NULL;
    c->req->resp.len = 0;
}

static void answer_failure(struct call *c, int rc, const char *err) {
    if (rc == -EINVAL || rc == -EFBIG)
        answer_error(c, FC_ERR_INVALID_ARGUMENT, err);
    else if (rc == -ENOSPC) /* fc_ctl_build: every function id is taken */
        answer_error(c, FC_ERR_LIMIT_EXCEEDED, err);
    else {
        FC_LOG_ERROR("management call failed: %s (%s)", strerror(-rc), err);
        answer_error(c, FC_ERR_INTERNAL);
    }
}

/* ---- small helpers --------------------------------------------------------------- */

static long long now_s(void) {
    return (long long)time(NULL);
}

static void stamp(json_t *doc, const char *id_key, bool created) {
    char t[32];
    fc_apidoc_time(now_s(), t);
    if (created) {
        unsigned char raw[16];
        char hex[40];
        if (getentropy(raw, sizeof(raw)) < 0)
            memset(raw, 0, sizeof(raw));
        for (int i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        /* FC's ids look like UUIDs: 8-4-4-4-12. */
        char uuid[40];
        snprintf(uuid, sizeof(uuid), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
                 hex + 16, hex + 20);
        json_object_set_new(doc, id_key, json_string(uuid));
        json_object_set_new(doc, "createdTime", json_string(t));
    }
    json_object_set_new(doc, "lastModifiedTime", json_string(t));
    char etag[40];
    snprintf(etag, sizeof(etag), "%016llx%08x", (unsigned long long)time(NULL),
             (unsigned)random());
    json_object_set_new(doc, "fcdEtag", json_string(etag));
}

static void set_etag(struct call *c, json_t *doc) {
    const char *etag = json_string_value(json_object_get(doc, "fcdEtag"));
    if (etag)
        snprintf(c->req->extra, sizeof(c->req->extra), "ETag: %s\r\n", etag);
}

/* If-Match against the stored document's ETag (412 on mismatch). */
static bool precondition_ok(struct call *c, json_t *doc) {
    const char *want = c->req->if_match, *have = json_string_value(json_object_get(doc, "fcdEtag"));
    if (want == NULL || *want == '\0' || strcmp(want, "*") == 0)
        return true;
    size_t n = strlen(want);
    if (n >= 2 && want[0] == '"' && want[n - 1] == '"') /* a quoted entity tag */
        return have && strlen(have) == n - 2 && strncmp(want + 1, have, n - 2) == 0;
    return have && strcmp(want, have) == 0;
}

static int store(struct fc_ctl *ctl, const struct fc_catalog_store_op *ops, size_t n) {
    return fc_catalog_store_apply(ctl->store, ops, n);
}

/* One put of doc under key; doc serialised here. */
static int store_doc(struct fc_ctl *ctl, const char *key, json_t *doc) {
    char *text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL)
        return -ENOMEM;
    struct fc_catalog_store_op op = {key, text, strlen(text)};
    int rc = store(ctl, &op, 1);
    free(text);
    return rc;
}

static int store_delete(struct fc_ctl *ctl, const char *key) {
    struct fc_catalog_store_op op = {key, NULL, 0};
    return store(ctl, &op, 1);
}

/* The value of query parameter name (no %-decoding: names and tokens are
 * FC's charset), into out; false when absent. */
static bool query_param(const char *query, const char *name, char *out, size_t cap) {
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
        if ((size_t)(end - p) > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            snprintf(out, cap, "%.*s", (int)(end - p - n - 1), p + n + 1);
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

/* ---- lists ----------------------------------------------------------------------- */

static int key_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* FC's list paging over an object's keys (sorted): prefix, startKey,
 * nextToken (the first key of the next page) and limit. Calls render for
 * each key on the page; answers {"<field>": [...], "nextToken": ...}. */
static void answer_list(struct call *c, json_t *items, const char *field,
                        json_t *(*render)(struct call *, const char *, json_t *)) {
    char prefix[256] = "", start[256] = "", token[256] = "", limit_text[16] = "";
    query_param(c->req->query, "prefix", prefix, sizeof(prefix));
    query_param(c->req->query, "startKey", start, sizeof(start));
    query_param(c->req->query, "nextToken", token, sizeof(token));
    long limit = query_param(c->req->query, "limit", limit_text, sizeof(limit_text))
                     ? strtol(limit_text, NULL, 10)
                     : FC_CTL_LIST_LIMIT_DEFAULT;
    if (limit <= 0 || limit > FC_CTL_LIST_LIMIT_MAX) {
        answer_error(c, FC_ERR_INVALID_ARGUMENT, "limit must be an integer in 1..1000");
        return;
    }
    size_t n = json_object_size(items), k = 0;
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    const char *key;
    json_t *v;
    json_object_foreach(items, key, v) keys[k++] = key;
    qsort(keys, n, sizeof(*keys), key_cmp);
    json_t *out = json_array();
    const char *next = "";
    for (size_t i = 0; i < n; i++) {
        if (strncmp(keys[i], prefix, strlen(prefix)) != 0 || strcmp(keys[i], start) < 0 ||
            strcmp(keys[i], token) < 0)
            continue;
        if (json_array_size(out) == (size_t)limit) {
            next = keys[i];
            break;
        }
        json_array_append_new(out, render(c, keys[i], json_object_get(items, keys[i])));
    }
    json_t *resp = json_pack("{s:o}", field, out);
    json_object_set_new(resp, "nextToken", json_string(next));
    free(keys);
    answer_json(c, 200, resp);
}

/* ---- services ---------------------------------------------------------------------- */

static json_t *service_view(struct call *c, const char *name, json_t *entry) {
    (void)c;
    (void)name;
    return fc_apidoc_public(json_object_get(entry, "doc"));
}

static void service_key(char key[KEY_BYTES], const char *svc) {
    snprintf(key, KEY_BYTES, "s/%s", svc);
}

static void create_service(struct call *c) {
    char err[FC_ERR_BYTES];
    json_t *doc = fc_apidoc_read(FC_APIDOC_SERVICE, c->body, err);
    if (doc == NULL)
        return answer_error(c, FC_ERR_INVALID_ARGUMENT, err);
    const char *name = json_string_value(json_object_get(doc, "serviceName"));
    if (name == NULL || !fc_name_valid(name, strlen(name), FC_SERVICE_NAME_MAX)) {
        json_decref(doc);
        return answer_error(c, FC_ERR_INVALID_ARGUMENT,
                            "serviceName: 1..128 letters, digits, '_' and '-', not starting "
                            "with a digit or '-'");
    }
    if (fc_ctl_service(c->ctl, name) != NULL) {
        answer_error(c, FC_ERR_SERVICE_ALREADY_EXISTS, name);
        json_decref(doc);
        return;
    }
    if (json_object_get(doc, "description") == NULL)
        json_object_set_new(doc, "description", json_string(""));
    stamp(doc, "serviceId", true);
    char key[KEY_BYTES];
    service_key(key, name);
    int rc = store_doc(c->ctl, key, doc);
    if (rc == 0)
        rc = fc_ctl_model_set(c->ctl, 's', name, NULL, NULL, doc);
    if (rc == 0)
        rc = fc_ctl_publish(c->ctl);
    if (rc < 0)
        answer_failure(c, rc, "");
    else
        answer_json(c, 200, fc_apidoc_public(doc));
    json_decref(doc);
}

static void update_service(struct call *c, json_t *entry, const char *svc) {
    char err[FC_ERR_BYTES];
    json_t *stored = json_object_get(entry, "doc");
    if (!precondition_ok(c, stored))
        return answer_error(c, FC_ERR_PRECONDITION_FAILED);
    json_t *update = fc_apidoc_read(FC_APIDOC_SERVICE, c->body, err);
    if (update == NULL)
        return answer_error(c, FC_ERR_INVALID_ARGUMENT, err);
    json_object_del(update, "serviceName"); /* the name is the path's */
    json_t *doc = fc_apidoc_merge(stored, update);
    json_decref(update);
    stamp(doc, NULL, false);
    char key[KEY_BYTES];
    service_key(key, svc);
    int rc = store_doc(c->ctl, key, doc);
    if (rc < 0) {
        json_decref(doc);
        return answer_failure(c, rc, "");
    }
    json_object_set(entry, "doc", doc);
    answer_json(c, 200, fc_apidoc_public(doc));
    json_decref(doc);
}

static void delete_service(struct call *c, json_t *entry, const char *svc) {
    if (json_object_size(json_object_get(entry, "functions")) > 0)
        return answer_error(c, FC_ERR_SERVICE_NOT_EMPTY, svc);
    if (!precondition_ok(c, json_object_get(entry, "doc")))
        return answer_error(c, FC_ERR_PRECONDITION_FAILED);
    char key[KEY_BYTES];
    service_key(key, svc);
    int rc = store_delete(c->ctl, key);
    if (rc == 0) {
        json_object_del(c->ctl->root, svc);
        rc = fc_ctl_publish(c->ctl);
    }
    if (rc < 0)
        return answer_failure(c, rc, "");
    answer_empty(c);
}

static void service_call(struct call *c) {
    int m = c->req->method;
    if (c->segs == 1 && m == FC_HTTP_POST)
        return create_service(c);
    if (c->segs == 1 && m == FC_HTTP_GET)
        return answer_list(c, c->ctl->root, "services", service_view);
    if (c->segs == 1)
        return not_supported(c);
    const char *svc = c->seg[1];
    json_t *entry = fc_ctl_service(c->ctl, svc);
    if (entry == NULL)
        return answer_error(c, FC_ERR_SERVICE_NOT_FOUND, svc);
    if (m == FC_HTTP_GET)
        return answer_json(c, 200, service_view(c, svc, entry));
    if (m == FC_HTTP_PUT)
        return update_service(c, entry, svc);
    if (m == FC_HTTP_DELETE)
        return delete_service(c, entry, svc);
    not_supported(c);
}

/* ---- function code ----------------------------------------------------------------- */

/* base64 text -> bytes (OpenSSL's decoder: tolerates line breaks). */
static int base64_decode(const char *text, size_t len, struct fc_buf *out) {
    if (fc_buf_reserve(out, len / 4 * 3 + 3) < 0)
        return -ENOMEM;
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int n = 0, tail = 0;
    EVP_DecodeInit(ctx);
    int rc = EVP_DecodeUpdate(ctx, (unsigned char *)out->data, &n, (const unsigned char *)text,
                              (int)len);
    if (rc >= 0)
        rc = EVP_DecodeFinal(ctx, (unsigned char *)out->data + n, &tail);
    EVP_ENCODE_CTX_free(ctx);
    if (rc < 0)
        return -EINVAL;
    out->len = (size_t)n + (size_t)tail;
    return 0;
}

/* Unpack the request's code.zipFile into a new revision directory of
 * svc/fn and record it in doc (fcdCodeDir, codeSize, codeChecksum); the zip
 * is kept beside it for GetFunctionCode. Returns 0, or -EINVAL/-EFBIG with
 * err set, or -errno. */
static int unpack_code(struct call *c, const char *svc, const char *fn, json_t *doc, char *err) {
    json_t *code = json_object_get(doc, "code");
    const char *zip64 = json_string_value(json_object_get(code, "zipFile"));
    if (zip64 == NULL) {
        snprintf(err, FC_ERR_BYTES, json_object_get(code, "ossBucketName")
                                        ? "code: fcd takes code.zipFile only (no OSS)"
                                        : "code.zipFile: expected the base64 of a zip file");
        return -EINVAL;
    }
    struct fc_buf zip = {0};
    int rc = base64_decode(zip64, strlen(zip64), &zip);
    if (rc == -EINVAL)
        snprintf(err, FC_ERR_BYTES, "code.zipFile: not valid base64");
    char dir[PATH_MAX + 512]; /* checked below: a code dir must fit fc_function's PATH_MAX */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(dir, sizeof(dir), "%s/code", c->ctl->cfg->data_dir);
    if (rc == 0 && (mkdir(dir, 0755) < 0 && errno != EEXIST))
        rc = -errno;
    snprintf(dir, sizeof(dir), "%s/code/%s", c->ctl->cfg->data_dir, svc);
    if (rc == 0 && (mkdir(dir, 0755) < 0 && errno != EEXIST))
        rc = -errno;
    snprintf(dir, sizeof(dir), "%s/code/%s/%s", c->ctl->cfg->data_dir, svc, fn);
    if (rc == 0 && (mkdir(dir, 0755) < 0 && errno != EEXIST))
        rc = -errno;
    snprintf(dir, sizeof(dir), "%s/code/%s/%s/%lld%09ld", c->ctl->cfg->data_dir, svc, fn,
             (long long)ts.tv_sec, ts.tv_nsec);
    if (rc == 0 && strlen(dir) >= PATH_MAX)
        rc = -ENAMETOOLONG;
    struct fc_code_limits lim;
    fc_code_limits_default(&lim);
    struct fc_code_info info;
    char code_err[FC_CODE_ERR_BYTES] = "";
    if (rc == 0 && (rc = fc_code_unpack(zip.data, zip.len, dir, &lim, &info, code_err)) < 0)
        snprintf(err, FC_ERR_BYTES, "code.zipFile: %s", code_err);
    if (rc == 0) {
        char zip_path[PATH_MAX + 8];
        snprintf(zip_path, sizeof(zip_path), "%s.zip", dir);
        int fd = open(zip_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, zip.data, zip.len) != (ssize_t)zip.len || fsync(fd) < 0)
            rc = -EIO, snprintf(err, FC_ERR_BYTES, "cannot keep the code package");
        if (fd >= 0)
            close(fd);
        if (rc < 0)
            fc_code_remove(dir);
    }
    fc_buf_free(&zip);
    if (rc < 0)
        return rc;
    json_object_set_new(doc, "fcdCodeDir", json_string(dir));
    json_object_set_new(doc, "codeSize", json_integer((json_int_t)info.code_size));
    json_object_set_new(doc, "codeChecksum", json_string(info.checksum));
    json_object_del(doc, "code");
    return 0;
}

/* Remove a code revision directory made by unpack_code (and its zip). */
static void remove_code(const char *dir) {
    if (dir == NULL || strstr(dir, "/code/") == NULL)
        return; /* a bootstrap function's own directory is never ours to remove */
    char zip_path[PATH_MAX + 8];
    snprintf(zip_path, sizeof(zip_path), "%s.zip", dir);
    unlink(zip_path);
    fc_code_remove(dir);
}

void fc_ctl_code_prune(struct fc_ctl *ctl, const char *svc, const char *fn, const char *keep_a,
                       const char *keep_b) {
    char dir[PATH_MAX + 256];
    snprintf(dir, sizeof(dir), "%s/code/%s/%s", ctl->cfg->data_dir, svc, fn);
    if (keep_a == NULL && keep_b == NULL) {
        /* A deleted function's instances may still run from its code:
         * the directory moves to the trash, emptied at the next start. */
        char trash[PATH_MAX + 512];
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(trash, sizeof(trash), "%s/code/.trash", ctl->cfg->data_dir);
        mkdir(trash, 0700);
        snprintf(trash, sizeof(trash), "%s/code/.trash/%s.%s.%lld%09ld", ctl->cfg->data_dir, svc,
                 fn, (long long)ts.tv_sec, ts.tv_nsec);
        if (rename(dir, trash) < 0 && errno != ENOENT)
            FC_LOG_WARN("cannot move %s to the trash: %s", dir, strerror(errno));
        return;
    }
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX + 512];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t n = strlen(path);
        if (n > 4 && strcmp(path + n - 4, ".zip") == 0)
            path[n - 4] = '\0';
        if ((keep_a && strcmp(path, keep_a) == 0) || (keep_b && strcmp(path, keep_b) == 0))
            continue;
        remove_code(path);
    }
    closedir(d);
}

void fc_ctl_code_empty_trash(struct fc_ctl *ctl) {
    char trash[PATH_MAX + 32];
    snprintf(trash, sizeof(trash), "%s/code/.trash", ctl->cfg->data_dir);
    int rc = fc_code_remove(trash);
    if (rc < 0)
        FC_LOG_WARN("cannot empty %s: %s", trash, strerror(-rc));
}

/* ---- functions ---------------------------------------------------------------------- */

static const char *const custom_runtimes[] = {"custom", "custom.debian10", "custom.debian11",
                                              "custom.debian12", NULL};

static json_t *function_view(struct call *c, const char *name, json_t *entry) {
    (void)c;
    (void)name;
    return fc_apidoc_public(json_object_get(entry, "doc"));
}

static void function_key(char key[KEY_BYTES], const char *svc, const char *fn) {
    snprintf(key, KEY_BYTES, "f/%s/%s", svc, fn);
}

static void trigger_key(char key[KEY_BYTES], const char *svc, const char *fn, const char *t) {
    snprintf(key, KEY_BYTES, "t/%s/%s/%s", svc, fn, t);
}

/* FC's defaults, so a GetFunction shows what runs. */
static void function_defaults(json_t *doc) {
    static const struct {
        const char *key;
        long long value;
    } ints[] = {{"timeout", 3}, {"memorySize", 128}, {"instanceConcurrency", 1},
                {"caPort", 9000}, {"initializationTimeout", 3}};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if (json_object_get(doc, ints[i].key) == NULL)
            json_object_set_new(doc, ints[i].key, json_integer(ints[i].value));
    if (json_object_get(doc, "handler") == NULL)
        json_object_set_new(doc, "handler", json_string("index.handler"));
    if (json_object_get(doc, "description") == NULL)
        json_object_set_new(doc, "description", json_string(""));
    if (json_object_get(doc, "environmentVariables") == NULL)
        json_object_set_new(doc, "environmentVariables", json_object());
}

static bool runtime_ok(json_t *doc, char *err) {
    const char *rt = json_string_value(json_object_get(doc, "runtime"));
    for (const char *const *r = custom_runtimes; rt && *r; r++)
        if (strcmp(rt, *r) == 0)
            return true;
    snprintf(err, FC_ERR_BYTES, "runtime '%s' is not supported: fcd runs custom runtimes "
                                "(custom, custom.debian10, custom.debian11)", rt ? rt : "");
    return false;
}

/* Make `next` (a function's whole model entry to be) current: build its
 * function, store doc under key (or delete key: doc NULL), then update the
 * model, install and publish. On failure the model is untouched. Returns 0
 * or -errno with err set. */
static int commit_entry(struct fc_ctl *ctl, const char *svc, const char *fn, json_t *next,
                        const char *key, json_t *doc, char *err) {
    struct fc_function *f;
    int rc = fc_ctl_build(ctl, svc, next, &f, err);
    if (rc < 0)
        return rc;
    rc = doc ? store_doc(ctl, key, doc) : store_delete(ctl, key);
    if (rc < 0) {
        fc_function_unref(f);
        snprintf(err, FC_ERR_BYTES, "the catalog store: %s", strerror(-rc));
        return rc == -ENOSPC || rc == -EINVAL ? -EIO : rc; /* ours, not the caller's: 500 */
    }
    json_object_set(json_object_get(fc_ctl_service(ctl, svc), "functions"), fn, next);
    fc_ctl_install(ctl, f);
    return fc_ctl_publish(ctl);
}

/* commit_entry for a function document (create, update). */
static int commit_function(struct fc_ctl *ctl, const char *svc, json_t *entry, char *err) {
    json_t *doc = json_object_get(entry, "doc");
    const char *fn = json_string_value(json_object_get(doc, "functionName"));
    char key[KEY_BYTES];
    function_key(key, svc, fn);
    return commit_entry(ctl, svc, fn, entry, key, doc, err);
}

static void create_function(struct call *c, const char *svc) {
    char err[FC_ERR_BYTES] = "";
    json_t *doc = fc_apidoc_read(FC_APIDOC_FUNCTION, c->body, err);
    if (doc == NULL)
        return answer_error(c, FC_ERR_INVALID_ARGUMENT, err);
    const char *name = json_string_value(json_object_get(doc, "functionName"));
    int rc = 0;
    if (name == NULL || !fc_name_valid(name, strlen(name), FC_FUNCTION_NAME_MAX))
        snprintf(err, FC_ERR_BYTES, "functionName: 1..64 letters, digits, '_' and '-', not "
                                    "starting with a digit or '-'"), rc = -EINVAL;
    else if (fc_ctl_function(c->ctl, svc, name) != NULL) {
        answer_error(c, FC_ERR_FUNCTION_ALREADY_EXISTS, name, svc);
        json_decref(doc);
        return;
    } else if (!runtime_ok(doc, err))
        rc = -EINVAL;
    if (rc == 0)
        rc = unpack_code(c, svc, name, doc, err);
    if (rc < 0) {
        json_decref(doc);
        return answer_failure(c, rc, err);
    }
    function_defaults(doc);
    stamp(doc, "functionId", true);
    json_t *entry = json_pack("{s:O, s:{}, s:{}}", "doc", doc, "triggers", "async");
    rc = commit_function(c->ctl, svc, entry, err);
    if (rc < 0) {
        remove_code(json_string_value(json_object_get(doc, "fcdCodeDir")));
        answer_failure(c, rc, err);
    } else {
        set_etag(c, doc);
        answer_json(c, 200, fc_apidoc_public(doc));
    }
    json_decref(entry);
    json_decref(doc);
}

static void update_function(struct call *c, json_t *entry, const char *svc, const char *fn) {
    char err[FC_ERR_BYTES] = "";
    json_t *stored = json_object_get(entry, "doc");
    if (!precondition_ok(c, stored))
        return answer_error(c, FC_ERR_PRECONDITION_FAILED);
    json_t *update = fc_apidoc_read(FC_APIDOC_FUNCTION, c->body, err);
    if (update == NULL)
        return answer_error(c, FC_ERR_INVALID_ARGUMENT, err);
    json_object_del(update, "functionName");
    json_t *doc = fc_apidoc_merge(stored, update);
    json_decref(update);
    int rc = runtime_ok(doc, err) ? 0 : -EINVAL;
    bool new_code = json_object_get(doc, "code") != NULL;
    if (rc == 0 && new_code)
        rc = unpack_code(c, svc, fn, doc, err);
    if (rc < 0) {
        json_decref(doc);
        return answer_failure(c, rc, err);
    }
    json_object_del(doc, "fcdBootstrap"); /* changed through the API: the API's now */
    stamp(doc, NULL, false);
    json_t *next = json_deep_copy(entry);
    json_object_set(next, "doc", doc);
    const char *old_dir = json_string_value(json_object_get(stored, "fcdCodeDir"));
    char old[PATH_MAX];
    snprintf(old, sizeof(old), "%s", old_dir ? old_dir : "");
    rc = commit_function(c->ctl, svc, next, err);
    if (rc < 0) {
        if (new_code)
            remove_code(json_string_value(json_object_get(doc, "fcdCodeDir")));
        answer_failure(c, rc, err);
    } else {
        /* Instances of the previous version may still run from its
         * directory: it goes when the next version replaces this one. */
        if (new_code && old[0])
            fc_ctl_code_prune(c->ctl, svc, fn, old, json_string_value(json_object_get(doc, "fcdCodeDir")));
        set_etag(c, doc);
        answer_json(c, 200, fc_apidoc_public(doc));
    }
    json_decref(next);
    json_decref(doc);
}

int fc_ctl_forget_function(struct fc_ctl *ctl, const char *svc, const char *fn, json_t *entry) {
    size_t n = 1 + json_object_size(json_object_get(entry, "triggers")) +
               json_object_size(json_object_get(entry, "async"));
    struct fc_catalog_store_op *ops = calloc(n, sizeof(*ops));
    char (*keys)[KEY_BYTES] = calloc(n, KEY_BYTES);
    if (ops == NULL || keys == NULL) {
        free(ops);
        free(keys);
        return -ENOMEM;
    }
    size_t k = 0;
    function_key(keys[k], svc, fn);
    ops[k] = (struct fc_catalog_store_op){keys[k], NULL, 0};
    k++;
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(entry, "triggers"), name, v) {
        trigger_key(keys[k], svc, fn, name);
        ops[k] = (struct fc_catalog_store_op){keys[k], NULL, 0};
        k++;
    }
    json_object_foreach(json_object_get(entry, "async"), name, v) {
        snprintf(keys[k], KEY_BYTES, "a/%s/%s/%s", svc, fn, name);
        ops[k] = (struct fc_catalog_store_op){keys[k], NULL, 0};
        k++;
    }
    int rc = store(ctl, ops, k);
    free(ops);
    free(keys);
    if (rc < 0)
        return rc;
    fc_ctl_uninstall(ctl, svc, fn);
    fc_ctl_code_prune(ctl, svc, fn, NULL, NULL);
    /* Last: fn may be the model's own key string (bootstrap_prune). */
    json_object_del(json_object_get(fc_ctl_service(ctl, svc), "functions"), fn);
    return 0;
}

static void delete_function(struct call *c, json_t *entry, const char *svc, const char *fn) {
    if (json_object_size(json_object_get(entry, "triggers")) > 0)
        return answer_error(c, FC_ERR_FUNCTION_NOT_EMPTY, fn);
    if (!precondition_ok(c, json_object_get(entry, "doc")))
        return answer_error(c, FC_ERR_PRECONDITION_FAILED);
    int rc = fc_ctl_forget_function(c->ctl, svc, fn, entry);
    if (rc == 0)
        rc = fc_ctl_publish(c->ctl);
    if (rc < 0)
        return answer_failure(c, rc, "");
    answer_empty(c);
}

static void function_code(struct call *c, json_t *entry, const char *svc, const char *fn) {
    json_t *doc = json_object_get(entry, "doc");
    const char *dir = json_string_value(json_object_get(doc, "fcdCodeDir"));
    if (c->segs == 6 && strcmp(c->seg[5], "package.zip") == 0) {
        char path[PATH_MAX + 8];
        snprintf(path, sizeof(path), "%s.zip", dir ? dir : "");
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            return answer_error(c, FC_ERR_INVALID_ARGUMENT,
                                "this function's code was not uploaded as a package");
        char chunk[65536];
        size_t got;
        c->req->resp.len = 0;
        while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
            fc_buf_append(&c->req->resp, chunk, got);
        fclose(f);
        c->req->status = 200;
        c->req->content_type = "application/zip";
        return;
    }
    char url[1024];
    snprintf(url, sizeof(url), "http://%s/2016-08-15/services/%s/functions/%s/code/package.zip",
             c->req->host[0] ? c->req->host : "127.0.0.1", svc, fn);
    const char *sum = json_string_value(json_object_get(doc, "codeChecksum"));
    answer_json(c, 200, json_pack("{s:s, s:s}", "url", url, "checksum", sum ? sum : ""));
}

/* ---- triggers ----------------------------------------------------------------------- */

static json_t *trigger_view(struct call *c, const char *name, json_t *doc) {
    (void)name;
    json_t *out = fc_apidoc_public(doc);
    const char *type = json_string_value(json_object_get(doc, "triggerType"));
    if (type && strcasecmp(type, "http") == 0) {
        char url[1024];
        snprintf(url, sizeof(url), "http://%s/2016-08-15/proxy/%s/%s/",
                 c->req->host[0] ? c->req->host : "127.0.0.1", c->seg[1], c->seg[3]);
        json_object_set_new(out, "urlInternet", json_string(url));
        json_object_set_new(out, "urlIntranet", json_string(url));
    }
    return out;
}

/* Store trigger doc `name` of svc/fn (or delete it: doc NULL) after
 * checking that the function still builds with it. */
static int commit_trigger(struct call *c, json_t *entry, const char *svc, const char *fn,
                          const char *name, json_t *doc, char *err) {
    json_t *next = json_deep_copy(entry);
    json_t *triggers = json_object_get(next, "triggers");
    if (doc)
        json_object_set(triggers, name, doc);
    else
        json_object_del(triggers, name);
    char key[KEY_BYTES];
    trigger_key(key, svc, fn, name);
    int rc = commit_entry(c->ctl, svc, fn, next, key, doc, err);
    json_decref(next);
    return rc;
}

/* The same for the async config of c's qualifier. */
static int commit_async(struct call *c, json_t *entry, const char *svc, const char *fn,
                        json_t *doc, char *err) {
    json_t *next = json_deep_copy(entry);
    json_t *configs = json_object_get(next, "async");
    if (doc)
        json_object_set(configs, c->qualifier, doc);
    else
        json_object_del(configs, c->qualifier);
    char key[KEY_BYTES];
    snprintf(key, KEY_BYTES, "a/%s/%s/%s", svc, fn, c->qualifier);
    int rc = commit_entry(c->ctl, svc, fn, next, key, doc, err);
    json_decref(next);
    return rc;
}

static void create_trigger(struct call *c, json_t *entry, const char *svc, const char *fn) {
    char err[FC_ERR_BYTES] = "";
    json_t *doc = fc_apidoc_read(FC_APIDOC_TRIGGER, c->body, err);
    if (doc == NULL)
        return answer_error(c, FC_ERR_INVALID_ARGUMENT, err);
    const char *name = json_string_value(json_object_get(doc, "triggerName"));
    int rc = 0;
    if (name == NULL || !fc_name_valid(name, strlen(name), FC_FUNCTION_NAME_MAX))
        rc = -EINVAL, snprintf(err, FC_ERR_BYTES, "triggerName: 1..64 letters, digits, '_' and '-'");
    else if (json_object_get(json_object_get(entry, "triggers"), name) != NULL) {
        answer_error(c, FC_ERR_TRIGGER_ALREADY_EXISTS, name, fn);
        json_decref(doc);
        return;
    } else if (json_object_get(doc, "triggerType") == NULL ||
               json_object_get(doc, "triggerConfig") == NULL)
        rc = -EINVAL, snprintf(err, FC_ERR_BYTES, "triggerType and triggerConfig are required");
    if (rc == 0) {
        stamp(doc, "triggerId", true);
        if (json_object_get(doc, "qualifier") == NULL)
            json_object_set_new(doc, "qualifier", json_string("LATEST"));
        rc = commit_trigger(c, entry, svc, fn, name, doc, err);
    }
    if (rc < 0)
        answer_failure(c, rc, err);
    else
        answer_json(c, 200, trigger_view(c, name, doc));
    json_decref(doc);
}

static void update_trigger(struct call *c, json_t *entry, json_t *stored, const char *svc,
                           const char *fn, const char *name) {
    char err[FC_ERR_BYTES] = "";
    json_t *update = fc_apidoc_read(FC_APIDOC_TRIGGER, c->body, err);
    if (update == NULL)
        return answer_error(c, FC_ERR_INVALID_ARGUMENT, err);
    json_object_del(update, "triggerName");
    json_object_del(update, "triggerType"); /* FC does not change a trigger's type */
    json_t *doc = fc_apidoc_merge(stored, update);
    json_decref(update);
    stamp(doc, NULL, false);
    int rc = commit_trigger(c, entry, svc, fn, name, doc, err);
    if (rc < 0)
        answer_failure(c, rc, err);
    else
        answer_json(c, 200, trigger_view(c, name, doc));
    json_decref(doc);
}

static void trigger_call(struct call *c, json_t *entry, const char *svc, const char *fn) {
    int m = c->req->method;
    json_t *triggers = json_object_get(entry, "triggers");
    if (c->segs == 5 && m == FC_HTTP_POST)
        return create_trigger(c, entry, svc, fn);
    if (c->segs == 5 && m == FC_HTTP_GET)
        return answer_list(c, triggers, "triggers", trigger_view);
    if (c->segs != 6)
        return not_supported(c);
    const char *name = c->seg[5];
    json_t *doc = json_object_get(triggers, name);
    if (doc == NULL)
        return answer_error(c, FC_ERR_TRIGGER_NOT_FOUND, name, fn);
    if (m == FC_HTTP_GET)
        return answer_json(c, 200, trigger_view(c, name, doc));
    if (m == FC_HTTP_PUT)
        return update_trigger(c, entry, doc, svc, fn, name);
    if (m != FC_HTTP_DELETE)
        return not_supported(c);
    char err[FC_ERR_BYTES] = "";
    int rc = commit_trigger(c, entry, svc, fn, name, NULL, err);
    if (rc < 0)
        return answer_failure(c, rc, err);
    answer_empty(c);
}

/* ---- async invoke config ---------------------------------------------------------- */

static json_t *async_view(struct call *c, const char *qualifier, json_t *doc) {
    json_t *out = fc_apidoc_public(doc);
    json_object_set_new(out, "service", json_string(c->seg[1]));
    json_object_set_new(out, "function", json_string(c->seg[3]));
    json_object_set_new(out, "qualifier", json_string(qualifier));
    return out;
}

static void put_async_config(struct call *c, json_t *entry, const char *svc, const char *fn) {
    char err[FC_ERR_BYTES] = "";
    json_t *update = fc_apidoc_read(FC_APIDOC_ASYNC_CONFIG, c->body, err);
    if (update == NULL)
        return answer_error(c, FC_ERR_INVALID_ARGUMENT, err);
    json_t *stored = json_object_get(json_object_get(entry, "async"), c->qualifier);
    json_t *doc = stored ? fc_apidoc_merge(stored, update) : json_incref(update);
    json_decref(update);
    stamp(doc, "fcdId", stored == NULL);
    int rc = commit_async(c, entry, svc, fn, doc, err);
    if (rc < 0)
        answer_failure(c, rc, err);
    else
        answer_json(c, 200, async_view(c, c->qualifier, doc));
    json_decref(doc);
}

static void async_call(struct call *c, json_t *entry, const char *svc, const char *fn) {
    int m = c->req->method;
    json_t *configs = json_object_get(entry, "async");
    if (strcmp(c->seg[4], "async-invoke-configs") == 0 && m == FC_HTTP_GET) {
        json_t *list = json_array(), *doc;
        const char *q;
        json_object_foreach(configs, q, doc) json_array_append_new(list, async_view(c, q, doc));
        return answer_json(c, 200, json_pack("{s:o, s:s}", "configs", list, "nextToken", ""));
    }
    if (m == FC_HTTP_PUT)
        return put_async_config(c, entry, svc, fn);
    json_t *doc = json_object_get(configs, c->qualifier);
    char what[FC_SERVICE_NAME_MAX + FC_FUNCTION_NAME_MAX + 16];
    snprintf(what, sizeof(what), "%s:%s", svc, fn);
    if (doc == NULL)
        return answer_error(c, FC_ERR_ASYNC_CONFIG_NOT_FOUND, what);
    if (m == FC_HTTP_GET)
        return answer_json(c, 200, async_view(c, c->qualifier, doc));
    if (m != FC_HTTP_DELETE)
        return not_supported(c);
    char err[FC_ERR_BYTES] = "";
    int rc = commit_async(c, entry, svc, fn, NULL, err);
    if (rc < 0)
        return answer_failure(c, rc, err);
    answer_empty(c);
}

/* ---- logs (fcd) --------------------------------------------------------------------- */

/* GET .../logs?offset=N&limit=B: B bytes of the function's log from N
 * (offset=-1: the last B bytes), text/plain, with x-fcd-log-offset (where
 * the next call starts) and x-fcd-log-size. */
static void function_logs(struct call *c, const char *svc, const char *fn) {
    char text[32] = "";
    long long offset = query_param(c->req->query, "offset", text, sizeof(text))
                           ? strtoll(text, NULL, 10) : -1;
    long long limit = query_param(c->req->query, "limit", text, sizeof(text))
                          ? strtoll(text, NULL, 10) : 65536;
    if (limit <= 0 || limit > FC_CTL_LOG_BYTES_MAX || offset < -1)
        return answer_error(c, FC_ERR_INVALID_ARGUMENT,
                            "offset is -1 or more, limit 1..1048576 bytes");
    char path[PATH_MAX + 256];
    snprintf(path, sizeof(path), "%s/logs/%s/%s.log", c->ctl->cfg->data_dir, svc, fn);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st = {0};
    if (fd >= 0 && fstat(fd, &st) < 0)
        st.st_size = 0;
    long long size = fd >= 0 ? (long long)st.st_size : 0;
    if (offset < 0)
        offset = size > limit ? size - limit : 0;
    if (offset > size)
        offset = size;
    size_t want = (size_t)(size - offset < limit ? size - offset : limit);
    c->req->resp.len = 0;
    ssize_t got = 0;
    if (fd >= 0 && want > 0 && fc_buf_reserve(&c->req->resp, want) == 0) {
        got = pread(fd, c->req->resp.data, want, offset);
        c->req->resp.len = got > 0 ? (size_t)got : 0;
    }
    if (fd >= 0)
        close(fd);
    c->req->status = 200;
    c->req->content_type = "text/plain; charset=utf-8";
    snprintf(c->req->extra, sizeof(c->req->extra), "x-fcd-log-offset: %lld\r\nx-fcd-log-size: %lld\r\n",
             offset + (long long)c->req->resp.len, size);
}

/* ---- routing ------------------------------------------------------------------------ */

static void function_call(struct call *c, const char *svc) {
    int m = c->req->method;
    if (strcmp(c->qualifier, "LATEST") != 0)
        return answer_error(c, FC_ERR_INVALID_ARGUMENT,
                            "fcd has no versions or aliases: the qualifier is LATEST");
    if (c->segs == 3 && m == FC_HTTP_POST)
        return create_function(c, svc);
    if (c->segs == 3 && m == FC_HTTP_GET)
        return answer_list(c, json_object_get(fc_ctl_service(c->ctl, svc), "functions"),
                           "functions", function_view);
    const char *fn = c->seg[3];
    json_t *entry = fc_ctl_function(c->ctl, svc, fn);
    if (entry == NULL)
        return answer_error(c, FC_ERR_FUNCTION_NOT_FOUND, fn, svc);
    if (c->segs == 4 && m == FC_HTTP_GET) {
        set_etag(c, json_object_get(entry, "doc"));
        return answer_json(c, 200, function_view(c, fn, entry));
    }
    if (c->segs == 4 && m == FC_HTTP_PUT)
        return update_function(c, entry, svc, fn);
    if (c->segs == 4 && m == FC_HTTP_DELETE)
        return delete_function(c, entry, svc, fn);
    const char *sub = c->segs >= 5 ? c->seg[4] : "";
    if (strcmp(sub, "code") == 0 && m == FC_HTTP_GET)
        return function_code(c, entry, svc, fn);
    if (strcmp(sub, "triggers") == 0)
        return trigger_call(c, entry, svc, fn);
    if (c->segs == 5 && (strcmp(sub, "async-invoke-config") == 0 ||
                         strcmp(sub, "async-invoke-configs") == 0))
        return async_call(c, entry, svc, fn);
    if (c->segs == 5 && strcmp(sub, "logs") == 0 && m == FC_HTTP_GET)
        return function_logs(c, svc, fn);
    not_supported(c);
}

/* Split the path at '/', taking "S.Q" apart: the qualifier goes to c. */
static bool split_path(struct call *c) {
    char *save, *p = c->req->path;
    for (char *s = strtok_r(p, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (c->segs == SEGMENTS_MAX)
            return false;
        c->seg[c->segs++] = s;
    }
    snprintf(c->qualifier, sizeof(c->qualifier), "LATEST");
    char q[FC_FUNCTION_NAME_MAX + 1];
    if (query_param(c->req->query, "qualifier", q, sizeof(q)))
        snprintf(c->qualifier, sizeof(c->qualifier), "%s", q);
    if (c->segs >= 2) {
        char *dot = strchr(c->seg[1], '.');
        if (dot != NULL) {
            *dot = '\0';
            snprintf(c->qualifier, sizeof(c->qualifier), "%s", dot + 1);
        }
    }
    return c->segs > 0;
}

void fc_ctl_api_handle(struct fc_ctl *ctl, struct fc_ctl_req *req) {
    struct call c = {.ctl = ctl, .req = req};
    snprintf(c.path, sizeof(c.path), "%s", req->path);
    req->extra[0] = '\0';
    bool routed = split_path(&c) && strcmp(c.seg[0], "services") == 0;
    bool writes = req->method == FC_HTTP_POST || req->method == FC_HTTP_PUT;
    if (routed && writes && req->body.len > 0) {
        json_error_t jerr;
        c.body = json_loadb(req->body.data, req->body.len, 0, &jerr);
        if (c.body == NULL) {
            char msg[256];
            snprintf(msg, sizeof(msg), "the body is not valid JSON: %s (line %d, column %d)",
                     jerr.text, jerr.line, jerr.column);
            answer_error(&c, FC_ERR_INVALID_ARGUMENT, msg);
            return;
        }
    } else if (routed && writes) {
        c.body = json_object();
    }
    if (!routed)
        not_supported(&c);
    else if (c.segs <= 2)
        service_call(&c);
    else if (strcmp(c.seg[2], "functions") != 0 || c.segs > 6)
        not_supported(&c);
    else if (fc_ctl_service(ctl, c.seg[1]) == NULL)
        answer_error(&c, FC_ERR_SERVICE_NOT_FOUND, c.seg[1]);
    else
        function_call(&c, c.seg[1]);
    json_decref(c.body);
}

/* ---- the model from documents ------------------------------------------------------ */

int fc_ctl_model_set(struct fc_ctl *ctl, char kind, const char *svc, const char *fn,
                     const char *name, json_t *doc) {
    json_t *sentry = fc_ctl_service(ctl, svc);
    if (kind == 's') {
        if (sentry == NULL)
            return json_object_set_new(ctl->root, svc,
                                       json_pack("{s:O, s:{}}", "doc", doc, "functions")) < 0
                       ? -ENOMEM : 0;
        return json_object_set(sentry, "doc", doc) < 0 ? -ENOMEM : 0;
    }
    json_t *fentry = fn ? fc_ctl_function(ctl, svc, fn) : NULL;
    if (sentry == NULL || fn == NULL || (kind != 'f' && (fentry == NULL || name == NULL))) {
        FC_LOG_WARN("catalog: skipping an orphan document %c/%s/%s", kind, svc, fn ? fn : "");
        return 0;
    }
    if (kind == 'f') {
        if (fentry == NULL)
            return json_object_set_new(json_object_get(sentry, "functions"), fn,
                                       json_pack("{s:O, s:{}, s:{}}", "doc", doc, "triggers",
                                                 "async")) < 0 ? -ENOMEM : 0;
        return json_object_set(fentry, "doc", doc) < 0 ? -ENOMEM : 0;
    }
    json_t *group = json_object_get(fentry, kind == 't' ? "triggers" : "async");
    return json_object_set(group, name, doc) < 0 ? -ENOMEM : 0;
}

/* The store ops that make the stored triggers/async configs of svc/fn
 * exactly `triggers` and `async` (LATEST): deletes for the ones that go. */
static int put_children(struct fc_ctl *ctl, const char *svc, const char *fn, json_t *old,
                        json_t *triggers, json_t *async) {
    const char *name;
    json_t *doc;
    char key[KEY_BYTES];
    int rc = 0;
    json_object_foreach(json_object_get(old, "triggers"), name, doc) {
        if (rc == 0 && json_object_get(triggers, name) == NULL) {
            trigger_key(key, svc, fn, name);
            rc = store_delete(ctl, key);
        }
    }
    json_object_foreach(triggers, name, doc) {
        if (rc == 0) {
            trigger_key(key, svc, fn, name);
            rc = store_doc(ctl, key, doc);
        }
    }
    snprintf(key, KEY_BYTES, "a/%s/%s/LATEST", svc, fn);
    if (rc == 0)
        rc = async ? store_doc(ctl, key, async) : store_delete(ctl, key);
    return rc;
}

int fc_ctl_put_function(struct fc_ctl *ctl, const char *svc, json_t *fn_doc, json_t *triggers,
                        json_t *async) {
    char key[KEY_BYTES], err[FC_ERR_BYTES];
    const char *fn = json_string_value(json_object_get(fn_doc, "functionName"));
    int rc = 0;
    if (fc_ctl_service(ctl, svc) == NULL) {
        json_t *sdoc = json_pack("{s:s, s:s}", "serviceName", svc, "description", "");
        stamp(sdoc, "serviceId", true);
        service_key(key, svc);
        rc = store_doc(ctl, key, sdoc);
        if (rc == 0)
            rc = fc_ctl_model_set(ctl, 's', svc, NULL, NULL, sdoc);
        json_decref(sdoc);
    }
    json_t *old = fc_ctl_function(ctl, svc, fn);
    json_t *doc = json_deep_copy(fn_doc);
    json_t *old_doc = json_object_get(old, "doc");
    stamp(doc, "functionId", old == NULL);
    if (old_doc != NULL) { /* keep its identity */
        json_object_set(doc, "functionId", json_object_get(old_doc, "functionId"));
        json_object_set(doc, "createdTime", json_object_get(old_doc, "createdTime"));
        if (!json_is_true(json_object_get(old_doc, "fcdBootstrap")))
            FC_LOG_WARN("function %s/%s of the API is replaced by the configuration's", svc, fn);
    }
    json_t *entry = json_pack("{s:o, s:O, s:{}}", "doc", doc, "triggers", triggers, "async");
    if (async)
        json_object_set(json_object_get(entry, "async"), "LATEST", async);
    struct fc_function *f = NULL;
    if (rc == 0 && (rc = fc_ctl_build(ctl, svc, entry, &f, err)) < 0)
        FC_LOG_ERROR("function %s/%s: %s", svc, fn, err);
    function_key(key, svc, fn);
    if (rc == 0)
        rc = store_doc(ctl, key, doc);
    if (rc == 0)
        rc = put_children(ctl, svc, fn, old, triggers, async);
    if (rc == 0) {
        json_object_set(json_object_get(fc_ctl_service(ctl, svc), "functions"), fn, entry);
        fc_ctl_install(ctl, f);
    } else if (f != NULL) {
        fc_function_unref(f);
    }
    json_decref(entry);
    return rc;
}
