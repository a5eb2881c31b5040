/* test_model.c: the model-file loader accepts the committed tiny model and refuses damaged variants;
 * SHA-256, which identifies models, against FIPS 180-4 and its portable version. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "model_builder.h"
#include "model_file.h"
#include "network.h"
#include "nn/nn.h"
#include "sha256.h"

static uint8_t *model_bytes;
static size_t model_size;

static int load_fixture(void **state)
{
    (void)state;
    const char *dir = getenv("AECIMG_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/vectors/tiny.aecm", dir && *dir ? dir : ".");
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    model_size = (size_t)ftell(f);
    rewind(f);
    model_bytes = malloc(model_size);
    size_t got = fread(model_bytes, 1, model_size, f);
    fclose(f);
    return got == model_size ? 0 : -1;
}

static int free_fixture(void **state)
{
    (void)state;
    free(model_bytes);
    return 0;
}

static uint8_t *copy_model(void)
{
    uint8_t *c = malloc(model_size);
    assert_non_null(c);
    memcpy(c, model_bytes, model_size);
    return c;
}

/* Recomputes the trailing SHA-256 so a test reaches the structural check it aims at. */
static void rehash(uint8_t *data, size_t size)
{
    sha256(data, size - 32, data + size - 32);
}

static int parse(const uint8_t *data, size_t size)
{
    ModelFile m;
    int err = model_file_parse(data, size, &m);
    if (err == 0)
        model_file_free(&m);
    return err;
}

/* Offset of a section's payload in the file. */
static size_t section(const uint8_t *data, const char *tag)
{
    size_t pos = 16;
    for (uint32_t i = 0; i < load_le32(data + 12); i++) {
        size_t len = (size_t)load_le64(data + pos + 8);
        if (memcmp(data + pos, tag, 4) == 0)
            return pos + 16;
        pos += 16 + len;
        pos += (8 - pos % 8) % 8;
    }
    fail_msg("no section %s", tag);
    return 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static void test_valid_model(void **state)
{
    (void)state;
    ModelFile m;
    assert_int_equal(model_file_parse(model_bytes, model_size, &m), 0);
    assert_int_equal(m.latent_channels, 12);
    assert_int_equal(m.stride, 16);
    assert_int_equal(m.quality_count, MODEL_QUALITIES);
    assert_memory_equal(m.name, "tiny-test-", 10);
    char buf[64];
    assert_int_equal(model_file_meta(&m, "description", buf, sizeof buf), 0);
    assert_string_equal(buf, "conformance only");
    assert_int_equal(model_file_meta(&m, "nope", buf, sizeof buf), -1);
    assert_int_equal(model_file_meta(&m, "description", buf, 4), -1);
    uint8_t digest[32];
    sha256(model_bytes, model_size - 32, digest);
    assert_memory_equal(m.hash, digest, 32);
    model_file_free(&m);
}

static void test_truncated_and_flipped(void **state)
{
    (void)state;
    for (size_t cut = 0; cut < model_size; cut += 1 + model_size / 97) {
        uint8_t *c = malloc(cut ? cut : 1);
        memcpy(c, model_bytes, cut);
        assert_int_equal(parse(c, cut), AECIMG_ERR_MODEL_INVALID);
        free(c);
    }
    uint8_t *c = copy_model();
    for (size_t at = 0; at < model_size; at += 1 + model_size / 131) {
        c[at] ^= 0x10;
        assert_int_equal(parse(c, model_size), AECIMG_ERR_MODEL_INVALID);
        c[at] ^= 0x10;
    }
    assert_int_equal(parse(c, model_size), 0);
    free(c);
}

typedef void (*Mutation)(uint8_t *data);

static void bad_signature(uint8_t *d) { d[1] = 'X'; }
static void bad_version(uint8_t *d) { put_le32(d + 8, 2); }
static void bad_section_count(uint8_t *d) { put_le32(d + 12, 4); }
static void bad_reserved(uint8_t *d) { put_le32(d + 16 + 4, 1); }
static void arch_latent_channels(uint8_t *d) { put_le32(d + section(d, "ARCH") + 4, 13); }
static void arch_conv_cout(uint8_t *d) { put_le32(d + section(d, "ARCH") + 16 + 4 + 4, 9); }
static void arch_conv_kernel_even(uint8_t *d) { put_le32(d + section(d, "ARCH") + 16 + 4 + 8, 4); }
static void arch_unknown_op(uint8_t *d) { d[section(d, "ARCH") + 16 + 1] = 9; }
static void arch_tensor_index(uint8_t *d) { put_le32(d + section(d, "ARCH") + 16 + 20, 5000); }
static void arch_wrong_tensor(uint8_t *d) { put_le32(d + section(d, "ARCH") + 16 + 20, 1); /* the bias */ }
static void arch_stride(uint8_t *d) { put_le32(d + section(d, "ARCH") + 8, 8); }
static void rate_negative_gain(uint8_t *d) { put_le32(d + section(d, "RATE") + 8, 0xbf800000u); /* -1.0f */ }
static void rate_nan(uint8_t *d) { put_le32(d + section(d, "RATE") + 12, 0x7fc00000u); }
static void rate_wrong_count(uint8_t *d) { put_le32(d + section(d, "RATE"), 100); }
static void cdf_precision(uint8_t *d) { put_le32(d + section(d, "CDFS"), 17); }

static size_t cdf_freq_offset(const uint8_t *d)
{
    size_t s = section(d, "CDFS");
    return s + 16 + 12 * (size_t)load_le32(d + s + 4) * load_le32(d + s + 8);
}

static void cdf_zero_frequency(uint8_t *d)
{
    /* Move the first frequency's weight to the second, leaving a zero: the sum stays right. */
    uint8_t *f = d + cdf_freq_offset(d);
    uint16_t a = (uint16_t)(f[0] | f[1] << 8), b = (uint16_t)(f[2] | f[3] << 8);
    b = (uint16_t)(b + a);
    f[0] = f[1] = 0;
    f[2] = (uint8_t)b, f[3] = (uint8_t)(b >> 8);
}

static void cdf_bad_sum(uint8_t *d) { d[cdf_freq_offset(d)] ^= 1; }
static void cdf_offset_past_end(uint8_t *d) { put_le32(d + section(d, "CDFS") + 16 + 8, 0x7fffffffu); }
static void cdf_symbol_count(uint8_t *d) { put_le32(d + section(d, "CDFS") + 16 + 4, 0); }

static void tens_nan(uint8_t *d)
{
    size_t t = section(d, "TENS");
    size_t name_len = (size_t)d[t + 4] | (size_t)d[t + 5] << 8;
    size_t data = t + 4 + 2 + name_len + 2 + 4 * d[t + 4 + 2 + name_len + 1];
    put_le32(d + data, 0x7f800000u); /* +inf in the first float32 weight */
}

static void tens_bad_type(uint8_t *d)
{
    size_t t = section(d, "TENS");
    size_t name_len = (size_t)d[t + 4] | (size_t)d[t + 5] << 8;
    d[t + 4 + 2 + name_len] = 7;
}

static void meta_no_name(uint8_t *d) { memcpy(d + section(d, "META"), "nbme", 4); }

static void test_structural_damage(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        Mutation mutate;
    } cases[] = {
        {"signature", bad_signature}, {"version", bad_version}, {"section count", bad_section_count},
        {"reserved", bad_reserved}, {"latent channels", arch_latent_channels}, {"conv cout", arch_conv_cout},
        {"even kernel", arch_conv_kernel_even}, {"unknown op", arch_unknown_op},
        {"tensor index", arch_tensor_index}, {"tensor shape", arch_wrong_tensor}, {"total stride", arch_stride},
        {"negative gain", rate_negative_gain}, {"NaN offset", rate_nan}, {"quality count", rate_wrong_count},
        {"precision", cdf_precision}, {"zero frequency", cdf_zero_frequency}, {"frequency sum", cdf_bad_sum},
        {"table offset", cdf_offset_past_end}, {"symbol count", cdf_symbol_count},
        {"infinite weight", tens_nan}, {"tensor type", tens_bad_type}, {"no name", meta_no_name},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint8_t *c = copy_model();
        cases[i].mutate(c);
        rehash(c, model_size);
        int err = parse(c, model_size);
        if (err != AECIMG_ERR_MODEL_INVALID)
            fail_msg("%s: expected MODEL_INVALID, got %d", cases[i].what, err);
        free(c);
    }
}

/* The kernels take GDNs of up to NN_GDN_MAX_CHANNELS (1024) channels: a model with a wider one is
 * invalid, not a reason for aecimg_open to report running out of memory. */
static void test_gdn_channel_limit(void **state)
{
    (void)state;
    static const struct {
        uint32_t channels;
        int err;
    } cases[] = {{8, 0}, {1024, 0}, {1025, AECIMG_ERR_MODEL_INVALID}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t size;
        const TestModelShape shape = {.gdn_channels = cases[i].channels, .latent_channels = 1, .symbols = 4,
                                     .precision = 12};
        uint8_t *data = test_model_build(&shape, &size);
        int err = parse(data, size);
        if (err != cases[i].err)
            fail_msg("GDN of %u channels: got %d, expected %d", cases[i].channels, err, cases[i].err);
        if (err == 0) {
            /* ... and it loads, networks included. */
            char path[] = "aec-test-model.XXXXXX"; /* in the build directory, where make check runs */
            test_model_write(path, data, size);
            AecimgSettings s;
            aecimg_default_settings(&s);
            s.model_path = path;
            AecimgContext *ctx = NULL;
            assert_int_equal(aecimg_open(&ctx, &s), 0);
            aecimg_close(&ctx);
            unlink(path);
        }
        free(data);
    }
}

/* Image channels 1 (gray) and 3 load with strides 2 to 8, networks included; 0, 2 and 4 are refused
 * even where the layers chain consistently from them. */
static void test_image_channels(void **state)
{
    (void)state;
    for (uint32_t channels = 0; channels <= 4; channels++)
        for (uint32_t layout = 0; layout <= 6; layout++) {
            const uint32_t stages = (layout + 1) / 2; /* 0; then 1 to 3, each ending in a shuffle or a conv */
            const TestModelShape shape = {.gdn_channels = 4, .latent_channels = 2, .symbols = 4, .precision = 12,
                                          .image_channels = channels, .stages = stages,
                                          .direct_output = layout && layout % 2 == 0};
            size_t size;
            uint8_t *data = test_model_build(&shape, &size);
            ModelFile m;
            const int valid = channels == 1 || channels == 3;
            if (channels == 0) { /* the builder's 0 means 3: write 0 over it */
                put_le32(data + section(data, "ARCH"), 0);
                rehash(data, size);
            }
            const int err = model_file_parse(data, size, &m);
            if (err != (valid ? 0 : AECIMG_ERR_MODEL_INVALID))
                fail_msg("%u image channels, %u stages: got %d", channels, stages, err);
            if (valid) {
                assert_int_equal(m.image_channels, channels);
                assert_int_equal(m.stride, stages ? 1u << stages : 2);
                NnKernels k;
                nn_kernels_init(&k, nn_cpu_detect());
                Network net;
                for (uint32_t which = MODEL_NET_ANALYSIS; which <= MODEL_NET_SYNTHESIS; which++) {
                    assert_int_equal(network_build(&net, &m, which, &k, 1), 0);
                    network_free(&net);
                }
                model_file_free(&m);
            }
            free(data);
        }
}

/* The fuzzer's gray seed is a valid gray model, so that mutations start from one. */
static void test_gray_fuzz_seed(void **state)
{
    (void)state;
    const char *dir = getenv("AECIMG_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/fuzz/corpus/fuzz_model/min-model-gray.aecm", dir && *dir ? dir : ".");
    ModelFile m;
    assert_int_equal(model_file_load(path, &m), 0);
    assert_int_equal(m.image_channels, 1);
    model_file_free(&m);
}

static void test_load_errors(void **state)
{
    (void)state;
    ModelFile m;
    assert_int_equal(model_file_load("/nonexistent/dir/model.aecm", &m), AECIMG_ERR_MODEL_NOT_FOUND);
    assert_int_equal(model_file_load("/dev/null", &m), AECIMG_ERR_MODEL_INVALID);
}

/* ---------------------------------------------------------------- SHA-256 */

static void hex_digest(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* FIPS 180-4 examples, through whichever block function the CPU gets. */
static void test_sha256_known_digests(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *digest;
    } cases[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    uint8_t d[32];
    char hex[65];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sha256((const uint8_t *)cases[i].text, strlen(cases[i].text), d);
        hex_digest(d, hex);
        assert_string_equal(hex, cases[i].digest);
    }
    size_t n = 1000000;
    uint8_t *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    sha256(a, n, d);
    hex_digest(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* The SHA-extension blocks against the portable ones: random states, data and block counts. */
static void test_sha256_x86_matches_c(void **state)
{
    (void)state;
#if HAVE_X86_SIMD
    if (!sha256_x86_available())
        skip();
    uint8_t data[64 * 37];
    uint32_t seed = 12345;
    for (int trial = 0; trial < 200; trial++) {
        uint32_t hc[8], hx[8];
        for (size_t i = 0; i < sizeof data; i++)
            data[i] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 24);
        for (int i = 0; i < 8; i++)
            hc[i] = hx[i] = (seed = seed * 1103515245u + 12345u);
        size_t blocks = (size_t)trial % 38;
        sha256_blocks_c(hc, data, blocks);
        sha256_blocks_x86(hx, data, blocks);
        assert_memory_equal(hc, hx, sizeof hc);
    }
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_known_digests),
        cmocka_unit_test(test_sha256_x86_matches_c),
        cmocka_unit_test(test_valid_model),
        cmocka_unit_test(test_truncated_and_flipped),
        cmocka_unit_test(test_structural_damage),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_gdn_channel_limit),
        cmocka_unit_test(test_image_channels),
        cmocka_unit_test(test_gray_fuzz_seed),
    };
    return cmocka_run_group_tests(tests, load_fixture, free_fixture);
}
