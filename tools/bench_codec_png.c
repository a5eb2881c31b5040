/* bench_codec_png.c: the lossless PNG anchor, libpng at its best compression, in memory. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <zlib.h>

#include "bench_codecs.h"
#include "imageio/imageio.h"

/* One encode: the growing output and where errors go.  It lives in png_encode's frame, not in the
 * frame that calls setjmp, so that what write_png stores in it survives a longjmp. */
typedef struct PngMemWriter {
    png_structp png;
    png_infop info;
    uint8_t *data;
    size_t size, cap;
    char *err;
    size_t err_size;
} PngMemWriter;

static void on_error(png_structp png, png_const_charp msg)
{
    PngMemWriter *w = png_get_error_ptr(png);

    bench_fail(w->err, w->err_size, "PNG: %s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void append(png_structp png, png_bytep data, size_t n)
{
    PngMemWriter *w = png_get_io_ptr(png);

    if (n > w->cap - w->size) {
        size_t cap = w->cap ? w->cap : 1 << 16;
        while (cap - w->size < n)
            cap *= 2;
        uint8_t *grown = realloc(w->data, cap);
        if (!grown)
            png_error(png, "out of memory");
        w->data = grown;
        w->cap = cap;
    }
    memcpy(w->data + w->size, data, n);
    w->size += n;
}

static void flush_nothing(png_structp png)
{
    (void)png;
}

static int write_png(PngMemWriter *w, const AecimgImage *img)
{
    int color = img->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB;
    size_t stride = (size_t)img->width * img->channels;

    if (setjmp(png_jmpbuf(w->png)))
        return -1;
    png_set_write_fn(w->png, w, append, flush_nothing);
    png_set_compression_level(w->png, Z_BEST_COMPRESSION);
    png_set_compression_mem_level(w->png, MAX_MEM_LEVEL);
    /* One IDAT per 1 MiB instead of per 8 KiB: 12 bytes of chunk overhead saved per 8 KiB. */
    png_set_compression_buffer_size(w->png, 1u << 20);
    png_set_filter(w->png, PNG_FILTER_TYPE_BASE, PNG_ALL_FILTERS);
    png_set_IHDR(w->png, w->info, img->width, img->height, 8, color, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_BASE, PNG_FILTER_TYPE_BASE);
    png_write_info(w->png, w->info);
    for (uint32_t y = 0; y < img->height; y++)
        png_write_row(w->png, img->pixels + y * stride);
    png_write_end(w->png, NULL);
    return 0;
}

static int png_encode(BenchSession *s, const AecimgImage *img, int quality, uint8_t **out,
                      size_t *out_size, char *err, size_t err_size)
{
    PngMemWriter w = {.err = err, .err_size = err_size};
    int rc = -1;

    (void)s;
    (void)quality;
    w.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w, on_error, on_warning);
    w.info = w.png ? png_create_info_struct(w.png) : NULL;
    if (w.info)
        rc = write_png(&w, img);
    else
        bench_fail(err, err_size, "PNG: out of memory");
    png_destroy_write_struct(&w.png, &w.info);
    if (rc != 0) {
        free(w.data);
        return -1;
    }
    *out = w.data;
    *out_size = w.size;
    return 0;
}

/* The tools' PNG reader (libpng's progressive row interface). */
static int png_decode(BenchSession *s, const uint8_t *data, size_t size, AecimgImage *img,
                      char *err, size_t err_size)
{
    (void)s;
    return imageio_read(data, size, AECIMG_DEFAULT_MAX_PIXELS, img, err, err_size);
}

/* libpng's simplified API, a separate path through the library. */
static int png_decode_check(BenchSession *s, const uint8_t *data, size_t size, AecimgImage *img,
                            char *err, size_t err_size)
{
    png_image pi;

    (void)s;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, data, size))
        return bench_fail(err, err_size, "PNG: %s", pi.message);
    pi.format = pi.format & PNG_FORMAT_FLAG_COLOR ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    if (bench_alloc_image(img, pi.width, pi.height, PNG_IMAGE_SAMPLE_CHANNELS(pi.format), err,
                          err_size) != 0) {
        png_image_free(&pi);
        return -1;
    }
    if (!png_image_finish_read(&pi, NULL, img->pixels, 0, NULL)) {
        aecimg_image_free(img);
        return bench_fail(err, err_size, "PNG: %s", pi.message);
    }
    return 0;
}

static int png_open(BenchSession *s, const BenchConfig *cfg, char *err, size_t err_size)
{
    (void)cfg;
    (void)err;
    (void)err_size;
    s->threads = 1;
    snprintf(s->settings, sizeof s->settings,
             "libpng %s, zlib %s: 8-bit, zlib level 9 (Z_BEST_COMPRESSION) and memLevel 9, all "
             "five row filters tried (PNG_ALL_FILTERS), 1 MiB IDAT chunks, no interlace, no "
             "ancillary chunks",
             png_get_libpng_ver(NULL), ZLIB_VERSION);
    snprintf(s->check, sizeof s->check, "decode again with libpng's simplified API");
    return 0;
}

const BenchCodec bench_codec_png = {
    .name = "png",
    .lossless = 1,
    .gray = 1,
    .open = png_open,
    .encode = png_encode,
    .decode = png_decode,
    .decode_check = png_decode_check,
};
