/* test_invocation.c — core/invocation: the x-fc-* headers an instance gets
 * (CONTRACT.md §6.3), few enough for gunicorn's 100-line limit. */
#include "tests/unit/test.h"

#include "core/invocation.h"

FC_TEST(invocation_fc_headers) {
    struct fc_function fn = {.memory_mb = 256, .timeout_s = 7, .initialization_timeout_s = 3};
    snprintf(fn.service, sizeof(fn.service), "svc");
    snprintf(fn.name, sizeof(fn.name), "fn");
    struct fc_buf b = {0};
    FC_CHECK(fc_invocation_fc_headers(&b, &fn, "rid-9", "/invoke", 2) == 0);
    fc_buf_append(&b, "", 1);
    FC_CHECK(strstr(b.data, "x-fc-request-id: rid-9\r\n") != NULL);
    FC_CHECK(strstr(b.data, "x-fc-function-name: fn\r\n") != NULL);
    FC_CHECK(strstr(b.data, "x-fc-service-name: svc\r\n") != NULL);
    FC_CHECK(strstr(b.data, "x-fc-function-memory: 256\r\n") != NULL);
    FC_CHECK(strstr(b.data, "x-fc-function-timeout: 7\r\n") != NULL);
    FC_CHECK(strstr(b.data, "x-fc-function-initializer: \r\n") != NULL); /* unset: empty */
    FC_CHECK(strstr(b.data, "x-fc-retry-count: 2\r\n") != NULL);
    FC_CHECK(strstr(b.data, "x-fc-control-path: /invoke\r\n") != NULL);
    int lines = 0;
    for (const char *p = b.data; (p = strstr(p, "\r\n")) != NULL; p += 2)
        lines++;
    FC_CHECK(lines >= 10 && lines <= 20); /* leaves room under gunicorn's 100 */
    fc_buf_free(&b);
}
