/* test_response.c — io/response: the exact bytes of response heads, FC
 * error responses, HEAD requests. */
#include "tests/unit/test.h"

#include "io/http.h"
#include "io/response.h"

#include <jansson.h>

/* Parse what was written back with fcd's own response parser. */
static void parse(const struct fc_buf *b, struct fc_http_resp *resp, ssize_t *head_len) {
    static struct fc_http_header headers[32];
    struct fc_http_limits limits = {65536, 32};
    *resp = (struct fc_http_resp){.headers = headers, .headers_cap = 32};
    *head_len = fc_http_parse_response(b->data, b->len, &limits, resp);
    FC_CHECK(*head_len > 0);
}

static const char *header(const struct fc_http_resp *r, const char *name) {
    static char value[256];
    for (uint32_t i = 0; i < r->headers_count; i++) {
        if (r->headers[i].name_len == strlen(name) &&
            strncasecmp(r->headers[i].name, name, r->headers[i].name_len) == 0) {
            snprintf(value, sizeof(value), "%.*s", (int)r->headers[i].value_len,
                     r->headers[i].value);
            return value;
        }
    }
    return NULL;
}

FC_TEST(response_head_fields) {
    struct fc_buf b = {0};
    struct fc_response r = {.status = 202, .request_id = "rid-1", .content_length = 0,
                            .keep_alive = true, .extra = "x-a: 1\r\nx-a: 2\r\n"};
    FC_CHECK(fc_response_head(&b, &r) == 0);
    FC_CHECK(memcmp(b.data, "HTTP/1.1 202 Accepted\r\nDate: ", 29) == 0);
    struct fc_http_resp resp;
    ssize_t n;
    parse(&b, &resp, &n);
    FC_CHECK_INT(n, b.len);
    FC_CHECK_INT(resp.status, 202);
    FC_CHECK(resp.keep_alive && resp.has_content_length && resp.content_length == 0);
    FC_CHECK_STR(header(&resp, "x-fc-request-id"), "rid-1");
    FC_CHECK(header(&resp, "content-type") == NULL);
    FC_CHECK_INT(resp.headers_count, 5); /* Date, Content-Length, request id, two x-a */
    /* HTTP/1.0 keep-alive is announced; close is said. */
    b.len = 0;
    r = (struct fc_response){.status = 200, .content_length = 12345678901ull, .keep_alive = true,
                             .http10 = true, .content_type = "text/plain"};
    FC_CHECK(fc_response_head(&b, &r) == 0);
    parse(&b, &resp, &n);
    FC_CHECK_STR(header(&resp, "connection"), "keep-alive");
    FC_CHECK_STR(header(&resp, "content-length"), "12345678901");
    FC_CHECK_STR(header(&resp, "content-type"), "text/plain");
    b.len = 0;
    r.keep_alive = false;
    FC_CHECK(fc_response_head(&b, &r) == 0);
    parse(&b, &resp, &n);
    FC_CHECK_STR(header(&resp, "connection"), "close");
    FC_CHECK(!resp.keep_alive);
    fc_buf_free(&b);
}

FC_TEST(response_error_json_and_head) {
    struct fc_buf b = {0};
    int status = fc_response_error(&b, true, false, false, "rid-2", FC_ERR_FUNCTION_NOT_FOUND,
                                   "f", "s");
    FC_CHECK_INT(status, 404);
    struct fc_http_resp resp;
    ssize_t n;
    parse(&b, &resp, &n);
    FC_CHECK_STR(header(&resp, "content-type"), "application/json");
    FC_CHECK_INT(resp.content_length, b.len - (size_t)n);
    json_error_t err;
    json_t *doc = json_loadb(b.data + n, b.len - (size_t)n, 0, &err);
    FC_CHECK(doc != NULL);
    FC_CHECK_STR(json_string_value(json_object_get(doc, "ErrorCode")), "FunctionNotFound");
    FC_CHECK_STR(json_string_value(json_object_get(doc, "RequestId")), "rid-2");
    json_decref(doc);
    /* HEAD: the same Content-Length, no body. */
    struct fc_buf h = {0};
    FC_CHECK_INT(fc_response_error(&h, true, false, true, "rid-2", FC_ERR_FUNCTION_NOT_FOUND,
                                   "f", "s"),
                 404);
    struct fc_http_resp hresp;
    parse(&h, &hresp, &n);
    FC_CHECK_INT(h.len, n);
    FC_CHECK_INT(hresp.content_length, resp.content_length);
    fc_buf_free(&b);
    fc_buf_free(&h);
}
