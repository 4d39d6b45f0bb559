/* buf.c — see buf.h. */
#include "core/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fc_buf_reserve(struct fc_buf *b, size_t more) {
    if (b->cap - b->len >= more)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < more)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (data == NULL)
        return -ENOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

int fc_buf_append(struct fc_buf *b, const void *data, size_t len) {
    if (len == 0)
        return 0; /* data may be NULL then, and memcpy(NULL, ...) is undefined */
    if (fc_buf_reserve(b, len) < 0)
        return -ENOMEM;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int fc_buf_printf(struct fc_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || fc_buf_reserve(b, (size_t)n + 1) < 0)
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int fc_buf_header(struct fc_buf *b, const char *name, size_t name_len, const char *value,
                  size_t value_len) {
    if (fc_buf_reserve(b, name_len + value_len + 4) < 0)
        return -ENOMEM;
    char *p = b->data + b->len;
    memcpy(p, name, name_len);
    p += name_len;
    *p++ = ':';
    *p++ = ' ';
    if (value_len > 0)
        memcpy(p, value, value_len);
    p += value_len;
    *p++ = '\r';
    *p++ = '\n';
    b->len = (size_t)(p - b->data);
    return 0;
}

int fc_buf_header_u64(struct fc_buf *b, const char *name, uint64_t value) {
    char digits[20];
    int n = 0;
    do
        digits[sizeof(digits) - 1 - n++] = (char)('0' + value % 10);
    while ((value /= 10) != 0);
    return fc_buf_header(b, name, strlen(name), digits + sizeof(digits) - n, (size_t)n);
}

int fc_buf_base64(struct fc_buf *b, const void *src, size_t len) {
    if (len == 0)
        return 0;
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (fc_buf_reserve(b, (len + 2) / 3 * 4) < 0)
        return -ENOMEM;
    const unsigned char *in = src;
    char *out = b->data + b->len;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = alphabet[(v >> 6) & 63];
        *out++ = alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    b->len = (size_t)(out - b->data);
    return 0;
}

void fc_buf_free(struct fc_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void fc_str_copy(char *dst, size_t cap, const char *src, size_t len) {
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}
