/* entropy.h: the entropy stages that turn latent symbols into the container's streams and back. */
#ifndef AECIMG_ENTROPY_H
#define AECIMG_ENTROPY_H

#include <stddef.h>
#include <stdint.h>

#include <aecimg/aecimg.h>

#include "model_file.h"

/* What a stage needs to know about the symbols: channel-planar [channels][height][width]. */
typedef struct EntropyParams {
    const ModelFile *model;
    int quality;
    uint32_t channels, height, width;
    int threads;
} EntropyParams;

/* Streams produced by an encoder: one malloc'd buffer holding `count` streams back to back. */
typedef struct EntropyStreams {
    uint8_t *data;
    size_t size;
    uint32_t count;
    size_t *sizes; /* malloc'd, count entries */
} EntropyStreams;

typedef struct EntropyStage {
    int id; /* AECIMG_ENTROPY_* as stored in the container */
    const char *name;
    int (*encode)(const EntropyParams *p, const int32_t *symbols, EntropyStreams *out);
    /* Must validate the streams completely: wrong sizes or contents give AECIMG_ERR_ENTROPY. */
    int (*decode)(const EntropyParams *p, const uint8_t *const *streams, const size_t *sizes, uint32_t count,
                  int32_t *symbols);
} EntropyStage;

extern const EntropyStage entropy_zstd;
extern const EntropyStage entropy_rans;
extern const EntropyStage entropy_ctx;

/* entropy_ctx's encoder that also adds up the ideal code length of its adapted tables, -log2(freq / total)
 * over every coded range (escape parts included), into *ideal_bits: what the range coder's output is
 * measured against. */
int entropy_ctx_encode_measured(const EntropyParams *p, const int32_t *symbols, EntropyStreams *out,
                                double *ideal_bits);

/* The ctx stage's classes and adaptation (doc/container.md 3.5.3), for an encoder that estimates what
 * the stage will pay.  A coded symbol adds 2^(P - ENTROPY_CTX_WEIGHT_SHIFT) to its count, so the model's
 * table weighs as much as 2^ENTROPY_CTX_WEIGHT_SHIFT symbols. */
#define ENTROPY_CTX_CLASSES 24
#define ENTROPY_CTX_WEIGHT_SHIFT 4
/* Whether the ctx stage codes this model's symbols at this quality (it refuses models whose tables there
 * are too large for its state, doc/container.md 3.5.3). */
int entropy_ctx_accepts(const ModelFile *m, int quality);
/* |v| clamped to 255. */
uint32_t entropy_ctx_magnitude(int32_t v);
/* The class of the symbol *s of channel c at column x of a row of `width`, in any layout: its left
 * neighbour in the channel lies `step` entries before it, the one above `row` entries before; `up` says
 * whether the row above counts (it does not above a stream's first row).  activity: the sum of the
 * magnitudes at its position over channels 0 .. c-1. */
uint32_t entropy_ctx_class(const int32_t *s, size_t step, size_t row, uint32_t x, uint32_t width, int up,
                           uint32_t activity, uint32_t c);

/* A coder of row-band streams (doc/container.md 3.5.2): stream i of count codes rows floor(i H / count) to
 * floor((i + 1) H / count) - 1 of every channel.  Each band is coded and decoded on its own, so bands run in
 * parallel and the bytes never depend on the thread count.  `state` is the coder's tables, shared read-only. */
typedef struct EntropyBandCoder {
    /* A band's worst-case coded size: fixed + symbol x its symbols + escape x those outside their table. */
    size_t fixed_bytes, symbol_bytes, escape_bytes;
    /* Codes rows [y0, y1) into region[0 .. cap); the stream is region[*offset .. *offset + *size). */
    int (*encode)(const void *state, const EntropyParams *p, const int32_t *symbols, uint32_t y0, uint32_t y1,
                  uint8_t *region, size_t cap, size_t *offset, size_t *size);
    /* Must check the stream completely and give AECIMG_ERR_ENTROPY for anything the encoder cannot produce. */
    int (*decode)(const void *state, const EntropyParams *p, const uint8_t *data, size_t size, uint32_t y0,
                  uint32_t y1, int32_t *symbols);
} EntropyBandCoder;

/* Refuses symbols beyond +-QUANT_MAX_SYMBOL, which no decoder accepts. */
int entropy_encode_bands(const EntropyBandCoder *bc, const void *state, const EntropyParams *p,
                         const int32_t *symbols, uint32_t count, EntropyStreams *out);
/* Refuses a count outside 1..height. */
int entropy_decode_bands(const EntropyBandCoder *bc, const void *state, const EntropyParams *p,
                         const uint8_t *const *streams, const size_t *sizes, uint32_t count, int32_t *symbols);

/* The escape code of the table coders (doc/container.md 3.5.2): a value outside [first, first + count) is
 * coded as its distance z beyond the table, even above and odd below, split as z + 1 = 2^e + mantissa. */
#define ENTROPY_ESC_EXP_BITS 5
#define ENTROPY_ESC_CHUNK_BITS 16

static inline uint64_t entropy_escape_distance(int32_t first, uint32_t count, int32_t v)
{
    const int64_t idx = (int64_t)v - first;
    return idx < 0 ? 2 * (uint64_t)(-idx - 1) + 1 : 2 * (uint64_t)(idx - count);
}

static inline int64_t entropy_escape_value(int32_t first, uint32_t count, uint64_t z)
{
    const int64_t d = (int64_t)(z >> 1);
    return z & 1 ? (int64_t)first - 1 - d : (int64_t)first + count + d;
}

static inline uint32_t entropy_escape_exponent(uint64_t z)
{
    uint32_t e = 0;
    for (uint64_t u = (z + 1) >> 1; u; u >>= 1)
        e++;
    return e;
}

/* Every stage uses the model's tables at p->quality: the model must match the symbols' shape. */
int entropy_check_params(const EntropyParams *p);
/* The stage with this container id, or NULL. */
const EntropyStage *entropy_stage(int id);
void entropy_streams_free(EntropyStreams *s);

#endif
