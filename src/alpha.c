/* alpha.c: the alpha plane, coded losslessly: each byte minus its left neighbour, then zstd. */
#include "alpha.h"

#include <stdlib.h>

#include "internal.h"
#include "zstd_mem.h"

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
    ZSTD_CCtx *cctx = zstd_cctx_new();
    size_t size = cctx ? ZSTD_compressCCtx(cctx, buf, bound, plane, n, ALPHA_ZSTD_LEVEL) : 0;
    ZSTD_freeCCtx(cctx);
    free(plane);
    if (!cctx || ZSTD_isError(size)) {
        free(buf);
        return cctx ? zstd_error(size, AECIMG_ERR_INTERNAL) : AECIMG_ERR_NO_MEMORY;
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
    ZSTD_DCtx *dctx = zstd_dctx_new();
    size_t got = dctx ? ZSTD_decompressDCtx(dctx, plane, n, in, size) : 0;
    ZSTD_freeDCtx(dctx);
    if (!dctx || ZSTD_isError(got) || got != n) {
        free(plane);
        return !dctx ? AECIMG_ERR_NO_MEMORY : ZSTD_isError(got) ? zstd_error(got, AECIMG_ERR_CORRUPT)
                                                                : AECIMG_ERR_CORRUPT;
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
