/* bench_codec_aec.c: aec in aec-bench, through the public libaecimg API: "aec" as aec-encode
 * runs by default, and "aec-refine" with the encoder's latent refinement (same decoder). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>

#include "bench_codecs.h"
#include "cli.h"

/* Two contexts: the measured one with the requested threads, and a single-threaded one for the
 * bitstream check, so that the check also shows the output does not depend on the thread count. */
typedef struct AecState {
    AecimgContext *ctx;
    AecimgContext *check_ctx;
} AecState;

static int open_context(const BenchConfig *cfg, int threads, int effort, int refine, AecimgContext **ctx,
                        char *err, size_t err_size)
{
    AecimgSettings set;
    int rc;

    aecimg_default_settings(&set);
    set.model_path = cfg->model;
    set.threads = threads;
    set.max_pixels = cfg->max_pixels;
    set.keep_icc = 0;
    set.refine = refine;
    rc = aecimg_open(ctx, &set);
    if (rc == AECIMG_OK && (rc = aecimg_set_effort(*ctx, effort)) != AECIMG_OK) {
        aecimg_close(ctx);
        return bench_fail(err, err_size, "effort %d: %s", effort, aecimg_strerror(rc));
    }
    if (rc == AECIMG_OK)
        return 0;
    if (cfg->model)
        return bench_fail(err, err_size, "cannot load the model %s: %s", cfg->model,
                          aecimg_strerror(rc));
    return bench_fail(err, err_size, "cannot load the default model: %s; use --model or set %s",
                      aecimg_strerror(rc), AECIMG_MODEL_ENV);
}

static void aec_close(BenchSession *s)
{
    AecState *st = s->state;

    if (!st)
        return;
    aecimg_close(&st->ctx);
    aecimg_close(&st->check_ctx);
    free(st);
    s->state = NULL;
}

static int open_with(BenchSession *s, const BenchConfig *cfg, int effort, int refine, char *err, size_t err_size)
{
    AecState *st = calloc(1, sizeof *st);
    char hash[17];

    if (!st)
        return bench_fail(err, err_size, "out of memory");
    s->state = st;
    if (open_context(cfg, cfg->threads, effort, refine, &st->ctx, err, err_size) != 0 ||
        open_context(cfg, 1, 0, 0, &st->check_ctx, err, err_size) != 0) {
        aec_close(s);
        return -1;
    }
    cli_hex(aecimg_model_hash(st->ctx), 8, hash);
    s->threads = cfg->threads;
    snprintf(s->settings, sizeof s->settings,
             "libaecimg %s, model %s (hash %s), entropy coder: library default, kernels %s, "
             "effort %d, latent refinement: %d iterations",
             aecimg_version(), aecimg_model_name(st->ctx), hash, aecimg_cpu_level(st->ctx), effort,
             refine ? refine : aecimg_effort_refine(effort));
    snprintf(s->check, sizeof s->check, "decode again in a second context with 1 thread");
    return 0;
}

static int aec_open(BenchSession *s, const BenchConfig *cfg, char *err, size_t err_size)
{
    return open_with(s, cfg, cfg->effort, 0, err, err_size);
}

static int aec_refine_open(BenchSession *s, const BenchConfig *cfg, char *err, size_t err_size)
{
    return open_with(s, cfg, 0, cfg->refine, err, err_size);
}

static int aec_encode(BenchSession *s, const AecimgImage *img, int quality, uint8_t **out,
                      size_t *out_size, char *err, size_t err_size)
{
    AecState *st = s->state;
    int rc = aecimg_set_quality(st->ctx, quality);

    if (rc == AECIMG_OK)
        rc = aecimg_encode(st->ctx, img, out, out_size);
    return rc == AECIMG_OK ? 0 : bench_fail(err, err_size, "%s", aecimg_strerror(rc));
}

static int decode_with(AecimgContext *ctx, const uint8_t *data, size_t size, AecimgImage *img,
                       char *err, size_t err_size)
{
    int rc = aecimg_decode(ctx, data, size, img);

    return rc == AECIMG_OK ? 0 : bench_fail(err, err_size, "%s", aecimg_strerror(rc));
}

static int aec_decode(BenchSession *s, const uint8_t *data, size_t size, AecimgImage *img,
                      char *err, size_t err_size)
{
    return decode_with(((AecState *)s->state)->ctx, data, size, img, err, err_size);
}

static int aec_decode_check(BenchSession *s, const uint8_t *data, size_t size, AecimgImage *img,
                            char *err, size_t err_size)
{
    return decode_with(((AecState *)s->state)->check_ctx, data, size, img, err, err_size);
}

const BenchCodec bench_codec_aec = {
    .name = "aec",
    .gray = 1,
    .qualities = BENCH_QUALITIES_AEC,
    .open = aec_open,
    .close = aec_close,
    .encode = aec_encode,
    .decode = aec_decode,
    .decode_check = aec_decode_check,
};

const BenchCodec bench_codec_aec_refine = {
    .name = "aec-refine",
    .gray = 1,
    .qualities = BENCH_QUALITIES_AEC,
    .open = aec_refine_open,
    .close = aec_close,
    .encode = aec_encode,
    .decode = aec_decode,
    .decode_check = aec_decode_check,
};
