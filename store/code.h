/* code.h — unpack a function's code package (the zip of CreateFunction /
 * UpdateFunction `code.zipFile`, already base64-decoded by the caller) into a
 * fresh, versioned code directory, safely; FC's codeChecksum; tree removal.
 *
 * What "safely" means here, since the zip comes from a client:
 *   - Nothing is written outside the new directory. Entry names are checked
 *     (no absolute path, no `..`, no empty component, no NUL) and every file
 *     is created with openat/mkdirat under directory fds opened with
 *     O_NOFOLLOW|O_DIRECTORY, files with O_CREAT|O_EXCL|O_NOFOLLOW. No entry
 *     may lie under a symlink entry, and symlinks are created last, so no
 *     write ever goes through a link the zip made.
 *   - Symlinks must stay inside the code directory when followed (see
 *     fc_code_unpack for the exact rule and why it is stricter than a
 *     lexical check).
 *   - Bounded work: zip bytes, entries, unpacked bytes and the compression
 *     ratio are limited (struct fc_code_limits). Unpacked bytes are counted as
 *     they are written; the sizes the zip declares are never trusted.
 *   - All or nothing: the work happens in a temporary sibling directory
 *     "<dest_dir>" FC_CODE_TMP_INFIX "XXXXXX" that is renamed to dest_dir only
 *     when everything succeeded. A process killed mid-unpack leaves that
 *     temporary directory behind: sweep `*.unpack-*` siblings with
 *     fc_code_remove at start.
 *
 * Modes are set explicitly (umask does not matter): directories 0755, files
 * 0755 or 0644, dest_dir itself 0755. Owner is the calling process.
 *
 * Durability: files are not fsynced (it would cost one fsync per file of a
 * 65536-entry package); only the rename is made durable by fsyncing
 * dest_dir's parent. After a power loss right after a return, files may be
 * short or empty: a caller that must survive that re-checks the package it
 * kept (or re-unpacks it) at start.
 *
 * Threads: every function is blocking (inflate and file system work: about
 * 1 s for a 100 MiB package) and must run on a worker thread, never an io
 * thread. No shared mutable state: concurrent calls on different dest_dirs
 * are safe (the CRC-64 tables are built once, under pthread_once).
 *
 * Reading the zip is libzip's (>= 1.7): central directory, inflate and the
 * per-entry CRC-32 check (a mismatch is -EINVAL). Entry names are taken raw,
 * as bytes (libzip's ZIP_FL_ENC_RAW: no CP437 conversion), like Info-ZIP
 * unzip on Linux. */
#ifndef FC_CODE_H
#define FC_CODE_H

#include <assert.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* Zip package size: FC's limit for code.zipFile. Past it: -EFBIG. */
#define FC_CODE_ZIP_BYTES_MAX (100ull << 20)
/* Default bound on the bytes written (files and symlink targets). */
#define FC_CODE_UNPACKED_BYTES_DEFAULT (512ull << 20)
/* Default bound on zip entries (directories included). */
#define FC_CODE_ENTRIES_DEFAULT 65536u
/* Default zip-bomb guard: bytes written / zip bytes. */
#define FC_CODE_RATIO_DEFAULT 200u
/* The ratio guard applies only once this much has been written: a small
 * package of text compresses far better than 200:1 and is harmless. */
#define FC_CODE_RATIO_FLOOR_BYTES (1ull << 20)
/* Longest symlink target read from the zip; longer is -EINVAL. */
#define FC_CODE_LINK_TARGET_BYTES_MAX (PATH_MAX - 1)
/* The temporary sibling: dest_dir FC_CODE_TMP_INFIX "XXXXXX" (mkdtemp). */
#define FC_CODE_TMP_INFIX ".unpack-"
/* Error message buffer, NUL included. */
#define FC_CODE_ERR_BYTES 256

static_assert(FC_CODE_RATIO_FLOOR_BYTES <= FC_CODE_UNPACKED_BYTES_DEFAULT, "floor under the cap");
static_assert(FC_CODE_ERR_BYTES >= 160, "room for a quoted entry name and a reason");

struct fc_code_limits {
    uint64_t zip_bytes_max;      /* default FC_CODE_ZIP_BYTES_MAX (100 MiB, FC's limit) */
    uint64_t unpacked_bytes_max; /* default FC_CODE_UNPACKED_BYTES_DEFAULT (512 MiB), counted
                                    from bytes actually written, never from the zip's sizes */
    uint32_t entries_max;        /* default FC_CODE_ENTRIES_DEFAULT (65536) */
    uint32_t ratio_max;          /* zip-bomb guard: written bytes / zip bytes over the whole
                                    archive, default FC_CODE_RATIO_DEFAULT (200); applied only
                                    once more than FC_CODE_RATIO_FLOOR_BYTES are written.
                                    UINT32_MAX effectively turns it off. */
};

/* Fill *l with the defaults above. */
void fc_code_limits_default(struct fc_code_limits *l);

struct fc_code_info {
    uint64_t code_size;      /* zip bytes (FC's codeSize) */
    uint64_t unpacked_bytes; /* bytes written: file contents and symlink targets */
    uint32_t entries;        /* zip entries, directories included */
    /* FC's codeChecksum: CRC-64/XZ (fc_code_crc64) of the zip bytes, as a
     * decimal string ("0" .. "18446744073709551615"). */
    char checksum[21];
};

/* Unpack zip[0..len) into dest_dir, which must not exist yet; its parent
 * must. dest_dir is a path without a trailing '/' (asserted); zip and
 * dest_dir are borrowed for the call. lim NULL means the defaults.
 *
 * Entries:
 *   - Names are raw bytes; '\' is an ordinary byte. Rejected: empty names,
 *     absolute paths, `..` components, empty components (`a//b`), NUL bytes,
 *     components over NAME_MAX bytes, and names whose full path under the
 *     temporary directory would reach PATH_MAX. `.` components are dropped
 *     (`./bootstrap` is `bootstrap`; `./` is the code directory itself).
 *     Names equal after that (including `a` and `a/`) are duplicates:
 *     rejected. So is an entry under a file or symlink entry.
 *   - A name ending in '/' is a directory (0755); missing parent directories
 *     are created (0755): many zips (npm packages) have no directory entries.
 *   - Made on Unix (opsys 3, mode = external attributes >> 16, mode != 0):
 *     regular files get 0755 if any exec bit is set, else 0644 (setuid,
 *     setgid, sticky, group/world write dropped); S_IFDIR is a directory;
 *     S_IFLNK a symlink whose target is the entry's content; any other type
 *     (device, fifo, socket) is rejected. Made elsewhere (or Unix with mode
 *     0, which some writers emit): files get 0644, except that the top-level
 *     `bootstrap` gets 0755 (FC's custom runtime runs /code/bootstrap, and
 *     Windows zips carry no mode); the MS-DOS directory attribute (0x10)
 *     also marks a directory.
 *   - Symlinks: the target must be non-empty, relative, without NUL, at most
 *     FC_CODE_LINK_TARGET_BYTES_MAX bytes, and may use `..` only as leading
 *     components (`../../lib/x`, not `a/../b`), and no more of them than the
 *     link's own directory depth. Why stricter than resolving `..`
 *     lexically: `..` after a name that is itself a symlink resolves
 *     physically from the link's target, not lexically (l1 -> ".", then
 *     sub/l2 -> "l1/../../x" looks inside but escapes). With leading `..`
 *     only, every link resolves inside the code directory, whatever the
 *     other links are.
 *   - Encrypted entries and compression methods libzip cannot read are
 *     rejected.
 *
 * Returns 0 (dest_dir holds the package; *info filled), or:
 *   -EINVAL  malformed zip or forbidden entry; err says which entry and why,
 *            short and user-facing (it goes into a 400 InvalidArgument body):
 *            valid UTF-8, no control bytes, the name cut at 96 bytes;
 *   -EFBIG   a limit exceeded; err names it;
 *   -EEXIST  dest_dir exists (checked first, and again by the rename);
 *   -ENOMEM, or another -errno of the file system (err says what failed;
 *            -ENOENT when the parent is missing, -ENAMETOOLONG when dest_dir
 *            leaves no room for entry paths).
 * err always gets a NUL-terminated message ("" on success). On any error
 * nothing is left behind (the temporary directory is removed, dest_dir not
 * created) and *info is unspecified. */
int fc_code_unpack(const void *zip, size_t len, const char *dest_dir,
                   const struct fc_code_limits *lim, struct fc_code_info *info,
                   char err[FC_CODE_ERR_BYTES]);

/* CRC-64/XZ (ECMA-182 polynomial, reflected, init and xorout all ones: the
 * CRC-64 OSS and FC use) of p[0..n), continuing from crc: start with 0, then
 * crc = fc_code_crc64(crc, q, m). p may be NULL when n is 0. Slice-by-8,
 * about 2 GB/s. Check value: fc_code_crc64(0, "123456789", 9) ==
 * 0x995DC9BBDF1939FA. */
uint64_t fc_code_crc64(uint64_t crc, const void *p, size_t n);

/* Remove the directory tree dir (old code revisions, failed unpacks). Never
 * follows a symlink: links are unlinked, not entered, and dir itself must be
 * a real directory (-ENOTDIR or -ELOOP otherwise). Holds three fds at most,
 * whatever the depth: it climbs back with "..", checking the device and
 * inode against the directory it came from (-ESTALE if the tree was moved
 * meanwhile; it then stops). Returns 0 (a missing dir is 0) or -errno; on
 * error part of the tree may be gone. */
int fc_code_remove(const char *dir);

#endif
