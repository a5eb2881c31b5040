/* bench_codecs.c: the list of aec-bench's codecs, stand-ins for those not built, shared helpers. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "bench_codecs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A codec whose library configure did not find is still listed, so that the report can say it
 * was skipped and why. */
#ifndef HAVE_JPEG
const BenchCodec bench_codec_jpeg = {
    .name = "jpeg",
    .missing = "aec-bench was built without libjpeg",
    .qualities = BENCH_QUALITIES_JPEG,
};
#endif
#ifndef HAVE_WEBP
const BenchCodec bench_codec_webp = {
    .name = "webp",
    .missing = "aec-bench was built without libwebp",
    .qualities = BENCH_QUALITIES_WEBP,
};
#endif
#ifndef HAVE_AVIF
const BenchCodec bench_codec_avif = {
    .name = "avif",
    .missing = "aec-bench was built without libavif",
    .qualities = BENCH_QUALITIES_AVIF,
};
#endif
#ifndef HAVE_JXL
const BenchCodec bench_codec_jxl = {
    .name = "jxl",
    .missing = "aec-bench was built without libjxl",
    .qualities = BENCH_QUALITIES_JXL,
};
#endif

const BenchCodec *const bench_codecs[BENCH_CODEC_COUNT] = {
    &bench_codec_aec,  &bench_codec_aec_refine, &bench_codec_png, &bench_codec_jpeg,
    &bench_codec_webp, &bench_codec_avif,       &bench_codec_jxl,
};

const BenchCodec *bench_codec_find(const char *name)
{
    for (int i = 0; i < BENCH_CODEC_COUNT; i++)
        if (strcmp(bench_codecs[i]->name, name) == 0)
            return bench_codecs[i];
    return NULL;
}

int bench_fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return -1;
}

int bench_alloc_image(AecimgImage *img, uint32_t width, uint32_t height, uint32_t channels,
                      char *err, size_t err_size)
{
    memset(img, 0, sizeof *img);
    img->pixels = malloc((size_t)width * height * channels);
    if (!img->pixels)
        return bench_fail(err, err_size, "out of memory for a %ux%u image", width, height);
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->source_bit_depth = 8;
    return 0;
}

int bench_copy_bytes(const void *data, size_t n, uint8_t **out, size_t *out_size, char *err,
                     size_t err_size)
{
    *out = malloc(n ? n : 1);
    if (!*out)
        return bench_fail(err, err_size, "out of memory for %zu bytes", n);
    memcpy(*out, data, n);
    *out_size = n;
    return 0;
}
