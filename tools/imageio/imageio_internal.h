/* imageio_internal.h: declarations shared by the PNG, PNM and JPEG halves of imageio. */
#ifndef AECIMG_IMAGEIO_INTERNAL_H
#define AECIMG_IMAGEIO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <aecimg/aecimg.h>

#if defined(__GNUC__)
#define IMAGEIO_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define IMAGEIO_PRINTF(fmt, args)
#endif

/* Formats a one-line message into err (which may be NULL). */
void imageio_set_error(char *err, size_t err_size, const char *fmt, ...) IMAGEIO_PRINTF(3, 4);

/* Refuses a zero size, a side over AECIMG_MAX_DIMENSION or more than max_pixels pixels;
 * what names the format in the message ("PNG", ...). */
int imageio_check_size(const char *what, uint64_t width, uint64_t height, uint64_t max_pixels,
                       char *err, size_t err_size);

/* Sets img's size and allocates its (uninitialised) pixels. */
int imageio_alloc_pixels(AecimgImage *img, uint32_t width, uint32_t height, uint32_t channels,
                         const char *what, char *err, size_t err_size);

/* Decoders: on failure they return -1 with err set and leave img empty. */
int imageio_read_png(const uint8_t *data, size_t size, uint64_t max_pixels, AecimgImage *img,
                     char *err, size_t err_size);
int imageio_read_pnm(const uint8_t *data, size_t size, uint64_t max_pixels, AecimgImage *img,
                     char *err, size_t err_size);
int imageio_read_jpeg(const uint8_t *data, size_t size, uint64_t max_pixels, AecimgImage *img,
                      char *err, size_t err_size);

/* Encoders: img has been validated (1..4 channels, nonzero size, pixels set). */
int imageio_write_png(FILE *f, const AecimgImage *img, char *err, size_t err_size);
/* pam: always P7; otherwise P5/P6, or P7 when there is an alpha channel. */
int imageio_write_pnm(FILE *f, int pam, const AecimgImage *img, char *err, size_t err_size);

/* Flushes f and reports a write error that stdio has recorded. */
int imageio_finish_write(FILE *f, const char *what, char *err, size_t err_size);

#endif
