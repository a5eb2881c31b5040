/* rate.h: ideal code lengths of latent symbols under the model's static tables (aecimg_decode_rate_map). */
#ifndef AECIMG_RATE_H
#define AECIMG_RATE_H

#include <stdint.h>

#include "model_file.h"

/* Bits the static table t (precision P) gives symbol v: P - log2 freq for a symbol of the table; for one
 * outside it, the escape's P - log2 freq[count] plus its exponent and mantissa bits (doc/container.md
 * 3.5.2), exactly what the rans stage spends on it but for the rounding of its state. */
double rate_symbol_bits(const ModelCdf *t, uint32_t precision, int32_t v);

/* Fills map[lh][lw] with the bits of each latent position, summed over the channels of the channel-planar
 * symbols [M][lh][lw] at quality q, and returns their total (summed in double, row by row, so that it does
 * not depend on the thread count).  Fails only for lack of memory (AECIMG_ERR_NO_MEMORY). */
int rate_map(const ModelFile *m, int q, const int32_t *symbols, uint32_t lh, uint32_t lw, float *map,
             double *total, int threads);

#endif
