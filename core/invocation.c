/* invocation.c — see invocation.h. */
#include "core/invocation.h"

int fc_invocation_fc_headers(struct fc_buf *b, const struct fc_function *fn,
                             const char *request_id, const char *control_path,
                             uint32_t retry_count) {
    return fc_buf_printf(b,
                         "x-fc-request-id: %s\r\n"
                         "x-fc-function-name: %s\r\n"
                         "x-fc-function-handler: %s\r\n"
                         "x-fc-function-memory: %u\r\n"
                         "x-fc-function-timeout: %u\r\n"
                         "x-fc-function-initializer: %s\r\n"
                         "x-fc-initialization-timeout: %u\r\n"
                         "x-fc-service-name: %s\r\n"
                         "x-fc-qualifier: LATEST\r\n"
                         "x-fc-version-id: \r\n"
                         "x-fc-region: local\r\n"
                         "x-fc-account-id: local\r\n"
                         "x-fc-retry-count: %u\r\n"
                         "x-fc-control-path: %s\r\n",
                         request_id, fn->name, fn->name, fn->memory_mb, fn->timeout_s,
                         fn->initializer ? fn->initializer : "", fn->initialization_timeout_s,
                         fn->service, retry_count, control_path);
}
