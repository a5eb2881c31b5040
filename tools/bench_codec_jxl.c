/* bench_codec_jxl.c: the JPEG XL anchor (lossy, VarDCT), built when configure found libjxl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jxl/decode.h>
#include <jxl/encode.h>

#include "bench_codecs.h"

enum { JXL_BENCH_EFFORT = 7 };

/* Quality to Butteraugli distance as cjxl maps its -q option. */
static float distance_of(int quality)
{
    if (quality >= 100)
        return 0.0f;
    if (quality >= 30)
        return 0.1f + (float)(100 - quality) * 0.09f;
    return 53.0f / 3000.0f * (float)(quality * quality) - 23.0f / 20.0f * (float)quality + 25.0f;
}

static int set_input(JxlEncoder *enc, const AecimgImage *img, int quality)
{
    JxlBasicInfo info;
    JxlColorEncoding color;
    JxlPixelFormat format = {img->channels, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, 0};
    JxlEncoderFrameSettings *frame = JxlEncoderFrameSettingsCreate(enc, NULL);

    JxlEncoderInitBasicInfo(&info);
    info.xsize = img->width;
    info.ysize = img->height;
    info.bits_per_sample = 8;
    info.num_color_channels = img->channels;
    info.uses_original_profile = JXL_FALSE;
    JxlColorEncodingSetToSRGB(&color, img->channels == 1);
    if (!frame || JxlEncoderSetBasicInfo(enc, &info) != JXL_ENC_SUCCESS ||
        JxlEncoderSetColorEncoding(enc, &color) != JXL_ENC_SUCCESS ||
        JxlEncoderSetFrameDistance(frame, distance_of(quality)) != JXL_ENC_SUCCESS ||
        JxlEncoderFrameSettingsSetOption(frame, JXL_ENC_FRAME_SETTING_EFFORT, JXL_BENCH_EFFORT) !=
            JXL_ENC_SUCCESS ||
        JxlEncoderAddImageFrame(frame, &format, img->pixels,
                                (size_t)img->width * img->height * img->channels) !=
            JXL_ENC_SUCCESS)
        return -1;
    JxlEncoderCloseInput(enc);
    return 0;
}

/* Collects the codestream into a malloc'd buffer that doubles whenever the encoder wants more. */
static int collect_output(JxlEncoder *enc, uint8_t **out, size_t *out_size)
{
    size_t cap = 1 << 16, used = 0;
    uint8_t *buf = NULL;
    JxlEncoderStatus st = JXL_ENC_NEED_MORE_OUTPUT;

    while (st == JXL_ENC_NEED_MORE_OUTPUT) {
        uint8_t *grown = realloc(buf, cap);
        if (!grown)
            break;
        buf = grown;
        uint8_t *next = buf + used;
        size_t avail = cap - used;
        st = JxlEncoderProcessOutput(enc, &next, &avail);
        used = (size_t)(next - buf);
        cap *= 2;
    }
    if (st != JXL_ENC_SUCCESS) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_size = used;
    return 0;
}

static int jxl_encode(BenchSession *s, const AecimgImage *img, int quality, uint8_t **out,
                      size_t *out_size, char *err, size_t err_size)
{
    JxlEncoder *enc = JxlEncoderCreate(NULL);
    int rc = -1;

    (void)s;
    if (enc && set_input(enc, img, quality) == 0)
        rc = collect_output(enc, out, out_size);
    if (enc)
        JxlEncoderDestroy(enc);
    return rc == 0 ? 0 : bench_fail(err, err_size, "JPEG XL: encoding failed");
}

/* Runs the decoder to the end, allocating the image once the basic info is known. */
static int run_decoder(JxlDecoder *dec, AecimgImage *img, char *err, size_t err_size)
{
    JxlBasicInfo info;
    JxlPixelFormat format = {3, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, 0};

    for (;;) {
        JxlDecoderStatus st = JxlDecoderProcessInput(dec);
        if (st == JXL_DEC_SUCCESS)
            return img->pixels ? 0 : bench_fail(err, err_size, "JPEG XL: no image");
        if (st == JXL_DEC_BASIC_INFO) {
            if (JxlDecoderGetBasicInfo(dec, &info) != JXL_DEC_SUCCESS)
                break;
            format.num_channels = info.num_color_channels;
            if (bench_alloc_image(img, info.xsize, info.ysize, format.num_channels, err,
                                  err_size) != 0)
                return -1;
        } else if (st == JXL_DEC_NEED_IMAGE_OUT_BUFFER) {
            size_t need = (size_t)img->width * img->height * img->channels;
            if (!img->pixels ||
                JxlDecoderSetImageOutBuffer(dec, &format, img->pixels, need) != JXL_DEC_SUCCESS)
                break;
        } else if (st != JXL_DEC_FULL_IMAGE) {
            break;
        }
    }
    return bench_fail(err, err_size, "JPEG XL: decoding failed");
}

static int jxl_decode(BenchSession *s, const uint8_t *data, size_t size, AecimgImage *img,
                      char *err, size_t err_size)
{
    JxlDecoder *dec = JxlDecoderCreate(NULL);
    int rc;

    (void)s;
    memset(img, 0, sizeof *img);
    if (!dec)
        return bench_fail(err, err_size, "JPEG XL: out of memory");
    if (JxlDecoderSubscribeEvents(dec, JXL_DEC_BASIC_INFO | JXL_DEC_FULL_IMAGE) !=
            JXL_DEC_SUCCESS ||
        JxlDecoderSetInput(dec, data, size) != JXL_DEC_SUCCESS) {
        rc = bench_fail(err, err_size, "JPEG XL: cannot start the decoder");
    } else {
        JxlDecoderCloseInput(dec);
        rc = run_decoder(dec, img, err, err_size);
    }
    JxlDecoderDestroy(dec);
    if (rc != 0)
        aecimg_image_free(img);
    return rc;
}

static int jxl_open(BenchSession *s, const BenchConfig *cfg, char *err, size_t err_size)
{
    uint32_t v = JxlEncoderVersion();

    (void)cfg;
    (void)err;
    (void)err_size;
    s->threads = 1;
    snprintf(s->settings, sizeof s->settings,
             "libjxl %u.%u.%u: lossy (VarDCT, XYB), effort %d, distance from Q as cjxl maps -q "
             "(Q >= 30: 0.1 + (100 - Q) * 0.09), sRGB, bare codestream, 1 thread",
             v / 1000000, v / 1000 % 1000, v % 1000, JXL_BENCH_EFFORT);
    snprintf(s->check, sizeof s->check, "decode again with a second, fresh decoder");
    return 0;
}

const BenchCodec bench_codec_jxl = {
    .name = "jxl",
    .gray = 1,
    .qualities = BENCH_QUALITIES_JXL,
    .open = jxl_open,
    .encode = jxl_encode,
    .decode = jxl_decode,
    .decode_check = jxl_decode,
};
