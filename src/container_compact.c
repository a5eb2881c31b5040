/* container_compact.c: the compact form of .aec files (version 2, doc/container.md section 9). */
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "internal.h"

#define FORM_BYTE (AEC_FORM_COMPACT | AEC_FORMAT_VERSION_COMPACT)
#define FIXED_END 25 /* signature, form, width, height, pixel, quality, quantizer, entropy, model id */
#define VARINT_MAX_BYTES 5 /* 2^31-1 needs 31 bits */
#define VARINT_MAX_VALUE AEC_MAX_CHUNK_SIZE
#define PIXEL_CHANNELS 0x07
#define PIXEL_DEPTH_SHIFT 3
#define PIXEL_ICC 0x80

/* ---------------------------------------------------------------- reader */

/* The header is read front to back; running out of bytes is truncation, since a complete header
 * cannot be shorter than the fields it announces. */
typedef struct Cursor {
    const uint8_t *data;
    size_t size, pos;
} Cursor;

static int take(Cursor *r, size_t n, const uint8_t **p)
{
    RETURN_ERROR_IF(r->size - r->pos < n, AECIMG_ERR_TRUNCATED);
    *p = r->data + r->pos;
    r->pos += n;
    return AECIMG_OK;
}

static int take_u8(Cursor *r, uint32_t *v)
{
    const uint8_t *p;
    FORWARD_IF_ERROR(take(r, 1, &p));
    *v = p[0];
    return AECIMG_OK;
}

/* Only the shortest encoding is valid: every value has one spelling, so equal inputs give equal
 * files and a header has no padding bytes for damage to hide in. */
static int take_varint(Cursor *r, uint32_t *v)
{
    uint64_t value = 0;
    for (int i = 0; i < VARINT_MAX_BYTES; i++) {
        uint32_t b;
        FORWARD_IF_ERROR(take_u8(r, &b));
        value |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            RETURN_ERROR_IF(i > 0 && b == 0, AECIMG_ERR_CORRUPT);
            RETURN_ERROR_IF(value > VARINT_MAX_VALUE, AECIMG_ERR_CORRUPT);
            *v = (uint32_t)value;
            return AECIMG_OK;
        }
    }
    return AECIMG_ERR_CORRUPT;
}

/* The optional sections of a file, as its header announces them. */
typedef struct Sections {
    int alpha, icc;      /* whether the header has the alpha and the ICC section */
    uint32_t icc_method; /* AEC_ICC_* */
    uint32_t icc_size;
} Sections;

static int read_fixed(Cursor *r, AecContainer *c, Sections *s)
{
    const uint8_t *p;
    FORWARD_IF_ERROR(take(r, FIXED_END - AEC_SIGNATURE_SIZE, &p));
    c->format_version = AEC_FORMAT_VERSION_COMPACT;
    c->width = load_be16(p + 1);
    c->height = load_be16(p + 3);
    c->channels = p[5] & PIXEL_CHANNELS;
    c->source_bit_depth = ((p[5] >> PIXEL_DEPTH_SHIFT) & 0x0f) + 1;
    c->quality = p[6];
    c->quantizer = p[7];
    c->entropy = p[8];
    memcpy(c->model_hash, p + 9, AEC_MODEL_ID_SIZE);
    c->model_hash_size = AEC_MODEL_ID_SIZE;
    s->alpha = c->channels == 2 || c->channels == 4;
    s->icc = (p[5] & PIXEL_ICC) != 0;
    return AECIMG_OK;
}

/* Sizes of the parts after the header, in the order of the header's table. */
static int read_sizes(Cursor *r, AecContainer *c, Sections *s)
{
    FORWARD_IF_ERROR(take_varint(r, &c->stream_count));
    /* Bounded before the loop: the table is sized for AEC_MAX_STREAMS. */
    RETURN_ERROR_IF(c->stream_count < 1 || c->stream_count > AEC_MAX_STREAMS, AECIMG_ERR_CORRUPT);
    for (uint32_t i = 0; i < c->stream_count; i++) {
        uint32_t n;
        FORWARD_IF_ERROR(take_varint(r, &n));
        c->stream_sizes[i] = n;
    }
    if (s->alpha) {
        uint32_t n;
        FORWARD_IF_ERROR(take_u8(r, &c->alpha_method));
        FORWARD_IF_ERROR(take_varint(r, &n));
        c->alpha_size = n;
    }
    if (s->icc) {
        FORWARD_IF_ERROR(take_u8(r, &s->icc_method));
        FORWARD_IF_ERROR(take_varint(r, &s->icc_size));
    }
    return AECIMG_OK;
}

/* Unknown identifiers first ("unsupported" is the truthful answer), then the values. */
static int check_fields(const AecContainer *c, const Sections *s, uint64_t max_pixels)
{
    RETURN_ERROR_IF(c->quantizer != AEC_QUANTIZER_GAIN_UNIFORM, AECIMG_ERR_UNSUPPORTED);
    FORWARD_IF_ERROR(container_check_payload(c));
    RETURN_ERROR_IF(s->alpha && c->alpha_method != AEC_ALPHA_ZSTD_LEFT, AECIMG_ERR_UNSUPPORTED);
    FORWARD_IF_ERROR(container_check_header(c));
    FORWARD_IF_ERROR(container_check_quantizer(c));
    FORWARD_IF_ERROR(container_check_alpha(c, s->alpha));
    RETURN_ERROR_IF(s->icc && s->icc_size == 0, AECIMG_ERR_CORRUPT);
    RETURN_ERROR_IF((uint64_t)c->width * c->height > max_pixels, AECIMG_ERR_TOO_LARGE);
    return AECIMG_OK;
}

/* Each part is below 2^31 and there are at most 1026: the sum fits in 64 bits. */
static uint64_t body_size(const AecContainer *c, uint64_t icc_size)
{
    uint64_t total = (uint64_t)c->alpha_size + icc_size;
    for (uint32_t i = 0; i < c->stream_count; i++)
        total += c->stream_sizes[i];
    return total;
}

/* Points the streams, alpha plane and profile into the body. */
static void place_body(AecContainer *c, const Sections *s, const uint8_t *body)
{
    for (uint32_t i = 0; i < c->stream_count; i++) {
        c->streams[i] = body;
        body += c->stream_sizes[i];
        c->payload_size += c->stream_sizes[i];
    }
    if (s->alpha) {
        c->alpha = body;
        body += c->alpha_size;
    }
    /* As with iccp, a profile in an unknown encoding is dropped, not an error. */
    if (s->icc && s->icc_method == AEC_ICC_RAW) {
        c->icc = body;
        c->icc_size = s->icc_size;
    }
}

int container_read_compact(const uint8_t *data, size_t size, uint64_t max_pixels, AecContainer *c)
{
    /* Versions 0 and 1 never had a compact form: such a byte is damage (a chunk length with bit 31 set,
     * as version 1 readers see it).  A later version is judged before anything else: it may lay out
     * everything after the form byte differently. */
    const uint8_t form = data[AEC_SIGNATURE_SIZE];
    RETURN_ERROR_IF(form < FORM_BYTE, AECIMG_ERR_CORRUPT);
    RETURN_ERROR_IF(form != FORM_BYTE, AECIMG_ERR_UNSUPPORTED_VERSION);
    Cursor r = {data, size, AEC_SIGNATURE_SIZE};
    Sections s = {0, 0, AEC_ICC_RAW, 0};
    FORWARD_IF_ERROR(read_fixed(&r, c, &s));
    FORWARD_IF_ERROR(read_sizes(&r, c, &s));
    const size_t header_end = r.pos;
    const uint8_t *crc;
    FORWARD_IF_ERROR(take(&r, 4, &crc));
    RETURN_ERROR_IF(container_crc32(0, data + AEC_SIGNATURE_SIZE, header_end - AEC_SIGNATURE_SIZE) != load_be32(crc),
                    AECIMG_ERR_CRC_MISMATCH);
    FORWARD_IF_ERROR(check_fields(c, &s, max_pixels));
    const uint64_t body = body_size(c, s.icc_size), left = size - r.pos;
    RETURN_ERROR_IF(left < body + 4, AECIMG_ERR_TRUNCATED);
    RETURN_ERROR_IF(left > body + 4, AECIMG_ERR_CORRUPT); /* one file, one image */
    const uint8_t *b = data + r.pos;
    RETURN_ERROR_IF(container_crc32(0, b, (size_t)body) != load_be32(b + body), AECIMG_ERR_CRC_MISMATCH);
    place_body(c, &s, b);
    return AECIMG_OK;
}

/* ---------------------------------------------------------------- writer */

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7)
        n++;
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    for (; v >= 0x80; v >>= 7)
        *p++ = (uint8_t)(v | 0x80);
    *p++ = (uint8_t)v;
    return p;
}

static uint8_t *put_bytes(uint8_t *p, const void *bytes, size_t size)
{
    if (size) /* bytes may be NULL when size is 0 */
        memcpy(p, bytes, size);
    return p + size;
}

static int check_for_writing(const AecContainer *c)
{
    FORWARD_IF_ERROR(container_check_header(c));
    FORWARD_IF_ERROR(container_check_quantizer(c));
    FORWARD_IF_ERROR(container_check_payload(c));
    FORWARD_IF_ERROR(container_check_pointers(c));
    FORWARD_IF_ERROR(container_check_alpha(c, c->alpha_method != 0));
    RETURN_ERROR_IF(c->icc && c->icc_size == 0, AECIMG_ERR_CORRUPT);
    RETURN_ERROR_IF(c->alpha_size > VARINT_MAX_VALUE || c->icc_size > VARINT_MAX_VALUE, AECIMG_ERR_TOO_LARGE);
    for (uint32_t i = 0; i < c->stream_count; i++)
        RETURN_ERROR_IF(c->stream_sizes[i] > VARINT_MAX_VALUE, AECIMG_ERR_TOO_LARGE);
    return AECIMG_OK;
}

/* Bytes from the form byte to the end of the header, without its CRC. */
static size_t header_size(const AecContainer *c)
{
    size_t n = FIXED_END - AEC_SIGNATURE_SIZE + varint_size(c->stream_count);
    for (uint32_t i = 0; i < c->stream_count; i++)
        n += varint_size(c->stream_sizes[i]);
    if (c->alpha_method)
        n += 1 + varint_size(c->alpha_size);
    if (c->icc)
        n += 1 + varint_size(c->icc_size);
    return n;
}

static uint8_t *put_header(uint8_t *p, const AecContainer *c)
{
    *p++ = FORM_BYTE;
    store_be16(p, (uint16_t)c->width);
    store_be16(p + 2, (uint16_t)c->height);
    p[4] = (uint8_t)(c->channels | (c->source_bit_depth - 1) << PIXEL_DEPTH_SHIFT | (c->icc ? PIXEL_ICC : 0));
    p[5] = (uint8_t)c->quality;
    p[6] = (uint8_t)c->quantizer;
    p[7] = (uint8_t)c->entropy;
    p = put_bytes(p + 8, c->model_hash, AEC_MODEL_ID_SIZE);
    p = put_varint(p, c->stream_count);
    for (uint32_t i = 0; i < c->stream_count; i++)
        p = put_varint(p, c->stream_sizes[i]);
    if (c->alpha_method) {
        *p++ = (uint8_t)c->alpha_method;
        p = put_varint(p, c->alpha_size);
    }
    if (c->icc) {
        *p++ = AEC_ICC_RAW;
        p = put_varint(p, c->icc_size);
    }
    return p;
}

static uint8_t *put_body(uint8_t *p, const AecContainer *c)
{
    for (uint32_t i = 0; i < c->stream_count; i++)
        p = put_bytes(p, c->streams[i], c->stream_sizes[i]);
    if (c->alpha_method)
        p = put_bytes(p, c->alpha, c->alpha_size);
    if (c->icc)
        p = put_bytes(p, c->icc, c->icc_size);
    return p;
}

int container_write_compact(const AecContainer *c, uint8_t **out, size_t *out_size)
{
    FORWARD_IF_ERROR(check_for_writing(c));
    const size_t header = header_size(c);
    const uint64_t body = body_size(c, c->icc ? c->icc_size : 0), total = AEC_SIGNATURE_SIZE + header + 4 + body + 4;
    RETURN_ERROR_IF(total > SIZE_MAX, AECIMG_ERR_TOO_LARGE); /* possible where size_t has 32 bits */
    uint8_t *buf = malloc((size_t)total);
    RETURN_ERROR_IF(!buf, AECIMG_ERR_NO_MEMORY);
    uint8_t *p = put_bytes(buf, container_signature, AEC_SIGNATURE_SIZE);
    p = put_header(p, c);
    store_be32(p, container_crc32(0, buf + AEC_SIGNATURE_SIZE, header));
    uint8_t *b = p + 4;
    p = put_body(b, c);
    store_be32(p, container_crc32(0, b, (size_t)body));
    *out = buf;
    *out_size = (size_t)total;
    return AECIMG_OK;
}
