/* pnm_io.c: Netpbm reader (P1-P7, plain and raw, maxval up to 65535) and P5/P6/P7 writer. */
#include <errno.h>
#include <string.h>

#include "imageio/imageio_internal.h"

/* Parse position in the input; every read checks against end, never past it. */
typedef struct Cursor {
    const uint8_t *p, *end;
    char *err;
    size_t err_size;
} Cursor;

typedef struct PnmHeader {
    char kind; /* '1'..'7' */
    uint32_t width, height, channels, maxval;
} PnmHeader;

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static size_t remaining(const Cursor *c)
{
    return (size_t)(c->end - c->p);
}

/* Skips whitespace and '#' comments (which run to the end of the line). */
static void skip_space(Cursor *c)
{
    while (c->p < c->end) {
        if (*c->p == '#') {
            while (c->p < c->end && *c->p != '\n' && *c->p != '\r')
                c->p++;
        } else if (is_space(*c->p)) {
            c->p++;
        } else {
            break;
        }
    }
}

/* Reads a decimal number below 2^32 after optional whitespace and comments.  Signs are refused,
 * so "-1" is an error rather than a huge unsigned value.  where: "header" or "pixel data". */
static int read_number(Cursor *c, const char *where, uint32_t *value)
{
    skip_space(c);
    if (c->p == c->end) {
        imageio_set_error(c->err, c->err_size, "PNM: truncated %s", where);
        return -1;
    }
    if (!is_digit(*c->p)) {
        imageio_set_error(c->err, c->err_size, "PNM: expected a number in the %s", where);
        return -1;
    }
    uint64_t v = 0;
    for (; c->p < c->end && is_digit(*c->p); c->p++) {
        v = v * 10 + (uint64_t)(*c->p - '0');
        if (v > UINT32_MAX) {
            imageio_set_error(c->err, c->err_size, "PNM: number too large in the %s", where);
            return -1;
        }
    }
    *value = (uint32_t)v;
    return 0;
}

static int check_maxval(const Cursor *c, uint32_t maxval)
{
    if (maxval == 0 || maxval > 65535) {
        imageio_set_error(c->err, c->err_size, "PNM: maxval %u is outside 1..65535", maxval);
        return -1;
    }
    return 0;
}

/* P1..P6: width, height and (except for bitmaps) maxval, then exactly one whitespace byte. */
static int parse_pnm_header(Cursor *c, PnmHeader *h)
{
    h->kind = (char)c->p[1];
    c->p += 2;
    int bitmap = h->kind == '1' || h->kind == '4';
    h->channels = h->kind == '3' || h->kind == '6' ? 3 : 1;
    h->maxval = 1;
    if (read_number(c, "header", &h->width) < 0 || read_number(c, "header", &h->height) < 0 ||
        (!bitmap && read_number(c, "header", &h->maxval) < 0) || check_maxval(c, h->maxval) < 0)
        return -1;
    if (c->p == c->end) {
        imageio_set_error(c->err, c->err_size, "PNM: truncated header");
        return -1;
    }
    if (!is_space(*c->p)) {
        imageio_set_error(c->err, c->err_size, "PNM: malformed header");
        return -1;
    }
    c->p++;
    return 0;
}

/* Reads a PAM header keyword or tuple type: the bytes up to the next whitespace. */
static size_t read_word(Cursor *c, const uint8_t **word)
{
    *word = c->p;
    while (c->p < c->end && !is_space(*c->p))
        c->p++;
    return (size_t)(c->p - *word);
}

static int word_is(const uint8_t *word, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(word, name, len) == 0;
}

/* Depth that a PAM tuple type requires, or 0 for one this reader does not know. */
static uint32_t tuple_depth(const uint8_t *word, size_t len)
{
    static const struct {
        const char *name;
        uint32_t depth;
    } types[] = {
        {"GRAYSCALE", 1},     {"GRAYSCALE_ALPHA", 2},     {"RGB", 3},
        {"RGB_ALPHA", 4},     {"BLACKANDWHITE", 1},       {"BLACKANDWHITE_ALPHA", 2},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (word_is(word, len, types[i].name))
            return types[i].depth;
    return 0;
}

/* Skips whitespace other than newlines: PAM values sit on their keyword's line. */
static void skip_blanks(Cursor *c)
{
    while (c->p < c->end && *c->p != '\n' && is_space(*c->p))
        c->p++;
}

/* ENDHDR must end its line; the raster starts right after that newline. */
static int end_pam_header(Cursor *c)
{
    skip_blanks(c);
    if (c->p == c->end) {
        imageio_set_error(c->err, c->err_size, "PNM: truncated header");
        return -1;
    }
    if (*c->p != '\n') {
        imageio_set_error(c->err, c->err_size, "PNM: malformed PAM header after ENDHDR");
        return -1;
    }
    c->p++;
    return 0;
}

/* Checks the PAM fields once ENDHDR has been seen. */
static int check_pam_fields(const Cursor *c, const PnmHeader *h, int fields_seen,
                            const uint8_t *tuple, size_t tuple_len)
{
    if (fields_seen != 0xf) {
        imageio_set_error(c->err, c->err_size, "PNM: PAM header lacks WIDTH, HEIGHT, DEPTH or MAXVAL");
        return -1;
    }
    if (h->channels < 1 || h->channels > 4) {
        imageio_set_error(c->err, c->err_size, "PNM: PAM depth %u is outside 1..4", h->channels);
        return -1;
    }
    if (tuple) {
        uint32_t depth = tuple_depth(tuple, tuple_len);
        int shown = tuple_len > 40 ? 40 : (int)tuple_len;
        if (depth == 0) {
            imageio_set_error(c->err, c->err_size, "PNM: unsupported PAM tuple type %.*s", shown,
                              (const char *)tuple);
            return -1;
        }
        if (depth != h->channels) {
            imageio_set_error(c->err, c->err_size, "PNM: PAM tuple type %.*s does not have depth %u",
                              shown, (const char *)tuple, h->channels);
            return -1;
        }
    }
    return check_maxval(c, h->maxval);
}

/* P7: "KEYWORD value" lines up to ENDHDR.  TUPLTYPE is optional (the depth says enough). */
static int parse_pam_header(Cursor *c, PnmHeader *h)
{
    static const char *const numeric[4] = {"WIDTH", "HEIGHT", "DEPTH", "MAXVAL"};
    uint32_t *const values[4] = {&h->width, &h->height, &h->channels, &h->maxval};
    int fields_seen = 0;
    const uint8_t *tuple = NULL;
    size_t tuple_len = 0;
    h->kind = '7';
    c->p += 2;
    for (;;) {
        skip_space(c);
        const uint8_t *word;
        size_t len = read_word(c, &word);
        if (len == 0) {
            imageio_set_error(c->err, c->err_size, "PNM: truncated header");
            return -1;
        }
        if (word_is(word, len, "ENDHDR"))
            break;
        int field = 0;
        while (field < 4 && !word_is(word, len, numeric[field]))
            field++;
        if (field < 4 && !(fields_seen & 1 << field)) {
            fields_seen |= 1 << field;
            if (read_number(c, "header", values[field]) < 0)
                return -1;
        } else if (word_is(word, len, "TUPLTYPE") && !tuple) {
            skip_blanks(c);
            tuple_len = read_word(c, &tuple);
        } else {
            imageio_set_error(c->err, c->err_size, "PNM: unknown or repeated PAM header field %.*s",
                              len > 40 ? 40 : (int)len, (const char *)word);
            return -1;
        }
    }
    if (end_pam_header(c) < 0)
        return -1;
    return check_pam_fields(c, h, fields_seen, tuple, tuple_len);
}

/* Fewest raster bytes the header implies, to refuse short files before allocating. */
static uint64_t min_raster_bytes(const PnmHeader *h)
{
    uint64_t samples = (uint64_t)h->width * h->height * h->channels;
    switch (h->kind) {
    case '4':
        return ((uint64_t)h->width + 7) / 8 * h->height;
    case '1':
    case '2':
    case '3':
        return samples; /* plain formats: at least one character per sample */
    default:
        return samples * (h->maxval > 255 ? 2 : 1);
    }
}

/* Rounds v/maxval to 0..255; v <= 65535 keeps v * 255 within 32 bits. */
static uint8_t scale_sample(uint32_t v, uint32_t maxval)
{
    return (uint8_t)((v * 255u + maxval / 2) / maxval);
}

static int sample_too_large(const Cursor *c, uint32_t v, uint32_t maxval)
{
    imageio_set_error(c->err, c->err_size, "PNM: sample value %u exceeds maxval %u", v, maxval);
    return -1;
}

/* P5, P6, P7: one byte per sample, or two big-endian bytes when maxval > 255. */
static int read_raw_samples(Cursor *c, uint32_t maxval, uint8_t *out, size_t count)
{
    if (maxval == 255) {
        memcpy(out, c->p, count);
        return 0;
    }
    int wide = maxval > 255;
    for (size_t i = 0; i < count; i++) {
        uint32_t v = wide ? (uint32_t)c->p[2 * i] << 8 | c->p[2 * i + 1] : c->p[i];
        if (v > maxval)
            return sample_too_large(c, v, maxval);
        out[i] = scale_sample(v, maxval);
    }
    return 0;
}

/* P2, P3: decimal samples separated by whitespace. */
static int read_plain_samples(Cursor *c, uint32_t maxval, uint8_t *out, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint32_t v;
        if (read_number(c, "pixel data", &v) < 0)
            return -1;
        if (v > maxval)
            return sample_too_large(c, v, maxval);
        out[i] = scale_sample(v, maxval);
    }
    return 0;
}

/* P1: one '0' (white) or '1' (black) per pixel, whitespace optional. */
static int read_plain_bits(Cursor *c, uint8_t *out, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        skip_space(c);
        if (c->p == c->end) {
            imageio_set_error(c->err, c->err_size, "PNM: truncated pixel data");
            return -1;
        }
        if (*c->p != '0' && *c->p != '1') {
            imageio_set_error(c->err, c->err_size, "PNM: invalid bitmap pixel");
            return -1;
        }
        out[i] = *c->p++ == '1' ? 0 : 255;
    }
    return 0;
}

/* P4: rows of bits packed most significant first, 1 meaning black, each row byte-aligned. */
static void read_raw_bits(const Cursor *c, uint32_t width, uint32_t height, uint8_t *out)
{
    size_t row_bytes = ((size_t)width + 7) / 8;
    for (size_t y = 0; y < height; y++) {
        const uint8_t *row = c->p + y * row_bytes;
        for (size_t x = 0; x < width; x++)
            *out++ = row[x / 8] >> (7 - x % 8) & 1 ? 0 : 255;
    }
}

static int read_raster(Cursor *c, const PnmHeader *h, uint8_t *out)
{
    size_t count = (size_t)h->width * h->height * h->channels;
    switch (h->kind) {
    case '1':
        return read_plain_bits(c, out, count);
    case '2':
    case '3':
        return read_plain_samples(c, h->maxval, out, count);
    case '4':
        read_raw_bits(c, h->width, h->height, out);
        return 0;
    default:
        return read_raw_samples(c, h->maxval, out, count);
    }
}

static uint32_t bits_for(uint32_t maxval)
{
    uint32_t bits = 1;
    while (bits < 16 && (1u << bits) - 1 < maxval)
        bits++;
    return bits;
}

int imageio_read_pnm(const uint8_t *data, size_t size, uint64_t max_pixels, AecimgImage *img,
                     char *err, size_t err_size)
{
    Cursor c = {.p = data, .end = data + size, .err = err, .err_size = err_size};
    PnmHeader h = {0};
    int rc = data[1] == '7' ? parse_pam_header(&c, &h) : parse_pnm_header(&c, &h);
    if (rc < 0 || imageio_check_size("PNM", h.width, h.height, max_pixels, err, err_size) < 0)
        return -1;
    if (min_raster_bytes(&h) > remaining(&c)) {
        imageio_set_error(err, err_size, "PNM: truncated pixel data");
        return -1;
    }
    AecimgImage out = {.source_bit_depth = bits_for(h.maxval)};
    if (imageio_alloc_pixels(&out, h.width, h.height, h.channels, "PNM", err, err_size) < 0)
        return -1;
    if (read_raster(&c, &h, out.pixels) < 0) {
        aecimg_image_free(&out);
        return -1;
    }
    *img = out;
    return 0;
}

int imageio_write_pnm(FILE *f, int pam, const AecimgImage *img, char *err, size_t err_size)
{
    static const char *const tuple_types[4] = {"GRAYSCALE", "GRAYSCALE_ALPHA", "RGB", "RGB_ALPHA"};
    uint32_t ch = img->channels;
    int header;
    /* Plain PGM/PPM cannot carry alpha, so alpha images always go out as PAM. */
    if (pam || ch == 2 || ch == 4)
        header = fprintf(f, "P7\nWIDTH %u\nHEIGHT %u\nDEPTH %u\nMAXVAL 255\nTUPLTYPE %s\nENDHDR\n",
                         img->width, img->height, ch, tuple_types[ch - 1]);
    else
        header = fprintf(f, "P%c\n%u %u\n255\n", ch == 1 ? '5' : '6', img->width, img->height);
    size_t bytes = (size_t)img->width * img->height * ch;
    if (header < 0 || fwrite(img->pixels, 1, bytes, f) != bytes) {
        imageio_set_error(err, err_size, "PNM: write failed: %s", strerror(errno));
        return -1;
    }
    return imageio_finish_write(f, "PNM", err, err_size);
}
