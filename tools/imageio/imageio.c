/* imageio.c: format detection, dispatch to the PNG/PNM/JPEG codecs, and their shared helpers. */
#include "imageio/imageio.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "imageio/imageio_internal.h"

void imageio_set_error(char *err, size_t err_size, const char *fmt, ...)
{
    if (!err || err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

int imageio_check_size(const char *what, uint64_t width, uint64_t height, uint64_t max_pixels,
                       char *err, size_t err_size)
{
    if (width == 0 || height == 0) {
        imageio_set_error(err, err_size, "%s: image has zero width or height", what);
        return -1;
    }
    if (width > AECIMG_MAX_DIMENSION || height > AECIMG_MAX_DIMENSION) {
        imageio_set_error(err, err_size, "%s: image size %llux%llu exceeds the maximum side of %u",
                          what, (unsigned long long)width, (unsigned long long)height,
                          AECIMG_MAX_DIMENSION);
        return -1;
    }
    /* Both sides are at most 65535 here, so the product cannot overflow. */
    if (width * height > max_pixels) {
        imageio_set_error(err, err_size, "%s: image size %llux%llu exceeds the limit of %llu pixels",
                          what, (unsigned long long)width, (unsigned long long)height,
                          (unsigned long long)max_pixels);
        return -1;
    }
    return 0;
}

int imageio_alloc_pixels(AecimgImage *img, uint32_t width, uint32_t height, uint32_t channels,
                         const char *what, char *err, size_t err_size)
{
    /* 65535 * 65535 * 4 bytes fits 64 bits but not a 32-bit size_t. */
    uint64_t bytes = (uint64_t)width * height * channels;
    img->pixels = bytes <= SIZE_MAX ? malloc((size_t)bytes) : NULL;
    if (!img->pixels) {
        imageio_set_error(err, err_size, "%s: out of memory for a %ux%u image", what, width, height);
        return -1;
    }
    img->width = width;
    img->height = height;
    img->channels = channels;
    return 0;
}

int imageio_finish_write(FILE *f, const char *what, char *err, size_t err_size)
{
    if (fflush(f) != 0 || ferror(f)) {
        imageio_set_error(err, err_size, "%s: write failed: %s", what, strerror(errno));
        return -1;
    }
    return 0;
}

ImageioFormat imageio_sniff(const uint8_t *data, size_t size)
{
    static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (!data)
        return IMAGEIO_UNKNOWN;
    if (size >= sizeof png_signature && memcmp(data, png_signature, sizeof png_signature) == 0)
        return IMAGEIO_PNG;
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return IMAGEIO_JPEG;
    /* Netpbm whitespace (isspace would depend on the locale). */
    if (size >= 3 && data[0] == 'P' && data[1] >= '1' && data[1] <= '7' &&
        memchr(" \t\n\v\f\r", data[2], 6))
        return data[1] == '7' ? IMAGEIO_PAM : IMAGEIO_PNM;
    return IMAGEIO_UNKNOWN;
}

/* ASCII case-insensitive equality, independent of the locale. */
static int same_ext(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != *b)
            return 0;
    return *a == *b;
}

ImageioFormat imageio_format_from_name(const char *name)
{
    static const struct {
        const char *ext;
        ImageioFormat fmt;
    } table[] = {
        {"png", IMAGEIO_PNG}, {"ppm", IMAGEIO_PNM}, {"pgm", IMAGEIO_PNM}, {"pnm", IMAGEIO_PNM},
        {"pam", IMAGEIO_PAM}, {"jpg", IMAGEIO_JPEG}, {"jpeg", IMAGEIO_JPEG},
    };
    if (!name)
        return IMAGEIO_UNKNOWN;
    /* Only the last component counts: "out.png/image" has no extension. */
    const char *base = strrchr(name, '/');
    const char *dot = strrchr(base ? base + 1 : name, '.');
    if (!dot)
        return IMAGEIO_UNKNOWN;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (same_ext(dot + 1, table[i].ext))
            return table[i].fmt;
    return IMAGEIO_UNKNOWN;
}

int imageio_read(const uint8_t *data, size_t size, uint64_t max_pixels, AecimgImage *img,
                 char *err, size_t err_size)
{
    if (!img) {
        imageio_set_error(err, err_size, "no output image given");
        return -1;
    }
    memset(img, 0, sizeof *img);
    switch (imageio_sniff(data, size)) {
    case IMAGEIO_PNG:
        return imageio_read_png(data, size, max_pixels, img, err, err_size);
    case IMAGEIO_PNM:
    case IMAGEIO_PAM:
        return imageio_read_pnm(data, size, max_pixels, img, err, err_size);
    case IMAGEIO_JPEG:
        return imageio_read_jpeg(data, size, max_pixels, img, err, err_size);
    case IMAGEIO_UNKNOWN:
        break;
    }
    imageio_set_error(err, err_size, "unrecognized image format (expected PNG, PNM or JPEG)");
    return -1;
}

static int check_image(const AecimgImage *img, char *err, size_t err_size)
{
    if (!img || !img->pixels) {
        imageio_set_error(err, err_size, "cannot write an image without pixels");
        return -1;
    }
    if (img->channels < 1 || img->channels > 4) {
        imageio_set_error(err, err_size, "cannot write an image with %u channels (expected 1..4)",
                          img->channels);
        return -1;
    }
    if (img->icc_size > 0 && !img->icc) {
        imageio_set_error(err, err_size, "image has an ICC size but no ICC profile");
        return -1;
    }
    return imageio_check_size("output", img->width, img->height, UINT64_MAX, err, err_size);
}

int imageio_write(FILE *f, ImageioFormat fmt, const AecimgImage *img, char *err, size_t err_size)
{
    if (!f) {
        imageio_set_error(err, err_size, "no output file given");
        return -1;
    }
    if (check_image(img, err, err_size) < 0)
        return -1;
    switch (fmt) {
    case IMAGEIO_PNG:
        return imageio_write_png(f, img, err, err_size);
    case IMAGEIO_PNM:
        return imageio_write_pnm(f, 0, img, err, err_size);
    case IMAGEIO_PAM:
        return imageio_write_pnm(f, 1, img, err, err_size);
    case IMAGEIO_JPEG:
        imageio_set_error(err, err_size, "JPEG output is not supported");
        return -1;
    case IMAGEIO_UNKNOWN:
        break;
    }
    imageio_set_error(err, err_size, "unknown output format");
    return -1;
}
