/* test_entropy.c: entropy stages and the alpha plane coder: round trips and damaged streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "alpha.h"
#include "entropy.h"
#include "quant.h"

static uint32_t rng_state = 12345;

static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

#define TEST_CHANNELS 8

/* A model with one quality whose tables differ in their largest frequency, so the zstd stage reorders. */
static ModelFile test_model;
static ModelCdf test_cdfs[TEST_CHANNELS];
static uint16_t test_freqs[TEST_CHANNELS][4];

static const ModelFile *model_of(uint32_t channels)
{
    test_model = (ModelFile){.latent_channels = channels, .quality_count = 1, .precision = 16, .cdfs = test_cdfs};
    for (uint32_t c = 0; c < channels; c++) {
        uint16_t top = (uint16_t)(60000 - 1000 * ((c * 5) % TEST_CHANNELS));
        test_freqs[c][0] = 100;
        test_freqs[c][1] = top;
        test_freqs[c][2] = (uint16_t)(65536 - 101 - top);
        test_freqs[c][3] = 1;
        test_cdfs[c] = (ModelCdf){-1, 3, test_freqs[c]};
    }
    return &test_model;
}

static void round_trip(const EntropyStage *stage, const int32_t *sym, uint32_t c, uint32_t h, uint32_t w)
{
    EntropyParams p = {model_of(c), 0, c, h, w, 2};
    EntropyStreams s;
    assert_int_equal(stage->encode(&p, sym, &s), 0);
    assert_true(s.count >= 1);
    const uint8_t *streams[64];
    size_t off = 0;
    for (uint32_t i = 0; i < s.count; i++) {
        streams[i] = s.data + off;
        off += s.sizes[i];
    }
    assert_int_equal(off, s.size);
    size_t n = (size_t)c * h * w;
    int32_t *back = malloc(n * sizeof *back);
    assert_non_null(back);
    assert_int_equal(stage->decode(&p, streams, s.sizes, s.count, back), 0);
    assert_memory_equal(back, sym, n * sizeof *sym);

    /* Every truncation and a byte flip anywhere must be refused, never read out of bounds. */
    for (size_t cut = 0; cut < s.sizes[0]; cut += 1 + s.sizes[0] / 64) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, streams[0], cut);
        const uint8_t *one[1] = {copy};
        size_t sizes[1] = {cut};
        assert_int_equal(stage->decode(&p, one, sizes, 1, back), AECIMG_ERR_ENTROPY);
        free(copy);
    }
    for (size_t at = 0; at < s.sizes[0]; at += 1 + s.sizes[0] / 64) {
        uint8_t *copy = malloc(s.sizes[0]);
        memcpy(copy, streams[0], s.sizes[0]);
        copy[at] ^= (uint8_t)(1 + rnd() % 255);
        const uint8_t *one[1] = {copy};
        assert_int_equal(stage->decode(&p, one, s.sizes, 1, back), AECIMG_ERR_ENTROPY);
        free(copy);
    }
    free(back);
    entropy_streams_free(&s);
}

static void test_zstd_random_and_extreme(void **state)
{
    (void)state;
    const uint32_t c = TEST_CHANNELS - 1, h = 5, w = 9;
    int32_t sym[(TEST_CHANNELS - 1) * 5 * 9];
    for (size_t i = 0; i < sizeof sym / sizeof *sym; i++)
        sym[i] = (int32_t)(rnd() % 21) - 10;
    round_trip(&entropy_zstd, sym, c, h, w);
    /* Extremes of the magnitude varints. */
    sym[0] = -QUANT_MAX_SYMBOL;
    sym[1] = QUANT_MAX_SYMBOL;
    sym[2] = -1;
    sym[3] = 2;
    round_trip(&entropy_zstd, sym, c, h, w);
    EntropyParams p = {model_of(c), 0, c, h, w, 1};
    EntropyStreams s;
    sym[4] = QUANT_MAX_SYMBOL + 1;
    assert_int_equal(entropy_zstd.encode(&p, sym, &s), AECIMG_ERR_INVALID_ARGUMENT);
    assert_null(s.data);
    memset(sym, 0, sizeof sym);
    round_trip(&entropy_zstd, sym, c, h, w);
}

static void test_zstd_wrong_shape(void **state)
{
    (void)state;
    int32_t sym[24] = {0};
    EntropyParams p = {model_of(2), 0, 2, 3, 4, 1};
    EntropyStreams s;
    assert_int_equal(entropy_zstd.encode(&p, sym, &s), 0);
    const uint8_t *streams[1] = {s.data};
    int32_t back[48];
    EntropyParams bigger = {p.model, 0, 2, 6, 4, 1};
    assert_int_equal(entropy_zstd.decode(&bigger, streams, s.sizes, 1, back), AECIMG_ERR_ENTROPY);
    EntropyParams smaller = {p.model, 0, 2, 1, 4, 1};
    assert_int_equal(entropy_zstd.decode(&smaller, streams, s.sizes, 1, back), AECIMG_ERR_ENTROPY);
    assert_int_equal(entropy_zstd.decode(&p, streams, s.sizes, 2, back), AECIMG_ERR_ENTROPY);
    EntropyParams other = {p.model, 0, 3, 3, 4, 1}; /* not the model's channel count */
    assert_int_equal(entropy_zstd.decode(&other, streams, s.sizes, 1, back), AECIMG_ERR_INVALID_ARGUMENT);
    entropy_streams_free(&s);
    assert_ptr_equal(entropy_stage(AECIMG_ENTROPY_ZSTD), &entropy_zstd);
    assert_null(entropy_stage(99));
}

/* The worked example of doc/container.md: channels ordered 0, 2, 1 by their tables' largest frequency. */
static void test_zstd_layout(void **state)
{
    (void)state;
    const int32_t sym[3] = {0, 5, -1};
    EntropyParams p = {model_of(3), 0, 3, 1, 1, 1};
    EntropyStreams s;
    assert_int_equal(entropy_zstd.encode(&p, sym, &s), 0);
    uint8_t raw[16];
    assert_int_equal(ZSTD_decompress(raw, sizeof raw, s.data, s.size), 4);
    assert_memory_equal(raw, "\x06\x01\x02\x03", 4);
    entropy_streams_free(&s);
}

/* Decodes a hand-made content in an intact frame (checksum and all): only the layout parser can refuse it. */
static int decode_content(const char *raw, size_t size, int32_t *back)
{
    uint8_t frame[64];
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    assert_non_null(cctx);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)));
    size_t n = ZSTD_compress2(cctx, frame, sizeof frame, raw, size);
    ZSTD_freeCCtx(cctx);
    assert_false(ZSTD_isError(n));
    EntropyParams p = {model_of(3), 0, 3, 1, 1, 1};
    const uint8_t *streams[1] = {frame};
    return entropy_zstd.decode(&p, streams, &n, 1, back);
}

static void test_zstd_bad_content(void **state)
{
    (void)state;
    int32_t back[3];
    assert_int_equal(decode_content("\x06\x01\x02\xfe\xff\x3f", 6, back), 0);
    assert_int_equal(back[0], 0);
    assert_int_equal(back[1], QUANT_MAX_SYMBOL);
    assert_int_equal(back[2], -1);
    static const struct {
        const char *raw;
        size_t size;
    } bad[] = {
        {"\x0e\x01\x02\x03", 4},         /* padding bit of the zero map */
        {"\x06\x05\x02\x03", 4},         /* padding bit of the sign map */
        {"\x06\x01\x06\x03", 4},         /* padding bit of the magnitude map */
        {"\x06\x01", 2},                 /* magnitude map missing */
        {"\x06\x01\x02", 3},             /* varint missing */
        {"\x06\x01\x02\x03\x00", 5},     /* a byte left over */
        {"\x06\x01\x02\xff\xff\x3f", 6}, /* magnitude 2^20 + 1 */
        {"\x06\x01\x02\x80\x80\x80\x00", 7}, /* varint of 4 bytes */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(decode_content(bad[i].raw, bad[i].size, back), AECIMG_ERR_ENTROPY);
}

static void test_alpha_round_trip(void **state)
{
    (void)state;
    const uint32_t w = 37, h = 11, ch = 4;
    uint8_t px[37 * 11 * 4], back[37 * 11 * 4];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)rnd();
    uint8_t *coded;
    size_t size;
    assert_int_equal(alpha_encode(px, w, h, ch, 3, &coded, &size), 0);
    memset(back, 0, sizeof back);
    assert_int_equal(alpha_decode(coded, size, back, w, h, ch, 3), 0);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        assert_int_equal(back[i * ch + 3], px[i * ch + 3]);
        assert_int_equal(back[i * ch], 0); /* other channels untouched */
    }
    /* The plane must fill the image exactly. */
    assert_int_equal(alpha_decode(coded, size, back, w, h - 1, ch, 3), AECIMG_ERR_CORRUPT);
    assert_int_equal(alpha_decode(coded, size - 1, back, w, h, ch, 3), AECIMG_ERR_CORRUPT);
    free(coded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zstd_random_and_extreme),
        cmocka_unit_test(test_zstd_wrong_shape),
        cmocka_unit_test(test_zstd_layout),
        cmocka_unit_test(test_zstd_bad_content),
        cmocka_unit_test(test_alpha_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
