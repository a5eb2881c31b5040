/* nn_ref.c: portable reference kernels for convolution and GDN, the fallback and the tests' oracle. */
#include "nn.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

/* Layout: [ky][kx][ci][cout], so the innermost loop runs over contiguous output channels. */
int nn_conv_pack_c(NnConv *conv)
{
    int k = conv->k, cin = conv->cin, cout = conv->cout;
    size_t n = (size_t)k * k * cin * cout;
    float *p = nn_alloc_packed(n * sizeof(float));
    if (!p)
        return -1;
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++)
            for (int t = 0; t < k * k; t++)
                p[((size_t)t * cin + ci) * cout + co] = conv->weight[((size_t)co * cin + ci) * k * k + t];
    conv->packed = p;
    conv->packed_size = n;
    conv->packed_level = NN_CPU_C;
    return 0;
}

/* The taps of a window starting at input coordinate `start` that fall inside [0, size). */
static void valid_taps(int start, int k, int size, int *t0, int *t1)
{
    *t0 = start < 0 ? -start : 0;
    *t1 = start + k > size ? size - start : k;
}

static void conv_pixel(const NnConv *conv, const float *in, int ih, int iw, int y, int x, float *o)
{
    int k = conv->k, cin = conv->cin, cout = conv->cout, pad = k / 2;
    int iy = y * conv->stride - pad, ix = x * conv->stride - pad;
    int ky0, ky1, kx0, kx1;
    valid_taps(iy, k, ih, &ky0, &ky1);
    valid_taps(ix, k, iw, &kx0, &kx1);
    for (int co = 0; co < cout; co++)
        o[co] = conv->bias[co];
    for (int ky = ky0; ky < ky1; ky++)
        for (int kx = kx0; kx < kx1; kx++) {
            const float *a = in + ((size_t)(iy + ky) * iw + (ix + kx)) * cin;
            const float *w = (const float *)conv->packed + (size_t)(ky * k + kx) * cin * cout;
            for (int ci = 0; ci < cin; ci++, w += cout) {
                float v = a[ci];
                NN_SIMD
                for (int co = 0; co < cout; co++)
                    o[co] += v * w[co];
            }
        }
}

int nn_conv2d_c(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads)
{
    int oh = nn_conv_out_size(ih, conv->k, conv->stride);
    int ow = nn_conv_out_size(iw, conv->k, conv->stride);
    assert(conv->packed && conv->packed_level == NN_CPU_C && !conv->bf16);
    NN_PARALLEL_FOR(threads < 1 ? 1 : threads)
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            conv_pixel(conv, in, ih, iw, y, x, out + ((size_t)y * ow + x) * conv->cout);
    return 0;
}

size_t nn_gemm_packed_size_c(int k, int n)
{
    return (size_t)k * n;
}

/* B as it is: row kk holds the n outputs' weights contiguously. */
void nn_gemm_pack_c(const float *b, int k, int n, float *dst)
{
    memcpy(dst, b, (size_t)k * n * sizeof(float));
}

void nn_gemm_c(const float *a, ptrdiff_t lda, const float *b, int k, int n, float *c, ptrdiff_t ldc, int m)
{
    for (int i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        memset(ci, 0, (size_t)n * sizeof(float));
        for (int kk = 0; kk < k; kk++) {
            float v = a[i * lda + kk];
            const float *bk = b + (size_t)kk * n;
            NN_SIMD
            for (int j = 0; j < n; j++)
                ci[j] += v * bk[j];
        }
    }
}

/* Layout: gamma transposed, [j][i], so the innermost loop runs over contiguous outputs i. */
int nn_gdn_pack_c(NnGdn *gdn)
{
    int c = gdn->channels;
    float *p = nn_alloc_packed((size_t)c * c * sizeof(float));
    if (!p)
        return -1;
    for (int i = 0; i < c; i++)
        for (int j = 0; j < c; j++)
            p[(size_t)j * c + i] = gdn->gamma[(size_t)i * c + j];
    gdn->packed = p;
    gdn->packed_size = (size_t)c * c;
    gdn->packed_level = NN_CPU_C;
    return 0;
}

static void gdn_pixel(const NnGdn *gdn, const float *x, float *y)
{
    int c = gdn->channels;
    float norm[NN_GDN_MAX_CHANNELS];
    for (int i = 0; i < c; i++)
        norm[i] = gdn->beta[i];
    for (int j = 0; j < c; j++) {
        float x2 = x[j] * x[j];
        const float *g = gdn->packed + (size_t)j * c;
        NN_SIMD
        for (int i = 0; i < c; i++)
            norm[i] += x2 * g[i];
    }
    for (int i = 0; i < c; i++)
        y[i] = gdn->inverse ? x[i] * sqrtf(norm[i]) : x[i] / sqrtf(norm[i]);
}

void nn_gdn_c(const NnGdn *gdn, const float *in, float *out, int h, int w, int threads)
{
    assert(gdn->packed && gdn->packed_level == NN_CPU_C && !gdn->bf16);
    NN_PARALLEL_FOR(threads < 1 ? 1 : threads)
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            gdn_pixel(gdn, in + ((size_t)y * w + x) * gdn->channels, out + ((size_t)y * w + x) * gdn->channels);
}

/* ------------------------------------------------------------------ bfloat16 references */

static float bf16_round(float f)
{
    return nn_bf16_to_float(nn_bf16_from_float(f));
}

void nn_to_bf16_c(const float *src, uint16_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = nn_bf16_from_float(src[i]);
}

/* nn_conv_pack_c's layout, rounded to bfloat16. */
int nn_conv_pack_bf16_c(NnConv *conv)
{
    int k = conv->k, cin = conv->cin, cout = conv->cout;
    size_t n = (size_t)k * k * cin * cout;
    uint16_t *p = nn_alloc_packed(n * sizeof(uint16_t));
    if (!p)
        return -1;
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++)
            for (int t = 0; t < k * k; t++)
                p[((size_t)t * cin + ci) * cout + co] =
                    nn_bf16_from_float(conv->weight[((size_t)co * cin + ci) * k * k + t]);
    conv->packed = p;
    conv->packed_size = n;
    conv->packed_level = NN_CPU_C;
    return 0;
}

/* conv_pixel with both operands rounded: their product is exact in float. */
static void conv_pixel_bf16(const NnConv *conv, const float *in, int ih, int iw, int y, int x, float *o)
{
    int k = conv->k, cin = conv->cin, cout = conv->cout, pad = k / 2;
    int iy = y * conv->stride - pad, ix = x * conv->stride - pad;
    int ky0, ky1, kx0, kx1;
    valid_taps(iy, k, ih, &ky0, &ky1);
    valid_taps(ix, k, iw, &kx0, &kx1);
    for (int co = 0; co < cout; co++)
        o[co] = conv->bias[co];
    for (int ky = ky0; ky < ky1; ky++)
        for (int kx = kx0; kx < kx1; kx++) {
            const float *a = in + ((size_t)(iy + ky) * iw + (ix + kx)) * cin;
            const uint16_t *w = (const uint16_t *)conv->packed + (size_t)(ky * k + kx) * cin * cout;
            for (int ci = 0; ci < cin; ci++, w += cout) {
                float v = bf16_round(a[ci]);
                for (int co = 0; co < cout; co++)
                    o[co] += v * nn_bf16_to_float(w[co]);
            }
        }
}

int nn_conv2d_bf16_c(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads)
{
    int oh = nn_conv_out_size(ih, conv->k, conv->stride);
    int ow = nn_conv_out_size(iw, conv->k, conv->stride);
    assert(conv->packed && conv->packed_level == NN_CPU_C && conv->bf16);
    NN_PARALLEL_FOR(threads < 1 ? 1 : threads)
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            conv_pixel_bf16(conv, in, ih, iw, y, x, out + ((size_t)y * ow + x) * conv->cout);
    return 0;
}

/* B rounded, with a zero row after an odd k. */
size_t nn_gemm_packed_size_bf16_c(int k, int n)
{
    return (size_t)(k + (k & 1)) * n;
}

void nn_gemm_pack_bf16_c(const float *b, int k, int n, uint16_t *dst)
{
    nn_to_bf16_c(b, dst, (size_t)k * n);
    memset(dst + (size_t)k * n, 0, (size_t)(k & 1) * n * sizeof(uint16_t));
}

void nn_gemm_bf16_c(const uint16_t *a, ptrdiff_t lda, const uint16_t *b, int k, int n, float *c, ptrdiff_t ldc,
                    int m)
{
    for (int i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        memset(ci, 0, (size_t)n * sizeof(float));
        for (int kk = 0; kk < k; kk++) {
            float v = nn_bf16_to_float(a[i * lda + kk]);
            const uint16_t *bk = b + (size_t)kk * n;
            for (int j = 0; j < n; j++)
                ci[j] += v * nn_bf16_to_float(bk[j]);
        }
    }
}

/* gamma^T rounded to bfloat16 (nn_gdn_pack_c's layout, values exactly representable in float). */
int nn_gdn_pack_bf16_c(NnGdn *gdn)
{
    if (nn_gdn_pack_c(gdn) < 0)
        return -1;
    for (size_t i = 0; i < gdn->packed_size; i++)
        gdn->packed[i] = bf16_round(gdn->packed[i]);
    return 0;
}

/* gdn_pixel with the squares rounded: each product with a rounded gamma is exact in float. */
static void gdn_pixel_bf16(const NnGdn *gdn, const float *x, float *y)
{
    int c = gdn->channels;
    float norm[NN_GDN_MAX_CHANNELS];
    for (int i = 0; i < c; i++)
        norm[i] = gdn->beta[i];
    for (int j = 0; j < c; j++) {
        float x2 = bf16_round(x[j] * x[j]);
        const float *g = gdn->packed + (size_t)j * c;
        for (int i = 0; i < c; i++)
            norm[i] += x2 * g[i];
    }
    for (int i = 0; i < c; i++)
        y[i] = gdn->inverse ? x[i] * sqrtf(norm[i]) : x[i] / sqrtf(norm[i]);
}

void nn_gdn_bf16_c(const NnGdn *gdn, const float *in, float *out, int h, int w, int threads)
{
    assert(gdn->packed && gdn->packed_level == NN_CPU_C && gdn->bf16);
    NN_PARALLEL_FOR(threads < 1 ? 1 : threads)
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            gdn_pixel_bf16(gdn, in + ((size_t)y * w + x) * gdn->channels,
                           out + ((size_t)y * w + x) * gdn->channels);
}
