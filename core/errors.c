/* errors.c — see errors.h. */
#include "core/errors.h"

#include "core/assert.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERROR_MESSAGE_BYTES_MAX 1024

static const struct {
    int status;
    const char *code;
    const char *message;
} error_rows[FC_ERR_COUNT] = {
#define FC_ERROR_ROW(name, status, code, message) [FC_ERR_##name] = {status, code, message},
    FC_ERROR_TABLE(FC_ERROR_ROW)
#undef FC_ERROR_ROW
};

int fc_error_status(enum fc_error err) {
    FC_ASSERT(err < FC_ERR_COUNT);
    return error_rows[err].status;
}

const char *fc_error_code(enum fc_error err) {
    FC_ASSERT(err < FC_ERR_COUNT);
    return error_rows[err].code;
}

int fc_json_escape(char *dst, size_t cap, const char *src, size_t len) {
    static const char hex[] = "0123456789abcdef";
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        char esc = c == '"' ? '"' : c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r'
                 : c == '\t' ? 't' : 0;
        size_t need = esc ? 2 : c < 0x20 ? 6 : 1;
        if (out + need >= cap)
            return -ENOSPC;
        if (esc) {
            dst[out++] = '\\';
            dst[out++] = esc;
        } else if (c < 0x20) {
            memcpy(dst + out, "\\u00", 4);
            dst[out + 4] = hex[c >> 4];
            dst[out + 5] = hex[c & 15];
            out += 6;
        } else {
            dst[out++] = (char)c;
        }
    }
    dst[out] = '\0';
    return (int)out;
}

int fc_error_json(char *buf, size_t cap, enum fc_error err, const char *request_id, ...) {
    va_list ap;
    va_start(ap, request_id);
    int n = fc_error_vjson(buf, cap, err, request_id, ap);
    va_end(ap);
    return n;
}

int fc_error_vjson(char *buf, size_t cap, enum fc_error err, const char *request_id, va_list ap) {
    FC_ASSERT(err < FC_ERR_COUNT);
    char message[ERROR_MESSAGE_BYTES_MAX];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    int n = vsnprintf(message, sizeof(message), error_rows[err].message, ap);
#pragma GCC diagnostic pop
    if (n < 0)
        return -EINVAL;
    char escaped[ERROR_MESSAGE_BYTES_MAX * 6]; /* worst case: every byte \u00XX */
    size_t mlen = (size_t)n < sizeof(message) ? (size_t)n : sizeof(message) - 1;
    if (fc_json_escape(escaped, sizeof(escaped), message, mlen) < 0)
        return -ENOSPC;
    const char *code = error_rows[err].code;
    n = snprintf(buf, cap,
                 "{\"ErrorCode\":\"%s\",\"ErrorMessage\":\"%s\",\"Code\":\"%s\",\"Message\":\"%s\","
                 "\"RequestId\":\"%s\"}",
                 code, escaped, code, escaped, request_id ? request_id : "");
    return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}
