/* bench_codec_avif.c: the AVIF anchor (libavif with libaom), built when configure found libavif. */
#include <stdio.h>
#include <stdlib.h>

#include <avif/avif.h>

#include "bench_codecs.h"

enum { AVIF_BENCH_SPEED = 6 };

/* Quality 0..100 to an AV1 quantizer 63..0, as libavif 1.0 maps its quality setting (this
 * libavif may predate it and take quantizers only). */
static int quantizer_of(int quality)
{
    return ((100 - quality) * 63 + 50) / 100;
}

static int to_yuv(const AecimgImage *img, avifImage **image, char *err, size_t err_size)
{
    avifRGBImage rgb;
    avifResult r;

    *image = avifImageCreate(img->width, img->height, 8, AVIF_PIXEL_FORMAT_YUV420);
    if (!*image)
        return bench_fail(err, err_size, "AVIF: out of memory");
    avifRGBImageSetDefaults(&rgb, *image);
    rgb.format = AVIF_RGB_FORMAT_RGB;
    rgb.pixels = img->pixels;
    rgb.rowBytes = img->width * 3;
    r = avifImageRGBToYUV(*image, &rgb);
    return r == AVIF_RESULT_OK ? 0 : bench_fail(err, err_size, "AVIF: %s", avifResultToString(r));
}

static int avif_encode(BenchSession *s, const AecimgImage *img, int quality, uint8_t **out,
                       size_t *out_size, char *err, size_t err_size)
{
    avifImage *image = NULL;
    avifEncoder *enc = NULL;
    avifRWData file = AVIF_DATA_EMPTY;
    int rc = to_yuv(img, &image, err, err_size);

    (void)s;
    if (rc == 0 && !(enc = avifEncoderCreate()))
        rc = bench_fail(err, err_size, "AVIF: out of memory");
    if (rc == 0) {
        enc->codecChoice = AVIF_CODEC_CHOICE_AOM;
        enc->maxThreads = 1;
        enc->speed = AVIF_BENCH_SPEED;
        enc->minQuantizer = enc->maxQuantizer = quantizer_of(quality);
        avifResult r = avifEncoderWrite(enc, image, &file);
        if (r != AVIF_RESULT_OK)
            rc = bench_fail(err, err_size, "AVIF: %s", avifResultToString(r));
    }
    if (rc == 0)
        rc = bench_copy_bytes(file.data, file.size, out, out_size, err, err_size);
    avifRWDataFree(&file);
    if (enc)
        avifEncoderDestroy(enc);
    if (image)
        avifImageDestroy(image);
    return rc;
}

static int to_rgb(const avifImage *image, AecimgImage *img, char *err, size_t err_size)
{
    avifRGBImage rgb;
    avifResult r;

    if (bench_alloc_image(img, image->width, image->height, 3, err, err_size) != 0)
        return -1;
    avifRGBImageSetDefaults(&rgb, image);
    rgb.format = AVIF_RGB_FORMAT_RGB;
    rgb.depth = 8;
    rgb.pixels = img->pixels;
    rgb.rowBytes = image->width * 3;
    r = avifImageYUVToRGB(image, &rgb);
    if (r == AVIF_RESULT_OK)
        return 0;
    aecimg_image_free(img);
    return bench_fail(err, err_size, "AVIF: %s", avifResultToString(r));
}

/* Decodes with the given AV1 decoder (AUTO when it is not built into libavif). */
static int decode_with(avifCodecChoice choice, const uint8_t *data, size_t size, AecimgImage *img,
                       char *err, size_t err_size)
{
    avifDecoder *dec = avifDecoderCreate();
    avifImage *image = avifImageCreateEmpty();
    int rc = -1;

    if (!dec || !image) {
        bench_fail(err, err_size, "AVIF: out of memory");
    } else {
        int built_in = avifCodecName(choice, AVIF_CODEC_FLAG_CAN_DECODE) != NULL;
        dec->codecChoice = built_in ? choice : AVIF_CODEC_CHOICE_AUTO;
        dec->maxThreads = 1;
        avifResult r = avifDecoderReadMemory(dec, image, data, size);
        if (r == AVIF_RESULT_OK)
            rc = to_rgb(image, img, err, err_size);
        else
            bench_fail(err, err_size, "AVIF: %s", avifResultToString(r));
    }
    if (image)
        avifImageDestroy(image);
    if (dec)
        avifDecoderDestroy(dec);
    return rc;
}

static int avif_decode(BenchSession *s, const uint8_t *data, size_t size, AecimgImage *img,
                       char *err, size_t err_size)
{
    (void)s;
    return decode_with(AVIF_CODEC_CHOICE_DAV1D, data, size, img, err, err_size);
}

/* A second AV1 decoder: AV1 decoding is normative, so libaom must give dav1d's pixels. */
static int avif_decode_check(BenchSession *s, const uint8_t *data, size_t size, AecimgImage *img,
                             char *err, size_t err_size)
{
    (void)s;
    return decode_with(AVIF_CODEC_CHOICE_AOM, data, size, img, err, err_size);
}

static const char *decoder_name(avifCodecChoice choice)
{
    const char *name = avifCodecName(choice, AVIF_CODEC_FLAG_CAN_DECODE);

    return name ? name : avifCodecName(AVIF_CODEC_CHOICE_AUTO, AVIF_CODEC_FLAG_CAN_DECODE);
}

static int avif_open(BenchSession *s, const BenchConfig *cfg, char *err, size_t err_size)
{
    char versions[256];

    (void)cfg;
    if (!avifCodecName(AVIF_CODEC_CHOICE_AOM, AVIF_CODEC_FLAG_CAN_ENCODE))
        return bench_fail(err, err_size, "AVIF: this libavif has no libaom encoder");
    avifCodecVersions(versions);
    s->threads = 1;
    snprintf(s->settings, sizeof s->settings,
             "libavif %s (%s): libaom encoder, speed %d, quantizer min = max = "
             "((100 - Q) * 63 + 50) / 100, YUV 4:2:0 8-bit, full range, BT.601 matrix, gray "
             "expanded to RGB, 1 thread; decoded with %s",
             avifVersion(), versions, AVIF_BENCH_SPEED, decoder_name(AVIF_CODEC_CHOICE_DAV1D));
    snprintf(s->check, sizeof s->check, "decode again with a second AV1 decoder (%s)",
             decoder_name(AVIF_CODEC_CHOICE_AOM));
    return 0;
}

const BenchCodec bench_codec_avif = {
    .name = "avif",
    .qualities = BENCH_QUALITIES_AVIF,
    .open = avif_open,
    .encode = avif_encode,
    .decode = avif_decode,
    .decode_check = avif_decode_check,
};
