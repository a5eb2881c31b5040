/* entropy_zstd.c: the zstd entropy stage: latents as zero, sign and magnitude bit maps plus varints, one zstd frame. */
#include <stdlib.h>
#include <string.h>

#include "entropy.h"
#include "internal.h"
#include "quant.h"
#include "zstd_mem.h" /* zstd.h with its static-linking API: ZSTD_getFrameHeader */

/* Level 22 gains under 2% on this layout (bench/entropy.md) for up to 4 times the time. */
#define ZSTD_STAGE_LEVEL 19
#define VARINT_MAX_BYTES 3 /* |v| - 2 < 2^21 */

/* Channels by the largest frequency of their table, descending, ties by index: the near-constant channels
 * come first, so their zeros form long runs. */
static int zstd_channel_order(const EntropyParams *p, uint32_t *order)
{
    uint32_t *keys = malloc(p->channels * sizeof *keys);
    RETURN_ERROR_IF(!keys, AECIMG_ERR_NO_MEMORY);
    for (uint32_t c = 0; c < p->channels; c++) {
        const ModelCdf *t = model_cdf(p->model, p->quality, (int)c);
        uint32_t top = 0;
        for (uint32_t i = 0; i <= t->count; i++)
            top = t->freq[i] > top ? t->freq[i] : top;
        keys[c] = (0xffffu - top) << 16 | c; /* channels <= 1024, frequencies < 2^16 */
    }
    /* Insertion sort: at most 1024 keys, once per image. */
    for (uint32_t i = 1; i < p->channels; i++) {
        uint32_t k = keys[i], j = i;
        for (; j > 0 && keys[j - 1] > k; j--)
            keys[j] = keys[j - 1];
        keys[j] = k;
    }
    for (uint32_t c = 0; c < p->channels; c++)
        order[c] = keys[c] & 0xffffu;
    free(keys);
    return 0;
}

/* The layout: position by position, within each the channels in `order`. */
static void zstd_gather(const EntropyParams *p, const uint32_t *order, const int32_t *planar, int32_t *layout)
{
    const size_t plane = (size_t)p->height * p->width;
    for (size_t i = 0; i < plane; i++)
        for (uint32_t r = 0; r < p->channels; r++)
            layout[i * p->channels + r] = planar[order[r] * plane + i];
}

static void zstd_scatter(const EntropyParams *p, const uint32_t *order, const int32_t *layout, int32_t *planar)
{
    const size_t plane = (size_t)p->height * p->width;
    for (size_t i = 0; i < plane; i++)
        for (uint32_t r = 0; r < p->channels; r++)
            planar[order[r] * plane + i] = layout[i * p->channels + r];
}

static void set_bit(uint8_t *map, size_t i)
{
    map[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static int get_bit(const uint8_t *map, size_t i)
{
    return map[i >> 3] >> (i & 7) & 1;
}

static size_t map_bytes(size_t bits)
{
    return bits / 8 + (bits % 8 != 0);
}

static size_t put_varint(uint32_t u, uint8_t *out)
{
    size_t n = 0;
    while (u >= 0x80) {
        out[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    out[n++] = (uint8_t)u;
    return n;
}

/* Zero map, sign map and |v| > 1 map (one bit per nonzero), then |v| - 2 of the larger ones as varints. */
static size_t zstd_pack(const int32_t *v, size_t n, uint8_t *raw)
{
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++)
        nonzero += v[i] != 0;
    const size_t zb = map_bytes(n), sb = map_bytes(nonzero);
    uint8_t *sign = raw + zb, *big = sign + sb;
    size_t len = zb + 2 * sb, k = 0;
    memset(raw, 0, len);
    for (size_t i = 0; i < n; i++) {
        if (!v[i])
            continue;
        const uint32_t mag = v[i] < 0 ? (uint32_t)-v[i] : (uint32_t)v[i];
        set_bit(raw, i);
        if (v[i] < 0)
            set_bit(sign, k);
        if (mag > 1) {
            set_bit(big, k);
            len += put_varint(mag - 2, raw + len);
        }
        k++;
    }
    return len;
}

/* Set bits of a map of `bits` bits; -1 if a padding bit of its last byte is set. */
static int64_t count_bits(const uint8_t *map, size_t bits)
{
    int64_t n = 0;
    for (size_t i = 0; i < map_bytes(bits); i++)
        for (unsigned b = map[i]; b; b &= b - 1)
            n++;
    return bits % 8 && map[bits / 8] >> (bits % 8) ? -1 : n;
}

static int get_magnitude(const uint8_t *raw, size_t size, size_t *pos, uint32_t *mag)
{
    uint32_t u = 0;
    for (int shift = 0;; shift += 7) {
        RETURN_ERROR_IF(*pos >= size || shift >= 7 * VARINT_MAX_BYTES, AECIMG_ERR_ENTROPY);
        const uint8_t b = raw[(*pos)++];
        u |= (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    RETURN_ERROR_IF(u > QUANT_MAX_SYMBOL - 2, AECIMG_ERR_ENTROPY);
    *mag = u + 2;
    return 0;
}

/* Parses exactly n symbols that fill `size` bytes; anything else is a corrupt stream. */
static int zstd_unpack(const uint8_t *raw, size_t size, int32_t *v, size_t n)
{
    const size_t zb = map_bytes(n);
    RETURN_ERROR_IF(size < zb, AECIMG_ERR_ENTROPY);
    const int64_t nonzero = count_bits(raw, n);
    RETURN_ERROR_IF(nonzero < 0, AECIMG_ERR_ENTROPY);
    const size_t sb = map_bytes((size_t)nonzero);
    RETURN_ERROR_IF(size - zb < 2 * sb, AECIMG_ERR_ENTROPY);
    const uint8_t *sign = raw + zb, *big = sign + sb;
    RETURN_ERROR_IF(count_bits(sign, (size_t)nonzero) < 0 || count_bits(big, (size_t)nonzero) < 0,
                    AECIMG_ERR_ENTROPY);
    size_t pos = zb + 2 * sb, k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t mag = 1;
        if (!get_bit(raw, i)) {
            v[i] = 0;
            continue;
        }
        if (get_bit(big, k))
            FORWARD_IF_ERROR(get_magnitude(raw, size, &pos, &mag));
        v[i] = get_bit(sign, k) ? -(int32_t)mag : (int32_t)mag;
        k++;
    }
    RETURN_ERROR_IF(pos != size, AECIMG_ERR_ENTROPY);
    return 0;
}

static size_t pack_bound(size_t n)
{
    return 3 * map_bytes(n) + VARINT_MAX_BYTES * n;
}

/* One zstd frame with its content size and checksum, so damage inside it is detected.
 * Returns 0 with the frame's size in *written, or an AECIMG_ERR_*. */
static int compress_checked(uint8_t *dst, size_t cap, const uint8_t *src, size_t size, size_t *written)
{
    ZSTD_CCtx *cctx = zstd_cctx_new();
    RETURN_ERROR_IF(!cctx, AECIMG_ERR_NO_MEMORY);
    size_t n = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, ZSTD_STAGE_LEVEL);
    if (!ZSTD_isError(n))
        n = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(n))
        n = ZSTD_compress2(cctx, dst, cap, src, size);
    ZSTD_freeCCtx(cctx);
    RETURN_ERROR_IF(ZSTD_isError(n), zstd_error(n, AECIMG_ERR_INTERNAL));
    *written = n;
    return 0;
}

static int check_symbols(const int32_t *symbols, size_t n)
{
    for (size_t i = 0; i < n; i++)
        RETURN_ERROR_IF(symbols[i] < -QUANT_MAX_SYMBOL || symbols[i] > QUANT_MAX_SYMBOL, AECIMG_ERR_INVALID_ARGUMENT);
    return 0;
}

/* The symbols in layout order, packed into a malloc'd buffer. */
static int zstd_layout(const EntropyParams *p, const int32_t *symbols, uint8_t **raw, size_t *raw_size)
{
    const size_t n = (size_t)p->channels * p->height * p->width;
    FORWARD_IF_ERROR(check_symbols(symbols, n));
    uint32_t *order = malloc(p->channels * sizeof *order);
    int32_t *layout = malloc(n * sizeof *layout);
    *raw = malloc(pack_bound(n));
    int err = order && layout && *raw ? zstd_channel_order(p, order) : AECIMG_ERR_NO_MEMORY;
    if (err == 0) {
        zstd_gather(p, order, symbols, layout);
        *raw_size = zstd_pack(layout, n, *raw);
    }
    free(order);
    free(layout);
    return err;
}

static int zstd_encode(const EntropyParams *p, const int32_t *symbols, EntropyStreams *out)
{
    memset(out, 0, sizeof *out);
    FORWARD_IF_ERROR(entropy_check_params(p));
    uint8_t *raw = NULL;
    size_t raw_size = 0;
    int err = zstd_layout(p, symbols, &raw, &raw_size);
    const size_t bound = ZSTD_compressBound(raw_size);
    out->data = err ? NULL : malloc(bound);
    out->sizes = malloc(sizeof *out->sizes);
    if (err == 0 && (!out->data || !out->sizes))
        err = AECIMG_ERR_NO_MEMORY;
    size_t n = 0;
    if (err == 0)
        err = compress_checked(out->data, bound, raw, raw_size, &n);
    free(raw);
    if (err) {
        entropy_streams_free(out);
        return err;
    }
    out->size = n;
    out->count = 1;
    out->sizes[0] = n;
    return 0;
}

/* The frame must announce its size and carry a checksum, and the size must be possible for the symbols. */
static int zstd_content_size(const uint8_t *stream, size_t size, size_t symbols, size_t *content)
{
    ZSTD_frameHeader fh;
    RETURN_ERROR_IF(ZSTD_getFrameHeader(&fh, stream, size) != 0, AECIMG_ERR_ENTROPY);
    RETURN_ERROR_IF(fh.frameType != ZSTD_frame || !fh.checksumFlag, AECIMG_ERR_ENTROPY);
    RETURN_ERROR_IF(fh.frameContentSize == ZSTD_CONTENTSIZE_UNKNOWN, AECIMG_ERR_ENTROPY);
    RETURN_ERROR_IF(fh.frameContentSize < map_bytes(symbols) || fh.frameContentSize > pack_bound(symbols),
                    AECIMG_ERR_ENTROPY);
    *content = (size_t)fh.frameContentSize;
    return 0;
}

static int zstd_decode(const EntropyParams *p, const uint8_t *const *streams, const size_t *sizes, uint32_t count,
                       int32_t *symbols)
{
    FORWARD_IF_ERROR(entropy_check_params(p));
    RETURN_ERROR_IF(count != 1, AECIMG_ERR_ENTROPY);
    const size_t n = (size_t)p->channels * p->height * p->width;
    size_t content;
    FORWARD_IF_ERROR(zstd_content_size(streams[0], sizes[0], n, &content));
    uint8_t *raw = malloc(content);
    int32_t *layout = malloc(n * sizeof *layout);
    uint32_t *order = malloc(p->channels * sizeof *order);
    int err = raw && layout && order ? zstd_channel_order(p, order) : AECIMG_ERR_NO_MEMORY;
    ZSTD_DCtx *dctx = err == 0 ? zstd_dctx_new() : NULL;
    if (err == 0 && !dctx)
        err = AECIMG_ERR_NO_MEMORY;
    if (err == 0) {
        size_t got = ZSTD_decompressDCtx(dctx, raw, content, streams[0], sizes[0]);
        if (ZSTD_isError(got))
            err = zstd_error(got, AECIMG_ERR_ENTROPY);
        else
            err = got != content ? AECIMG_ERR_ENTROPY : zstd_unpack(raw, content, layout, n);
    }
    ZSTD_freeDCtx(dctx);
    if (err == 0)
        zstd_scatter(p, order, layout, symbols);
    free(raw);
    free(layout);
    free(order);
    return err;
}

const EntropyStage entropy_zstd = {AECIMG_ENTROPY_ZSTD, "zstd", zstd_encode, zstd_decode};
