/* list.h — every unit test, grouped by module. X(name) declares
 * fc_test_<name>, defined with FC_TEST(name) in tests/unit/test_<module>.c. */
#define FC_TEST_LIST(X)                                                                            \
    /* core/wheel */                                                                               \
    X(wheel_fires_in_order)                                                                        \
    X(wheel_cancel)                                                                                \
    X(wheel_far_future_cascades)                                                               \
    X(wheel_random_against_model)                                                              \
    /* core/reqid */                                                                               \
    X(reqid_format)                                                                                \
    X(reqid_unique_across_threads)                                                                 \
    /* core/errors */                                                                              \
    X(errors_json_body)                                                                            \
    /* core/config */                                                                              \
    X(config_defaults)                                                                             \
    X(config_file_and_flags)                                                                       \
    X(config_unknown_key_named)                                                                    \
    X(config_bad_value_named)                                                                      \
    /* io/router */                                                                                \
    X(router_paths)                                                                                \
    /* io/http */                                                                                  \
    X(http_reason)
