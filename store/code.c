/* code.c — see code.h. */
#include "store/code.h"

#include "core/assert.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#define CODE_READ_BYTES (64u * 1024) /* inflate chunk; one buffer per unpack */
#define CODE_QUOTE_BYTES 96u         /* longest entry name quoted in a message */
#define CODE_DOS_DIR_ATTR 0x10u      /* MS-DOS attribute byte: directory */

static_assert(CODE_READ_BYTES > FC_CODE_LINK_TARGET_BYTES_MAX + 1, "a link target fits the buffer");
static_assert(2 * (CODE_QUOTE_BYTES + 3) + 48 < FC_CODE_ERR_BYTES,
              "two quoted names fit a message");

/* ---- CRC-64/XZ ------------------------------------------------------------------ */

#define CRC64_POLY_REFLECTED 0xC96C5795D7870F42ull /* ECMA-182 0x42F0E1EBA9EA3693, reflected */

/* crc64_table[k][b]: the CRC step of byte b followed by k zero bytes, so eight
 * bytes are folded in with eight lookups (slice-by-8). 16 KB of constants,
 * built once per process; pthread_once orders it before any use. */
static uint64_t crc64_table[8][256];
static pthread_once_t crc64_table_once = PTHREAD_ONCE_INIT;

static void crc64_table_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ CRC64_POLY_REFLECTED : c >> 1;
        crc64_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (uint32_t i = 0; i < 256; i++) {
            uint64_t c = crc64_table[t - 1][i];
            crc64_table[t][i] = (c >> 8) ^ crc64_table[0][c & 0xFF];
        }
}

uint64_t fc_code_crc64(uint64_t crc, const void *p, size_t n) {
    const unsigned char *b = p;
    FC_ASSERT(b != NULL || n == 0);
    pthread_once(&crc64_table_once, crc64_table_init);
    const uint64_t(*t)[256] = (const uint64_t(*)[256])crc64_table;
    crc = ~crc;
    for (; n >= 8; n -= 8, b += 8) {
        uint64_t w;
        memcpy(&w, b, 8); /* unaligned-safe */
        crc ^= le64toh(w);
        crc = t[7][crc & 0xFF] ^ t[6][(crc >> 8) & 0xFF] ^ t[5][(crc >> 16) & 0xFF] ^
              t[4][(crc >> 24) & 0xFF] ^ t[3][(crc >> 32) & 0xFF] ^ t[2][(crc >> 40) & 0xFF] ^
              t[1][(crc >> 48) & 0xFF] ^ t[0][crc >> 56];
    }
    for (; n > 0; n--, b++)
        crc = t[0][(crc ^ *b) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

void fc_code_limits_default(struct fc_code_limits *l) {
    FC_ASSERT(l != NULL);
    *l = (struct fc_code_limits){.zip_bytes_max = FC_CODE_ZIP_BYTES_MAX,
                                 .unpacked_bytes_max = FC_CODE_UNPACKED_BYTES_DEFAULT,
                                 .entries_max = FC_CODE_ENTRIES_DEFAULT,
                                 .ratio_max = FC_CODE_RATIO_DEFAULT};
}

/* ---- messages --------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0. Overlong forms,
 * surrogates and code points past U+10FFFF are invalid, as strict JSON
 * encoders (jansson) require: err goes into a JSON body. */
static size_t code_utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, lo = c == 0xE0 ? 0xA0 : lo, hi = c == 0xED ? 0x9F : hi;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, lo = c == 0xF0 ? 0x90 : lo, hi = c == 0xF4 ? 0x8F : hi;
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* Copy name[0..len) into out for a message: valid UTF-8 is kept, control
 * bytes and invalid bytes become '?', and past CODE_QUOTE_BYTES the name is
 * cut at a character boundary and ends in "...". */
static void code_quote(const char *name, size_t len, char out[CODE_QUOTE_BYTES + 4]) {
    const unsigned char *s = (const unsigned char *)name;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t l = code_utf8_len(s + i, len - i);
        bool ok = l > 1 || (l == 1 && s[i] >= 0x20 && s[i] != 0x7F);
        size_t w = ok ? l : 1;
        if (o + w > CODE_QUOTE_BYTES) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (ok)
            memcpy(out + o, s + i, l);
        else
            out[o] = '?';
        o += w;
        i += w;
    }
    FC_ASSERT(o <= CODE_QUOTE_BYTES + 3);
    out[o] = '\0';
}

/* Format err and return rc. A message cut by the buffer is trimmed back to
 * a whole UTF-8 character. */
__attribute__((format(printf, 3, 4))) static int code_fail(char *err, int rc, const char *fmt,
                                                           ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, FC_CODE_ERR_BYTES, fmt, ap);
    va_end(ap);
    if (n >= FC_CODE_ERR_BYTES) {
        size_t i = 0, len = strlen(err);
        for (size_t l; i < len && (l = code_utf8_len((unsigned char *)err + i, len - i)) > 0;)
            i += l;
        err[i] = '\0';
    }
    FC_ASSERT(rc < 0);
    return rc;
}

static int code_fail_entry(char *err, int rc, const char *name, size_t len, const char *why) {
    char q[CODE_QUOTE_BYTES + 4];
    code_quote(name, len, q);
    return code_fail(err, rc, "entry '%s': %s", q, why);
}

/* A system error e (positive errno) while doing `what`. */
static int code_fail_sys(char *err, int e, const char *what) {
    char buf[64];
    FC_ASSERT(e > 0);
    return code_fail(err, -e, "%s: %s", what, strerror_r(e, buf, sizeof(buf)));
}

/* libzip reads from memory here, so every error but ZIP_ER_MEMORY is the input's. */
static int code_zip_rc(zip_error_t *ze) {
    return zip_error_code_zip(ze) == ZIP_ER_MEMORY ? -ENOMEM : -EINVAL;
}

/* ---- central directory pre-scan ------------------------------------------------- */

#define ZIP_EOCD_SIG 0x06054b50u       /* end of central directory, 22 bytes + comment */
#define ZIP_EOCD64_LOC_SIG 0x07064b50u /* zip64 locator, 20 bytes, right before the EOCD */
#define ZIP_EOCD64_SIG 0x06064b50u     /* zip64 end of central directory, 56 bytes */
#define ZIP_CDIR_SIG 0x02014b50u       /* central directory header, 46 bytes + name... */

static uint16_t code_le16(const unsigned char *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t code_le32(const unsigned char *p) {
    return (uint32_t)code_le16(p) | (uint32_t)code_le16(p + 2) << 16;
}
static uint64_t code_le64(const unsigned char *p) {
    return (uint64_t)code_le32(p) | (uint64_t)code_le32(p + 4) << 32;
}

struct code_cdir {
    uint64_t entries, offset;
};

/* The zip64 record named by the locator before the EOCD at z[eocd]. No
 * locator: the saturated 16/32-bit values are the real ones. */
static int code_cdir64_find(const unsigned char *z, size_t eocd, struct code_cdir *cd) {
    if (eocd < 20 || code_le32(z + eocd - 20) != ZIP_EOCD64_LOC_SIG)
        return 0;
    uint64_t off = code_le64(z + eocd - 20 + 8);
    if (off > eocd - 20 || eocd - 20 - off < 56 || code_le32(z + off) != ZIP_EOCD64_SIG)
        return -1;
    cd->entries = code_le64(z + off + 32);
    cd->offset = code_le64(z + off + 48);
    return 0;
}

/* Find the end of central directory record as zip readers do: the last
 * "PK\5\6" whose comment ends exactly at the end of the data. Returns 0, or
 * -1 when there is none. */
static int code_cdir_find(const unsigned char *z, size_t len, struct code_cdir *cd) {
    if (len < 22)
        return -1;
    size_t lowest = len - 22 > 0xFFFF ? len - 22 - 0xFFFF : 0;
    for (size_t pos = len - 22;; pos--) {
        if (code_le32(z + pos) == ZIP_EOCD_SIG && pos + 22 + code_le16(z + pos + 20) == len) {
            cd->entries = code_le16(z + pos + 10);
            cd->offset = code_le32(z + pos + 16);
            if (cd->entries != 0xFFFF && cd->offset != 0xFFFFFFFFu)
                return 0;
            return code_cdir64_find(z, pos, cd);
        }
        if (pos == lowest)
            return -1;
    }
}

/* Best-effort look at the central directory before libzip parses it, for
 * two things libzip does not give: (1) an archive declaring more than
 * entries_max entries is refused before libzip allocates them all (~200
 * bytes each: a 100 MiB zip can declare 2 million); (2) a name containing a
 * NUL byte is refused (libzip silently turns NUL into ' '). Whatever this
 * walk cannot follow is left to libzip, which rejects it or reads it. */
static int code_prescan(const unsigned char *z, size_t len, uint32_t entries_max, char *err) {
    struct code_cdir cd;
    if (code_cdir_find(z, len, &cd) < 0)
        return 0;
    if (cd.entries > entries_max)
        return code_fail(err, -EFBIG, "too many entries: %" PRIu64 " (limit %" PRIu32 ")",
                         cd.entries, entries_max);
    uint64_t pos = cd.offset;
    for (uint64_t i = 0; i < cd.entries; i++) {
        if (pos > len || len - pos < 46 || code_le32(z + pos) != ZIP_CDIR_SIG)
            return 0;
        size_t name_len = code_le16(z + pos + 28);
        if (len - pos - 46 < name_len)
            return 0;
        const char *name = (const char *)z + pos + 46;
        if (memchr(name, 0, name_len) != NULL)
            return code_fail_entry(err, -EINVAL, name, name_len, "name contains a NUL byte");
        pos += 46u + name_len + code_le16(z + pos + 30) + code_le16(z + pos + 32);
    }
    return 0;
}

/* ---- the entry table ------------------------------------------------------------ */

enum code_kind { CODE_DIR = 1, CODE_FILE = 2, CODE_LINK = 3 };

struct code_entry {
    char *name;        /* normalised (code.h): no '.' components, no trailing '/'; owned */
    uint32_t name_len; /* > 0 */
    uint32_t index;    /* in the zip */
    uint16_t mode;     /* CODE_FILE: 0644 or 0755 */
    uint8_t kind;      /* enum code_kind */
};

struct code_ctx {
    zip_t *za;
    const struct fc_code_limits *lim;
    uint64_t zip_bytes, unpacked_bytes;
    uint32_t count;          /* zip entries */
    uint32_t n;              /* entries in ents: a "./" entry adds none */
    struct code_entry *ents; /* count slots */
    size_t root_len;         /* strlen(temporary dir) + 1: the PATH_MAX rule */
    int root_fd;             /* the temporary directory, or -1 */
    int parent_fd;           /* root_fd or the fd of parent[], or -1 */
    size_t parent_len;
    char parent[PATH_MAX]; /* parent_fd's path below the root: the last parent is reused */
    unsigned char *buf;    /* CODE_READ_BYTES */
    char *err;
};

/* Check the raw name[0..len) of an entry and write its normalised form to
 * out (len + 1 bytes). Returns the normalised length (0: the code directory
 * itself, "./") or -EINVAL; *slash tells whether the name ended in '/'. */
static int code_name_normalise(struct code_ctx *c, const char *name, size_t len, char *out,
                               bool *slash) {
    const char *why = NULL;
    if (len == 0)
        why = "empty name";
    else if (len >= PATH_MAX)
        why = "name too long";
    else if (name[0] == '/')
        why = "absolute path";
    if (why != NULL)
        return code_fail_entry(c->err, -EINVAL, name, len, why);
    *slash = name[len - 1] == '/';
    size_t end = len - *slash, o = 0;
    for (size_t i = 0;;) { /* one component per turn; ends after the last */
        const char *comp = name + i, *sep = memchr(comp, '/', end - i);
        size_t cl = sep != NULL ? (size_t)(sep - comp) : end - i;
        if (cl == 0)
            return code_fail_entry(c->err, -EINVAL, name, len, "empty path component");
        if (cl == 2 && comp[0] == '.' && comp[1] == '.')
            return code_fail_entry(c->err, -EINVAL, name, len, "'..' in path");
        if (cl > NAME_MAX)
            return code_fail_entry(c->err, -EINVAL, name, len, "path component too long");
        if (cl != 1 || comp[0] != '.') {
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, comp, cl);
            o += cl;
        }
        if (sep == NULL)
            break;
        i += cl + 1;
    }
    out[o] = '\0';
    FC_ASSERT(o < len || (o == len && !*slash));
    if (o == 0 && !*slash)
        return code_fail_entry(c->err, -EINVAL, name, len, "names the code directory itself");
    if (c->root_len + o >= PATH_MAX)
        return code_fail_entry(c->err, -EINVAL, name, len, "path too long");
    return (int)o;
}

/* Kind and mode of zip entry i from its external attributes (code.h). */
static int code_entry_kind(struct code_ctx *c, struct code_entry *e, bool slash) {
    zip_uint8_t opsys = 0;
    zip_uint32_t attr = 0;
    if (zip_file_get_external_attributes(c->za, e->index, 0, &opsys, &attr) < 0)
        return code_fail_entry(c->err, code_zip_rc(zip_get_error(c->za)), e->name, e->name_len,
                               zip_error_strerror(zip_get_error(c->za)));
    uint32_t m = attr >> 16;
    if (opsys != ZIP_OPSYS_UNIX || m == 0) { /* no Unix mode: Windows and friends */
        bool boot = e->name_len == 9 && memcmp(e->name, "bootstrap", 9) == 0;
        e->kind = slash || (attr & CODE_DOS_DIR_ATTR) ? CODE_DIR : CODE_FILE;
        e->mode = boot ? 0755 : 0644;
        return 0;
    }
    switch (m & S_IFMT) {
    case S_IFDIR: e->kind = CODE_DIR; break;
    case 0: /* permission bits only */
    case S_IFREG: e->kind = slash ? CODE_DIR : CODE_FILE; break;
    case S_IFLNK:
        if (slash)
            return code_fail_entry(c->err, -EINVAL, e->name, e->name_len,
                                   "symlink name ends in '/'");
        e->kind = CODE_LINK;
        break;
    default:
        return code_fail_entry(c->err, -EINVAL, e->name, e->name_len,
                               "not a regular file, directory or symlink");
    }
    e->mode = m & 0111 ? 0755 : 0644;
    return 0;
}

/* Read zip entry i into c->ents[c->n] (or skip it: "./"), checking name,
 * type, encryption and compression method. */
static int code_scan_entry(struct code_ctx *c, zip_uint64_t i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(c->za, i, ZIP_FL_ENC_RAW, &st) < 0)
        return code_fail(c->err, code_zip_rc(zip_get_error(c->za)), "reading entry %" PRIu64 ": %s",
                         (uint64_t)i, zip_error_strerror(zip_get_error(c->za)));
    FC_ASSERT((st.valid & ZIP_STAT_NAME) && st.name != NULL && c->n < c->count);
    size_t len = strlen(st.name);
    struct code_entry *e = &c->ents[c->n];
    if ((e->name = malloc(len + 1)) == NULL)
        return code_fail_sys(c->err, ENOMEM, "unpacking");
    bool slash = false;
    int rc = code_name_normalise(c, st.name, len, e->name, &slash);
    if (rc > 0) {
        e->name_len = (uint32_t)rc;
        e->index = (uint32_t)i;
        rc = code_entry_kind(c, e, slash);
    }
    if (rc == 0 && (st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        rc = code_fail_entry(c->err, -EINVAL, st.name, len, "encrypted entries are not supported");
    if (rc == 0 && e->name != NULL && e->name_len > 0 && e->kind != CODE_DIR &&
        (st.valid & ZIP_STAT_COMP_METHOD) && !zip_compression_method_supported(st.comp_method, 0))
        rc = code_fail_entry(c->err, -EINVAL, st.name, len, "unsupported compression method");
    if (rc < 0 || e->name_len == 0) { /* error, or "./": nothing to keep */
        free(e->name);
        *e = (struct code_entry){0};
        return rc;
    }
    c->n++;
    return 0;
}

/* Order names with '/' below every other byte, so that every entry under
 * "p/" directly follows "p" (any name between them would have to start with
 * "p" followed by a byte below '/'). Duplicate and "under a file or symlink"
 * checks then only compare neighbours: O(n log n) for the whole table. */
static int code_entry_cmp(const void *pa, const void *pb) {
    const struct code_entry *a = pa, *b = pb;
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    for (size_t i = 0; i < n; i++) {
        unsigned x = (unsigned char)a->name[i], y = (unsigned char)b->name[i];
        if (x != y)
            return (x == '/' ? 0 : x) < (y == '/' ? 0 : y) ? -1 : 1;
    }
    return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

/* Duplicates, and entries under a file or a symlink (which would write
 * through the link), in the sorted table. */
static int code_check_tree(struct code_ctx *c) {
    for (uint32_t k = 0; k + 1 < c->n; k++) {
        const struct code_entry *e = &c->ents[k], *f = &c->ents[k + 1];
        FC_ASSERT(code_entry_cmp(e, f) <= 0);
        if (e->name_len == f->name_len && memcmp(e->name, f->name, e->name_len) == 0)
            return code_fail_entry(c->err, -EINVAL, f->name, f->name_len, "duplicate name");
        if (e->kind == CODE_DIR || f->name_len <= e->name_len || f->name[e->name_len] != '/' ||
            memcmp(e->name, f->name, e->name_len) != 0)
            continue;
        char qf[CODE_QUOTE_BYTES + 4], qe[CODE_QUOTE_BYTES + 4];
        code_quote(f->name, f->name_len, qf);
        code_quote(e->name, e->name_len, qe);
        return code_fail(c->err, -EINVAL, "entry '%s': inside %s '%s'", qf,
                         e->kind == CODE_LINK ? "symlink" : "file", qe);
    }
    return 0;
}

static int code_scan(struct code_ctx *c) {
    zip_int64_t count = zip_get_num_entries(c->za, 0);
    FC_ASSERT(count >= 0);
    if ((uint64_t)count > c->lim->entries_max)
        return code_fail(c->err, -EFBIG, "too many entries: %" PRId64 " (limit %" PRIu32 ")",
                         (int64_t)count, c->lim->entries_max);
    c->count = (uint32_t)count;
    if ((c->ents = calloc(count > 0 ? (size_t)count : 1, sizeof(*c->ents))) == NULL)
        return code_fail_sys(c->err, ENOMEM, "unpacking");
    for (zip_uint64_t i = 0; i < (zip_uint64_t)count; i++) {
        int rc = code_scan_entry(c, i);
        if (rc < 0)
            return rc;
    }
    qsort(c->ents, c->n, sizeof(*c->ents), code_entry_cmp);
    return code_check_tree(c);
}

/* ---- writing ---------------------------------------------------------------------- */

/* Count n more bytes against the limits, before they are written. */
static int code_account(struct code_ctx *c, uint64_t n) {
    const struct fc_code_limits *l = c->lim;
    FC_ASSERT(c->unpacked_bytes <= l->unpacked_bytes_max);
    if (n > l->unpacked_bytes_max - c->unpacked_bytes)
        return code_fail(c->err, -EFBIG, "unpacked size exceeds the limit of %" PRIu64 " bytes",
                         l->unpacked_bytes_max);
    uint64_t total = c->unpacked_bytes + n, cap;
    if (__builtin_mul_overflow((uint64_t)l->ratio_max, c->zip_bytes, &cap))
        cap = UINT64_MAX;
    if (total > FC_CODE_RATIO_FLOOR_BYTES && total > cap)
        return code_fail(c->err, -EFBIG,
                         "compression ratio exceeds the limit of %" PRIu32 ":1 (zip bomb guard)",
                         l->ratio_max);
    c->unpacked_bytes = total;
    return 0;
}

/* Create (0755, umask ignored) or reuse directory `name` in fd and open it. */
static int code_dir_enter(struct code_ctx *c, int fd, const char *name,
                          const struct code_entry *e) {
    bool made = mkdirat(fd, name, 0755) == 0;
    if (!made && errno != EEXIST)
        return code_fail_sys(c->err, errno, "creating a directory");
    int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (nfd < 0 && (errno == ENOTDIR || errno == ELOOP)) /* the table checks make this rare */
        return code_fail_entry(c->err, -EINVAL, e->name, e->name_len, "path is not a directory");
    if (nfd < 0)
        return code_fail_sys(c->err, errno, "opening a directory");
    if (made && fchmod(nfd, 0755) < 0) {
        int rc = code_fail_sys(c->err, errno, "chmod of a directory");
        close(nfd);
        return rc;
    }
    return nfd;
}

static void code_parent_close(struct code_ctx *c) {
    if (c->parent_fd >= 0 && c->parent_fd != c->root_fd)
        close(c->parent_fd);
    c->parent_fd = c->root_fd;
    c->parent_len = 0;
}

/* Make c->parent_fd the directory that holds e, creating missing
 * directories, and set *base to the offset of e's last component. Walks from
 * the root one component at a time (O_NOFOLLOW each), unless e's parent is
 * the last one walked: zips list a directory's files together. */
static int code_parent(struct code_ctx *c, const struct code_entry *e, size_t *base) {
    const char *sep = memrchr(e->name, '/', e->name_len);
    size_t plen = sep != NULL ? (size_t)(sep - e->name) : 0;
    *base = sep != NULL ? plen + 1 : 0;
    FC_ASSERT(*base < e->name_len && plen < sizeof(c->parent));
    if (plen == c->parent_len && memcmp(c->parent, e->name, plen) == 0)
        return 0;
    code_parent_close(c);
    int fd = c->root_fd;
    for (size_t i = 0; i < plen;) {
        const char *comp = e->name + i, *next = memchr(comp, '/', plen - i);
        size_t cl = next != NULL ? (size_t)(next - comp) : plen - i;
        char name[NAME_MAX + 1];
        FC_ASSERT(cl > 0 && cl <= NAME_MAX);
        memcpy(name, comp, cl);
        name[cl] = '\0';
        int nfd = code_dir_enter(c, fd, name, e);
        if (fd != c->root_fd)
            close(fd);
        if (nfd < 0)
            return nfd;
        fd = nfd;
        i += cl + 1;
    }
    c->parent_fd = fd;
    memcpy(c->parent, e->name, plen);
    c->parent_len = plen;
    return 0;
}

static int code_write_all(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Inflate zf into fd, counting every byte against the limits first. */
static int code_copy(struct code_ctx *c, const struct code_entry *e, zip_file_t *zf, int fd) {
    for (;;) { /* ends at the end of the entry or at the first error */
        zip_int64_t n = zip_fread(zf, c->buf, CODE_READ_BYTES);
        if (n < 0)
            return code_fail_entry(c->err, code_zip_rc(zip_file_get_error(zf)), e->name,
                                   e->name_len, zip_error_strerror(zip_file_get_error(zf)));
        if (n == 0)
            return 0;
        FC_ASSERT(n <= (zip_int64_t)CODE_READ_BYTES);
        int rc = code_account(c, (uint64_t)n);
        if (rc < 0)
            return rc;
        if ((rc = code_write_all(fd, c->buf, (size_t)n)) < 0)
            return code_fail_sys(c->err, -rc, "writing a file");
    }
}

static int code_make_file(struct code_ctx *c, const struct code_entry *e) {
    size_t base;
    int rc = code_parent(c, e, &base);
    if (rc < 0)
        return rc;
    zip_file_t *zf = zip_fopen_index(c->za, e->index, 0);
    if (zf == NULL)
        return code_fail_entry(c->err, code_zip_rc(zip_get_error(c->za)), e->name, e->name_len,
                               zip_error_strerror(zip_get_error(c->za)));
    int fd = openat(c->parent_fd, e->name + base,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, e->mode);
    if (fd < 0)
        rc = code_fail_sys(c->err, errno, "creating a file");
    else
        rc = code_copy(c, e, zf, fd);
    if (fd >= 0 && rc == 0 && fchmod(fd, e->mode) < 0) /* umask may have cut bits */
        rc = code_fail_sys(c->err, errno, "chmod of a file");
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = code_fail_sys(c->err, errno, "writing a file");
    zip_fclose(zf);
    return rc;
}

static int code_make_dir(struct code_ctx *c, const struct code_entry *e) {
    size_t base;
    int rc = code_parent(c, e, &base);
    if (rc < 0)
        return rc;
    int fd = code_dir_enter(c, c->parent_fd, e->name + base, e);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

/* Read a symlink entry's target into c->buf (NUL-terminated); returns its length. */
static int code_read_link(struct code_ctx *c, const struct code_entry *e) {
    zip_file_t *zf = zip_fopen_index(c->za, e->index, 0);
    if (zf == NULL)
        return code_fail_entry(c->err, code_zip_rc(zip_get_error(c->za)), e->name, e->name_len,
                               zip_error_strerror(zip_get_error(c->za)));
    size_t got = 0;
    int rc = 0;
    while (got <= FC_CODE_LINK_TARGET_BYTES_MAX) {
        zip_int64_t n = zip_fread(zf, c->buf + got, FC_CODE_LINK_TARGET_BYTES_MAX + 1 - got);
        if (n < 0)
            rc = code_fail_entry(c->err, code_zip_rc(zip_file_get_error(zf)), e->name, e->name_len,
                                 zip_error_strerror(zip_file_get_error(zf)));
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    zip_fclose(zf);
    if (rc == 0 && got > FC_CODE_LINK_TARGET_BYTES_MAX)
        rc = code_fail_entry(c->err, -EINVAL, e->name, e->name_len, "symlink target too long");
    if (rc == 0)
        rc = code_account(c, got);
    c->buf[got] = '\0';
    return rc < 0 ? rc : (int)got;
}

/* The symlink rule of code.h: relative, no NUL, and `..` only as leading
 * components, no more of them than the link's directory depth. */
static int code_link_check(struct code_ctx *c, const struct code_entry *e, size_t tl) {
    const char *t = (const char *)c->buf, *why = NULL;
    size_t depth = 0;
    for (uint32_t i = 0; i < e->name_len; i++)
        depth += e->name[i] == '/';
    if (tl == 0)
        why = "empty symlink target";
    else if (memchr(t, 0, tl) != NULL)
        why = "symlink target contains a NUL byte";
    else if (t[0] == '/')
        why = "symlink target is absolute";
    bool named = false;
    for (size_t i = 0; why == NULL;) { /* one component per turn; ends after the last */
        const char *comp = t + i, *sep = memchr(comp, '/', tl - i);
        size_t cl = sep != NULL ? (size_t)(sep - comp) : tl - i;
        if (cl == 2 && comp[0] == '.' && comp[1] == '.') {
            if (named)
                why = "symlink target has '..' after a name";
            else if (depth-- == 0)
                why = "symlink target leaves the code directory";
        } else if (cl > 1 || (cl == 1 && comp[0] != '.')) {
            named = true;
        }
        if (sep == NULL)
            break;
        i += cl + 1;
    }
    return why != NULL ? code_fail_entry(c->err, -EINVAL, e->name, e->name_len, why) : 0;
}

static int code_make_link(struct code_ctx *c, const struct code_entry *e) {
    int tl = code_read_link(c, e);
    if (tl < 0)
        return tl;
    int rc = code_link_check(c, e, (size_t)tl);
    size_t base;
    if (rc == 0)
        rc = code_parent(c, e, &base);
    if (rc == 0 && symlinkat((const char *)c->buf, c->parent_fd, e->name + base) < 0)
        rc = code_fail_sys(c->err, errno, "creating a symlink");
    return rc;
}

/* Create everything under the temporary directory tmp: directories and
 * files first, in name order, then symlinks, so no entry is ever created
 * through a link (the table already refused entries under one). */
static int code_create(struct code_ctx *c, const char *tmp) {
    c->root_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->root_fd < 0)
        return code_fail_sys(c->err, errno, "opening the temporary directory");
    c->parent_fd = c->root_fd;
    if ((c->buf = malloc(CODE_READ_BYTES)) == NULL)
        return code_fail_sys(c->err, ENOMEM, "unpacking");
    for (uint32_t k = 0; k < c->n; k++) {
        const struct code_entry *e = &c->ents[k];
        int rc = e->kind == CODE_DIR    ? code_make_dir(c, e)
                 : e->kind == CODE_FILE ? code_make_file(c, e)
                                        : 0;
        if (rc < 0)
            return rc;
    }
    for (uint32_t k = 0; k < c->n; k++) {
        int rc = c->ents[k].kind == CODE_LINK ? code_make_link(c, &c->ents[k]) : 0;
        if (rc < 0)
            return rc;
    }
    if (fchmod(c->root_fd, 0755) < 0) /* mkdtemp made it 0700 */
        return code_fail_sys(c->err, errno, "chmod of the code directory");
    return 0;
}

static int code_open_zip(struct code_ctx *c, const void *zip, size_t len) {
    zip_error_t ze;
    zip_error_init(&ze);
    int rc = 0;
    zip_source_t *src = zip_source_buffer_create(zip, len, 0, &ze);
    if (src == NULL) {
        rc = code_fail(c->err, code_zip_rc(&ze), "reading the zip: %s", zip_error_strerror(&ze));
    } else if ((c->za = zip_open_from_source(src, ZIP_RDONLY, &ze)) == NULL) {
        zip_source_free(src); /* not taken over on failure */
        rc = code_fail(c->err, code_zip_rc(&ze), "not a valid zip file: %s",
                       zip_error_strerror(&ze));
    }
    zip_error_fini(&ze);
    return rc;
}

static void code_ctx_free(struct code_ctx *c) {
    code_parent_close(c);
    if (c->root_fd >= 0)
        close(c->root_fd);
    for (uint32_t k = 0; k < c->n; k++)
        free(c->ents[k].name);
    free(c->ents);
    free(c->buf);
    if (c->za != NULL)
        zip_discard(c->za); /* read-only: frees the archive and its source */
}

static int code_extract(const void *zip, size_t len, const char *tmp,
                        const struct fc_code_limits *lim, struct fc_code_info *info, char *err) {
    struct code_ctx c = {.lim = lim,
                         .zip_bytes = len,
                         .root_len = strlen(tmp) + 1,
                         .root_fd = -1,
                         .parent_fd = -1,
                         .err = err};
    int rc = code_open_zip(&c, zip, len);
    if (rc == 0)
        rc = code_scan(&c);
    if (rc == 0)
        rc = code_create(&c, tmp);
    FC_ASSERT(rc < 0 || c.unpacked_bytes <= lim->unpacked_bytes_max);
    info->unpacked_bytes = c.unpacked_bytes;
    info->entries = c.count;
    code_ctx_free(&c);
    return rc;
}

/* ---- publishing ------------------------------------------------------------------- */

static int code_sync_parent(const char *dest, char *err) {
    char parent[PATH_MAX];
    const char *sep = strrchr(dest, '/');
    size_t plen = sep == NULL ? 0 : sep == dest ? 1 : (size_t)(sep - dest);
    FC_ASSERT(plen < sizeof(parent));
    memcpy(parent, plen > 0 ? dest : ".", plen > 0 ? plen : 1);
    parent[plen > 0 ? plen : 1] = '\0';
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return code_fail_sys(err, errno, "opening the parent of the code directory");
    int rc = fsync(fd) < 0 ? code_fail_sys(err, errno, "fsync of the parent directory") : 0;
    close(fd);
    return rc;
}

/* Rename tmp to dest without replacing anything, and make it durable. */
static int code_publish(const char *tmp, const char *dest, char *err) {
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE) < 0) {
        if (errno == EEXIST)
            return code_fail(err, -EEXIST, "code directory already exists");
        if (errno != EINVAL && errno != ENOSYS)
            return code_fail_sys(err, errno, "renaming the code directory into place");
        /* A file system without RENAME_NOREPLACE: check, then rename. In
         * the window an empty dest_dir made by someone else would be
         * replaced; callers name each revision uniquely, so none is. */
        struct stat st;
        if (lstat(dest, &st) == 0)
            return code_fail(err, -EEXIST, "code directory already exists");
        if (rename(tmp, dest) < 0)
            return code_fail_sys(err, errno, "renaming the code directory into place");
    }
    int rc = code_sync_parent(dest, err);
    if (rc < 0)
        fc_code_remove(dest); /* not durable, not reported: leave nothing */
    return rc;
}

int fc_code_unpack(const void *zip, size_t len, const char *dest_dir,
                   const struct fc_code_limits *lim, struct fc_code_info *info,
                   char err[FC_CODE_ERR_BYTES]) {
    FC_ASSERT(dest_dir != NULL && info != NULL && err != NULL && (zip != NULL || len == 0));
    size_t dl = strlen(dest_dir);
    FC_ASSERT(dl > 0 && dest_dir[dl - 1] != '/');
    struct fc_code_limits def;
    if (lim == NULL) {
        fc_code_limits_default(&def);
        lim = &def;
    }
    err[0] = '\0';
    if (len == 0)
        return code_fail(err, -EINVAL, "code package is empty");
    if (len > lim->zip_bytes_max)
        return code_fail(err, -EFBIG, "code package is %zu bytes, over the limit of %" PRIu64, len,
                         lim->zip_bytes_max);
    int rc = code_prescan(zip, len, lim->entries_max, err);
    if (rc < 0)
        return rc;
    struct stat st;
    if (lstat(dest_dir, &st) == 0)
        return code_fail(err, -EEXIST, "code directory already exists");
    if (errno != ENOENT)
        return code_fail_sys(err, errno, "checking the code directory");
    char tmp[PATH_MAX];
    if (dl + sizeof(FC_CODE_TMP_INFIX "XXXXXX") > sizeof(tmp))
        return code_fail_sys(err, ENAMETOOLONG, "code directory path");
    snprintf(tmp, sizeof(tmp), "%s" FC_CODE_TMP_INFIX "XXXXXX", dest_dir);
    if (mkdtemp(tmp) == NULL)
        return code_fail_sys(err, errno, "creating the temporary directory");
    rc = code_extract(zip, len, tmp, lim, info, err);
    if (rc == 0)
        rc = code_publish(tmp, dest_dir, err);
    if (rc < 0) {
        fc_code_remove(tmp);
        return rc;
    }
    info->code_size = len;
    snprintf(info->checksum, sizeof(info->checksum), "%" PRIu64, fc_code_crc64(0, zip, len));
    err[0] = '\0';
    return 0;
}

/* ---- removal ---------------------------------------------------------------------- */

struct code_dirid {
    dev_t dev;
    ino_t ino;
};

/* One pass over directory fd: unlink files and symlinks, rmdir empty
 * directories. At the first non-empty directory stop and return it opened in
 * *child (O_NOFOLLOW) for the caller to descend into. Returns 0 or -errno. */
static int code_remove_scan(int fd, int *child) {
    int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* own offset: from the top */
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (d == NULL) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        return -e;
    }
    int rc = 0;
    for (;;) { /* ends at the end of the directory, a descent or an error */
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            rc = -errno;
            break;
        }
        const char *n = de->d_name;
        if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')))
            continue;
        if (de->d_type != DT_DIR && (unlinkat(fd, n, 0) == 0 || errno == ENOENT))
            continue;
        if (de->d_type != DT_DIR && errno != EISDIR) { /* d_type may be DT_UNKNOWN */
            rc = -errno;
            break;
        }
        if (unlinkat(fd, n, AT_REMOVEDIR) == 0 || errno == ENOENT)
            continue;
        if (errno == ENOTEMPTY || errno == EEXIST)
            rc = (*child = openat(fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0
                     ? -errno
                     : 0;
        else
            rc = -errno;
        break;
    }
    closedir(d);
    return rc;
}

/* Climb from *fd to its parent, which must be `want`. */
static int code_remove_up(int *fd, const struct code_dirid *want) {
    int p = openat(*fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (p < 0)
        return -errno;
    struct stat st;
    int rc = fstat(p, &st) < 0 ? -errno : 0;
    if (rc == 0 && (st.st_dev != want->dev || st.st_ino != want->ino))
        rc = -ESTALE; /* the tree moved under us: stop rather than remove elsewhere */
    if (rc < 0) {
        close(p);
        return rc;
    }
    close(*fd);
    *fd = p;
    return 0;
}

/* Empty the directory open as top (closed on return), depth first without
 * recursion: one directory open at a time, the way back up checked by
 * device and inode. */
static int code_remove_tree(int top) {
    struct code_dirid *up = NULL; /* up[i]: the directory at depth i on the current path */
    size_t depth = 0, cap = 0;
    int fd = top, rc;
    for (;;) { /* ends when the top directory is empty, or at the first error */
        int child = -1;
        if ((rc = code_remove_scan(fd, &child)) < 0)
            break;
        if (child < 0 && depth == 0)
            break;
        if (child < 0) {
            if ((rc = code_remove_up(&fd, &up[--depth])) < 0)
                break;
            continue;
        }
        struct stat st;
        if (depth == cap) {
            cap = cap ? 2 * cap : 64;
            void *p = realloc(up, cap * sizeof(*up));
            rc = p == NULL ? -ENOMEM : 0;
            up = p != NULL ? p : up;
        }
        if (rc == 0 && fstat(fd, &st) < 0)
            rc = -errno;
        if (rc == 0)
            up[depth++] = (struct code_dirid){st.st_dev, st.st_ino};
        close(fd);
        fd = child;
        if (rc < 0)
            break;
    }
    FC_ASSERT(rc <= 0);
    close(fd);
    free(up);
    return rc;
}

int fc_code_remove(const char *dir) {
    FC_ASSERT(dir != NULL && dir[0] != '\0');
    FC_ASSERT(strcmp(dir, "/") != 0 && dir[strlen(dir) - 1] != '/'); /* "x/" follows a link x */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    int rc = code_remove_tree(fd);
    if (rc == 0 && rmdir(dir) < 0 && errno != ENOENT)
        rc = -errno;
    return rc;
}
