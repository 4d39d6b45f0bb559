/* invocation.c — see invocation.h. */
#include "core/invocation.h"

#include <string.h>

int fc_invocation_fc_headers(struct fc_buf *b, const struct fc_function *fn,
                             const char *request_id, const char *control_path,
                             uint32_t retry_count) {
    /* Per request: memcpy-built (bench/sync.sh found printf in the profile). */
    static const char fixed[] = "x-fc-qualifier: LATEST\r\nx-fc-version-id: \r\n"
                                "x-fc-region: local\r\nx-fc-account-id: local\r\n";
    const char *init = fn->initializer ? fn->initializer : "";
    int rc = fc_buf_header(b, "x-fc-request-id", 15, request_id, strlen(request_id));
    if (rc == 0)
        rc = fc_buf_header(b, "x-fc-function-name", 18, fn->name, strlen(fn->name));
    if (rc == 0)
        rc = fc_buf_header(b, "x-fc-function-handler", 21, fn->name, strlen(fn->name));
    if (rc == 0)
        rc = fc_buf_header_u64(b, "x-fc-function-memory", fn->memory_mb);
    if (rc == 0)
        rc = fc_buf_header_u64(b, "x-fc-function-timeout", fn->timeout_s);
    if (rc == 0)
        rc = fc_buf_header(b, "x-fc-function-initializer", 25, init, strlen(init));
    if (rc == 0)
        rc = fc_buf_header_u64(b, "x-fc-initialization-timeout", fn->initialization_timeout_s);
    if (rc == 0)
        rc = fc_buf_header(b, "x-fc-service-name", 17, fn->service, strlen(fn->service));
    if (rc == 0)
        rc = fc_buf_append(b, fixed, sizeof(fixed) - 1);
    if (rc == 0)
        rc = fc_buf_header_u64(b, "x-fc-retry-count", retry_count);
    if (rc == 0)
        rc = fc_buf_header(b, "x-fc-control-path", 17, control_path, strlen(control_path));
    return rc;
}
