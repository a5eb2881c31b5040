/* container.h: the .aec file: writer and validating reader of both forms (doc/container.md). */
#ifndef AECIMG_CONTAINER_H
#define AECIMG_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#define AEC_SIGNATURE_SIZE 8
#define AEC_FORMAT_VERSION 1         /* the chunk form (doc/container.md sections 2-6) */
#define AEC_FORMAT_VERSION_COMPACT 2 /* the compact form (section 9) */
#define AEC_FORM_COMPACT 0x80        /* byte 8 at or above this: the compact form; low 7 bits: version */
#define AEC_MODEL_ID_SIZE 8          /* bytes of the model hash the compact form stores */
#define AEC_MAX_CHUNK_SIZE 0x7fffffffu
#define AEC_MODEL_NAME_MAX 63
#define AEC_MAX_STREAMS 1024
#define AEC_MAX_LATENT_CHANNELS 1024
#define AEC_QUANTIZER_GAIN_UNIFORM 1 /* round(g * y - mu), gains and offsets from the model */
#define AEC_ALPHA_ZSTD_LEFT 1       /* alpha plane: left-neighbour difference, then zstd */
#define AEC_ICC_RAW 0

/* Everything a .aec file says, as the reader found it.  Pointers point into the input buffer.
 * For the writer: format_version picks the form; alpha_method 0 means no alpha plane, icc NULL (and
 * icc_size 0) no profile; payload_size and model_hash_size are only outputs of the reader.  A compact
 * file stores neither the model name ("") nor the latent shape (0: the codec derives it from the model). */
typedef struct AecContainer {
    uint32_t format_version;
    uint32_t width, height;
    uint32_t channels;          /* 1..4 */
    uint32_t source_bit_depth;  /* 1..16 */
    uint8_t model_hash[32];
    uint32_t model_hash_size;   /* bytes of model_hash the file stores: 32, or AEC_MODEL_ID_SIZE (compact) */
    char model_name[AEC_MODEL_NAME_MAX + 1];
    uint32_t quantizer;         /* AEC_QUANTIZER_* */
    uint32_t quality;           /* 0..100 */
    uint32_t latent_channels, latent_height, latent_width;
    uint32_t entropy;           /* AECIMG_ENTROPY_ZSTD / _RANS */
    uint32_t stream_count;
    const uint8_t *streams[AEC_MAX_STREAMS];
    size_t stream_sizes[AEC_MAX_STREAMS];
    size_t payload_size;        /* sum of stream_sizes */
    uint32_t alpha_method;      /* 0 when there is no alpha chunk */
    const uint8_t *alpha;
    size_t alpha_size;
    const uint8_t *icc;         /* NULL when there is none */
    size_t icc_size;
} AecContainer;

/* Parses and validates data.  max_pixels bounds width*height.  Returns 0 or an AECIMG_ERR_*.
 * Allocates nothing; after an error the contents of *c are unspecified. */
int container_read(const uint8_t *data, size_t size, uint64_t max_pixels, AecContainer *c);

/* Serializes c (the pointers say where streams, alpha and ICC bytes are) into a malloc'd buffer.
 * Invalid fields give the error the reader would give for the file; *out is NULL on error. */
int container_write(const AecContainer *c, uint8_t **out, size_t *out_size);

/* The compact form (container_compact.c), which container_read and container_write hand over to.
 * data[AEC_SIGNATURE_SIZE] is the form byte, checked by the caller to be at least AEC_FORM_COMPACT. */
int container_read_compact(const uint8_t *data, size_t size, uint64_t max_pixels, AecContainer *c);
int container_write_compact(const AecContainer *c, uint8_t **out, size_t *out_size);

/* Field checks both forms share, in the reader's order; each returns the reader's error. */
int container_check_header(const AecContainer *c);
int container_check_quantizer(const AecContainer *c);
int container_check_payload(const AecContainer *c);
int container_check_alpha(const AecContainer *c, int present);
int container_check_pointers(const AecContainer *c);

extern const uint8_t container_signature[AEC_SIGNATURE_SIZE];

/* CRC-32/ISO-HDLC (PNG, zlib).  Start with crc 0; chains: crc32(crc32(0, a), b) == crc32(0, a b). */
uint32_t container_crc32(uint32_t crc, const uint8_t *data, size_t size);

#endif
