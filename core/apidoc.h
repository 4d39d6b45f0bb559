/* apidoc.h — FC 2.0 management documents (CONTRACT.md §5.2–5.5): checking
 * request bodies, and turning stored documents into the fc_function the
 * data plane runs.
 *
 * A document is a jansson object with FC's field names. Request bodies are
 * read as FC's Go server reads JSON: keys match case-insensitively
 * ("TimeOut" is "timeout"; the Python SDK's tests rely on it), unknown keys
 * are ignored (not stored, not echoed), a known key of the wrong type or out
 * of range is 400 InvalidArgument with a message naming it.
 *
 * Stored documents carry fcd's own fields under a "fcd" prefix (code
 * directory, bootstrap marker); fc_apidoc_public strips them from answers.
 *
 * Pure functions of their arguments; any thread (the ctl thread uses them).
 * Objects returned are new references the caller owns. */
#ifndef FC_APIDOC_H
#define FC_APIDOC_H

#include <stdbool.h>

#include "core/registry.h"

typedef struct json_t json_t;

enum fc_apidoc_kind {
    FC_APIDOC_SERVICE,
    FC_APIDOC_FUNCTION,
    FC_APIDOC_TRIGGER,
    FC_APIDOC_ASYNC_CONFIG,
};

/* Read `body` (a request's JSON object) as a document of `kind`: known keys
 * renamed to FC's spelling and type-checked, unknown keys dropped. For a
 * function, `code` is kept (the caller unpacks and removes it). Returns the
 * new document, or NULL with err saying which key is wrong. */
json_t *fc_apidoc_read(enum fc_apidoc_kind kind, json_t *body, char err[FC_ERR_BYTES]);

/* Overlay `update` (a document from fc_apidoc_read) onto a copy of `stored`:
 * FC's Update* semantics, where absent keys keep their value. Returns the
 * merged document (new reference) or NULL on ENOMEM. */
json_t *fc_apidoc_merge(json_t *stored, json_t *update);

/* A copy of doc without fcd's own ("fcd"-prefixed) keys and without `code`:
 * what an API answer shows. */
json_t *fc_apidoc_public(json_t *doc);

/* Build the function service/name from its stored document, its triggers
 * (an object name -> trigger document) and async config (NULL: defaults).
 * The code directory is the document's "fcdCodeDir". Returns a function with
 * one reference and id/uid 0 (the caller places it), or NULL with err set. */
struct fc_function *fc_apidoc_build(const char *service, json_t *fn_doc, json_t *triggers,
                                    json_t *async_config, char err[FC_ERR_BYTES]);

/* The documents equivalent to a bootstrap function (config file or
 * --function flag): its function document (with fcdCodeDir and
 * "fcdBootstrap": true), its triggers (object name -> document) and its
 * async config (NULL when the defaults). Returns 0 or -ENOMEM. */
int fc_apidoc_from_function(const struct fc_function *f, json_t **fn_doc, json_t **triggers,
                            json_t **async_config);

/* FC's ISO 8601 UTC time ("2020-08-20T02:28:21Z") of Unix seconds. */
void fc_apidoc_time(long long unix_s, char out[32]);

#endif
