/* imageio.h: PNG, PNM and JPEG readers and writers for the command-line tools. */
#ifndef AECIMG_IMAGEIO_H
#define AECIMG_IMAGEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <aecimg/aecimg.h>

typedef enum ImageioFormat {
    IMAGEIO_UNKNOWN = 0,
    IMAGEIO_PNG,
    IMAGEIO_PNM, /* PGM/PPM on output, chosen by channel count; PAM (P7) when there is alpha */
    IMAGEIO_PAM,
    IMAGEIO_JPEG,
} ImageioFormat;

/* Format of a file from its first bytes. */
ImageioFormat imageio_sniff(const uint8_t *data, size_t size);
/* Output format from a file name's extension (.png, .ppm, .pgm, .pnm, .pam); UNKNOWN otherwise. */
ImageioFormat imageio_format_from_name(const char *name);
/* 1 if JPEG input was compiled in. */
int imageio_have_jpeg(void);

/* Decodes a PNG, PNM/PAM or JPEG file held in memory into an 8-bit image (malloc'd pixels and ICC;
 * free with aecimg_image_free).  Inputs of more than 8 bits are reduced to 8 bits with rounding and
 * img->source_bit_depth says what they were.  Refuses images with more than max_pixels pixels.
 * On failure returns -1, leaves img empty and writes a one-line reason into err. */
int imageio_read(const uint8_t *data, size_t size, uint64_t max_pixels, AecimgImage *img,
                 char *err, size_t err_size);

/* Writes img (8-bit, 1..4 channels) to f.  PNG keeps the ICC profile.  Returns 0 or -1 with err. */
int imageio_write(FILE *f, ImageioFormat fmt, const AecimgImage *img, char *err, size_t err_size);

#endif
