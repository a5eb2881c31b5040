/* test_container_compact.c: the compact form (version 2): layout, round trips, and every reader check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "container.h"
#include "internal.h"

/* Field values of a test file, written byte by byte without container_compact.c, so that reader and
 * writer are both checked against this second encoding of doc/container.md section 9. */
typedef struct Params {
    uint8_t form;
    uint16_t width, height;
    uint8_t channels, depth; /* packed into the pixel byte with has_icc */
    uint8_t quality, quantizer, entropy;
    uint32_t stream_count;
    uint32_t stream_sizes[4];
    uint8_t alpha_method; /* written when channels is 2 or 4 */
    uint32_t alpha_size;
    int has_icc;
    uint8_t icc_compression;
    uint32_t icc_size;
    long body_delta;  /* body bytes written beyond (or short of) what the sizes say */
    int overlong;     /* write stream_count as a two-byte varint */
} Params;

static uint8_t pool[4096];
static const uint8_t model_hash[32] = {
    0xda, 0xe0, 0xdd, 0xe6, 0x7e, 0xd3, 0xa7, 0xd5, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
};

static int setup_pool(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof pool; i++)
        pool[i] = (uint8_t)(i * 131 + 7);
    return 0;
}

/* RGBA with a profile and three streams, one empty and one with a two-byte size. */
static Params full_params(void)
{
    Params p = {
        .form = 0x82, .width = 300, .height = 7, .channels = 4, .depth = 8,
        .quality = 75, .quantizer = 1, .entropy = 3,
        .stream_count = 3, .stream_sizes = {5, 0, 200},
        .alpha_method = 1, .alpha_size = 6, .has_icc = 1, .icc_compression = 0, .icc_size = 10,
    };
    return p;
}

static Params gray_params(void)
{
    Params p = {
        .form = 0x82, .width = 28, .height = 28, .channels = 1, .depth = 8,
        .quality = 75, .quantizer = 1, .entropy = 3, .stream_count = 1, .stream_sizes = {130},
    };
    return p;
}

typedef struct Buf {
    uint8_t d[8192];
    size_t n;
} Buf;

static void put(Buf *b, const void *bytes, size_t n)
{
    assert_true(b->n + n <= sizeof b->d);
    if (n)
        memcpy(b->d + b->n, bytes, n);
    b->n += n;
}

static void put_u8(Buf *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put_varint(Buf *b, uint32_t v)
{
    while (v >= 0x80) {
        put_u8(b, (uint8_t)(0x80 | (v & 0x7f)));
        v >>= 7;
    }
    put_u8(b, (uint8_t)v);
}

static void put_crc(Buf *b, size_t from)
{
    uint8_t x[4];
    store_be32(x, container_crc32(0, b->d + from, b->n - from));
    put(b, x, 4);
}

static int has_alpha(const Params *p)
{
    return p->channels == 2 || p->channels == 4;
}

static uint32_t body_bytes(const Params *p)
{
    uint32_t n = (has_alpha(p) ? p->alpha_size : 0) + (p->has_icc ? p->icc_size : 0);
    for (uint32_t i = 0; i < p->stream_count && i < 4; i++)
        n += p->stream_sizes[i];
    return n;
}

static void build(const Params *p, Buf *b)
{
    b->n = 0;
    put(b, "\x8a" "AEC\r\n\x1a\n", 8);
    put_u8(b, p->form);
    uint8_t wh[4];
    store_be16(wh, p->width);
    store_be16(wh + 2, p->height);
    put(b, wh, 4);
    put_u8(b, (uint8_t)(p->channels | (p->depth - 1) << 3 | (p->has_icc ? 0x80 : 0)));
    put_u8(b, p->quality);
    put_u8(b, p->quantizer);
    put_u8(b, p->entropy);
    put(b, model_hash, 8);
    if (p->overlong) {
        put_u8(b, (uint8_t)(0x80 | p->stream_count));
        put_u8(b, 0);
    } else {
        put_varint(b, p->stream_count);
    }
    for (uint32_t i = 0; i < p->stream_count && i < 4; i++)
        put_varint(b, p->stream_sizes[i]);
    if (has_alpha(p)) {
        put_u8(b, p->alpha_method);
        put_varint(b, p->alpha_size);
    }
    if (p->has_icc) {
        put_u8(b, p->icc_compression);
        put_varint(b, p->icc_size);
    }
    put_crc(b, 8);
    size_t body = b->n, n = body_bytes(p) + (size_t)p->body_delta;
    assert_true(n <= sizeof pool);
    put(b, pool, n);
    put_crc(b, body);
}

/* The container the writer needs for p: streams, alpha and profile cut from the pool in body order. */
static void make_container(const Params *p, AecContainer *c)
{
    memset(c, 0, sizeof *c);
    c->format_version = p->form & 0x7f;
    c->width = p->width;
    c->height = p->height;
    c->channels = p->channels;
    c->source_bit_depth = p->depth;
    memcpy(c->model_hash, model_hash, 32);
    c->quantizer = p->quantizer;
    c->quality = p->quality;
    c->entropy = p->entropy;
    c->stream_count = p->stream_count;
    size_t off = 0;
    for (uint32_t i = 0; i < p->stream_count && i < 4; i++) {
        c->streams[i] = pool + off;
        c->stream_sizes[i] = p->stream_sizes[i];
        off += p->stream_sizes[i];
    }
    if (has_alpha(p)) {
        c->alpha_method = p->alpha_method;
        c->alpha = pool + off;
        c->alpha_size = p->alpha_size;
        off += p->alpha_size;
    }
    if (p->has_icc) {
        c->icc = pool + off;
        c->icc_size = p->icc_size;
    }
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

static int read_params(const Params *p)
{
    static AecContainer c;
    static Buf b;
    build(p, &b);
    return read_exact(b.d, b.n, AECIMG_DEFAULT_MAX_PIXELS, &c);
}

static int write_params(const Params *p)
{
    static AecContainer c;
    make_container(p, &c);
    uint8_t *out = NULL;
    size_t size = 0;
    int err = container_write(&c, &out, &size);
    free(out);
    return err;
}

/* ---------------------------------------------------------------- layout and round trips */

static void round_trip(const Params *p)
{
    static AecContainer in, back;
    static Buf expected;
    make_container(p, &in);
    uint8_t *file = NULL;
    size_t size = 0;
    assert_int_equal(container_write(&in, &file, &size), AECIMG_OK);
    build(p, &expected);
    assert_int_equal(size, expected.n);
    assert_memory_equal(file, expected.d, size);
    assert_int_equal(container_read(file, size, (uint64_t)p->width * p->height, &back), AECIMG_OK);
    assert_int_equal(back.format_version, AEC_FORMAT_VERSION_COMPACT);
    assert_int_equal(back.width, p->width);
    assert_int_equal(back.height, p->height);
    assert_int_equal(back.channels, p->channels);
    assert_int_equal(back.source_bit_depth, p->depth);
    assert_int_equal(back.quality, p->quality);
    assert_int_equal(back.quantizer, p->quantizer);
    assert_int_equal(back.entropy, p->entropy);
    assert_int_equal(back.model_hash_size, AEC_MODEL_ID_SIZE);
    assert_memory_equal(back.model_hash, model_hash, AEC_MODEL_ID_SIZE);
    assert_string_equal(back.model_name, "");
    assert_int_equal(back.latent_channels, 0); /* derived from the model by the codec */
    assert_int_equal(back.stream_count, p->stream_count);
    size_t total = 0;
    for (uint32_t i = 0; i < p->stream_count; i++) {
        assert_int_equal(back.stream_sizes[i], p->stream_sizes[i]);
        assert_memory_equal(back.streams[i], in.streams[i], p->stream_sizes[i]);
        total += p->stream_sizes[i];
    }
    assert_int_equal(back.payload_size, total);
    assert_int_equal(back.alpha_method, in.alpha_method);
    assert_int_equal(back.alpha_size, in.alpha_size);
    if (in.alpha_size)
        assert_memory_equal(back.alpha, in.alpha, in.alpha_size);
    assert_int_equal(back.icc_size, in.icc_size);
    if (in.icc_size)
        assert_memory_equal(back.icc, in.icc, in.icc_size);
    free(file);
}

static void test_round_trips(void **state)
{
    (void)state;
    Params p = full_params();
    round_trip(&p);
    p.channels = 2;
    p.has_icc = 0;
    p.depth = 16;
    round_trip(&p);
    p = gray_params();
    p.width = p.height = 65535;
    p.depth = 1;
    round_trip(&p);
}

/* The numbers of doc/container.md section 9.4: 36 bytes of container for a small gray image. */
static void test_small_gray_overhead(void **state)
{
    (void)state;
    Params p = gray_params();
    static Buf b;
    build(&p, &b);
    assert_int_equal(b.n - p.stream_sizes[0], 36);
    static const uint8_t head[] = {0x8a, 'A', 'E', 'C', '\r', '\n', 0x1a, '\n', 0x82, 0x00, 0x1c, 0x00, 0x1c,
                                   0x39, 75, 1, 3, 0xda, 0xe0, 0xdd, 0xe6, 0x7e, 0xd3, 0xa7, 0xd5, 0x01,
                                   0x82, 0x01};
    assert_memory_equal(b.d, head, sizeof head);
    round_trip(&p);
}

/* ---------------------------------------------------------------- damage */

static void test_every_truncation(void **state)
{
    (void)state;
    static AecContainer c;
    static Buf b;
    Params p = full_params();
    build(&p, &b);
    for (size_t n = 0; n < b.n; n++)
        assert_int_equal(read_exact(b.d, n, AECIMG_DEFAULT_MAX_PIXELS, &c), AECIMG_ERR_TRUNCATED);
    assert_int_equal(read_exact(b.d, b.n, AECIMG_DEFAULT_MAX_PIXELS, &c), AECIMG_OK);
}

/* No single flipped bit goes unnoticed, and each gives one of the container's clean errors. */
static void test_every_bit_flip(void **state)
{
    (void)state;
    static AecContainer c;
    static Buf b;
    Params p = full_params();
    build(&p, &b);
    for (size_t i = 0; i < b.n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.d[i] ^= (uint8_t)(1u << bit);
            int err = read_exact(b.d, b.n, AECIMG_DEFAULT_MAX_PIXELS, &c);
            b.d[i] ^= (uint8_t)(1u << bit);
            if (i < 8)
                assert_int_equal(err, AECIMG_ERR_BAD_MAGIC);
            else if (err != AECIMG_ERR_CRC_MISMATCH && err != AECIMG_ERR_TRUNCATED &&
                     err != AECIMG_ERR_UNSUPPORTED_VERSION)
                assert_int_equal(err, AECIMG_ERR_CORRUPT); /* a form byte or varint made invalid */
        }
    }
}

static void test_trailing_and_short_body(void **state)
{
    (void)state;
    Params p = full_params();
    p.body_delta = 1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p.body_delta = -1;
    assert_int_equal(read_params(&p), AECIMG_ERR_TRUNCATED);
}

static void test_crcs(void **state)
{
    (void)state;
    static AecContainer c;
    static Buf b;
    Params p = gray_params();
    build(&p, &b);
    b.d[b.n - 1] ^= 1; /* body CRC */
    assert_int_equal(read_exact(b.d, b.n, AECIMG_DEFAULT_MAX_PIXELS, &c), AECIMG_ERR_CRC_MISMATCH);
    build(&p, &b);
    b.d[30] ^= 1; /* header CRC */
    assert_int_equal(read_exact(b.d, b.n, AECIMG_DEFAULT_MAX_PIXELS, &c), AECIMG_ERR_CRC_MISMATCH);
    build(&p, &b);
    b.d[40] ^= 1; /* a payload byte */
    assert_int_equal(read_exact(b.d, b.n, AECIMG_DEFAULT_MAX_PIXELS, &c), AECIMG_ERR_CRC_MISMATCH);
}

/* ---------------------------------------------------------------- field checks, reader and writer */

static void test_form_byte(void **state)
{
    (void)state;
    Params p = gray_params();
    p.form = 0x80; /* versions 0 and 1 have no compact form */
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p.form = 0x81;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p.form = 0x83;
    assert_int_equal(read_params(&p), AECIMG_ERR_UNSUPPORTED_VERSION);
    p.form = 0xff;
    assert_int_equal(read_params(&p), AECIMG_ERR_UNSUPPORTED_VERSION);
    p.form = 0x83; /* the writer knows versions 1 and 2 only */
    assert_int_equal(write_params(&p), AECIMG_ERR_UNSUPPORTED_VERSION);
}

static void test_varints(void **state)
{
    (void)state;
    Params p = gray_params();
    p.overlong = 1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p = gray_params();
    p.stream_count = 0;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    assert_int_equal(write_params(&p), AECIMG_ERR_CORRUPT);
    p.stream_count = AEC_MAX_STREAMS + 1;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    /* A size above 2^31-1 is refused while the header is read, before any sum. */
    p = gray_params();
    p.stream_sizes[0] = 0x80000000u;
    p.body_delta = -(long)0x80000000u;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
}

static void test_fields(void **state)
{
    (void)state;
    Params p = gray_params();
    p.quantizer = 2;
    assert_int_equal(read_params(&p), AECIMG_ERR_UNSUPPORTED);
    assert_int_equal(write_params(&p), AECIMG_ERR_UNSUPPORTED);
    p = gray_params();
    p.entropy = 4;
    assert_int_equal(read_params(&p), AECIMG_ERR_UNSUPPORTED);
    assert_int_equal(write_params(&p), AECIMG_ERR_UNSUPPORTED);
    p = gray_params();
    p.width = 0;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    assert_int_equal(write_params(&p), AECIMG_ERR_CORRUPT);
    p = gray_params();
    p.channels = 5;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p.channels = 0;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p = gray_params();
    p.quality = 101;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    assert_int_equal(write_params(&p), AECIMG_ERR_CORRUPT);
}

static void test_pixel_limit(void **state)
{
    (void)state;
    static AecContainer c;
    static Buf b;
    Params p = gray_params();
    build(&p, &b);
    assert_int_equal(read_exact(b.d, b.n, 28 * 28 - 1, &c), AECIMG_ERR_TOO_LARGE);
    assert_int_equal(read_exact(b.d, b.n, 28 * 28, &c), AECIMG_OK);
}

static void test_alpha_and_icc_sections(void **state)
{
    (void)state;
    Params p = full_params();
    p.alpha_method = 2;
    assert_int_equal(read_params(&p), AECIMG_ERR_UNSUPPORTED);
    assert_int_equal(write_params(&p), AECIMG_ERR_UNSUPPORTED);
    p.alpha_method = 0;
    assert_int_equal(read_params(&p), AECIMG_ERR_UNSUPPORTED);
    p = full_params();
    p.alpha_size = 0;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    p = full_params();
    p.icc_size = 0;
    assert_int_equal(read_params(&p), AECIMG_ERR_CORRUPT);
    /* A profile in an unknown encoding is skipped, as iccp's is. */
    p = full_params();
    p.icc_compression = 7;
    static AecContainer c;
    static Buf b;
    build(&p, &b);
    assert_int_equal(read_exact(b.d, b.n, AECIMG_DEFAULT_MAX_PIXELS, &c), AECIMG_OK);
    assert_null(c.icc);
    assert_int_equal(c.icc_size, 0);
    assert_int_equal(c.alpha_size, p.alpha_size);
}

static void test_writer_limits(void **state)
{
    (void)state;
    static AecContainer c;
    Params p = gray_params();
    make_container(&p, &c);
    c.width = 65536;
    uint8_t *out = NULL;
    size_t size = 0;
    assert_int_equal(container_write(&c, &out, &size), AECIMG_ERR_TOO_LARGE);
    make_container(&p, &c);
    c.stream_sizes[0] = (size_t)AEC_MAX_CHUNK_SIZE + 1;
    assert_int_equal(container_write(&c, &out, &size), AECIMG_ERR_TOO_LARGE);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_small_gray_overhead),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_trailing_and_short_body),
        cmocka_unit_test(test_crcs),
        cmocka_unit_test(test_form_byte),
        cmocka_unit_test(test_varints),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_pixel_limit),
        cmocka_unit_test(test_alpha_and_icc_sections),
        cmocka_unit_test(test_writer_limits),
    };
    return cmocka_run_group_tests(tests, setup_pool, NULL);
}
