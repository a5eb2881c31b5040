/* fuzz_roundtrip.c: encode -> decode with the tiny model on small images the input describes.
 *
 * Input layout: byte 0 and 1 give width and height (1..64), byte 2 the channels (bits 0-1: 1..4),
 * whether there is an ICC profile (bit 2), the entropy stage (bits 3-4: zstd, rans, auto, auto)
 * and the profile's length (bits 5-7), byte 3 the quality (mod 101); the rest fills the ICC
 * profile and then the pixels, repeated as often as needed (zeros when there is no rest).
 *
 * Checked: encoding succeeds and gives the same bytes twice; the file's header says what was asked
 * for; decoding succeeds with the right size, channels and ICC profile; alpha comes back exactly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static AecimgContext *ctx;

/* Fills out[0 .. n) with src repeated from offset *at; zeros when src is empty. */
static void fill(uint8_t *out, size_t n, const uint8_t *src, size_t src_size, size_t *at)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = src_size ? src[*at % src_size] : 0;
        ++*at;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    if (!ctx)
        ctx = fuzz_open_tiny();
    static const int stages[4] = {AECIMG_ENTROPY_ZSTD, AECIMG_ENTROPY_RANS, AECIMG_ENTROPY_CTX,
                                  AECIMG_ENTROPY_AUTO};
    const uint32_t w = (data[0] & 63u) + 1, h = (data[1] & 63u) + 1, ch = (data[2] & 3u) + 1;
    const int has_icc = data[2] >> 2 & 1, entropy = stages[data[2] >> 3 & 3], quality = data[3] % 101;
    const size_t icc_size = has_icc ? (size_t)(data[2] >> 5) * 37 + 1 : 0;
    const uint8_t *rest = data + 4;
    const size_t rest_size = size - 4, n = (size_t)w * h * ch;
    size_t at = 0;

    AecimgImage img = {.width = w, .height = h, .channels = ch, .source_bit_depth = 8};
    img.pixels = malloc(n);
    img.icc = icc_size ? malloc(icc_size) : NULL;
    img.icc_size = icc_size;
    if (!img.pixels || (icc_size && !img.icc))
        abort();
    fill(img.icc, icc_size, rest, rest_size, &at);
    fill(img.pixels, n, rest, rest_size, &at);

    if (aecimg_set_quality(ctx, quality) != 0 || aecimg_set_entropy(ctx, entropy) != 0)
        abort();
    uint8_t *f1 = NULL, *f2 = NULL;
    size_t s1 = 0, s2 = 0;
    if (aecimg_encode(ctx, &img, &f1, &s1) != 0 || aecimg_encode(ctx, &img, &f2, &s2) != 0)
        abort();
    if (s1 != s2 || memcmp(f1, f2, s1) != 0)
        abort(); /* encoding is deterministic */

    AecimgInfo info;
    if (aecimg_read_info(f1, s1, &info) != 0)
        abort();
    if (info.width != w || info.height != h || info.channels != ch || info.quality != (uint32_t)quality ||
        (entropy != AECIMG_ENTROPY_AUTO && info.entropy != (uint32_t)entropy) || info.icc_size != icc_size ||
        (info.alpha_size != 0) != (ch == 2 || ch == 4))
        abort();

    AecimgImage out;
    if (aecimg_decode(ctx, f1, s1, &out) != 0)
        abort();
    if (out.width != w || out.height != h || out.channels != ch || out.icc_size != icc_size ||
        (icc_size && memcmp(out.icc, img.icc, icc_size) != 0))
        abort();
    if (ch == 2 || ch == 4)
        for (size_t i = ch - 1; i < n; i += ch)
            if (out.pixels[i] != img.pixels[i])
                abort(); /* alpha is lossless */

    aecimg_image_free(&out);
    free(f1);
    free(f2);
    aecimg_image_free(&img);
    return 0;
}
