/* bench_codec_webp.c: the WebP anchor (lossy), built when configure found libwebp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/encode.h>

#include "bench_codecs.h"

static int encode_picture(const WebPConfig *config, WebPPicture *pic, const AecimgImage *img,
                          WebPMemoryWriter *writer, char *err, size_t err_size)
{
    pic->width = (int)img->width;
    pic->height = (int)img->height;
    if (!WebPPictureImportRGB(pic, img->pixels, (int)img->width * 3))
        return bench_fail(err, err_size, "WebP: out of memory");
    pic->writer = WebPMemoryWrite;
    pic->custom_ptr = writer;
    if (!WebPEncode(config, pic))
        return bench_fail(err, err_size, "WebP: encoding failed (error %d)", pic->error_code);
    return 0;
}

static int webp_encode(BenchSession *s, const AecimgImage *img, int quality, uint8_t **out,
                       size_t *out_size, char *err, size_t err_size)
{
    WebPConfig config;
    WebPPicture pic;
    WebPMemoryWriter writer;
    int rc;

    (void)s;
    if (!WebPConfigInit(&config) || !WebPPictureInit(&pic))
        return bench_fail(err, err_size, "WebP: library version mismatch");
    config.quality = (float)quality;
    WebPMemoryWriterInit(&writer);
    rc = encode_picture(&config, &pic, img, &writer, err, err_size);
    if (rc == 0)
        rc = bench_copy_bytes(writer.mem, writer.size, out, out_size, err, err_size);
    WebPMemoryWriterClear(&writer);
    WebPPictureFree(&pic);
    return rc;
}

/* The simple API, decoding straight into the image. */
static int webp_decode(BenchSession *s, const uint8_t *data, size_t size, AecimgImage *img,
                       char *err, size_t err_size)
{
    int w, h;

    (void)s;
    if (!WebPGetInfo(data, size, &w, &h))
        return bench_fail(err, err_size, "WebP: not a WebP file");
    if (bench_alloc_image(img, (uint32_t)w, (uint32_t)h, 3, err, err_size) != 0)
        return -1;
    if (!WebPDecodeRGBInto(data, size, img->pixels, (size_t)w * h * 3, w * 3)) {
        aecimg_image_free(img);
        return bench_fail(err, err_size, "WebP: decoding failed");
    }
    return 0;
}

/* The advanced API with a library-allocated output buffer. */
static int webp_decode_check(BenchSession *s, const uint8_t *data, size_t size, AecimgImage *img,
                             char *err, size_t err_size)
{
    WebPDecoderConfig config;
    const WebPRGBABuffer *rgb = &config.output.u.RGBA;
    int rc = -1;

    (void)s;
    if (!WebPInitDecoderConfig(&config))
        return bench_fail(err, err_size, "WebP: library version mismatch");
    config.output.colorspace = MODE_RGB;
    if (WebPDecode(data, size, &config) != VP8_STATUS_OK)
        bench_fail(err, err_size, "WebP: decoding failed");
    else if (bench_alloc_image(img, (uint32_t)config.output.width, (uint32_t)config.output.height,
                               3, err, err_size) == 0)
        rc = 0;
    for (uint32_t y = 0; rc == 0 && y < img->height; y++)
        memcpy(img->pixels + (size_t)y * img->width * 3, rgb->rgba + (size_t)y * rgb->stride,
               (size_t)img->width * 3);
    WebPFreeDecBuffer(&config.output);
    return rc;
}

static int webp_open(BenchSession *s, const BenchConfig *cfg, char *err, size_t err_size)
{
    int v = WebPGetEncoderVersion();

    (void)cfg;
    (void)err;
    (void)err_size;
    s->threads = 1;
    snprintf(s->settings, sizeof s->settings,
             "libwebp %d.%d.%d: lossy, WebPConfigInit defaults with quality Q (method 4, "
             "YUV 4:2:0, sharp_yuv off, single-threaded), gray expanded to RGB",
             v >> 16, (v >> 8) & 0xff, v & 0xff);
    snprintf(s->check, sizeof s->check, "decode again with libwebp's advanced decoding API");
    return 0;
}

const BenchCodec bench_codec_webp = {
    .name = "webp",
    .qualities = BENCH_QUALITIES_WEBP,
    .open = webp_open,
    .encode = webp_encode,
    .decode = webp_decode,
    .decode_check = webp_decode_check,
};
