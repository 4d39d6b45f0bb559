/* test_buf.c — core/buf: growth, printf, base64 against RFC 4648 vectors. */
#include "tests/unit/test.h"

#include "core/buf.h"

FC_TEST(buf_append_printf) {
    struct fc_buf b = {0};
    for (int i = 0; i < 1000; i++)
        FC_CHECK(fc_buf_printf(&b, "%d,", i) == 0);
    FC_CHECK(b.len > 3000 && b.cap >= b.len);
    FC_CHECK(memcmp(b.data, "0,1,2,", 6) == 0);
    FC_CHECK(memcmp(b.data + b.len - 4, "999,", 4) == 0);
    FC_CHECK(fc_buf_append(&b, "x", 1) == 0 && b.data[b.len - 1] == 'x');
    fc_buf_free(&b);
    FC_CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

FC_TEST(buf_base64_vectors) {
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                        "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        struct fc_buf b = {0};
        FC_CHECK(fc_buf_base64(&b, plain[i], strlen(plain[i])) == 0);
        FC_CHECK_INT(b.len, strlen(coded[i]));
        if (b.len > 0)
            FC_CHECK_SLICE(b.data, b.len, coded[i]);
        fc_buf_free(&b);
    }
    struct fc_buf b = {0};
    const unsigned char bin[] = {0xff, 0x00, 0xfe};
    FC_CHECK(fc_buf_base64(&b, bin, 3) == 0);
    FC_CHECK_SLICE(b.data, b.len, "/wD+");
    fc_buf_free(&b);
}

FC_TEST(str_copy_cuts_and_terminates) {
    char small[4];
    fc_str_copy(small, sizeof(small), "abcdef", 6); /* cut to cap - 1 */
    FC_CHECK(strcmp(small, "abc") == 0);
    fc_str_copy(small, sizeof(small), "xyz!", 2); /* only len bytes, src needs no NUL */
    FC_CHECK(strcmp(small, "xy") == 0);
    fc_str_copy(small, sizeof(small), "", 0);
    FC_CHECK(small[0] == '\0');
    char one[1];
    fc_str_copy(one, sizeof(one), "q", 1);
    FC_CHECK(one[0] == '\0');
}
