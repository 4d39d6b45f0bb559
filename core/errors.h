/* errors.h — the FC error table (CONTRACT.md §2.4) and its JSON body.
 *
 * Every platform error fcd answers comes from FC_ERROR_TABLE: one row per
 * error with its HTTP status, FC error code and message template. No ad-hoc
 * strings elsewhere. The body carries both key families the SDKs read:
 *
 *   {"ErrorCode":"C","ErrorMessage":"M","Code":"C","Message":"M","RequestId":"R"}
 *
 * Stateless; any thread. */
#ifndef FC_ERRORS_H
#define FC_ERRORS_H

#include <stdarg.h>
#include <stddef.h>

/* X(name, status, code, message template). Templates take printf arguments. */
#define FC_ERROR_TABLE(X)                                                                          \
    X(INVALID_ARGUMENT, 400, "InvalidArgument", "%s")                                              \
    X(MISSING_REQUIRED_HEADER, 400, "MissingRequiredHeader",                                       \
      "required HTTP header %s was not specified")                                                 \
    X(PATH_NOT_SUPPORTED, 400, "PathNotSupported", "'%s' against '%s' is not supported")           \
    X(ENTITY_TOO_LARGE, 400, "EntityTooLarge",                                                     \
      "payload size exceeds maximum allowed size (%llu bytes)")                                    \
    X(LIMIT_EXCEEDED, 400, "LimitExceededError", "%s")                                             \
    X(ACCESS_DENIED, 403, "AccessDenied", "%s")                                                    \
    X(SIGNATURE_NOT_MATCH, 403, "SignatureNotMatch",                                               \
      "The request signature we calculated does not match the signature you provided. "           \
      "Check your access key and signing method")                                                  \
    X(SIGNATURE_DATE_SKEWED, 403, "SignatureNotMatch", "%s")                                       \
    X(INVALID_ACCESS_KEY_ID, 403, "InvalidAccessKeyID", "invalid access key ID '%s'")              \
    X(SERVICE_NOT_FOUND, 404, "ServiceNotFound", "service '%s' does not exist")                    \
    X(FUNCTION_NOT_FOUND, 404, "FunctionNotFound", "function '%s' does not exist in service '%s'") \
    X(TRIGGER_NOT_FOUND, 404, "TriggerNotFound", "trigger '%s' does not exist in function '%s'")   \
    X(ASYNC_CONFIG_NOT_FOUND, 404, "AsyncConfigNotExists", "AsyncConfig for %s does not exist.")    \
    X(SERVICE_ALREADY_EXISTS, 409, "ServiceAlreadyExists", "service '%s' already exists")          \
    X(FUNCTION_ALREADY_EXISTS, 409, "FunctionAlreadyExists",                                       \
      "function '%s' already exists in service '%s'")                                              \
    X(TRIGGER_ALREADY_EXISTS, 409, "TriggerAlreadyExists",                                         \
      "trigger '%s' already exists in function '%s'")                                              \
    X(SERVICE_NOT_EMPTY, 409, "ServiceNotEmpty", "service '%s' is not empty: delete its functions first") \
    X(FUNCTION_NOT_EMPTY, 409, "FunctionNotEmpty", "function '%s' has active triggers")            \
    X(PRECONDITION_FAILED, 412, "PreconditionFailed", "the resource being modified has been changed") \
    X(TASK_NOT_FOUND, 404, "StatefulAsyncInvocationNotFound",                                      \
      "stateful async invocation '%s' does not exist")                                             \
    X(RESOURCE_EXHAUSTED, 429, "ResourceExhausted", "%s")                                          \
    X(CLIENT_CLOSED_REQUEST, 499, "ClientClosedRequest", "client Closed Request")                  \
    X(INTERNAL, 500, "InternalServerError", "an internal error has occurred. Please retry.")       \
    X(NOT_IMPLEMENTED, 501, "NotImplemented", "%s")                                                \
    X(BAD_RESPONSE, 502, "BadResponse", "BadResponse: %s")                                         \
    X(FUNCTION_NOT_STARTED, 502, "FunctionNotStarted",                                             \
      "The CA's http server cannot be started:%s")                                                 \
    X(RESOURCE_THROTTLED, 503, "ResourceThrottled", "%s")

enum fc_error {
#define FC_ERROR_ENUM(name, status, code, message) FC_ERR_##name,
    FC_ERROR_TABLE(FC_ERROR_ENUM)
#undef FC_ERROR_ENUM
        FC_ERR_COUNT
};

/* HTTP status and FC code of an error. */
int fc_error_status(enum fc_error err);
const char *fc_error_code(enum fc_error err);

/* Render the JSON body of `err` into buf[0..cap): the message is the row's
 * template formatted with the variadic arguments, JSON-escaped.
 * Returns the body length (< cap), or -ENOSPC when cap is too small (buf
 * then holds nothing useful). request_id is borrowed for the call. */
int fc_error_json(char *buf, size_t cap, enum fc_error err, const char *request_id, ...);
/* The same with the template's arguments as a va_list. */
int fc_error_vjson(char *buf, size_t cap, enum fc_error err, const char *request_id, va_list ap);

/* Escape `len` bytes of src as the inside of a JSON string into dst[0..cap).
 * Returns the escaped length, or -ENOSPC. Used for any JSON fcd writes by hand. */
int fc_json_escape(char *dst, size_t cap, const char *src, size_t len);

#endif
