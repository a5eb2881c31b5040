/* entropy_zstd.c: the zstd entropy stage: channel-planar symbols, zigzag LEB128 varints, one zstd frame. */
#include <stdlib.h>
#include <string.h>

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader */
#include <zstd.h>

#include "entropy.h"
#include "internal.h"

#define ZSTD_STAGE_LEVEL 19
#define VARINT_MAX_BYTES 5

static uint32_t zigzag(int32_t v)
{
    return v < 0 ? ((uint32_t)(-(v + 1)) << 1) | 1 : (uint32_t)v << 1;
}

static int32_t unzigzag(uint32_t u)
{
    return u & 1 ? -(int32_t)(u >> 1) - 1 : (int32_t)(u >> 1);
}

static size_t put_varints(const int32_t *symbols, size_t count, uint8_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t u = zigzag(symbols[i]);
        while (u >= 0x80) {
            out[n++] = (uint8_t)(u | 0x80);
            u >>= 7;
        }
        out[n++] = (uint8_t)u;
    }
    return n;
}

/* Parses exactly `count` varints that fill `size` bytes; anything else is a corrupt stream. */
static int get_varints(const uint8_t *in, size_t size, int32_t *symbols, size_t count)
{
    size_t pos = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t u = 0;
        for (int shift = 0;; shift += 7) {
            RETURN_ERROR_IF(pos >= size || shift >= 7 * VARINT_MAX_BYTES, AECIMG_ERR_ENTROPY);
            uint8_t b = in[pos++];
            RETURN_ERROR_IF(shift == 28 && b > 0x0f, AECIMG_ERR_ENTROPY);
            u |= (uint32_t)(b & 0x7f) << shift;
            if (!(b & 0x80))
                break;
        }
        symbols[i] = unzigzag(u);
    }
    RETURN_ERROR_IF(pos != size, AECIMG_ERR_ENTROPY);
    return 0;
}

/* One zstd frame with its content size and checksum, so damage inside it is detected. */
static size_t compress_checked(uint8_t *dst, size_t cap, const uint8_t *src, size_t size)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    if (!cctx)
        return (size_t)-1;
    size_t n = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, ZSTD_STAGE_LEVEL);
    if (!ZSTD_isError(n))
        n = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(n))
        n = ZSTD_compress2(cctx, dst, cap, src, size);
    ZSTD_freeCCtx(cctx);
    return n;
}

static int zstd_encode(const EntropyParams *p, const int32_t *symbols, EntropyStreams *out)
{
    size_t count = (size_t)p->channels * p->height * p->width;
    uint8_t *raw = malloc(count * VARINT_MAX_BYTES);
    RETURN_ERROR_IF(!raw, AECIMG_ERR_NO_MEMORY);
    size_t raw_size = put_varints(symbols, count, raw);
    size_t bound = ZSTD_compressBound(raw_size);
    memset(out, 0, sizeof *out);
    out->data = malloc(bound);
    out->sizes = malloc(sizeof *out->sizes);
    if (!out->data || !out->sizes) {
        free(raw);
        entropy_streams_free(out);
        return AECIMG_ERR_NO_MEMORY;
    }
    size_t n = compress_checked(out->data, bound, raw, raw_size);
    free(raw);
    if (ZSTD_isError(n)) {
        entropy_streams_free(out);
        return AECIMG_ERR_INTERNAL;
    }
    out->size = n;
    out->count = 1;
    out->sizes[0] = n;
    return 0;
}

static int zstd_decode(const EntropyParams *p, const uint8_t *const *streams, const size_t *sizes, uint32_t count,
                       int32_t *symbols)
{
    RETURN_ERROR_IF(count != 1, AECIMG_ERR_ENTROPY);
    size_t symbol_count = (size_t)p->channels * p->height * p->width;
    ZSTD_frameHeader fh;
    /* The frame must announce its size and carry a checksum, and the size must fit the symbols. */
    RETURN_ERROR_IF(ZSTD_getFrameHeader(&fh, streams[0], sizes[0]) != 0, AECIMG_ERR_ENTROPY);
    RETURN_ERROR_IF(fh.frameType != ZSTD_frame || !fh.checksumFlag, AECIMG_ERR_ENTROPY);
    unsigned long long content = fh.frameContentSize;
    RETURN_ERROR_IF(content == ZSTD_CONTENTSIZE_UNKNOWN, AECIMG_ERR_ENTROPY);
    RETURN_ERROR_IF(content < symbol_count || content > symbol_count * VARINT_MAX_BYTES, AECIMG_ERR_ENTROPY);
    uint8_t *raw = malloc((size_t)content);
    RETURN_ERROR_IF(!raw, AECIMG_ERR_NO_MEMORY);
    size_t n = ZSTD_decompress(raw, (size_t)content, streams[0], sizes[0]);
    int err = ZSTD_isError(n) || n != content ? AECIMG_ERR_ENTROPY : get_varints(raw, n, symbols, symbol_count);
    free(raw);
    return err;
}

const EntropyStage entropy_zstd = {AECIMG_ENTROPY_ZSTD, "zstd", zstd_encode, zstd_decode};
