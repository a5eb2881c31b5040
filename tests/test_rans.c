/* test_rans.c: the rANS stage on synthetic tables: round trips, escapes, exact sizes, damage, code length. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "entropy.h"
#include "quant.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

enum { TABLE_RANDOM, TABLE_PEAKED, TABLE_DETERMINISTIC, TABLE_UNIFORM, TABLE_KINDS };

/* A model with only what the entropy stage reads: one quality, one table per channel. */
typedef struct TestModel {
    ModelFile m;
    ModelCdf cdf[64];
    uint16_t freq[64][4096];
} TestModel;

/* count + 1 frequencies >= 1 summing to 2^precision, shaped by kind. */
static void make_freqs(uint16_t *f, uint32_t count, uint32_t precision, int kind)
{
    const uint32_t total = 1u << precision, n = count + 1;
    uint32_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t w = kind == TABLE_RANDOM ? rnd() % 1000 : kind == TABLE_PEAKED ? 1 + 4000u / (1 + i * i) : 0;
        f[i] = (uint16_t)w;
        sum += w;
    }
    /* Scale to leave every entry at least 1, then give the rest to one symbol. */
    uint32_t spare = total - n, given = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t share = kind == TABLE_DETERMINISTIC ? 0 : sum ? (uint32_t)((uint64_t)f[i] * spare / sum) : spare / n;
        f[i] = (uint16_t)(1 + share);
        given += 1 + share;
    }
    f[kind == TABLE_DETERMINISTIC ? count / 2 : 0] += (uint16_t)(total - given);
}

static void make_model(TestModel *t, uint32_t channels, uint32_t precision, int kind)
{
    memset(&t->m, 0, sizeof t->m);
    t->m.latent_channels = channels;
    t->m.quality_count = 1;
    t->m.precision = precision;
    t->m.cdfs = t->cdf;
    for (uint32_t c = 0; c < channels; c++) {
        uint32_t count = 1 + rnd() % (c % 3 == 0 ? 4 : c % 3 == 1 ? 40 : 700);
        if (count >= 1u << precision)
            count = (1u << precision) - 1;
        make_freqs(t->freq[c], count, precision, kind < 0 ? (int)(c % TABLE_KINDS) : kind);
        t->cdf[c] = (ModelCdf){(int32_t)(rnd() % 41) - 20 - (int32_t)count / 2, count, t->freq[c]};
    }
}

/* A value far outside the table (up to the largest symbol) or just beyond it. */
static int32_t escape_value(const ModelCdf *t)
{
    switch (rnd() % 4) {
    case 0:
        return QUANT_MAX_SYMBOL;
    case 1:
        return -QUANT_MAX_SYMBOL;
    case 2:
        return t->first - 1 - (int32_t)(rnd() % 3);
    default:
        return t->first + (int32_t)t->count + (int32_t)(rnd() % 100000);
    }
}

/* A symbol drawn from the table's own distribution; its escape draws an out-of-table value. */
static int32_t draw(const ModelCdf *t, uint32_t precision)
{
    uint32_t slot = rnd() & ((1u << precision) - 1), s = 0, cum = t->freq[0];
    while (cum <= slot)
        cum += t->freq[++s];
    return s == t->count ? escape_value(t) : t->first + (int32_t)s;
}

static int32_t *draw_symbols(const TestModel *t, uint32_t h, uint32_t w)
{
    size_t plane = (size_t)h * w;
    int32_t *sym = malloc(plane * t->m.latent_channels * sizeof *sym);
    assert_non_null(sym);
    for (uint32_t c = 0; c < t->m.latent_channels; c++)
        for (size_t i = 0; i < plane; i++)
            sym[c * plane + i] = draw(&t->cdf[c], t->m.precision);
    return sym;
}

/* Ideal code length in bits under the tables, escapes included at the cost of the escape code. */
static double ideal_bits(const TestModel *t, const int32_t *sym, uint32_t h, uint32_t w)
{
    const size_t plane = (size_t)h * w;
    double bits = 0;
    for (uint32_t c = 0; c < t->m.latent_channels; c++) {
        const ModelCdf *cdf = &t->cdf[c];
        for (size_t i = 0; i < plane; i++) {
            int64_t idx = (int64_t)sym[c * plane + i] - cdf->first;
            int inside = idx >= 0 && idx < cdf->count;
            bits += t->m.precision - log2(cdf->freq[inside ? idx : cdf->count]);
            if (!inside) {
                uint64_t z = idx < 0 ? 2 * (uint64_t)(-idx - 1) + 1 : 2 * (uint64_t)(idx - cdf->count);
                bits += 5 + floor(log2((double)(z + 1)));
            }
        }
    }
    return bits;
}

static void stream_pointers(const EntropyStreams *s, const uint8_t **ptrs)
{
    size_t off = 0;
    for (uint32_t i = 0; i < s->count; i++) {
        ptrs[i] = s->data + off;
        off += s->sizes[i];
    }
    assert_int_equal(off, s->size);
}

static EntropyStreams encode(const TestModel *t, const int32_t *sym, uint32_t h, uint32_t w, int threads)
{
    EntropyParams p = {&t->m, 0, t->m.latent_channels, h, w, threads};
    EntropyStreams s;
    assert_int_equal(entropy_rans.encode(&p, sym, &s), 0);
    assert_true(s.count >= 1 && s.count <= h);
    return s;
}

static int decode(const TestModel *t, const EntropyStreams *s, uint32_t h, uint32_t w, int threads, int32_t *back)
{
    EntropyParams p = {&t->m, 0, t->m.latent_channels, h, w, threads};
    const uint8_t *ptrs[1024];
    stream_pointers(s, ptrs);
    return entropy_rans.decode(&p, ptrs, s->sizes, s->count, back);
}

/* Encodes at 1, 2 and 3 threads (same bytes), decodes at 1 and 3 (same symbols). */
static EntropyStreams round_trip(const TestModel *t, const int32_t *sym, uint32_t h, uint32_t w)
{
    const size_t n = (size_t)t->m.latent_channels * h * w;
    int32_t *back = malloc(n * sizeof *back);
    assert_non_null(back);
    EntropyStreams s = encode(t, sym, h, w, 1);
    for (int threads = 2; threads <= 3; threads++) {
        EntropyStreams again = encode(t, sym, h, w, threads);
        assert_int_equal(again.count, s.count);
        assert_int_equal(again.size, s.size);
        assert_memory_equal(again.sizes, s.sizes, s.count * sizeof *s.sizes);
        assert_memory_equal(again.data, s.data, s.size);
        entropy_streams_free(&again);
    }
    for (int threads = 1; threads <= 3; threads += 2) {
        memset(back, 0x55, n * sizeof *back);
        assert_int_equal(decode(t, &s, h, w, threads, back), 0);
        assert_memory_equal(back, sym, n * sizeof *sym);
    }
    free(back);
    return s;
}

static void test_known_bytes(void **state)
{
    (void)state;
    /* Worked examples of doc/container.md: state 2^23, precision 12, table {4095, escape 1}. */
    static uint16_t freq[2] = {4095, 1};
    TestModel *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->m = (ModelFile){.latent_channels = 1, .quality_count = 1, .precision = 12, .cdfs = t->cdf};
    t->cdf[0] = (ModelCdf){0, 1, freq};
    int32_t sym = 0;
    EntropyStreams s = round_trip(t, &sym, 1, 1);
    assert_int_equal(s.size, 4);
    assert_memory_equal(s.data, "\x00\x80\x08\x00", 4);
    entropy_streams_free(&s);
    sym = 1; /* just above the table: escape, exponent 0 */
    s = round_trip(t, &sym, 1, 1);
    assert_int_equal(s.size, 6);
    assert_memory_equal(s.data, "\x01\x00\x0f\xff\x00\x00", 6);
    entropy_streams_free(&s);
    free(t);
}

static void test_round_trips(void **state)
{
    (void)state;
    static const uint32_t precisions[] = {12, 14, 16};
    TestModel *t = malloc(sizeof *t);
    assert_non_null(t);
    for (int kind = -1; kind < TABLE_KINDS; kind++) {
        for (size_t k = 0; k < 3; k++) {
            const uint32_t channels = 1 + rnd() % 20, h = 1 + rnd() % 9, w = 1 + rnd() % 13;
            make_model(t, channels, precisions[k], kind);
            int32_t *sym = draw_symbols(t, h, w);
            /* Escapes at the extremes in every table, whatever the draw gave. */
            for (uint32_t c = 0; c < channels; c++)
                sym[(size_t)c * h * w] = c & 1 ? -QUANT_MAX_SYMBOL : QUANT_MAX_SYMBOL;
            EntropyStreams s = round_trip(t, sym, h, w);
            entropy_streams_free(&s);
            free(sym);
        }
    }
    free(t);
}

/* Many streams (a tall image with a large payload), each a band of rows. */
static void test_many_streams(void **state)
{
    (void)state;
    TestModel *t = malloc(sizeof *t);
    assert_non_null(t);
    make_model(t, 16, 16, TABLE_UNIFORM);
    const uint32_t h = 100, w = 512;
    int32_t *sym = draw_symbols(t, h, w);
    EntropyStreams s = round_trip(t, sym, h, w);
    assert_int_equal(s.count, 64);
    entropy_streams_free(&s);
    /* A small payload of the same shape takes fewer streams. */
    make_model(t, 16, 16, TABLE_DETERMINISTIC);
    free(sym);
    sym = draw_symbols(t, h, w);
    s = round_trip(t, sym, h, w);
    assert_true(s.count < 64);
    entropy_streams_free(&s);
    free(sym);
    free(t);
}

/* Encodes with one channel's table and decodes with it shifted up: escapes beyond 2^20 must be refused. */
static void test_escape_bound(void **state)
{
    (void)state;
    TestModel *t = malloc(sizeof *t);
    assert_non_null(t);
    make_model(t, 1, 16, TABLE_RANDOM);
    int32_t sym[4] = {QUANT_MAX_SYMBOL, 0, 0, 0}, back[4];
    EntropyStreams s = encode(t, sym, 2, 2, 1);
    t->cdf[0].first += 1;
    assert_int_equal(decode(t, &s, 2, 2, 1, back), AECIMG_ERR_ENTROPY);
    t->cdf[0].first -= 2;
    assert_int_equal(decode(t, &s, 2, 2, 1, back), 0);
    assert_int_equal(back[0], QUANT_MAX_SYMBOL - 1);
    entropy_streams_free(&s);

    /* The encoder refuses what no decoder accepts. */
    EntropyParams p = {&t->m, 0, 1, 2, 2, 1};
    sym[3] = -QUANT_MAX_SYMBOL - 1;
    assert_int_equal(entropy_rans.encode(&p, sym, &s), AECIMG_ERR_INVALID_ARGUMENT);
    assert_null(s.data);
    free(t);
}

static void test_wrong_shape(void **state)
{
    (void)state;
    TestModel *t = malloc(sizeof *t);
    assert_non_null(t);
    make_model(t, 3, 16, TABLE_RANDOM);
    int32_t *sym = draw_symbols(t, 4, 5), back[3 * 4 * 5];
    EntropyStreams s = encode(t, sym, 4, 5, 1);
    const uint8_t *ptrs[8];
    stream_pointers(&s, ptrs);
    EntropyParams p = {&t->m, 0, 3, 4, 5, 1};
    assert_int_equal(entropy_rans.decode(&p, ptrs, s.sizes, 0, back), AECIMG_ERR_ENTROPY);
    size_t sizes[5] = {s.sizes[0], 0, 0, 0, 0};
    assert_int_equal(entropy_rans.decode(&p, ptrs, sizes, 5, back), AECIMG_ERR_ENTROPY); /* more than rows */
    p.quality = 1;
    assert_int_equal(entropy_rans.decode(&p, ptrs, s.sizes, s.count, back), AECIMG_ERR_INVALID_ARGUMENT);
    p.quality = 0;
    p.channels = 2;
    assert_int_equal(entropy_rans.decode(&p, ptrs, s.sizes, s.count, back), AECIMG_ERR_INVALID_ARGUMENT);
    entropy_streams_free(&s);
    p.model = NULL;
    assert_int_equal(entropy_rans.encode(&p, sym, &s), AECIMG_ERR_INVALID_ARGUMENT);
    assert_ptr_equal(entropy_stage(AECIMG_ENTROPY_RANS), &entropy_rans);
    free(sym);
    free(t);
}

/* Stream `k` replaced by its first `size` bytes of `bytes` (a private copy, so ASan sees any overread). */
static int decode_damaged(const TestModel *t, const EntropyStreams *s, uint32_t h, uint32_t w, uint32_t k,
                          const uint8_t *bytes, size_t size, int32_t *back)
{
    const uint8_t *ptrs[1024];
    size_t sizes[1024];
    stream_pointers(s, ptrs);
    memcpy(sizes, s->sizes, s->count * sizeof *sizes);
    uint8_t *copy = malloc(size ? size : 1);
    assert_non_null(copy);
    memcpy(copy, bytes, size);
    ptrs[k] = copy;
    sizes[k] = size;
    EntropyParams p = {&t->m, 0, t->m.latent_channels, h, w, 2};
    int err = entropy_rans.decode(&p, ptrs, sizes, s->count, back);
    free(copy);
    return err;
}

/* Every truncation, an extra byte, and every single-bit flip of every stream. */
static void check_damage(int escapes)
{
    TestModel *t = malloc(sizeof *t);
    assert_non_null(t);
    make_model(t, 12, 16, -1);
    const uint32_t h = 6, w = 7;
    int32_t *sym = draw_symbols(t, h, w), *back = malloc(12 * h * w * sizeof *back);
    assert_non_null(back);
    if (escapes)
        sym[5] = QUANT_MAX_SYMBOL;
    else
        for (uint32_t c = 0; c < 12; c++)
            for (size_t i = 0; i < (size_t)h * w; i++)
                sym[c * h * w + i] = t->cdf[c].first + (int32_t)(i % t->cdf[c].count);
    EntropyStreams s = round_trip(t, sym, h, w);
    const uint8_t *ptrs[1024];
    stream_pointers(&s, ptrs);
    size_t refused = 0, flips = 0;
    for (uint32_t k = 0; k < s.count; k++) {
        uint8_t *longer = malloc(s.sizes[k] + 1);
        assert_non_null(longer);
        memcpy(longer, ptrs[k], s.sizes[k]);
        longer[s.sizes[k]] = 0;
        for (size_t cut = 0; cut < s.sizes[k]; cut++)
            assert_int_equal(decode_damaged(t, &s, h, w, k, ptrs[k], cut, back), AECIMG_ERR_ENTROPY);
        assert_int_equal(decode_damaged(t, &s, h, w, k, longer, s.sizes[k] + 1, back), AECIMG_ERR_ENTROPY);
        for (size_t at = 0; at < s.sizes[k]; at++) {
            for (int bit = 0; bit < 8; bit++, flips++) {
                memcpy(longer, ptrs[k], s.sizes[k]);
                longer[at] ^= (uint8_t)(1u << bit);
                refused += decode_damaged(t, &s, h, w, k, longer, s.sizes[k], back) == AECIMG_ERR_ENTROPY;
            }
        }
        free(longer);
    }
    /* A flip that only swaps a symbol for one of equal frequency (or changes an escape's raw bits) leaves
     * the state as it was and decodes to other valid symbols; the container's CRC is what catches those.
     * Any other flip derails the state, which must then fail the final check. */
    printf("  %s escapes: %zu of %zu single-bit flips refused\n", escapes ? "with" : "without", refused, flips);
    assert_true(refused * 2 >= flips);
    entropy_streams_free(&s);
    free(back);
    free(sym);
    free(t);
}

static void test_damage(void **state)
{
    (void)state;
    check_damage(0);
    check_damage(1);
}

static void check_code_length(int kind, uint32_t precision)
{
    TestModel *t = malloc(sizeof *t);
    assert_non_null(t);
    make_model(t, 24, precision, kind);
    const uint32_t h = 128, w = 128;
    int32_t *sym = draw_symbols(t, h, w);
    EntropyStreams s = encode(t, sym, h, w, 2);
    const double ideal = ideal_bits(t, sym, h, w) / 8;
    printf("  kind %d precision %u: %zu bytes in %u streams, ideal %.0f (+%.3f%%)\n", kind, precision, s.size,
           s.count, ideal, 100 * (s.size / ideal - 1));
    assert_true(s.size >= ideal);
    assert_true(s.size <= ideal * 1.01);
    entropy_streams_free(&s);
    free(sym);
    free(t);
}

static void test_code_length(void **state)
{
    (void)state;
    check_code_length(-1, 16);
    check_code_length(TABLE_RANDOM, 12);
    check_code_length(TABLE_PEAKED, 16);
    check_code_length(TABLE_UNIFORM, 14);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_bytes),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_many_streams),
        cmocka_unit_test(test_escape_bound),
        cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_damage),
        cmocka_unit_test(test_code_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
