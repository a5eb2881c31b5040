/* nn_winograd.c: 3x3 stride-1 convolution by Winograd's F(4x4, 3x3) minimal filtering.
 *
 * With the transforms of Lavin and Gray (2015) on the points 0, 1, -1, 2, -2 and infinity:
 * a 6x6 input tile d becomes V = B^T d B, a 3x3 kernel g becomes U = G g G^T, and the 4x4 outputs
 * are A^T (U . V) A.  Over channels the elementwise product is 36 matrix products, one per tile
 * position xi: M[xi] (blocks x cout) = V[xi] (blocks x cin) * U[xi] (cin x cout), done by the
 * level's GEMM.  The transforms run here in portable C, vectorized over channels; they cost a few
 * percent of the products.
 *
 * A bfloat16 convolution rounds V and U to bfloat16 for the products.  The transforms on those points
 * scale inputs by up to 5 and the output transform by up to 8 per side, and cancel again, so the
 * rounding errors come out larger than a direct bfloat16 convolution's; the points 0, 1, -1, 1/2, -2
 * (Barabasz et al., "Error analysis and improving the accuracy of Winograd convolution for deep neural
 * networks", 2020) balance the transforms and lower the output error by about a third on the model's
 * layers, at the price of a few more additions.  Float convolutions keep the cheaper transforms.
 *
 * Work is cut into items of up to WG_CB blocks of one block row, each done start to finish by one
 * thread in its own scratch, so results do not depend on the thread count.  Each output element is
 * the same sum whatever the item and the tile of the GEMM it falls in, so results do not depend on how
 * the rows are cut either. */
#include "nn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The portable instance of the driver: nn_winograd_conv_c. */
#define NN_FN(name) name##_c
#include "nn_winograd_tmpl.c"

/* G, the kernel transform. */
static const double wg_g[WG_T][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

/* G on the points 0, 1, -1, 1/2, -2 and infinity, for bfloat16 convolutions. */
static const double wg_g_bf16[WG_T][3] = {
    {1, 0, 0},
    {1.0 / 3, 1.0 / 3, 1.0 / 3},
    {-1.0 / 3, 1.0 / 3, -1.0 / 3},
    {-16.0 / 15, -8.0 / 15, -4.0 / 15},
    {1.0 / 15, -2.0 / 15, 4.0 / 15},
    {0, 0, 1},
};

/* The convolution's output channel whose weights go to packed column c: with a pixel shuffle after the
 * convolution, column q * Q + ch (Q = cout / 4) holds channel 4 ch + q, so that every run of columns
 * the output transform writes lands in one output pixel. */
int nn_winograd_channel(const NnConv *conv, int c)
{
    const int quarter = conv->cout / 4;
    return conv->shuffled ? c % quarter * 4 + c / quarter : c;
}

/* The same for input channels, when the input is read unshuffled. */
static int input_channel(const NnConv *conv, int c)
{
    const int quarter = conv->cin / 4;
    return conv->unshuffled ? c % quarter * 4 + c / quarter : c;
}

/* U[xi][ci][j] = (G g G^T)[xi] for the output channels co0 + j, j < nc, of the chunk, in double and
 * vectorized over j: g is first gathered as gt[ci][tap][j]. */
static void transform_chunk(const NnConv *conv, const double (*wg)[3], int co0, int nc, float *gt, float *u)
{
    const int cin = conv->cin;
    for (int j = 0; j < nc; j++)
        for (int ci = 0; ci < cin; ci++)
            for (int t = 0; t < 9; t++)
                gt[((size_t)ci * 9 + t) * nc + j] =
                    conv->weight[((size_t)nn_winograd_channel(conv, co0 + j) * cin + input_channel(conv, ci)) * 9 + t];
    for (int ci = 0; ci < cin; ci++) {
        const float *g = gt + (size_t)ci * 9 * nc;
        for (int r = 0; r < WG_T; r++) {
            float *ur = u + ((size_t)r * WG_T * cin + ci) * nc;
            NN_SIMD
            for (int j = 0; j < nc; j++) {
                double gg[3];
                for (int e = 0; e < 3; e++)
                    gg[e] = wg[r][0] * g[e * nc + j] + wg[r][1] * g[(3 + e) * nc + j] + wg[r][2] * g[(6 + e) * nc + j];
                for (int c = 0; c < WG_T; c++)
                    ur[(size_t)c * cin * nc + j] = (float)(gg[0] * wg[c][0] + gg[1] * wg[c][1] + gg[2] * wg[c][2]);
            }
        }
    }
}

/* Chunk by chunk of WG_CO output channels in parallel, each transformed into the thread's scratch and
 * packed from there. */
int nn_winograd_pack(const NnKernels *k, NnConv *conv, int threads)
{
    const int cin = conv->cin, cout = conv->cout, chunks = (cout + WG_CO - 1) / WG_CO;
    const int nc_max = cout < WG_CO ? cout : WG_CO;
    const size_t total = packed_at(k, conv, (chunks - 1) * WG_CO, WG_N);
    const size_t elem = conv->bf16 ? sizeof(uint16_t) : sizeof(float);
    const size_t scratch = (size_t)(9 + WG_N) * cin * nc_max;
    const double(*const wg)[3] = conv->bf16 ? wg_g_bf16 : wg_g;
    threads = threads < 1 ? 1 : threads > chunks ? chunks : threads;
    float *work = malloc(scratch * threads * sizeof(float));
    char *p = nn_alloc_packed(total * elem);
    conv->shuffle_bias = conv->shuffled ? malloc((size_t)cout * sizeof(float)) : NULL;
    if (!work || !p || (conv->shuffled && !conv->shuffle_bias)) {
        free(work);
        nn_free_packed(p);
        free(conv->shuffle_bias);
        conv->shuffle_bias = NULL;
        return -1;
    }
    for (int c = 0; conv->shuffled && c < cout; c++)
        conv->shuffle_bias[c] = conv->bias[nn_winograd_channel(conv, c)];
    NN_PARALLEL_FOR(threads)
    for (int chunk = 0; chunk < chunks; chunk++) {
        const int co0 = chunk * WG_CO, nc = cout - co0 < WG_CO ? cout - co0 : WG_CO;
        float *gt = work + scratch * nn_thread_index(), *u = gt + (size_t)9 * cin * nc_max;
        transform_chunk(conv, wg, co0, nc, gt, u);
        for (int xi = 0; xi < WG_N; xi++) {
            char *dst = p + packed_at(k, conv, co0, xi) * elem;
            if (conv->bf16)
                k->gemm_pack_bf16(u + (size_t)xi * cin * nc, cin, nc, (uint16_t *)(void *)dst);
            else
                k->gemm_pack(u + (size_t)xi * cin * nc, cin, nc, (float *)(void *)dst);
        }
    }
    free(work);
    conv->packed = p;
    conv->packed_size = total;
    conv->packed_level = k->cpu;
    return 0;
}
