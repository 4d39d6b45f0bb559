/* fcctl_zip.c — a function's code package for deploy: CodeUri -> zip bytes
 * in memory, with libzip (its documented in-memory pattern: a buffer
 * source kept alive across zip_close, then read back).
 *
 * Entries are added in name order, so the same tree gives the same entry
 * list. Each entry carries its Unix mode in the external attributes
 * (ZIP_OPSYS_UNIX, mode << 16), which is what keeps `bootstrap` executable
 * once fcd unpacks it. Files are read into memory before they go in (at
 * most FCCTL_ZIP_INPUT_BYTES_MAX in all): libzip's file source would open
 * them by name later, at zip_close, after fcctl has checked where a name
 * leads.
 *
 * Symbolic links: one whose target (realpath) lies inside the code
 * directory is followed, stored as the file or directory it points to (as
 * `zip -r` does); one that leads outside, dangles, or would loop back into
 * a directory being walked is left out with a warning. */
#include "io/fcctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zip.h>

#include "core/assert.h"

struct zipper {
    zip_t *za;
    char root[PATH_MAX]; /* realpath of the code directory */
    size_t root_len;
    uint64_t files, bytes;
    uint32_t depth; /* directories on the walk's stack */
    dev_t dev[FCCTL_ZIP_DEPTH_MAX + 1];
    ino_t ino[FCCTL_ZIP_DEPTH_MAX + 1];
    char *err;
};

static int zfail(struct zipper *z, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int zfail(struct zipper *z, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(z->err, FCCTL_ERR_BYTES, fmt, ap);
    va_end(ap);
    return rc;
}

/* Read a whole regular file (at most max bytes) into *data (malloc'd).
 * Returns 0, -E2BIG past max, -EISDIR/-EINVAL when not a regular file, or
 * -errno. */
static int slurp(const char *path, uint64_t max, char **data, size_t *len, struct stat *st) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    int rc = fstat(fd, st) < 0 ? -errno : !S_ISREG(st->st_mode) ? -EINVAL : 0;
    if (rc == 0 && (uint64_t)st->st_size > max)
        rc = -E2BIG;
    size_t cap = rc == 0 ? (size_t)st->st_size + 1 : 0, n = 0;
    char *buf = rc == 0 ? malloc(cap) : NULL;
    if (rc == 0 && buf == NULL)
        rc = -ENOMEM;
    while (rc == 0) { /* the file may grow while read: never past cap - 1 */
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            rc = -errno;
        else if (k == 0)
            break;
        else if ((n += (size_t)k) == cap)
            rc = -E2BIG; /* grew since fstat: refuse a moving target */
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = n;
    return 0;
}

static int add_file(struct zipper *z, const char *path, const char *name) {
    char *data = NULL;
    size_t len = 0;
    struct stat st;
    int rc = slurp(path, FCCTL_ZIP_INPUT_BYTES_MAX - z->bytes, &data, &len, &st);
    if (rc == -E2BIG)
        return zfail(z, rc, "code larger than %llu bytes (at %s)",
                     (unsigned long long)FCCTL_ZIP_INPUT_BYTES_MAX, path);
    if (rc < 0)
        return zfail(z, rc, "%s: %s", path, strerror(-rc));
    if (++z->files > FCCTL_ZIP_FILES_MAX) {
        free(data);
        return zfail(z, -E2BIG, "more than %u files in the code", FCCTL_ZIP_FILES_MAX);
    }
    z->bytes += len;
    zip_source_t *src = zip_source_buffer(z->za, data, len, 1); /* frees data */
    if (src == NULL) {
        free(data);
        return zfail(z, -ENOMEM, "zip: %s", zip_strerror(z->za));
    }
    zip_int64_t idx = zip_file_add(z->za, name, src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
        zip_source_free(src);
        return zfail(z, -EIO, "zip %s: %s", name, zip_strerror(z->za));
    }
    zip_uint32_t attr = (zip_uint32_t)(S_IFREG | (st.st_mode & 07777)) << 16;
    if (zip_file_set_external_attributes(z->za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX, attr) < 0 ||
        zip_file_set_mtime(z->za, (zip_uint64_t)idx, st.st_mtime, 0) < 0)
        return zfail(z, -EIO, "zip %s: %s", name, zip_strerror(z->za));
    return 0;
}

static int walk(struct zipper *z, const char *path, const char *prefix);

/* A directory entry to walk: refuse loops, add "name/" and descend. */
static int add_dir(struct zipper *z, const char *path, const char *name, const struct stat *st) {
    for (uint32_t i = 0; i < z->depth; i++)
        if (z->dev[i] == st->st_dev && z->ino[i] == st->st_ino) {
            fprintf(stderr, "fcctl: warning: left out %s: it loops back into %s\n", name,
                    i == 0 ? "the code directory" : "a parent directory");
            return 0;
        }
    if (z->depth == FCCTL_ZIP_DEPTH_MAX)
        return zfail(z, -E2BIG, "%s: directories nested deeper than %u", path, FCCTL_ZIP_DEPTH_MAX);
    zip_int64_t idx = zip_dir_add(z->za, name, ZIP_FL_ENC_UTF_8);
    zip_uint32_t attr = (zip_uint32_t)(S_IFDIR | (st->st_mode & 07777)) << 16;
    if (idx < 0 ||
        zip_file_set_external_attributes(z->za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX, attr) < 0)
        return zfail(z, -EIO, "zip %s: %s", name, zip_strerror(z->za));
    z->dev[z->depth] = st->st_dev;
    z->ino[z->depth] = st->st_ino;
    z->depth++;
    char sub[PATH_MAX + 1]; /* name is shorter than PATH_MAX (walk checked) */
    snprintf(sub, sizeof(sub), "%s/", name);
    int rc = walk(z, path, sub);
    z->depth--;
    return rc;
}

/* One entry of a directory: path on disk, name in the zip. */
static int add_entry(struct zipper *z, const char *path, const char *name) {
    struct stat st;
    if (lstat(path, &st) < 0) {
        int e = errno;
        return zfail(z, -e, "%s: %s", path, strerror(e));
    }
    char real[PATH_MAX];
    const char *from = path;
    if (S_ISLNK(st.st_mode)) {
        bool inside = realpath(path, real) != NULL && strncmp(real, z->root, z->root_len) == 0 &&
                      (real[z->root_len] == '/' || real[z->root_len] == '\0');
        if (!inside || stat(real, &st) < 0) {
            fprintf(stderr, "fcctl: warning: left out %s: a symbolic link that %s\n", name,
                    inside ? "cannot be read" : "leads outside the code directory or nowhere");
            return 0;
        }
        from = real;
    }
    if (S_ISDIR(st.st_mode))
        return add_dir(z, from, name, &st);
    if (S_ISREG(st.st_mode))
        return add_file(z, from, name);
    fprintf(stderr, "fcctl: warning: left out %s: not a regular file or directory\n", name);
    return 0;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry of directory `path`, named prefix + entry in the zip. */
static int walk(struct zipper *z, const char *path, const char *prefix) {
    DIR *d = opendir(path);
    if (d == NULL) {
        int e = errno;
        return zfail(z, -e, "%s: %s", path, strerror(e));
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **grown = cap <= FCCTL_ZIP_FILES_MAX ? realloc(names, cap * sizeof(*names)) : NULL;
            rc = grown == NULL ? zfail(z, -E2BIG, "%s: too many entries", path) : 0;
            names = grown != NULL ? grown : names;
        }
        if (rc == 0 && (names[n] = strdup(e->d_name)) != NULL)
            n++;
        else if (rc == 0)
            rc = zfail(z, -ENOMEM, "out of memory");
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char full[PATH_MAX], name[PATH_MAX];
        if (rc == 0 && (snprintf(full, sizeof(full), "%s/%s", path, names[i]) >= PATH_MAX ||
                        snprintf(name, sizeof(name), "%s%s", prefix, names[i]) >= PATH_MAX))
            rc = zfail(z, -ENAMETOOLONG, "%s/%s: path too long", path, names[i]);
        if (rc == 0)
            rc = add_entry(z, full, name);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* Close the archive and copy out its bytes. */
static int finish(struct zipper *z, zip_source_t *src, void **zip, size_t *zip_len) {
    if (zip_close(z->za) < 0) {
        int rc = zfail(z, -EIO, "zip: %s", zip_strerror(z->za));
        zip_discard(z->za);
        return rc;
    }
    zip_stat_t zst;
    zip_stat_init(&zst);
    if (zip_source_stat(src, &zst) < 0 || zip_source_open(src) < 0)
        return zfail(z, -EIO, "zip: %s", zip_error_strerror(zip_source_error(src)));
    if (zst.size > FCCTL_ZIP_BYTES_MAX) {
        zip_source_close(src);
        return zfail(z, -E2BIG, "code zip of %llu bytes is larger than %llu",
                     (unsigned long long)zst.size, (unsigned long long)FCCTL_ZIP_BYTES_MAX);
    }
    void *buf = malloc(zst.size ? zst.size : 1);
    zip_int64_t got = buf != NULL ? zip_source_read(src, buf, zst.size) : -1;
    zip_source_close(src);
    if (got < 0 || (zip_uint64_t)got != zst.size) {
        free(buf);
        return zfail(z, buf ? -EIO : -ENOMEM, "zip: cannot read the archive back");
    }
    *zip = buf;
    *zip_len = (size_t)got;
    return 0;
}

/* Zip a directory (recursively) or one file under its base name. */
static int zip_tree(const char *path, const struct stat *st, void **zip, size_t *zip_len,
                    char *err) {
    struct zipper *z = calloc(1, sizeof(*z));
    if (z == NULL)
        return snprintf(err, FCCTL_ERR_BYTES, "out of memory"), -ENOMEM;
    z->err = err;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    z->za = src != NULL ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    int rc = 0;
    if (z->za == NULL) {
        rc = zfail(z, -ENOMEM, "zip: %s", zip_error_strerror(&ze));
        zip_source_free(src);
    } else {
        zip_source_keep(src); /* read back after zip_close */
        if (realpath(path, z->root) == NULL) {
            int e = errno;
            rc = zfail(z, -e, "%s: %s", path, strerror(e));
        }
        z->root_len = strlen(z->root);
        if (rc == 0 && S_ISDIR(st->st_mode)) {
            z->dev[0] = st->st_dev, z->ino[0] = st->st_ino, z->depth = 1;
            rc = walk(z, z->root, "");
        } else if (rc == 0) {
            const char *base = strrchr(z->root, '/');
            rc = add_file(z, z->root, base != NULL ? base + 1 : z->root);
        }
        if (rc == 0 && z->files == 0)
            rc = zfail(z, -ENODATA, "%s: no files to zip", path);
        if (rc == 0)
            rc = finish(z, src, zip, zip_len);
        else
            zip_discard(z->za);
        zip_source_free(src);
    }
    zip_error_fini(&ze);
    free(z);
    return rc;
}

int fcctl_zip_code(const char *path, void **zip, size_t *zip_len, char err[FCCTL_ERR_BYTES]) {
    FC_ASSERT(path != NULL && zip != NULL && zip_len != NULL && err != NULL);
    err[0] = '\0';
    struct stat st;
    if (stat(path, &st) < 0) {
        int e = errno;
        snprintf(err, FCCTL_ERR_BYTES, "CodeUri %s: %s", path, strerror(e));
        return -e;
    }
    size_t n = strlen(path);
    if (S_ISREG(st.st_mode) && n > 4 && strcasecmp(path + n - 4, ".zip") == 0) {
        char *data;
        int rc = slurp(path, FCCTL_ZIP_BYTES_MAX, &data, zip_len, &st);
        if (rc < 0)
            snprintf(err, FCCTL_ERR_BYTES, "CodeUri %s: %s", path,
                     rc == -E2BIG ? "zip too large" : strerror(-rc));
        else
            *zip = data;
        return rc;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return snprintf(err, FCCTL_ERR_BYTES, "CodeUri %s: not a directory or file", path), -EINVAL;
    return zip_tree(path, &st, zip, zip_len, err);
}
