/* test_imageio.c: unit tests for the tools' PNG, PNM and JPEG readers and writers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <png.h>

#include "imageio/imageio.h"

#define LIT(s) (const uint8_t *)(s), sizeof(s) - 1

/* ---------------------------------------------------------------- helpers */

typedef struct Buf {
    uint8_t *data;
    size_t size, cap;
} Buf;

static void buf_append(Buf *b, const void *data, size_t n)
{
    if (b->size + n > b->cap) {
        b->cap = (b->size + n) * 2;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->size, data, n);
    b->size += n;
}

static uint32_t hash3(uint32_t x, uint32_t y, uint32_t c)
{
    uint32_t h = x * 73856093u ^ y * 19349663u ^ c * 83492791u;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    return h ^ h >> 15;
}

/* An 8-bit test image with pseudo-random (incompressible) pixels. */
static AecimgImage make_image(uint32_t width, uint32_t height, uint32_t channels)
{
    AecimgImage img = {.width = width, .height = height, .channels = channels};
    img.pixels = malloc((size_t)width * height * channels);
    assert_non_null(img.pixels);
    for (uint32_t y = 0; y < height; y++)
        for (uint32_t x = 0; x < width; x++)
            for (uint32_t c = 0; c < channels; c++)
                img.pixels[((size_t)y * width + x) * channels + c] = (uint8_t)hash3(x, y, c);
    return img;
}

/* Decodes data, failing the test with imageio's message if it refuses. */
static void read_ok(const uint8_t *data, size_t size, uint64_t max_pixels, AecimgImage *img)
{
    char err[256] = "";
    if (imageio_read(data, size, max_pixels, img, err, sizeof err) != 0)
        fail_msg("imageio_read failed: %s", err);
    assert_non_null(img->pixels);
}

/* Expects imageio_read to refuse data with a message containing needle (if given) and to leave
 * the image empty. */
static void read_refused(const uint8_t *data, size_t size, uint64_t max_pixels, const char *needle)
{
    uint8_t dummy;
    AecimgImage img = {.width = 7, .height = 7, .channels = 3, .pixels = &dummy};
    char err[256] = "";
    int rc = imageio_read(data, size, max_pixels, &img, err, sizeof err);
    if (rc != -1)
        fail_msg("imageio_read accepted bad input (rc %d, %ux%u)", rc, img.width, img.height);
    assert_true(strlen(err) > 0);
    assert_null(strchr(err, '\n'));
    if (needle && !strstr(err, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err, needle);
    assert_null(img.pixels);
    assert_null(img.icc);
    assert_int_equal(img.width, 0);
    assert_int_equal(img.height, 0);
    assert_int_equal(img.channels, 0);
}

static uint8_t *write_mem(ImageioFormat fmt, const AecimgImage *img, size_t *size)
{
    char *data = NULL;
    FILE *f = open_memstream(&data, size);
    assert_non_null(f);
    char err[256] = "";
    int rc = imageio_write(f, fmt, img, err, sizeof err);
    assert_int_equal(fclose(f), 0);
    if (rc != 0)
        fail_msg("imageio_write failed: %s", err);
    return (uint8_t *)data;
}

static void assert_same_image(const AecimgImage *a, const AecimgImage *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    assert_int_equal(a->channels, b->channels);
    assert_memory_equal(a->pixels, b->pixels, (size_t)a->width * a->height * a->channels);
}

static void expect_write_error(FILE *f, ImageioFormat fmt, const AecimgImage *img, const char *needle)
{
    char err[256] = "";
    assert_int_equal(imageio_write(f, fmt, img, err, sizeof err), -1);
    if (!strstr(err, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err, needle);
}

static const char *test_data_dir(void)
{
    const char *dir = getenv("AECIMG_TEST_DATA");
    return dir && *dir ? dir : ".";
}

static uint8_t *read_fixture(const char *name, size_t *size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/testimages/%s", test_data_dir(), name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s (set AECIMG_TEST_DATA to the source tree)", path);
    Buf b = {0};
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    assert_false(ferror(f));
    fclose(f);
    *size = b.size;
    return b.data;
}

static void load_fixture(const char *name, AecimgImage *img)
{
    size_t size;
    uint8_t *data = read_fixture(name, &size);
    read_ok(data, size, AECIMG_DEFAULT_MAX_PIXELS, img);
    free(data);
}

#define ICC_SIZE 208

/* A small ICC profile that libpng accepts for the given colour space: the header and one private
 * tag of incompressible bytes (libpng 1.6 drops iCCP chunks shorter than 92 bytes). */
static void make_icc(uint8_t icc[ICC_SIZE], const char *space)
{
    static const uint8_t d50[12] = {0, 0, 0xf6, 0xd6, 0, 1, 0, 0, 0, 0, 0xd3, 0x2d};
    static const uint8_t tag[16] = {0, 0, 0, 1, 'z', 'z', 'z', 'z', 0, 0, 0, 144, 0, 0, 0, 64};
    memset(icc, 0, ICC_SIZE);
    icc[3] = ICC_SIZE;
    icc[8] = 2;
    icc[9] = 0x10;
    memcpy(icc + 12, "mntr", 4);
    memcpy(icc + 16, space, 4);
    memcpy(icc + 20, "XYZ ", 4);
    memcpy(icc + 36, "acsp", 4);
    memcpy(icc + 68, d50, sizeof d50);
    memcpy(icc + 128, tag, sizeof tag); /* tag count, then signature, offset, size */
    for (uint32_t i = 144; i < ICC_SIZE; i++)
        icc[i] = (uint8_t)hash3(i, 0, 0);
}

/* ---------------------------------------------------------------- PNG files made with libpng */

typedef struct PngSpec {
    uint32_t width, height;
    int color_type, bit_depth, interlace;
    int palette_size;                 /* PLTE entries, colours from palette_color() */
    const uint8_t *trns;              /* palette alphas, or NULL */
    int trns_size;
    const png_color_16 *trans_color;  /* gray/RGB colour keyed as transparent, or NULL */
    double gamma;                     /* gAMA to store, 0 for none */
    const char *text;                 /* tEXt comment, or NULL */
    const uint8_t *icc;
    size_t icc_size;
} PngSpec;

static png_color palette_color(int i)
{
    png_color c = {(png_byte)(i * 37 + 11), (png_byte)(i * 101 + 7), (png_byte)(255 - i * 3)};
    return c;
}

static uint32_t samples_per_pixel(int color_type)
{
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        return 2;
    case PNG_COLOR_TYPE_RGB:
        return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        return 4;
    default:
        return 1;
    }
}

static void png_to_buf(png_structp png, png_bytep data, size_t n)
{
    buf_append(png_get_io_ptr(png), data, n);
}

static void png_flush_nothing(png_structp png)
{
    (void)png;
}

/* Packs one row of samples (one per array element) into PNG's native layout. */
static void pack_row(const PngSpec *s, const uint16_t *samples, png_bytep row)
{
    size_t n = (size_t)s->width * samples_per_pixel(s->color_type);
    if (s->bit_depth == 16) {
        for (size_t i = 0; i < n; i++) {
            row[2 * i] = (png_byte)(samples[i] >> 8);
            row[2 * i + 1] = (png_byte)samples[i];
        }
    } else {
        memset(row, 0, (n * (size_t)s->bit_depth + 7) / 8);
        for (size_t i = 0; i < n; i++) {
            size_t bit = i * (size_t)s->bit_depth;
            row[bit / 8] |= (png_byte)(samples[i] << (8 - s->bit_depth - bit % 8));
        }
    }
}

static void set_png_extras(png_structp png, png_infop info, const PngSpec *s)
{
    if (s->palette_size > 0) {
        png_color plte[256];
        for (int i = 0; i < s->palette_size; i++)
            plte[i] = palette_color(i);
        png_set_PLTE(png, info, plte, s->palette_size);
    }
    if (s->trns || s->trans_color)
        png_set_tRNS(png, info, s->trns, s->trns_size, s->trans_color);
    if (s->gamma > 0)
        png_set_gAMA(png, info, s->gamma);
    if (s->text) {
        png_text t = {.compression = PNG_TEXT_COMPRESSION_NONE, .key = "Comment",
                      .text = (png_charp)s->text};
        png_set_text(png, info, &t, 1);
    }
    if (s->icc)
        png_set_iCCP(png, info, "test", PNG_COMPRESSION_TYPE_BASE, s->icc, (png_uint_32)s->icc_size);
}

/* Encodes samples (width * height * samples_per_pixel values) as a PNG described by s.
 * rows == 0 stops after the header and writes a 2-byte IDAT instead of the image. */
static Buf encode_png(const PngSpec *s, const uint16_t *samples, int rows)
{
    Buf out = {0};
    png_bytep row = malloc((size_t)s->width * 8);
    assert_non_null(row);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    assert_non_null(png);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng could not write the test PNG");
    png_set_write_fn(png, &out, png_to_buf, png_flush_nothing);
    png_set_IHDR(png, info, s->width, s->height, s->bit_depth, s->color_type,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE,
                 PNG_FILTER_TYPE_BASE);
    set_png_extras(png, info, s);
    png_write_info(png, info);
    if (rows) {
        size_t stride = (size_t)s->width * samples_per_pixel(s->color_type);
        int passes = png_set_interlace_handling(png);
        for (int pass = 0; pass < passes; pass++)
            for (uint32_t y = 0; y < s->height; y++) {
                pack_row(s, samples + y * stride, row);
                png_write_row(png, row);
            }
        png_write_end(png, NULL);
    } else {
        png_write_chunk(png, (png_const_bytep) "IDAT", (png_const_bytep) "\x78\x9c", 2);
    }
    png_destroy_write_struct(&png, &info);
    free(row);
    return out;
}

static uint8_t scale_to_8(uint32_t v, int depth)
{
    if (depth == 16)
        return (uint8_t)((v * 255u + 32767u) / 65535u);
    return (uint8_t)(v * 255u / ((1u << depth) - 1));
}

static int is_transparent_key(const PngSpec *s, const uint16_t *px)
{
    const png_color_16 *k = s->trans_color;
    if (!k)
        return 0;
    if (s->color_type == PNG_COLOR_TYPE_GRAY)
        return px[0] == k->gray;
    return px[0] == k->red && px[1] == k->green && px[2] == k->blue;
}

/* What imageio should decode from samples: 8-bit, palette expanded, tRNS turned into alpha. */
static uint8_t *expected_pixels(const PngSpec *s, const uint16_t *samples, uint32_t *channels)
{
    uint32_t spp = samples_per_pixel(s->color_type);
    int palette = s->color_type == PNG_COLOR_TYPE_PALETTE;
    int keyed = s->trns || s->trans_color;
    *channels = (palette ? 3 : spp) + (uint32_t)keyed;
    size_t pixels = (size_t)s->width * s->height;
    uint8_t *out = malloc(pixels * *channels);
    assert_non_null(out);
    for (size_t i = 0; i < pixels; i++) {
        const uint16_t *px = samples + i * spp;
        uint8_t *o = out + i * *channels;
        if (palette) {
            png_color c = palette_color(px[0]);
            o[0] = c.red, o[1] = c.green, o[2] = c.blue;
        } else {
            for (uint32_t c = 0; c < spp; c++)
                o[c] = scale_to_8(px[c], s->bit_depth);
        }
        if (palette && s->trns)
            o[3] = px[0] < s->trns_size ? s->trns[px[0]] : 255;
        else if (keyed)
            o[*channels - 1] = is_transparent_key(s, px) ? 0 : 255;
    }
    return out;
}

/* Pseudo-random samples valid for the spec (palette indices below palette_size). */
static uint16_t *random_samples(const PngSpec *s)
{
    uint32_t spp = samples_per_pixel(s->color_type);
    size_t n = (size_t)s->width * s->height * spp;
    uint16_t *samples = malloc(n * sizeof *samples);
    assert_non_null(samples);
    uint32_t mask = (1u << s->bit_depth) - 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t h = hash3((uint32_t)i, (uint32_t)s->color_type, (uint32_t)s->bit_depth);
        samples[i] = (uint16_t)(s->palette_size ? h % (uint32_t)s->palette_size : h & mask);
    }
    return samples;
}

/* Encodes samples per s, decodes them with imageio and compares with the reference model. */
static void check_png_decode(const PngSpec *s, const uint16_t *samples, AecimgImage *img)
{
    Buf png = encode_png(s, samples, 1);
    read_ok(png.data, png.size, AECIMG_DEFAULT_MAX_PIXELS, img);
    uint32_t channels;
    uint8_t *expect = expected_pixels(s, samples, &channels);
    assert_int_equal(img->width, s->width);
    assert_int_equal(img->height, s->height);
    assert_int_equal(img->channels, channels);
    assert_int_equal(img->source_bit_depth, s->color_type == PNG_COLOR_TYPE_PALETTE ? 8 : s->bit_depth);
    assert_memory_equal(img->pixels, expect, (size_t)s->width * s->height * channels);
    free(expect);
    free(png.data);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Offset of the first chunk of the given type in a PNG, failing if there is none. */
static size_t find_chunk(const Buf *png, const char *type)
{
    size_t pos = 8;
    while (pos + 12 <= png->size) {
        const uint8_t *p = png->data + pos;
        if (memcmp(p + 4, type, 4) == 0)
            return pos;
        pos += 12 + (size_t)be32(p);
    }
    fail_msg("no %s chunk", type);
    return 0;
}

/* ---------------------------------------------------------------- format detection */

static void test_sniff(void **state)
{
    (void)state;
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0};
    static const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0};
    assert_int_equal(imageio_sniff(png, sizeof png), IMAGEIO_PNG);
    assert_int_equal(imageio_sniff(png, 7), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_sniff(jpeg, sizeof jpeg), IMAGEIO_JPEG);
    assert_int_equal(imageio_sniff(jpeg, 2), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_sniff(LIT("P1\n")), IMAGEIO_PNM);
    assert_int_equal(imageio_sniff(LIT("P5 ")), IMAGEIO_PNM);
    assert_int_equal(imageio_sniff(LIT("P6\t")), IMAGEIO_PNM);
    assert_int_equal(imageio_sniff(LIT("P6\r\n")), IMAGEIO_PNM);
    assert_int_equal(imageio_sniff(LIT("P7\n")), IMAGEIO_PAM);
    assert_int_equal(imageio_sniff(LIT("P6")), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_sniff(LIT("P6x")), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_sniff(LIT("P8\n")), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_sniff(LIT("P0\n")), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_sniff((const uint8_t *)"P6\0", 3), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_sniff(LIT("GIF89a")), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_sniff(NULL, 0), IMAGEIO_UNKNOWN);
    read_refused(LIT("GIF89a......"), AECIMG_DEFAULT_MAX_PIXELS, "unrecognized image format");
    read_refused(NULL, 0, AECIMG_DEFAULT_MAX_PIXELS, "unrecognized");
}

static void test_format_from_name(void **state)
{
    (void)state;
    assert_int_equal(imageio_format_from_name("a.png"), IMAGEIO_PNG);
    assert_int_equal(imageio_format_from_name("dir/A.PNG"), IMAGEIO_PNG);
    assert_int_equal(imageio_format_from_name("x.ppm"), IMAGEIO_PNM);
    assert_int_equal(imageio_format_from_name("x.Pgm"), IMAGEIO_PNM);
    assert_int_equal(imageio_format_from_name("x.pnm"), IMAGEIO_PNM);
    assert_int_equal(imageio_format_from_name("x.pam"), IMAGEIO_PAM);
    assert_int_equal(imageio_format_from_name("x.PAM"), IMAGEIO_PAM);
    assert_int_equal(imageio_format_from_name("photo.jpg"), IMAGEIO_JPEG);
    assert_int_equal(imageio_format_from_name("photo.JPEG"), IMAGEIO_JPEG);
    assert_int_equal(imageio_format_from_name("a.tar.png"), IMAGEIO_PNG);
    assert_int_equal(imageio_format_from_name("a.png.txt"), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_format_from_name("a.pngx"), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_format_from_name("a.pn"), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_format_from_name("out.png/image"), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_format_from_name("png"), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_format_from_name(""), IMAGEIO_UNKNOWN);
    assert_int_equal(imageio_format_from_name(NULL), IMAGEIO_UNKNOWN);
}

/* ---------------------------------------------------------------- PNG */

static void test_png_roundtrip(void **state)
{
    (void)state;
    for (uint32_t channels = 1; channels <= 4; channels++) {
        for (int with_icc = 0; with_icc <= 1; with_icc++) {
            uint8_t icc[ICC_SIZE];
            make_icc(icc, channels <= 2 ? "GRAY" : "RGB ");
            AecimgImage img = make_image(19, 11, channels);
            if (with_icc) {
                img.icc = icc;
                img.icc_size = sizeof icc;
            }
            size_t size;
            uint8_t *png = write_mem(IMAGEIO_PNG, &img, &size);
            assert_int_equal(imageio_sniff(png, size), IMAGEIO_PNG);
            AecimgImage back;
            read_ok(png, size, AECIMG_DEFAULT_MAX_PIXELS, &back);
            assert_same_image(&img, &back);
            assert_int_equal(back.source_bit_depth, 8);
            if (with_icc) {
                assert_int_equal(back.icc_size, sizeof icc);
                assert_memory_equal(back.icc, icc, sizeof icc);
            } else {
                assert_null(back.icc);
                assert_int_equal(back.icc_size, 0);
            }
            aecimg_image_free(&back);
            free(png);
            free(img.pixels);
        }
    }
}

/* Every colour type at every bit depth PNG allows, interlaced or not. */
static void test_png_color_types(void **state)
{
    (void)state;
    static const struct {
        int color_type, depths[5];
    } types[] = {
        {PNG_COLOR_TYPE_GRAY, {1, 2, 4, 8, 16}},
        {PNG_COLOR_TYPE_GRAY_ALPHA, {8, 16}},
        {PNG_COLOR_TYPE_RGB, {8, 16}},
        {PNG_COLOR_TYPE_RGB_ALPHA, {8, 16}},
        {PNG_COLOR_TYPE_PALETTE, {1, 2, 4, 8}},
    };
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (int d = 0; d < 5 && types[t].depths[d]; d++) {
            PngSpec s = {.width = 13, .height = 7, .color_type = types[t].color_type,
                         .bit_depth = types[t].depths[d]};
            if (s.color_type == PNG_COLOR_TYPE_PALETTE)
                s.palette_size = 1 << (s.bit_depth < 8 ? s.bit_depth : 7);
            uint16_t *samples = random_samples(&s);
            AecimgImage plain, interlaced;
            check_png_decode(&s, samples, &plain);
            s.interlace = 1;
            check_png_decode(&s, samples, &interlaced);
            assert_same_image(&plain, &interlaced);
            aecimg_image_free(&plain);
            aecimg_image_free(&interlaced);
            free(samples);
        }
    }
}

/* 16-bit samples are rounded, not truncated: every gray value, and a few RGB ones. */
static void test_png_16bit_rounding(void **state)
{
    (void)state;
    PngSpec s = {.width = 256, .height = 256, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 16};
    uint16_t *all = malloc(65536 * sizeof *all);
    assert_non_null(all);
    for (uint32_t v = 0; v < 65536; v++)
        all[v] = (uint16_t)v;
    AecimgImage img;
    check_png_decode(&s, all, &img);
    assert_int_equal(img.source_bit_depth, 16);
    aecimg_image_free(&img);
    free(all);

    /* 129 -> 1 and 65280 -> 254, where truncation (png_set_strip_16) gives 0 and 255. */
    static const uint16_t rgb[] = {129, 65280, 128, 65535, 0, 32896, 32767, 32768, 257};
    static const uint8_t expect[] = {1, 254, 0, 255, 0, 128, 127, 128, 1};
    PngSpec s3 = {.width = 3, .height = 1, .color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 16};
    Buf png = encode_png(&s3, rgb, 1);
    read_ok(png.data, png.size, AECIMG_DEFAULT_MAX_PIXELS, &img);
    assert_int_equal(img.channels, 3);
    assert_memory_equal(img.pixels, expect, sizeof expect);
    aecimg_image_free(&img);
    free(png.data);
}

static void test_png_trns(void **state)
{
    (void)state;
    AecimgImage img;
    /* Palette: a tRNS shorter than the palette leaves the other entries opaque. */
    static const uint8_t alphas[3] = {0, 128, 200};
    PngSpec pal = {.width = 9, .height = 5, .color_type = PNG_COLOR_TYPE_PALETTE, .bit_depth = 4,
                   .palette_size = 16, .trns = alphas, .trns_size = 3};
    uint16_t *samples = random_samples(&pal);
    check_png_decode(&pal, samples, &img);
    assert_int_equal(img.channels, 4);
    aecimg_image_free(&img);
    free(samples);

    /* Gray: the key is compared at the file's depth (1000 and 1001 both become 4 in 8 bits). */
    static const uint16_t gray16[] = {1000, 1001, 1000, 65535};
    png_color_16 key16 = {.gray = 1000};
    PngSpec g16 = {.width = 4, .height = 1, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 16,
                   .trans_color = &key16};
    check_png_decode(&g16, gray16, &img);
    static const uint8_t expect16[] = {4, 0, 4, 255, 4, 0, 255, 255};
    assert_memory_equal(img.pixels, expect16, sizeof expect16);
    aecimg_image_free(&img);

    static const uint16_t gray2[] = {0, 1, 2, 3, 2, 2};
    png_color_16 key2 = {.gray = 2};
    PngSpec g2 = {.width = 3, .height = 2, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 2,
                  .trans_color = &key2};
    check_png_decode(&g2, gray2, &img);
    assert_int_equal(img.channels, 2);
    aecimg_image_free(&img);

    static const uint16_t gray8[] = {5, 6, 5, 250};
    png_color_16 key8 = {.gray = 5};
    PngSpec g8 = {.width = 2, .height = 2, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 8,
                  .trans_color = &key8};
    check_png_decode(&g8, gray8, &img);
    aecimg_image_free(&img);

    static const uint16_t rgb[] = {10, 20, 30, 10, 20, 31, 200, 100, 50, 10, 20, 30};
    png_color_16 key_rgb = {.red = 10, .green = 20, .blue = 30};
    PngSpec rgb8 = {.width = 4, .height = 1, .color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8,
                    .trans_color = &key_rgb};
    check_png_decode(&rgb8, rgb, &img);
    static const uint8_t expect_rgb[] = {10, 20, 30, 0, 10, 20, 31, 255, 200, 100, 50, 255,
                                         10, 20, 30, 0};
    assert_memory_equal(img.pixels, expect_rgb, sizeof expect_rgb);
    aecimg_image_free(&img);
}

/* gAMA does not change the pixels, and a bad ancillary chunk is dropped without a word. */
static void test_png_ancillary_chunks(void **state)
{
    (void)state;
    PngSpec s = {.width = 8, .height = 8, .color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8,
                 .gamma = 1.0, .text = "hello"};
    uint16_t *samples = random_samples(&s);
    AecimgImage img;
    check_png_decode(&s, samples, &img);
    aecimg_image_free(&img);

    Buf png = encode_png(&s, samples, 1);
    png.data[find_chunk(&png, "tEXt") + 9] ^= 1; /* now its CRC is wrong */
    int saved = dup(2);
    FILE *capture = tmpfile();
    assert_true(saved >= 0 && capture);
    assert_true(dup2(fileno(capture), 2) >= 0);
    read_ok(png.data, png.size, AECIMG_DEFAULT_MAX_PIXELS, &img);
    read_refused(png.data, png.size - 5, AECIMG_DEFAULT_MAX_PIXELS, NULL);
    fflush(stderr);
    assert_true(dup2(saved, 2) >= 0);
    close(saved);
    assert_int_equal(fseek(capture, 0, SEEK_END), 0);
    assert_int_equal(ftell(capture), 0); /* nothing printed to stderr */
    fclose(capture);
    aecimg_image_free(&img);
    free(png.data);
    free(samples);
}

static void test_png_icc_read(void **state)
{
    (void)state;
    uint8_t icc[ICC_SIZE];
    make_icc(icc, "GRAY");
    PngSpec s = {.width = 5, .height = 3, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 4,
                 .icc = icc, .icc_size = sizeof icc};
    uint16_t *samples = random_samples(&s);
    AecimgImage img;
    check_png_decode(&s, samples, &img);
    assert_int_equal(img.icc_size, sizeof icc);
    assert_memory_equal(img.icc, icc, sizeof icc);
    aecimg_image_free(&img);
    free(samples);
}

/* libpng refuses a profile that contradicts the image (RGB on gray): the write fails with
 * nothing written rather than silently dropping the profile. */
static void test_png_write_mismatched_icc(void **state)
{
    (void)state;
    uint8_t icc[ICC_SIZE];
    make_icc(icc, "RGB ");
    AecimgImage img = make_image(4, 4, 1);
    img.icc = icc;
    img.icc_size = sizeof icc;
    char *data = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&data, &size);
    assert_non_null(f);
    expect_write_error(f, IMAGEIO_PNG, &img, "PNG: profile 'ICC Profile'");
    assert_int_equal(fclose(f), 0);
    assert_int_equal(size, 0);
    free(data);
    free(img.pixels);
}

static Buf random_rgb_png(uint32_t width, uint32_t height)
{
    PngSpec s = {.width = width, .height = height, .color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8};
    uint16_t *samples = random_samples(&s);
    Buf png = encode_png(&s, samples, 1);
    free(samples);
    return png;
}

static void test_png_truncated(void **state)
{
    (void)state;
    Buf png = random_rgb_png(40, 30);
    size_t idat = find_chunk(&png, "IDAT");
    const size_t lengths[] = {8, 20, 33, idat + 8, idat + 100, png.size / 2, png.size - 12, png.size - 1};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
        read_refused(png.data, lengths[i], AECIMG_DEFAULT_MAX_PIXELS, "PNG: ");
    read_refused(png.data, 7, AECIMG_DEFAULT_MAX_PIXELS, "unrecognized");
    free(png.data);
}

static void test_png_crc(void **state)
{
    (void)state;
    Buf png = random_rgb_png(40, 30);
    size_t idat = find_chunk(&png, "IDAT");
    size_t idat_crc = idat + 8 + be32(png.data + idat);
    png.data[idat_crc] ^= 0x10;
    read_refused(png.data, png.size, AECIMG_DEFAULT_MAX_PIXELS, "CRC");
    png.data[idat_crc] ^= 0x10;
    /* Damage inside the data: zlib's own check may notice before the chunk's CRC does. */
    png.data[idat + 8 + 100] ^= 0x10;
    read_refused(png.data, png.size, AECIMG_DEFAULT_MAX_PIXELS, "PNG: ");
    png.data[idat + 8 + 100] ^= 0x10;
    png.data[19] ^= 1; /* IHDR width */
    read_refused(png.data, png.size, AECIMG_DEFAULT_MAX_PIXELS, "CRC");
    png.data[19] ^= 1;
    png.data[png.size - 1] ^= 1; /* IEND's CRC */
    read_refused(png.data, png.size, AECIMG_DEFAULT_MAX_PIXELS, "CRC");
    png.data[png.size - 1] ^= 1;
    AecimgImage img;
    read_ok(png.data, png.size, AECIMG_DEFAULT_MAX_PIXELS, &img); /* restored: fine again */
    aecimg_image_free(&img);
    free(png.data);
}

/* Headers of huge images are refused before any pixel memory is involved. */
static void test_png_limits(void **state)
{
    (void)state;
    PngSpec huge = {.width = 65535, .height = 65535, .color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8};
    Buf png = encode_png(&huge, NULL, 0);
    read_refused(png.data, png.size, AECIMG_DEFAULT_MAX_PIXELS, "exceeds the limit");
    free(png.data);
    PngSpec wide = {.width = 70000, .height = 2, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 8};
    png = encode_png(&wide, NULL, 0);
    read_refused(png.data, png.size, UINT64_MAX, "PNG: ");
    free(png.data);

    /* Within the pixel limit but far beyond what a 2-byte IDAT can inflate to. */
    PngSpec claimed = {.width = 4000, .height = 3000, .color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8};
    png = encode_png(&claimed, NULL, 0);
    read_refused(png.data, png.size, AECIMG_DEFAULT_MAX_PIXELS, "cannot hold a 4000x3000 image");
    free(png.data);

    png = random_rgb_png(40, 30);
    read_refused(png.data, png.size, 40 * 30 - 1, "exceeds the limit of 1199 pixels");
    AecimgImage img;
    read_ok(png.data, png.size, 40 * 30, &img);
    aecimg_image_free(&img);
    free(png.data);
}

/* A flat image squeezed as far as zlib goes still passes the data-size bound: the bound follows
 * deflate's own limit, not a guess about real files. */
static void test_png_max_compression(void **state)
{
    (void)state;
    PngSpec s = {.width = 4096, .height = 2048, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 8};
    uint16_t *samples = calloc((size_t)s.width * s.height, sizeof *samples);
    assert_non_null(samples);
    Buf png = encode_png(&s, samples, 1);
    free(samples);
    assert_true((size_t)s.width * s.height / png.size > 500); /* close to the 1032:1 bound */
    AecimgImage img;
    read_ok(png.data, png.size, AECIMG_DEFAULT_MAX_PIXELS, &img);
    assert_int_equal(img.width, s.width);
    assert_int_equal(img.pixels[(size_t)s.width * s.height - 1], 0);
    aecimg_image_free(&img);
    free(png.data);
}

/* ---------------------------------------------------------------- PNM */

static void check_pnm(const uint8_t *data, size_t size, uint32_t width, uint32_t height,
                      uint32_t channels, uint32_t depth, const uint8_t *expect)
{
    AecimgImage img;
    read_ok(data, size, AECIMG_DEFAULT_MAX_PIXELS, &img);
    assert_int_equal(img.width, width);
    assert_int_equal(img.height, height);
    assert_int_equal(img.channels, channels);
    assert_int_equal(img.source_bit_depth, depth);
    assert_memory_equal(img.pixels, expect, (size_t)width * height * channels);
    assert_null(img.icc);
    aecimg_image_free(&img);
}

static void test_pnm_read_raw(void **state)
{
    (void)state;
    static const uint8_t gray[] = {0, 1, 2, 253, 254, 255};
    check_pnm(LIT("P5\n3 2\n255\n\x00\x01\x02\xfd\xfe\xff"), 3, 2, 1, 8, gray);
    static const uint8_t rgb[] = {10, 20, 30, 40, 50, 60};
    check_pnm(LIT("P6 # a comment\n# another\n2 # width\n1\n#c\n255\n\x0a\x14\x1e\x28\x32\x3c"), 2, 1,
              3, 8, rgb);
    /* 16 bits: 129 -> 1, 65280 -> 254 (truncation would give 0 and 255). */
    static const uint8_t wide[] = {0, 1, 254, 255};
    check_pnm(LIT("P5\n2 2\n65535\n\x00\x00\x00\x81\xff\x00\xff\xff"), 2, 2, 1, 16, wide);
    static const uint8_t fifteen[] = {0, 17, 34, 51, 68, 85, 102, 119, 136, 153, 170, 187, 204, 221, 238, 255};
    check_pnm(LIT("P5\n16 1\n15\n\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"),
              16, 1, 1, 4, fifteen);
    /* maxval 1000: (v * 255 + 500) / 1000. */
    static const uint8_t thousand[] = {0, 128, 255, 1};
    check_pnm(LIT("P5\n4 1\n1000\n\x00\x00\x01\xf4\x03\xe8\x00\x02"), 4, 1, 1, 10, thousand);
    static const uint8_t bits[] = {0, 255, 0, 255, 255, 0, 255, 0, 0, 0,
                                   255, 255, 255, 255, 0, 0, 0, 0, 0, 0};
    check_pnm(LIT("P4\n10 2\n\xa5\xc0\x0f\xff"), 10, 2, 1, 1, bits);
}

static void test_pnm_read_plain(void **state)
{
    (void)state;
    static const uint8_t gray[] = {0, 119, 255};
    check_pnm(LIT("P2\n3 1\n15\n0 7 15\n"), 3, 1, 1, 4, gray);
    static const uint8_t rgb[] = {1, 2, 3, 250, 251, 252};
    check_pnm(LIT("P3\n2 1\n255\n1 2 3\n# comment\n 250\t251 252"), 2, 1, 3, 8, rgb);
    static const uint8_t wide[] = {0, 1, 254, 255};
    check_pnm(LIT("P2 2 2 65535 0 129 65280 65535"), 2, 2, 1, 16, wide);
    static const uint8_t bits[] = {255, 0, 255, 0, 0, 0, 255, 0, 255, 255};
    check_pnm(LIT("P1\n# bitmap\n5 2\n0 1 0 1 1\n10100"), 5, 2, 1, 1, bits);
}

static void test_pam_read(void **state)
{
    (void)state;
    static const char *const types[4] = {"GRAYSCALE", "GRAYSCALE_ALPHA", "RGB", "RGB_ALPHA"};
    static const uint8_t samples[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    for (uint32_t depth = 1; depth <= 4; depth++) {
        for (int with_type = 0; with_type <= 1; with_type++) {
            char header[160];
            int n = snprintf(header, sizeof header,
                             "P7\n# comment\nWIDTH 3\nHEIGHT 1\nDEPTH %u\nMAXVAL 255\n%s%s%sENDHDR\n",
                             depth, with_type ? "TUPLTYPE " : "", with_type ? types[depth - 1] : "",
                             with_type ? "\n" : "");
            Buf file = {0};
            buf_append(&file, header, (size_t)n);
            buf_append(&file, samples, 3 * depth);
            check_pnm(file.data, file.size, 3, 1, depth, 8, samples);
            free(file.data);
        }
    }
    static const uint8_t rgba16[] = {1, 254, 255, 0};
    check_pnm(LIT("P7\nWIDTH 1\nHEIGHT 1\nDEPTH 4\nMAXVAL 65535\nTUPLTYPE RGB_ALPHA\nENDHDR\n"
                  "\x00\x81\xff\x00\xff\xff\x00\x00"),
              1, 1, 4, 16, rgba16);
    static const uint8_t bw[] = {0, 255, 255, 0};
    check_pnm(LIT("P7\nWIDTH 2\nHEIGHT 1\nDEPTH 2\nMAXVAL 1\nTUPLTYPE BLACKANDWHITE_ALPHA\nENDHDR\n"
                  "\x00\x01\x01\x00"),
              2, 1, 2, 1, bw);
}

static void test_pnm_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *data;
        size_t size;
        const char *needle;
    } cases[] = {
#define CASE(s, needle) {s, sizeof(s) - 1, needle}
        CASE("P5\n-3 2\n255\n\1\2\3\4\5\6", "expected a number"),
        CASE("P5\n3 -2\n255\n\1\2\3\4\5\6", "expected a number"),
        CASE("P5\n+3 2\n255\n\1\2\3\4\5\6", "expected a number"),
        CASE("P5\n99999999999999999999 2\n255\n", "too large"),
        CASE("P5\n4294967296 1\n255\n\1", "too large"),
        CASE("P5\n70000 1\n255\n", "exceeds the maximum side"),
        CASE("P5\n1 70000\n255\n", "exceeds the maximum side"),
        CASE("P5\n0 2\n255\n\1\2", "zero"),
        CASE("P5\n3 2\n0\n\1\2\3\4\5\6", "maxval 0"),
        CASE("P5\n3 2\n65536\n\1\2\3\4\5\6\1\2\3\4\5\6", "maxval 65536"),
        CASE("P5\n3 2\n255\n\1\2\3\4\5", "truncated pixel data"),
        CASE("P5\n3 2\n255\n", "truncated pixel data"),
        CASE("P6\n3 2\n255\n\1\2\3\4\5\6\1\2\3\4\5\6\1\2\3\4\5", "truncated pixel data"),
        CASE("P5\n3 2\n65535\n\1\2\3\4\5\6\1\2\3\4\5", "truncated pixel data"),
        CASE("P5\n3 2\n255", "truncated header"),
        CASE("P5\n3 2\n", "truncated header"),
        CASE("P5\n3", "truncated header"),
        CASE("P5\n# a comment up to the end", "truncated header"),
        CASE("P5\n3x2\n255\n\1\2\3\4\5\6", "expected a number"),
        CASE("P5\n3 2\n255x\1\2\3\4\5\6", "malformed header"),
        CASE("P5\n2 1\n15\n\x10\x00", "sample value 16 exceeds maxval 15"),
        CASE("P5\n1 1\n300\n\x01\x2d", "sample value 301 exceeds maxval 300"),
        CASE("P2\n3 1\n15\n0 7\n", "truncated pixel data"),
        CASE("P2\n3 1\n15\n0 16 1\n", "exceeds maxval"),
        CASE("P2\n3 1\n15\n0 -1 1\n", "expected a number"),
        CASE("P2\n3 1\n15\n0 99999999999 1\n", "too large"),
        CASE("P1\n2 1\n0 2\n", "invalid bitmap"),
        CASE("P1\n3 1\n0 1", "truncated pixel data"),
        CASE("P4\n9 2\n\xff\xff\xff", "truncated pixel data"),
        CASE("P7\nWIDTH 1\nHEIGHT 1\nDEPTH 5\nMAXVAL 255\nENDHDR\n\1\2\3\4\5", "depth 5"),
        CASE("P7\nWIDTH 1\nHEIGHT 1\nDEPTH 0\nMAXVAL 255\nENDHDR\n\1", "depth 0"),
        CASE("P7\nWIDTH 1\nHEIGHT 1\nDEPTH 3\nMAXVAL 255\nTUPLTYPE GRAYSCALE\nENDHDR\n\1\2\3", "GRAYSCALE"),
        CASE("P7\nWIDTH 1\nHEIGHT 1\nDEPTH 4\nMAXVAL 255\nTUPLTYPE CMYK\nENDHDR\n\1\2\3\4", "CMYK"),
        CASE("P7\nWIDTH 1\nHEIGHT 1\nDEPTH 3\nMAXVAL 255\n", "truncated header"),
        CASE("P7\nWIDTH 1\nDEPTH 3\nMAXVAL 255\nENDHDR\n\1\2\3", "lacks"),
        CASE("P7\nWIDTH 1\nWIDTH 1\nHEIGHT 1\nDEPTH 1\nMAXVAL 255\nENDHDR\n\1", "repeated"),
        CASE("P7\nWIDTH 1\nHEIGHT 1\nDEPTH 1\nMAXVAL 255\nCOLOUR 1\nENDHDR\n\1", "COLOUR"),
        CASE("P7\nWIDTH 1\nHEIGHT 1\nDEPTH 1\nMAXVAL 255\nENDHDR", "truncated header"),
        CASE("P7\nWIDTH 1\nHEIGHT 1\nDEPTH 1\nMAXVAL 255\nENDHDR x\n\1", "after ENDHDR"),
        CASE("P7\nWIDTH 1\nHEIGHT 1\nDEPTH 1\nMAXVAL 0\nENDHDR\n\1", "maxval 0"),
        CASE("P7\nWIDTH -1\nHEIGHT 1\nDEPTH 1\nMAXVAL 255\nENDHDR\n\1", "expected a number"),
        CASE("P7\nWIDTH 1\nHEIGHT 1\nDEPTH 1\nMAXVAL 255\nENDHDR\n", "truncated pixel data"),
#undef CASE
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* A copy of exactly the right size, so that ASan would catch reads past the end. */
        uint8_t *copy = malloc(cases[i].size);
        assert_non_null(copy);
        memcpy(copy, cases[i].data, cases[i].size);
        read_refused(copy, cases[i].size, AECIMG_DEFAULT_MAX_PIXELS, cases[i].needle);
        free(copy);
    }
}

static void test_pnm_limits(void **state)
{
    (void)state;
    Buf file = {0};
    buf_append(&file, LIT("P6\n40 30\n255\n"));
    AecimgImage img = make_image(40, 30, 3);
    buf_append(&file, img.pixels, 40 * 30 * 3);
    read_refused(file.data, file.size, 40 * 30 - 1, "exceeds the limit of 1199 pixels");
    AecimgImage back;
    read_ok(file.data, file.size, 40 * 30, &back);
    assert_same_image(&img, &back);
    aecimg_image_free(&back);
    aecimg_image_free(&img);
    free(file.data);
    /* The limit is checked before the (missing) data: the message is about the size. */
    read_refused(LIT("P5\n65535 65535\n255\n"), AECIMG_DEFAULT_MAX_PIXELS, "exceeds the limit");
    /* Within the limit, a short file is refused from its length, before allocating 256 MB. */
    read_refused(LIT("P5\n65535 4096\n255\n\1\2\3"), AECIMG_DEFAULT_MAX_PIXELS, "truncated pixel data");
}

static void test_pnm_roundtrip(void **state)
{
    (void)state;
    static const char magic_pnm[4][3] = {"P5", "P7", "P6", "P7"};
    for (uint32_t channels = 1; channels <= 4; channels++) {
        AecimgImage img = make_image(23, 9, channels);
        for (int pam = 0; pam <= 1; pam++) {
            size_t size;
            uint8_t *file = write_mem(pam ? IMAGEIO_PAM : IMAGEIO_PNM, &img, &size);
            assert_true(size > 2);
            assert_memory_equal(file, pam ? "P7" : magic_pnm[channels - 1], 2);
            AecimgImage back;
            read_ok(file, size, AECIMG_DEFAULT_MAX_PIXELS, &back);
            assert_same_image(&img, &back);
            assert_int_equal(back.source_bit_depth, 8);
            aecimg_image_free(&back);
            free(file);
        }
        aecimg_image_free(&img);
    }
}

/* ---------------------------------------------------------------- write errors */

static void test_write_full_disk(void **state)
{
    (void)state;
    static const ImageioFormat formats[] = {IMAGEIO_PNG, IMAGEIO_PNM, IMAGEIO_PAM};
    /* A small image fails when stdio flushes it, a large one inside fwrite. */
    static const uint32_t sides[] = {4, 300};
    for (size_t s = 0; s < 2; s++) {
        AecimgImage img = make_image(sides[s], sides[s], 3);
        for (size_t i = 0; i < 3; i++) {
            FILE *f = fopen("/dev/full", "wb");
            if (!f) {
                aecimg_image_free(&img);
                skip();
            }
            expect_write_error(f, formats[i], &img, "write failed");
            fclose(f);
        }
        aecimg_image_free(&img);
    }
}

static void test_write_refused(void **state)
{
    (void)state;
    char *data = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&data, &size);
    assert_non_null(f);
    AecimgImage img = make_image(4, 4, 3);
    expect_write_error(f, IMAGEIO_JPEG, &img, "JPEG output is not supported");
    expect_write_error(f, IMAGEIO_UNKNOWN, &img, "unknown output format");
    expect_write_error(NULL, IMAGEIO_PNG, &img, "no output file");
    img.channels = 5;
    expect_write_error(f, IMAGEIO_PNG, &img, "5 channels");
    img.channels = 0;
    expect_write_error(f, IMAGEIO_PNM, &img, "0 channels");
    img.channels = 3;
    img.width = 0;
    expect_write_error(f, IMAGEIO_PNG, &img, "zero width");
    img.width = 4;
    img.icc_size = 10;
    expect_write_error(f, IMAGEIO_PNG, &img, "ICC");
    img.icc_size = 0;
    uint8_t *pixels = img.pixels;
    img.pixels = NULL;
    expect_write_error(f, IMAGEIO_PAM, &img, "without pixels");
    expect_write_error(f, IMAGEIO_PNG, NULL, "without pixels");
    assert_int_equal(fclose(f), 0);
    assert_int_equal(size, 0); /* nothing was written for any of them */
    free(data);
    free(pixels);
}

/* ---------------------------------------------------------------- committed fixtures */

static uint8_t luma(const uint8_t *rgb)
{
    return (uint8_t)((299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2] + 500) / 1000);
}

/* The diagonal alpha ramp of tests/make_testimages.py. */
static uint8_t alpha_ramp(uint32_t x, uint32_t y, uint32_t width, uint32_t height)
{
    return (uint8_t)((x * 255 / (width - 1) + y * 255 / (height - 1)) / 2);
}

/* What make_testimages.py derived from crop pixel src at (x, y) of an image of img's size:
 * 'r', 'g', 'b' copy the crop, 'l' is its luma, 'a' the alpha ramp. */
static int derived_value(char what, const uint8_t *src, uint32_t x, uint32_t y, const AecimgImage *img)
{
    switch (what) {
    case 'l':
        return luma(src);
    case 'a':
        return alpha_ramp(x, y, img->width, img->height);
    case 'r':
        return src[0];
    case 'g':
        return src[1];
    default:
        return src[2];
    }
}

/* Checks every channel of img, laid out as in layout (e.g. "la"), against the crop. */
static void check_derived(const AecimgImage *img, const AecimgImage *crop, const char *layout)
{
    assert_int_equal(img->channels, strlen(layout));
    for (uint32_t y = 0; y < img->height; y++) {
        for (uint32_t x = 0; x < img->width; x++) {
            const uint8_t *src = crop->pixels + ((size_t)y * crop->width + x) * 3;
            const uint8_t *px = img->pixels + ((size_t)y * img->width + x) * img->channels;
            for (uint32_t c = 0; c < img->channels; c++) {
                int expect = derived_value(layout[c], src, x, y, img);
                if (px[c] != expect)
                    fail_msg("pixel (%u,%u) channel %u: %d, expected %d", x, y, c, px[c], expect);
            }
        }
    }
}

static void check_fixture(const AecimgImage *crop, const char *name, uint32_t width, uint32_t height,
                          uint32_t depth, const char *layout)
{
    AecimgImage img;
    load_fixture(name, &img);
    assert_int_equal(img.width, width);
    assert_int_equal(img.height, height);
    assert_int_equal(img.source_bit_depth, depth);
    check_derived(&img, crop, layout);
    aecimg_image_free(&img);
}

static void load_crop(AecimgImage *crop)
{
    load_fixture("kodim05-crop.png", crop);
    assert_int_equal(crop->width, 256);
    assert_int_equal(crop->height, 256);
    assert_int_equal(crop->channels, 3);
}

static void test_fixtures_exact(void **state)
{
    (void)state;
    AecimgImage crop;
    load_crop(&crop);
    check_fixture(&crop, "rgb-1x1.png", 1, 1, 8, "rgb");
    check_fixture(&crop, "rgb-1x37.png", 1, 37, 8, "rgb");
    check_fixture(&crop, "rgb-37x1.png", 37, 1, 8, "rgb");
    check_fixture(&crop, "rgb-31x17.png", 31, 17, 8, "rgb");
    check_fixture(&crop, "interlaced-45x33.png", 45, 33, 8, "rgb");
    check_fixture(&crop, "icc-48x32.png", 48, 32, 8, "rgb");
    check_fixture(&crop, "rgb16-64x40.png", 64, 40, 16, "rgb");
    check_fixture(&crop, "gray-28x28.png", 28, 28, 8, "l");
    check_fixture(&crop, "ga-64x48.png", 64, 48, 8, "la");
    check_fixture(&crop, "rgba-61x45.png", 61, 45, 8, "rgba");
    check_fixture(&crop, "rgb-40x30.ppm", 40, 30, 8, "rgb");
    check_fixture(&crop, "gray-40x30.pgm", 40, 30, 8, "l");
    aecimg_image_free(&crop);
}

static void test_fixture_icc(void **state)
{
    (void)state;
    AecimgImage img;
    load_fixture("icc-48x32.png", &img);
    assert_non_null(img.icc);
    assert_true(img.icc_size >= 132);
    assert_int_equal(be32(img.icc), img.icc_size);
    assert_memory_equal(img.icc + 36, "acsp", 4);
    assert_memory_equal(img.icc + 16, "RGB ", 4);
    aecimg_image_free(&img);
}

static void test_fixture_bilevel(void **state)
{
    (void)state;
    AecimgImage crop, img;
    load_crop(&crop);
    load_fixture("gray1-33x20.png", &img);
    assert_int_equal(img.width, 33);
    assert_int_equal(img.height, 20);
    assert_int_equal(img.channels, 1);
    assert_int_equal(img.source_bit_depth, 1);
    for (uint32_t y = 0; y < 20; y++)
        for (uint32_t x = 0; x < 33; x++)
            assert_int_equal(img.pixels[y * 33 + x],
                             luma(crop.pixels + ((size_t)y * 256 + x) * 3) >= 128 ? 255 : 0);
    aecimg_image_free(&img);
    aecimg_image_free(&crop);
}

static void test_fixture_palette(void **state)
{
    (void)state;
    AecimgImage crop, img;
    load_crop(&crop);
    load_fixture("palette-trns-50x30.png", &img);
    assert_int_equal(img.width, 50);
    assert_int_equal(img.height, 30);
    assert_int_equal(img.channels, 4);
    assert_int_equal(img.source_bit_depth, 8);
    size_t translucent = 0, opaque = 0;
    double error = 0;
    for (uint32_t y = 0; y < 30; y++) {
        for (uint32_t x = 0; x < 50; x++) {
            const uint8_t *px = img.pixels + ((size_t)y * 50 + x) * 4;
            const uint8_t *src = crop.pixels + ((size_t)y * 256 + x) * 3;
            /* The first 8 palette entries have alpha 0, 32, ..., 224, the others none. */
            assert_true(px[3] == 255 || px[3] % 32 == 0);
            translucent += px[3] < 255;
            opaque += px[3] == 255;
            for (int c = 0; c < 3; c++)
                error += abs(px[c] - src[c]);
        }
    }
    assert_true(translucent > 0 && opaque > 0);
    assert_true(error / (50 * 30 * 3) < 20); /* 16 colours approximate the crop */
    aecimg_image_free(&img);
    aecimg_image_free(&crop);
}

/* kodim23 carries gAMA and sRGB chunks: the pixels must come out exactly as stored (FNV-1a of
 * the pixels as PIL decodes them). */
static void test_fixture_kodim23(void **state)
{
    (void)state;
    AecimgImage img;
    load_fixture("kodim23.png", &img);
    assert_int_equal(img.width, 768);
    assert_int_equal(img.height, 512);
    assert_int_equal(img.channels, 3);
    assert_int_equal(img.source_bit_depth, 8);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < (size_t)768 * 512 * 3; i++)
        h = (h ^ img.pixels[i]) * 16777619u;
    assert_int_equal(h, 0x685888edu);
    aecimg_image_free(&img);
}

/* ---------------------------------------------------------------- JPEG */

/* PSNR of img against what the fixture script encoded: the crop ('rgb') or its luma ('l'). */
static double psnr_against_crop(const AecimgImage *img, const AecimgImage *crop)
{
    double sse = 0;
    for (uint32_t y = 0; y < img->height; y++) {
        for (uint32_t x = 0; x < img->width; x++) {
            const uint8_t *src = crop->pixels + ((size_t)y * crop->width + x) * 3;
            const uint8_t *px = img->pixels + ((size_t)y * img->width + x) * img->channels;
            for (uint32_t c = 0; c < img->channels; c++) {
                double d = px[c] - (img->channels == 1 ? luma(src) : src[c]);
                sse += d * d;
            }
        }
    }
    double mse = sse / ((double)img->width * img->height * img->channels);
    return 10 * log10(255.0 * 255.0 / (mse > 0 ? mse : 1e-10));
}

/* A 16x16 flat gray progressive JPEG (libjpeg's jpeg_simple_progression): 6 scans. */
static const char flat_progressive_jpeg[] =
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f"
    "141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc2000b08001000100101"
    "1100ffc40014000100000000000000000000000000000000ffda00080101000000010fffc400141001000000000000000000"
    "00000000000020ffda00080101000105021fffc40014100100000000000000000000000000000020ffda0008010100063f02"
    "1fffc40014100100000000000000000000000000000020ffda0008010100013f211fffda00080101000000100fffc4001410"
    "0100000000000000000000000000000020ffda0008010100013f101fffd9";

/* The flat JPEG with its second scan (and the table before the third) repeated `extra` times. */
static uint8_t *many_scans(size_t extra, size_t *size)
{
    const size_t n = strlen(flat_progressive_jpeg) / 2;
    uint8_t base[512];
    assert_true(n <= sizeof base);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(flat_progressive_jpeg + 2 * i, "%2x", &v), 1);
        base[i] = (uint8_t)v;
    }
    size_t sos[3], found = 0;
    for (size_t i = 0; i + 1 < n && found < 3; i++)
        if (base[i] == 0xff && base[i + 1] == 0xda)
            sos[found++] = i;
    assert_int_equal(found, 3);
    const size_t scan = sos[2] - sos[1];
    *size = n + extra * scan;
    uint8_t *out = malloc(*size), *p = out;
    assert_non_null(out);
    memcpy(p, base, sos[2]);
    p += sos[2];
    for (size_t k = 0; k < extra; k++, p += scan)
        memcpy(p, base + sos[1], scan);
    memcpy(p, base + sos[2], n - sos[2]);
    return out;
}

/* A progressive file of many scans, each costing a pass over the image, is refused past 500. */
static void test_jpeg_scan_limit(void)
{
    size_t size;
    uint8_t *jpeg = many_scans(0, &size);
    AecimgImage img;
    read_ok(jpeg, size, AECIMG_DEFAULT_MAX_PIXELS, &img);
    assert_int_equal(img.width, 16);
    assert_int_equal(img.channels, 1);
    aecimg_image_free(&img);
    free(jpeg);
    jpeg = many_scans(494, &size); /* 500 scans */
    read_ok(jpeg, size, AECIMG_DEFAULT_MAX_PIXELS, &img);
    aecimg_image_free(&img);
    free(jpeg);
    jpeg = many_scans(495, &size);
    read_refused(jpeg, size, AECIMG_DEFAULT_MAX_PIXELS, "JPEG: more than 500 scans");
    free(jpeg);
}

/* A header that claims more rows than the scan holds: libjpeg would only warn and pad the image
 * with gray; the reader refuses it, before decoding when the file is too short to code one bit per
 * block. */
static void test_jpeg_claims_more_rows(const uint8_t *jpeg, size_t size)
{
    uint8_t *copy = malloc(size);
    assert_non_null(copy);
    memcpy(copy, jpeg, size);
    size_t sof = 2;
    while (sof + 9 < size && !(copy[sof] == 0xff && copy[sof + 1] == 0xc0))
        sof++;
    assert_true(sof + 9 < size);
    const struct {
        uint16_t height;
        const char *error;
    } cases[] = {
        {64 + 16, "premature end of data segment"},
        {12000, "premature end of data segment"}, /* 27,000 blocks: 3,375 bytes at least */
        {65000, "cannot hold a 96x65000 image"},  /* 146,256 blocks: more than 8 per byte */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy[sof + 5] = (uint8_t)(cases[i].height >> 8);
        copy[sof + 6] = (uint8_t)cases[i].height;
        read_refused(copy, size, AECIMG_DEFAULT_MAX_PIXELS, cases[i].error);
    }
    free(copy);
}

static void test_jpeg(void **state)
{
    (void)state;
    size_t size;
    uint8_t *jpeg = read_fixture("rgb-96x64.jpg", &size);
    assert_int_equal(imageio_sniff(jpeg, size), IMAGEIO_JPEG);
    if (!imageio_have_jpeg()) {
        read_refused(jpeg, size, AECIMG_DEFAULT_MAX_PIXELS, "JPEG input not compiled in");
        free(jpeg);
        skip();
    }
    AecimgImage crop, img, png;
    load_crop(&crop);
    read_ok(jpeg, size, AECIMG_DEFAULT_MAX_PIXELS, &img);
    assert_int_equal(img.width, 96);
    assert_int_equal(img.height, 64);
    assert_int_equal(img.channels, 3);
    assert_int_equal(img.source_bit_depth, 8);
    double psnr = psnr_against_crop(&img, &crop);
    if (psnr < 32)
        fail_msg("JPEG decodes to %.2f dB of its source", psnr);
    /* The same sRGB profile as the PNG fixture, read from APP2. */
    load_fixture("icc-48x32.png", &png);
    assert_int_equal(img.icc_size, png.icc_size);
    assert_memory_equal(img.icc, png.icc, png.icc_size);
    aecimg_image_free(&png);
    aecimg_image_free(&img);

    read_refused(jpeg, size, 96 * 64 - 1, "exceeds the limit of 6143 pixels");
    read_refused(jpeg, size / 2, AECIMG_DEFAULT_MAX_PIXELS, "JPEG: ");
    read_refused(jpeg, size - 2, AECIMG_DEFAULT_MAX_PIXELS, "JPEG: "); /* no EOI */
    read_refused(jpeg, 3, AECIMG_DEFAULT_MAX_PIXELS, "JPEG: ");
    read_refused(LIT("\xff\xd8\xff\xe0garbage that is no JPEG"), AECIMG_DEFAULT_MAX_PIXELS, "JPEG: ");
    test_jpeg_claims_more_rows(jpeg, size);
    free(jpeg);

    load_fixture("gray-96x64.jpg", &img);
    assert_int_equal(img.width, 96);
    assert_int_equal(img.height, 64);
    assert_int_equal(img.channels, 1);
    assert_null(img.icc);
    psnr = psnr_against_crop(&img, &crop);
    if (psnr < 32)
        fail_msg("gray JPEG decodes to %.2f dB of its source", psnr);
    aecimg_image_free(&img);
    aecimg_image_free(&crop);

    jpeg = read_fixture("cmyk-16x16.jpg", &size);
    read_refused(jpeg, size, AECIMG_DEFAULT_MAX_PIXELS, "CMYK");
    free(jpeg);
    test_jpeg_scan_limit();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_format_from_name),
        cmocka_unit_test(test_png_roundtrip),
        cmocka_unit_test(test_png_color_types),
        cmocka_unit_test(test_png_16bit_rounding),
        cmocka_unit_test(test_png_trns),
        cmocka_unit_test(test_png_ancillary_chunks),
        cmocka_unit_test(test_png_icc_read),
        cmocka_unit_test(test_png_write_mismatched_icc),
        cmocka_unit_test(test_png_truncated),
        cmocka_unit_test(test_png_crc),
        cmocka_unit_test(test_png_limits),
        cmocka_unit_test(test_png_max_compression),
        cmocka_unit_test(test_pnm_read_raw),
        cmocka_unit_test(test_pnm_read_plain),
        cmocka_unit_test(test_pam_read),
        cmocka_unit_test(test_pnm_malformed),
        cmocka_unit_test(test_pnm_limits),
        cmocka_unit_test(test_pnm_roundtrip),
        cmocka_unit_test(test_write_full_disk),
        cmocka_unit_test(test_write_refused),
        cmocka_unit_test(test_fixtures_exact),
        cmocka_unit_test(test_fixture_icc),
        cmocka_unit_test(test_fixture_bilevel),
        cmocka_unit_test(test_fixture_palette),
        cmocka_unit_test(test_fixture_kodim23),
        cmocka_unit_test(test_jpeg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
