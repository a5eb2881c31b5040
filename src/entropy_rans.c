/* entropy_rans.c: the rANS entropy stage: the model's per-channel tables, row-band streams, an escape code. */
#include <stdlib.h>
#include <string.h>

#include "entropy.h"
#include "internal.h"
#include "quant.h"

/* The state stays in [RANS_L, RANS_L << 8) between symbols and moves whole bytes.  With RANS_L >> 16 >= 2^7 the
 * integer division loses next to nothing at every table precision 12..16: payloads come within 0.1% of the
 * ideal code length, nearly all of it the 4-byte final state of each stream. */
#define RANS_L (1u << 23)
#define RANS_STATE_BYTES 4
/* Each bucket of the decode lookup holds the first symbol of 1/1024 of the slot range: 2 KiB per channel
 * instead of 128 KiB for a full slot table at precision 16, cheap enough to build on every call. */
#define RANS_BUCKET_BITS 10
/* Streams are bands of latent rows.  The first pass uses up to RANS_MAX_STREAMS bands; fewer if the payload
 * is small, so that the per-stream cost (4-byte state and 4-byte size) stays near 0.2% of it. */
#define RANS_MAX_STREAMS 64
#define RANS_STREAM_TARGET_BYTES 4096
/* Worst-case bytes: a symbol at most 2 (it adds at most 16 bits), an escape 8 (four symbols). */
#define RANS_SYMBOL_MAX_BYTES 2
#define RANS_ESCAPE_EXTRA_BYTES 6

typedef struct RansTable {
    int32_t first;
    uint32_t count;         /* regular symbols; index `count` is the escape */
    const uint16_t *freq;   /* count + 1 */
    uint32_t *cum;          /* count + 2: cum[i] is the sum of freq[0 .. i-1] */
    uint16_t *bucket;       /* decoder only: 1 << RANS_BUCKET_BITS entries */
} RansTable;

typedef struct RansTables {
    uint32_t precision, bucket_shift;
    RansTable *t;           /* one per latent channel */
    uint32_t *cum;          /* storage of every table's cum */
    uint16_t *bucket;       /* storage of every table's buckets, NULL for the encoder */
} RansTables;

typedef struct RansWriter {
    uint8_t *p; /* bytes go backwards: p is the first byte written so far */
    uint32_t x;
} RansWriter;

typedef struct RansReader {
    const uint8_t *p, *end;
    uint32_t x;
} RansReader;

static void rans_tables_free(RansTables *tab)
{
    free(tab->t);
    free(tab->cum);
    free(tab->bucket);
}

static void rans_fill_table(RansTable *t, uint32_t shift)
{
    t->cum[0] = 0;
    for (uint32_t i = 0; i <= t->count; i++)
        t->cum[i + 1] = t->cum[i] + t->freq[i];
    if (!t->bucket)
        return;
    uint32_t s = 0;
    for (uint32_t b = 0; b < 1u << RANS_BUCKET_BITS; b++) {
        while (t->cum[s + 1] <= b << shift)
            s++;
        t->bucket[b] = (uint16_t)s;
    }
}

/* Cumulative frequencies (and for decoding the bucket lookup) of every channel at the stage's quality. */
static int rans_tables_build(const EntropyParams *p, int decode, RansTables *tab)
{
    const ModelFile *m = p->model;
    const uint32_t channels = m->latent_channels, buckets = 1u << RANS_BUCKET_BITS;
    size_t cum_total = 0;
    for (uint32_t c = 0; c < channels; c++)
        cum_total += model_cdf(m, p->quality, (int)c)->count + 2;
    memset(tab, 0, sizeof *tab);
    tab->precision = m->precision;
    tab->bucket_shift = m->precision - RANS_BUCKET_BITS;
    tab->t = malloc(channels * sizeof *tab->t);
    tab->cum = malloc(cum_total * sizeof *tab->cum);
    tab->bucket = decode ? malloc((size_t)channels * buckets * sizeof *tab->bucket) : NULL;
    if (!tab->t || !tab->cum || (decode && !tab->bucket)) {
        rans_tables_free(tab);
        return AECIMG_ERR_NO_MEMORY;
    }
    size_t off = 0;
    for (uint32_t c = 0; c < channels; c++) {
        const ModelCdf *cdf = model_cdf(m, p->quality, (int)c);
        RansTable *t = &tab->t[c];
        *t = (RansTable){cdf->first, cdf->count, cdf->freq, tab->cum + off,
                         decode ? tab->bucket + (size_t)c * buckets : NULL};
        off += cdf->count + 2;
        rans_fill_table(t, tab->bucket_shift);
    }
    return 0;
}

/* ---------------------------------------------------------------- encoder */

/* Pushes the slot range [start, start + freq) of a 2^bits total; bits <= 16. */
static void rans_put(RansWriter *w, uint32_t start, uint32_t freq, uint32_t bits)
{
    const uint32_t x_max = ((RANS_L >> bits) << 8) * freq;
    while (w->x >= x_max) {
        *--w->p = (uint8_t)w->x;
        w->x >>= 8;
    }
    w->x = ((w->x / freq) << bits) + w->x % freq + start;
}

/* Pushes in reverse of the decoder's reading order: mantissa high chunk, low chunk, exponent, escape. */
static void rans_put_escape(RansWriter *w, const RansTable *t, uint32_t precision, int32_t v)
{
    const uint64_t z = entropy_escape_distance(t->first, t->count, v);
    const uint32_t e = entropy_escape_exponent(z), low = e < ENTROPY_ESC_CHUNK_BITS ? e : ENTROPY_ESC_CHUNK_BITS;
    const uint64_t mantissa = z + 1 - ((uint64_t)1 << e);
    if (e > ENTROPY_ESC_CHUNK_BITS)
        rans_put(w, (uint32_t)(mantissa >> ENTROPY_ESC_CHUNK_BITS), 1, e - ENTROPY_ESC_CHUNK_BITS);
    if (low)
        rans_put(w, (uint32_t)(mantissa & ((1u << low) - 1)), 1, low);
    rans_put(w, e, 1, ENTROPY_ESC_EXP_BITS);
    rans_put(w, t->cum[t->count], t->freq[t->count], precision);
}

static void rans_put_symbol(RansWriter *w, const RansTable *t, uint32_t precision, int32_t v)
{
    const int64_t idx = (int64_t)v - t->first;
    if (idx >= 0 && idx < t->count)
        rans_put(w, t->cum[idx], t->freq[idx], precision);
    else
        rans_put_escape(w, t, precision, v);
}

/* Codes a band backwards from the end of its region. */
static int rans_encode_band(const void *state, const EntropyParams *p, const int32_t *symbols, uint32_t y0,
                            uint32_t y1, uint8_t *region, size_t cap, size_t *offset, size_t *size)
{
    const RansTables *tab = state;
    const size_t plane = (size_t)p->height * p->width, n = (size_t)(y1 - y0) * p->width;
    RansWriter w = {region + cap, RANS_L};
    for (uint32_t c = p->channels; c-- > 0;) {
        const int32_t *s = symbols + c * plane + (size_t)y0 * p->width;
        for (size_t i = n; i-- > 0;)
            rans_put_symbol(&w, &tab->t[c], tab->precision, s[i]);
    }
    w.p -= RANS_STATE_BYTES;
    store_be32(w.p, w.x);
    *offset = (size_t)(w.p - region);
    *size = cap - *offset;
    return 0;
}

static uint32_t rans_stream_count(size_t payload, uint32_t max_count)
{
    size_t n = payload / RANS_STREAM_TARGET_BYTES;
    return n < 1 ? 1 : n > max_count ? max_count : (uint32_t)n;
}

/* ---------------------------------------------------------------- decoder */

static int rans_refill(RansReader *r)
{
    while (r->x < RANS_L) {
        RETURN_ERROR_IF(r->p == r->end, AECIMG_ERR_ENTROPY);
        r->x = r->x << 8 | *r->p++;
    }
    return 0;
}

/* Takes `bits` (1..16) uniform bits. */
static int rans_get_bits(RansReader *r, uint32_t bits, uint32_t *v)
{
    *v = r->x & ((1u << bits) - 1);
    r->x >>= bits;
    return rans_refill(r);
}

static int rans_get_escape(RansReader *r, const RansTable *t, int32_t *v)
{
    uint32_t e, low = 0, high = 0;
    FORWARD_IF_ERROR(rans_get_bits(r, ENTROPY_ESC_EXP_BITS, &e));
    if (e)
        FORWARD_IF_ERROR(rans_get_bits(r, e < ENTROPY_ESC_CHUNK_BITS ? e : ENTROPY_ESC_CHUNK_BITS, &low));
    if (e > ENTROPY_ESC_CHUNK_BITS)
        FORWARD_IF_ERROR(rans_get_bits(r, e - ENTROPY_ESC_CHUNK_BITS, &high));
    const uint64_t z = ((uint64_t)1 << e | (uint64_t)high << ENTROPY_ESC_CHUNK_BITS | low) - 1;
    const int64_t value = entropy_escape_value(t->first, t->count, z);
    RETURN_ERROR_IF(value < -QUANT_MAX_SYMBOL || value > QUANT_MAX_SYMBOL, AECIMG_ERR_ENTROPY);
    *v = (int32_t)value;
    return 0;
}

static int rans_get_symbol(RansReader *r, const RansTable *t, uint32_t precision, uint32_t shift, int32_t *v)
{
    const uint32_t slot = r->x & ((1u << precision) - 1);
    uint32_t s = t->bucket[slot >> shift];
    while (t->cum[s + 1] <= slot)
        s++;
    r->x = t->freq[s] * (r->x >> precision) + slot - t->cum[s];
    FORWARD_IF_ERROR(rans_refill(r));
    if (s == t->count)
        return rans_get_escape(r, t, v);
    *v = t->first + (int32_t)s;
    return 0;
}

/* A band must start with a state in range, use every byte and end in the encoder's initial state. */
static int rans_decode_band(const void *state, const EntropyParams *p, const uint8_t *data, size_t size,
                            uint32_t y0, uint32_t y1, int32_t *symbols)
{
    const RansTables *tab = state;
    const size_t plane = (size_t)p->height * p->width, n = (size_t)(y1 - y0) * p->width;
    RETURN_ERROR_IF(size < RANS_STATE_BYTES, AECIMG_ERR_ENTROPY);
    RansReader r = {data + RANS_STATE_BYTES, data + size, load_be32(data)};
    RETURN_ERROR_IF(r.x < RANS_L || r.x >= RANS_L << 8, AECIMG_ERR_ENTROPY);
    for (uint32_t c = 0; c < p->channels; c++) {
        int32_t *s = symbols + c * plane + (size_t)y0 * p->width;
        for (size_t i = 0; i < n; i++)
            FORWARD_IF_ERROR(rans_get_symbol(&r, &tab->t[c], tab->precision, tab->bucket_shift, &s[i]));
    }
    RETURN_ERROR_IF(r.p != r.end || r.x != RANS_L, AECIMG_ERR_ENTROPY);
    return 0;
}

/* ---------------------------------------------------------------- stage */

static const EntropyBandCoder rans_bands = {RANS_STATE_BYTES, RANS_SYMBOL_MAX_BYTES, RANS_ESCAPE_EXTRA_BYTES,
                                            rans_encode_band, rans_decode_band};

/* The first pass with the most bands measures the payload; a small one is coded again in fewer streams.
 * The count thus depends on the symbols only, never on the thread count, and neither do the bytes. */
static int rans_encode(const EntropyParams *p, const int32_t *symbols, EntropyStreams *out)
{
    memset(out, 0, sizeof *out);
    FORWARD_IF_ERROR(entropy_check_params(p));
    RansTables tab;
    FORWARD_IF_ERROR(rans_tables_build(p, 0, &tab));
    const uint32_t max_count = p->height < RANS_MAX_STREAMS ? p->height : RANS_MAX_STREAMS;
    int err = entropy_encode_bands(&rans_bands, &tab, p, symbols, max_count, out);
    const uint32_t count = err ? max_count : rans_stream_count(out->size, max_count);
    if (err == 0 && count != max_count) {
        entropy_streams_free(out);
        err = entropy_encode_bands(&rans_bands, &tab, p, symbols, count, out);
    }
    rans_tables_free(&tab);
    return err;
}

static int rans_decode(const EntropyParams *p, const uint8_t *const *streams, const size_t *sizes, uint32_t count,
                       int32_t *symbols)
{
    FORWARD_IF_ERROR(entropy_check_params(p));
    RansTables tab;
    FORWARD_IF_ERROR(rans_tables_build(p, 1, &tab));
    int err = entropy_decode_bands(&rans_bands, &tab, p, streams, sizes, count, symbols);
    rans_tables_free(&tab);
    return err;
}

const EntropyStage entropy_rans = {AECIMG_ENTROPY_RANS, "rans", rans_encode, rans_decode};
