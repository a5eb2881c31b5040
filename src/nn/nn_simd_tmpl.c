/* nn_simd_tmpl.c: the driver every SIMD level shares (panel packing, the implicit-GEMM convolution,
 * the GEMM, GDN), compiled once per level by the file that includes it (dav1d's *_tmpl.c idea).
 *
 * The including file holds only what differs between levels: its vector type and a handful of
 * inline operations on it.  It defines, before the #include:
 *   NN_FN(name)        the level's function name, name##_<level>
 *   NN_LEVEL           its NN_CPU_* value
 *   VL, MR, KC         floats per vector, rows of the register tile, longest reduction run per pass
 *   KP                 reduction steps per 32-bit lane: 1 (float products), 2 (bfloat16 pairs)
 *   Elem               float or uint16_t (bfloat16): what the weights and the reduction operand hold
 *   Vec, WVec, AVec    the float accumulator, a weight vector, a broadcast reduction operand
 *   vec_zero(), vec_load(p, last, tail), vec_store(p, v, last, tail)   floats, the last vector of
 *                      a row masked to its `tail` valid lanes
 *   wvec_load(w)       NR weights of KP reduction steps, 64-byte aligned
 *   avec_bcast(a)      KP reduction operands broadcast to every lane
 *   vec_mac(acc, x, w) acc + the KP products of x and w, summed in a fixed order
 *   elem_from_float(f) one weight as Elem
 *   NN_TMPL_GDN        1: also the GDN kernels, with vec_load_aligned, vec_sqrt, vec_mul, vec_div
 *   NN_TMPL_CONVERT    1: the convolution's input rows are converted to Elem by rows_to_elem(src,
 *                      dst, n) before use (bfloat16); 0: they are used where they are (float)
 *   NN_TMPL_WINOGRAD   1: also the Winograd driver (nn_winograd_tmpl.c), vectorized for this level
 *
 * Weights are packed in panels of NR = VL * NV output channels: panel p holds, for every reduction
 * index kk (conv: (ky*k + kx)*cin + ci; GEMM: the row of B; GDN: j), its NR weights, KP reduction
 * steps interleaved per lane.  A tile of MR output pixels x NR channels lives in registers; each
 * step broadcasts KP reduction operands per pixel. */

#define NV 2 /* vectors per panel */
#define NR (VL * NV)

#define INLINE static inline __attribute__((always_inline))
#define NN_UNROLL(n) NN_PRAGMA(GCC unroll n)

_Static_assert(MR == 6 || MR == 12, "the tile tables below cover 6 or 12 rows");
_Static_assert(KC % KP == 0, "passes keep reduction pairs together");

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

/* A reduction length rounded up to whole steps: the padding holds zero weights. */
static int kpad(int kdim)
{
    return (kdim + KP - 1) / KP * KP;
}

/* acc[i][v] += a[i*as + kk] * w[kk][v] for kk = 0 .. kc-1 in order (KP at a time). */
INLINE void kloop(Vec acc[MR][NV], const Elem *a, ptrdiff_t as, const Elem *w, int kc, int m, int nv)
{
    for (int kk = 0; kk < kc; kk += KP, a += KP, w += nv * VL * KP) {
        WVec b[NV];
        NN_UNROLL(2)
        for (int v = 0; v < nv; v++)
            b[v] = wvec_load(w + v * VL * KP);
        NN_UNROLL(MR)
        for (int i = 0; i < m; i++) {
            AVec x = avec_bcast(a + i * as);
            NN_UNROLL(2)
            for (int v = 0; v < nv; v++)
                acc[i][v] = vec_mac(acc[i][v], x, b[v]);
        }
    }
}

/* c[i*cs + lane] += the tile's products: the partial sums live in the output between passes;
 * fresh: the first pass of a GEMM, whose sums start at zero instead. */
INLINE void conv_tile(const Elem *a, ptrdiff_t as, const Elem *w, int kc, float *c, ptrdiff_t cs, int tail,
                      int fresh, int m, int nv)
{
    Vec acc[MR][NV];
    NN_UNROLL(MR)
    for (int i = 0; i < m; i++)
        NN_UNROLL(2)
        for (int v = 0; v < nv; v++)
            acc[i][v] = fresh ? vec_zero() : vec_load(c + i * cs + v * VL, v == nv - 1, tail);
    kloop(acc, a, as, w, kc, m, nv);
    NN_UNROLL(MR)
    for (int i = 0; i < m; i++)
        NN_UNROLL(2)
        for (int v = 0; v < nv; v++)
            vec_store(c + i * cs + v * VL, acc[i][v], v == nv - 1, tail);
}

/* One function per tile shape, so that each gets its accumulators in registers. */
typedef void ConvTileFn(const Elem *a, ptrdiff_t as, const Elem *w, int kc, float *c, ptrdiff_t cs, int tail,
                        int fresh);
#define CONV_TILE_FNS(M, N) \
    static void conv_tile_##M##_##N(const Elem *a, ptrdiff_t as, const Elem *w, int kc, float *c, ptrdiff_t cs, \
                                    int tail, int fresh) \
    { \
        conv_tile(a, as, w, kc, c, cs, tail, fresh, M, N); \
    }
#define CONV_TILE_ROW(M) CONV_TILE_FNS(M, 1) CONV_TILE_FNS(M, 2)
#define CONV_ROW(M) {conv_tile_##M##_1, conv_tile_##M##_2}
CONV_TILE_ROW(1) CONV_TILE_ROW(2) CONV_TILE_ROW(3) CONV_TILE_ROW(4) CONV_TILE_ROW(5) CONV_TILE_ROW(6)
#if MR > 6
CONV_TILE_ROW(7) CONV_TILE_ROW(8) CONV_TILE_ROW(9) CONV_TILE_ROW(10) CONV_TILE_ROW(11) CONV_TILE_ROW(12)
#endif
static ConvTileFn *const conv_tiles[MR][NV] = {
    CONV_ROW(1), CONV_ROW(2), CONV_ROW(3), CONV_ROW(4), CONV_ROW(5), CONV_ROW(6),
#if MR > 6
    CONV_ROW(7), CONV_ROW(8), CONV_ROW(9), CONV_ROW(10), CONV_ROW(11), CONV_ROW(12),
#endif
};

/* ------------------------------------------------------------------ convolution */

/* Fills the panels of a kdim x n matrix whose element (kk, col) is at src[col * cs + f(kk)], f(kk) =
 * (kk % inner) * is + (kk / inner) * os: written in order, the padding zero. */
static void pack_panels(const float *src, size_t cs, int inner, size_t is, size_t os, int kdim, int n, Elem *dst)
{
    for (int p = 0; p < npanels(n); p++) {
        const int width = panel_vecs(n, p) * VL, c0 = p * NR, valid = n - c0 < width ? n - c0 : width;
        Elem *d = dst + (size_t)p * NR * kpad(kdim);
        for (int kk = 0; kk < kpad(kdim); kk += KP, d += (size_t)width * KP) {
            for (int j = 0; j < KP; j++) {
                const int r = kk + j;
                const float *s = src + c0 * cs + (size_t)(r % inner) * is + (size_t)(r / inner) * os;
                for (int col = 0; col < width; col++)
                    d[col * KP + j] = col < valid && r < kdim ? elem_from_float(s[col * cs]) : elem_from_float(0);
            }
        }
    }
}

int NN_FN(nn_conv_pack)(NnConv *conv)
{
    int k = conv->k, cin = conv->cin, cout = conv->cout, kdim = k * k * cin;
    size_t n = (size_t)npanels(cout) * NR * kpad(kdim);
    Elem *p = nn_alloc_packed(n * sizeof(Elem));
    if (!p)
        return -1;
    /* Reduction index kk = t * cin + ci: weight[co][ci][t]. */
    pack_panels(conv->weight, (size_t)cin * k * k, cin, (size_t)k * k, 1, kdim, cout, p);
    conv->packed = p;
    conv->packed_size = n;
    conv->packed_level = NN_LEVEL;
    return 0;
}

/* Output columns [xa, xb) see no padding in x; the others go through the per-pixel path. */
typedef struct ConvGeom {
    int ih, iw, ow, xa, xb;
    int kcs; /* reduction run per pass: k*cin split evenly into runs of at most KC, whole steps */
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
    g.kcs = kpad((run + passes - 1) / passes);
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
static void conv_interior(const NnConv *cv, const ConvGeom *g, const Elem *row, int ky, float *orow)
{
    int k = cv->k, s = cv->stride, cin = cv->cin, cout = cv->cout, kdim = kpad(k * k * cin);
    const Elem *packed = cv->packed;
    for (int c0 = 0; c0 < k * cin; c0 += g->kcs) {
        int kc = k * cin - c0 < g->kcs ? k * cin - c0 : g->kcs;
        for (int p = 0; p < npanels(cout); p++) {
            int nv = panel_vecs(cout, p), tail = panel_tail(cout, p);
            const Elem *w = packed + (size_t)p * NR * kdim + (size_t)(ky * k * cin + c0) * nv * VL;
            for (int x = g->xa; x < g->xb; x += MR) {
                int m = g->xb - x < MR ? g->xb - x : MR;
                const Elem *a = row + (ptrdiff_t)(x * s - k / 2) * cin + c0;
                conv_tiles[m - 1][nv - 1](a, (ptrdiff_t)s * cin, w, kc, orow + (size_t)x * cout + p * NR, cout,
                                          tail, 0);
            }
        }
    }
}

/* Adds input row `row` (kernel row ky) to output pixel x, whose window is clipped in x. One pixel
 * alone is latency-bound, but only the k/2 columns at each side take this path. */
static void conv_edge(const NnConv *cv, const ConvGeom *g, const Elem *row, int ky, int x, float *orow)
{
    int k = cv->k, cin = cv->cin, cout = cv->cout, kdim = kpad(k * k * cin);
    int ix = x * cv->stride - k / 2, kx0, kx1;
    const Elem *packed = cv->packed;
    valid_taps(ix, k, g->iw, &kx0, &kx1);
    const Elem *a = row + (ptrdiff_t)(ix + kx0) * cin;
    for (int p = 0; p < npanels(cout); p++) {
        int nv = panel_vecs(cout, p);
        const Elem *w = packed + (size_t)p * NR * kdim + (size_t)(ky * k + kx0) * cin * nv * VL;
        conv_tiles[0][nv - 1](a, 0, w, (kx1 - kx0) * cin, orow + (size_t)x * cout + p * NR, 0, panel_tail(cout, p),
                              0);
    }
}

/* Output row y; `rows` is the calling thread's room for k input rows as Elem (NN_TMPL_CONVERT). */
static void conv_row(const NnConv *cv, const ConvGeom *g, const float *in, float *out, int y, Elem *rows)
{
    int k = cv->k, cin = cv->cin, cout = cv->cout, ky0, ky1;
    int iy = y * cv->stride - k / 2;
    float *orow = out + (size_t)y * g->ow * cout;
    /* Outputs start at the bias; every pass then adds its products to them. */
    for (int x = 0; x < g->ow; x++)
        memcpy(orow + (size_t)x * cout, cv->bias, (size_t)cout * sizeof(float));
    valid_taps(iy, k, g->ih, &ky0, &ky1);
    for (int ky = ky0; ky < ky1; ky++) {
        const float *src = in + (size_t)(iy + ky) * g->iw * cin;
#if NN_TMPL_CONVERT
        const size_t n = (size_t)g->iw * cin;
        Elem *row = rows + (size_t)(ky - ky0) * n;
        rows_to_elem(src, row, n);
#else
        const Elem *row = src;
        (void)rows;
#endif
        conv_interior(cv, g, row, ky, orow);
        for (int x = 0; x < g->xa; x++)
            conv_edge(cv, g, row, ky, x, orow);
        for (int x = g->xb; x < g->ow; x++)
            conv_edge(cv, g, row, ky, x, orow);
    }
}

int NN_FN(nn_conv2d)(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads)
{
    assert(conv->packed && conv->packed_level == NN_LEVEL);
    ConvGeom g = conv_geom(conv, ih, iw);
    int oh = nn_conv_out_size(ih, conv->k, conv->stride);
    threads = threads < 1 ? 1 : threads;
#if NN_TMPL_CONVERT
    const size_t per_thread = (size_t)conv->k * iw * conv->cin;
    Elem *rows = nn_alloc_scratch(per_thread * threads * sizeof(Elem));
    if (!rows)
        return -1;
#else
    const size_t per_thread = 0;
    Elem *rows = NULL;
#endif
    NN_PARALLEL_FOR(threads)
    for (int y = 0; y < oh; y++)
        conv_row(conv, &g, in, out, y, rows ? rows + per_thread * nn_thread_index() : NULL);
    nn_free_scratch(rows);
    return 0;
}

/* ------------------------------------------------------------------ GEMM */

size_t NN_FN(nn_gemm_packed_size)(int k, int n)
{
    return (size_t)npanels(n) * NR * kpad(k);
}

void NN_FN(nn_gemm_pack)(const float *b, int k, int n, Elem *dst)
{
    pack_panels(b, 1, 1, 0, (size_t)n, k, n, dst); /* b[kk][col] */
}

/* Panel by panel, so each slice of B is reused from L1 across all m rows; reductions longer than
 * KC go in passes, the first starting from zero. */
void NN_FN(nn_gemm)(const Elem *a, ptrdiff_t lda, const Elem *b, int k, int n, float *c, ptrdiff_t ldc, int m)
{
    assert(k % KP == 0);
    for (int p = 0; p < npanels(n); p++) {
        int nv = panel_vecs(n, p), tail = panel_tail(n, p);
        for (int k0 = 0; k0 < k; k0 += KC) {
            int kc = k - k0 < KC ? k - k0 : KC;
            const Elem *w = b + (size_t)p * NR * k + (size_t)k0 * nv * VL;
            for (int i = 0; i < m; i += MR) {
                int mm = m - i < MR ? m - i : MR;
                conv_tiles[mm - 1][nv - 1](a + i * lda + k0, lda, w, kc, c + i * ldc + p * NR, ldc, tail, k0 == 0);
            }
        }
    }
}

/* ------------------------------------------------------------------ GDN */

#if NN_TMPL_GDN
#define GDN_BUF 12288 /* squared inputs a GDN block keeps on the stack (48 KB of floats) */
_Static_assert(GDN_BUF >= MR * NN_GDN_MAX_CHANNELS, "GDN block must hold MR pixels");

/* GDN on m pixels x one panel: norm = beta + x2 . gamma^T, then x scaled into y (which may be x). */
INLINE void gdn_tile(const Elem *x2, ptrdiff_t as, const Elem *w, int kc, const float *beta, const float *x, float *y,
                     int inverse, int tail, int m, int nv)
{
    Vec acc[MR][NV];
    NN_UNROLL(MR)
    for (int i = 0; i < m; i++)
        NN_UNROLL(2)
        for (int v = 0; v < nv; v++)
            acc[i][v] = vec_load_aligned(beta + v * VL);
    kloop(acc, x2, as, w, kc, m, nv);
    NN_UNROLL(MR)
    for (int i = 0; i < m; i++)
        NN_UNROLL(2)
        for (int v = 0; v < nv; v++) {
            const ptrdiff_t at = i * as + v * VL;
            Vec r = vec_sqrt(acc[i][v]), xv = vec_load(x + at, v == nv - 1, tail);
            vec_store(y + at, inverse ? vec_mul(xv, r) : vec_div(xv, r), v == nv - 1, tail);
        }
}

typedef void GdnTileFn(const Elem *x2, ptrdiff_t as, const Elem *w, int kc, const float *beta, const float *x,
                       float *y, int inverse, int tail);
#define GDN_TILE_FNS(M, N) \
    static void gdn_tile_##M##_##N(const Elem *x2, ptrdiff_t as, const Elem *w, int kc, const float *beta, \
                                   const float *x, float *y, int inverse, int tail) \
    { \
        gdn_tile(x2, as, w, kc, beta, x, y, inverse, tail, M, N); \
    }
#define GDN_TILE_ROW(M) GDN_TILE_FNS(M, 1) GDN_TILE_FNS(M, 2)
#define GDN_ROW(M) {gdn_tile_##M##_1, gdn_tile_##M##_2}
GDN_TILE_ROW(1) GDN_TILE_ROW(2) GDN_TILE_ROW(3) GDN_TILE_ROW(4) GDN_TILE_ROW(5) GDN_TILE_ROW(6)
#if MR > 6
GDN_TILE_ROW(7) GDN_TILE_ROW(8) GDN_TILE_ROW(9) GDN_TILE_ROW(10) GDN_TILE_ROW(11) GDN_TILE_ROW(12)
#endif
static GdnTileFn *const gdn_tiles[MR][NV] = {
    GDN_ROW(1), GDN_ROW(2), GDN_ROW(3), GDN_ROW(4), GDN_ROW(5), GDN_ROW(6),
#if MR > 6
    GDN_ROW(7), GDN_ROW(8), GDN_ROW(9), GDN_ROW(10), GDN_ROW(11), GDN_ROW(12),
#endif
};

/* Layout: beta (float) padded to whole panels, then gamma^T (reduction index j) in panels (Elem). */
int NN_FN(nn_gdn_pack)(NnGdn *gdn)
{
    int c = gdn->channels;
    size_t nb = (size_t)npanels(c) * NR, n = nb * sizeof(float) + nb * kpad(c) * sizeof(Elem);
    float *p = nn_alloc_packed(n);
    if (!p)
        return -1;
    memcpy(p, gdn->beta, (size_t)c * sizeof(float));
    /* reduction j, column i: gamma[i][j] */
    pack_panels(gdn->gamma, (size_t)c, 1, 0, 1, c, c, (Elem *)(void *)(p + nb));
    gdn->packed = p;
    gdn->packed_size = n / sizeof(float);
    gdn->packed_level = NN_LEVEL;
    return 0;
}

/* n pixels: their squares go to the stack, so each pixel's outputs may overwrite its inputs (y == x). */
static void gdn_block(const NnGdn *gdn, const float *x, float *y, int n)
{
    _Alignas(64) Elem x2[GDN_BUF];
    int c = gdn->channels;
#if NN_TMPL_CONVERT
    for (int i0 = 0; i0 < n * c; i0 += 1024) { /* squared, then rounded to Elem */
        _Alignas(64) float sq[1024];
        const int len = n * c - i0 < 1024 ? n * c - i0 : 1024;
        NN_SIMD
        for (int i = 0; i < len; i++)
            sq[i] = x[i0 + i] * x[i0 + i];
        rows_to_elem(sq, x2 + i0, (size_t)len);
    }
#else
    NN_SIMD
    for (int i = 0; i < n * c; i++)
        x2[i] = x[i] * x[i];
#endif
    const Elem *panels = (const Elem *)(const void *)(gdn->packed + (size_t)npanels(c) * NR);
    for (int p = 0; p < npanels(c); p++) {
        int nv = panel_vecs(c, p), tail = panel_tail(c, p);
        const Elem *w = panels + (size_t)p * NR * kpad(c);
        for (int i = 0; i < n; i += MR) {
            int m = n - i < MR ? n - i : MR;
            const size_t at = (size_t)i * c + p * NR;
            gdn_tiles[m - 1][nv - 1](x2 + (size_t)i * c, c, w, c, gdn->packed + p * NR, x + at, y + at, gdn->inverse,
                                     tail);
        }
    }
}

void NN_FN(nn_gdn)(const NnGdn *gdn, const float *in, float *out, int h, int w, int threads)
{
    assert(gdn->packed && gdn->packed_level == NN_LEVEL);
    int c = gdn->channels;
    ptrdiff_t total = (ptrdiff_t)h * w, block = GDN_BUF / (c * MR) * MR;
    ptrdiff_t blocks = (total + block - 1) / block;
    NN_PARALLEL_FOR(threads < 1 ? 1 : threads)
    for (ptrdiff_t b = 0; b < blocks; b++) {
        ptrdiff_t first = b * block;
        gdn_block(gdn, in + first * c, out + first * c, (int)(total - first < block ? total - first : block));
    }
}
#endif

#if NN_TMPL_WINOGRAD
#include "nn_winograd_tmpl.c"
#endif
