/* quant.h: the latent quantizer: gain, offset, round half to even; and its inverse. */
#ifndef AECIMG_QUANT_H
#define AECIMG_QUANT_H

#include <stdint.h>

#include "model_file.h"

/* Largest symbol magnitude the codec produces or accepts; keeps every later sum far from overflow. */
#define QUANT_MAX_SYMBOL (1 << 20)

/* A block of HWC latents (h x w x M, rows `pitch` pixels apart) that belongs at (y0, x0) of the image. */
typedef struct QuantBlock {
    const float *latents;
    int pitch, h, w, y0, x0;
} QuantBlock;

/* Block b -> its place in the channel-planar symbols [M][lh][lw] of the image, at quality q. */
void quant_forward(const ModelFile *m, int q, const QuantBlock *b, int32_t *symbols, int lh, int lw, int threads);
/* Channel-planar symbols -> HWC latents for the synthesis transform. */
void quant_inverse(const ModelFile *m, int q, const int32_t *symbols, int h, int w, float *latents, int threads);
/* Channel-planar symbols -> channel-planar latents, the same values as quant_inverse's (for
 * aecimg_decode_latents). */
void quant_inverse_planar(const ModelFile *m, int q, const int32_t *symbols, int h, int w, float *latents,
                          int threads);

#endif
