/* alpha.h: lossless coding of the alpha plane (left-neighbour difference, then zstd). */
#ifndef AECIMG_ALPHA_H
#define AECIMG_ALPHA_H

#include <stddef.h>
#include <stdint.h>

/* Codes channel `channel` of an interleaved w x h x channels 8-bit image; *out is malloc'd. */
int alpha_encode(const uint8_t *pixels, uint32_t w, uint32_t h, uint32_t channels, uint32_t channel,
                 uint8_t **out, size_t *out_size);
/* Decodes into channel `channel` of the interleaved image; the plane must fill it exactly. */
int alpha_decode(const uint8_t *in, size_t size, uint8_t *pixels, uint32_t w, uint32_t h, uint32_t channels,
                 uint32_t channel);

#endif
