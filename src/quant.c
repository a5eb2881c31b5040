/* quant.c: maps latents to integer symbols and back with the model's per-quality gains. */
#include "quant.h"

#include <math.h>

void quant_forward(const ModelFile *m, int q, const QuantBlock *b, int32_t *symbols, int lh, int lw, int threads)
{
    const int channels = (int)m->latent_channels;
    const float *gain = model_gain(m, q), *offset = model_offset(m, q);
    const long plane = (long)lh * lw;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int y = 0; y < b->h; y++) {
        for (int x = 0; x < b->w; x++) {
            const float *in = b->latents + ((size_t)y * b->pitch + x) * channels;
            int32_t *out = symbols + (long)(b->y0 + y) * lw + b->x0 + x;
            for (int c = 0; c < channels; c++) {
                /* nearbyintf rounds half to even, as torch.round does in the training code. */
                float v = nearbyintf(in[c] * gain[c] - offset[c]);
                v = fminf(fmaxf(v, (float)-QUANT_MAX_SYMBOL), (float)QUANT_MAX_SYMBOL);
                out[c * plane] = (int32_t)v;
            }
        }
    }
}

void quant_inverse(const ModelFile *m, int q, const int32_t *symbols, int h, int w, float *latents, int threads)
{
    const int channels = (int)m->latent_channels;
    const float *inv = model_inv_gain(m, q), *offset = model_offset(m, q);
    const long plane = (long)h * w;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long i = 0; i < plane; i++)
        for (int c = 0; c < channels; c++)
            latents[i * channels + c] = ((float)symbols[c * plane + i] + offset[c]) * inv[c];
}

void quant_inverse_planar(const ModelFile *m, int q, const int32_t *symbols, int h, int w, float *latents,
                          int threads)
{
    const int channels = (int)m->latent_channels;
    const float *inv = model_inv_gain(m, q), *offset = model_offset(m, q);
    const long plane = (long)h * w;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int c = 0; c < channels; c++)
        for (long i = 0; i < plane; i++)
            latents[c * plane + i] = ((float)symbols[c * plane + i] + offset[c]) * inv[c];
}
