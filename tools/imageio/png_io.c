/* png_io.c: PNG decoding from memory and 8-bit PNG encoding with libpng 1.6. */
#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "imageio/imageio_internal.h"

/* State of one decode.  It lives in imageio_read_png's frame, not in the frame that calls setjmp,
 * so whatever decode_png stores in it stays valid after a longjmp (no volatile needed). */
typedef struct PngReader {
    const uint8_t *data;
    size_t size, pos;
    uint64_t max_pixels;
    char *err;
    size_t err_size;
    png_structp png;
    png_infop info;
    AecimgImage out;
} PngReader;

/* libpng calls this for fatal errors while decoding; it must not return. */
static void on_read_error(png_structp png, png_const_charp msg)
{
    PngReader *r = png_get_error_ptr(png);
    imageio_set_error(r->err, r->err_size, "PNG: %s", msg);
    png_longjmp(png, 1);
}

/* Warnings are about recoverable oddities (a bad ancillary chunk is dropped): stay quiet. */
static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void read_from_memory(png_structp png, png_bytep out, size_t n)
{
    PngReader *r = png_get_io_ptr(png);
    if (n > r->size - r->pos)
        png_error(png, "truncated file");
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

/* Deflate cannot expand data by more than 1032:1 (a 258-byte match coded in 2 bits). */
#define DEFLATE_MAX_RATIO 1032u

/* Refuses a file too short to hold the image its IHDR claims, so that a few hostile bytes cannot
 * make us allocate the pixels of a large image before libpng finds the data missing. */
static int check_data_size(PngReader *r, png_uint_32 width, png_uint_32 height)
{
    uint64_t bits_per_pixel =
        (uint64_t)png_get_bit_depth(r->png, r->info) * png_get_channels(r->png, r->info);
    uint64_t raster_bytes = ((uint64_t)width * height * bits_per_pixel + 7) / 8;
    if (raster_bytes / DEFLATE_MAX_RATIO <= r->size)
        return 0;
    imageio_set_error(r->err, r->err_size, "PNG: a file of %zu bytes cannot hold a %ux%u image",
                      r->size, (unsigned)width, (unsigned)height);
    return -1;
}

/* Copies the iCCP profile, if any, into the output image. */
static void read_icc(PngReader *r)
{
    png_charp name;
    int compression;
    png_bytep profile;
    png_uint_32 length;
    if (!png_get_iCCP(r->png, r->info, &name, &compression, &profile, &length) || length == 0)
        return;
    r->out.icc = malloc(length);
    if (!r->out.icc)
        png_error(r->png, "out of memory for the ICC profile");
    memcpy(r->out.icc, profile, length);
    r->out.icc_size = length;
}

/* Asks libpng for 8-bit gray, gray+alpha, RGB or RGBA whatever the file holds. */
static void set_transforms(png_structp png)
{
    png_set_expand(png);   /* palette -> RGB, 1/2/4-bit gray -> 8 bits, tRNS -> alpha */
    png_set_scale_16(png); /* 16 -> 8 bits rounded, where png_set_strip_16 would truncate */
}

static int decode_png(PngReader *r)
{
    if (setjmp(png_jmpbuf(r->png)))
        return -1;
    png_set_read_fn(r->png, r, read_from_memory);
    png_read_info(r->png, r->info);

    png_uint_32 width = png_get_image_width(r->png, r->info);
    png_uint_32 height = png_get_image_height(r->png, r->info);
    if (imageio_check_size("PNG", width, height, r->max_pixels, r->err, r->err_size) < 0 ||
        check_data_size(r, width, height) < 0)
        return -1;
    int color_type = png_get_color_type(r->png, r->info);
    r->out.source_bit_depth =
        color_type == PNG_COLOR_TYPE_PALETTE ? 8 : png_get_bit_depth(r->png, r->info);
    read_icc(r);

    set_transforms(r->png);
    int passes = png_set_interlace_handling(r->png);
    png_read_update_info(r->png, r->info);
    uint32_t channels = png_get_channels(r->png, r->info);
    if (imageio_alloc_pixels(&r->out, width, height, channels, "PNG", r->err, r->err_size) < 0)
        return -1;
    size_t stride = (size_t)width * channels;
    /* Reading pass by pass into the final rows lets libpng merge the Adam7 passes in place. */
    for (int pass = 0; pass < passes; pass++)
        for (png_uint_32 y = 0; y < height; y++)
            png_read_row(r->png, r->out.pixels + y * stride, NULL);
    png_read_end(r->png, NULL); /* checks the last CRCs and that the file is complete */
    return 0;
}

int imageio_read_png(const uint8_t *data, size_t size, uint64_t max_pixels, AecimgImage *img,
                     char *err, size_t err_size)
{
    PngReader r = {.data = data, .size = size, .max_pixels = max_pixels, .err = err,
                   .err_size = err_size};
    r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_read_error, on_warning);
    r.info = r.png ? png_create_info_struct(r.png) : NULL;
    int rc = -1;
    if (r.info) {
        /* libpng refuses wider or taller IHDRs itself, before it allocates anything for them;
         * max_pixels is checked once the IHDR has been read. */
        png_set_user_limits(r.png, AECIMG_MAX_DIMENSION, AECIMG_MAX_DIMENSION);
        rc = decode_png(&r);
    } else {
        imageio_set_error(err, err_size, "PNG: out of memory");
    }
    png_destroy_read_struct(&r.png, &r.info, NULL);
    if (rc < 0) {
        aecimg_image_free(&r.out);
        return -1;
    }
    *img = r.out;
    return 0;
}

typedef struct PngWriter {
    char *err;
    size_t err_size;
    png_structp png;
    png_infop info;
} PngWriter;

static void on_write_error(png_structp png, png_const_charp msg)
{
    PngWriter *w = png_get_error_ptr(png);
    imageio_set_error(w->err, w->err_size, "PNG: %s", msg);
    png_longjmp(png, 1);
}

static void write_to_file(png_structp png, png_bytep data, size_t n)
{
    if (fwrite(data, 1, n, png_get_io_ptr(png)) != n) {
        char msg[160];
        snprintf(msg, sizeof msg, "write failed: %s", strerror(errno));
        png_error(png, msg);
    }
}

/* Nothing to do: imageio_finish_write flushes once at the end. */
static void flush_nothing(png_structp png)
{
    (void)png;
}

static int encode_png(PngWriter *w, FILE *f, const AecimgImage *img)
{
    static const int color_types[4] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                       PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    if (setjmp(png_jmpbuf(w->png)))
        return -1;
    png_set_write_fn(w->png, f, write_to_file, flush_nothing);
    png_set_IHDR(w->png, w->info, img->width, img->height, 8, color_types[img->channels - 1],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE, PNG_FILTER_TYPE_BASE);
    if (img->icc_size > 0) {
        if (img->icc_size > PNG_UINT_31_MAX)
            png_error(w->png, "ICC profile too large");
        png_set_iCCP(w->png, w->info, "ICC Profile", PNG_COMPRESSION_TYPE_BASE, img->icc,
                     (png_uint_32)img->icc_size);
    }
    /* zlib level 1 instead of libpng's 6, and the Paeth filter on every row instead of trying all five
     * per row: on a decoded Kodak photo 2.4 times faster than level 3 with all filters, for a file 4%
     * larger (level 3 had been 4 times faster than 6 for 5% more). */
    png_set_compression_level(w->png, 1);
    png_set_filter(w->png, PNG_FILTER_TYPE_BASE, PNG_FILTER_PAETH);
    png_write_info(w->png, w->info);
    size_t stride = (size_t)img->width * img->channels;
    for (uint32_t y = 0; y < img->height; y++)
        png_write_row(w->png, img->pixels + y * stride);
    png_write_end(w->png, NULL);
    return 0;
}

int imageio_write_png(FILE *f, const AecimgImage *img, char *err, size_t err_size)
{
    PngWriter w = {.err = err, .err_size = err_size};
    w.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w, on_write_error, on_warning);
    w.info = w.png ? png_create_info_struct(w.png) : NULL;
    int rc = -1;
    if (w.info)
        rc = encode_png(&w, f, img);
    else
        imageio_set_error(err, err_size, "PNG: out of memory");
    png_destroy_write_struct(&w.png, &w.info);
    if (rc < 0)
        return -1;
    return imageio_finish_write(f, "PNG", err, err_size);
}
