/* list.h — every unit test, grouped by module. X(name) declares
 * fc_test_<name>, defined with FC_TEST(name) in tests/unit/test_<module>.c. */
#define FC_TEST_LIST(X)                                                                            \
    /* core/wheel */                                                                               \
    X(wheel_fires_in_order)                                                                        \
    X(wheel_cancel)                                                                                \
    X(wheel_far_future_cascades)                                                                   \
    X(wheel_random_against_model)                                                                  \
    /* core/ring */                                                                                \
    X(ring_burst_and_wrap)                                                                         \
    X(ring_two_threads_in_order)                                                                   \
    X(ring_sleep_flag)                                                                             \
    /* core/buf */                                                                                 \
    X(buf_append_printf)                                                                           \
    X(buf_base64_vectors)                                                                          \
    X(str_copy_cuts_and_terminates)                                                                \
    /* core/registry */                                                                            \
    X(registry_json_and_defaults)                                                                  \
    X(registry_flag)                                                                               \
    X(registry_errors_name_the_key)                                                                \
    X(registry_names)                                                                              \
    X(registry_publish_and_views)                                                                  \
    /* core/apidoc */                                                                              \
    X(apidoc_read_keys_types_ranges)                                                               \
    X(apidoc_trigger_config_string_merge_public)                                                   \
    X(apidoc_build_function)                                                                       \
    X(apidoc_bootstrap_round_trip)                                                                 \
    /* store/code */                                                                               \
    X(code_crc64_vectors)                                                                          \
    X(code_unpack_modes_and_contents)                                                              \
    X(code_windows_bootstrap_exec)                                                                 \
    X(code_dot_components_dropped)                                                                 \
    X(code_bad_names_rejected)                                                                     \
    X(code_nul_in_name_rejected)                                                                   \
    X(code_symlink_inside_kept)                                                                    \
    X(code_symlink_escape_rejected)                                                                \
    X(code_entry_under_symlink_rejected)                                                           \
    X(code_special_files_rejected)                                                                 \
    X(code_duplicate_names_rejected)                                                               \
    X(code_entries_limit)                                                                          \
    X(code_zip_bomb)                                                                               \
    X(code_limits_count_written_bytes)                                                             \
    X(code_ratio_floor)                                                                            \
    X(code_zip_bytes_limit)                                                                        \
    X(code_encrypted_rejected)                                                                     \
    X(code_unsupported_method_rejected)                                                            \
    X(code_malformed_zips)                                                                         \
    X(code_dest_exists)                                                                            \
    X(code_many_files)                                                                             \
    X(code_remove_deep_tree_no_follow)                                                             \
    X(code_remove_stops_when_tree_moves)                                                           \
    /* store/catalog */                                                                            \
    X(catalog_store_apply_load_reopen)                                                             \
    /* core/cron */                                                                                \
    X(cron_next_firings)                                                                           \
    X(cron_parse_errors)                                                                           \
    /* core/invocation */                                                                          \
    X(invocation_fc_headers)                                                                       \
    /* core/log */                                                                                 \
    X(log_access_line)                                                                             \
    X(log_access_target_is_cut)                                                                    \
    X(log_event_line_and_levels)                                                                   \
    /* core/reqid */                                                                               \
    X(reqid_format)                                                                                \
    X(reqid_time_ordered)                                                                          \
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
    /* io/response */                                                                              \
    X(response_head_fields)                                                                        \
    X(response_error_json_and_head)                                                                \
    /* io/http */                                                                                  \
    X(http_simple_get)                                                                             \
    X(http_post_content_length)                                                                    \
    X(http_keep_alive_rules)                                                                       \
    X(http_connection_list)                                                                        \
    X(http_case_insensitive_names)                                                                 \
    X(http_ows_stripped)                                                                           \
    X(http_method_ids)                                                                             \
    X(http_target_forms)                                                                           \
    X(http_leading_empty_lines)                                                                    \
    X(http_pipelined)                                                                              \
    X(http_byte_by_byte)                                                                           \
    X(http_malformed_table)                                                                        \
    X(http_error_reasons)                                                                          \
    X(http_head_bytes_limit)                                                                       \
    X(http_header_count_limit)                                                                     \
    X(http_header_find)                                                                            \
    X(http_chunked_whole)                                                                          \
    X(http_chunked_byte_by_byte)                                                                   \
    X(http_chunked_extensions)                                                                     \
    X(http_chunked_trailers)                                                                       \
    X(http_chunked_bad)                                                                            \
    X(http_chunked_body_max)                                                                       \
    X(http_chunked_pipelined)                                                                      \
    X(http_random_splits)                                                                          \
    X(http_reason)                                                                                 \
    /* core/auth */                                                                                \
    X(auth_sdk_vectors)                                                                            \
    X(auth_canonical_strings)                                                                      \
    X(auth_signed_url_go_vectors)                                                                  \
    X(auth_signed_url)                                                                             \
    X(auth_date_skew_boundary)                                                                     \
    X(auth_x_fc_date)                                                                              \
    X(auth_unknown_key)                                                                            \
    X(auth_missing_and_malformed)                                                                  \
    X(auth_tampered)                                                                               \
    X(auth_signature_compare)                                                                      \
    X(auth_header_name_case)                                                                       \
    X(auth_account)                                                                                \
    X(auth_limits)                                                                                 \
    X(auth_sign_errors)                                                                            \
    X(auth_guarded_target)                                                                         \
    X(auth_dates)                                                                                  \
    X(auth_status_table)                                                                           \
    /* store/record */                                                                             \
    X(record_round_trip_every_field)                                                               \
    X(record_limits)                                                                               \
    X(record_ids_and_states)                                                                       \
    X(record_unknown_version_rejected)                                                             \
    X(record_corrupt_input_never_crashes)                                                          \
    X(record_decodes_wide_encodings)                                                               \
    X(record_crc32c_vectors)                                                                       \
    /* store/jobs */                                                                               \
    X(store_append_get)                                                                            \
    X(store_duplicate_ids)                                                                         \
    X(store_due_order)                                                                             \
    X(store_updates_keep_indexes)                                                                  \
    X(store_list_filters_pagination)                                                               \
    X(store_map_full_grows)                                                                        \
    X(store_fault_injection)                                                                       \
    X(store_recover_leases)                                                                        \
    X(store_readers_during_growth)                                                                 \
    X(store_crash_kill9_acked_survive)                                                             \
    /* runtime-shim/fcrt */                                                                        \
    X(fcrt_keep_alive)                                                                             \
    X(fcrt_pipelined_in_order)                                                                     \
    X(fcrt_chunked_body)                                                                           \
    X(fcrt_control_paths)                                                                          \
    X(fcrt_http_request_fields)                                                                    \
    X(fcrt_log_markers)                                                                            \
    X(fcrt_failure_404)                                                                            \
    X(fcrt_malformed_400)                                                                          \
    X(fcrt_head_too_large)                                                                         \
    X(fcrt_connection_close)                                                                       \
    X(fcrt_many_connections)                                                                       \
    X(fcrt_big_bodies)                                                                             \
    X(fcrt_expect_continue)                                                                        \
    X(fcrt_response_api)                                                                           \
    X(fcrt_half_close)                                                                             \
    X(fcrt_port_from_env)                                                                          \
    X(fcshim_session_and_code_dir)                                                                 \
    X(fcshim_exit_codes)                                                                           \
    X(fcshim_limits_and_ids)
