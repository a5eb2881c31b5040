/* nn_avx512.c: AVX-512 kernels: convolution as an implicit GEMM on a 12x32 register tile, and GDN. */
#include "nn.h"

#include <assert.h>
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

/* Weights are packed in panels of NR output channels: panel p holds, for every reduction index
 * kk (conv: (ky*k + kx)*cin + ci; GDN: j), its NR weights contiguously. A tile of MR output
 * pixels x NR channels lives in 24 of the 32 registers; each step broadcasts one input per pixel. */
#define VL 16 /* floats per vector */
#define NV 2  /* vectors per panel */
#define NR (VL * NV)
#define MR 12
#define KC 192 /* longest reduction run per pass: a 24 KB panel slice stays in L1 */
#define GDN_BUF 12288 /* floats of squared inputs a GDN block keeps on the stack (48 KB) */

_Static_assert(GDN_BUF >= MR * NN_GDN_MAX_CHANNELS, "GDN block must hold MR pixels");

#define INLINE static inline __attribute__((always_inline))

static int npanels(int n)
{
    return (n + NR - 1) / NR;
}

/* Vectors in panel p of n channels: NV, or fewer in the last panel, so that a narrow remainder
 * (e.g. a 12-channel output) is not padded to a whole panel. */
static int panel_vecs(int n, int p)
{
    int left = n - p * NR;
    return left >= NR ? NV : (left + VL - 1) / VL;
}

/* Valid lanes in the last vector of panel p. */
static int panel_tail(int n, int p)
{
    int left = n - p * NR - (panel_vecs(n, p) - 1) * VL;
    return left < VL ? left : VL;
}

/* Where weight (kk, column col) of a K x n matrix goes in the panel layout. */
static size_t panel_index(int kdim, int n, int kk, int col)
{
    int p = col / NR;
    return (size_t)p * NR * kdim + (size_t)kk * panel_vecs(n, p) * VL + col % NR;
}

/* The last vector of a row may be partial: masked accesses keep to the tensor's channels. */
INLINE __mmask16 lanes(int last, int tail)
{
    return last ? (__mmask16)((1u << tail) - 1) : (__mmask16)0xffff;
}

INLINE __m512 load_vec(const float *p, int last, int tail)
{
    return _mm512_maskz_loadu_ps(lanes(last, tail), p);
}

INLINE void store_vec(float *p, __m512 v, int last, int tail)
{
    _mm512_mask_storeu_ps(p, lanes(last, tail), v);
}

/* acc[i][v] += a[i*as + kk] * w[kk][v] for kk = 0 .. kc-1 in order. */
INLINE void kloop(__m512 acc[MR][NV], const float *a, ptrdiff_t as, const float *w, int kc, int m,
                  int nv)
{
    for (int kk = 0; kk < kc; kk++, a++, w += nv * VL) {
        __m512 b[NV];
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++)
            b[v] = _mm512_load_ps(w + v * VL);
#pragma GCC unroll 12
        for (int i = 0; i < m; i++) {
            __m512 x = _mm512_set1_ps(a[i * as]);
#pragma GCC unroll 2
            for (int v = 0; v < nv; v++)
                acc[i][v] = _mm512_fmadd_ps(x, b[v], acc[i][v]);
        }
    }
}

/* c[i*cs + lane] += the tile's products: the partial sums live in the output between passes;
 * fresh: the first pass of a GEMM, whose sums start at zero instead. */
INLINE void conv_tile(const float *a, ptrdiff_t as, const float *w, int kc, float *c, ptrdiff_t cs,
                      int tail, int fresh, int m, int nv)
{
    __m512 acc[MR][NV];
#pragma GCC unroll 12
    for (int i = 0; i < m; i++)
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++)
            acc[i][v] = fresh ? _mm512_setzero_ps()
                              : load_vec(c + i * cs + v * VL, v == nv - 1, tail);
    kloop(acc, a, as, w, kc, m, nv);
#pragma GCC unroll 12
    for (int i = 0; i < m; i++)
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++)
            store_vec(c + i * cs + v * VL, acc[i][v], v == nv - 1, tail);
}

/* GDN on m pixels x one panel: norm = beta + x2 . gamma^T, then x scaled in place. */
INLINE void gdn_tile(const float *x2, ptrdiff_t as, const float *w, int kc, const float *beta,
                     float *x, int inverse, int tail, int m, int nv)
{
    __m512 acc[MR][NV];
#pragma GCC unroll 12
    for (int i = 0; i < m; i++)
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++)
            acc[i][v] = _mm512_load_ps(beta + v * VL);
    kloop(acc, x2, as, w, kc, m, nv);
#pragma GCC unroll 12
    for (int i = 0; i < m; i++)
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++) {
            float *p = x + i * as + v * VL;
            __m512 r = _mm512_sqrt_ps(acc[i][v]), xv = load_vec(p, v == nv - 1, tail);
            store_vec(p, inverse ? _mm512_mul_ps(xv, r) : _mm512_div_ps(xv, r), v == nv - 1, tail);
        }
}

/* One function per tile shape, so that each gets its accumulators in registers. */
typedef void ConvTileFn(const float *a, ptrdiff_t as, const float *w, int kc, float *c,
                        ptrdiff_t cs, int tail, int fresh);
typedef void GdnTileFn(const float *x2, ptrdiff_t as, const float *w, int kc, const float *beta,
                       float *x, int inverse, int tail);

#define TILE_FNS(M, N) \
    static void conv_tile_##M##_##N(const float *a, ptrdiff_t as, const float *w, int kc, \
                                    float *c, ptrdiff_t cs, int tail, int fresh) \
    { \
        conv_tile(a, as, w, kc, c, cs, tail, fresh, M, N); \
    } \
    static void gdn_tile_##M##_##N(const float *x2, ptrdiff_t as, const float *w, int kc, \
                                   const float *beta, float *x, int inverse, int tail) \
    { \
        gdn_tile(x2, as, w, kc, beta, x, inverse, tail, M, N); \
    }
#define TILE_ROWS(M) TILE_FNS(M, 1) TILE_FNS(M, 2)
TILE_ROWS(1) TILE_ROWS(2) TILE_ROWS(3) TILE_ROWS(4) TILE_ROWS(5) TILE_ROWS(6)
TILE_ROWS(7) TILE_ROWS(8) TILE_ROWS(9) TILE_ROWS(10) TILE_ROWS(11) TILE_ROWS(12)

#define CONV_ROW(M) {conv_tile_##M##_1, conv_tile_##M##_2}
static ConvTileFn *const conv_tiles[MR][NV] = {
    CONV_ROW(1), CONV_ROW(2), CONV_ROW(3), CONV_ROW(4), CONV_ROW(5), CONV_ROW(6),
    CONV_ROW(7), CONV_ROW(8), CONV_ROW(9), CONV_ROW(10), CONV_ROW(11), CONV_ROW(12),
};
#define GDN_ROW(M) {gdn_tile_##M##_1, gdn_tile_##M##_2}
static GdnTileFn *const gdn_tiles[MR][NV] = {
    GDN_ROW(1), GDN_ROW(2), GDN_ROW(3), GDN_ROW(4), GDN_ROW(5), GDN_ROW(6),
    GDN_ROW(7), GDN_ROW(8), GDN_ROW(9), GDN_ROW(10), GDN_ROW(11), GDN_ROW(12),
};

int nn_conv_pack_avx512(NnConv *conv)
{
    int k = conv->k, cin = conv->cin, cout = conv->cout, kdim = k * k * cin;
    size_t n = (size_t)npanels(cout) * NR * kdim;
    float *p = nn_alloc_packed(n);
    if (!p)
        return -1;
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++)
            for (int t = 0; t < k * k; t++)
                p[panel_index(kdim, cout, t * cin + ci, co)] =
                    conv->weight[((size_t)co * cin + ci) * k * k + t];
    conv->packed = p;
    conv->packed_size = n;
    conv->packed_level = NN_CPU_AVX512;
    return 0;
}

/* Output columns [xa, xb) see no padding in x; the others go through the per-pixel path. */
typedef struct ConvGeom {
    int ih, iw, ow, xa, xb;
    int kcs; /* reduction run per pass: k*cin split evenly into runs of at most KC */
} ConvGeom;

static ConvGeom conv_geom(const NnConv *conv, int ih, int iw)
{
    int k = conv->k, s = conv->stride, pad = k / 2, run = k * conv->cin;
    ConvGeom g = {ih, iw, nn_conv_out_size(iw, k, s), 0, 0, 0};
    g.xa = (pad + s - 1) / s;
    g.xb = iw + pad - k < 0 ? 0 : (iw + pad - k) / s + 1;
    if (g.xa > g.ow)
        g.xa = g.ow;
    if (g.xb < g.xa)
        g.xb = g.xa;
    int passes = (run + KC - 1) / KC;
    g.kcs = (run + passes - 1) / passes;
    return g;
}

/* The taps of a window starting at input coordinate `start` that fall inside [0, size). */
static void valid_taps(int start, int k, int size, int *t0, int *t1)
{
    *t0 = start < 0 ? -start : 0;
    *t1 = start + k > size ? size - start : k;
}

/* Adds input row `row` (kernel row ky) to the interior outputs of orow, pass by pass so that
 * each panel slice is reused from L1 across the whole row. */
static void conv_interior(const NnConv *cv, const ConvGeom *g, const float *row, int ky, float *orow)
{
    int k = cv->k, s = cv->stride, cin = cv->cin, cout = cv->cout, kdim = k * k * cin;
    for (int c0 = 0; c0 < k * cin; c0 += g->kcs) {
        int kc = k * cin - c0 < g->kcs ? k * cin - c0 : g->kcs;
        for (int p = 0; p < npanels(cout); p++) {
            int nv = panel_vecs(cout, p), tail = panel_tail(cout, p);
            const float *w = cv->packed + (size_t)p * NR * kdim + (size_t)(ky * k * cin + c0) * nv * VL;
            for (int x = g->xa; x < g->xb; x += MR) {
                int m = g->xb - x < MR ? g->xb - x : MR;
                const float *a = row + (ptrdiff_t)(x * s - k / 2) * cin + c0;
                conv_tiles[m - 1][nv - 1](a, (ptrdiff_t)s * cin, w, kc, orow + (size_t)x * cout + p * NR,
                                          cout, tail, 0);
            }
        }
    }
}

/* Adds input row `row` (kernel row ky) to output pixel x, whose window is clipped in x. One pixel
 * alone is latency-bound, but only the k/2 columns at each side take this path. */
static void conv_edge(const NnConv *cv, const ConvGeom *g, const float *row, int ky, int x, float *orow)
{
    int k = cv->k, cin = cv->cin, cout = cv->cout, kdim = k * k * cin;
    int ix = x * cv->stride - k / 2, kx0, kx1;
    valid_taps(ix, k, g->iw, &kx0, &kx1);
    const float *a = row + (ptrdiff_t)(ix + kx0) * cin;
    for (int p = 0; p < npanels(cout); p++) {
        int nv = panel_vecs(cout, p);
        const float *w = cv->packed + (size_t)p * NR * kdim + (size_t)(ky * k + kx0) * cin * nv * VL;
        conv_tiles[0][nv - 1](a, 0, w, (kx1 - kx0) * cin, orow + (size_t)x * cout + p * NR, 0,
                              panel_tail(cout, p), 0);
    }
}

static void conv_row(const NnConv *cv, const ConvGeom *g, const float *in, float *out, int y)
{
    int k = cv->k, cin = cv->cin, cout = cv->cout, ky0, ky1;
    int iy = y * cv->stride - k / 2;
    float *orow = out + (size_t)y * g->ow * cout;
    /* Outputs start at the bias; every pass then adds its products to them. */
    for (int x = 0; x < g->ow; x++)
        memcpy(orow + (size_t)x * cout, cv->bias, (size_t)cout * sizeof(float));
    valid_taps(iy, k, g->ih, &ky0, &ky1);
    for (int ky = ky0; ky < ky1; ky++) {
        const float *row = in + (size_t)(iy + ky) * g->iw * cin;
        conv_interior(cv, g, row, ky, orow);
        for (int x = 0; x < g->xa; x++)
            conv_edge(cv, g, row, ky, x, orow);
        for (int x = g->xb; x < g->ow; x++)
            conv_edge(cv, g, row, ky, x, orow);
    }
}

void nn_conv2d_avx512(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads)
{
    assert(conv->packed && conv->packed_level == NN_CPU_AVX512);
    ConvGeom g = conv_geom(conv, ih, iw);
    int oh = nn_conv_out_size(ih, conv->k, conv->stride);
    NN_PARALLEL_FOR(threads < 1 ? 1 : threads)
    for (int y = 0; y < oh; y++)
        conv_row(conv, &g, in, out, y);
}

size_t nn_gemm_packed_size_avx512(int k, int n)
{
    return (size_t)npanels(n) * NR * k;
}

void nn_gemm_pack_avx512(const float *b, int k, int n, float *dst)
{
    for (int kk = 0; kk < k; kk++)
        for (int col = 0; col < n; col++)
            dst[panel_index(k, n, kk, col)] = b[(size_t)kk * n + col];
}

/* Panel by panel, so each slice of B is reused from L1 across all m rows; reductions longer than
 * KC go in passes, the first starting from zero. */
void nn_gemm_avx512(const float *a, ptrdiff_t lda, const float *b, int k, int n, float *c, ptrdiff_t ldc, int m)
{
    for (int p = 0; p < npanels(n); p++) {
        int nv = panel_vecs(n, p), tail = panel_tail(n, p);
        for (int k0 = 0; k0 < k; k0 += KC) {
            int kc = k - k0 < KC ? k - k0 : KC;
            const float *w = b + (size_t)p * NR * k + (size_t)k0 * nv * VL;
            for (int i = 0; i < m; i += MR) {
                int mm = m - i < MR ? m - i : MR;
                conv_tiles[mm - 1][nv - 1](a + i * lda + k0, lda, w, kc, c + i * ldc + p * NR, ldc, tail, k0 == 0);
            }
        }
    }
}

/* Layout: beta padded to whole panels, then gamma^T (reduction index j) in panels. */
int nn_gdn_pack_avx512(NnGdn *gdn)
{
    int c = gdn->channels;
    size_t nb = (size_t)npanels(c) * NR, n = nb + nb * c;
    float *p = nn_alloc_packed(n);
    if (!p)
        return -1;
    memcpy(p, gdn->beta, (size_t)c * sizeof(float));
    for (int i = 0; i < c; i++)
        for (int j = 0; j < c; j++)
            p[nb + panel_index(c, c, j, i)] = gdn->gamma[(size_t)i * c + j];
    gdn->packed = p;
    gdn->packed_size = n;
    gdn->packed_level = NN_CPU_AVX512;
    return 0;
}

/* n pixels: their squares go to the stack, so each pixel's outputs can overwrite its inputs. */
static void gdn_block(const NnGdn *gdn, float *x, int n)
{
    _Alignas(64) float x2[GDN_BUF];
    int c = gdn->channels;
    for (int i = 0; i < n * c; i++)
        x2[i] = x[i] * x[i];
    const float *panels = gdn->packed + (size_t)npanels(c) * NR;
    for (int p = 0; p < npanels(c); p++) {
        int nv = panel_vecs(c, p), tail = panel_tail(c, p);
        const float *w = panels + (size_t)p * NR * c;
        for (int i = 0; i < n; i += MR) {
            int m = n - i < MR ? n - i : MR;
            gdn_tiles[m - 1][nv - 1](x2 + (size_t)i * c, c, w, c, gdn->packed + p * NR,
                                     x + (size_t)i * c + p * NR, gdn->inverse, tail);
        }
    }
}

void nn_gdn_avx512(const NnGdn *gdn, float *data, int h, int w, int threads)
{
    assert(gdn->packed && gdn->packed_level == NN_CPU_AVX512);
    int c = gdn->channels;
    ptrdiff_t total = (ptrdiff_t)h * w, block = GDN_BUF / (c * MR) * MR;
    ptrdiff_t blocks = (total + block - 1) / block;
    NN_PARALLEL_FOR(threads < 1 ? 1 : threads)
    for (ptrdiff_t b = 0; b < blocks; b++) {
        ptrdiff_t first = b * block;
        gdn_block(gdn, data + first * c, (int)(total - first < block ? total - first : block));
    }
}
