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
    float *p = nn_alloc_packed(n);
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
            const float *w = conv->packed + (size_t)(ky * k + kx) * cin * cout;
            for (int ci = 0; ci < cin; ci++, w += cout) {
                float v = a[ci];
                NN_SIMD
                for (int co = 0; co < cout; co++)
                    o[co] += v * w[co];
            }
        }
}

void nn_conv2d_c(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads)
{
    int oh = nn_conv_out_size(ih, conv->k, conv->stride);
    int ow = nn_conv_out_size(iw, conv->k, conv->stride);
    assert(conv->packed && conv->packed_level == NN_CPU_C);
    NN_PARALLEL_FOR(threads < 1 ? 1 : threads)
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            conv_pixel(conv, in, ih, iw, y, x, out + ((size_t)y * ow + x) * conv->cout);
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
    float *p = nn_alloc_packed((size_t)c * c);
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

static void gdn_pixel(const NnGdn *gdn, float *x)
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
        x[i] = gdn->inverse ? x[i] * sqrtf(norm[i]) : x[i] / sqrtf(norm[i]);
}

void nn_gdn_c(const NnGdn *gdn, float *data, int h, int w, int threads)
{
    assert(gdn->packed && gdn->packed_level == NN_CPU_C);
    NN_PARALLEL_FOR(threads < 1 ? 1 : threads)
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            gdn_pixel(gdn, data + ((size_t)y * w + x) * gdn->channels);
}
