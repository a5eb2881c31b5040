/* fuzz_common.h: what the harnesses share: one context on the tiny test model, and a check that a
 * returned image's buffers are whole. */
#ifndef AECIMG_FUZZ_COMMON_H
#define AECIMG_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include <aecimg/aecimg.h>

/* The harnesses keep images small, so that an input spends its time in parsing and checking
 * rather than in the transforms; the container's own limits are tested with this bound. */
#define FUZZ_MAX_PIXELS (1u << 20)

/* The tiny model of tests/vectors, or the model named by AECIMG_FUZZ_MODEL (which must be the
 * tiny model too for the committed corpora to get past the model-hash check).  One thread: the
 * harnesses must be deterministic, and libFuzzer runs its own jobs side by side. */
static inline AecimgContext *fuzz_open_tiny(void)
{
    const char *env = getenv("AECIMG_FUZZ_MODEL");
    AecimgSettings s;
    AecimgContext *ctx = NULL;

    aecimg_default_settings(&s);
    s.model_path = env && *env ? env : FUZZ_TINY_MODEL;
    s.threads = 1;
    s.max_pixels = FUZZ_MAX_PIXELS;
    int err = aecimg_open(&ctx, &s);
    if (err < 0) {
        fprintf(stderr, "fuzz: cannot open the model %s: %s\n", s.model_path, aecimg_strerror(err));
        abort();
    }
    return ctx;
}

/* Reads every byte of the pixels and the ICC profile, so that ASan and MSan see a short or
 * uninitialized buffer. */
static inline void fuzz_touch_image(const AecimgImage *img)
{
    size_t n = (size_t)img->width * img->height * img->channels;
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += img->pixels[i];
    for (size_t i = 0; i < img->icc_size; i++)
        sum += img->icc[i];
    if (sum == 0xffffffffu)
        abort();
}

#endif
