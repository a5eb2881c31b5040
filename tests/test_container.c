/* test_container.c: the .aec container: CRC, writer layout, round trips, and every reader check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "container.h"
#include "internal.h"

/* ---------------------------------------------------------------- an independent file builder */

/* Field values of a test file.  The builder writes them byte by byte without container.c, so the
 * reader and the writer are both checked against this second encoding of doc/container.md. */
typedef struct Params {
    uint8_t version;
    uint32_t width, height;
    uint8_t channels, depth;
    uint16_t ahdr_reserved;
    const char *name;
    int name_length; /* the stored length byte; -1: strlen(name) */
    uint8_t quantizer, quality;
    uint16_t latent_channels;
    uint32_t latent_height, latent_width;
    uint8_t entropy, adat_reserved;
    uint16_t stream_count;
    uint32_t stream_sizes[8];
    long payload_delta; /* payload bytes written beyond (or short of) the sum of the sizes */
    uint8_t alpha_method; /* 0: no ALPH */
    size_t alpha_size;
    int has_icc;
    uint8_t icc_compression;
    size_t icc_size;
    char resize_chunk; /* layout letter of a chunk whose data gets resize_by bytes more or fewer */
    int resize_by;
} Params;

/* Bytes that streams, alpha and ICC data are cut from. */
static uint8_t pool[4096];

static const uint8_t model_hash[32] = {
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
};

static int setup_pool(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof pool; i++)
        pool[i] = (uint8_t)(i * 131 + 7);
    return 0;
}

/* A valid RGB file with an ICC profile and three streams (one empty). */
static Params default_params(void)
{
    Params p = {
        .version = 1, .width = 64, .height = 48, .channels = 3, .depth = 8,
        .name = "test-model", .name_length = -1,
        .quantizer = 1, .quality = 75,
        .latent_channels = 16, .latent_height = 3, .latent_width = 4,
        .entropy = 1, .stream_count = 3, .stream_sizes = {5, 0, 7},
        .has_icc = 1, .icc_size = 10,
    };
    return p;
}

static Params alpha_params(void)
{
    Params p = default_params();
    p.channels = 4;
    p.alpha_method = 1;
    p.alpha_size = 6;
    return p;
}

typedef struct Buf {
    uint8_t d[8192];
    size_t n;
} Buf;

static void put(Buf *b, const void *bytes, size_t n)
{
    assert_true(b->n + n <= sizeof b->d);
    if (n) /* bytes may be NULL then */
        memcpy(b->d + b->n, bytes, n);
    b->n += n;
}

static void put_u8(Buf *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put_u16(Buf *b, uint16_t v)
{
    uint8_t x[2];
    store_be16(x, v);
    put(b, x, 2);
}

static void put_u32(Buf *b, uint32_t v)
{
    uint8_t x[4];
    store_be32(x, v);
    put(b, x, 4);
}

static void put_signature(Buf *b)
{
    put(b, "\x8a" "AEC\r\n\x1a\n", 8);
}

/* A chunk with a correct CRC, so that tests reach the check after the CRC. */
static void put_chunk(Buf *b, const char *type, const uint8_t *data, size_t n)
{
    put_u32(b, (uint32_t)n);
    size_t start = b->n;
    put(b, type, 4);
    put(b, data, n);
    put_u32(b, container_crc32(0, b->d + start, n + 4));
}

/* Wraps modulo 2^32, as a careless reader's sum would. */
static uint32_t payload_sum(const Params *p)
{
    uint32_t sum = 0;
    for (int i = 0; i < p->stream_count && i < 8; i++)
        sum += p->stream_sizes[i];
    return sum;
}

static void chunk_data(const Params *p, char code, Buf *d)
{
    size_t name_length = p->name_length < 0 ? strlen(p->name) : (size_t)p->name_length;
    switch (code) {
    case 'H':
        put_u8(d, p->version);
        put_u32(d, p->width);
        put_u32(d, p->height);
        put_u8(d, p->channels);
        put_u8(d, p->depth);
        put_u16(d, p->ahdr_reserved);
        break;
    case 'M':
        put(d, model_hash, 32);
        put_u8(d, (uint8_t)name_length);
        put(d, p->name, strlen(p->name));
        break;
    case 'Q':
        put_u8(d, p->quantizer);
        put_u8(d, p->quality);
        break;
    case 'L':
        put_u16(d, p->latent_channels);
        put_u32(d, p->latent_height);
        put_u32(d, p->latent_width);
        break;
    case 'D':
        put_u8(d, p->entropy);
        put_u8(d, p->adat_reserved);
        put_u16(d, p->stream_count);
        for (int i = 0; i < p->stream_count && i < 8; i++)
            put_u32(d, p->stream_sizes[i]);
        put(d, pool, (size_t)((long)payload_sum(p) + p->payload_delta));
        break;
    case 'P':
        put_u8(d, p->alpha_method);
        put(d, pool + 100, p->alpha_size);
        break;
    case 'I':
        put_u8(d, p->icc_compression);
        put(d, pool + 200, p->icc_size);
        break;
    case 'Z': /* AEND with data */
        put_u8(d, 0);
        break;
    case 'x': /* an unknown ancillary chunk */
    case 'X': /* an unknown critical chunk */
        put(d, "opaque", 6);
        break;
    default: /* 'E': AEND */
        break;
    }
    if (code == p->resize_chunk)
        d->n = (size_t)((long)d->n + p->resize_by);
}

static const char *chunk_type(char code)
{
    switch (code) {
    case 'H': return "AHDR";
    case 'M': return "AMDL";
    case 'Q': return "AQNT";
    case 'L': return "ALAT";
    case 'D': return "ADAT";
    case 'P': return "ALPH";
    case 'I': return "iccp";
    case 'x': return "teXt";
    case 'X': return "AXTR";
    default: return "AEND";
    }
}

/* Writes the signature and one chunk per letter of layout (see chunk_data for the letters). */
static void build(const Params *p, const char *layout, Buf *b)
{
    b->n = 0;
    put_signature(b);
    for (const char *c = layout; *c; c++) {
        Buf d = {.n = 0};
        chunk_data(p, *c, &d);
        put_chunk(b, chunk_type(*c), d.d, d.n);
    }
}

/* The layout the writer produces for p. */
static const char *canonical_layout(const Params *p)
{
    if (p->has_icc)
        return p->alpha_method ? "HMQLIPDE" : "HMQLIDE";
    return p->alpha_method ? "HMQLPDE" : "HMQLDE";
}

/* Reads a copy of exactly size bytes, so that ASan sees any read past the end. */
static int read_exact(const uint8_t *data, size_t size, uint64_t max_pixels, AecContainer *c)
{
    uint8_t *copy = malloc(size ? size : 1);
    assert_non_null(copy);
    if (size)
        memcpy(copy, data, size);
    int err = container_read(copy, size, max_pixels, c);
    free(copy);
    return err;
}

static int read_buf(const Buf *b)
{
    static AecContainer c;
    return read_exact(b->d, b->n, AECIMG_DEFAULT_MAX_PIXELS, &c);
}

static int read_layout(const Params *p, const char *layout)
{
    Buf b;
    build(p, layout, &b);
    return read_buf(&b);
}

static int read_params(const Params *p)
{
    return read_layout(p, canonical_layout(p));
}

/* The container the writer needs for p. */
static void make_container(const Params *p, AecContainer *c)
{
    memset(c, 0, sizeof *c);
    c->format_version = p->version;
    c->width = p->width;
    c->height = p->height;
    c->channels = p->channels;
    c->source_bit_depth = p->depth;
    memcpy(c->model_hash, model_hash, 32);
    snprintf(c->model_name, sizeof c->model_name, "%s", p->name);
    c->quantizer = p->quantizer;
    c->quality = p->quality;
    c->latent_channels = p->latent_channels;
    c->latent_height = p->latent_height;
    c->latent_width = p->latent_width;
    c->entropy = p->entropy;
    c->stream_count = p->stream_count;
    size_t offset = 0;
    for (int i = 0; i < p->stream_count && i < 8; i++) {
        c->streams[i] = pool + offset;
        c->stream_sizes[i] = p->stream_sizes[i];
        offset += p->stream_sizes[i];
    }
    c->alpha_method = p->alpha_method;
    c->alpha = p->alpha_method ? pool + 100 : NULL;
    c->alpha_size = p->alpha_method ? p->alpha_size : 0;
    c->icc = p->has_icc ? pool + 200 : NULL;
    c->icc_size = p->has_icc ? p->icc_size : 0;
}

static int write_params(const Params *p)
{
    static AecContainer c;
    make_container(p, &c);
    uint8_t *out = (uint8_t *)&c; /* not NULL, so the test sees the writer clear it */
    size_t out_size = 1;
    int err = container_write(&c, &out, &out_size);
    if (err != AECIMG_OK) {
        assert_null(out);
        assert_int_equal(out_size, 0);
    }
    free(out);
    return err;
}

/* A field value both the reader (of a built file) and the writer must refuse with err.  The reader
 * must do so at the chunk named by its layout letter: the same file cut after that chunk and
 * followed by an unknown critical one gives err too, not AECIMG_ERR_UNKNOWN_CRITICAL_CHUNK. */
static void assert_both_refuse(const Params *p, char chunk, int err)
{
    char layout[16];
    const char *full = canonical_layout(p);
    const char *at = strchr(full, chunk);
    assert_non_null(at);
    snprintf(layout, sizeof layout, "%.*sX", (int)(at - full + 1), full);
    assert_int_equal(read_params(p), err);
    assert_int_equal(read_layout(p, layout), err);
    assert_int_equal(write_params(p), err);
}

/* ---------------------------------------------------------------- CRC */

static uint32_t crc_bitwise(const uint8_t *data, size_t size)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < size; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
    }
    return ~crc;
}

static void test_crc_check_value(void **state)
{
    (void)state;
    assert_int_equal(container_crc32(0, (const uint8_t *)"123456789", 9), 0xcbf43926u);
    assert_int_equal(container_crc32(0, NULL, 0), 0);
    assert_int_equal(container_crc32(0, (const uint8_t *)"AEND", 4), 0x6bf6486du);
}

static void test_crc_matches_bitwise_and_chains(void **state)
{
    (void)state;
    /* The pool's bytes visit every table index many times over. */
    for (size_t n = 0; n <= sizeof pool; n += 97)
        assert_int_equal(container_crc32(0, pool, n), crc_bitwise(pool, n));
    uint32_t first = container_crc32(0, pool, 1000);
    assert_int_equal(container_crc32(first, pool + 1000, 3000), crc_bitwise(pool, 4000));
}

/* ---------------------------------------------------------------- writer and round trips */

static void assert_same_container(const AecContainer *a, const AecContainer *b)
{
    assert_int_equal(a->format_version, b->format_version);
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    assert_int_equal(a->channels, b->channels);
    assert_int_equal(a->source_bit_depth, b->source_bit_depth);
    assert_memory_equal(a->model_hash, b->model_hash, 32);
    assert_string_equal(a->model_name, b->model_name);
    assert_int_equal(a->quantizer, b->quantizer);
    assert_int_equal(a->quality, b->quality);
    assert_int_equal(a->latent_channels, b->latent_channels);
    assert_int_equal(a->latent_height, b->latent_height);
    assert_int_equal(a->latent_width, b->latent_width);
    assert_int_equal(a->entropy, b->entropy);
    assert_int_equal(a->stream_count, b->stream_count);
    size_t total = 0;
    for (uint32_t i = 0; i < a->stream_count; i++) {
        assert_int_equal(a->stream_sizes[i], b->stream_sizes[i]);
        if (a->stream_sizes[i])
            assert_memory_equal(a->streams[i], b->streams[i], a->stream_sizes[i]);
        total += a->stream_sizes[i];
    }
    assert_int_equal(b->payload_size, total);
    assert_int_equal(a->alpha_method, b->alpha_method);
    assert_int_equal(a->alpha_size, b->alpha_size);
    if (a->alpha_size)
        assert_memory_equal(a->alpha, b->alpha, a->alpha_size);
    assert_int_equal(a->icc_size, b->icc_size);
    assert_true((a->icc == NULL) == (b->icc == NULL));
    if (a->icc_size)
        assert_memory_equal(a->icc, b->icc, a->icc_size);
}

/* Writes p, checks the bytes against the builder, reads them back and compares every field. */
static void round_trip(const Params *p)
{
    static AecContainer in, back;
    make_container(p, &in);
    uint8_t *file = NULL;
    size_t size = 0;
    assert_int_equal(container_write(&in, &file, &size), AECIMG_OK);
    Buf expected;
    build(p, canonical_layout(p), &expected);
    assert_int_equal(size, expected.n);
    assert_memory_equal(file, expected.d, size);
    /* A limit of exactly width * height admits the image. */
    assert_int_equal(container_read(file, size, (uint64_t)p->width * p->height, &back), AECIMG_OK);
    assert_same_container(&in, &back);
    free(file);
}

static void test_round_trip_rgb_icc(void **state)
{
    (void)state;
    Params p = default_params();
    round_trip(&p);
}

static void test_round_trip_rgba_icc(void **state)
{
    (void)state;
    Params p = alpha_params();
    round_trip(&p);
}

static void test_round_trip_gray_alpha_no_icc(void **state)
{
    (void)state;
    Params p = alpha_params();
    p.channels = 2;
    p.has_icc = 0;
    p.entropy = 2;
    round_trip(&p);
}

static void test_round_trip_gray_single_stream(void **state)
{
    (void)state;
    Params p = default_params();
    p.channels = 1;
    p.has_icc = 0;
    p.stream_count = 1;
    p.stream_sizes[0] = 1;
    p.quality = 0;
    p.depth = 1;
    round_trip(&p);
}

static void test_round_trip_limits(void **state)
{
    (void)state;
    Params p = default_params();
    p.width = p.height = 65535;
    p.depth = 16;
    p.quality = 100;
    p.latent_channels = 1024;
    p.latent_height = p.latent_width = 65535;
    p.name = " !~ 63 chars of printable ASCII: the longest a name may be. ~! ";
    assert_int_equal(strlen(p.name), 63);
    round_trip(&p);
}

/* The builder handles at most 8 streams, so this one compares with itself. */
static void test_round_trip_max_streams(void **state)
{
    (void)state;
    static AecContainer in, back;
    Params p = default_params();
    make_container(&p, &in);
    in.stream_count = AEC_MAX_STREAMS;
    for (size_t i = 0; i < AEC_MAX_STREAMS; i++) {
        in.streams[i] = pool + i;
        in.stream_sizes[i] = i % 3;
    }
    uint8_t *file = NULL;
    size_t size = 0;
    assert_int_equal(container_write(&in, &file, &size), AECIMG_OK);
    assert_int_equal(container_read(file, size, AECIMG_DEFAULT_MAX_PIXELS, &back), AECIMG_OK);
    assert_same_container(&in, &back);
    free(file);
}

static void test_writer_refuses_bad_arguments(void **state)
{
    (void)state;
    static AecContainer c;
    Params p = default_params();
    make_container(&p, &c);
    uint8_t *out = (uint8_t *)&c;
    size_t out_size = 1;
    assert_int_equal(container_write(NULL, &out, &out_size), AECIMG_ERR_INVALID_ARGUMENT);
    assert_null(out);
    assert_int_equal(out_size, 0);
    assert_int_equal(container_write(&c, NULL, &out_size), AECIMG_ERR_INVALID_ARGUMENT);
    assert_int_equal(container_write(&c, &out, NULL), AECIMG_ERR_INVALID_ARGUMENT);

    c.streams[2] = NULL;
    assert_int_equal(container_write(&c, &out, &out_size), AECIMG_ERR_INVALID_ARGUMENT);
    make_container(&p, &c);
    c.icc = NULL;
    assert_int_equal(container_write(&c, &out, &out_size), AECIMG_ERR_INVALID_ARGUMENT);
    Params a = alpha_params();
    make_container(&a, &c);
    c.alpha = NULL;
    assert_int_equal(container_write(&c, &out, &out_size), AECIMG_ERR_INVALID_ARGUMENT);
    make_container(&p, &c);
    make_container(&p, &c);
    c.icc_size = 0;
    assert_int_equal(container_write(&c, &out, &out_size), AECIMG_ERR_CORRUPT);
    assert_null(out);
}

static void test_writer_refuses_bad_name(void **state)
{
    (void)state;
    static AecContainer c;
    Params p = default_params();
    make_container(&p, &c);
    uint8_t *out = NULL;
    size_t out_size = 0;
    memset(c.model_name, 'a', sizeof c.model_name); /* no terminating NUL */
    assert_int_equal(container_write(&c, &out, &out_size), AECIMG_ERR_CORRUPT);
    assert_null(out);
}

static void test_writer_refuses_oversized_chunks(void **state)
{
    (void)state;
    static AecContainer c;
    Params p = default_params();
    make_container(&p, &c);
    uint8_t *out = NULL;
    size_t out_size = 0;
    c.stream_sizes[0] = (size_t)AEC_MAX_CHUNK_SIZE + 1;
    assert_int_equal(container_write(&c, &out, &out_size), AECIMG_ERR_TOO_LARGE);
    c.stream_sizes[0] = c.stream_sizes[2] = (size_t)1 << 30; /* each fits, the sum does not */
    assert_int_equal(container_write(&c, &out, &out_size), AECIMG_ERR_TOO_LARGE);
    /* Sizes whose sums would wrap around. */
    c.stream_sizes[0] = SIZE_MAX;
    c.stream_sizes[2] = 7;
    assert_int_equal(container_write(&c, &out, &out_size), AECIMG_ERR_TOO_LARGE);
    make_container(&p, &c);
    c.icc_size = AEC_MAX_CHUNK_SIZE;
    assert_int_equal(container_write(&c, &out, &out_size), AECIMG_ERR_TOO_LARGE);
    c.icc_size = SIZE_MAX;
    assert_int_equal(container_write(&c, &out, &out_size), AECIMG_ERR_TOO_LARGE);
    Params a = alpha_params();
    make_container(&a, &c);
    c.alpha_size = SIZE_MAX;
    assert_int_equal(container_write(&c, &out, &out_size), AECIMG_ERR_TOO_LARGE);
    assert_null(out);
}

/* ---------------------------------------------------------------- reader: whole-file damage */

static void test_defaults_are_valid(void **state)
{
    (void)state;
    Params p = default_params();
    assert_int_equal(read_params(&p), AECIMG_OK);
    p = alpha_params();
    assert_int_equal(read_params(&p), AECIMG_OK);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    static AecContainer c;
    assert_int_equal(container_read(NULL, 8, AECIMG_DEFAULT_MAX_PIXELS, &c), AECIMG_ERR_INVALID_ARGUMENT);
    assert_int_equal(container_read(pool, 8, AECIMG_DEFAULT_MAX_PIXELS, NULL), AECIMG_ERR_INVALID_ARGUMENT);
    assert_int_equal(container_read(NULL, 0, AECIMG_DEFAULT_MAX_PIXELS, &c), AECIMG_ERR_TRUNCATED);
}

static void test_bad_magic(void **state)
{
    (void)state;
    Params p = default_params();
    Buf b;
    build(&p, canonical_layout(&p), &b);
    b.d[1] = 'P'; /* a PNG's signature starts 89 50 */
    assert_int_equal(read_buf(&b), AECIMG_ERR_BAD_MAGIC);
    b.n = 3; /* wrong bytes beat shortness */
    assert_int_equal(read_buf(&b), AECIMG_ERR_BAD_MAGIC);
    build(&p, canonical_layout(&p), &b);
    b.d[4] = '\n'; /* CR LF turned into LF */
    memmove(b.d + 5, b.d + 6, b.n - 6);
    b.n--;
    assert_int_equal(read_buf(&b), AECIMG_ERR_BAD_MAGIC);
}

static void test_every_truncation(void **state)
{
    (void)state;
    static AecContainer c;
    Params p = alpha_params();
    Buf b;
    build(&p, "HMQLIPxDE", &b);
    for (size_t n = 0; n < b.n; n++)
        assert_int_equal(read_exact(b.d, n, AECIMG_DEFAULT_MAX_PIXELS, &c), AECIMG_ERR_TRUNCATED);
    assert_int_equal(read_exact(b.d, b.n, AECIMG_DEFAULT_MAX_PIXELS, &c), AECIMG_OK);
}

static void test_every_bit_flip(void **state)
{
    (void)state;
    static AecContainer c;
    Params p = alpha_params();
    Buf b;
    build(&p, "HMQLIPxDE", &b);
    for (size_t i = 0; i < b.n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.d[i] ^= (uint8_t)(1u << bit);
            int err = read_exact(b.d, b.n, AECIMG_DEFAULT_MAX_PIXELS, &c);
            b.d[i] ^= (uint8_t)(1u << bit);
            if (i < 8)
                assert_int_equal(err, AECIMG_ERR_BAD_MAGIC);
            else if (err != AECIMG_ERR_CRC_MISMATCH && err != AECIMG_ERR_TRUNCATED)
                assert_int_equal(err, AECIMG_ERR_CORRUPT); /* a length with bit 31 set */
        }
    }
}

static void test_crc_mismatch(void **state)
{
    (void)state;
    Params p = default_params();
    Buf b;
    build(&p, canonical_layout(&p), &b);
    b.d[b.n - 1] ^= 1; /* AEND's CRC */
    assert_int_equal(read_buf(&b), AECIMG_ERR_CRC_MISMATCH);
    build(&p, canonical_layout(&p), &b);
    b.d[8 + 8 + 2] ^= 0x10; /* a byte of AHDR's width, same length */
    assert_int_equal(read_buf(&b), AECIMG_ERR_CRC_MISMATCH);
    build(&p, "HMQLxDE", &b);
    size_t unknown_crc = 8 + 4 * 12 + 13 + 43 + 2 + 10 + 6 + 8;
    b.d[unknown_crc] ^= 0x80; /* even a chunk the reader skips */
    assert_int_equal(read_buf(&b), AECIMG_ERR_CRC_MISMATCH);
}

static void test_missing_end(void **state)
{
    (void)state;
    Params p = default_params();
    assert_int_equal(read_layout(&p, "HMQLID"), AECIMG_ERR_TRUNCATED);
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    Params p = default_params();
    Buf b;
    build(&p, canonical_layout(&p), &b);
    put_u8(&b, 0);
    assert_int_equal(read_buf(&b), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMQLIDEE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMQLIDEx"), AECIMG_ERR_CORRUPT);
}

/* ---------------------------------------------------------------- reader: chunk framing and order */

static void test_chunk_length_too_large(void **state)
{
    (void)state;
    Params p = default_params();
    Buf b;
    build(&p, "H", &b);
    put_u32(&b, AEC_MAX_CHUNK_SIZE + 1);
    put(&b, "teXt", 4);
    assert_int_equal(read_buf(&b), AECIMG_ERR_CORRUPT);
}

static void test_type_not_letters(void **state)
{
    (void)state;
    Params p = default_params();
    Buf b;
    build(&p, "HMQL", &b);
    put_chunk(&b, "te t", (const uint8_t *)"x", 1);
    Buf rest;
    build(&p, "IDE", &rest);
    put(&b, rest.d + 8, rest.n - 8);
    assert_int_equal(read_buf(&b), AECIMG_ERR_CORRUPT);
}

static void test_unknown_chunks(void **state)
{
    (void)state;
    Params p = default_params();
    assert_int_equal(read_layout(&p, "HMQLIXDE"), AECIMG_ERR_UNKNOWN_CRITICAL_CHUNK);
    assert_int_equal(read_layout(&p, "HxMQLxIDxE"), AECIMG_OK);
    /* Before AHDR even an ancillary chunk is out of place. */
    assert_int_equal(read_layout(&p, "xHMQLIDE"), AECIMG_ERR_CORRUPT);

    /* Skipping an unknown chunk leaves what the known ones said intact. */
    static AecContainer with, without;
    Buf b;
    build(&p, "HxMQLxIDxE", &b);
    assert_int_equal(container_read(b.d, b.n, AECIMG_DEFAULT_MAX_PIXELS, &with), AECIMG_OK);
    Buf plain;
    build(&p, "HMQLIDE", &plain);
    assert_int_equal(container_read(plain.d, plain.n, AECIMG_DEFAULT_MAX_PIXELS, &without), AECIMG_OK);
    assert_same_container(&without, &with);
}

static void test_wrong_order(void **state)
{
    (void)state;
    Params p = alpha_params();
    assert_int_equal(read_layout(&p, "MHQLIPDE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HQLIPDME"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMLIPDQE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMQIPDLE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMQLIDPE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMQLPDIE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "EHMQLIPD"), AECIMG_ERR_CORRUPT);
    /* Any order of the chunks between AHDR and ADAT is fine. */
    assert_int_equal(read_layout(&p, "HPILQMDE"), AECIMG_OK);
}

static void test_duplicates(void **state)
{
    (void)state;
    Params p = alpha_params();
    assert_int_equal(read_layout(&p, "HHMQLIPDE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMMQLIPDE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMQQLIPDE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMQLLIPDE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMQLIIPDE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMQLIPPDE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMQLIPDDE"), AECIMG_ERR_CORRUPT);
}

static void test_missing_chunks(void **state)
{
    (void)state;
    Params p = alpha_params();
    assert_int_equal(read_layout(&p, "MQLIPDE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HQLIPDE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMLIPDE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMQIPDE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "HMQLIPE"), AECIMG_ERR_CORRUPT);
    assert_int_equal(read_layout(&p, "E"), AECIMG_ERR_CORRUPT);
    /* iccp is optional. */
    assert_int_equal(read_layout(&p, "HMQLPDE"), AECIMG_OK);
}

static void test_end_not_empty(void **state)
{
    (void)state;
    Params p = default_params();
    assert_int_equal(read_layout(&p, "HMQLIDZ"), AECIMG_ERR_CORRUPT);
}

/* ---------------------------------------------------------------- reader and writer: AHDR */

static void test_unknown_version(void **state)
{
    (void)state;
    Params p = default_params();
    p.version = 3;
    assert_both_refuse(&p, 'H', AECIMG_ERR_UNSUPPORTED_VERSION);
    p.version = 0;
    assert_both_refuse(&p, 'H', AECIMG_ERR_UNSUPPORTED_VERSION);
    /* Version 2 exists only in the compact form (the writer writes that): an AHDR of 2 is unknown. */
    p.version = 2;
    assert_int_equal(read_params(&p), AECIMG_ERR_UNSUPPORTED_VERSION);
    /* A newer version's AHDR may be longer: still "unsupported", not "corrupt". */
    p.version = 3;
    p.resize_chunk = 'H';
    p.resize_by = 7;
    assert_int_equal(read_params(&p), AECIMG_ERR_UNSUPPORTED_VERSION);
}

static void test_header_size(void **state)
{
    (void)state;
    Params p = default_params();
    p.resize_chunk = 'H';
    p.resize_by = 1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p.resize_by = -1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p.resize_by = -13;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
}

static void test_absurd_dimensions(void **state)
{
    (void)state;
    Params p = default_params();
    p.width = 65536;
    assert_both_refuse(&p, 'H', AECIMG_ERR_TOO_LARGE);
    p = default_params();
    p.height = 0xffffffffu;
    assert_both_refuse(&p, 'H', AECIMG_ERR_TOO_LARGE);
    p = default_params();
    p.width = 0;
    assert_both_refuse(&p, 'H', AECIMG_ERR_CORRUPT);
    p = default_params();
    p.height = 0;
    assert_both_refuse(&p, 'H', AECIMG_ERR_CORRUPT);
}

static void test_max_pixels(void **state)
{
    (void)state;
    static AecContainer c;
    Params p = default_params();
    p.width = 1000;
    p.height = 1000;
    Buf b;
    build(&p, canonical_layout(&p), &b);
    assert_int_equal(read_exact(b.d, b.n, 999999, &c), AECIMG_ERR_TOO_LARGE);
    assert_int_equal(read_exact(b.d, b.n, 1000000, &c), AECIMG_OK);
    /* The limit is enforced at AHDR, before later chunks are looked at. */
    build(&p, "HX", &b);
    assert_int_equal(read_exact(b.d, b.n, 999999, &c), AECIMG_ERR_TOO_LARGE);
    p.width = p.height = 65535;
    build(&p, canonical_layout(&p), &b);
    assert_int_equal(read_exact(b.d, b.n, AECIMG_DEFAULT_MAX_PIXELS, &c), AECIMG_ERR_TOO_LARGE);
}

static void test_header_fields(void **state)
{
    (void)state;
    static const uint8_t bad_channels[] = {0, 5, 255};
    static const uint8_t bad_depths[] = {0, 17};
    Params p;
    for (size_t i = 0; i < sizeof bad_channels; i++) {
        p = default_params();
        p.channels = bad_channels[i];
        assert_both_refuse(&p, 'H', AECIMG_ERR_CORRUPT);
    }
    for (size_t i = 0; i < sizeof bad_depths; i++) {
        p = default_params();
        p.depth = bad_depths[i];
        assert_both_refuse(&p, 'H', AECIMG_ERR_CORRUPT);
    }
    p = default_params();
    p.ahdr_reserved = 0x8000;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p.ahdr_reserved = 1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
}

/* ---------------------------------------------------------------- reader and writer: other chunks */

static void test_model_chunk(void **state)
{
    (void)state;
    Params p = default_params();
    p.name = "";
    assert_both_refuse(&p, 'M', AECIMG_ERR_CORRUPT);
    p.name = "tab\tin name";
    assert_both_refuse(&p, 'M', AECIMG_ERR_CORRUPT);
    p.name = "del\x7fin name";
    assert_both_refuse(&p, 'M', AECIMG_ERR_CORRUPT);
    p.name = "non-ASCII \xc3\xa9";
    assert_both_refuse(&p, 'M', AECIMG_ERR_CORRUPT);

    p.name = "a name of sixty-four characters, one more than the limit allows.";
    assert_int_equal(strlen(p.name), 64);
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);

    p = default_params();
    p.name_length = 9; /* the stored length disagrees with the chunk's */
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p.name_length = -1;
    p.resize_chunk = 'M';
    p.resize_by = -(int)strlen(p.name) - 1; /* no name length byte at all */
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
}

static void test_quantizer_chunk(void **state)
{
    (void)state;
    Params p = default_params();
    p.quantizer = 2;
    assert_both_refuse(&p, 'Q', AECIMG_ERR_UNSUPPORTED);
    p.quantizer = 0;
    assert_both_refuse(&p, 'Q', AECIMG_ERR_UNSUPPORTED);
    /* Another quantizer may carry parameters: unsupported, whatever the size. */
    p.quantizer = 2;
    p.resize_chunk = 'Q';
    p.resize_by = 30;
    assert_int_equal(read_params(&p), AECIMG_ERR_UNSUPPORTED);

    p = default_params();
    p.quality = 101;
    assert_both_refuse(&p, 'Q', AECIMG_ERR_CORRUPT);
    p = default_params();
    p.resize_chunk = 'Q';
    p.resize_by = 1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p.resize_by = -1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p.resize_by = -2;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
}

static void test_latent_chunk(void **state)
{
    (void)state;
    Params p = default_params();
    p.latent_channels = 0;
    assert_both_refuse(&p, 'L', AECIMG_ERR_CORRUPT);
    p.latent_channels = AEC_MAX_LATENT_CHANNELS + 1;
    assert_both_refuse(&p, 'L', AECIMG_ERR_CORRUPT);
    p = default_params();
    p.latent_height = 0;
    assert_both_refuse(&p, 'L', AECIMG_ERR_CORRUPT);
    p.latent_height = p.height + 1;
    assert_both_refuse(&p, 'L', AECIMG_ERR_CORRUPT);
    p = default_params();
    p.latent_width = 0;
    assert_both_refuse(&p, 'L', AECIMG_ERR_CORRUPT);
    p.latent_width = p.width + 1;
    assert_both_refuse(&p, 'L', AECIMG_ERR_CORRUPT);
    p = default_params();
    p.resize_chunk = 'L';
    p.resize_by = -1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p.resize_by = 1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
}

static void test_payload_chunk(void **state)
{
    (void)state;
    Params p = default_params();
    p.entropy = 0;
    assert_both_refuse(&p, 'D', AECIMG_ERR_UNSUPPORTED);
    p.entropy = 4;
    assert_both_refuse(&p, 'D', AECIMG_ERR_UNSUPPORTED);
    p = default_params();
    p.stream_count = 0;
    assert_both_refuse(&p, 'D', AECIMG_ERR_CORRUPT);
    p = default_params();
    p.adat_reserved = 1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p = default_params();
    p.entropy = 4;
    p.resize_chunk = 'D';
    p.resize_by = -(4 + 3 * 4 + 12) + 1; /* one byte: too short before the stage matters */
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
}

/* A size table that would run past the end of the file: the reader must not look at it. */
static void test_payload_table_past_end(void **state)
{
    (void)state;
    Params p = default_params();
    Buf b;
    build(&p, "HMQLI", &b);
    uint8_t adat[4] = {1, 0, 0, 0};
    store_be16(adat + 2, AEC_MAX_STREAMS);
    put_chunk(&b, "ADAT", adat, sizeof adat);
    assert_int_equal(read_buf(&b), AECIMG_ERR_CORRUPT);
}

static void test_stream_count_over_limit(void **state)
{
    (void)state;
    static AecContainer c;
    Params p = default_params();
    make_container(&p, &c);
    c.stream_count = AEC_MAX_STREAMS + 1;
    uint8_t *out = NULL;
    size_t out_size = 0;
    assert_int_equal(container_write(&c, &out, &out_size), AECIMG_ERR_CORRUPT);
    /* In a file: 1025 sizes of 0, so that only the count is wrong. */
    Buf adat = {.n = 0};
    put_u8(&adat, 1);
    put_u8(&adat, 0);
    put_u16(&adat, AEC_MAX_STREAMS + 1);
    for (int i = 0; i < AEC_MAX_STREAMS + 1; i++)
        put_u32(&adat, 0);
    Buf b;
    build(&p, "HMQLI", &b);
    put_chunk(&b, "ADAT", adat.d, adat.n);
    put_chunk(&b, "AEND", NULL, 0);
    assert_int_equal(read_buf(&b), AECIMG_ERR_CORRUPT);
}

static void test_stream_sizes_must_add_up(void **state)
{
    (void)state;
    Params p = default_params();
    p.payload_delta = 1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p.payload_delta = -1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p = default_params();
    p.stream_sizes[1] = 0xffffffffu; /* 5 + (2^32 - 1) + 8 is 12 modulo 2^32 */
    p.stream_sizes[2] = 8;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p = default_params();
    p.resize_chunk = 'D';
    p.resize_by = -(12 + 5); /* the chunk ends inside the size table */
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
}

static void test_alpha_chunk(void **state)
{
    (void)state;
    Params p = alpha_params();
    p.alpha_method = 0; /* the builder then leaves ALPH out */
    assert_both_refuse(&p, 'E', AECIMG_ERR_CORRUPT);
    p.channels = 2;
    assert_both_refuse(&p, 'E', AECIMG_ERR_CORRUPT);

    p = alpha_params();
    p.channels = 3;
    assert_both_refuse(&p, 'P', AECIMG_ERR_CORRUPT);
    p.channels = 1;
    assert_both_refuse(&p, 'P', AECIMG_ERR_CORRUPT);

    p = alpha_params();
    p.alpha_method = 2;
    assert_both_refuse(&p, 'P', AECIMG_ERR_UNSUPPORTED);
    p = alpha_params();
    p.alpha_size = 0;
    assert_both_refuse(&p, 'P', AECIMG_ERR_CORRUPT);
    p.resize_chunk = 'P';
    p.resize_by = -1; /* not even a method byte */
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p = alpha_params();
    assert_int_equal(read_layout(&p, "HMQLIDE"), AECIMG_ERR_CORRUPT);
    p.alpha_method = 0; /* an ALPH chunk that says "method 0" */
    assert_int_equal(read_layout(&p, "HMQLIPDE"), AECIMG_ERR_UNSUPPORTED);
}

static void test_icc_chunk(void **state)
{
    (void)state;
    static AecContainer c;
    Params p = default_params();
    p.icc_size = 0;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p.resize_chunk = 'I';
    p.resize_by = -1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);

    /* An encoding this reader does not know drops the profile, but the chunk still counts. */
    p = default_params();
    p.icc_compression = 1;
    Buf b;
    build(&p, "HMQLIDE", &b);
    assert_int_equal(read_exact(b.d, b.n, AECIMG_DEFAULT_MAX_PIXELS, &c), AECIMG_OK);
    assert_null(c.icc);
    assert_int_equal(c.icc_size, 0);
    assert_int_equal(read_layout(&p, "HMQLIIDE"), AECIMG_ERR_CORRUPT);
}

static void test_reader_points_into_input(void **state)
{
    (void)state;
    static AecContainer c;
    Params p = alpha_params();
    Buf b;
    build(&p, canonical_layout(&p), &b);
    assert_int_equal(container_read(b.d, b.n, AECIMG_DEFAULT_MAX_PIXELS, &c), AECIMG_OK);
    const uint8_t *end = b.d + b.n;
    assert_true(c.icc > b.d && c.icc + c.icc_size < end);
    assert_true(c.alpha > b.d && c.alpha + c.alpha_size < end);
    assert_true(c.streams[0] > b.d && c.streams[2] + c.stream_sizes[2] < end);
    assert_memory_equal(c.icc, pool + 200, p.icc_size);
    assert_memory_equal(c.alpha, pool + 100, p.alpha_size);
    assert_memory_equal(c.streams[0], pool, 5);
    assert_ptr_equal(c.streams[1], c.streams[0] + 5);
    assert_memory_equal(c.streams[2], pool + 5, 7);
    assert_int_equal(c.payload_size, 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_check_value),
        cmocka_unit_test(test_crc_matches_bitwise_and_chains),
        cmocka_unit_test(test_round_trip_rgb_icc),
        cmocka_unit_test(test_round_trip_rgba_icc),
        cmocka_unit_test(test_round_trip_gray_alpha_no_icc),
        cmocka_unit_test(test_round_trip_gray_single_stream),
        cmocka_unit_test(test_round_trip_limits),
        cmocka_unit_test(test_round_trip_max_streams),
        cmocka_unit_test(test_writer_refuses_bad_arguments),
        cmocka_unit_test(test_writer_refuses_bad_name),
        cmocka_unit_test(test_writer_refuses_oversized_chunks),
        cmocka_unit_test(test_defaults_are_valid),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_crc_mismatch),
        cmocka_unit_test(test_missing_end),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_chunk_length_too_large),
        cmocka_unit_test(test_type_not_letters),
        cmocka_unit_test(test_unknown_chunks),
        cmocka_unit_test(test_wrong_order),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_missing_chunks),
        cmocka_unit_test(test_end_not_empty),
        cmocka_unit_test(test_unknown_version),
        cmocka_unit_test(test_header_size),
        cmocka_unit_test(test_absurd_dimensions),
        cmocka_unit_test(test_max_pixels),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_model_chunk),
        cmocka_unit_test(test_quantizer_chunk),
        cmocka_unit_test(test_latent_chunk),
        cmocka_unit_test(test_payload_chunk),
        cmocka_unit_test(test_payload_table_past_end),
        cmocka_unit_test(test_stream_count_over_limit),
        cmocka_unit_test(test_stream_sizes_must_add_up),
        cmocka_unit_test(test_alpha_chunk),
        cmocka_unit_test(test_icc_chunk),
        cmocka_unit_test(test_reader_points_into_input),
    };
    return cmocka_run_group_tests(tests, setup_pool, NULL);
}
