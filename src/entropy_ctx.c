/* entropy_ctx.c: the context-adaptive stage: a range coder whose frequencies start from the model's tables and
 * adapt, per channel and per neighbourhood class, to the symbols already coded (doc/container.md 3.5.3).
 *
 * Why: the factorized prior gives every position of a channel the same distribution, but the latents of an
 * image are not stationary: flat regions are nearly all zero, textured ones are not.  The magnitudes around
 * a symbol (its causal neighbours in the channel, and the channels coded before it at the same position)
 * predict which regime it is in, and adapting counts per class fits the tables to the image
 * (bench/entropy.md has the gains). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "entropy.h"
#include "internal.h"
#include "quant.h"

/* The range stays in [2^56, 2^64) between symbols; with totals up to 2^20 the division range / total keeps at
 * least 36 bits, so its truncation costs under 2^-35 of a bit per symbol. */
#define CTX_RANGE_BOTTOM ((uint64_t)1 << 56)
#define CTX_FLUSH_BYTES 8
/* Classes: 6 from the channel's causal neighbours times 4 from the mean magnitude of the previous channels
 * at the same position. */
#define CTX_SPATIAL_CLASSES 6
#define CTX_CHANNEL_CLASSES 4
#define CTX_CLASSES (CTX_SPATIAL_CLASSES * CTX_CHANNEL_CLASSES)
_Static_assert(CTX_CLASSES == ENTROPY_CTX_CLASSES, "entropy.h names the class count");
#define CTX_MAGNITUDE_MAX 255
#define CTX_SPATIAL_SUM_MAX 16
/* A coded symbol adds 2^(P - 4) to its count: the model's table (total 2^P) weighs as much as 16 symbols.
 * When a total passes 2^20 (after about 240 symbols of a class), every count halves, so the statistics follow
 * the image as it changes.  Both values were chosen on Kodak (bench/entropy.md). */
#define CTX_WEIGHT_SHIFT ENTROPY_CTX_WEIGHT_SHIFT
#define CTX_TOTAL_MAX (1u << 20)
/* The per-band state is CTX_CLASSES copies of every table: refusing models whose tables at the file's
 * quality hold more entries bounds it at 25 MiB.  The default model needs at most 21200 (quality 100). */
#define CTX_MAX_ENTRIES (1u << 17)
/* One stream per 2^20 symbols: adaptation needs long streams, decoding in parallel needs several. */
#define CTX_SYMBOLS_PER_STREAM (1u << 20)
#define CTX_MAX_STREAMS 64
/* Worst-case bytes: a symbol narrows the range by at most 2^-20 (times 1 - 2^-36 for truncation), so under
 * 3 bytes; an escape adds at most 5 + 22 bits. */
#define CTX_SYMBOL_MAX_BYTES 3
#define CTX_ESCAPE_EXTRA_BYTES 4
#define CTX_BAND_SLACK_BYTES (CTX_FLUSH_BYTES + 8)

/* Spatial class of 2(|left| + |up|) + |up-left| + |up-right|, clamped to CTX_SPATIAL_SUM_MAX. */
static const uint8_t spatial_class[CTX_SPATIAL_SUM_MAX + 1] = {0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 5};

/* Every channel's table at the file's quality, laid out for copying into a band's adaptive state. */
typedef struct CtxTables {
    uint32_t channels, precision;
    const ModelCdf *cdf;    /* per channel */
    size_t *offset;         /* per channel: start of its entries; each table has count + 2 (Fenwick is 1-based) */
    uint32_t *top;          /* per channel: largest power of two <= count + 1 */
    size_t entries;         /* sum of count + 2 */
    uint32_t *count_init;   /* the model's frequencies, as counts */
    uint32_t *tree_init;    /* their Fenwick tree */
} CtxTables;

/* The adaptive state of one band: for channel c and class k, the table at
 * (offset[c] * CTX_CLASSES + k * (count + 2)), its counts, Fenwick tree of counts and total. */
typedef struct CtxState {
    const CtxTables *tab;
    uint32_t *count, *tree, *total;
    uint32_t *activity; /* per band position: sum of the previous channels' clamped magnitudes */
    uint32_t increment;
} CtxState;

/* One adaptive table, as the coding loops see it. */
typedef struct CtxTable {
    uint32_t *count, *tree, *total;
    uint32_t size, top; /* size: count + 1 entries, escape last */
} CtxTable;

typedef struct RangeWriter {
    uint8_t *p;
    uint64_t low, range;
    double *ideal_bits; /* NULL, or where to add -log2(freq / total) of every coded range */
} RangeWriter;

/* What the band coders read: the tables and, when encoding, where each band adds its ideal code length. */
typedef struct CtxCoder {
    const CtxTables *tab;
    double *ideal_bits; /* NULL or one slot per latent row */
} CtxCoder;

typedef struct RangeReader {
    const uint8_t *p, *end;
    uint64_t code, range;
} RangeReader;

/* ---------------------------------------------------------------- tables */

static void fenwick_build(uint32_t *tree, const uint32_t *count, uint32_t size)
{
    tree[0] = 0;
    memcpy(tree + 1, count, size * sizeof *tree);
    for (uint32_t i = 1; i <= size; i++) {
        const uint32_t j = i + (i & -i);
        if (j <= size)
            tree[j] += tree[i];
    }
}

/* Sum of the first i counts. */
static uint32_t fenwick_prefix(const uint32_t *tree, uint32_t i)
{
    uint32_t s = 0;
    for (; i; i &= i - 1)
        s += tree[i];
    return s;
}

static void fenwick_add(uint32_t *tree, uint32_t size, uint32_t index, uint32_t delta)
{
    for (uint32_t i = index + 1; i <= size; i += i & -i)
        tree[i] += delta;
}

/* The entry s with prefix(s) <= v < prefix(s + 1), for v below the total; prefix(s) in *cum. */
static uint32_t fenwick_find(const uint32_t *tree, uint32_t size, uint32_t top, uint32_t v, uint32_t *cum)
{
    uint32_t pos = 0, sum = 0;
    for (uint32_t step = top; step; step >>= 1) {
        if (pos + step <= size && sum + tree[pos + step] <= v) {
            pos += step;
            sum += tree[pos];
        }
    }
    *cum = sum;
    return pos;
}

static void ctx_tables_free(CtxTables *tab)
{
    free(tab->offset);
    free(tab->top);
    free(tab->count_init);
    free(tab->tree_init);
}

static size_t ctx_entries(const ModelFile *m, int quality)
{
    size_t entries = 0;
    for (uint32_t c = 0; c < m->latent_channels; c++)
        entries += model_cdf(m, quality, (int)c)->count + 2;
    return entries;
}

int entropy_ctx_accepts(const ModelFile *m, int quality)
{
    return ctx_entries(m, quality) <= CTX_MAX_ENTRIES;
}

static int ctx_tables_build(const EntropyParams *p, CtxTables *tab)
{
    const ModelFile *m = p->model;
    memset(tab, 0, sizeof *tab);
    tab->channels = m->latent_channels;
    tab->precision = m->precision;
    tab->cdf = model_cdf(m, p->quality, 0);
    tab->entries = ctx_entries(m, p->quality);
    RETURN_ERROR_IF(!entropy_ctx_accepts(m, p->quality), AECIMG_ERR_UNSUPPORTED);
    tab->offset = malloc(tab->channels * sizeof *tab->offset);
    tab->top = malloc(tab->channels * sizeof *tab->top);
    tab->count_init = malloc(tab->entries * sizeof *tab->count_init);
    tab->tree_init = malloc(tab->entries * sizeof *tab->tree_init);
    if (!tab->offset || !tab->top || !tab->count_init || !tab->tree_init) {
        ctx_tables_free(tab);
        return AECIMG_ERR_NO_MEMORY;
    }
    size_t off = 0;
    for (uint32_t c = 0; c < tab->channels; c++) {
        const ModelCdf *cdf = &tab->cdf[c];
        const uint32_t size = cdf->count + 1;
        tab->offset[c] = off;
        tab->top[c] = 1;
        while (tab->top[c] * 2 <= size)
            tab->top[c] *= 2;
        for (uint32_t i = 0; i < size; i++)
            tab->count_init[off + i] = cdf->freq[i];
        tab->count_init[off + size] = 0;
        fenwick_build(tab->tree_init + off, tab->count_init + off, size);
        off += size + 1;
    }
    return 0;
}

static void ctx_state_free(CtxState *st)
{
    free(st->count);
    free(st->tree);
    free(st->total);
    free(st->activity);
}

/* Every class of every channel starts from the model's table. */
static int ctx_state_init(CtxState *st, const CtxTables *tab, size_t positions)
{
    const size_t n = tab->entries * CTX_CLASSES;
    *st = (CtxState){tab, malloc(n * sizeof *st->count), malloc(n * sizeof *st->tree),
                     malloc((size_t)tab->channels * CTX_CLASSES * sizeof *st->total),
                     calloc(positions, sizeof *st->activity), 1u << (tab->precision - CTX_WEIGHT_SHIFT)};
    if (!st->count || !st->tree || !st->total || !st->activity) {
        ctx_state_free(st);
        return AECIMG_ERR_NO_MEMORY;
    }
    for (uint32_t c = 0; c < tab->channels; c++) {
        const size_t len = tab->cdf[c].count + 2, base = tab->offset[c] * CTX_CLASSES;
        for (uint32_t k = 0; k < CTX_CLASSES; k++) {
            memcpy(st->count + base + k * len, tab->count_init + tab->offset[c], len * sizeof *st->count);
            memcpy(st->tree + base + k * len, tab->tree_init + tab->offset[c], len * sizeof *st->tree);
            st->total[c * CTX_CLASSES + k] = 1u << tab->precision;
        }
    }
    return 0;
}

static CtxTable ctx_table(const CtxState *st, uint32_t c, uint32_t k)
{
    const CtxTables *tab = st->tab;
    const size_t len = tab->cdf[c].count + 2, base = tab->offset[c] * CTX_CLASSES + k * len;
    return (CtxTable){st->count + base, st->tree + base, st->total + c * CTX_CLASSES + k, (uint32_t)len - 1,
                      tab->top[c]};
}

static void ctx_table_update(const CtxTable *t, uint32_t s, uint32_t increment)
{
    t->count[s] += increment;
    *t->total += increment;
    fenwick_add(t->tree, t->size, s, increment);
    if (*t->total <= CTX_TOTAL_MAX)
        return;
    uint32_t total = 0;
    for (uint32_t i = 0; i < t->size; i++) {
        t->count[i] = (t->count[i] + 1) >> 1;
        total += t->count[i];
    }
    *t->total = total;
    fenwick_build(t->tree, t->count, t->size);
}

/* ---------------------------------------------------------------- contexts */

uint32_t entropy_ctx_magnitude(int32_t v)
{
    const uint32_t a = v < 0 ? (uint32_t)-(int64_t)v : (uint32_t)v;
    return a < CTX_MAGNITUDE_MAX ? a : CTX_MAGNITUDE_MAX;
}

/* The channel class compares the mean magnitude of the previous channels, activity / c, with 1/8, 3/8 and
 * 6/8, without dividing. */
uint32_t entropy_ctx_class(const int32_t *s, size_t step, size_t row, uint32_t x, uint32_t width, int up,
                           uint32_t activity, uint32_t c)
{
    uint32_t sum = x ? 2 * entropy_ctx_magnitude(s[-(ptrdiff_t)step]) : 0;
    if (up) {
        const int32_t *u = s - row;
        sum += 2 * entropy_ctx_magnitude(u[0]) + (x ? entropy_ctx_magnitude(u[-(ptrdiff_t)step]) : 0) +
               (x + 1 < width ? entropy_ctx_magnitude(u[step]) : 0);
    }
    const uint32_t spatial = spatial_class[sum < CTX_SPATIAL_SUM_MAX ? sum : CTX_SPATIAL_SUM_MAX];
    const uint64_t a8 = (uint64_t)activity * 8;
    const uint32_t channel = c == 0 ? 0 : (a8 >= c) + (a8 >= 3 * (uint64_t)c) + (a8 >= 6 * (uint64_t)c);
    return spatial * CTX_CHANNEL_CLASSES + channel;
}

/* Class of the symbol at (y, x) of channel c, for a band starting at row y0: rows above y0 belong to
 * another stream and count as zeros, like the outside of the image. */
static uint32_t ctx_class(const int32_t *plane, uint32_t width, uint32_t y0, uint32_t y, uint32_t x, uint32_t c,
                          uint32_t activity)
{
    return entropy_ctx_class(plane + (size_t)y * width + x, 1, width, x, width, y > y0, activity, c);
}

/* After channel c of the band: add its magnitudes (at most 1024 x 255 in all, far from overflow). */
static void ctx_update_activity(CtxState *st, const int32_t *symbols, size_t plane, uint32_t c, size_t band_offset,
                                size_t n)
{
    const int32_t *cur = symbols + c * plane + band_offset;
    for (size_t i = 0; i < n; i++)
        st->activity[i] += entropy_ctx_magnitude(cur[i]);
}

/* ---------------------------------------------------------------- encoder */

static void range_put(RangeWriter *w, uint64_t start, uint64_t freq, uint64_t total)
{
    const uint64_t r = w->range / total, add = r * start;
    if (w->ideal_bits)
        *w->ideal_bits += log2((double)total / (double)freq);
    w->low += add;
    if (w->low < add) {
        /* The carry goes into the bytes already written.  It cannot run past the first one: every interval
         * lies inside the previous one, so the code value stays below the initial low + range. */
        uint8_t *q = w->p;
        while (*--q == 0xFF)
            *q = 0;
        ++*q;
    }
    w->range = r * freq;
    while (w->range < CTX_RANGE_BOTTOM) {
        *w->p++ = (uint8_t)(w->low >> 56);
        w->low <<= 8;
        w->range <<= 8;
    }
}

static void range_flush(RangeWriter *w)
{
    for (int i = 0; i < CTX_FLUSH_BYTES; i++) {
        *w->p++ = (uint8_t)(w->low >> 56);
        w->low <<= 8;
    }
}

static void ctx_put_escape(RangeWriter *w, const ModelCdf *cdf, int32_t v)
{
    const uint64_t z = entropy_escape_distance(cdf->first, cdf->count, v);
    const uint32_t e = entropy_escape_exponent(z), low = e < ENTROPY_ESC_CHUNK_BITS ? e : ENTROPY_ESC_CHUNK_BITS;
    const uint64_t mantissa = z + 1 - ((uint64_t)1 << e);
    range_put(w, e, 1, 1u << ENTROPY_ESC_EXP_BITS);
    if (low)
        range_put(w, mantissa & ((1u << low) - 1), 1, (uint64_t)1 << low);
    if (e > ENTROPY_ESC_CHUNK_BITS)
        range_put(w, mantissa >> ENTROPY_ESC_CHUNK_BITS, 1, (uint64_t)1 << (e - ENTROPY_ESC_CHUNK_BITS));
}

static void ctx_put_symbol(RangeWriter *w, const CtxState *st, uint32_t c, uint32_t k, int32_t v)
{
    const ModelCdf *cdf = &st->tab->cdf[c];
    const CtxTable t = ctx_table(st, c, k);
    const int64_t idx = (int64_t)v - cdf->first;
    const uint32_t s = idx >= 0 && idx < cdf->count ? (uint32_t)idx : cdf->count;
    range_put(w, fenwick_prefix(t.tree, s), t.count[s], *t.total);
    ctx_table_update(&t, s, st->increment);
    if (s == cdf->count)
        ctx_put_escape(w, cdf, v);
}

static int ctx_encode_band(const void *state, const EntropyParams *p, const int32_t *symbols, uint32_t y0,
                           uint32_t y1, uint8_t *region, size_t cap, size_t *offset, size_t *size)
{
    (void)cap; /* sized by ctx_bands' worst case */
    const CtxCoder *enc = state;
    const size_t plane = (size_t)p->height * p->width, band = (size_t)y0 * p->width;
    const size_t n = (size_t)(y1 - y0) * p->width;
    CtxState st;
    FORWARD_IF_ERROR(ctx_state_init(&st, enc->tab, n));
    RangeWriter w = {region, 0, UINT64_MAX, enc->ideal_bits ? &enc->ideal_bits[y0] : NULL};
    for (uint32_t c = 0; c < p->channels; c++) {
        const int32_t *ch = symbols + c * plane;
        for (uint32_t y = y0; y < y1; y++)
            for (uint32_t x = 0; x < p->width; x++) {
                const size_t i = (size_t)(y - y0) * p->width + x;
                const uint32_t k = ctx_class(ch, p->width, y0, y, x, c, st.activity[i]);
                ctx_put_symbol(&w, &st, c, k, ch[(size_t)y * p->width + x]);
            }
        ctx_update_activity(&st, symbols, plane, c, band, n);
    }
    range_flush(&w);
    ctx_state_free(&st);
    *offset = 0;
    *size = (size_t)(w.p - region);
    return 0;
}

/* ---------------------------------------------------------------- decoder */

static int range_normalize(RangeReader *r)
{
    while (r->range < CTX_RANGE_BOTTOM) {
        RETURN_ERROR_IF(r->p == r->end, AECIMG_ERR_ENTROPY);
        r->code = r->code << 8 | *r->p++;
        r->range <<= 8;
    }
    return 0;
}

/* A value in [0, total) of a uniform range: the raw parts of an escape. */
static int range_get_uniform(RangeReader *r, uint64_t total, uint64_t *v)
{
    const uint64_t q = r->range / total;
    *v = r->code / q;
    RETURN_ERROR_IF(*v >= total, AECIMG_ERR_ENTROPY);
    r->code -= q * *v;
    r->range = q;
    return range_normalize(r);
}

static int ctx_get_escape(RangeReader *r, const ModelCdf *cdf, int32_t *v)
{
    uint64_t e, low = 0, high = 0;
    FORWARD_IF_ERROR(range_get_uniform(r, 1u << ENTROPY_ESC_EXP_BITS, &e));
    if (e)
        FORWARD_IF_ERROR(range_get_uniform(r, (uint64_t)1 << (e < ENTROPY_ESC_CHUNK_BITS ? e : ENTROPY_ESC_CHUNK_BITS),
                                           &low));
    if (e > ENTROPY_ESC_CHUNK_BITS)
        FORWARD_IF_ERROR(range_get_uniform(r, (uint64_t)1 << (e - ENTROPY_ESC_CHUNK_BITS), &high));
    const uint64_t z = ((uint64_t)1 << e | high << ENTROPY_ESC_CHUNK_BITS | low) - 1;
    const int64_t value = entropy_escape_value(cdf->first, cdf->count, z);
    RETURN_ERROR_IF(value < -QUANT_MAX_SYMBOL || value > QUANT_MAX_SYMBOL, AECIMG_ERR_ENTROPY);
    *v = (int32_t)value;
    return 0;
}

static int ctx_get_symbol(RangeReader *r, const CtxState *st, uint32_t c, uint32_t k, int32_t *v)
{
    const ModelCdf *cdf = &st->tab->cdf[c];
    const CtxTable t = ctx_table(st, c, k);
    const uint64_t q = r->range / *t.total, slot = r->code / q;
    RETURN_ERROR_IF(slot >= *t.total, AECIMG_ERR_ENTROPY);
    uint32_t cum;
    const uint32_t s = fenwick_find(t.tree, t.size, t.top, (uint32_t)slot, &cum);
    r->code -= q * cum;
    r->range = q * t.count[s];
    FORWARD_IF_ERROR(range_normalize(r));
    ctx_table_update(&t, s, st->increment);
    if (s == cdf->count)
        return ctx_get_escape(r, cdf, v);
    *v = cdf->first + (int32_t)s;
    return 0;
}

/* A band must hold its 8 initial bytes, be read to its last byte by its last symbol, and end on its flush. */
static int ctx_decode_symbols(RangeReader *r, CtxState *st, const EntropyParams *p, uint32_t y0, uint32_t y1,
                              int32_t *symbols)
{
    const size_t plane = (size_t)p->height * p->width, band = (size_t)y0 * p->width;
    const size_t n = (size_t)(y1 - y0) * p->width;
    for (uint32_t c = 0; c < p->channels; c++) {
        int32_t *ch = symbols + c * plane;
        for (uint32_t y = y0; y < y1; y++)
            for (uint32_t x = 0; x < p->width; x++) {
                const size_t i = (size_t)(y - y0) * p->width + x;
                const uint32_t k = ctx_class(ch, p->width, y0, y, x, c, st->activity[i]);
                FORWARD_IF_ERROR(ctx_get_symbol(r, st, c, k, &ch[(size_t)y * p->width + x]));
            }
        ctx_update_activity(st, symbols, plane, c, band, n);
    }
    /* The encoder's last 8 bytes are its final low, so a stream read to its end leaves the code at 0. */
    RETURN_ERROR_IF(r->p != r->end || r->code != 0, AECIMG_ERR_ENTROPY);
    return 0;
}

static int ctx_decode_band(const void *state, const EntropyParams *p, const uint8_t *data, size_t size,
                           uint32_t y0, uint32_t y1, int32_t *symbols)
{
    const CtxTables *tab = ((const CtxCoder *)state)->tab;
    RETURN_ERROR_IF(size < CTX_FLUSH_BYTES, AECIMG_ERR_ENTROPY);
    RangeReader r = {data + CTX_FLUSH_BYTES, data + size,
                     (uint64_t)load_be32(data) << 32 | load_be32(data + 4), UINT64_MAX};
    CtxState st;
    FORWARD_IF_ERROR(ctx_state_init(&st, tab, (size_t)(y1 - y0) * p->width));
    int err = ctx_decode_symbols(&r, &st, p, y0, y1, symbols);
    ctx_state_free(&st);
    return err;
}

/* ---------------------------------------------------------------- stage */

static const EntropyBandCoder ctx_bands = {CTX_BAND_SLACK_BYTES, CTX_SYMBOL_MAX_BYTES, CTX_ESCAPE_EXTRA_BYTES,
                                           ctx_encode_band, ctx_decode_band};

static uint32_t ctx_stream_count(const EntropyParams *p)
{
    const uint64_t n = (uint64_t)p->channels * p->height * p->width / CTX_SYMBOLS_PER_STREAM;
    const uint32_t most = p->height < CTX_MAX_STREAMS ? p->height : CTX_MAX_STREAMS;
    return n < 1 ? 1 : n > most ? most : (uint32_t)n;
}

int entropy_ctx_encode_measured(const EntropyParams *p, const int32_t *symbols, EntropyStreams *out,
                                double *ideal_bits)
{
    memset(out, 0, sizeof *out);
    FORWARD_IF_ERROR(entropy_check_params(p));
    CtxTables tab;
    FORWARD_IF_ERROR(ctx_tables_build(p, &tab));
    CtxCoder enc = {&tab, ideal_bits ? calloc(p->height, sizeof *enc.ideal_bits) : NULL};
    int err = ideal_bits && !enc.ideal_bits ? AECIMG_ERR_NO_MEMORY : 0;
    if (err == 0)
        err = entropy_encode_bands(&ctx_bands, &enc, p, symbols, ctx_stream_count(p), out);
    if (err == 0 && ideal_bits) {
        *ideal_bits = 0;
        for (uint32_t y = 0; y < p->height; y++)
            *ideal_bits += enc.ideal_bits[y];
    }
    free(enc.ideal_bits);
    ctx_tables_free(&tab);
    return err;
}

static int ctx_encode(const EntropyParams *p, const int32_t *symbols, EntropyStreams *out)
{
    return entropy_ctx_encode_measured(p, symbols, out, NULL);
}

static int ctx_decode(const EntropyParams *p, const uint8_t *const *streams, const size_t *sizes, uint32_t count,
                      int32_t *symbols)
{
    FORWARD_IF_ERROR(entropy_check_params(p));
    CtxTables tab;
    FORWARD_IF_ERROR(ctx_tables_build(p, &tab));
    const CtxCoder coder = {&tab, NULL};
    int err = entropy_decode_bands(&ctx_bands, &coder, p, streams, sizes, count, symbols);
    ctx_tables_free(&tab);
    return err;
}

const EntropyStage entropy_ctx = {AECIMG_ENTROPY_CTX, "ctx", ctx_encode, ctx_decode};
