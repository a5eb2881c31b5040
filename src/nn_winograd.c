/* nn_winograd.c: 3x3 stride-1 convolution by Winograd's F(4x4, 3x3) minimal filtering.
 *
 * With the transforms of Lavin and Gray (2015) on the points 0, 1, -1, 2, -2 and infinity:
 * a 6x6 input tile d becomes V = B^T d B, a 3x3 kernel g becomes U = G g G^T, and the 4x4 outputs
 * are A^T (U . V) A.  Over channels the elementwise product is 36 matrix products, one per tile
 * position xi: M[xi] (blocks x cout) = V[xi] (blocks x cin) * U[xi] (cin x cout), done by the
 * level's GEMM.  The transforms run here in portable C, vectorized over channels; they cost a few
 * percent of the products.
 *
 * Work is cut into items of up to WG_CB blocks of one block row, each done start to finish by one
 * thread in its own scratch, so results do not depend on the thread count. */
#include "nn.h"

#include <stdlib.h>
#include <string.h>

#define WG_M NN_WINOGRAD_M
#define WG_T NN_WINOGRAD_T
#define WG_N (WG_T * WG_T)
#define WG_CB 16 /* blocks per work item */
#define WG_CC 64 /* channels per transform pass: the pass's 6x6 tiles stay in L1 */

/* G, the kernel transform. */
static const double wg_g[WG_T][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

/* r = B^T d for 6 rows of n channels: d row k at d + k*ds, r row k at r + k*rs. */
static void input_rows(const float *d, ptrdiff_t ds, float *r, ptrdiff_t rs, int n)
{
    const float *d0 = d, *d1 = d + ds, *d2 = d + 2 * ds, *d3 = d + 3 * ds, *d4 = d + 4 * ds, *d5 = d + 5 * ds;
    NN_SIMD
    for (int c = 0; c < n; c++) {
        r[c] = 4 * d0[c] - 5 * d2[c] + d4[c];
        r[rs + c] = -4 * (d1[c] + d2[c]) + d3[c] + d4[c];
        r[2 * rs + c] = 4 * (d1[c] - d2[c]) - d3[c] + d4[c];
        r[3 * rs + c] = -2 * (d1[c] - d3[c]) - d2[c] + d4[c];
        r[4 * rs + c] = 2 * (d1[c] - d3[c]) - d2[c] + d4[c];
        r[5 * rs + c] = 4 * d1[c] - 5 * d3[c] + d5[c];
    }
}

/* o = A^T m for 6 rows of n channels into 4 rows. */
static void output_rows(const float *m, ptrdiff_t ms, float *o, ptrdiff_t os, int n)
{
    const float *m0 = m, *m1 = m + ms, *m2 = m + 2 * ms, *m3 = m + 3 * ms, *m4 = m + 4 * ms, *m5 = m + 5 * ms;
    NN_SIMD
    for (int c = 0; c < n; c++) {
        float s12 = m1[c] + m2[c], d12 = m1[c] - m2[c], s34 = m3[c] + m4[c], d34 = m3[c] - m4[c];
        o[c] = m0[c] + s12 + s34;
        o[os + c] = d12 + 2 * d34;
        o[2 * os + c] = s12 + 4 * s34;
        o[3 * os + c] = d12 + 8 * d34 + m5[c];
    }
}

/* V[xi][b][ci] (xi WG_CB * cin apart, b cin apart) for the blocks b of row by from column bx0. */
static void transform_inputs(const float *in, int ih, int iw, int cin, int by, int bx0, int nb, float *v)
{
    float d[WG_N * WG_CC], t[WG_N * WG_CC];
    const ptrdiff_t xs = (ptrdiff_t)WG_CB * cin;
    for (int b = 0; b < nb; b++) {
        const int y0 = by * WG_M - 1, x0 = (bx0 + b) * WG_M - 1;
        for (int c0 = 0; c0 < cin; c0 += WG_CC) {
            const int n = cin - c0 < WG_CC ? cin - c0 : WG_CC;
            for (int r = 0; r < WG_T; r++)
                for (int c = 0; c < WG_T; c++) {
                    const int y = y0 + r, x = x0 + c;
                    float *dst = d + (r * WG_T + c) * WG_CC;
                    if (y < 0 || y >= ih || x < 0 || x >= iw)
                        memset(dst, 0, (size_t)n * sizeof(float));
                    else
                        memcpy(dst, in + ((size_t)y * iw + x) * cin + c0, (size_t)n * sizeof(float));
                }
            for (int c = 0; c < WG_T; c++) /* columns: t = B^T d */
                input_rows(d + c * WG_CC, WG_T * WG_CC, t + c * WG_CC, WG_T * WG_CC, n);
            for (int r = 0; r < WG_T; r++) /* rows: V = t B */
                input_rows(t + r * WG_T * WG_CC, WG_CC, v + r * WG_T * xs + (ptrdiff_t)b * cin + c0, xs, n);
        }
    }
}

/* The 4x4 outputs of each block from M[xi][b][co], plus bias, clipped to the oh x ow output. */
static void transform_outputs(const float *m, const float *bias, int cout, int oh, int ow, int by, int bx0, int nb,
                              float *out)
{
    float t[WG_M * WG_T * WG_CC], y[WG_M * WG_M * WG_CC];
    const ptrdiff_t xs = (ptrdiff_t)WG_CB * cout;
    for (int b = 0; b < nb; b++) {
        const int y0 = by * WG_M, x0 = (bx0 + b) * WG_M;
        for (int c0 = 0; c0 < cout; c0 += WG_CC) {
            const int n = cout - c0 < WG_CC ? cout - c0 : WG_CC;
            for (int c = 0; c < WG_T; c++) /* columns: t = A^T M */
                output_rows(m + c * xs + (ptrdiff_t)b * cout + c0, WG_T * xs, t + c * WG_CC, WG_T * WG_CC, n);
            for (int r = 0; r < WG_M; r++) /* rows: Y = t A */
                output_rows(t + r * WG_T * WG_CC, WG_CC, y + r * WG_M * WG_CC, WG_CC, n);
            for (int r = 0; r < WG_M && y0 + r < oh; r++)
                for (int c = 0; c < WG_M && x0 + c < ow; c++) {
                    const float *src = y + (r * WG_M + c) * WG_CC;
                    float *dst = out + ((size_t)(y0 + r) * ow + x0 + c) * cout + c0;
                    NN_SIMD
                    for (int i = 0; i < n; i++)
                        dst[i] = src[i] + bias[c0 + i];
                }
        }
    }
}

int nn_winograd_pack(const NnKernels *k, NnConv *conv, int threads)
{
    const int cin = conv->cin, cout = conv->cout;
    const size_t per = k->gemm_packed_size(cin, cout);
    float *u = malloc((size_t)WG_N * cin * cout * sizeof(float));
    float *p = nn_alloc_packed(WG_N * per);
    if (!u || !p) {
        free(u);
        nn_free_packed(p);
        return -1;
    }
    /* U = (G g) G^T in double; ci outer and co inner so that each U[xi] row is written in order. */
    NN_PARALLEL_FOR(threads < 1 ? 1 : threads)
    for (int ci = 0; ci < cin; ci++)
        for (int co = 0; co < cout; co++) {
            const float *g = conv->weight + ((size_t)co * cin + ci) * 9;
            double gg[WG_T][3];
            for (int r = 0; r < WG_T; r++)
                for (int e = 0; e < 3; e++)
                    gg[r][e] = wg_g[r][0] * g[e] + wg_g[r][1] * g[3 + e] + wg_g[r][2] * g[6 + e];
            for (int r = 0; r < WG_T; r++)
                for (int c = 0; c < WG_T; c++)
                    u[((size_t)(r * WG_T + c) * cin + ci) * cout + co] =
                        (float)(gg[r][0] * wg_g[c][0] + gg[r][1] * wg_g[c][1] + gg[r][2] * wg_g[c][2]);
        }
    NN_PARALLEL_FOR(threads < 1 ? 1 : threads)
    for (int xi = 0; xi < WG_N; xi++)
        k->gemm_pack(u + (size_t)xi * cin * cout, cin, cout, p + xi * per);
    free(u);
    conv->packed = p;
    conv->packed_size = WG_N * per;
    conv->packed_level = k->cpu;
    return 0;
}

int nn_winograd_conv(const NnKernels *k, const NnConv *conv, const float *in, int ih, int iw, float *out,
                     int threads)
{
    const int cin = conv->cin, cout = conv->cout;
    const int bh = (ih + WG_M - 1) / WG_M, bw = (iw + WG_M - 1) / WG_M, chunks = (bw + WG_CB - 1) / WG_CB;
    const size_t per = k->gemm_packed_size(cin, cout);
    const size_t vsize = (size_t)WG_N * WG_CB * cin, scratch = vsize + (size_t)WG_N * WG_CB * cout;
    threads = threads < 1 ? 1 : threads;
    float *work = nn_alloc_packed(scratch * threads);
    if (!work)
        return -1;
    NN_PARALLEL_FOR(threads)
    for (int item = 0; item < bh * chunks; item++) {
        const int by = item / chunks, bx0 = item % chunks * WG_CB;
        const int nb = bw - bx0 < WG_CB ? bw - bx0 : WG_CB;
        float *v = work + scratch * nn_thread_index(), *m = v + vsize;
        transform_inputs(in, ih, iw, cin, by, bx0, nb, v);
        for (int xi = 0; xi < WG_N; xi++)
            k->gemm(v + (size_t)xi * WG_CB * cin, cin, conv->packed + xi * per, cin, cout,
                    m + (size_t)xi * WG_CB * cout, cout, nb);
        transform_outputs(m, conv->bias, cout, ih, iw, by, bx0, nb, out);
    }
    nn_free_packed(work);
    return 0;
}
