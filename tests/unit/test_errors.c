/* test_errors.c — core/errors: the JSON body every SDK parses. */
#include "tests/unit/test.h"

#include "core/errors.h"

#include <jansson.h>

FC_TEST(errors_json_body) {
    char body[1024];
    int n = fc_error_json(body, sizeof(body), FC_ERR_FUNCTION_NOT_FOUND, "rid-1", "f\"1", "svc");
    FC_CHECK(n > 0);
    json_error_t jerr;
    json_t *root = json_loadb(body, (size_t)n, 0, &jerr);
    FC_CHECK(root != NULL);
    FC_CHECK_STR(json_string_value(json_object_get(root, "ErrorCode")), "FunctionNotFound");
    FC_CHECK_STR(json_string_value(json_object_get(root, "Code")), "FunctionNotFound");
    FC_CHECK_STR(json_string_value(json_object_get(root, "ErrorMessage")),
                 "function 'f\"1' does not exist in service 'svc'");
    FC_CHECK_STR(json_string_value(json_object_get(root, "Message")),
                 "function 'f\"1' does not exist in service 'svc'");
    FC_CHECK_STR(json_string_value(json_object_get(root, "RequestId")), "rid-1");
    json_decref(root);
    FC_CHECK_INT(fc_error_status(FC_ERR_FUNCTION_NOT_FOUND), 404);
    FC_CHECK_INT(fc_error_status(FC_ERR_RESOURCE_EXHAUSTED), 429);
    FC_CHECK_INT(fc_error_status(FC_ERR_ENTITY_TOO_LARGE), 400);
    /* Control bytes are escaped; a body that does not fit is refused. */
    n = fc_error_json(body, sizeof(body), FC_ERR_INVALID_ARGUMENT, "r", "a\x01\n");
    FC_CHECK(n > 0 && strstr(body, "a\\u0001\\n") != NULL);
    FC_CHECK_INT(fc_error_json(body, 20, FC_ERR_INTERNAL, "r"), -28 /* -ENOSPC */);
}
