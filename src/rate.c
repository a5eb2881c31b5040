/* rate.c: the static model's code length of each latent position, for rate maps and anomaly scores. */
#include <math.h>
#include <stdlib.h>

#include "entropy.h"
#include "internal.h"
#include "rate.h"

double rate_symbol_bits(const ModelCdf *t, uint32_t precision, int32_t v)
{
    const int64_t idx = (int64_t)v - t->first;
    if (idx >= 0 && idx < t->count)
        return precision - log2(t->freq[idx]);
    const uint32_t e = entropy_escape_exponent(entropy_escape_distance(t->first, t->count, v));
    return precision - log2(t->freq[t->count]) + ENTROPY_ESC_EXP_BITS + e;
}

int rate_map(const ModelFile *m, int q, const int32_t *symbols, uint32_t lh, uint32_t lw, float *map,
             double *total, int threads)
{
    const size_t plane = (size_t)lh * lw;
    double *row_bits = malloc((lh ? lh : 1) * sizeof *row_bits);
    RETURN_ERROR_IF(!row_bits, AECIMG_ERR_NO_MEMORY);
#pragma omp parallel for num_threads(threads > 0 ? threads : 1) schedule(static)
    for (long y = 0; y < (long)lh; y++) {
        double row = 0.0;
        for (size_t x = 0; x < lw; x++) {
            const size_t i = (size_t)y * lw + x;
            double bits = 0.0;
            for (uint32_t c = 0; c < m->latent_channels; c++)
                bits += rate_symbol_bits(model_cdf(m, q, (int)c), m->precision, symbols[c * plane + i]);
            map[i] = (float)bits;
            row += bits;
        }
        row_bits[y] = row;
    }
    *total = 0.0;
    for (uint32_t y = 0; y < lh; y++)
        *total += row_bits[y];
    free(row_bits);
    return 0;
}
