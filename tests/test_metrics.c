/* test_metrics.c: aec-bench's PSNR, MS-SSIM and Bjontegaard functions against known values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_metrics.h"

/* ---------------------------------------------------------------- PSNR */

static void psnr_constant_difference(void **state)
{
    static const int diffs[] = {1, 2, 5, 40};
    uint8_t a[999], b[999];

    (void)state;
    for (size_t i = 0; i < sizeof diffs / sizeof diffs[0]; i++) {
        int d = diffs[i];
        memset(a, 100, sizeof a);
        memset(b, 100 + d, sizeof b);
        assert_float_equal(bench_psnr(a, b, sizeof a), 10.0 * log10(255.0 * 255.0 / (d * d)),
                           1e-12);
        /* The sign of the error does not matter. */
        assert_float_equal(bench_psnr(b, a, sizeof a), bench_psnr(a, b, sizeof a), 1e-12);
    }
}

static void psnr_pools_all_samples(void **state)
{
    uint8_t a[6] = {10, 20, 30, 40, 50, 60}, b[6] = {10, 20, 30, 42, 52, 62};

    (void)state;
    /* MSE 3 * 4 / 6 = 2 over the six samples, not per channel or per pixel. */
    assert_float_equal(bench_psnr(a, b, 6), 10.0 * log10(255.0 * 255.0 / 2.0), 1e-12);
}

static void psnr_identical_is_infinite(void **state)
{
    uint8_t a[64];

    (void)state;
    for (int i = 0; i < 64; i++)
        a[i] = (uint8_t)(i * 37);
    assert_true(isinf(bench_psnr(a, a, sizeof a)) && bench_psnr(a, a, sizeof a) > 0);
    assert_true(isnan(bench_psnr(a, a, 0)));
}

/* ---------------------------------------------------------------- MS-SSIM */

/* The pair bench/metrics_ref.py builds with the same integer formulas, its noise scaled by
 * noise_num / noise_den (1/1: the script's pair; 0/1: identical images). */
static void make_pair(uint32_t w, uint32_t h, uint32_t ch, int noise_num, int noise_den,
                      uint8_t **a, uint8_t **b)
{
    *a = malloc((size_t)w * h * ch);
    *b = malloc((size_t)w * h * ch);
    assert_non_null(*a);
    assert_non_null(*b);
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++) {
            for (uint32_t c = 0; c < ch; c++) {
                size_t i = ((size_t)y * w + x) * ch + c;
                int va = (int)((x * 2 + y + 40 * c + ((x / 8 + y / 8) % 2) * 60) % 256);
                int noise = (int)((x * 131 + y * 71 + c * 29 + (x * y) % 97) % 61) - 30;
                int vb = va + noise * noise_num / noise_den;
                (*a)[i] = (uint8_t)va;
                (*b)[i] = (uint8_t)(vb < 0 ? 0 : vb > 255 ? 255 : vb);
            }
        }
    }
}

static void msssim_identical_is_one(void **state)
{
    uint8_t *a, *b;

    (void)state;
    make_pair(200, 180, 3, 0, 1, &a, &b);
    assert_float_equal(bench_msssim(a, b, 200, 180, 3), 1.0, 1e-12);
    free(a);
    free(b);
}

/* Known values from bench/metrics_ref.py (numpy, a full 2-D window rather than the separable
 * filter here): "msssim rgb 200x180 0.9824902742", "msssim gray 176x176 0.9817236128".  200x180
 * also exercises the odd sizes the pooling meets (45 -> 22, 25 -> 12). */
static void msssim_known_values(void **state)
{
    uint8_t *a, *b;

    (void)state;
    make_pair(200, 180, 3, 1, 1, &a, &b);
    assert_float_equal(bench_msssim(a, b, 200, 180, 3), 0.9824902742, 1e-9);
    free(a);
    free(b);
    make_pair(176, 176, 1, 1, 1, &a, &b);
    assert_float_equal(bench_msssim(a, b, 176, 176, 1), 0.9817236128, 1e-9);
    free(a);
    free(b);
}

static void msssim_falls_with_noise(void **state)
{
    double last = 1.0;

    (void)state;
    for (int k = 1; k <= 8; k *= 2) {
        uint8_t *a, *b;
        make_pair(192, 192, 3, k, 4, &a, &b);
        double v = bench_msssim(a, b, 192, 192, 3);
        assert_true(v < last);
        assert_true(v > 0.0);
        last = v;
        free(a);
        free(b);
    }
}

static void msssim_refuses_small_images(void **state)
{
    uint8_t *a, *b;

    (void)state;
    make_pair(BENCH_MSSSIM_MIN_SIDE - 1, 200, 1, 1, 1, &a, &b);
    assert_true(isnan(bench_msssim(a, b, BENCH_MSSSIM_MIN_SIDE - 1, 200, 1)));
    assert_true(isnan(bench_msssim(a, b, 200, BENCH_MSSSIM_MIN_SIDE - 1, 1)));
    free(a);
    free(b);
}

/* ---------------------------------------------------------------- Bjontegaard */

static const double anchor_rate[] = {0.25, 0.5, 1.0, 2.0};
static const double anchor_psnr[] = {28.0, 31.0, 34.5, 38.0};
static const BenchCurve anchor = {anchor_rate, anchor_psnr, 4};

static void bd_rate_of_a_scaled_curve(void **state)
{
    double rate[4], pct, lo, hi;
    BenchCurve test = {rate, anchor_psnr, 4};

    (void)state;
    for (int i = 0; i < 4; i++)
        rate[i] = 0.8 * anchor_rate[i];
    assert_int_equal(bench_bd_rate(&anchor, &test, &pct, &lo, &hi), 0);
    assert_float_equal(pct, -20.0, 1e-9);
    assert_float_equal(lo, 28.0, 0.0);
    assert_float_equal(hi, 38.0, 0.0);
    assert_int_equal(bench_bd_rate(&test, &anchor, &pct, &lo, &hi), 0);
    assert_float_equal(pct, 25.0, 1e-9);
}

static void bd_psnr_of_a_shifted_curve(void **state)
{
    double psnr[4], db, lo, hi;
    BenchCurve test = {anchor_rate, psnr, 4};

    (void)state;
    for (int i = 0; i < 4; i++)
        psnr[i] = anchor_psnr[i] + 1.0;
    assert_int_equal(bench_bd_psnr(&anchor, &test, &db, &lo, &hi), 0);
    assert_float_equal(db, 1.0, 1e-12);
    assert_float_equal(lo, 0.25, 1e-12);
    assert_float_equal(hi, 2.0, 1e-12);
}

/* Straight lines in (PSNR, log10 rate) stay straight under PCHIP, so the integral is known in
 * closed form: log10 R = -3.2 + 0.1 P against -2.6 + 0.08 P over P in [30, 36] differ on average
 * by 0.6 - 0.02 * 33 = -0.06. */
static void bd_rate_of_straight_lines(void **state)
{
    double ra[4], rt[4], p[4] = {36, 30, 34, 32}, pct, lo, hi; /* any order */
    BenchCurve a = {ra, p, 4}, t = {rt, p, 4};

    (void)state;
    for (int i = 0; i < 4; i++) {
        ra[i] = pow(10.0, -3.2 + 0.1 * p[i]);
        rt[i] = pow(10.0, -2.6 + 0.08 * p[i]);
    }
    assert_int_equal(bench_bd_rate(&a, &t, &pct, &lo, &hi), 0);
    assert_float_equal(pct, (pow(10.0, -0.06) - 1.0) * 100.0, 1e-9);
}

/* Known values from bench/metrics_ref.py (PCHIP integrated numerically on a 2M-point grid):
 * "bd-rate -25.5338712636 %", "bd-psnr 1.4118023165 dB". */
static void bd_known_values(void **state)
{
    static const double rate[] = {0.2, 0.45, 0.8, 1.7}, psnr[] = {28.5, 31.8, 34.9, 38.6};
    BenchCurve test = {rate, psnr, 4};
    double v, lo, hi;

    (void)state;
    assert_int_equal(bench_bd_rate(&anchor, &test, &v, &lo, &hi), 0);
    assert_float_equal(v, -25.5338712636, 1e-7);
    assert_float_equal(lo, 28.5, 0.0);
    assert_float_equal(hi, 38.0, 0.0);
    assert_int_equal(bench_bd_psnr(&anchor, &test, &v, &lo, &hi), 0);
    assert_float_equal(v, 1.4118023165, 1e-7);
}

static void bd_refuses_bad_curves(void **state)
{
    static const double high_psnr[] = {40, 42, 44, 46}, dup_psnr[] = {28, 31, 31, 38};
    static const double zero_rate[] = {0.0, 0.5, 1.0, 2.0}, far_rate[] = {3, 4, 5, 6};
    BenchCurve disjoint_psnr = {anchor_rate, high_psnr, 4};
    BenchCurve disjoint_rate = {far_rate, anchor_psnr, 4};
    BenchCurve dup = {anchor_rate, dup_psnr, 4}, zero = {zero_rate, anchor_psnr, 4};
    BenchCurve one = {anchor_rate, anchor_psnr, 1};
    double v, lo, hi;

    (void)state;
    assert_int_equal(bench_bd_rate(&anchor, &disjoint_psnr, &v, &lo, &hi), -1);
    assert_int_equal(bench_bd_psnr(&anchor, &disjoint_rate, &v, &lo, &hi), -1);
    assert_int_equal(bench_bd_rate(&anchor, &dup, &v, &lo, &hi), -1);
    assert_int_equal(bench_bd_rate(&anchor, &zero, &v, &lo, &hi), -1);
    assert_int_equal(bench_bd_psnr(&one, &anchor, &v, &lo, &hi), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(psnr_constant_difference),
        cmocka_unit_test(psnr_pools_all_samples),
        cmocka_unit_test(psnr_identical_is_infinite),
        cmocka_unit_test(msssim_identical_is_one),
        cmocka_unit_test(msssim_known_values),
        cmocka_unit_test(msssim_falls_with_noise),
        cmocka_unit_test(msssim_refuses_small_images),
        cmocka_unit_test(bd_rate_of_a_scaled_curve),
        cmocka_unit_test(bd_psnr_of_a_shifted_curve),
        cmocka_unit_test(bd_rate_of_straight_lines),
        cmocka_unit_test(bd_known_values),
        cmocka_unit_test(bd_refuses_bad_curves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
