/* entropy.c: lookup of the entropy stages by container id, the checks they share, and parallel row-band streams. */
#include <stdlib.h>
#include <string.h>

#include "entropy.h"
#include "internal.h"
#include "quant.h"

const EntropyStage *entropy_stage(int id)
{
    return id == AECIMG_ENTROPY_ZSTD ? &entropy_zstd
           : id == AECIMG_ENTROPY_RANS ? &entropy_rans
           : id == AECIMG_ENTROPY_CTX  ? &entropy_ctx
                                       : NULL;
}

int entropy_check_params(const EntropyParams *p)
{
    RETURN_ERROR_IF(!p->model, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(p->quality < 0 || (uint32_t)p->quality >= p->model->quality_count, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(p->channels != p->model->latent_channels, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(p->height == 0 || p->width == 0, AECIMG_ERR_INVALID_ARGUMENT);
    return 0;
}

void entropy_streams_free(EntropyStreams *s)
{
    free(s->data);
    free(s->sizes);
    memset(s, 0, sizeof *s);
}

/* Rows [y0, y1) of band i of count (count <= height, so every band has a row). */
static void band_rows(uint32_t height, uint32_t count, uint32_t i, uint32_t *y0, uint32_t *y1)
{
    *y0 = (uint32_t)((uint64_t)height * i / count);
    *y1 = (uint32_t)((uint64_t)height * (i + 1) / count);
}

static int thread_count(const EntropyParams *p)
{
    return p->threads > 0 ? p->threads : 1;
}

/* Worst-case coded size of rows [y0, y1), from the escapes among them. */
static int band_bound(const EntropyBandCoder *bc, const EntropyParams *p, const int32_t *symbols, uint32_t y0,
                      uint32_t y1, size_t *bound)
{
    const size_t plane = (size_t)p->height * p->width, n = (size_t)(y1 - y0) * p->width;
    size_t escapes = 0;
    for (uint32_t c = 0; c < p->channels; c++) {
        const int32_t *s = symbols + c * plane + (size_t)y0 * p->width;
        const ModelCdf *t = model_cdf(p->model, p->quality, (int)c);
        for (size_t i = 0; i < n; i++) {
            RETURN_ERROR_IF(s[i] < -QUANT_MAX_SYMBOL || s[i] > QUANT_MAX_SYMBOL, AECIMG_ERR_INVALID_ARGUMENT);
            const int64_t idx = (int64_t)s[i] - t->first;
            escapes += idx < 0 || idx >= t->count;
        }
    }
    *bound = bc->fixed_bytes + bc->symbol_bytes * n * p->channels + bc->escape_bytes * escapes;
    return 0;
}

/* Region ends of the bands in one buffer, each region as large as its band's worst case; total in *size. */
static int plan_regions(const EntropyBandCoder *bc, const EntropyParams *p, const int32_t *symbols, uint32_t count,
                        size_t *ends, size_t *size)
{
    *size = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t y0, y1;
        size_t bound;
        band_rows(p->height, count, i, &y0, &y1);
        FORWARD_IF_ERROR(band_bound(bc, p, symbols, y0, y1, &bound));
        RETURN_ERROR_IF(bound > SIZE_MAX - *size, AECIMG_ERR_NO_MEMORY);
        *size += bound;
        ends[i] = *size;
    }
    return 0;
}

static void keep_first_error(int *err, int e)
{
    if (e) {
#pragma omp critical(entropy_band_error)
        *err = *err ? *err : e;
    }
}

/* Codes the bands in parallel, each into its own region, then packs the streams to the front of out->data. */
int entropy_encode_bands(const EntropyBandCoder *bc, const void *state, const EntropyParams *p,
                         const int32_t *symbols, uint32_t count, EntropyStreams *out)
{
    memset(out, 0, sizeof *out);
    size_t *ends = malloc(count * sizeof *ends), *offsets = malloc(count * sizeof *offsets), cap = 0;
    out->sizes = malloc(count * sizeof *out->sizes);
    int err = ends && offsets && out->sizes ? plan_regions(bc, p, symbols, count, ends, &cap) : AECIMG_ERR_NO_MEMORY;
    out->data = err ? NULL : malloc(cap ? cap : 1);
    if (err == 0 && !out->data)
        err = AECIMG_ERR_NO_MEMORY;
    if (err == 0) {
#pragma omp parallel for num_threads(thread_count(p)) schedule(dynamic)
        for (long i = 0; i < (long)count; i++) {
            uint32_t y0, y1;
            const size_t begin = i ? ends[i - 1] : 0;
            band_rows(p->height, count, (uint32_t)i, &y0, &y1);
            keep_first_error(&err, bc->encode(state, p, symbols, y0, y1, out->data + begin, ends[i] - begin,
                                              &offsets[i], &out->sizes[i]));
            offsets[i] += begin;
        }
    }
    /* Moving each stream down to the end of the previous one never overwrites a later stream. */
    for (uint32_t i = 0; err == 0 && i < count; i++) {
        memmove(out->data + out->size, out->data + offsets[i], out->sizes[i]);
        out->size += out->sizes[i];
    }
    out->count = count;
    free(ends);
    free(offsets);
    if (err)
        entropy_streams_free(out);
    return err;
}

int entropy_decode_bands(const EntropyBandCoder *bc, const void *state, const EntropyParams *p,
                         const uint8_t *const *streams, const size_t *sizes, uint32_t count, int32_t *symbols)
{
    RETURN_ERROR_IF(count < 1 || count > p->height, AECIMG_ERR_ENTROPY);
    int err = 0;
#pragma omp parallel for num_threads(thread_count(p)) schedule(dynamic)
    for (long i = 0; i < (long)count; i++) {
        uint32_t y0, y1;
        band_rows(p->height, count, (uint32_t)i, &y0, &y1);
        keep_first_error(&err, bc->decode(state, p, streams[i], sizes[i], y0, y1, symbols));
    }
    return err;
}
