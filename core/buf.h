/* buf.h — a growable byte buffer. Owned by one thread at a time; moves
 * between threads only inside an object handed over through a ring. */
#ifndef FC_BUF_H
#define FC_BUF_H

#include <stddef.h>

#include <stdint.h>

/* A borrowed byte range (not NUL-terminated); ptr may be NULL when len is 0.
 * Whoever hands one out says how long the bytes live. */
struct fc_slice {
    const char *ptr;
    uint32_t len;
};

/* Zero-initialise; fc_buf_free releases it. */
struct fc_buf {
    char *data;
    size_t len;
    size_t cap;
};

/* Make room for `more` bytes past len. Returns 0 or -ENOMEM (buf unchanged). */
int fc_buf_reserve(struct fc_buf *b, size_t more);
/* Append bytes. Returns 0 or -ENOMEM (buf unchanged). */
int fc_buf_append(struct fc_buf *b, const void *data, size_t len);
/* Append printf-formatted text. Returns 0 or -ENOMEM (buf unchanged). */
int fc_buf_printf(struct fc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append a header line "name: value\r\n" (memcpy, no printf: this runs a
 * dozen times per proxied request). Returns 0 or -ENOMEM (buf unchanged). */
int fc_buf_header(struct fc_buf *b, const char *name, size_t name_len, const char *value,
                  size_t value_len);
/* The same with a C-string name and an unsigned number as the value. */
int fc_buf_header_u64(struct fc_buf *b, const char *name, uint64_t value);

/* Copy src[0..len) into the C string dst of cap bytes (cap > 0), cut to
 * cap - 1: snprintf's "%.*s" without printf, for the request path. */
void fc_str_copy(char *dst, size_t cap, const char *src, size_t len);

/* Append the base64 (RFC 4648, padded) of src[0..len). Returns 0 or -ENOMEM. */
int fc_buf_base64(struct fc_buf *b, const void *src, size_t len);
void fc_buf_free(struct fc_buf *b);

#endif
