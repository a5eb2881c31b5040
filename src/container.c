/* container.c: the .aec chunk form (version 1): CRC-32, validating reader and writer (doc/container.md). */
#include "container.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

const uint8_t container_signature[AEC_SIGNATURE_SIZE] = {0x8a, 'A', 'E', 'C', '\r', '\n', 0x1a, '\n'};

#define CHUNK_OVERHEAD 12 /* length, type, CRC */
#define AHDR_SIZE 13
#define AMDL_FIXED 33     /* hash and name length, before the name */
#define AQNT_SIZE 2
#define ALAT_SIZE 10
#define ADAT_FIXED 4      /* entropy, reserved, stream count, before the size table */

/* CRC-32/ISO-HDLC, reflected polynomial 0xEDB88320, one entry per byte value. */
static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
    0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
    0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
    0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
    0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
    0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
    0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
    0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
    0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
    0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
    0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
    0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
    0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
    0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
    0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
    0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
    0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
    0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
    0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
    0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
    0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
    0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
    0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
    0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
    0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
    0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
    0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
    0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
    0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
    0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
    0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
    0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
    0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
    0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
    0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
    0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
    0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t container_crc32(uint32_t crc, const uint8_t *data, size_t size)
{
    crc = ~crc;
    for (size_t i = 0; i < size; i++)
        crc = crc_table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---------------------------------------------------------------- field checks (reader and writer) */

int container_check_header(const AecContainer *c)
{
    RETURN_ERROR_IF(c->format_version != AEC_FORMAT_VERSION && c->format_version != AEC_FORMAT_VERSION_COMPACT,
                    AECIMG_ERR_UNSUPPORTED_VERSION);
    RETURN_ERROR_IF(c->width == 0 || c->height == 0, AECIMG_ERR_CORRUPT);
    RETURN_ERROR_IF(c->width > AECIMG_MAX_DIMENSION || c->height > AECIMG_MAX_DIMENSION, AECIMG_ERR_TOO_LARGE);
    RETURN_ERROR_IF(c->channels < 1 || c->channels > 4, AECIMG_ERR_CORRUPT);
    RETURN_ERROR_IF(c->source_bit_depth < 1 || c->source_bit_depth > 16, AECIMG_ERR_CORRUPT);
    return AECIMG_OK;
}

static int check_model_name(const uint8_t *name, size_t length)
{
    RETURN_ERROR_IF(length < 1 || length > AEC_MODEL_NAME_MAX, AECIMG_ERR_CORRUPT);
    for (size_t i = 0; i < length; i++)
        RETURN_ERROR_IF(name[i] < 0x20 || name[i] > 0x7e, AECIMG_ERR_CORRUPT);
    return AECIMG_OK;
}

int container_check_quantizer(const AecContainer *c)
{
    RETURN_ERROR_IF(c->quantizer != AEC_QUANTIZER_GAIN_UNIFORM, AECIMG_ERR_UNSUPPORTED);
    RETURN_ERROR_IF(c->quality > 100, AECIMG_ERR_CORRUPT);
    return AECIMG_OK;
}

static int check_latent(const AecContainer *c)
{
    RETURN_ERROR_IF(c->latent_channels < 1 || c->latent_channels > AEC_MAX_LATENT_CHANNELS, AECIMG_ERR_CORRUPT);
    RETURN_ERROR_IF(c->latent_height < 1 || c->latent_height > c->height, AECIMG_ERR_CORRUPT);
    RETURN_ERROR_IF(c->latent_width < 1 || c->latent_width > c->width, AECIMG_ERR_CORRUPT);
    return AECIMG_OK;
}

int container_check_payload(const AecContainer *c)
{
    RETURN_ERROR_IF(c->entropy != AECIMG_ENTROPY_ZSTD && c->entropy != AECIMG_ENTROPY_RANS &&
                        c->entropy != AECIMG_ENTROPY_CTX,
                    AECIMG_ERR_UNSUPPORTED);
    RETURN_ERROR_IF(c->stream_count < 1 || c->stream_count > AEC_MAX_STREAMS, AECIMG_ERR_CORRUPT);
    return AECIMG_OK;
}

/* present: whether there is an ALPH chunk; there must be one exactly when the image has alpha. */
int container_check_alpha(const AecContainer *c, int present)
{
    int has_alpha = c->channels == 2 || c->channels == 4;
    RETURN_ERROR_IF(present != has_alpha, AECIMG_ERR_CORRUPT);
    if (!present)
        return AECIMG_OK;
    RETURN_ERROR_IF(c->alpha_method != AEC_ALPHA_ZSTD_LEFT, AECIMG_ERR_UNSUPPORTED);
    RETURN_ERROR_IF(c->alpha_size == 0, AECIMG_ERR_CORRUPT);
    return AECIMG_OK;
}

/* ---------------------------------------------------------------- reader */

enum {
    SEEN_AHDR = 1 << 0,
    SEEN_AMDL = 1 << 1,
    SEEN_AQNT = 1 << 2,
    SEEN_ALAT = 1 << 3,
    SEEN_ADAT = 1 << 4,
    SEEN_ALPH = 1 << 5,
    SEEN_ICCP = 1 << 6,
    SEEN_REQUIRED = SEEN_AHDR | SEEN_AMDL | SEEN_AQNT | SEEN_ALAT | SEEN_ADAT,
};

typedef struct Reader {
    AecContainer *c;
    uint64_t max_pixels;
    unsigned seen; /* SEEN_* of the chunks read so far */
} Reader;

typedef struct Chunk {
    const uint8_t *type;
    const uint8_t *data;
    uint32_t size;
} Chunk;

static int parse_ahdr(Reader *r, const uint8_t *d, uint32_t size)
{
    AecContainer *c = r->c;
    RETURN_ERROR_IF(size < 1, AECIMG_ERR_CORRUPT);
    /* The version is judged before the size: a later version may lay AHDR out differently. */
    RETURN_ERROR_IF(d[0] != AEC_FORMAT_VERSION, AECIMG_ERR_UNSUPPORTED_VERSION);
    RETURN_ERROR_IF(size != AHDR_SIZE, AECIMG_ERR_CORRUPT);
    c->format_version = d[0];
    c->width = load_be32(d + 1);
    c->height = load_be32(d + 5);
    c->channels = d[9];
    c->source_bit_depth = d[10];
    RETURN_ERROR_IF(load_be16(d + 11) != 0, AECIMG_ERR_CORRUPT);
    FORWARD_IF_ERROR(container_check_header(c));
    RETURN_ERROR_IF((uint64_t)c->width * c->height > r->max_pixels, AECIMG_ERR_TOO_LARGE);
    return AECIMG_OK;
}

static int parse_amdl(Reader *r, const uint8_t *d, uint32_t size)
{
    AecContainer *c = r->c;
    RETURN_ERROR_IF(size < AMDL_FIXED, AECIMG_ERR_CORRUPT); /* before the name length is read */
    uint8_t name_length = d[AMDL_FIXED - 1];
    RETURN_ERROR_IF(size != AMDL_FIXED + (uint32_t)name_length, AECIMG_ERR_CORRUPT);
    FORWARD_IF_ERROR(check_model_name(d + AMDL_FIXED, name_length));
    memcpy(c->model_hash, d, sizeof c->model_hash);
    c->model_hash_size = sizeof c->model_hash;
    memcpy(c->model_name, d + AMDL_FIXED, name_length);
    c->model_name[name_length] = '\0';
    return AECIMG_OK;
}

static int parse_aqnt(Reader *r, const uint8_t *d, uint32_t size)
{
    AecContainer *c = r->c;
    RETURN_ERROR_IF(size < 1, AECIMG_ERR_CORRUPT);
    /* As in AHDR, the identifier comes first: another quantizer may carry parameters. */
    c->quantizer = d[0];
    RETURN_ERROR_IF(c->quantizer != AEC_QUANTIZER_GAIN_UNIFORM, AECIMG_ERR_UNSUPPORTED);
    RETURN_ERROR_IF(size != AQNT_SIZE, AECIMG_ERR_CORRUPT);
    c->quality = d[1];
    return container_check_quantizer(c);
}

static int parse_alat(Reader *r, const uint8_t *d, uint32_t size)
{
    AecContainer *c = r->c;
    RETURN_ERROR_IF(size != ALAT_SIZE, AECIMG_ERR_CORRUPT);
    c->latent_channels = load_be16(d);
    c->latent_height = load_be32(d + 2);
    c->latent_width = load_be32(d + 6);
    return check_latent(c);
}

static int parse_adat(Reader *r, const uint8_t *d, uint32_t size)
{
    AecContainer *c = r->c;
    RETURN_ERROR_IF(size < ADAT_FIXED, AECIMG_ERR_CORRUPT);
    c->entropy = d[0];
    c->stream_count = load_be16(d + 2);
    FORWARD_IF_ERROR(container_check_payload(c));
    RETURN_ERROR_IF(d[1] != 0, AECIMG_ERR_CORRUPT);
    size_t table_end = ADAT_FIXED + 4 * (size_t)c->stream_count;
    RETURN_ERROR_IF(table_end > size, AECIMG_ERR_CORRUPT);
    uint64_t total = 0; /* at most AEC_MAX_STREAMS * (2^32 - 1): no overflow */
    for (uint32_t i = 0; i < c->stream_count; i++) {
        c->stream_sizes[i] = load_be32(d + ADAT_FIXED + 4 * (size_t)i);
        total += c->stream_sizes[i];
    }
    RETURN_ERROR_IF(total != size - table_end, AECIMG_ERR_CORRUPT);
    const uint8_t *stream = d + table_end;
    for (uint32_t i = 0; i < c->stream_count; i++) {
        c->streams[i] = stream;
        stream += c->stream_sizes[i];
    }
    c->payload_size = (size_t)total;
    return AECIMG_OK;
}

static int parse_alph(Reader *r, const uint8_t *d, uint32_t size)
{
    AecContainer *c = r->c;
    RETURN_ERROR_IF(size < 1, AECIMG_ERR_CORRUPT);
    c->alpha_method = d[0];
    c->alpha = d + 1;
    c->alpha_size = size - 1;
    return container_check_alpha(c, 1);
}

static int parse_iccp(Reader *r, const uint8_t *d, uint32_t size)
{
    AecContainer *c = r->c;
    RETURN_ERROR_IF(size < 1, AECIMG_ERR_CORRUPT);
    /* iccp is ancillary: a profile in an unknown encoding is dropped, not an error. */
    if (d[0] != AEC_ICC_RAW)
        return AECIMG_OK;
    RETURN_ERROR_IF(size < 2, AECIMG_ERR_CORRUPT);
    c->icc = d + 1;
    c->icc_size = size - 1;
    return AECIMG_OK;
}

typedef struct KnownChunk {
    char type[4];
    unsigned seen;
    int (*parse)(Reader *r, const uint8_t *d, uint32_t size);
} KnownChunk;

static const KnownChunk known_chunks[] = {
    {{'A', 'H', 'D', 'R'}, SEEN_AHDR, parse_ahdr},
    {{'A', 'M', 'D', 'L'}, SEEN_AMDL, parse_amdl},
    {{'A', 'Q', 'N', 'T'}, SEEN_AQNT, parse_aqnt},
    {{'A', 'L', 'A', 'T'}, SEEN_ALAT, parse_alat},
    {{'A', 'D', 'A', 'T'}, SEEN_ADAT, parse_adat},
    {{'A', 'L', 'P', 'H'}, SEEN_ALPH, parse_alph},
    {{'i', 'c', 'c', 'p'}, SEEN_ICCP, parse_iccp},
};

static const KnownChunk *find_known(const uint8_t *type)
{
    for (size_t i = 0; i < sizeof known_chunks / sizeof known_chunks[0]; i++)
        if (memcmp(type, known_chunks[i].type, 4) == 0)
            return &known_chunks[i];
    return NULL;
}

static int is_letter(uint8_t b)
{
    return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z');
}

/* Frames the chunk at *pos (bounds, CRC, type letters) and advances *pos past it. */
static int next_chunk(const uint8_t *data, size_t size, size_t *pos, Chunk *ch)
{
    size_t left = size - *pos;
    RETURN_ERROR_IF(left < 8, AECIMG_ERR_TRUNCATED);
    const uint8_t *p = data + *pos;
    uint32_t length = load_be32(p);
    RETURN_ERROR_IF(length > AEC_MAX_CHUNK_SIZE, AECIMG_ERR_CORRUPT);
    RETURN_ERROR_IF(left - 8 < (size_t)length + 4, AECIMG_ERR_TRUNCATED);
    RETURN_ERROR_IF(container_crc32(0, p + 4, (size_t)length + 4) != load_be32(p + 8 + length),
                    AECIMG_ERR_CRC_MISMATCH);
    for (int i = 0; i < 4; i++)
        RETURN_ERROR_IF(!is_letter(p[4 + i]), AECIMG_ERR_CORRUPT);
    ch->type = p + 4;
    ch->data = p + 8;
    ch->size = length;
    *pos += CHUNK_OVERHEAD + (size_t)length;
    return AECIMG_OK;
}

static int read_chunk(Reader *r, const Chunk *ch)
{
    const KnownChunk *k = find_known(ch->type);
    /* AHDR first, so its limits hold before anything else is looked at. */
    RETURN_ERROR_IF(!(r->seen & SEEN_AHDR) && (!k || k->seen != SEEN_AHDR), AECIMG_ERR_CORRUPT);
    if (!k) /* bit 5 of the first letter: lowercase is ancillary */
        return (ch->type[0] & 0x20) ? AECIMG_OK : AECIMG_ERR_UNKNOWN_CRITICAL_CHUNK;
    RETURN_ERROR_IF(r->seen & k->seen, AECIMG_ERR_CORRUPT);
    /* ADAT comes after every other known chunk, so a streaming decoder has all parameters first. */
    RETURN_ERROR_IF(r->seen & SEEN_ADAT, AECIMG_ERR_CORRUPT);
    r->seen |= k->seen;
    return k->parse(r, ch->data, ch->size);
}

static int read_end(const Reader *r, const Chunk *ch, size_t trailing)
{
    RETURN_ERROR_IF(ch->size != 0, AECIMG_ERR_CORRUPT);
    RETURN_ERROR_IF((r->seen & SEEN_REQUIRED) != SEEN_REQUIRED, AECIMG_ERR_CORRUPT);
    FORWARD_IF_ERROR(container_check_alpha(r->c, (r->seen & SEEN_ALPH) != 0));
    /* One file, one image: trailing bytes mean a concatenation or a damaged copy. */
    RETURN_ERROR_IF(trailing != 0, AECIMG_ERR_CORRUPT);
    return AECIMG_OK;
}

static int read_signature(const uint8_t *data, size_t size)
{
    size_t n = size < AEC_SIGNATURE_SIZE ? size : AEC_SIGNATURE_SIZE;
    RETURN_ERROR_IF(n && memcmp(data, container_signature, n) != 0, AECIMG_ERR_BAD_MAGIC);
    RETURN_ERROR_IF(size < AEC_SIGNATURE_SIZE, AECIMG_ERR_TRUNCATED);
    return AECIMG_OK;
}

int container_read(const uint8_t *data, size_t size, uint64_t max_pixels, AecContainer *c)
{
    RETURN_ERROR_IF(!c || (!data && size), AECIMG_ERR_INVALID_ARGUMENT);
    memset(c, 0, sizeof *c);
    FORWARD_IF_ERROR(read_signature(data, size));
    /* A chunk length is at most 2^31-1, so its first byte never has the compact form's high bit. */
    if (size > AEC_SIGNATURE_SIZE && data[AEC_SIGNATURE_SIZE] >= AEC_FORM_COMPACT)
        return container_read_compact(data, size, max_pixels, c);
    Reader r = {c, max_pixels, 0};
    size_t pos = AEC_SIGNATURE_SIZE;
    for (;;) {
        Chunk ch;
        FORWARD_IF_ERROR(next_chunk(data, size, &pos, &ch));
        if (memcmp(ch.type, "AEND", 4) == 0)
            return read_end(&r, &ch, size - pos);
        FORWARD_IF_ERROR(read_chunk(&r, &ch));
    }
}

/* ---------------------------------------------------------------- writer */

/* Data sizes of the chunks the writer emits; 0 for ALPH and iccp means absent. */
typedef struct ChunkSizes {
    uint64_t amdl, iccp, alph, adat;
} ChunkSizes;

/* Pointers that must be there for the sizes given. */
int container_check_pointers(const AecContainer *c)
{
    for (uint32_t i = 0; i < c->stream_count; i++)
        RETURN_ERROR_IF(!c->streams[i] && c->stream_sizes[i], AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(!c->alpha && c->alpha_size, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(!c->icc && c->icc_size, AECIMG_ERR_INVALID_ARGUMENT);
    return AECIMG_OK;
}

static int check_for_writing(const AecContainer *c)
{
    FORWARD_IF_ERROR(container_check_header(c));
    const char *end = memchr(c->model_name, '\0', sizeof c->model_name);
    /* Without a NUL the name fills the array, one byte more than allowed. */
    size_t name_length = end ? (size_t)(end - c->model_name) : sizeof c->model_name;
    FORWARD_IF_ERROR(check_model_name((const uint8_t *)c->model_name, name_length));
    FORWARD_IF_ERROR(container_check_quantizer(c));
    FORWARD_IF_ERROR(check_latent(c));
    FORWARD_IF_ERROR(container_check_payload(c));
    FORWARD_IF_ERROR(container_check_pointers(c));
    FORWARD_IF_ERROR(container_check_alpha(c, c->alpha_method != 0));
    RETURN_ERROR_IF(c->icc && c->icc_size == 0, AECIMG_ERR_CORRUPT);
    return AECIMG_OK;
}

/* Every size is bounded before it is added to anything, so that no sum can wrap. */
static int chunk_sizes(const AecContainer *c, ChunkSizes *s)
{
    RETURN_ERROR_IF(c->icc_size >= AEC_MAX_CHUNK_SIZE || c->alpha_size >= AEC_MAX_CHUNK_SIZE, AECIMG_ERR_TOO_LARGE);
    s->amdl = AMDL_FIXED + strlen(c->model_name);
    s->iccp = c->icc ? 1 + (uint64_t)c->icc_size : 0;
    s->alph = c->alpha_method ? 1 + (uint64_t)c->alpha_size : 0;
    s->adat = ADAT_FIXED + 4 * (uint64_t)c->stream_count;
    for (uint32_t i = 0; i < c->stream_count; i++) {
        RETURN_ERROR_IF(c->stream_sizes[i] > AEC_MAX_CHUNK_SIZE, AECIMG_ERR_TOO_LARGE);
        s->adat += c->stream_sizes[i];
    }
    RETURN_ERROR_IF(s->adat > AEC_MAX_CHUNK_SIZE, AECIMG_ERR_TOO_LARGE);
    return AECIMG_OK;
}

static uint64_t file_size(const ChunkSizes *s)
{
    uint64_t total = AEC_SIGNATURE_SIZE + 6 * CHUNK_OVERHEAD + AHDR_SIZE + s->amdl + AQNT_SIZE + ALAT_SIZE + s->adat;
    if (s->iccp)
        total += CHUNK_OVERHEAD + s->iccp;
    if (s->alph)
        total += CHUNK_OVERHEAD + s->alph;
    return total;
}

static uint8_t *put_bytes(uint8_t *p, const void *bytes, size_t size)
{
    if (size) /* bytes may be NULL when size is 0 */
        memcpy(p, bytes, size);
    return p + size;
}

/* Completes the chunk whose data the caller has placed at p + 8; returns the end of the chunk. */
static uint8_t *seal_chunk(uint8_t *p, const char *type, uint64_t size)
{
    store_be32(p, (uint32_t)size);
    memcpy(p + 4, type, 4);
    store_be32(p + 8 + size, container_crc32(0, p + 4, (size_t)size + 4));
    return p + CHUNK_OVERHEAD + size;
}

static uint8_t *put_ahdr(uint8_t *p, const AecContainer *c)
{
    uint8_t *d = p + 8;
    d[0] = (uint8_t)c->format_version;
    store_be32(d + 1, c->width);
    store_be32(d + 5, c->height);
    d[9] = (uint8_t)c->channels;
    d[10] = (uint8_t)c->source_bit_depth;
    store_be16(d + 11, 0);
    return seal_chunk(p, "AHDR", AHDR_SIZE);
}

static uint8_t *put_amdl(uint8_t *p, const AecContainer *c, uint64_t size)
{
    uint8_t *d = put_bytes(p + 8, c->model_hash, sizeof c->model_hash);
    *d++ = (uint8_t)(size - AMDL_FIXED);
    put_bytes(d, c->model_name, (size_t)(size - AMDL_FIXED));
    return seal_chunk(p, "AMDL", size);
}

static uint8_t *put_aqnt(uint8_t *p, const AecContainer *c)
{
    p[8] = (uint8_t)c->quantizer;
    p[9] = (uint8_t)c->quality;
    return seal_chunk(p, "AQNT", AQNT_SIZE);
}

static uint8_t *put_alat(uint8_t *p, const AecContainer *c)
{
    store_be16(p + 8, (uint16_t)c->latent_channels);
    store_be32(p + 10, c->latent_height);
    store_be32(p + 14, c->latent_width);
    return seal_chunk(p, "ALAT", ALAT_SIZE);
}

/* ALPH and iccp: a one-byte method, then the bytes. */
static uint8_t *put_tagged(uint8_t *p, const char *type, uint32_t tag, const uint8_t *bytes, size_t size)
{
    p[8] = (uint8_t)tag;
    put_bytes(p + 9, bytes, size);
    return seal_chunk(p, type, 1 + (uint64_t)size);
}

static uint8_t *put_adat(uint8_t *p, const AecContainer *c, uint64_t size)
{
    uint8_t *d = p + 8;
    d[0] = (uint8_t)c->entropy;
    d[1] = 0;
    store_be16(d + 2, (uint16_t)c->stream_count);
    d += ADAT_FIXED;
    for (uint32_t i = 0; i < c->stream_count; i++, d += 4)
        store_be32(d, (uint32_t)c->stream_sizes[i]);
    for (uint32_t i = 0; i < c->stream_count; i++)
        d = put_bytes(d, c->streams[i], c->stream_sizes[i]);
    return seal_chunk(p, "ADAT", size);
}

int container_write(const AecContainer *c, uint8_t **out, size_t *out_size)
{
    RETURN_ERROR_IF(!out || !out_size, AECIMG_ERR_INVALID_ARGUMENT);
    *out = NULL;
    *out_size = 0;
    RETURN_ERROR_IF(!c, AECIMG_ERR_INVALID_ARGUMENT);
    if (c->format_version == AEC_FORMAT_VERSION_COMPACT)
        return container_write_compact(c, out, out_size);
    /* Only version 1 has chunks: an AHDR of version 2 would be refused by every reader. */
    RETURN_ERROR_IF(c->format_version != AEC_FORMAT_VERSION, AECIMG_ERR_UNSUPPORTED_VERSION);
    FORWARD_IF_ERROR(check_for_writing(c));
    ChunkSizes s;
    FORWARD_IF_ERROR(chunk_sizes(c, &s));
    uint64_t total = file_size(&s);
    RETURN_ERROR_IF(total > SIZE_MAX, AECIMG_ERR_TOO_LARGE); /* possible where size_t has 32 bits */
    uint8_t *buf = malloc((size_t)total);
    RETURN_ERROR_IF(!buf, AECIMG_ERR_NO_MEMORY);

    uint8_t *p = put_bytes(buf, container_signature, sizeof container_signature);
    p = put_ahdr(p, c);
    p = put_amdl(p, c, s.amdl);
    p = put_aqnt(p, c);
    p = put_alat(p, c);
    if (s.iccp)
        p = put_tagged(p, "iccp", AEC_ICC_RAW, c->icc, c->icc_size);
    if (s.alph)
        p = put_tagged(p, "ALPH", c->alpha_method, c->alpha, c->alpha_size);
    p = put_adat(p, c, s.adat);
    seal_chunk(p, "AEND", 0);
    *out = buf;
    *out_size = (size_t)total;
    return AECIMG_OK;
}
