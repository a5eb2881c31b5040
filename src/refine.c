/* refine.c: the encoder's latent refinement (refine.h): stochastic Gumbel annealing through the
 * synthesis transform's backward pass. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "refine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "entropy.h"
#include "internal.h"
#include "quant.h"

/* The schedule measured in training/README.md ("encoder-side latent refinement"): Adam on the
 * symbol-domain latents, its step starting at REFINE_LR and cosine-decayed to 0 over the iterations (a
 * large start lets a latent move by more than one symbol, the decay settles it), the temperature falling
 * as 0.5 exp(-3 i / iterations), not below 0.03.  Runs shorter than REFINE_SHORT iterations start both
 * the step and the temperature lower in proportion: a few iterations cannot anneal from a far soft
 * choice back to integers (4 iterations on kodim07 and kodim01: 4-10% fewer bits at equal PSNR than
 * plain rounding, where the full schedule gained nothing; bench/effort.md).  The relaxation keeps the
 * fraction away from 0 and 1, where atanh diverges. */
#define REFINE_LR 0.08f
#define REFINE_BETA1 0.9f
#define REFINE_BETA2 0.999f
#define REFINE_EPS 1e-8f
#define REFINE_TAU0 0.5f
#define REFINE_TAU_DECAY 3.0f
#define REFINE_TAU_MIN 0.03f
#define REFINE_SHORT 8
#define REFINE_FRACTION_MIN 1e-4f
/* With the ctx stage's rate, the classes and counts follow the symbols every this many iterations. */
#define REFINE_CONTEXT_EVERY 5
/* Pixels per block of the inverse-GDN backward pass's matrix products. */
#define REFINE_GDN_ROWS 128

/* ------------------------------------------------------------------ the backward network */

void refine_net_free(RefineNet *r)
{
    for (int i = 0; i < MODEL_MAX_LAYERS; i++) {
        nn_conv_release(&r->back[i]);
        free(r->back_weight[i]);
        nn_free_packed(r->gamma[i]);
        nn_free_packed(r->gamma_t[i]);
        nn_free_packed(r->gamma16[i]);
        nn_free_packed(r->gamma_t16[i]);
    }
    free(r->zero_bias);
    memset(r, 0, sizeof *r);
}

/* The input gradient of a stride-1 convolution with zero padding k/2 is the same kind of convolution
 * of the output gradient, with input and output channels swapped and the kernel turned by 180 degrees. */
static int build_back_conv(RefineNet *r, uint32_t i, const NnConv *f, const NnKernels *k, int unshuffle, int threads)
{
    const int kk = f->k * f->k;
    float *wt = malloc((size_t)f->cin * f->cout * kk * sizeof(float));
    RETURN_ERROR_IF(!wt, AECIMG_ERR_NO_MEMORY);
    r->back_weight[i] = wt;
    for (int o = 0; o < f->cout; o++)
        for (int c = 0; c < f->cin; c++)
            for (int t = 0; t < kk; t++)
                wt[((size_t)c * f->cout + o) * kk + (kk - 1 - t)] = f->weight[((size_t)o * f->cin + c) * kk + t];
    r->back[i] = (NnConv){.cin = f->cout, .cout = f->cin, .k = f->k, .stride = 1, .weight = wt,
                          .bias = r->zero_bias, .winograd_ok = 1, .bf16_ok = 1, .unshuffle_ok = unshuffle};
    return nn_conv_prepare(k, &r->back[i], threads) < 0 ? AECIMG_ERR_NO_MEMORY : 0;
}

static int build_back_igdn(RefineNet *r, uint32_t i, const NnGdn *g, const NnKernels *k)
{
    const int c = g->channels;
    const size_t n = (size_t)c * c;
    float *t = malloc(n * sizeof(float));
    int err = t ? 0 : AECIMG_ERR_NO_MEMORY;
    if (err == 0) {
        for (int a = 0; a < c; a++)
            for (int b = 0; b < c; b++)
                t[(size_t)b * c + a] = g->gamma[(size_t)a * c + b];
    }
    if (err == 0 && g->bf16) {
        r->gamma16[i] = nn_alloc_packed(k->gemm_packed_size_bf16(c, c) * sizeof(uint16_t));
        r->gamma_t16[i] = nn_alloc_packed(k->gemm_packed_size_bf16(c, c) * sizeof(uint16_t));
        err = r->gamma16[i] && r->gamma_t16[i] ? 0 : AECIMG_ERR_NO_MEMORY;
        if (err == 0) {
            k->gemm_pack_bf16(g->gamma, c, c, r->gamma16[i]);
            k->gemm_pack_bf16(t, c, c, r->gamma_t16[i]);
        }
    } else if (err == 0) {
        r->gamma[i] = nn_alloc_packed(k->gemm_packed_size(c, c) * sizeof(float));
        r->gamma_t[i] = nn_alloc_packed(k->gemm_packed_size(c, c) * sizeof(float));
        err = r->gamma[i] && r->gamma_t[i] ? 0 : AECIMG_ERR_NO_MEMORY;
        if (err == 0) {
            k->gemm_pack(g->gamma, c, c, r->gamma[i]);
            k->gemm_pack(t, c, c, r->gamma_t[i]);
        }
    }
    free(t);
    return err;
}

int refine_net_build(RefineNet *r, const Network *synthesis, int threads)
{
    memset(r, 0, sizeof *r);
    r->synthesis = synthesis;
    int widest = 1;
    for (uint32_t i = 0; i < synthesis->layer_count; i++) {
        const NetLayer *l = &synthesis->layers[i];
        RETURN_ERROR_IF(l->op == MODEL_OP_GDN || (l->op == MODEL_OP_CONV && l->conv.stride != 1),
                        AECIMG_ERR_UNSUPPORTED);
        if (l->op == MODEL_OP_CONV && l->conv.cin > widest)
            widest = l->conv.cin;
    }
    r->zero_bias = calloc((size_t)widest, sizeof(float));
    int err = r->zero_bias ? 0 : AECIMG_ERR_NO_MEMORY;
    for (uint32_t i = 0; err == 0 && i < synthesis->layer_count; i++) {
        const NetLayer *l = &synthesis->layers[i];
        if (l->op == MODEL_OP_CONV) /* a pixel shuffle after it: its gradient is read unshuffled */
            err = build_back_conv(r, i, &l->conv, synthesis->kernels,
                                  i + 1 < synthesis->layer_count &&
                                      synthesis->layers[i + 1].op == MODEL_OP_PIXEL_SHUFFLE,
                                  threads);
        else if (l->op == MODEL_OP_IGDN)
            err = build_back_igdn(r, i, &l->gdn, synthesis->kernels);
    }
    if (err < 0)
        refine_net_free(r);
    return err;
}

/* ------------------------------------------------------------------ one tile's working state */

typedef struct Shape {
    int h, w, c;
} Shape;

typedef struct RefineWork {
    Shape shape[MODEL_MAX_LAYERS + 1]; /* the input of layer i; [layer_count] the output */
    float *saved[MODEL_MAX_LAYERS];    /* the input of every inverse GDN, kept for the backward pass */
    float *root[MODEL_MAX_LAYERS];     /* and its sqrt(beta + gamma x^2), which both passes need */
    float *buf[2];                     /* ping-pong, forward then backward */
    float *scratch;                    /* per thread: 3 blocks of REFINE_GDN_ROWS x (widest GDN + 1) */
    size_t latents;                    /* h * w * M */
    float *z, *adam_m, *adam_v;        /* symbol-domain latents and Adam's moments */
    float *dw, *dbits;                 /* per latent: d(soft choice)/dz, and bits(ceil) - bits(floor) */
    /* The rate model: per channel, `classes` tables of count + 1 entries (escape last), each entry
     * weighing its frequency plus `increment` per symbol of the tile in it (ctx's adaptation). */
    uint32_t classes;                  /* 1: the static tables; ENTROPY_CTX_CLASSES: ctx's classes */
    size_t *table_at;                  /* per channel: where its tables start in bits and count */
    uint32_t *count;                   /* per entry: the tile's symbols in it at the last refresh */
    /* Per entry, with w = frequency + increment * count: -log2(w), and -log2(w - increment), the cost
     * for a latent whose own symbol is counted in the entry.  Kept from refresh to refresh so that the
     * relaxation, which asks two costs of every latent in every iteration, only looks them up. */
    float *bits, *bits_own;
    float increment;
    int32_t *symbol;                   /* per latent: its symbol at the last refresh */
    uint8_t *cls;                      /* per latent: its class at the last refresh */
} RefineWork;

static void work_free(RefineWork *wk, uint32_t layers)
{
    for (uint32_t i = 0; i < layers; i++) {
        nn_free_packed(wk->saved[i]);
        nn_free_packed(wk->root[i]);
    }
    nn_free_packed(wk->buf[0]);
    nn_free_packed(wk->buf[1]);
    nn_free_packed(wk->scratch);
    nn_free_packed(wk->z);
    nn_free_packed(wk->adam_m);
    nn_free_packed(wk->adam_v);
    nn_free_packed(wk->dw);
    nn_free_packed(wk->dbits);
    free(wk->table_at);
    free(wk->count);
    nn_free_packed(wk->bits);
    nn_free_packed(wk->bits_own);
    free(wk->symbol);
    free(wk->cls);
}

/* Zeroed floats (nn_alloc_packed: the large buffers are fresh zero pages on huge pages, a few page
 * faults for the tile instead of one per 4 KiB). */
static float *alloc_floats(size_t n, int *ok)
{
    float *p = *ok && n <= SIZE_MAX / sizeof(float) ? nn_alloc_packed((n ? n : 1) * sizeof(float)) : NULL;
    if (!p)
        *ok = 0;
    return p;
}

/* Shapes of every layer's input and the buffers a tile of h x w latents needs. */
static int work_alloc(RefineWork *wk, const Network *n, const ModelFile *m, int q, int h, int w, int context_rate,
                      int threads)
{
    int ok = 1, widest_gdn = 1;
    size_t largest = 0;
    Shape s = {h, w, (int)m->latent_channels};
    for (uint32_t i = 0; i <= n->layer_count; i++) {
        wk->shape[i] = s;
        size_t size = mul_size(mul_size((size_t)s.h, (size_t)s.w, &ok), (size_t)s.c, &ok);
        largest = size > largest ? size : largest;
        if (i == n->layer_count)
            break;
        const NetLayer *l = &n->layers[i];
        if (l->op == MODEL_OP_CONV) {
            s.c = l->conv.cout;
        } else if (l->op == MODEL_OP_PIXEL_SHUFFLE) {
            s = (Shape){s.h * 2, s.w * 2, s.c / 4};
        } else {
            wk->saved[i] = alloc_floats(size, &ok);
            wk->root[i] = alloc_floats(size, &ok);
            widest_gdn = s.c > widest_gdn ? s.c : widest_gdn;
        }
    }
    wk->buf[0] = alloc_floats(largest, &ok);
    wk->buf[1] = alloc_floats(largest, &ok);
    wk->scratch = alloc_floats(mul_size((size_t)threads * 3 * REFINE_GDN_ROWS, (size_t)widest_gdn + 1, &ok), &ok);
    wk->latents = (size_t)h * w * m->latent_channels;
    wk->z = alloc_floats(wk->latents, &ok);
    wk->adam_m = alloc_floats(wk->latents, &ok);
    wk->adam_v = alloc_floats(wk->latents, &ok);
    wk->dw = alloc_floats(wk->latents, &ok);
    wk->dbits = alloc_floats(wk->latents, &ok);
    wk->classes = context_rate ? ENTROPY_CTX_CLASSES : 1;
    size_t entries = 0;
    for (uint32_t c = 0; c < m->latent_channels; c++)
        entries += (size_t)wk->classes * (model_cdf(m, q, (int)c)->count + 1);
    wk->bits = alloc_floats(entries, &ok);
    wk->bits_own = alloc_floats(entries, &ok);
    wk->table_at = ok ? calloc(m->latent_channels, sizeof(size_t)) : NULL;
    wk->count = ok ? calloc(entries, sizeof(uint32_t)) : NULL;
    wk->symbol = ok ? calloc(wk->latents ? wk->latents : 1, sizeof(int32_t)) : NULL;
    wk->cls = ok ? calloc(wk->latents ? wk->latents : 1, 1) : NULL;
    ok = ok && wk->table_at && wk->count && wk->symbol && wk->cls;
    return ok ? 0 : AECIMG_ERR_NO_MEMORY;
}

/* ------------------------------------------------------------------ rate */

/* The rate point of the file's quality. */
typedef struct Quality {
    const float *gain, *inv_gain, *offset;
    const ModelCdf *cdf; /* [M] */
    float lambda;
} Quality;

/* Every entry's costs from the tables and the counts.  An entry nobody's symbol is counted in costs
 * the same either way (no latent asks for its "own" cost there). */
static void fill_bits(RefineWork *wk, const Quality *qa, int m, int threads)
{
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int c = 0; c < m; c++) {
        const ModelCdf *t = &qa->cdf[c];
        const size_t at = wk->table_at[c];
        const uint32_t *n = wk->count + at;
        float *bits = wk->bits + at, *own = wk->bits_own + at;
        for (uint32_t k = 0; k < wk->classes; k++, n += t->count + 1, bits += t->count + 1, own += t->count + 1)
            for (uint32_t i = 0; i <= t->count; i++) {
                const float w = (float)t->freq[i] + wk->increment * (float)n[i];
                bits[i] = -log2f(w);
                own[i] = n[i] ? -log2f(w - wk->increment) : bits[i];
            }
    }
}

static void rate_init(RefineWork *wk, const ModelFile *mf, const Quality *qa, int m, int threads)
{
    size_t at = 0;
    for (int c = 0; c < m; c++) {
        wk->table_at[c] = at;
        at += (size_t)wk->classes * (qa->cdf[c].count + 1);
    }
    wk->increment = wk->classes > 1 ? (float)(1u << (mf->precision - ENTROPY_CTX_WEIGHT_SHIFT)) : 0.0f;
    fill_bits(wk, qa, m, threads);
}

/* The symbol a refined latent is coded as. */
static float symbol_of(float z)
{
    return fminf(fmaxf(nearbyintf(z), (float)-QUANT_MAX_SYMBOL), (float)QUANT_MAX_SYMBOL);
}

/* The entry of symbol v in its channel's table: the escape for symbols beyond it. */
static uint32_t table_entry(const ModelCdf *t, int64_t v)
{
    const int64_t i = v - t->first;
    return i >= 0 && i < t->count ? (uint32_t)i : t->count;
}

/* With ctx's rate: rounds every latent, classifies it as ctx would (its neighbours in the tile, the
 * channels before it at its position) and counts the tile's symbols per channel and class. */
static void rate_refresh(const RefineTile *t, RefineWork *wk, const Quality *qa, int m, int threads)
{
    const long plane = (long)t->h * t->w;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long e = 0; e < (long)wk->latents; e++)
        wk->symbol[e] = (int32_t)symbol_of(wk->z[e]);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long p = 0; p < plane; p++) {
        const int32_t *s = wk->symbol + (size_t)p * m;
        uint32_t activity = 0;
        for (int c = 0; c < m; c++) {
            wk->cls[(size_t)p * m + c] = (uint8_t)entropy_ctx_class(s + c, (size_t)m, (size_t)t->w * m,
                                                                    (uint32_t)(p % t->w), (uint32_t)t->w,
                                                                    p >= t->w, activity, (uint32_t)c);
            activity += entropy_ctx_magnitude(s[c]);
        }
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int c = 0; c < m; c++) {
        const ModelCdf *cdf = &qa->cdf[c];
        uint32_t *n = wk->count + wk->table_at[c];
        memset(n, 0, (size_t)wk->classes * (cdf->count + 1) * sizeof *n);
        for (long p = 0; p < plane; p++) {
            const size_t e = (size_t)p * m + c;
            n[(size_t)wk->cls[e] * (cdf->count + 1) + table_entry(cdf, wk->symbol[e])]++;
        }
    }
    fill_bits(wk, qa, m, threads);
}

/* The cost of symbol k (an integer-valued float) for latent e, up to a constant of its table: the
 * entry's weight without the latent's own symbol (what switching to k would cost), beyond the table
 * the escape plus an Elias-gamma-like length of the distance, which only has to grow with it. */
static float symbol_bits(const RefineWork *wk, const ModelCdf *t, int c, size_t e, float k)
{
    /* The clamp keeps the conversion defined; every symbol beyond it is an escape anyway. */
    const uint32_t i = table_entry(t, (int64_t)fminf(fmaxf(k, -2.0f * QUANT_MAX_SYMBOL), 2.0f * QUANT_MAX_SYMBOL));
    const size_t at = wk->table_at[c] + (size_t)wk->cls[e] * (t->count + 1) + i;
    const float bits = i == table_entry(t, wk->symbol[e]) ? wk->bits_own[at] : wk->bits[at];
    if (i < t->count)
        return bits;
    const double d = (double)k - t->first, dist = d < 0 ? -d : d - t->count + 1;
    return bits + 1.0f + 2.0f * (float)log2(1.0 + dist);
}

/* ------------------------------------------------------------------ relaxation */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* A logistic sample (the difference of two Gumbel samples) for latent `index` at the iteration whose
 * splitmix64(iteration) is `seed`. */
static float logistic_noise(uint64_t index, uint64_t seed)
{
    uint64_t h = splitmix64(seed ^ index);
    float u = ((float)(h >> 40) + 0.5f) * (1.0f / 16777216.0f);
    return logf(u / (1.0f - u));
}

/* Draws every latent's soft choice between floor and ceiling at temperature tau, writes the synthesis
 * input into `in` and keeps the derivative of the choice and the cost difference for the update. */
static void relax(const RefineTile *t, RefineWork *wk, const Quality *qa, int m, float tau, int iteration,
                  float *in, int threads)
{
    const long plane = (long)t->h * t->w;
    const uint64_t seed = splitmix64((uint64_t)iteration);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long p = 0; p < plane; p++) {
        const uint64_t gy = t->y0 + (uint64_t)(p / t->w), gx = t->x0 + (uint64_t)(p % t->w);
        for (int c = 0; c < m; c++) {
            const size_t e = (size_t)p * m + c;
            const float z = wk->z[e], fl = floorf(z);
            float d = z - fl;
            const int clamped = d < REFINE_FRACTION_MIN || d > 1.0f - REFINE_FRACTION_MIN;
            d = fminf(fmaxf(d, REFINE_FRACTION_MIN), 1.0f - REFINE_FRACTION_MIN);
            /* atanh(d) - atanh(1 - d), as one logarithm */
            const float x = 0.5f * logf((1.0f + d) * d / ((1.0f - d) * (2.0f - d))) / tau +
                            logistic_noise(((gy << 16 | gx) * (uint64_t)m + (uint64_t)c), seed);
            const float w1 = 1.0f / (1.0f + expf(-x));
            in[e] = (fl + w1 + qa->offset[c]) * qa->inv_gain[c];
            const float datanh = 1.0f / (1.0f - d * d) + 1.0f / (1.0f - (1 - d) * (1 - d));
            wk->dw[e] = clamped ? 0.0f : w1 * (1.0f - w1) * datanh / tau;
            wk->dbits[e] = symbol_bits(wk, &qa->cdf[c], c, e, fl + 1.0f) - symbol_bits(wk, &qa->cdf[c], c, e, fl);
        }
    }
}

/* ------------------------------------------------------------------ forward and backward */

/* The layer after layer i that does work (a pixel shuffle the convolution before it did is skipped), or
 * layer_count. */
static uint32_t next_layer(const Network *n, uint32_t i)
{
    uint32_t j = i + 1;
    while (j < n->layer_count && n->layers[j].op == MODEL_OP_PIXEL_SHUFFLE && n->layers[j].fused)
        j++;
    return j;
}

/* rows x c floats to bfloat16 rows kin apart, the padding column zero. */
static void to_bf16_rows(const NnKernels *k, const float *src, int c, int rows, uint16_t *dst, int kin)
{
    if (kin == c) {
        k->to_bf16(src, dst, (size_t)rows * c);
        return;
    }
    for (int i = 0; i < rows; i++) {
        k->to_bf16(src + (size_t)i * c, dst + (size_t)i * kin, (size_t)c);
        dst[(size_t)i * kin + c] = 0;
    }
}

/* out = m in, for `rows` pixels of c channels, m being an inverse GDN's gamma (or its transpose) packed
 * for the level's GEMM: float32 or bfloat16 products as the layer has them.  a16 holds the bfloat16
 * copy of `in`, rows kin = c rounded up to even apart. */
static void gdn_product(const RefineNet *r, uint32_t layer, int transposed, const float *in, int c, int rows,
                        uint16_t *a16, float *out)
{
    const NnKernels *k = r->synthesis->kernels;
    const int kin = c + (c & 1);
    if (r->synthesis->layers[layer].gdn.bf16) {
        to_bf16_rows(k, in, c, rows, a16, kin);
        k->gemm_bf16(a16, kin, transposed ? r->gamma_t16[layer] : r->gamma16[layer], kin, c, out, c, rows);
    } else {
        k->gemm(in, c, transposed ? r->gamma_t[layer] : r->gamma[layer], c, c, out, c, rows);
    }
}

/* The calling thread's scratch for the inverse GDN passes: two float blocks of REFINE_GDN_ROWS pixels,
 * and the bfloat16 copy of one (rows of channels + 1). */
typedef struct GdnScratch {
    float *a, *b;
    uint16_t *a16;
} GdnScratch;

static GdnScratch gdn_scratch(const RefineWork *wk, int channels)
{
    float *a = wk->scratch + (size_t)nn_thread_index() * 3 * REFINE_GDN_ROWS * (channels + 1);
    float *b = a + (size_t)REFINE_GDN_ROWS * channels;
    return (GdnScratch){a, b, (uint16_t *)(void *)(b + (size_t)REFINE_GDN_ROWS * channels)};
}

/* Forward, on `rows` pixels of c channels from x: y = x * root with root = sqrt(beta + gamma x^2) per
 * pixel, the root kept for the backward pass (which would otherwise compute it again). */
static void igdn_block_forward(const RefineNet *r, uint32_t layer, const GdnScratch *t, const float *x, float *root,
                               float *y, int c, int rows)
{
    const float *beta = r->synthesis->layers[layer].gdn.beta;
    const size_t n = (size_t)rows * c;
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        t->a[i] = x[i] * x[i];
    gdn_product(r, layer, 1, t->a, c, rows, t->a16, root);
    for (size_t p = 0; p < n; p += (size_t)c)
#pragma omp simd
        for (int ch = 0; ch < c; ch++) {
            root[p + ch] = sqrtf(root[p + ch] + beta[ch]);
            y[p + ch] = x[p + ch] * root[p + ch];
        }
}

/* Backward: with s the root and g the output gradient, the input gradient is g_k s_k + x_k sum_i
 * gamma_ik g_i x_i / s_i, in place on g. */
static void igdn_block_backward(const RefineNet *r, uint32_t layer, const GdnScratch *t, const float *x,
                                const float *root, float *g, int c, int rows)
{
    const size_t n = (size_t)rows * c;
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        t->a[i] = g[i] * x[i] / root[i];
    gdn_product(r, layer, 0, t->a, c, rows, t->a16, t->b);
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        g[i] = g[i] * root[i] + x[i] * t->b[i];
}

/* Inverse GDN layer `layer` on its saved input, in blocks of REFINE_GDN_ROWS pixels: forward into y,
 * or (backward) from the output gradient in y to the input gradient in its place. */
static void igdn_pass(const RefineNet *r, uint32_t layer, const RefineWork *wk, float *y, int backward, int threads)
{
    const Shape s = wk->shape[layer];
    const int c = s.c;
    const long pixels = (long)s.h * s.w, blocks = (pixels + REFINE_GDN_ROWS - 1) / REFINE_GDN_ROWS;
#pragma omp parallel num_threads(threads)
    {
        const GdnScratch t = gdn_scratch(wk, c);
#pragma omp for schedule(static)
        for (long b = 0; b < blocks; b++) {
            const long p0 = b * REFINE_GDN_ROWS;
            const int rows = (int)(pixels - p0 < REFINE_GDN_ROWS ? pixels - p0 : REFINE_GDN_ROWS);
            const size_t at = (size_t)p0 * c;
            if (backward)
                igdn_block_backward(r, layer, &t, wk->saved[layer] + at, wk->root[layer] + at, y + at, c, rows);
            else
                igdn_block_forward(r, layer, &t, wk->saved[layer] + at, wk->root[layer] + at, y + at, c, rows);
        }
    }
}

/* Runs the synthesis on wk->buf[0], keeping every inverse GDN's input: the layer before an inverse GDN
 * writes straight into that GDN's saved input, which the GDN reads into a work buffer (no copy).
 * Returns the buffer holding the output. */
static int forward(const RefineNet *r, RefineWork *wk, int threads, int *out)
{
    const Network *n = r->synthesis;
    const float *x = wk->buf[0];
    for (uint32_t i = 0; i < n->layer_count; i = next_layer(n, i)) {
        const NetLayer *l = &n->layers[i];
        const Shape s = wk->shape[i];
        const uint32_t j = next_layer(n, i);
        float *dst = x == wk->buf[0] ? wk->buf[1] : wk->buf[0];
        if (j < n->layer_count && n->layers[j].op == MODEL_OP_IGDN)
            dst = wk->saved[j];
        if (l->op == MODEL_OP_CONV) {
            RETURN_ERROR_IF(nn_conv2d(n->kernels, &l->conv, x, s.h, s.w, dst, threads) < 0, AECIMG_ERR_NO_MEMORY);
        } else if (l->op == MODEL_OP_PIXEL_SHUFFLE) {
            nn_pixel_shuffle2(x, s.h, s.w, s.c, dst, threads);
        } else {
            if (x != wk->saved[i]) /* an inverse GDN first: its input is the synthesis input */
                memcpy(wk->saved[i], x, (size_t)s.h * s.w * s.c * sizeof(float));
            igdn_pass(r, i, wk, dst, 0, threads);
        }
        x = dst;
    }
    RETURN_ERROR_IF(x != wk->buf[0] && x != wk->buf[1], AECIMG_ERR_INTERNAL); /* a synthesis ends in a conv */
    *out = x == wk->buf[1];
    return 0;
}

/* From the output gradient in wk->buf[cur] back to the input gradient; returns its buffer. */
static int backward(const RefineNet *r, RefineWork *wk, int cur, int threads, int *out)
{
    const Network *n = r->synthesis;
    for (uint32_t i = n->layer_count; i-- > 0;) {
        const NetLayer *l = &n->layers[i];
        const Shape s = wk->shape[i + 1];
        if (l->op == MODEL_OP_CONV) {
            RETURN_ERROR_IF(nn_conv2d(n->kernels, &r->back[i], wk->buf[cur], s.h, s.w, wk->buf[!cur], threads) < 0,
                            AECIMG_ERR_NO_MEMORY);
            cur = !cur;
        } else if (l->op == MODEL_OP_PIXEL_SHUFFLE && !(i > 0 && r->back[i - 1].unshuffled)) {
            nn_pixel_unshuffle2(wk->buf[cur], wk->shape[i].h, wk->shape[i].w, wk->shape[i].c / 4, wk->buf[!cur],
                                threads);
            cur = !cur;
        } else if (l->op == MODEL_OP_IGDN) {
            igdn_pass(r, i, wk, wk->buf[cur], 1, threads);
        }
    }
    *out = cur;
    return 0;
}

/* d(lambda 255^2 MSE * pixels)/d(output) for the pixels inside the image, 0 elsewhere; the MSE is the
 * mean over the model's image channels (three, or one for a gray model) as in training. */
static void distortion_gradient(const RefineTile *t, const Shape *s, float lambda, const float *out, float *g,
                                int threads)
{
    const int ch = s->c;
    const float scale = lambda * 255.0f * 255.0f * 2.0f / (float)ch;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++) {
            const size_t e = ((size_t)y * s->w + x) * ch;
            const int inside = y < t->valid_h && x < t->valid_w;
            for (int c = 0; c < ch; c++)
                g[e + c] = inside ? scale * (out[e + c] - t->pixels[e + c]) : 0.0f;
        }
}

/* Chains the input gradient through the soft choice and takes Adam step `step` (from 1) of `steps`. */
/* 1 for runs of REFINE_SHORT iterations or more, less for shorter ones (see the schedule above). */
static float short_run_scale(int iterations)
{
    return iterations >= REFINE_SHORT ? 1.0f : (float)iterations / (float)REFINE_SHORT;
}

static void update(RefineWork *wk, const Quality *qa, const float *gin, int m, int step, int steps, int threads)
{
    const float bc1 = 1.0f - powf(REFINE_BETA1, (float)step), bc2 = 1.0f - powf(REFINE_BETA2, (float)step);
    const float decay = 0.5f * (1.0f + cosf(3.14159265f * (float)(step - 1) / (float)steps));
    const float lr = REFINE_LR * short_run_scale(steps) * decay / bc1, root_bc2 = sqrtf(bc2);
    const long n = (long)wk->latents;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long e = 0; e < n; e++) {
        const int c = (int)(e % m);
        const float g = (gin[e] * qa->inv_gain[c] + wk->dbits[e]) * wk->dw[e];
        wk->adam_m[e] = REFINE_BETA1 * wk->adam_m[e] + (1.0f - REFINE_BETA1) * g;
        wk->adam_v[e] = REFINE_BETA2 * wk->adam_v[e] + (1.0f - REFINE_BETA2) * g * g;
        wk->z[e] -= lr * wk->adam_m[e] / (sqrtf(wk->adam_v[e]) / root_bc2 + REFINE_EPS);
    }
}

/* ------------------------------------------------------------------ the tile */

static int run(const RefineNet *r, const RefineTile *t, RefineWork *wk, const Quality *qa, int m, int iterations,
               int threads)
{
    const Network *n = r->synthesis;
    const Shape *out_shape = &wk->shape[n->layer_count];
    for (int it = 0; it < iterations; it++) {
        const float tau0 = REFINE_TAU0 * short_run_scale(iterations);
        const float tau = fmaxf(tau0 * expf(-REFINE_TAU_DECAY * (float)it / (float)iterations), REFINE_TAU_MIN);
        if (wk->classes > 1 && it % REFINE_CONTEXT_EVERY == 0)
            rate_refresh(t, wk, qa, m, threads);
        relax(t, wk, qa, m, tau, it, wk->buf[0], threads);
        int cur, grad;
        FORWARD_IF_ERROR(forward(r, wk, threads, &cur));
        distortion_gradient(t, out_shape, qa->lambda, wk->buf[cur], wk->buf[!cur], threads);
        FORWARD_IF_ERROR(backward(r, wk, !cur, threads, &grad));
        update(wk, qa, wk->buf[grad], m, it + 1, iterations, threads);
    }
    return 0;
}

int refine_tile(const RefineNet *r, const ModelFile *m, int q, int iterations, int context_rate, const RefineTile *t,
                float *out, int threads)
{
    double lambda;
    FORWARD_IF_ERROR(model_file_lambda(m, q, &lambda));
    const int mc = (int)m->latent_channels;
    RefineWork wk = {0};
    int err = work_alloc(&wk, r->synthesis, m, q, t->h, t->w, context_rate, threads);
    if (err == 0) {
        const Quality qa = {model_gain(m, q), model_inv_gain(m, q), model_offset(m, q), model_cdf(m, q, 0),
                            (float)lambda};
        rate_init(&wk, m, &qa, mc, threads);
        for (size_t e = 0; e < wk.latents; e++)
            wk.z[e] = t->latents[e] * qa.gain[e % mc] - qa.offset[e % mc];
        err = run(r, t, &wk, &qa, mc, iterations, threads);
        for (size_t e = 0; err == 0 && e < wk.latents; e++) {
            out[e] = (symbol_of(wk.z[e]) + qa.offset[e % mc]) / qa.gain[e % mc];
        }
    }
    work_free(&wk, r->synthesis->layer_count);
    return err;
}

int refine_synthesis_gradient(const RefineNet *r, const ModelFile *m, const float *input, int h, int w,
                              const float *weight, float *grad, int threads)
{
    RefineWork wk = {0};
    int err = work_alloc(&wk, r->synthesis, m, 0, h, w, 0, threads), cur = 0, g = 0;
    if (err == 0) {
        memcpy(wk.buf[0], input, wk.latents * sizeof(float));
        err = forward(r, &wk, threads, &cur);
    }
    if (err == 0) {
        const Shape *s = &wk.shape[r->synthesis->layer_count];
        memcpy(wk.buf[!cur], weight, (size_t)s->h * s->w * s->c * sizeof(float));
        err = backward(r, &wk, !cur, threads, &g);
    }
    if (err == 0)
        memcpy(grad, wk.buf[g], wk.latents * sizeof(float));
    work_free(&wk, r->synthesis->layer_count);
    return err;
}
