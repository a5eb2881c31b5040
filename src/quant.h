/* quant.h: the latent quantizer: gain, offset, round half to even; and its inverse. */
#ifndef AECIMG_QUANT_H
#define AECIMG_QUANT_H

#include <stdint.h>

#include "model_file.h"

/* Largest symbol magnitude the codec produces or accepts; keeps every later sum far from overflow. */
#define QUANT_MAX_SYMBOL (1 << 20)

/* HWC latents (h x w x M) -> channel-planar symbols [M][h][w] at quality q. */
void quant_forward(const ModelFile *m, int q, const float *latents, int h, int w, int32_t *symbols, int threads);
/* Channel-planar symbols -> HWC latents for the synthesis transform. */
void quant_inverse(const ModelFile *m, int q, const int32_t *symbols, int h, int w, float *latents, int threads);

#endif
