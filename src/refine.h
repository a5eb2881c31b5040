/* refine.h: the encoder's latent refinement.
 *
 * Rounding what the analysis transform outputs is not the best an encoder can do: the analysis is
 * trained to be good on average, and rounding decides every latent on its own.  Refinement searches
 * a tile's latents for symbols with a lower rate-distortion cost, lambda * 255^2 * MSE + bits (the
 * cost the model was trained on), by gradient descent through the synthesis transform with
 * stochastic Gumbel annealing (Yang, Bamler and Mandt, "Improving Inference for Neural Image
 * Compression", 2020): each latent is a random soft choice between its floor and its ceiling whose
 * temperature falls towards hard rounding.  Only the encoder changes; a decoder sees ordinary symbols.
 *
 * The rate is that of the file's entropy stage (below), interpolated linearly between neighbouring
 * symbols; the distortion is the synthesis output's squared error on the tile's pixels inside the
 * image.  The random choices come from a hash of the iteration and the latent's place in the image,
 * and every sum runs in an order fixed by position, so the result does not depend on thread count. */
#ifndef AECIMG_REFINE_H
#define AECIMG_REFINE_H

#include "model_file.h"
#include "network.h"

/* A synthesis transform's backward pass (gradients with respect to its input only), built once per
 * context from a prepared synthesis network: the codec gives it network_build_fast's, whose forward
 * pass is bfloat16 but for the last convolution.  With the kernels' bfloat16 products (avx512bf16)
 * every transposed convolution (but one of a single input channel: the gradient of a gray model's last
 * convolution, which nn_conv_prepare keeps in float32) and the products of every inverse GDN use them:
 * the backward pass only steers the search, and its error (2-4% of the largest gradient on the test
 * models, test_refine_gradient) leaves the refined files' rate-distortion cost where float32 puts it
 * (bench/results/refine-speed.md). */
typedef struct RefineNet {
    const Network *synthesis;
    NnConv back[MODEL_MAX_LAYERS];        /* per conv layer: the transposed, flipped convolution */
    float *back_weight[MODEL_MAX_LAYERS]; /* owned: its weights */
    float *gamma[MODEL_MAX_LAYERS];       /* per inverse GDN layer, owned: gamma packed for gemm */
    float *gamma_t[MODEL_MAX_LAYERS];     /* and gamma transposed, packed for gemm */
    uint16_t *gamma16[MODEL_MAX_LAYERS];  /* or both packed for gemm_bf16, for a bfloat16 inverse GDN */
    uint16_t *gamma_t16[MODEL_MAX_LAYERS];
    float *zero_bias;                     /* owned: zeros, the bias of every backward convolution */
} RefineNet;

/* 0, AECIMG_ERR_UNSUPPORTED for a synthesis with layers other than stride-1 convolutions, pixel
 * shuffles and inverse GDN, or AECIMG_ERR_NO_MEMORY. */
int refine_net_build(RefineNet *r, const Network *synthesis, int threads);
void refine_net_free(RefineNet *r);

/* A tile's latents and the pixels they should reproduce. */
typedef struct RefineTile {
    const float *latents; /* h x w x M, HWC, as the analysis transform output them */
    const float *pixels;  /* (h * stride) x (w * stride) x image channels (3 RGB, 1 gray), HWC, in [0, 1] */
    int h, w;             /* latents */
    int valid_h, valid_w; /* pixel rows and columns from the tile's origin that lie inside the image */
    uint32_t y0, x0;      /* the tile's first latent in the image: seeds the random choices */
} RefineTile;

/* Refines the tile at quality q for `iterations` steps and writes to out (h x w x M) latents that
 * quant_forward rounds to the refined symbols.  With context_rate the rate is what the ctx stage
 * pays: the tables of each symbol's ctx class, adapted to the tile's symbols (recounted every few
 * iterations); otherwise the static tables, as the rANS stage pays.  AECIMG_ERR_UNSUPPORTED when the model's META has no
 * usable `lambdas`; AECIMG_ERR_NO_MEMORY. */
int refine_tile(const RefineNet *r, const ModelFile *m, int q, int iterations, int context_rate, const RefineTile *t,
                float *out, int threads);

/* The gradient of sum(weight * synthesis(input)) with respect to input (h x w x M latents, HWC), weight
 * having the synthesis output's shape: the backward pass alone, for its tests. */
int refine_synthesis_gradient(const RefineNet *r, const ModelFile *m, const float *input, int h, int w,
                              const float *weight, float *grad, int threads);

#endif
