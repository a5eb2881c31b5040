/* test_nn.c: the nn kernels against naive formulas, each SIMD level against the reference. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* setenv */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"

/* Conv results are compared to the naive sum in double relative to the sum of the terms'
 * magnitudes: float accumulation of K terms errs by about sqrt(K) * 2^-24 of that. */
#define CONV_TOL 1e-5
/* GDN outputs relative to their own magnitude (the norm is a sum of non-negative terms). */
#define GDN_TOL 2e-5

static uint32_t rng_state = 12345;

static float rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / (float)(1u << 23) - 1.0f; /* [-1, 1) */
}

static float *rnd_array(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = rnd();
    return p;
}

typedef struct Shape {
    int ih, iw, cin, cout, k, stride;
} Shape;

/* Odd sizes, channel counts around the vector widths, several reduction passes, all tile
 * remainders, images smaller than the kernel. */
static const Shape shapes[] = {
    {1, 1, 3, 5, 3, 1},    {1, 1, 5, 12, 5, 2},   {1, 7, 3, 17, 5, 2},   {1, 7, 12, 5, 3, 1},
    {9, 5, 17, 3, 3, 1},   {9, 5, 5, 130, 5, 2},  {33, 17, 3, 12, 5, 2}, {33, 17, 17, 17, 3, 1},
    {33, 17, 130, 17, 5, 2}, {17, 33, 12, 130, 3, 1}, {2, 3, 130, 12, 3, 2}, {5, 61, 16, 64, 5, 1},
    {6, 61, 7, 40, 5, 2},  {4, 30, 192, 33, 3, 1}, {3, 2, 1, 1, 1, 1},   {4, 9, 8, 8, 1, 2},
    /* a gray model's first and last convolutions: one input channel, one output channel */
    {29, 31, 1, 8, 5, 2},  {28, 28, 1, 192, 5, 2}, {7, 9, 1, 12, 3, 1},  {28, 28, 8, 1, 3, 1},
    {13, 11, 192, 1, 5, 1}, {5, 5, 1, 1, 3, 1},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

typedef struct Case {
    Shape s;
    int oh, ow;
    float *weight, *bias, *in;
    double *want, *mag; /* naive result and sum of |terms| per output */
} Case;

/* The direct definition: 7 nested loops over PyTorch's weight layout, in double. */
static void naive_conv(Case *c)
{
    const Shape *s = &c->s;
    int pad = s->k / 2;
    for (int y = 0; y < c->oh; y++)
        for (int x = 0; x < c->ow; x++)
            for (int co = 0; co < s->cout; co++) {
                double sum = c->bias[co], mag = fabs(c->bias[co]);
                for (int ci = 0; ci < s->cin; ci++)
                    for (int ky = 0; ky < s->k; ky++)
                        for (int kx = 0; kx < s->k; kx++) {
                            int iy = y * s->stride - pad + ky, ix = x * s->stride - pad + kx;
                            if (iy < 0 || iy >= s->ih || ix < 0 || ix >= s->iw)
                                continue;
                            double t = (double)c->in[((size_t)iy * s->iw + ix) * s->cin + ci] *
                                       c->weight[(((size_t)co * s->cin + ci) * s->k + ky) * s->k + kx];
                            sum += t;
                            mag += fabs(t);
                        }
                size_t o = ((size_t)y * c->ow + x) * s->cout + co;
                c->want[o] = sum;
                c->mag[o] = mag;
            }
}

static Case make_case(const Shape *s)
{
    Case c = {*s, nn_conv_out_size(s->ih, s->k, s->stride), nn_conv_out_size(s->iw, s->k, s->stride),
              NULL, NULL, NULL, NULL, NULL};
    c.weight = rnd_array((size_t)s->cout * s->cin * s->k * s->k);
    c.bias = rnd_array(s->cout);
    c.in = rnd_array((size_t)s->ih * s->iw * s->cin);
    size_t n = (size_t)c.oh * c.ow * s->cout;
    c.want = malloc(n * sizeof(double));
    c.mag = malloc(n * sizeof(double));
    assert_non_null(c.want);
    assert_non_null(c.mag);
    naive_conv(&c);
    return c;
}

static void free_case(Case *c)
{
    free(c->weight);
    free(c->bias);
    free(c->in);
    free(c->want);
    free(c->mag);
}

static size_t out_count(const Case *c)
{
    return (size_t)c->oh * c->ow * c->s.cout;
}

/* Runs conv through kernels kn into a fresh buffer, by Winograd where allowed and the shape fits, with
 * bfloat16 products where bf16 asks for them (and kn has them). */
static float *run_conv_prec(const NnKernels *kn, const Case *c, int threads, int winograd, int bf16)
{
    NnConv conv = {.cin = c->s.cin, .cout = c->s.cout, .k = c->s.k, .stride = c->s.stride, .weight = c->weight,
                   .bias = c->bias, .winograd_ok = winograd, .bf16_ok = bf16};
    const int blocked = winograd && c->s.k == 3 && c->s.stride == 1;
    assert_int_equal(nn_conv_prepare(kn, &conv, threads), 0);
    assert_int_equal(conv.block, blocked ? NN_WINOGRAD_M : 1);
    assert_int_equal(conv.bf16, bf16 && (blocked ? kn->gemm_bf16 != NULL && c->s.cin > 1
                                                  : kn->conv2d_bf16 && c->s.cin % 2 == 0));
    float *out = malloc(out_count(c) * sizeof(float));
    assert_non_null(out);
    assert_int_equal(nn_conv2d(kn, &conv, c->in, c->s.ih, c->s.iw, out, threads), 0);
    nn_conv_release(&conv);
    return out;
}

static float *run_conv_with(const NnKernels *kn, const Case *c, int threads, int winograd)
{
    return run_conv_prec(kn, c, threads, winograd, 0);
}

/* Direct convolution. */
static float *run_conv(const NnKernels *kn, const Case *c, int threads)
{
    return run_conv_with(kn, c, threads, 0);
}

/* |got - want| <= tol * magnitude for every output; names the first failure. */
static void check_close(const char *what, const char *shape, const float *got, const double *want,
                        const double *mag, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * mag[i])) {
            print_error("%s, %s: element %zu is %.9g, want %.9g\n", what, shape, i, got[i], want[i]);
            fail();
        }
}

static const char *conv_name(const Shape *s)
{
    static char buf[96];
    snprintf(buf, sizeof buf, "conv %dx%d cin %d cout %d k %d stride %d", s->ih, s->iw, s->cin,
             s->cout, s->k, s->stride);
    return buf;
}

/* The kernels of `level`, or NULL (with a message) where the build or the CPU lacks them. */
static int get_level(int level, const char *name, NnKernels *kn)
{
    nn_kernels_init(kn, level);
    if (strcmp(kn->level, name)) {
        print_message("%s kernels not compiled in or not supported by this CPU: skipped\n", name);
        return 0;
    }
    return 1;
}

static void test_ref_conv_vs_naive(void **state)
{
    (void)state;
    NnKernels kn;
    assert_true(get_level(NN_CPU_C, "c", &kn));
    for (size_t i = 0; i < NSHAPES; i++) {
        Case c = make_case(&shapes[i]);
        float *out = run_conv(&kn, &c, 1);
        check_close("c vs naive", conv_name(&c.s), out, c.want, c.mag, out_count(&c), CONV_TOL);
        free(out);
        free_case(&c);
    }
}

/* Each SIMD level against the reference kernel's float output (checkasm style). */
static void check_simd_conv(int level, const char *name)
{
    NnKernels ref, kn;
    if (!get_level(level, name, &kn)) {
        skip();
        return;
    }
    nn_kernels_init(&ref, NN_CPU_C);
    for (size_t i = 0; i < NSHAPES; i++) {
        Case c = make_case(&shapes[i]);
        float *want = run_conv(&ref, &c, 1), *got = run_conv(&kn, &c, 1);
        size_t n = out_count(&c);
        for (size_t j = 0; j < n; j++)
            c.want[j] = want[j];
        check_close(name, conv_name(&c.s), got, c.want, c.mag, n, 2 * CONV_TOL);
        free(want);
        free(got);
        free_case(&c);
    }
}

static void test_avx2_conv(void **state)
{
    (void)state;
    check_simd_conv(NN_CPU_AVX2, "avx2");
}

static void test_avx512_conv(void **state)
{
    (void)state;
    check_simd_conv(NN_CPU_AVX512, "avx512");
}

typedef struct GdnCase {
    int h, w, c, inverse;
    float *beta, *gamma, *x;
    double *want, *mag;
} GdnCase;

/* Positive beta and gamma as the trained model has them. */
static GdnCase make_gdn_case(int h, int w, int c, int inverse)
{
    GdnCase g = {h, w, c, inverse, rnd_array(c), rnd_array((size_t)c * c),
                 rnd_array((size_t)h * w * c), NULL, NULL};
    for (int i = 0; i < c; i++)
        g.beta[i] = 0.5f + fabsf(g.beta[i]);
    for (int i = 0; i < c * c; i++)
        g.gamma[i] = fabsf(g.gamma[i]) / c;
    for (int i = 0; i < h * w * c; i++)
        g.x[i] *= 2;
    size_t n = (size_t)h * w * c;
    g.want = malloc(n * sizeof(double));
    g.mag = malloc(n * sizeof(double));
    assert_non_null(g.want);
    assert_non_null(g.mag);
    for (size_t p = 0; p < (size_t)h * w; p++)
        for (int i = 0; i < c; i++) {
            const float *x = g.x + p * c;
            double norm = g.beta[i];
            for (int j = 0; j < c; j++)
                norm += (double)g.gamma[(size_t)i * c + j] * x[j] * x[j];
            double y = inverse ? x[i] * sqrt(norm) : x[i] / sqrt(norm);
            g.want[p * c + i] = y;
            g.mag[p * c + i] = fabs(y);
        }
    return g;
}

static void free_gdn_case(GdnCase *g)
{
    free(g->beta);
    free(g->gamma);
    free(g->x);
    free(g->want);
    free(g->mag);
}

static float *run_gdn_prec(const NnKernels *kn, const GdnCase *g, int threads, int bf16)
{
    NnGdn gdn = {.channels = g->c, .inverse = g->inverse, .beta = g->beta, .gamma = g->gamma, .bf16_ok = bf16};
    assert_int_equal(nn_gdn_prepare(kn, &gdn), 0);
    assert_int_equal(gdn.bf16, bf16 && kn->gdn_bf16 && g->c % 2 == 0);
    size_t n = (size_t)g->h * g->w * g->c;
    float *data = malloc(n * sizeof(float));
    assert_non_null(data);
    memcpy(data, g->x, n * sizeof(float));
    nn_gdn(kn, &gdn, data, data, g->h, g->w, threads);
    nn_gdn_release(&gdn);
    return data;
}

static float *run_gdn(const NnKernels *kn, const GdnCase *g, int threads)
{
    return run_gdn_prec(kn, g, threads, 0);
}

/* Pixel counts that leave tile remainders and span several blocks; channels up to the bound. */
static const int gdn_shapes[][3] = {
    {1, 1, 1}, {3, 7, 3}, {9, 5, 5}, {2, 9, 12}, {17, 13, 17}, {5, 9, 33}, {17, 13, 130},
    {4, 7, 128}, {5, 5, NN_GDN_MAX_CHANNELS},
};
#define NGDN (sizeof gdn_shapes / sizeof gdn_shapes[0])

static void check_gdn_level(int level, const char *name)
{
    NnKernels ref, kn;
    if (!get_level(level, name, &kn)) {
        skip();
        return;
    }
    nn_kernels_init(&ref, NN_CPU_C);
    for (size_t i = 0; i < NGDN; i++)
        for (int inverse = 0; inverse < 2; inverse++) {
            const int *d = gdn_shapes[i];
            GdnCase g = make_gdn_case(d[0], d[1], d[2], inverse);
            char shape[64];
            snprintf(shape, sizeof shape, "%s %dx%d, %d channels", inverse ? "igdn" : "gdn", d[0], d[1], d[2]);
            size_t n = (size_t)g.h * g.w * g.c;
            float *got = run_gdn(&kn, &g, 1);
            if (level == NN_CPU_C) {
                check_close("c vs naive", shape, got, g.want, g.mag, n, GDN_TOL);
            } else {
                float *want = run_gdn(&ref, &g, 1);
                for (size_t j = 0; j < n; j++)
                    g.want[j] = want[j];
                check_close(name, shape, got, g.want, g.mag, n, 2 * GDN_TOL);
                free(want);
            }
            free(got);
            free_gdn_case(&g);
        }
}

static void test_ref_gdn_vs_naive(void **state)
{
    (void)state;
    check_gdn_level(NN_CPU_C, "c");
}

static void test_avx2_gdn(void **state)
{
    (void)state;
    check_gdn_level(NN_CPU_AVX2, "avx2");
}

static void test_avx512_gdn(void **state)
{
    (void)state;
    check_gdn_level(NN_CPU_AVX512, "avx512");
}

static void check_threads_agree(const NnKernels *kn, const Case *c, const GdnCase *g)
{
    float *conv1 = run_conv(kn, c, 1), *gdn1 = run_gdn(kn, g, 1);
    for (int threads = 2; threads <= 3; threads++) {
        float *conv = run_conv(kn, c, threads), *gdn = run_gdn(kn, g, threads);
        assert_memory_equal(conv, conv1, out_count(c) * sizeof(float));
        assert_memory_equal(gdn, gdn1, (size_t)g->h * g->w * g->c * sizeof(float));
        free(conv);
        free(gdn);
    }
    free(conv1);
    free(gdn1);
}

/* Winograd F(4x4, 3x3) against the direct definition at every level the machine has: every 3x3
 * stride-1 shape above plus sizes around the block (1..9, 61), reductions longer than a GEMM pass
 * (300 > KC) and the model's widths. Its rounding differs from a direct sum: the transforms scale
 * terms by up to 100 and cancel them again, so the bound is looser than CONV_TOL (measured worst:
 * about 2e-6 of the magnitude). */
#define WINOGRAD_TOL 2e-5
static void test_winograd_conv(void **state)
{
    (void)state;
    static const char *const names[] = {"c", "avx2", "avx512"};
    static const Shape extra[] = {
        {4, 4, 8, 8, 3, 1},     {5, 9, 3, 12, 3, 1},   {8, 12, 16, 33, 3, 1}, {2, 61, 40, 7, 3, 1},
        {7, 6, 300, 20, 3, 1},  {13, 11, 128, 512, 3, 1}, {12, 16, 192, 512, 3, 1}, {9, 9, 128, 12, 3, 1},
    };
    Shape all[NSHAPES + sizeof extra / sizeof extra[0]];
    size_t n = 0;
    for (size_t i = 0; i < NSHAPES; i++)
        if (shapes[i].k == 3 && shapes[i].stride == 1)
            all[n++] = shapes[i];
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        all[n++] = extra[i];
    for (int level = NN_CPU_C; level <= NN_CPU_AVX512; level++) {
        NnKernels kn;
        if (!get_level(level, names[level], &kn))
            continue;
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            Case c = make_case(&all[i]);
            float *got = run_conv_with(&kn, &c, 2, 1);
            for (size_t j = 0; j < out_count(&c); j++)
                worst = fmax(worst, fabs(got[j] - c.want[j]) / c.mag[j]);
            check_close(names[level], conv_name(&c.s), got, c.want, c.mag, out_count(&c), WINOGRAD_TOL);
            for (int threads = 1; threads <= 3; threads += 2) {
                float *again = run_conv_with(&kn, &c, threads, 1);
                assert_memory_equal(again, got, out_count(&c) * sizeof(float));
                free(again);
            }
            free(got);
            free_case(&c);
        }
        print_message("winograd %s: worst error %.2g of the magnitude\n", names[level], worst);
    }
}

/* Each level's GEMM against a double-precision product, with reductions shorter and longer than a
 * pass, every row remainder of the register tile and partial last panels. */
static void test_gemm(void **state)
{
    (void)state;
    static const char *const names[] = {"c", "avx2", "avx512"};
    static const int dims[][3] = {{1, 1, 1}, {5, 3, 17}, {13, 128, 512}, {16, 192, 40}, {7, 300, 33}, {29, 513, 8}};
    for (int level = NN_CPU_C; level <= NN_CPU_AVX512; level++) {
        NnKernels kn;
        if (!get_level(level, names[level], &kn))
            continue;
        for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
            const int m = dims[d][0], k = dims[d][1], n = dims[d][2], lda = k + 3, ldc = n + 5;
            float *a = rnd_array((size_t)m * lda), *b = rnd_array((size_t)k * n), *c = rnd_array((size_t)m * ldc);
            float *packed = nn_alloc_packed(kn.gemm_packed_size(k, n) * sizeof(float));
            assert_non_null(packed);
            kn.gemm_pack(b, k, n, packed);
            kn.gemm(a, lda, packed, k, n, c, ldc, m);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double want = 0, mag = 0;
                    for (int kk = 0; kk < k; kk++) {
                        want += (double)a[i * lda + kk] * b[(size_t)kk * n + j];
                        mag += fabs((double)a[i * lda + kk] * b[(size_t)kk * n + j]);
                    }
                    if (!(fabs(c[i * ldc + j] - want) <= CONV_TOL * mag)) {
                        print_error("gemm %s %dx%dx%d: c[%d][%d] is %.9g, want %.9g\n", names[level], m, k, n, i, j,
                                    c[i * ldc + j], want);
                        fail();
                    }
                }
            nn_free_packed(packed);
            free(a);
            free(b);
            free(c);
        }
    }
}

/* Threads 1, 2 and 3 give the same bits, at every level the machine has. */
static void test_thread_determinism(void **state)
{
    (void)state;
    static const char *const names[] = {"c", "avx2", "avx512"};
    static const Shape s = {23, 29, 130, 40, 5, 2};
    for (int level = NN_CPU_C; level <= NN_CPU_AVX512; level++) {
        NnKernels kn;
        if (!get_level(level, names[level], &kn))
            continue;
        Case c = make_case(&s);
        for (int inverse = 0; inverse < 2; inverse++) {
            GdnCase g = make_gdn_case(31, 17, 130, inverse);
            check_threads_agree(&kn, &c, &g);
            free_gdn_case(&g);
        }
        free_case(&c);
    }
}

static void test_pixel_shuffle(void **state)
{
    (void)state;
    static const int dims[][3] = {{1, 1, 4}, {3, 5, 12}, {4, 2, 8}, {7, 3, 20}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        int h = dims[d][0], w = dims[d][1], c = dims[d][2], co = c / 4;
        size_t n = (size_t)h * w * c;
        float *in = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
        assert_non_null(in);
        assert_non_null(out);
        for (size_t i = 0; i < n; i++)
            in[i] = (float)i;
        for (int threads = 1; threads <= 3; threads++) {
            memset(out, 0xff, n * sizeof(float));
            nn_pixel_shuffle2(in, h, w, c, out, threads);
            for (int oy = 0; oy < 2 * h; oy++)
                for (int ox = 0; ox < 2 * w; ox++)
                    for (int ch = 0; ch < co; ch++) {
                        float want = in[((size_t)(oy / 2) * w + ox / 2) * c + ch * 4 + (oy % 2) * 2 + ox % 2];
                        assert_true(out[((size_t)oy * 2 * w + ox) * co + ch] == want);
                    }
        }
        free(in);
        free(out);
    }
}

static int level_of(const NnKernels *kn)
{
    return !strcmp(kn->level, "avx512bf16") ? NN_CPU_AVX512BF16
           : !strcmp(kn->level, "avx512")   ? NN_CPU_AVX512
           : !strcmp(kn->level, "avx2")     ? NN_CPU_AVX2
                                            : NN_CPU_C;
}

static void test_cpu_cap(void **state)
{
    (void)state;
    assert_int_equal(unsetenv("AECIMG_CPU_MAX"), 0);
    int raw = nn_cpu_detect();
    assert_in_range(raw, NN_CPU_C, NN_CPU_AVX512BF16);
    static const struct {
        const char *value;
        int cap;
    } caps[] = {{"c", NN_CPU_C},
                {"avx2", NN_CPU_AVX2},
                {"avx512", NN_CPU_AVX512},
                {"avx512bf16", NN_CPU_AVX512BF16},
                {"bogus", NN_CPU_AVX512BF16}};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        assert_int_equal(setenv("AECIMG_CPU_MAX", caps[i].value, 1), 0);
        int want = raw < caps[i].cap ? raw : caps[i].cap;
        assert_int_equal(nn_cpu_detect(), want);
        /* The table may fall below the cap only where a level is not compiled in. */
        NnKernels kn;
        nn_kernels_init(&kn, nn_cpu_detect());
        assert_true(level_of(&kn) <= want);
        /* bfloat16 products only at their own level: capping below it means float32 throughout. */
        assert_true((kn.gemm_bf16 != NULL) == (level_of(&kn) == NN_CPU_AVX512BF16));
    }
    assert_int_equal(unsetenv("AECIMG_CPU_MAX"), 0);
    /* Asking for more than the CPU has falls back to what it has. */
    NnKernels kn;
    nn_kernels_init(&kn, NN_CPU_AVX512BF16);
    assert_true(level_of(&kn) <= raw);
}

static void test_prepare_rejects_bad_shapes(void **state)
{
    (void)state;
    float w[4 * 4 * 3 * 3] = {0}, b[4] = {0};
    NnKernels kn;
    nn_kernels_init(&kn, nn_cpu_detect());
    static const int bad[][4] = {{0, 4, 3, 1}, {4, 0, 3, 1}, {4, 4, 2, 1}, {4, 4, 3, 3}, {4, 4, 3, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        NnConv conv = {.cin = bad[i][0], .cout = bad[i][1], .k = bad[i][2], .stride = bad[i][3], .weight = w,
                       .bias = b, .winograd_ok = 1};
        assert_int_equal(nn_conv_prepare(&kn, &conv, 1), -1);
        assert_null(conv.packed);
    }
    NnConv ok = {.cin = 4, .cout = 4, .k = 3, .stride = 2, .weight = w, .bias = b};
    assert_int_equal(nn_conv_prepare(&kn, &ok, 1), 0);
    assert_non_null(ok.packed);
    nn_conv_release(&ok);
    assert_null(ok.packed);
    nn_conv_release(&ok);

    NnGdn gdn = {.channels = NN_GDN_MAX_CHANNELS + 1, .beta = b, .gamma = w};
    assert_int_equal(nn_gdn_prepare(&kn, &gdn), -1);
    gdn.channels = 0;
    assert_int_equal(nn_gdn_prepare(&kn, &gdn), -1);
    gdn.channels = 4;
    assert_int_equal(nn_gdn_prepare(&kn, &gdn), 0);
    nn_gdn_release(&gdn);
    assert_null(gdn.packed);
}

/* ------------------------------------------------------------------ bfloat16 */

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Round to nearest even, subnormals to signed zero, NaN stays NaN, overflow to infinity. */
static void test_bf16_rounding(void **state)
{
    (void)state;
    static const struct {
        uint32_t in;
        uint16_t out;
    } cases[] = {
        {0x3f800000, 0x3f80}, /* 1 */
        {0x3f808000, 0x3f80}, /* 1 + 2^-8: a tie, to even (down) */
        {0x3f818000, 0x3f82}, /* 1 + 3 * 2^-8: a tie, to even (up) */
        {0x3f808001, 0x3f81}, /* just above the tie */
        {0xbf807fff, 0xbf80}, /* just below it, negative */
        {0x00400000, 0x0000}, /* subnormal */
        {0x80000001, 0x8000}, /* negative subnormal */
        {0x00800000, 0x0080}, /* smallest normal */
        {0x7f7fffff, 0x7f80}, /* FLT_MAX rounds to infinity */
        {0xff800000, 0xff80}, /* -infinity */
        {0x7f800001, 0x7fc0}, /* signalling NaN, quieted */
        {0xffc00000, 0xffc0}, /* quiet NaN */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = nn_bf16_from_float(float_of(cases[i].in));
        if (got != cases[i].out) {
            print_error("bf16 of 0x%08x is 0x%04x, want 0x%04x\n", cases[i].in, got, cases[i].out);
            fail();
        }
    }
    assert_true(nn_bf16_to_float(0x3f80) == 1.0f);
    assert_true(nn_bf16_to_float(0xc2f7) == -123.5f);
}

/* Every level's vector conversion against the scalar one, bit for bit, on random bit patterns (a
 * quarter of them subnormal, an eighth infinite or NaN) and every length around the vector widths. */
static void test_bf16_convert(void **state)
{
    (void)state;
    NnKernels kn;
    if (!get_level(NN_CPU_AVX512BF16, "avx512bf16", &kn)) {
        skip();
        return;
    }
    enum { N = 200 };
    float src[N];
    uint16_t want[N], got[N + 1];
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)(rnd() * 2147483647.0f) * 2654435761u;
        u = i % 4 == 0 ? u & 0x807fffffu : i % 8 == 1 ? u | 0x7f800000u : u;
        src[i] = float_of(u);
        want[i] = nn_bf16_from_float(src[i]);
    }
    for (int n = 0; n <= 70; n++) {
        got[n] = 0xabcd;
        kn.to_bf16(src + (N - n), got, (size_t)n); /* ending at the buffer's end: masked tails */
        for (int i = 0; i < n; i++)
            if (got[i] != want[N - n + i]) {
                print_error("to_bf16 n %d element %d: 0x%04x, want 0x%04x (input 0x%08x)\n", n, i, got[i],
                            want[N - n + i], bits_of(src[N - n + i]));
                fail();
            }
        assert_int_equal(got[n], 0xabcd); /* nothing written past n */
    }
}

/* The case with inputs and weights rounded to bfloat16, and its naive result: what the bfloat16 kernels
 * should compute from the unrounded case, up to the order of float sums. */
static Case rounded_case(const Case *c)
{
    Case r = make_case(&c->s);
    size_t nw = (size_t)c->s.cout * c->s.cin * c->s.k * c->s.k, ni = (size_t)c->s.ih * c->s.iw * c->s.cin;
    for (size_t i = 0; i < nw; i++)
        r.weight[i] = nn_bf16_to_float(nn_bf16_from_float(c->weight[i]));
    for (size_t i = 0; i < ni; i++)
        r.in[i] = nn_bf16_to_float(nn_bf16_from_float(c->in[i]));
    memcpy(r.bias, c->bias, (size_t)c->s.cout * sizeof(float));
    naive_conv(&r);
    return r;
}

/* The reference and the SIMD bfloat16 direct convolution against the naive sum of the rounded
 * operands (checkasm style), on every shape with an even cin; and proof that they round: the float
 * result of the unrounded operands is farther away than the tolerance somewhere. */
static void test_bf16_conv(void **state)
{
    (void)state;
    NnKernels ref, kn;
    nn_kernels_init(&ref, NN_CPU_C);
    nn_kernels_bf16_reference(&ref);
    const int simd = get_level(NN_CPU_AVX512BF16, "avx512bf16", &kn);
    static const Shape extra[] = {{13, 40, 128, 128, 5, 2}, {9, 21, 2, 33, 5, 2}, {7, 9, 200, 17, 3, 2}};
    Shape all[NSHAPES + sizeof extra / sizeof extra[0]];
    size_t n = 0;
    for (size_t i = 0; i < NSHAPES; i++)
        if (shapes[i].cin % 2 == 0)
            all[n++] = shapes[i];
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        all[n++] = extra[i];
    int rounded_somewhere = 0;
    for (size_t i = 0; i < n; i++) {
        Case c = make_case(&all[i]), r = rounded_case(&c);
        const size_t count = out_count(&c);
        float *want = run_conv_prec(&ref, &c, 1, 0, 1);
        check_close("c bf16 vs naive of rounded", conv_name(&c.s), want, r.want, r.mag, count, CONV_TOL);
        for (size_t j = 0; j < count; j++)
            rounded_somewhere |= !(fabs(want[j] - c.want[j]) <= CONV_TOL * c.mag[j]);
        if (simd) {
            float *got = run_conv_prec(&kn, &c, 1, 0, 1);
            check_close("avx512bf16 vs naive of rounded", conv_name(&c.s), got, r.want, r.mag, count, CONV_TOL);
            for (int threads = 2; threads <= 3; threads++) {
                float *again = run_conv_prec(&kn, &c, threads, 0, 1);
                assert_memory_equal(again, got, count * sizeof(float));
                free(again);
            }
            free(got);
        }
        free(want);
        free_case(&r);
        free_case(&c);
    }
    assert_true(rounded_somewhere);
    if (!simd)
        skip();
}

/* bfloat16 GDN (squares and gamma rounded, float sums): the reference and the SIMD kernel against the
 * formula in double on the rounded operands, for every even channel count above; the float result of
 * the unrounded operands differs somewhere; 1 to 3 threads agree. */
static void test_bf16_gdn(void **state)
{
    (void)state;
    NnKernels ref, kn;
    nn_kernels_init(&ref, NN_CPU_C);
    nn_kernels_bf16_reference(&ref);
    const int simd = get_level(NN_CPU_AVX512BF16, "avx512bf16", &kn);
    int rounded_somewhere = 0;
    for (size_t i = 0; i < NGDN; i++)
        for (int inverse = 0; inverse < 2; inverse++) {
            const int *d = gdn_shapes[i];
            if (d[2] % 2)
                continue;
            GdnCase g = make_gdn_case(d[0], d[1], d[2], inverse);
            const size_t n = (size_t)g.h * g.w * g.c;
            double *want = malloc(n * sizeof(double));
            assert_non_null(want);
            for (size_t p = 0; p < (size_t)g.h * g.w; p++)
                for (int o = 0; o < g.c; o++) {
                    const float *x = g.x + p * g.c;
                    double norm = g.beta[o];
                    for (int j = 0; j < g.c; j++)
                        norm += (double)nn_bf16_to_float(nn_bf16_from_float(g.gamma[(size_t)o * g.c + j])) *
                                nn_bf16_to_float(nn_bf16_from_float(x[j] * x[j]));
                    want[p * g.c + o] = inverse ? x[o] * sqrt(norm) : x[o] / sqrt(norm);
                }
            char shape[64];
            snprintf(shape, sizeof shape, "%s %dx%d, %d channels", inverse ? "igdn" : "gdn", d[0], d[1], d[2]);
            float *c_out = run_gdn_prec(&ref, &g, 1, 1);
            check_close("c bf16 gdn vs formula", shape, c_out, want, g.mag, n, GDN_TOL);
            for (size_t j = 0; j < n; j++)
                rounded_somewhere |= !(fabs(c_out[j] - g.want[j]) <= GDN_TOL * g.mag[j]);
            if (simd) {
                float *got = run_gdn_prec(&kn, &g, 1, 1);
                check_close("avx512bf16 gdn vs formula", shape, got, want, g.mag, n, GDN_TOL);
                for (int threads = 2; threads <= 3; threads++) {
                    float *again = run_gdn_prec(&kn, &g, threads, 1);
                    assert_memory_equal(again, got, n * sizeof(float));
                    free(again);
                }
                free(got);
            }
            free(c_out);
            free(want);
            free_gdn_case(&g);
        }
    assert_true(rounded_somewhere);
    if (!simd)
        skip();
}

/* The bfloat16 GEMM against a double product of the rounded operands, odd k padded as the Winograd
 * driver pads it. */
static void test_bf16_gemm(void **state)
{
    (void)state;
    NnKernels levels[2];
    nn_kernels_init(&levels[0], NN_CPU_C);
    nn_kernels_bf16_reference(&levels[0]);
    const int count = get_level(NN_CPU_AVX512BF16, "avx512bf16", &levels[1]) ? 2 : 1;
    static const int dims[][3] = {{1, 1, 1}, {5, 3, 17}, {13, 128, 512}, {16, 192, 40}, {7, 401, 33}, {29, 768, 8},
                                  {12, 2, 32}};
    for (int l = 0; l < count; l++) {
        const NnKernels *kn = &levels[l];
        for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
            const int m = dims[d][0], k = dims[d][1], n = dims[d][2], kin = k + (k & 1), lda = kin + 4, ldc = n + 5;
            float *a = rnd_array((size_t)m * lda), *b = rnd_array((size_t)k * n), *c = rnd_array((size_t)m * ldc);
            uint16_t *ab = malloc((size_t)m * lda * sizeof(uint16_t));
            uint16_t *packed = nn_alloc_packed(kn->gemm_packed_size_bf16(k, n) * sizeof(uint16_t));
            assert_non_null(ab);
            assert_non_null(packed);
            for (int i = 0; i < m; i++) {
                a[i * lda + k] = 0; /* the padding column (or a spare one) */
                kn->to_bf16(a + i * lda, ab + i * lda, (size_t)kin);
            }
            kn->gemm_pack_bf16(b, k, n, packed);
            kn->gemm_bf16(ab, lda, packed, kin, n, c, ldc, m);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double want = 0, mag = 0;
                    for (int kk = 0; kk < k; kk++) {
                        double t = (double)nn_bf16_to_float(ab[i * lda + kk]) *
                                   nn_bf16_to_float(nn_bf16_from_float(b[(size_t)kk * n + j]));
                        want += t;
                        mag += fabs(t);
                    }
                    if (!(fabs(c[i * ldc + j] - want) <= CONV_TOL * mag)) {
                        print_error("gemm_bf16 %s %dx%dx%d: c[%d][%d] is %.9g, want %.9g\n", kn->level, m, k, n, i, j,
                                    c[i * ldc + j], want);
                        fail();
                    }
                }
            nn_free_packed(packed);
            free(ab);
            free(a);
            free(b);
            free(c);
        }
    }
}

/* Winograd with bfloat16 products: the SIMD level against the portable emulation (the same transforms
 * and roundings, other summation orders), the emulation against the exact convolution within what
 * bfloat16 allows, and the same bits for 1, 2 and 3 threads.  On these uniform random operands the
 * transforms amplify the rounding of V and U (2^-9 relative each) to about 0.04 of the magnitude at
 * worst (measured: 0.038); the trained model's layers, whose terms do not cancel as much, see about 4
 * times the error of a direct bfloat16 convolution (nn_winograd.c). */
#define WINOGRAD_BF16_TOL 1e-1
static void test_bf16_winograd(void **state)
{
    (void)state;
    NnKernels ref, kn;
    nn_kernels_init(&ref, NN_CPU_C);
    nn_kernels_bf16_reference(&ref);
    const int simd = get_level(NN_CPU_AVX512BF16, "avx512bf16", &kn);
    static const Shape all[] = {
        {4, 4, 8, 8, 3, 1},      {5, 9, 3, 12, 3, 1},     {8, 12, 16, 33, 3, 1},     {2, 61, 40, 7, 3, 1},
        {7, 6, 300, 20, 3, 1},   {13, 11, 128, 512, 3, 1}, {12, 16, 192, 512, 3, 1}, {9, 9, 128, 12, 3, 1},
        {33, 17, 17, 17, 3, 1},  {17, 33, 12, 130, 3, 1}, {1, 1, 3, 5, 3, 1},      {7, 9, 1, 12, 3, 1},
        {28, 28, 8, 1, 3, 1},    {5, 5, 1, 1, 3, 1},      {9, 13, 1, 192, 3, 1},
    };
    double worst = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        Case c = make_case(&all[i]);
        const size_t count = out_count(&c);
        float *want = run_conv_prec(&ref, &c, 1, 1, 1);
        for (size_t j = 0; j < count; j++)
            worst = fmax(worst, fabs(want[j] - c.want[j]) / c.mag[j]);
        check_close("c bf16 winograd vs exact", conv_name(&c.s), want, c.want, c.mag, count, WINOGRAD_BF16_TOL);
        if (simd) {
            float *got = run_conv_prec(&kn, &c, 2, 1, 1);
            for (size_t j = 0; j < count; j++) { /* the emulation's result, with its magnitudes */
                c.want[j] = want[j];
            }
            check_close("avx512bf16 winograd vs c bf16", conv_name(&c.s), got, c.want, c.mag, count, 4 * CONV_TOL);
            for (int threads = 1; threads <= 3; threads += 2) {
                float *again = run_conv_prec(&kn, &c, threads, 1, 1);
                assert_memory_equal(again, got, count * sizeof(float));
                free(again);
            }
            free(got);
        }
        free(want);
        free_case(&c);
    }
    print_message("winograd bf16: worst error %.2g of the magnitude\n", worst);
    if (!simd)
        skip();
}

/* A Winograd convolution that writes its output pixel-shuffled gives exactly the bits of the
 * convolution followed by nn_pixel_shuffle2, at every level, float and bfloat16, any thread count; one
 * that reads its input unshuffled the sums of nn_pixel_unshuffle2 followed by the convolution, over its
 * input channels in another order (the same bits for 2 and 3 threads). */
static void test_winograd_shuffled(void **state)
{
    (void)state;
    /* the last two: shuffled to one channel, and also read unshuffled from one (a gray model's end) */
    static const Shape all[] = {{5, 9, 3, 12, 3, 1}, {8, 12, 16, 32, 3, 1}, {13, 11, 128, 512, 3, 1},
                                {9, 9, 128, 12, 3, 1}, {1, 1, 8, 4, 3, 1}, {7, 30, 40, 136, 3, 1},
                                {9, 7, 16, 4, 3, 1},   {9, 7, 4, 4, 3, 1}};
    for (int level = NN_CPU_C; level <= NN_CPU_AVX512BF16; level++) {
        NnKernels kn;
        nn_kernels_init(&kn, level);
        if (level_of(&kn) != level)
            continue;
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            for (int bf16 = 0; bf16 <= (level == NN_CPU_AVX512BF16); bf16++) {
                Case c = make_case(&all[i]);
                const size_t n = out_count(&c);
                float *plain = run_conv_prec(&kn, &c, 1, 1, bf16), *want = malloc(n * sizeof(float));
                assert_non_null(want);
                nn_pixel_shuffle2(plain, c.oh, c.ow, c.s.cout, want, 1);
                for (int threads = 1; threads <= 3; threads++) {
                    NnConv conv = {.cin = c.s.cin, .cout = c.s.cout, .k = 3, .stride = 1, .weight = c.weight,
                                   .bias = c.bias, .winograd_ok = 1, .bf16_ok = bf16, .shuffle_ok = 1};
                    assert_int_equal(nn_conv_prepare(&kn, &conv, threads), 0);
                    assert_true(conv.shuffled);
                    float *got = malloc(n * sizeof(float));
                    assert_non_null(got);
                    assert_int_equal(nn_conv2d(&kn, &conv, c.in, c.s.ih, c.s.iw, got, threads), 0);
                    assert_memory_equal(got, want, n * sizeof(float));
                    free(got);
                    nn_conv_release(&conv);
                }
                if (c.s.cin % 4 == 0) { /* reading the input unshuffled: given shuffle(in), the same sums */
                    const size_t ni = (size_t)c.s.ih * c.s.iw * c.s.cin;
                    float *shuffled_in = malloc(ni * sizeof(float)), *got = malloc(n * sizeof(float));
                    assert_true(shuffled_in && got);
                    nn_pixel_shuffle2(c.in, c.s.ih, c.s.iw, c.s.cin, shuffled_in, 1);
                    NnConv conv = {.cin = c.s.cin, .cout = c.s.cout, .k = 3, .stride = 1, .weight = c.weight,
                                   .bias = c.bias, .winograd_ok = 1, .bf16_ok = bf16, .unshuffle_ok = 1};
                    assert_int_equal(nn_conv_prepare(&kn, &conv, 2), 0);
                    assert_true(conv.unshuffled);
                    assert_int_equal(nn_conv2d(&kn, &conv, shuffled_in, c.s.ih, c.s.iw, got, 2), 0);
                    for (size_t j = 0; j < n; j++) /* the input channels in another order, so other roundings */
                        c.want[j] = plain[j];
                    check_close("unshuffled input", conv_name(&c.s), got, c.want, c.mag, n, WINOGRAD_TOL);
                    float *again = malloc(n * sizeof(float));
                    assert_non_null(again);
                    assert_int_equal(nn_conv2d(&kn, &conv, shuffled_in, c.s.ih, c.s.iw, again, 3), 0);
                    assert_memory_equal(again, got, n * sizeof(float));
                    free(again);
                    nn_conv_release(&conv);
                    free(shuffled_in);
                    free(got);
                }
                free(plain);
                free(want);
                free_case(&c);
            }
    }
}

static void test_out_size(void **state)
{
    (void)state;
    assert_int_equal(nn_conv_out_size(768, 5, 2), 384);
    assert_int_equal(nn_conv_out_size(7, 5, 2), 4);
    assert_int_equal(nn_conv_out_size(1, 5, 2), 1);
    assert_int_equal(nn_conv_out_size(33, 3, 1), 33);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_size),
        cmocka_unit_test(test_ref_conv_vs_naive),
        cmocka_unit_test(test_avx2_conv),
        cmocka_unit_test(test_avx512_conv),
        cmocka_unit_test(test_ref_gdn_vs_naive),
        cmocka_unit_test(test_avx2_gdn),
        cmocka_unit_test(test_avx512_gdn),
        cmocka_unit_test(test_winograd_conv),
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_thread_determinism),
        cmocka_unit_test(test_pixel_shuffle),
        cmocka_unit_test(test_cpu_cap),
        cmocka_unit_test(test_prepare_rejects_bad_shapes),
        cmocka_unit_test(test_bf16_rounding),
        cmocka_unit_test(test_bf16_convert),
        cmocka_unit_test(test_bf16_conv),
        cmocka_unit_test(test_bf16_gemm),
        cmocka_unit_test(test_bf16_gdn),
        cmocka_unit_test(test_bf16_winograd),
        cmocka_unit_test(test_winograd_shuffled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
