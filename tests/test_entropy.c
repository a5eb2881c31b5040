/* test_entropy.c: entropy stages and the alpha plane coder: round trips and damaged streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alpha.h"
#include "entropy.h"

static uint32_t rng_state = 12345;

static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static void round_trip(const EntropyStage *stage, const int32_t *sym, uint32_t c, uint32_t h, uint32_t w)
{
    EntropyParams p = {NULL, 50, c, h, w, 2};
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
    const uint32_t c = 7, h = 5, w = 9;
    int32_t sym[7 * 5 * 9];
    for (size_t i = 0; i < sizeof sym / sizeof *sym; i++)
        sym[i] = (int32_t)(rnd() % 21) - 10;
    round_trip(&entropy_zstd, sym, c, h, w);
    /* Extremes of the varint/zigzag mapping. */
    sym[0] = INT32_MIN;
    sym[1] = INT32_MAX;
    sym[2] = -1;
    sym[3] = 1 << 20;
    round_trip(&entropy_zstd, sym, c, h, w);
    memset(sym, 0, sizeof sym);
    round_trip(&entropy_zstd, sym, c, h, w);
}

static void test_zstd_wrong_shape(void **state)
{
    (void)state;
    int32_t sym[24] = {0};
    EntropyParams p = {NULL, 50, 2, 3, 4, 1};
    EntropyStreams s;
    assert_int_equal(entropy_zstd.encode(&p, sym, &s), 0);
    const uint8_t *streams[1] = {s.data};
    int32_t back[48];
    EntropyParams bigger = {NULL, 50, 4, 3, 4, 1};
    assert_int_equal(entropy_zstd.decode(&bigger, streams, s.sizes, 1, back), AECIMG_ERR_ENTROPY);
    EntropyParams smaller = {NULL, 50, 1, 3, 4, 1};
    assert_int_equal(entropy_zstd.decode(&smaller, streams, s.sizes, 1, back), AECIMG_ERR_ENTROPY);
    assert_int_equal(entropy_zstd.decode(&p, streams, s.sizes, 2, back), AECIMG_ERR_ENTROPY);
    entropy_streams_free(&s);
    assert_ptr_equal(entropy_stage(AECIMG_ENTROPY_ZSTD), &entropy_zstd);
    assert_null(entropy_stage(99));
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
        cmocka_unit_test(test_alpha_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
