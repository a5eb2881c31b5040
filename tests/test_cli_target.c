/* test_cli_target.c: the quality search of aec-encode --target-* and aec-bench --html against a
 * brute force over many curves (monotonic, with plateaus, and not monotonic), and its PSNR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_target.h"

/* The worst case the header promises: the bracket halves at least every three trials. */
enum { MAX_TRIALS = 21 };

/* A curve over qualities 0..100 and what the search asked of it. */
typedef struct Curve {
    double v[101];
    int tried[101];
    int calls;
    int fail_at; /* a quality whose trial fails, or -1 */
} Curve;

static int trial(void *arg, int q, double *value)
{
    Curve *c = arg;

    assert_true(q >= 0 && q <= 100);
    assert_false(c->tried[q]); /* never the same quality twice */
    c->tried[q] = 1;
    c->calls++;
    if (q == c->fail_at)
        return -1;
    *value = c->v[q];
    return 0;
}

static int meets(const CliSearch *s, double v)
{
    return s->at_most ? v <= s->target : v >= s->target;
}

/* The search's promise for any curve: a tried quality that meets the target, whose neighbour
 * towards better was tried and does not (or the range ends); else the best end does not meet it. */
static void check_promise(const CliSearch *s, const Curve *c)
{
    int step = s->at_most ? 1 : -1, next = s->quality + step;

    assert_int_equal(s->trials, c->calls);
    assert_true(s->trials <= MAX_TRIALS);
    assert_true(c->tried[s->quality]);
    assert_true(s->value == c->v[s->quality]);
    if (s->found) {
        assert_true(meets(s, c->v[s->quality]));
        if (next >= 0 && next <= 100) {
            assert_true(c->tried[next]);
            assert_false(meets(s, c->v[next]));
        }
    } else {
        assert_int_equal(s->quality, s->at_most ? 0 : 100);
        assert_false(meets(s, c->v[s->quality]));
    }
}

static CliSearch search(Curve *c, double target, int at_most, int log_scale)
{
    CliSearch s = {.target = target, .at_most = at_most, .log_scale = log_scale, .qmin = 0,
                   .qmax = 100};

    memset(c->tried, 0, sizeof c->tried);
    c->calls = 0;
    assert_int_equal(cli_search(&s, trial, c), 0);
    check_promise(&s, c);
    return s;
}

/* File sizes growing about exponentially with quality, as codecs make them. */
static void sizes_find_the_best_quality(void **state)
{
    Curve c = {.fail_at = -1};
    int total = 0, runs = 0, most = 0;

    (void)state;
    for (int q = 0; q <= 100; q++)
        c.v[q] = floor(300.0 * exp(0.025 * q) + 3.0 * q);
    for (double target = 250.0; target < 4500.0; target *= 1.07, runs++) {
        CliSearch s = search(&c, target, 1, 1);
        int best = -1;
        for (int q = 0; q <= 100; q++)
            if (c.v[q] <= target)
                best = q;
        assert_int_equal(s.found, best >= 0);
        if (best >= 0)
            assert_int_equal(s.quality, best);
        total += s.trials;
        most = s.trials > most ? s.trials : most;
    }
    /* Fewer trials than the 7 of a bisection: about 4, at most 7. */
    print_message("mean trials %.2f, most %d\n", (double)total / runs, most);
    assert_true((double)total / runs < 4.5);
    assert_true(most <= 7);
}

/* PSNR: the lowest quality at or above the target, on a concave curve. */
static void psnr_finds_the_lowest_quality(void **state)
{
    Curve c = {.fail_at = -1};

    (void)state;
    for (int q = 0; q <= 100; q++)
        c.v[q] = 24.0 + 16.0 * (1.0 - exp(-q / 40.0));
    for (double target = 20.0; target < 42.0; target += 0.37) {
        CliSearch s = search(&c, target, 0, 0);
        int best = -1;
        for (int q = 100; q >= 0; q--)
            if (c.v[q] >= target)
                best = q;
        assert_int_equal(s.found, best >= 0);
        if (best >= 0)
            assert_int_equal(s.quality, best);
    }
}

/* Plateaus (AVIF's 64 quantizers over 101 qualities) and curves that are not monotonic: the
 * promise holds all the same. */
static void any_curve_keeps_the_promise(void **state)
{
    Curve c = {.fail_at = -1};
    unsigned seed = 12345;

    (void)state;
    for (int round = 0; round < 400; round++) {
        double level = 100.0;
        for (int q = 0; q <= 100; q++) {
            seed = seed * 1103515245u + 12345u;
            /* Mostly rising, with flat runs and, from round 200 on, drops. */
            int r = (int)(seed >> 16) % 10;
            level += r < 3 ? 0.0 : (round >= 200 && r == 9 ? -40.0 : (double)(r * 7));
            c.v[q] = level;
        }
        for (int k = 0; k < 8; k++) {
            seed = seed * 1103515245u + 12345u;
            double target = c.v[(seed >> 16) % 101] + ((seed >> 8) % 3) - 1.0;
            search(&c, target, 1, round % 2);
            search(&c, target, 0, 0);
        }
    }
}

static void infinite_values_are_handled(void **state)
{
    Curve c = {.fail_at = -1};
    CliSearch s;

    (void)state;
    /* Lossless at the top: an infinite PSNR meets any target. */
    for (int q = 0; q <= 100; q++)
        c.v[q] = q >= 90 ? INFINITY : 20.0 + q * 0.2;
    s = search(&c, 50.0, 0, 0);
    assert_true(s.found);
    assert_int_equal(s.quality, 90);
}

static void unreachable_targets(void **state)
{
    Curve c = {.fail_at = -1};
    CliSearch s;

    (void)state;
    for (int q = 0; q <= 100; q++)
        c.v[q] = 1000.0 + q;
    s = search(&c, 999.0, 1, 1);
    assert_false(s.found);
    assert_int_equal(s.quality, 0);
    assert_true(s.value == 1000.0);
    s = search(&c, 2000.0, 0, 0);
    assert_false(s.found);
    assert_int_equal(s.quality, 100);
    /* Met everywhere: the best end, q 100 for a size. */
    s = search(&c, 5000.0, 1, 1);
    assert_true(s.found);
    assert_int_equal(s.quality, 100);
}

static void a_failed_trial_ends_the_search(void **state)
{
    Curve c = {.fail_at = 50};
    CliSearch s = {.target = 10.0, .at_most = 1, .qmin = 0, .qmax = 100};

    (void)state;
    for (int q = 0; q <= 100; q++)
        c.v[q] = q;
    assert_int_equal(cli_search(&s, trial, &c), -1);
    assert_int_equal(c.calls, 1);
    assert_int_equal(s.trials, 1);
}

/* ---------------------------------------------------------------- PSNR */

static void psnr_leaves_alpha_out(void **state)
{
    uint8_t pa[8] = {10, 20, 30, 255, 40, 50, 60, 0}, pb[8] = {12, 20, 30, 0, 40, 52, 60, 255};
    AecimgImage a = {.width = 2, .height = 1, .channels = 4, .pixels = pa};
    AecimgImage b = {.width = 2, .height = 1, .channels = 4, .pixels = pb};

    (void)state;
    /* Squared errors 4 and 4 over 6 colour samples; the alpha differences do not count. */
    assert_float_equal(cli_psnr(&a, &b), 10.0 * log10(255.0 * 255.0 * 6.0 / 8.0), 1e-12);
    memcpy(pb, pa, sizeof pa);
    pb[3] = 7;
    assert_true(isinf(cli_psnr(&a, &b)));
    a.channels = b.channels = 2; /* gray and alpha: four pixels */
    a.width = b.width = 4;
    pb[3] = pa[3];
    pb[0] = 11;
    assert_float_equal(cli_psnr(&a, &b), 10.0 * log10(255.0 * 255.0 * 4.0 / 1.0), 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sizes_find_the_best_quality),
        cmocka_unit_test(psnr_finds_the_lowest_quality),
        cmocka_unit_test(any_curve_keeps_the_promise),
        cmocka_unit_test(infinite_values_are_handled),
        cmocka_unit_test(unreachable_targets),
        cmocka_unit_test(a_failed_trial_ends_the_search),
        cmocka_unit_test(psnr_leaves_alpha_out),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
