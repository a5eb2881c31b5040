/* nn_winograd_tmpl.c: the Winograd F(4x4, 3x3) driver and transforms (nn_winograd.c explains the
 * method), compiled once per level by the file that includes it, so that the transforms' loops are
 * vectorized for that level's registers; the products go through the level's GEMM.  The including file
 * defines NN_FN(name), the level's name for the entry points, and may define WG_TO_BF16(src, dst, n), an
 * inline k->to_bf16.  Every operation is the same IEEE
 * operation in the same order at every level (the library builds with -ffp-contract=off): only the
 * vector width differs, so float results are identical across levels. */

#define WG_M NN_WINOGRAD_M
#define WG_T NN_WINOGRAD_T
#define WG_N (WG_T * WG_T)
#define WG_CB 24 /* most blocks per work item: U is read once per item */
#define WG_CO 64 /* output channels per pass of an item: its M stays in L2 */
#define WG_CC 64 /* channels per transform pass: the pass's 6x6 tiles stay in L1 */
#define WG_INLINE static inline __attribute__((always_inline))

/* r = B^T d for 6 rows of n channels: d row k at d + k*ds, r row k at r + k*rs. */
WG_INLINE void input_rows(const float *d, ptrdiff_t ds, float *r, ptrdiff_t rs, int n)
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

/* input_rows for the bfloat16 points. */
WG_INLINE void input_rows_bf16(const float *d, ptrdiff_t ds, float *r, ptrdiff_t rs, int n)
{
    const float *d0 = d, *d1 = d + ds, *d2 = d + 2 * ds, *d3 = d + 3 * ds, *d4 = d + 4 * ds, *d5 = d + 5 * ds;
    NN_SIMD
    for (int c = 0; c < n; c++) {
        r[c] = d0[c] - 1.5f * d1[c] - 2 * d2[c] + 1.5f * d3[c] + d4[c];
        r[rs + c] = -d1[c] + 0.5f * d2[c] + 2.5f * d3[c] + d4[c];
        r[2 * rs + c] = d1[c] - 2.5f * d2[c] + 0.5f * d3[c] + d4[c];
        r[3 * rs + c] = -2 * (d1[c] - d3[c]) - d2[c] + d4[c];
        r[4 * rs + c] = 0.5f * (d1[c] - d3[c]) - d2[c] + d4[c];
        r[5 * rs + c] = d1[c] - 1.5f * d2[c] - 2 * d3[c] + 1.5f * d4[c] + d5[c];
    }
}

/* o = A^T m for 6 rows of n channels into 4 rows. */
WG_INLINE void output_rows(const float *m, ptrdiff_t ms, float *o, ptrdiff_t os, int n)
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

/* output_rows for the bfloat16 points. */
WG_INLINE void output_rows_bf16(const float *m, ptrdiff_t ms, float *o, ptrdiff_t os, int n)
{
    const float *m0 = m, *m1 = m + ms, *m2 = m + 2 * ms, *m3 = m + 3 * ms, *m4 = m + 4 * ms, *m5 = m + 5 * ms;
    NN_SIMD
    for (int c = 0; c < n; c++) {
        float s12 = m1[c] + m2[c], d12 = m1[c] - m2[c];
        o[c] = m0[c] + s12 + m3[c] + m4[c];
        o[os + c] = d12 + 0.5f * m3[c] - 2 * m4[c];
        o[2 * os + c] = s12 + 0.25f * m3[c] + 4 * m4[c];
        o[3 * os + c] = d12 + 0.125f * m3[c] - 8 * m4[c] + m5[c];
    }
}

/* V[xi][b][ci] (xi WG_CB * kin apart, b kin apart) for the blocks b of row by from column bx0: floats,
 * or for a bfloat16 conv rounded by k->to_bf16, with kin = cin rounded up to even (the padding zero). */
WG_INLINE void rows_in(int bf16, const float *d, ptrdiff_t ds, float *r, ptrdiff_t rs, int n)
{
    if (bf16)
        input_rows_bf16(d, ds, r, rs, n);
    else
        input_rows(d, ds, r, rs, n);
}

WG_INLINE void rows_out(int bf16, const float *m, ptrdiff_t ms, float *o, ptrdiff_t os, int n)
{
    if (bf16)
        output_rows_bf16(m, ms, o, os, n);
    else
        output_rows(m, ms, o, os, n);
}

WG_INLINE void transform_inputs_with(const NnKernels *k, const NnConv *conv, const float *in, int ih, int iw, int by,
                                     int bx0, int nb, void *v, const int bf16)
{
    const int cin = conv->cin, kin = bf16 ? cin + (cin & 1) : cin;
    float d[WG_N * WG_CC], t[WG_N * WG_CC], vt[WG_T * WG_CC];
    const ptrdiff_t xs = (ptrdiff_t)WG_CB * kin;
    /* An unshuffled input is read where nn_pixel_unshuffle2 would take it from: channel q * Q + ch
     * (permuted, Q = cin / 4) of pixel (y, x) is channel ch of pixel (2y + q / 2, 2x + q % 2). */
    const int quarter = conv->unshuffled ? cin / 4 : cin;
    const ptrdiff_t col = conv->unshuffled ? 2 * (ptrdiff_t)quarter : cin, row = (ptrdiff_t)iw * cin;
    for (int b = 0; b < nb; b++) {
        const int y0 = by * WG_M - 1, x0 = (bx0 + b) * WG_M - 1;
        for (int c0 = 0, n; c0 < cin; c0 += n) {
            const int q = c0 / quarter, ch = c0 % quarter;
            n = quarter - ch < WG_CC ? quarter - ch : WG_CC;
            const float *origin = in + (conv->unshuffled ? (q / 2 * 2 * iw + q % 2) * (ptrdiff_t)quarter : 0) + ch;
            if (y0 >= 0 && y0 + WG_T <= ih && x0 >= 0 && x0 + WG_T <= iw) {
                /* Inside the input: the column pass reads the tile where it is. */
                const float *tile = origin + y0 * row + x0 * col;
                for (int c = 0; c < WG_T; c++) /* columns: t = B^T d */
                    rows_in(bf16, tile + c * col, row, t + c * WG_CC, WG_T * WG_CC, n);
            } else {
                for (int r = 0; r < WG_T; r++)
                    for (int c = 0; c < WG_T; c++) {
                        const int y = y0 + r, x = x0 + c;
                        float *dst = d + (r * WG_T + c) * WG_CC;
                        if (y < 0 || y >= ih || x < 0 || x >= iw)
                            memset(dst, 0, (size_t)n * sizeof(float));
                        else
                            memcpy(dst, origin + y * row + x * col, (size_t)n * sizeof(float));
                    }
                for (int c = 0; c < WG_T; c++) /* columns: t = B^T d */
                    rows_in(bf16, d + c * WG_CC, WG_T * WG_CC, t + c * WG_CC, WG_T * WG_CC, n);
            }
            for (int r = 0; r < WG_T; r++) { /* rows: V = t B */
                const ptrdiff_t at = r * WG_T * xs + (ptrdiff_t)b * kin + c0;
                if (!bf16) {
                    rows_in(bf16, t + r * WG_T * WG_CC, WG_CC, (float *)v + at, xs, n);
                    continue;
                }
                rows_in(bf16, t + r * WG_T * WG_CC, WG_CC, vt, WG_CC, n);
                for (int c = 0; c < WG_T; c++)
#ifdef WG_TO_BF16
                    WG_TO_BF16(vt + c * WG_CC, (uint16_t *)v + at + c * xs, (size_t)n);
#else
                    k->to_bf16(vt + c * WG_CC, (uint16_t *)v + at + c * xs, (size_t)n);
#endif
            }
        }
        for (int xi = 0; kin > cin && xi < WG_N; xi++)
            ((uint16_t *)v)[xi * xs + (ptrdiff_t)b * kin + cin] = 0;
    }
}

static void transform_inputs(const NnKernels *k, const NnConv *conv, const float *in, int ih, int iw, int by, int bx0,
                             int nb, void *v)
{
    if (conv->bf16)
        transform_inputs_with(k, conv, in, ih, iw, by, bx0, nb, v, 1);
    else
        transform_inputs_with(k, conv, in, ih, iw, by, bx0, nb, v, 0);
}

/* The 4x4 outputs of each block for output channels [co0, co0 + nc) from M[xi][b][j] (xi WG_CB * nc
 * apart, b nc apart), plus bias, clipped to the oh x ow output. */
WG_INLINE void transform_outputs_with(const NnConv *conv, const float *m, int co0, int nc, int oh, int ow, int by,
                                      int bx0, int nb, float *out, const int bf16)
{
    const int cout = conv->cout;
    float t[WG_M * WG_T * WG_CC], y[WG_M * WG_M * WG_CC];
    const ptrdiff_t xs = (ptrdiff_t)WG_CB * nc;
    for (int b = 0; b < nb; b++) {
        const int y0 = by * WG_M, x0 = (bx0 + b) * WG_M;
        for (int c0 = 0; c0 < nc; c0 += WG_CC) {
            const int n = nc - c0 < WG_CC ? nc - c0 : WG_CC;
            const float *bias = (conv->shuffled ? conv->shuffle_bias : conv->bias) + co0 + c0;
            for (int c = 0; c < WG_T; c++) /* columns: t = A^T M */
                rows_out(bf16, m + c * xs + (ptrdiff_t)b * nc + c0, WG_T * xs, t + c * WG_CC, WG_T * WG_CC, n);
            for (int r = 0; r < WG_M; r++) /* rows: Y = t A */
                rows_out(bf16, t + r * WG_T * WG_CC, WG_CC, y + r * WG_M * WG_CC, WG_CC, n);
            for (int r = 0; r < WG_M && y0 + r < oh; r++)
                for (int c = 0; c < WG_M && x0 + c < ow; c++) {
                    const float *src = y + (r * WG_M + c) * WG_CC;
                    if (!conv->shuffled) {
                        float *dst = out + ((size_t)(y0 + r) * ow + x0 + c) * cout + co0 + c0;
                        NN_SIMD
                        for (int i = 0; i < n; i++)
                            dst[i] = src[i] + bias[i];
                        continue;
                    }
                    /* Channel q * Q + ch (permuted) is channel ch of output pixel (2y + q / 2, 2x + q % 2). */
                    const int quarter = cout / 4;
                    for (int i0 = 0, len; i0 < n; i0 += len) {
                        const int q = (co0 + c0 + i0) / quarter, ch = (co0 + c0 + i0) % quarter;
                        len = n - i0 < quarter - ch ? n - i0 : quarter - ch;
                        const size_t pixel = (size_t)(2 * (y0 + r) + q / 2) * 2 * ow + 2 * (x0 + c) + q % 2;
                        float *dst = out + pixel * quarter + ch;
                        NN_SIMD
                        for (int i = 0; i < len; i++)
                            dst[i] = src[i0 + i] + bias[i0 + i];
                    }
                }
        }
    }
}

static void transform_outputs(const NnConv *conv, const float *m, int co0, int nc, int oh, int ow, int by, int bx0,
                              int nb, float *out)
{
    if (conv->bf16)
        transform_outputs_with(conv, m, co0, nc, oh, ow, by, bx0, nb, out, 1);
    else
        transform_outputs_with(conv, m, co0, nc, oh, ow, by, bx0, nb, out, 0);
}

/* U is packed per chunk of WG_CO output channels, and within a chunk per position xi, each a cin x nc
 * matrix for the level's GEMM (float or bfloat16 elements). */
static size_t packed_size(const NnKernels *k, const NnConv *conv, int nc)
{
    return conv->bf16 ? k->gemm_packed_size_bf16(conv->cin, nc) : k->gemm_packed_size(conv->cin, nc);
}

/* Where U[xi] of the chunk starting at channel co0 begins, in elements. */
static size_t packed_at(const NnKernels *k, const NnConv *conv, int co0, int xi)
{
    const int nc = conv->cout - co0 < WG_CO ? conv->cout - co0 : WG_CO;
    return (size_t)(co0 / WG_CO) * WG_N * packed_size(k, conv, WG_CO) + (size_t)xi * packed_size(k, conv, nc);
}

/* M[xi] = V[xi] U[xi] for output channels [co0, co0 + nc) of nb blocks. */
static void products(const NnKernels *k, const NnConv *conv, const void *v, int co0, int nc, int nb, float *m)
{
    const int cin = conv->cin;
    if (conv->bf16) {
        const int kin = cin + (cin & 1);
        for (int xi = 0; xi < WG_N; xi++)
            k->gemm_bf16((const uint16_t *)v + (size_t)xi * WG_CB * kin, kin,
                         (const uint16_t *)conv->packed + packed_at(k, conv, co0, xi), kin, nc,
                         m + (size_t)xi * WG_CB * nc, nc, nb);
    } else {
        for (int xi = 0; xi < WG_N; xi++)
            k->gemm((const float *)v + (size_t)xi * WG_CB * cin, cin,
                    (const float *)conv->packed + packed_at(k, conv, co0, xi), cin, nc, m + (size_t)xi * WG_CB * nc,
                    nc, nb);
    }
}

/* Each work item transforms its blocks' inputs once, then goes chunk by chunk of output channels, so
 * that the chunk's M stays in the core's cache between the products and the output transform. */
int NN_FN(nn_winograd_conv)(const NnKernels *k, const NnConv *conv, const float *in, int ih, int iw, float *out,
                            int threads)
{
    const int cin = conv->cin, cout = conv->cout, kin = cin + (cin & 1);
    const int bh = (ih + WG_M - 1) / WG_M, bw = (iw + WG_M - 1) / WG_M;
    /* Block rows cut into equal items of at most WG_CB blocks. */
    const int chunks = (bw + WG_CB - 1) / WG_CB, per_item = (bw + chunks - 1) / chunks;
    /* Per thread, in floats: V (float, or bfloat16 in half the room) and the M of one chunk. */
    const size_t vsize = conv->bf16 ? (size_t)WG_N * WG_CB * kin / 2 + 16 : (size_t)WG_N * WG_CB * cin;
    const size_t scratch = (vsize + (size_t)WG_N * WG_CB * WG_CO + 15) / 16 * 16;
    threads = threads < 1 ? 1 : threads;
    float *work = nn_alloc_scratch(scratch * threads * sizeof(float));
    if (!work)
        return -1;
    NN_PARALLEL_FOR(threads)
    for (int item = 0; item < bh * chunks; item++) {
        const int by = item / chunks, bx0 = item % chunks * per_item;
        const int nb = bw - bx0 < per_item ? bw - bx0 : per_item;
        float *v = work + scratch * nn_thread_index(), *m = v + (vsize + 15) / 16 * 16;
        transform_inputs(k, conv, in, ih, iw, by, bx0, nb, v);
        for (int co0 = 0; co0 < cout; co0 += WG_CO) {
            const int nc = cout - co0 < WG_CO ? cout - co0 : WG_CO;
            products(k, conv, v, co0, nc, nb, m);
            transform_outputs(conv, m, co0, nc, ih, iw, by, bx0, nb, out);
        }
    }
    nn_free_scratch(work);
    return 0;
}
