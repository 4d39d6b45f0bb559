/* test_code.c — store/code.h: unpacking code packages. Zips are built in
 * memory with libzip's writing API (no fixtures); odd archives that libzip
 * will not write (NUL in a name, duplicate names, lying sizes, unknown
 * methods) are made by patching its output. Every unpack goes to a fresh
 * mkdtemp directory, and after every failure that directory must be empty:
 * neither dest_dir nor a temporary sibling is left. */
#include "store/code.h"
#include "tests/unit/test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#define SEED 0x5eed0c0du

static uint32_t rnd(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* ---- building zips ------------------------------------------------------------ */

struct zent {
    const char *name; /* ends in '/' with data NULL: a directory entry (zip_dir_add) */
    const void *data; /* NULL: empty */
    size_t len;       /* 0: strlen(data) */
    bool has_attr;    /* else libzip's default (Unix 0100666) */
    uint8_t opsys;
    uint32_t attr; /* external attributes: Unix mode << 16, or MS-DOS attribute bits */
};

#define UF(n, d, m)                                                                                \
    { .name = n, .data = d, .has_attr = true, .opsys = 3, .attr = (uint32_t)(m) << 16 }
#define UD(n) UF(n, NULL, 040755)
#define UL(n, target) UF(n, target, 0120777)
#define WF(n, d)                                                                                   \
    { .name = n, .data = d, .has_attr = true, .opsys = 0, .attr = 0x20 }

struct zbuf {
    unsigned char *p;
    size_t len;
};

static struct zbuf zip_build_m(const struct zent *e, size_t n, int32_t method) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *out = zip_source_buffer_create(NULL, 0, 0, &ze);
    FC_CHECK(out != NULL);
    zip_source_keep(out);
    zip_t *za = zip_open_from_source(out, ZIP_TRUNCATE, &ze);
    FC_CHECK(za != NULL);
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(e[i].name);
        zip_int64_t idx;
        if (nl > 0 && e[i].name[nl - 1] == '/' && e[i].data == NULL) {
            idx = zip_dir_add(za, e[i].name, 0);
        } else {
            size_t len = e[i].len ? e[i].len : e[i].data ? strlen(e[i].data) : 0;
            zip_source_t *s = zip_source_buffer(za, e[i].data, len, 0);
            FC_CHECK(s != NULL);
            idx = zip_file_add(za, e[i].name, s, 0);
            if (idx >= 0)
                FC_CHECK(zip_set_file_compression(za, (zip_uint64_t)idx, method, 0) == 0);
        }
        if (idx < 0)
            fprintf(stderr, "# zip_build: %s: %s\n", e[i].name, zip_strerror(za));
        FC_CHECK(idx >= 0);
        if (e[i].has_attr)
            FC_CHECK(zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, e[i].opsys,
                                                      e[i].attr) == 0);
    }
    FC_CHECK(zip_close(za) == 0);
    FC_CHECK(zip_source_open(out) == 0);
    FC_CHECK(zip_source_seek(out, 0, SEEK_END) == 0);
    struct zbuf z = {.len = (size_t)zip_source_tell(out)};
    FC_CHECK(zip_source_seek(out, 0, SEEK_SET) == 0);
    FC_CHECK((z.p = malloc(z.len)) != NULL);
    FC_CHECK(zip_source_read(out, z.p, z.len) == (zip_int64_t)z.len);
    zip_source_close(out);
    zip_source_free(out);
    return z;
}

static struct zbuf zip_build(const struct zent *e, size_t n) {
    return zip_build_m(e, n, ZIP_CM_DEFLATE);
}

/* Replace every occurrence of from with to (same length): a name is stored
 * twice, in the local and the central header. Returns how many. */
static int zip_patch(struct zbuf *z, const char *from, const char *to, size_t n) {
    int hits = 0;
    for (size_t i = 0; i + n <= z->len; i++)
        if (memcmp(z->p + i, from, n) == 0) {
            memcpy(z->p + i, to, n);
            hits++;
        }
    return hits;
}

/* The central header of a one-entry zip. */
static unsigned char *zip_central(struct zbuf *z) {
    unsigned char *c = memmem(z->p, z->len, "PK\1\2", 4);
    FC_CHECK(c != NULL);
    return c;
}

static void put16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v) {
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

/* The zip's CRC-32 (IEEE, reflected), for patched contents. */
static uint32_t crc32_bitwise(const unsigned char *p, size_t n) {
    uint32_t c = ~0u;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

/* ---- directories ---------------------------------------------------------------- */

struct fx {
    char dir[64];  /* mkdtemp parent */
    char dest[96]; /* dir/rev1 */
};

static void fx_init(struct fx *f) {
    strcpy(f->dir, "/tmp/fc-code-XXXXXX");
    FC_CHECK(mkdtemp(f->dir) != NULL);
    snprintf(f->dest, sizeof(f->dest), "%s/rev1", f->dir);
}

static void fx_done(struct fx *f) {
    FC_CHECK_INT(fc_code_remove(f->dir), 0);
    struct stat st;
    FC_CHECK(lstat(f->dir, &st) < 0 && errno == ENOENT);
}

/* Entries in dir other than . and .. */
static int dir_count(const char *dir) {
    DIR *d = opendir(dir);
    FC_CHECK(d != NULL);
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static int unpack(struct fx *f, const struct zbuf *z, const struct fc_code_limits *lim,
                  struct fc_code_info *info, char *err) {
    return fc_code_unpack(z->p, z->len, f->dest, lim, info, err);
}

/* Unpack z expecting `want` and an err containing `needle`, and nothing
 * left behind in the parent. */
static void expect_fail(const struct zbuf *z, const struct fc_code_limits *lim, int want,
                        const char *needle, const char *label) {
    struct fx f;
    fx_init(&f);
    struct fc_code_info info;
    char err[FC_CODE_ERR_BYTES];
    int rc = unpack(&f, z, lim, &info, err);
    if (rc != want || strstr(err, needle) == NULL)
        fprintf(stderr, "# %s: rc %d \"%s\", expected %d with \"%s\"\n", label, rc, err, want,
                needle);
    FC_CHECK_INT(rc, want);
    FC_CHECK(strstr(err, needle) != NULL);
    FC_CHECK_INT(dir_count(f.dir), 0);
    fx_done(&f);
}

static void expect_fail_entries(const struct zent *e, size_t n, int want, const char *needle,
                                const char *label) {
    struct zbuf z = zip_build(e, n);
    expect_fail(&z, NULL, want, needle, label);
    free(z.p);
}

static void check_content(const char *dest, const char *rel, const void *data, size_t len);

static void check_file(const char *dest, const char *rel, const void *data, size_t len,
                       unsigned mode) {
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dest, rel);
    struct stat st;
    if (lstat(p, &st) != 0)
        fprintf(stderr, "# missing %s\n", p);
    FC_CHECK(lstat(p, &st) == 0);
    FC_CHECK(S_ISREG(st.st_mode));
    if ((st.st_mode & 07777) != mode)
        fprintf(stderr, "# %s: mode %o\n", rel, (unsigned)(st.st_mode & 07777));
    FC_CHECK_INT(st.st_mode & 07777, mode);
    FC_CHECK_INT(st.st_size, len);
    check_content(dest, rel, data, len);
}

/* Read dest/rel (following links) and compare. */
static void check_content(const char *dest, const char *rel, const void *data, size_t len) {
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dest, rel);
    char *got = malloc(len + 1);
    int fd = open(p, O_RDONLY);
    FC_CHECK(fd >= 0 && got != NULL);
    FC_CHECK_INT(read(fd, got, len + 1), len);
    close(fd);
    FC_CHECK(memcmp(got, data, len) == 0);
    free(got);
}

static void check_str(const char *dest, const char *rel, const char *s, unsigned mode) {
    check_file(dest, rel, s, strlen(s), mode);
}

static void check_dir(const char *dest, const char *rel) {
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dest, rel);
    struct stat st;
    FC_CHECK(lstat(p, &st) == 0);
    FC_CHECK(S_ISDIR(st.st_mode));
    FC_CHECK_INT(st.st_mode & 07777, 0755);
}

static void check_link(const char *dest, const char *rel, const char *target) {
    char p[PATH_MAX], got[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dest, rel);
    ssize_t n = readlink(p, got, sizeof(got) - 1);
    FC_CHECK(n >= 0);
    got[n] = '\0';
    FC_CHECK_STR(got, target);
}

/* ---- tests ---------------------------------------------------------------------- */

static uint64_t crc64_bitwise(const unsigned char *p, size_t n) {
    uint64_t c = ~0ull;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0xC96C5795D7870F42ull : c >> 1;
    }
    return ~c;
}

FC_TEST(code_crc64_vectors) {
    const char *v = "123456789";
    FC_CHECK(fc_code_crc64(0, v, 9) == 0x995DC9BBDF1939FAull);
    FC_CHECK(fc_code_crc64(0, NULL, 0) == 0);
    for (size_t cut = 0; cut <= 9; cut++) /* incremental == one shot */
        FC_CHECK(fc_code_crc64(fc_code_crc64(0, v, cut), v + cut, 9 - cut) ==
                 0x995DC9BBDF1939FAull);
    uint32_t seed = SEED;
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)rnd(&seed);
    for (size_t n = 0; n <= sizeof(buf); n++) { /* every length: slice-by-8 head and tail */
        size_t cut = n ? rnd(&seed) % n : 0, off = n < sizeof(buf) ? rnd(&seed) % 3 : 0;
        if (off + n > sizeof(buf))
            off = 0;
        uint64_t want = crc64_bitwise(buf + off, n);
        uint64_t got = fc_code_crc64(fc_code_crc64(0, buf + off, cut), buf + off + cut, n - cut);
        if (got != want)
            fprintf(stderr, "# seed %#x n %zu cut %zu off %zu\n", SEED, n, cut, off);
        FC_CHECK(got == want);
    }
}

FC_TEST(code_unpack_modes_and_contents) {
    uint32_t seed = SEED;
    size_t big_len = 200 * 1024 + 7; /* several 64 KiB read chunks */
    unsigned char *big = malloc(big_len);
    FC_CHECK(big != NULL);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (unsigned char)(rnd(&seed) & 0x0F); /* compressible, not trivially */
    const struct zent e[] = {
        UF("bootstrap", "#!/bin/sh\nexec ./server\n", 0100755),
        UF("index.js", "module.exports = 1;\n", 0100644),
        UD("sub/"),
        UF("sub/data.txt", "data", 0100600),
        UF("sub/tool", "tool", 0106777), /* setuid, setgid, world write: dropped */
        UF("sub/deep/x.txt", "deep", 0100664),
        UF("lib/a/b/c.txt", "c", 0100444),      /* parents only implied */
        {.name = "plain.txt", .data = "plain"}, /* libzip's default attributes */
        UF("a\\..\\..\\x", "backslash is a byte", 0100644),
        {.name = "blob.bin",
         .data = big,
         .len = big_len,
         .has_attr = true,
         .opsys = 3,
         .attr = 0100750u << 16},
        UF("empty", NULL, 0100644),
    };
    size_t n = sizeof(e) / sizeof(e[0]);
    struct zbuf z = zip_build(e, n);
    struct fx f;
    fx_init(&f);
    umask(077); /* modes must not depend on it */
    struct fc_code_info info;
    char err[FC_CODE_ERR_BYTES] = "junk";
    int rc = unpack(&f, &z, NULL, &info, err);
    if (rc != 0)
        fprintf(stderr, "# %s\n", err);
    FC_CHECK_INT(rc, 0);
    FC_CHECK_STR(err, "");
    check_dir(f.dir, "rev1");
    check_str(f.dest, "bootstrap", "#!/bin/sh\nexec ./server\n", 0755);
    check_str(f.dest, "index.js", "module.exports = 1;\n", 0644);
    check_dir(f.dest, "sub");
    check_str(f.dest, "sub/data.txt", "data", 0644);
    check_str(f.dest, "sub/tool", "tool", 0755);
    check_dir(f.dest, "sub/deep");
    check_str(f.dest, "sub/deep/x.txt", "deep", 0644);
    check_dir(f.dest, "lib");
    check_dir(f.dest, "lib/a/b");
    check_str(f.dest, "lib/a/b/c.txt", "c", 0644);
    check_str(f.dest, "plain.txt", "plain", 0644);
    check_str(f.dest, "a\\..\\..\\x", "backslash is a byte", 0644);
    check_file(f.dest, "blob.bin", big, big_len, 0755);
    check_str(f.dest, "empty", "", 0644);
    FC_CHECK_INT(dir_count(f.dest), 8);
    FC_CHECK_INT(dir_count(f.dir), 1); /* rev1 only: no temporary sibling */
    FC_CHECK_INT(info.entries, n);
    FC_CHECK_INT(info.code_size, z.len);
    FC_CHECK_INT(info.unpacked_bytes, 24 + 20 + 4 + 4 + 4 + 1 + 5 + 19 + big_len);
    char want[21];
    snprintf(want, sizeof(want), "%" PRIu64, fc_code_crc64(0, z.p, z.len));
    FC_CHECK_STR(info.checksum, want);
    fx_done(&f);
    free(z.p);
    free(big);
}

FC_TEST(code_windows_bootstrap_exec) {
    const struct zent win[] = {
        WF("bootstrap", "run"),
        WF("index.js", "js"),
        WF("sub/bootstrap", "not top level"),
        {.name = "folder", .has_attr = true, .opsys = 0, .attr = 0x10}, /* DOS dir bit */
        WF("folder/f.txt", "f"),
    };
    const struct zent unix_mode0[] = {
        /* Unix-made, but the writer stored no mode: treated as "no mode" */
        {.name = "bootstrap", .data = "run", .has_attr = true, .opsys = 3, .attr = 0},
    };
    struct zbuf z = zip_build(win, sizeof(win) / sizeof(win[0]));
    struct fx f;
    fx_init(&f);
    struct fc_code_info info;
    char err[FC_CODE_ERR_BYTES];
    FC_CHECK_INT(unpack(&f, &z, NULL, &info, err), 0);
    check_str(f.dest, "bootstrap", "run", 0755);
    check_str(f.dest, "index.js", "js", 0644);
    check_str(f.dest, "sub/bootstrap", "not top level", 0644);
    check_dir(f.dest, "folder");
    check_str(f.dest, "folder/f.txt", "f", 0644);
    fx_done(&f);
    free(z.p);

    z = zip_build(unix_mode0, 1);
    fx_init(&f);
    FC_CHECK_INT(unpack(&f, &z, NULL, &info, err), 0);
    check_str(f.dest, "bootstrap", "run", 0755);
    fx_done(&f);
    free(z.p);
}

FC_TEST(code_dot_components_dropped) {
    const struct zent e[] = {
        UD("./"),
        UF("./bootstrap", "b", 0100755),
        UF("a/./b.txt", "ab", 0100644),
        UD("./c/./"),
    };
    struct zbuf z = zip_build(e, sizeof(e) / sizeof(e[0]));
    struct fx f;
    fx_init(&f);
    struct fc_code_info info;
    char err[FC_CODE_ERR_BYTES];
    FC_CHECK_INT(unpack(&f, &z, NULL, &info, err), 0);
    check_str(f.dest, "bootstrap", "b", 0755);
    check_str(f.dest, "a/b.txt", "ab", 0644);
    check_dir(f.dest, "c");
    FC_CHECK_INT(dir_count(f.dest), 3);
    FC_CHECK_INT(info.entries, 4);
    fx_done(&f);
    free(z.p);
}

FC_TEST(code_bad_names_rejected) {
    char comp[300], longname[PATH_MAX + 8], deep[PATH_MAX];
    memset(comp, 'c', 256);
    comp[256] = '\0';
    memset(longname, 'n', PATH_MAX + 2);
    longname[PATH_MAX + 2] = '\0';
    /* under PATH_MAX itself, but not once under the temporary directory */
    size_t o = 0;
    for (int i = 0; i < 40; i++, o += 101) {
        memset(deep + o, 'd', 100);
        deep[o + 100] = '/';
    }
    memset(deep + o, 'f', PATH_MAX - 6 - o); /* 4090 bytes in all */
    deep[PATH_MAX - 6] = '\0';
    static const struct {
        const char *name, *why;
    } cases[] = {
        {"../x", "entry '../x': '..' in path"},
        {"/abs", "entry '/abs': absolute path"},
        {"a/../../x", "entry 'a/../../x': '..' in path"},
        {"a/..", "'..' in path"},
        {"..", "'..' in path"},
        {"../", "'..' in path"},
        {"a//b", "entry 'a//b': empty path component"},
        {"a//", "empty path component"},
        {"", "entry '': empty name"},
        {".", "names the code directory itself"},
        {"\xff\xfe/../x", "entry '?\?/../x': '..' in path"}, /* message stays UTF-8 */
        {"ok/\x01/../x", "entry 'ok/?/../x'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct zent e[] = {UF("fine.txt", "x", 0100644), UF(cases[i].name, "x", 0100644)};
        expect_fail_entries(e, 2, -EINVAL, cases[i].why, cases[i].name);
    }
    const struct zent c1[] = {UF(comp, "x", 0100644)};
    expect_fail_entries(c1, 1, -EINVAL, "path component too long", "component");
    const struct zent c2[] = {UF(longname, "x", 0100644)};
    expect_fail_entries(c2, 1, -EINVAL, "name too long", "long name");
    const struct zent c3[] = {UF(deep, "x", 0100644)};
    expect_fail_entries(c3, 1, -EINVAL, "path too long", "deep name");
}

FC_TEST(code_nul_in_name_rejected) {
    const struct zent e[] = {UF("ok", "1", 0100644), UF("aXb", "2", 0100644)};
    struct zbuf z = zip_build(e, 2);
    FC_CHECK_INT(zip_patch(&z, "aXb", "a\0b", 3), 2); /* local and central header */
    expect_fail(&z, NULL, -EINVAL, "entry 'a?b': name contains a NUL byte", "nul");
    free(z.p);
}

FC_TEST(code_symlink_inside_kept) {
    const struct zent e[] = {
        UL("link", "sub/file"), /* before its target: links are made last anyway */
        UF("sub/file", "content", 0100644),
        UF("index.js", "js", 0100644),
        UL("sub/up", "../index.js"),
        UL("sub/self", "."),
        UL("sub/dots", "./../sub/./file"),
        UL("sub/dir", "../sub/"),
        UL("sub/top", ".."), /* the code directory itself */
        UL("dangling", "missing/file"),
    };
    struct zbuf z = zip_build(e, sizeof(e) / sizeof(e[0]));
    struct fx f;
    fx_init(&f);
    struct fc_code_info info;
    char err[FC_CODE_ERR_BYTES];
    int rc = unpack(&f, &z, NULL, &info, err);
    if (rc != 0)
        fprintf(stderr, "# %s\n", err);
    FC_CHECK_INT(rc, 0);
    check_link(f.dest, "link", "sub/file");
    check_content(f.dest, "link", "content", 7);
    check_link(f.dest, "sub/up", "../index.js");
    check_content(f.dest, "sub/up", "js", 2);
    check_link(f.dest, "sub/self", ".");
    check_content(f.dest, "sub/dots", "content", 7);
    check_content(f.dest, "sub/top/sub/self/file", "content", 7);
    check_link(f.dest, "sub/dir", "../sub/");
    check_link(f.dest, "sub/top", "..");
    check_link(f.dest, "dangling", "missing/file");
    FC_CHECK_INT(info.unpacked_bytes, 7 + 2 + 8 + 11 + 1 + 15 + 7 + 2 + 12);
    fx_done(&f);
    free(z.p);
}

FC_TEST(code_symlink_escape_rejected) {
    char longt[PATH_MAX + 16];
    memset(longt, 'a', sizeof(longt) - 1);
    longt[sizeof(longt) - 1] = '\0';
    static const struct {
        const char *name, *target, *why;
    } cases[] = {
        {"evil", "../../etc/passwd", "entry 'evil': symlink target leaves the code directory"},
        {"sub/evil", "../../x", "symlink target leaves the code directory"},
        {"top", "..", "symlink target leaves the code directory"},
        {"abs", "/etc/passwd", "entry 'abs': symlink target is absolute"},
        {"mid", "sub/../x", "symlink target has '..' after a name"},
        /* lexically inside, but l1 -> "." makes l1/.. the parent of sub */
        {"sub/l2", "l1/../../x", "symlink target has '..' after a name"},
        {"empty", "", "entry 'empty': empty symlink target"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct zent e[] = {UF("sub/f", "f", 0100644), UL("sub/l1", "."),
                                 UL(cases[i].name, cases[i].target)};
        expect_fail_entries(e, 3, -EINVAL, cases[i].why, cases[i].name);
    }
    const struct zent t[] = {UL("long", longt)};
    expect_fail_entries(t, 1, -EINVAL, "entry 'long': symlink target too long", "long target");
    const struct zent d[] = {
        {.name = "dirlink/", .has_attr = true, .opsys = 3, .attr = 0120777u << 16}};
    expect_fail_entries(d, 1, -EINVAL, "symlink name ends in '/'", "dir link");
    /* A NUL inside a stored target, with the CRC-32 fixed so libzip reads it. */
    const struct zent nul[] = {UF("l", "aXb", 0120777)};
    struct zbuf z = zip_build_m(nul, 1, ZIP_CM_STORE);
    FC_CHECK_INT(zip_patch(&z, "aXb", "a\0b", 3), 1);
    uint32_t crc = crc32_bitwise((const unsigned char *)"a\0b", 3);
    put32(z.p + 14, crc); /* local header */
    put32(zip_central(&z) + 16, crc);
    expect_fail(&z, NULL, -EINVAL, "entry 'l': symlink target contains a NUL byte", "nul target");
    free(z.p);
}

FC_TEST(code_entry_under_symlink_rejected) {
    const struct zent a[] = {UD("sub/"), UL("ln", "sub"), UF("ln/x", "x", 0100644)};
    expect_fail_entries(a, 3, -EINVAL, "entry 'ln/x': inside symlink 'ln'", "after");
    const struct zent b[] = {UF("ln/x", "x", 0100644), UD("sub/"), UL("ln", "sub")};
    expect_fail_entries(b, 3, -EINVAL, "entry 'ln/x': inside symlink 'ln'", "before");
    const struct zent c[] = {UL("a/ln", "../sub"), UF("a/ln/b/c", "x", 0100644), UD("sub/")};
    expect_fail_entries(c, 3, -EINVAL, "entry 'a/ln/b/c': inside symlink 'a/ln'", "deep");
    const struct zent d[] = {UL("ln", "sub"), UD("ln/")};
    expect_fail_entries(d, 2, -EINVAL, "duplicate name", "dir over link");
    const struct zent e[] = {UL("ln", "sub"), UD("ln/inner/")};
    expect_fail_entries(e, 2, -EINVAL, "inside symlink 'ln'", "dir under link");
    const struct zent g[] = {UF("a", "file", 0100644), UF("a/b", "x", 0100644)};
    expect_fail_entries(g, 2, -EINVAL, "entry 'a/b': inside file 'a'", "under file");
    /* "a-b" and "a.b" sort between "a" and "a/b" in byte order, not in the table's */
    const struct zent h[] = {UF("a", "f", 0100644), UF("a-b", "x", 0100644),
                             UF("a.b", "x", 0100644), UF("a/b", "x", 0100644)};
    expect_fail_entries(h, 4, -EINVAL, "entry 'a/b': inside file 'a'", "neighbours");
}

FC_TEST(code_special_files_rejected) {
    static const uint32_t modes[] = {0020644, 0060644, 0010644, 0140644};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        const struct zent e[] = {UF("ok", "x", 0100644), UF("dev", "", modes[i])};
        expect_fail_entries(e, 2, -EINVAL, "entry 'dev': not a regular file, directory or symlink",
                            "special");
    }
}

FC_TEST(code_duplicate_names_rejected) {
    const struct zent e[] = {UF("sub/dupA", "one", 0100644), UF("sub/dupB", "two", 0100644)};
    struct zbuf z = zip_build(e, 2);
    FC_CHECK_INT(zip_patch(&z, "dupB", "dupA", 4), 2);
    expect_fail(&z, NULL, -EINVAL, "entry 'sub/dupA': duplicate name", "same name");
    free(z.p);
    const struct zent f[] = {UF("a", "file", 0100644), UD("a/")};
    expect_fail_entries(f, 2, -EINVAL, "entry 'a': duplicate name", "file and dir");
    const struct zent g[] = {UF("x/y", "1", 0100644), UF("./x/./y", "2", 0100644)};
    expect_fail_entries(g, 2, -EINVAL, "entry 'x/y': duplicate name", "dot spelling");
}

FC_TEST(code_entries_limit) {
    const struct zent e[] = {UF("a", "1", 0100644), UF("b", "2", 0100644), UD("c/"),
                             UF("c/d", "3", 0100644)};
    struct zbuf z = zip_build(e, 4);
    struct fc_code_limits lim;
    fc_code_limits_default(&lim);
    lim.entries_max = 3;
    expect_fail(&z, &lim, -EFBIG, "too many entries: 4 (limit 3)", "entries");
    /* An EOCD that declares 60000 entries is refused from the declaration,
     * before libzip would allocate them (libzip alone calls it malformed). */
    unsigned char *eocd = z.p + z.len - 22;
    FC_CHECK(memcmp(eocd, "PK\5\6", 4) == 0);
    put16(eocd + 8, 60000);
    put16(eocd + 10, 60000);
    lim.entries_max = 1000;
    expect_fail(&z, &lim, -EFBIG, "too many entries: 60000 (limit 1000)", "declared");
    put16(eocd + 8, 4);
    put16(eocd + 10, 4);
    lim.entries_max = 4;
    struct fx f;
    fx_init(&f);
    struct fc_code_info info;
    char err[FC_CODE_ERR_BYTES];
    FC_CHECK_INT(unpack(&f, &z, &lim, &info, err), 0);
    FC_CHECK_INT(info.entries, 4);
    fx_done(&f);
    free(z.p);
}

FC_TEST(code_zip_bomb) {
    size_t n = 20u << 20;
    char *zeros = calloc(1, n);
    FC_CHECK(zeros != NULL);
    const struct zent e[] = {UF("bootstrap", "x", 0100755),
                             {.name = "zeros", .data = zeros, .len = n}};
    struct zbuf z = zip_build(e, 2);
    FC_CHECK(z.len < n / 500); /* deflate does ~1000:1 on zeros */
    struct fc_code_limits lim;
    fc_code_limits_default(&lim);
    lim.unpacked_bytes_max = 10u << 20;
    lim.ratio_max = 200;
    expect_fail(&z, &lim, -EFBIG, "compression ratio exceeds the limit of 200:1", "ratio");
    lim.ratio_max = UINT32_MAX; /* then the size cap stops it */
    expect_fail(&z, &lim, -EFBIG, "unpacked size exceeds the limit of 10485760 bytes", "size");
    free(z.p);
    free(zeros);
}

FC_TEST(code_limits_count_written_bytes) {
    /* The headers claim 1 KiB; the deflate stream holds 8 MiB (libzip
     * inflates all of it without complaint). */
    size_t n = 8u << 20;
    char *zeros = calloc(1, n);
    FC_CHECK(zeros != NULL);
    const struct zent e[] = {{.name = "liar", .data = zeros, .len = n}};
    struct zbuf z = zip_build(e, 1);
    unsigned char *c = zip_central(&z);
    FC_CHECK(memcmp(z.p, "PK\3\4", 4) == 0);
    put16(z.p + 22, 1024); /* local header: uncompressed size */
    put16(z.p + 24, 0);
    put16(c + 24, 1024); /* central header: uncompressed size */
    put16(c + 26, 0);
    struct fc_code_limits lim;
    fc_code_limits_default(&lim);
    lim.unpacked_bytes_max = 4u << 20;
    lim.ratio_max = UINT32_MAX;
    expect_fail(&z, &lim, -EFBIG, "unpacked size exceeds the limit of 4194304 bytes", "liar");
    free(z.p);
    free(zeros);
}

FC_TEST(code_ratio_floor) {
    size_t n = (size_t)FC_CODE_RATIO_FLOOR_BYTES;
    char *zeros = calloc(1, n + 1);
    FC_CHECK(zeros != NULL);
    const struct zent at[] = {{.name = "zeros", .data = zeros, .len = n}};
    struct zbuf z = zip_build(at, 1);
    struct fx f;
    fx_init(&f);
    struct fc_code_info info;
    char err[FC_CODE_ERR_BYTES];
    FC_CHECK_INT(unpack(&f, &z, NULL, &info, err), 0); /* ~1000:1, but only 1 MiB */
    FC_CHECK_INT(info.unpacked_bytes, n);
    fx_done(&f);
    free(z.p);
    const struct zent over[] = {{.name = "zeros", .data = zeros, .len = n + 1}};
    z = zip_build(over, 1);
    expect_fail(&z, NULL, -EFBIG, "compression ratio", "over floor");
    free(z.p);
    free(zeros);
}

FC_TEST(code_zip_bytes_limit) {
    const struct zent e[] = {UF("bootstrap", "x", 0100755)};
    struct zbuf z = zip_build(e, 1);
    struct fc_code_limits lim;
    fc_code_limits_default(&lim);
    FC_CHECK(lim.zip_bytes_max == 100ull << 20);
    lim.zip_bytes_max = z.len - 1;
    expect_fail(&z, &lim, -EFBIG, "over the limit of", "zip bytes");
    lim.zip_bytes_max = z.len;
    struct fx f;
    fx_init(&f);
    struct fc_code_info info;
    char err[FC_CODE_ERR_BYTES];
    FC_CHECK_INT(unpack(&f, &z, &lim, &info, err), 0);
    fx_done(&f);
    free(z.p);
}

static struct zbuf zip_encrypted(uint16_t method) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *out = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_source_keep(out);
    zip_t *za = zip_open_from_source(out, ZIP_TRUNCATE, &ze);
    FC_CHECK(za != NULL);
    zip_int64_t i = zip_file_add(za, "secret", zip_source_buffer(za, "s3cr3t", 6, 0), 0);
    FC_CHECK(i >= 0);
    FC_CHECK(zip_file_set_encryption(za, (zip_uint64_t)i, method, "pw") == 0);
    FC_CHECK(zip_close(za) == 0);
    FC_CHECK(zip_source_open(out) == 0);
    zip_source_seek(out, 0, SEEK_END);
    struct zbuf z = {.len = (size_t)zip_source_tell(out)};
    zip_source_seek(out, 0, SEEK_SET);
    z.p = malloc(z.len);
    FC_CHECK(zip_source_read(out, z.p, z.len) == (zip_int64_t)z.len);
    zip_source_close(out);
    zip_source_free(out);
    return z;
}

FC_TEST(code_encrypted_rejected) {
    /* Both are built into Debian's libzip; a build without one fails here
     * rather than skipping silently. */
    static const uint16_t methods[] = {ZIP_EM_TRAD_PKWARE, ZIP_EM_AES_256};
    for (size_t i = 0; i < 2; i++) {
        FC_CHECK(zip_encryption_method_supported(methods[i], 1));
        struct zbuf z = zip_encrypted(methods[i]);
        expect_fail(&z, NULL, -EINVAL, "entry 'secret': encrypted entries are not supported",
                    "encrypted");
        free(z.p);
    }
}

FC_TEST(code_unsupported_method_rejected) {
    const struct zent e[] = {UF("imploded", "data data data", 0100644)};
    struct zbuf z = zip_build(e, 1);
    put16(z.p + 8, 6); /* local header: method 6, implode */
    put16(zip_central(&z) + 10, 6);
    FC_CHECK(!zip_compression_method_supported(6, 0));
    expect_fail(&z, NULL, -EINVAL, "entry 'imploded': unsupported compression method", "method");
    free(z.p);
}

FC_TEST(code_malformed_zips) {
    struct zbuf g = {.p = (unsigned char *)strdup("this is not a zip file, not at all"), .len = 34};
    expect_fail(&g, NULL, -EINVAL, "not a valid zip file", "garbage");
    g.len = 0;
    expect_fail(&g, NULL, -EINVAL, "code package is empty", "empty");
    free(g.p);

    const struct zent e[] = {UF("bootstrap", "#!/bin/sh\necho hello world\n", 0100755),
                             UF("sub/x", "xxxxxxxxxxxxxxxxxxxxxxxx", 0100644)};
    struct zbuf z = zip_build_m(e, 2, ZIP_CM_STORE);
    struct zbuf cut = {.p = z.p, .len = z.len - 10};
    expect_fail(&cut, NULL, -EINVAL, "not a valid zip file", "truncated");
    FC_CHECK_INT(zip_patch(&z, "hello", "HELLO", 5), 1); /* stored data: CRC-32 mismatch */
    expect_fail(&z, NULL, -EINVAL, "entry 'bootstrap': CRC error", "crc");
    FC_CHECK_INT(zip_patch(&z, "HELLO", "hello", 5), 1);

    /* Every single-byte corruption, and random ones: an error or a clean
     * unpack, never a crash (ASan), and nothing left behind on error. */
    uint32_t seed = SEED;
    for (size_t i = 0; i < z.len + 200; i++) {
        size_t at = i < z.len ? i : rnd(&seed) % z.len;
        unsigned char x = i < z.len ? 0xFF : (unsigned char)(1u << (rnd(&seed) % 8));
        z.p[at] ^= x;
        struct fx f;
        fx_init(&f);
        struct fc_code_info info;
        char err[FC_CODE_ERR_BYTES];
        int rc = unpack(&f, &z, NULL, &info, err);
        if (rc != 0 && rc != -EINVAL && rc != -EFBIG)
            fprintf(stderr, "# byte %zu ^ %#x: rc %d %s\n", at, x, rc, err);
        FC_CHECK(rc == 0 || rc == -EINVAL || rc == -EFBIG);
        FC_CHECK(rc == 0 ? err[0] == '\0' : err[0] != '\0' && dir_count(f.dir) == 0);
        fx_done(&f);
        z.p[at] ^= x;
    }
    free(z.p);
}

FC_TEST(code_dest_exists) {
    const struct zent e[] = {UF("bootstrap", "x", 0100755)};
    struct zbuf z = zip_build(e, 1);
    struct fx f;
    fx_init(&f);
    FC_CHECK(mkdir(f.dest, 0700) == 0);
    char marker[160];
    snprintf(marker, sizeof(marker), "%s/marker", f.dest);
    FC_CHECK(close(open(marker, O_CREAT | O_WRONLY, 0600)) == 0);
    struct fc_code_info info;
    char err[FC_CODE_ERR_BYTES];
    FC_CHECK_INT(unpack(&f, &z, NULL, &info, err), -EEXIST);
    FC_CHECK(strstr(err, "already exists") != NULL);
    FC_CHECK_INT(dir_count(f.dir), 1);
    FC_CHECK_INT(dir_count(f.dest), 1); /* untouched */
    FC_CHECK(access(marker, F_OK) == 0);
    FC_CHECK_INT(fc_code_remove(f.dest), 0);
    FC_CHECK(symlink("/nonexistent", f.dest) == 0); /* a dangling link exists too */
    FC_CHECK_INT(unpack(&f, &z, NULL, &info, err), -EEXIST);
    FC_CHECK_INT(dir_count(f.dir), 1);
    FC_CHECK(unlink(f.dest) == 0);
    char missing[160]; /* parent missing */
    snprintf(missing, sizeof(missing), "%s/no/rev", f.dir);
    FC_CHECK_INT(fc_code_unpack(z.p, z.len, missing, NULL, &info, err), -ENOENT);
    FC_CHECK(err[0] != '\0');
    FC_CHECK_INT(dir_count(f.dir), 0);
    fx_done(&f);
    free(z.p);
}

FC_TEST(code_many_files) {
    /* 3000 files over 30 directories in interleaved order and no directory
     * entries (like an npm package): parents are implied, and the sorted
     * table still lets one directory's files reuse the open parent. */
    enum { DIRS = 30, FILES = 3000 };
    struct zent *e = calloc(FILES, sizeof(*e));
    char(*names)[32] = calloc(FILES, 32);
    FC_CHECK(e != NULL && names != NULL);
    for (int i = 0; i < FILES; i++) {
        snprintf(names[i], 32, "node_modules/m%02d/f%04d.js", i % DIRS, i);
        e[i] = (struct zent)UF(names[i], names[i], 0100644);
    }
    struct zbuf z = zip_build(e, FILES);
    struct fx f;
    fx_init(&f);
    struct fc_code_info info;
    char err[FC_CODE_ERR_BYTES];
    FC_CHECK_INT(unpack(&f, &z, NULL, &info, err), 0);
    FC_CHECK_INT(info.entries, FILES);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/node_modules", f.dest);
    FC_CHECK_INT(dir_count(p), DIRS);
    for (int i = 0; i < FILES; i += 97)
        check_str(f.dest, names[i], names[i], 0644);
    fx_done(&f);
    free(z.p);
    free(names);
    free(e);
}

FC_TEST(code_remove_deep_tree_no_follow) {
    char top[64], outside[64];
    strcpy(top, "/tmp/fc-code-rm-XXXXXX");
    strcpy(outside, "/tmp/fc-code-out-XXXXXX");
    FC_CHECK(mkdtemp(top) != NULL && mkdtemp(outside) != NULL);
    char sentinel[96];
    snprintf(sentinel, sizeof(sentinel), "%s/keep", outside);
    FC_CHECK(close(open(sentinel, O_CREAT | O_WRONLY, 0600)) == 0);
    /* 3000 levels: deeper than PATH_MAX as a path, and than the fd limit below */
    int fd = open(top, O_RDONLY | O_DIRECTORY);
    FC_CHECK(fd >= 0);
    for (int i = 0; i < 3000; i++) {
        FC_CHECK(mkdirat(fd, "d", 0755) == 0);
        if (i % 500 == 0) {
            FC_CHECK(symlinkat(outside, fd, "out") == 0);
            FC_CHECK(close(openat(fd, "f", O_CREAT | O_WRONLY, 0644)) == 0);
            FC_CHECK(mkdirat(fd, "empty", 0755) == 0);
        }
        int nfd = openat(fd, "d", O_RDONLY | O_DIRECTORY);
        FC_CHECK(nfd >= 0);
        close(fd);
        fd = nfd;
    }
    close(fd);
    struct rlimit rl = {.rlim_cur = 16, .rlim_max = 16};
    FC_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    FC_CHECK_INT(fc_code_remove(top), 0);
    struct stat st;
    FC_CHECK(lstat(top, &st) < 0 && errno == ENOENT);
    FC_CHECK(access(sentinel, F_OK) == 0); /* links were not followed */
    FC_CHECK_INT(fc_code_remove(top), 0);  /* missing: 0 */
    char link[96];
    snprintf(link, sizeof(link), "%s/link", outside);
    FC_CHECK(symlink(outside, link) == 0);
    int rc = fc_code_remove(link);
    FC_CHECK(rc == -ELOOP || rc == -ENOTDIR);
    FC_CHECK_INT(fc_code_remove(sentinel), -ENOTDIR);
    FC_CHECK(access(sentinel, F_OK) == 0);
    FC_CHECK(unlink(link) == 0 && unlink(sentinel) == 0 && rmdir(outside) == 0);
}

struct mover {
    int bottom_fd; /* the deepest directory of the chain */
    const char *from, *to;
    int renamed; /* out: 1 when the rename happened mid-removal */
};

/* Wait until the remover has reached the bottom of the chain (it unlinked
 * the marker there), then move the chain's top away while it climbs back. */
static void *mover_run(void *arg) {
    struct mover *m = arg;
    struct stat st;
    while (fstatat(m->bottom_fd, "marker", &st, AT_SYMLINK_NOFOLLOW) == 0)
        sched_yield();
    m->renamed = rename(m->from, m->to) == 0;
    return NULL;
}

FC_TEST(code_remove_stops_when_tree_moves) {
    /* Climbing with ".." out of a subtree that was moved meanwhile would
     * land in the directory it was moved to; the device/inode check must
     * stop there (-ESTALE) instead of emptying it. Retried when the mover
     * was too late (a loaded machine), never passed without the race. */
    for (int attempt = 0; attempt < 5; attempt++) {
        char top[64], outside[64], from[96], to[96], sentinel[96];
        strcpy(top, "/tmp/fc-code-mv-XXXXXX");
        strcpy(outside, "/tmp/fc-code-dst-XXXXXX");
        FC_CHECK(mkdtemp(top) != NULL && mkdtemp(outside) != NULL);
        snprintf(from, sizeof(from), "%s/sub", top);
        snprintf(to, sizeof(to), "%s/sub", outside);
        snprintf(sentinel, sizeof(sentinel), "%s/keep", outside);
        FC_CHECK(close(open(sentinel, O_CREAT | O_WRONLY, 0600)) == 0);
        FC_CHECK(mkdir(from, 0755) == 0);
        int fd = open(from, O_RDONLY | O_DIRECTORY);
        for (int i = 0; i < 3000; i++) {
            FC_CHECK(fd >= 0 && mkdirat(fd, "d", 0755) == 0);
            int nfd = openat(fd, "d", O_RDONLY | O_DIRECTORY);
            close(fd);
            fd = nfd;
        }
        FC_CHECK(fd >= 0 && close(openat(fd, "marker", O_CREAT | O_WRONLY, 0600)) == 0);
        struct mover m = {.bottom_fd = fd, .from = from, .to = to};
        pthread_t t;
        FC_CHECK(pthread_create(&t, NULL, mover_run, &m) == 0);
        int rc = fc_code_remove(top);
        FC_CHECK(pthread_join(t, NULL) == 0);
        close(fd);
        FC_CHECK(access(sentinel, F_OK) == 0); /* whatever the timing */
        if (m.renamed)
            FC_CHECK_INT(rc, -ESTALE);
        FC_CHECK_INT(fc_code_remove(top), 0);
        FC_CHECK_INT(fc_code_remove(outside), 0);
        if (m.renamed)
            return;
        fprintf(stderr, "# attempt %d: the mover was late (rc %d)\n", attempt, rc);
    }
    FC_CHECK(!"the rename never happened during the removal");
}
