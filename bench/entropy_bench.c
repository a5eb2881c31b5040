/* entropy_bench.c: latent payload of the ctx, rANS and zstd stages against their ideal code lengths, and the
 * entropy decoders' speed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <aecimg/aecimg.h>

#include "container.h"
#include "entropy.h"
#include "imageio/imageio.h"
#include "model_file.h"

#define BENCH_MAX_QUALITIES 101
#define BENCH_DECODE_REPEATS 5

/* The two table-driven stages, measured the same way. */
enum { STAGE_RANS, STAGE_CTX, STAGES };
static const char *const stage_names[STAGES] = {"rANS", "ctx"};

typedef struct StageSums {
    double payload, ideal, file, streams;
    double sym_time[2], decode_time[2]; /* 1 and 2 threads */
} StageSums;

typedef struct Sums {
    StageSums st[STAGES];
    double zstd, file_zstd, pixels, symbols;
    int images, ctx_below_zstd, ctx_below_rans; /* images whose ctx file is smaller than that stage's */
} Sums;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0)
        data = malloc(n ? (size_t)n : 1);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    if (f)
        fclose(f);
    *size = (size_t)n;
    return data;
}

/* Bits of the model's tables for these symbols, escapes at the cost of the rANS stage's escape code. */
static double ideal_bits(const ModelFile *m, int q, const int32_t *sym, size_t plane)
{
    double bits = 0;
    for (uint32_t c = 0; c < m->latent_channels; c++) {
        const ModelCdf *t = model_cdf(m, q, (int)c);
        for (size_t i = 0; i < plane; i++) {
            int64_t idx = (int64_t)sym[c * plane + i] - t->first;
            int inside = idx >= 0 && idx < t->count;
            bits += m->precision - log2(t->freq[inside ? idx : t->count]);
            if (!inside)
                bits += ENTROPY_ESC_EXP_BITS +
                        entropy_escape_exponent(entropy_escape_distance(t->first, t->count, sym[c * plane + i]));
        }
    }
    return bits;
}

/* Fastest of a few runs of a stage's decoder alone. */
static double time_symbol_decode(const EntropyStage *stage, const EntropyParams *p, const EntropyStreams *s,
                                 int32_t *out)
{
    const uint8_t *ptrs[AEC_MAX_STREAMS];
    size_t off = 0;
    for (uint32_t i = 0; i < s->count; i++) {
        ptrs[i] = s->data + off;
        off += s->sizes[i];
    }
    double best = 1e9;
    for (int r = 0; r < BENCH_DECODE_REPEATS; r++) {
        double t0 = now();
        if (stage->decode(p, ptrs, s->sizes, s->count, out) != 0)
            return -1;
        best = fmin(best, now() - t0);
    }
    return best;
}

static double time_decode(AecimgContext *ctx, const uint8_t *file, size_t size)
{
    AecimgImage img;
    double t0 = now();
    int err = aecimg_decode(ctx, file, size, &img);
    double t = now() - t0;
    aecimg_image_free(&img);
    return err ? -1 : t;
}

/* The same container with another stage's streams instead of the zstd ones. */
static int rewrite_with(const AecContainer *zc, int entropy, const EntropyStreams *s, uint8_t **file, size_t *size)
{
    AecContainer *c = malloc(sizeof *c);
    if (!c)
        return -1;
    *c = *zc;
    c->entropy = (uint32_t)entropy;
    c->stream_count = s->count;
    size_t off = 0;
    for (uint32_t i = 0; i < s->count; i++) {
        c->streams[i] = s->data + off;
        c->stream_sizes[i] = s->sizes[i];
        off += s->sizes[i];
    }
    int err = container_write(c, file, size);
    free(c);
    return err;
}

typedef struct Bench {
    const ModelFile *model;
    AecimgContext *enc, *dec[2];
    const char *dump_dir;
} Bench;

static void dump_symbols(const Bench *b, const char *image, int q, const AecContainer *c, const int32_t *sym)
{
    const char *base = strrchr(image, '/') ? strrchr(image, '/') + 1 : image;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.q%d.%ux%ux%u.i32", b->dump_dir, base, q, c->latent_channels,
             c->latent_height, c->latent_width);
    FILE *f = fopen(path, "wb");
    size_t n = (size_t)c->latent_channels * c->latent_height * c->latent_width;
    if (!f || fwrite(sym, sizeof *sym, n, f) != n)
        fprintf(stderr, "cannot write %s\n", path);
    if (f)
        fclose(f);
}

/* One table-driven stage on these symbols: payload, ideal code length, whole file (its size also in *file_size)
 * and decode times. */
static int measure_stage(const Bench *b, int stage, EntropyParams *p, const AecContainer *zc, const int32_t *sym,
                         int32_t *back, StageSums *s, size_t *file_size)
{
    const size_t plane = (size_t)zc->latent_height * zc->latent_width, n = plane * zc->latent_channels;
    const EntropyStage *es = stage == STAGE_CTX ? &entropy_ctx : &entropy_rans;
    EntropyStreams rs = {0};
    uint8_t *file = NULL;
    size_t size = 0;
    double ideal = 0;
    p->threads = 1;
    int err = stage == STAGE_CTX ? entropy_ctx_encode_measured(p, sym, &rs, &ideal) : es->encode(p, sym, &rs);
    if (stage == STAGE_RANS)
        ideal = ideal_bits(b->model, p->quality, sym, plane);
    if (err == 0)
        err = rewrite_with(zc, es->id, &rs, &file, &size);
    for (int t = 0; t < 2 && err == 0; t++) {
        p->threads = t + 1;
        double ts = time_symbol_decode(es, p, &rs, back), td = time_decode(b->dec[t], file, size);
        err = ts < 0 || td < 0 || memcmp(back, sym, n * sizeof *sym) ? -1 : 0;
        s->sym_time[t] += ts;
        s->decode_time[t] += td;
    }
    if (err == 0) {
        s->payload += (double)rs.size;
        s->ideal += ideal / 8;
        s->file += (double)size;
        s->streams += rs.count;
        *file_size = size;
    }
    entropy_streams_free(&rs);
    free(file);
    return err;
}

/* Symbols from the zstd file, then the other stages' streams, sizes and times. */
static int measure(const Bench *b, const char *image, int q, const AecContainer *zc, size_t zsize, Sums *s)
{
    const size_t plane = (size_t)zc->latent_height * zc->latent_width, n = plane * zc->latent_channels;
    int32_t *sym = malloc(n * sizeof *sym), *back = malloc(n * sizeof *back);
    EntropyParams p = {b->model, q, zc->latent_channels, zc->latent_height, zc->latent_width, 1};
    int err = sym && back ? entropy_zstd.decode(&p, zc->streams, zc->stream_sizes, zc->stream_count, sym) : -1;
    if (err == 0 && b->dump_dir)
        dump_symbols(b, image, q, zc, sym);
    size_t file_size[STAGES];
    for (int st = 0; st < STAGES && err == 0; st++)
        err = measure_stage(b, st, &p, zc, sym, back, &s->st[st], &file_size[st]);
    if (err == 0) {
        s->ctx_below_zstd += file_size[STAGE_CTX] < zsize;
        s->ctx_below_rans += file_size[STAGE_CTX] < file_size[STAGE_RANS];
        s->zstd += (double)zc->payload_size;
        s->file_zstd += (double)zsize;
        s->pixels += (double)zc->width * zc->height;
        s->symbols += (double)n;
        s->images++;
    }
    free(sym);
    free(back);
    return err;
}

static int bench_image(const Bench *b, const char *path, const int *qualities, int nq, Sums *sums)
{
    size_t size;
    uint8_t *data = read_file(path, &size);
    AecimgImage img;
    char msg[256];
    if (!data || imageio_read(data, size, UINT64_MAX, &img, msg, sizeof msg) != 0) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(data);
        return -1;
    }
    free(data);
    int err = 0;
    for (int k = 0; k < nq && err == 0; k++) {
        uint8_t *file = NULL;
        size_t fsize = 0;
        AecContainer *c = malloc(sizeof *c);
        aecimg_set_quality(b->enc, qualities[k]);
        err = c ? aecimg_encode(b->enc, &img, &file, &fsize) : -1;
        if (err == 0)
            err = container_read(file, fsize, UINT64_MAX, c);
        if (err == 0)
            err = measure(b, path, qualities[k], c, fsize, &sums[k]);
        free(c);
        free(file);
    }
    aecimg_image_free(&img);
    if (err)
        fprintf(stderr, "%s: failed (%d)\n", path, err);
    return err;
}

static void print_table(const int *qualities, int nq, const Sums *sums)
{
    printf("| quality | ctx B | ctx/its ideal | rANS B | rANS/its ideal | zstd B | ctx/zstd | ctx/rANS | bpp ctx "
           "| bpp rANS | bpp zstd | ctx < zstd | ctx < rANS | ctx streams | rANS streams |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int k = 0; k < nq; k++) {
        const Sums *s = &sums[k];
        const StageSums *c = &s->st[STAGE_CTX], *r = &s->st[STAGE_RANS];
        const double n = s->images;
        printf("| %d | %.0f | %+.3f%% | %.0f | %+.3f%% | %.0f | %+.1f%% | %+.1f%% | %.4f | %.4f | %.4f | %d/%d | %d/%d "
               "| %.1f | %.1f |\n",
               qualities[k], c->payload / n, 100 * (c->payload / c->ideal - 1), r->payload / n,
               100 * (r->payload / r->ideal - 1), s->zstd / n, 100 * (c->payload / s->zstd - 1),
               100 * (c->payload / r->payload - 1), 8 * c->file / s->pixels, 8 * r->file / s->pixels,
               8 * s->file_zstd / s->pixels, s->ctx_below_zstd, s->images, s->ctx_below_rans, s->images,
               c->streams / n, r->streams / n);
    }
    for (int st = 0; st < STAGES; st++) {
        printf("\n%s decoding:\n\n| quality | symbols/s, 1 thread | symbols/s, 2 threads | share of decode, 1 thread "
               "| 2 threads |\n", stage_names[st]);
        printf("|---:|---:|---:|---:|---:|\n");
        for (int k = 0; k < nq; k++) {
            const StageSums *s = &sums[k].st[st];
            printf("| %d | %.3g | %.3g | %.2f%% | %.2f%% |\n", qualities[k], sums[k].symbols / s->sym_time[0],
                   sums[k].symbols / s->sym_time[1], 100 * s->sym_time[0] / s->decode_time[0],
                   100 * s->sym_time[1] / s->decode_time[1]);
        }
    }
}

static int parse_qualities(const char *arg, int *q)
{
    int n = 0;
    for (const char *p = arg; *p && n < BENCH_MAX_QUALITIES; n++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 100)
            return -1;
        q[n] = (int)v;
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

static int open_ctx(const char *model, int threads, int entropy, AecimgContext **ctx)
{
    AecimgSettings s;
    aecimg_default_settings(&s);
    s.model_path = model;
    s.threads = threads;
    s.entropy = entropy;
    return aecimg_open(ctx, &s);
}

int main(int argc, char **argv)
{
    int qualities[BENCH_MAX_QUALITIES], nq = argc > 3 ? parse_qualities(argv[2], qualities) : -1;
    if (nq <= 0) {
        fprintf(stderr, "usage: entropy_bench MODEL Q1,Q2,... IMAGE...\n"
                        "  $ENTROPY_BENCH_DUMP=DIR also writes each image's symbols there (int32, [M][h][w])\n");
        return 2;
    }
    ModelFile model;
    Bench b = {&model, NULL, {NULL, NULL}, getenv("ENTROPY_BENCH_DUMP")};
    if (model_file_load(argv[1], &model) != 0 || open_ctx(argv[1], 0, AECIMG_ENTROPY_ZSTD, &b.enc) != 0 ||
        open_ctx(argv[1], 1, AECIMG_ENTROPY_AUTO, &b.dec[0]) != 0 ||
        open_ctx(argv[1], 2, AECIMG_ENTROPY_AUTO, &b.dec[1]) != 0) {
        fprintf(stderr, "cannot open model %s\n", argv[1]);
        return 1;
    }
    Sums sums[BENCH_MAX_QUALITIES];
    memset(sums, 0, sizeof sums);
    int err = 0;
    for (int i = 3; i < argc && err == 0; i++)
        err = bench_image(&b, argv[i], qualities, nq, sums);
    if (err == 0)
        print_table(qualities, nq, sums);
    aecimg_close(&b.enc);
    aecimg_close(&b.dec[0]);
    aecimg_close(&b.dec[1]);
    model_file_free(&model);
    return err ? 1 : 0;
}
