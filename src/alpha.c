/* alpha.c: the alpha plane, coded losslessly: each byte minus its left neighbour, then zstd. */
#include "alpha.h"

#include <stdlib.h>

#include <zstd.h>

#include "internal.h"

#define ALPHA_ZSTD_LEVEL 19

int alpha_encode(const uint8_t *pixels, uint32_t w, uint32_t h, uint32_t channels, uint32_t channel,
                 uint8_t **out, size_t *out_size)
{
    size_t n = (size_t)w * h;
    uint8_t *plane = malloc(n);
    size_t bound = ZSTD_compressBound(n);
    uint8_t *buf = malloc(bound);
    if (!plane || !buf) {
        free(plane);
        free(buf);
        return AECIMG_ERR_NO_MEMORY;
    }
    /* Differences along rows turn flat and gradient alpha into runs that zstd codes in a few bytes. */
    for (size_t y = 0; y < h; y++) {
        uint8_t left = 0;
        for (size_t x = 0; x < w; x++) {
            uint8_t a = pixels[(y * w + x) * channels + channel];
            plane[y * w + x] = (uint8_t)(a - left);
            left = a;
        }
    }
    size_t size = ZSTD_compress(buf, bound, plane, n, ALPHA_ZSTD_LEVEL);
    free(plane);
    if (ZSTD_isError(size)) {
        free(buf);
        return AECIMG_ERR_INTERNAL;
    }
    *out = buf;
    *out_size = size;
    return 0;
}

int alpha_decode(const uint8_t *in, size_t size, uint8_t *pixels, uint32_t w, uint32_t h, uint32_t channels,
                 uint32_t channel)
{
    size_t n = (size_t)w * h;
    unsigned long long content = ZSTD_getFrameContentSize(in, size);
    RETURN_ERROR_IF(content != n, AECIMG_ERR_CORRUPT);
    uint8_t *plane = malloc(n);
    RETURN_ERROR_IF(!plane, AECIMG_ERR_NO_MEMORY);
    size_t got = ZSTD_decompress(plane, n, in, size);
    if (ZSTD_isError(got) || got != n) {
        free(plane);
        return AECIMG_ERR_CORRUPT;
    }
    for (size_t y = 0; y < h; y++) {
        uint8_t left = 0;
        for (size_t x = 0; x < w; x++) {
            left = (uint8_t)(left + plane[y * w + x]);
            pixels[(y * w + x) * channels + channel] = left;
        }
    }
    free(plane);
    return 0;
}
