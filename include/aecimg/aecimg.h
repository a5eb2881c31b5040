/* aecimg: the public API of aec, a learned image codec.
 *
 * Every exported symbol starts with aecimg_ / AECIMG_ (Debian's CCSDS libaec owns aec_).
 *
 * The whole encode/decode loop:
 * @code
 *   AecimgSettings s;
 *   AecimgContext *ctx = NULL;
 *   aecimg_default_settings(&s);
 *   s.quality = 75;
 *   int err = aecimg_open(&ctx, &s);            // loads the default model
 *   if (err < 0) { fprintf(stderr, "%s\n", aecimg_strerror(err)); return 1; }
 *
 *   AecimgImage img = { .width = w, .height = h, .channels = 3, .pixels = rgb };
 *   uint8_t *file; size_t file_size;
 *   err = aecimg_encode(ctx, &img, &file, &file_size);   // file: malloc'd .aec bytes
 *
 *   AecimgImage out;
 *   err = aecimg_decode(ctx, file, file_size, &out);     // out.pixels: malloc'd
 *   aecimg_image_free(&out);
 *   free(file);
 *   aecimg_close(&ctx);                          // ctx is NULL afterwards
 * @endcode
 */
#ifndef AECIMG_AECIMG_H
#define AECIMG_AECIMG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(AECIMG_BUILDING_LIBRARY) && defined(__GNUC__)
#define AECIMG_API __attribute__((visibility("default")))
#else
#define AECIMG_API
#endif

/* API version; independent of the package version.  Bump MINOR for additions, MAJOR for breaks. */
#define AECIMG_API_VERSION_MAJOR 1
#define AECIMG_API_VERSION_MINOR 2
#define AECIMG_API_VERSION_PATCH 0
#define AECIMG_API_VERSION \
    ((AECIMG_API_VERSION_MAJOR << 16) | (AECIMG_API_VERSION_MINOR << 8) | AECIMG_API_VERSION_PATCH)

/* Error codes.  Fixed values, never renumbered; new ones are appended. */
enum {
    AECIMG_OK = 0,
    AECIMG_ERR_INVALID_ARGUMENT = -1,
    AECIMG_ERR_NO_MEMORY = -2,
    AECIMG_ERR_IO = -3,
    AECIMG_ERR_BAD_MAGIC = -4,
    AECIMG_ERR_UNSUPPORTED_VERSION = -5,
    AECIMG_ERR_TRUNCATED = -6,
    AECIMG_ERR_CRC_MISMATCH = -7,
    AECIMG_ERR_CORRUPT = -8,
    AECIMG_ERR_UNKNOWN_CRITICAL_CHUNK = -9,
    AECIMG_ERR_TOO_LARGE = -10,
    AECIMG_ERR_MODEL_MISMATCH = -11,
    AECIMG_ERR_MODEL_INVALID = -12,
    AECIMG_ERR_MODEL_NOT_FOUND = -13,
    AECIMG_ERR_ENTROPY = -14,
    AECIMG_ERR_UNSUPPORTED = -15,
    AECIMG_ERR_INTERNAL = -16,
    AECIMG_ERR_COLOR_INPUT = -17, /* a color image given to a gray model (since API 1.2) */
};

/* What a context is opened for (AecimgSettings.roles). */
enum {
    AECIMG_ROLE_ENCODE = 1,
    AECIMG_ROLE_DECODE = 2,
};

/* Entropy stages of the latent payload (values as stored in the container). */
enum {
    AECIMG_ENTROPY_AUTO = 0, /* CTX, or for models too large for it the smaller of RANS and ZSTD */
    AECIMG_ENTROPY_ZSTD = 1, /* zstd on a bit-plane layout of the symbols */
    AECIMG_ENTROPY_RANS = 2, /* rANS with the model's static tables */
    AECIMG_ENTROPY_CTX = 3,  /* range coding with the model's tables adapted per channel and context */
};

#define AECIMG_QUALITY_DEFAULT 75
#define AECIMG_MAX_DIMENSION 65535u
/* Default limit on width*height, for decoding and encoding alike (268 MP). */
#define AECIMG_DEFAULT_MAX_PIXELS (1ull << 28)

/* Default side of the square tiles the transforms run on, in pixels (see AecimgSettings.tile_size). */
#define AECIMG_TILE_DEFAULT 1024u
/* Most iterations of latent refinement (AecimgSettings.refine). */
#define AECIMG_REFINE_MAX 1000

/* Encoder effort levels (aecimg_set_effort): higher is slower and codes smaller files at the same
 * quality.  The default level is the highest whose encode takes under a second for a 768x512 image
 * on two cores; aecimg_effort_refine() tells what each level does.  A model without trained lambdas
 * in its META codes every level with plain rounding (level 0). */
#define AECIMG_EFFORT_MAX 9
#define AECIMG_EFFORT_DEFAULT 3

/* Environment variable naming a model file; overrides the default model. */
#define AECIMG_MODEL_ENV "AECIMG_MODEL"

typedef struct AecimgContext AecimgContext;

typedef struct AecimgSettings {
    int quality;         /* 0..100, higher is better and larger; default AECIMG_QUALITY_DEFAULT */
    int threads;         /* 0: all cores; otherwise the number of OpenMP threads */
    int entropy;         /* AECIMG_ENTROPY_*; AUTO for the default stage */
    int keep_icc;        /* nonzero: store the image's ICC profile (default 1) */
    uint64_t max_pixels; /* refuse images with more pixels (default AECIMG_DEFAULT_MAX_PIXELS) */
    const char *model_path; /* a model file, or the name of an installed one ("fashion": fashion.aecm in
                             * the install folder); NULL: $AECIMG_MODEL, else the installed default model */
    /* The transforms run on square tiles of this many pixels (rounded up to the model's stride), each
     * with a margin wide enough that the result is identical for every tile size (refinement runs
     * on fixed blocks of its own, whatever the tile size): memory is bounded by the tile, not the
     * image.  0: the whole image as one tile.  Default AECIMG_TILE_DEFAULT. */
    uint32_t tile_size;
    /* AECIMG_ROLE_* bits: the transforms aecimg_open prepares (weights rearranged for the CPU's
     * kernels).  Default both; a role left out is prepared when first used. */
    int roles;
    /* Encoder effort: iterations of latent refinement, a gradient descent through the synthesis
     * transform that finds symbols with a lower rate-distortion cost than rounding the analysis
     * transform's output (0..AECIMG_REFINE_MAX), weighing the rate of the entropy stage in use.  Each
     * costs about 1.5 decodes of the image; decoding is unaffected.  0 (default): as the context's
     * effort level says (aecimg_set_effort); nonzero: exactly this many, whatever the effort. */
    int refine;
} AecimgSettings;

/* An 8-bit image: rows packed, channels interleaved (gray, gray+alpha, RGB or RGBA).
 * Buffers returned by the library are malloc'd and released with aecimg_image_free(). */
typedef struct AecimgImage {
    uint32_t width, height;
    uint32_t channels;         /* 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
    uint8_t *pixels;           /* width * height * channels bytes */
    uint8_t *icc;              /* ICC profile or NULL */
    size_t icc_size;
    uint32_t source_bit_depth; /* bit depth of the original (1..16); informational */
} AecimgImage;

/* A file's dequantized latent tensor: what the synthesis transform receives, (k + offset_c) * inverse_gain_c
 * for each symbol k of channel c.  Returned by aecimg_decode_latents(), released with aecimg_latents_free(). */
typedef struct AecimgLatents {
    uint32_t channels, height, width; /* C x H x W: the model's latent channels, the image's size / stride */
    float *data;                      /* channels * height * width floats, channel-planar (C, H, W order) */
} AecimgLatents;

/* Where a .aec file's latent payload spends its bits, returned by aecimg_decode_rate_map() and released
 * with aecimg_rate_map_free().  bits[y * width + x] is the ideal code length of latent position (x, y)
 * under the model's static tables at the file's quality: the sum over the latent channels of
 * -log2(freq / 2^precision) of each decoded symbol (for a symbol outside its table, the escape's
 * -log2(freq / 2^precision) plus its exponent and mantissa bits), the same tables the decoder reads.
 * The position covers pixels [x * stride, (x + 1) * stride) x [y * stride, (y + 1) * stride) of the
 * image, cropped to it.  These are the code lengths of the rans stage but for the rounding of its
 * state; the ctx stage adapts the tables as it codes, so its real payload differs slightly, and the
 * zstd stage's more.  The container, the ICC profile and the alpha plane are not counted.  Since API 1.2. */
typedef struct AecimgRateMap {
    uint32_t width, height;             /* latent positions: the image's size / stride, rounded up */
    uint32_t stride;                    /* pixels per latent position along each axis */
    uint32_t image_width, image_height; /* the image's size in pixels */
    double total_bits;                  /* the sum of bits (in double precision) */
    float *bits;                        /* height * width bit counts, rows packed */
} AecimgRateMap;

/* What a container header says, read without the model. */
typedef struct AecimgInfo {
    uint32_t format_version;
    uint32_t width, height, channels, source_bit_depth;
    uint32_t quality;
    uint32_t quantizer;
    uint32_t entropy;
    uint32_t latent_channels, latent_height, latent_width;
    uint32_t stream_count;
    uint64_t payload_size;  /* bytes of entropy-coded latents */
    uint64_t alpha_size;    /* bytes of the coded alpha plane, 0 if none */
    uint64_t icc_size;      /* bytes of the ICC profile, 0 if none */
    char model_name[64];    /* "" in version 2, which does not store it */
    uint8_t model_hash[32]; /* version 2 stores only the first 8 bytes; the rest are 0 */
} AecimgInfo;

AECIMG_API const char *aecimg_version(void);      /* package version string */
AECIMG_API unsigned aecimg_api_version(void);     /* AECIMG_API_VERSION of the library */
AECIMG_API const char *aecimg_strerror(int err);

AECIMG_API void aecimg_default_settings(AecimgSettings *s);
/* Loads the model and prepares a context.  On error *ctx stays NULL.  A context serves one call at
 * a time; it keeps its working memory (bounded by the tile size) between calls until closed. */
AECIMG_API int aecimg_open(AecimgContext **ctx, const AecimgSettings *s);
AECIMG_API void aecimg_close(AecimgContext **ctx);

/* Name and path of the loaded model, and its 32-byte hash (the SHA-256 stored at the end of the model file: the digest of every byte before it). */
AECIMG_API const char *aecimg_model_name(const AecimgContext *ctx);
AECIMG_API const char *aecimg_model_path(const AecimgContext *ctx);
AECIMG_API const uint8_t *aecimg_model_hash(const AecimgContext *ctx);
/* The kernel level in use: "c", "avx2", "avx512" (float32), or "avx512bf16" (the inner convolutions and
 * GDNs with bfloat16 products on CPUs with AVX512-BF16; decodes to slightly different pixels, see
 * aec-decode(1)).  The highest the CPU has, capped by the environment variable AECIMG_CPU_MAX. */
AECIMG_API const char *aecimg_cpu_level(const AecimgContext *ctx);

/* Settings that may change between calls on one context. */
AECIMG_API int aecimg_set_quality(AecimgContext *ctx, int quality);
AECIMG_API int aecimg_set_entropy(AecimgContext *ctx, int entropy);
AECIMG_API int aecimg_set_refine(AecimgContext *ctx, int iterations);
/* Encoder effort, 0..AECIMG_EFFORT_MAX (AECIMG_EFFORT_DEFAULT when a context opens): a level of the
 * encoder's search, today the refinement iterations aecimg_effort_refine() gives.  Decoding never
 * depends on it.  A function rather than a settings field, so that AecimgSettings keeps its size for
 * programs built against API 1.0.  Since API 1.1. */
AECIMG_API int aecimg_set_effort(AecimgContext *ctx, int effort);
/* The container form an encode writes: 2, the compact form (doc/container.md section 9), or 1, the
 * chunk form that readers before version 2 understand; 0 means the default, 2.  Decoding reads both.
 * AECIMG_ERR_UNSUPPORTED_VERSION for other values.  Since API 1.2. */
AECIMG_API int aecimg_set_format_version(AecimgContext *ctx, int version);
/* Refinement iterations of an effort level (0..AECIMG_EFFORT_MAX); AECIMG_ERR_INVALID_ARGUMENT for
 * other levels. */
AECIMG_API int aecimg_effort_refine(int effort);

/* Encodes img into a malloc'd .aec file.  A gray model (one image channel, as a model trained on gray
 * images has) codes gray and gray+alpha images only: AECIMG_ERR_COLOR_INPUT for RGB or RGBA, which the
 * caller converts to gray first if that is what it wants. */
AECIMG_API int aecimg_encode(AecimgContext *ctx, const AecimgImage *img, uint8_t **out, size_t *out_size);
/* Decodes a .aec file into a malloc'd image (8 bits per channel, the stored channel count; a gray
 * model's files are gray or gray+alpha).  A file made with another model than the context's is decoded
 * with that model if it is installed (in the folder of the context's model or the install folder): the
 * context then holds that model, as aecimg_model_name() tells; AECIMG_ERR_MODEL_MISMATCH if it is
 * nowhere. */
AECIMG_API int aecimg_decode(AecimgContext *ctx, const uint8_t *data, size_t size, AecimgImage *img);
/* Parses and validates the container structure only (no model needed). */
AECIMG_API int aecimg_read_info(const uint8_t *data, size_t size, AecimgInfo *info);
/* The ICC profile of a .aec file, found as aecimg_read_info() validates it (no model, no decoding):
 * *icc points into data (NULL and *icc_size 0 when the file has none).  Since API 1.1. */
AECIMG_API int aecimg_read_icc(const uint8_t *data, size_t size, const uint8_t **icc, size_t *icc_size);
/* Decodes a .aec file's latents into a malloc'd tensor without running the synthesis transform: the
 * features a downstream model can learn from.  The context checks the file's model, as for
 * aecimg_decode().  On error *latents is zeroed.  Since API 1.1. */
AECIMG_API int aecimg_decode_latents(AecimgContext *ctx, const uint8_t *data, size_t size, AecimgLatents *latents);

/* Decodes a .aec file's symbols into its rate map, without running the synthesis transform: where the
 * bits went, the cost of each block of the image (an autoencoder spends more bits on what it models
 * badly, which localises unusual content).  The context checks the file's model, as for
 * aecimg_decode().  On error *map is zeroed.  Since API 1.2. */
AECIMG_API int aecimg_decode_rate_map(AecimgContext *ctx, const uint8_t *data, size_t size, AecimgRateMap *map);

AECIMG_API void aecimg_image_free(AecimgImage *img);
/* Releases a tensor of aecimg_decode_latents() and zeroes it; NULL and zeroed tensors are ignored. */
AECIMG_API void aecimg_latents_free(AecimgLatents *latents);
/* Releases a map of aecimg_decode_rate_map() and zeroes it; NULL and zeroed maps are ignored.  Since API 1.2. */
AECIMG_API void aecimg_rate_map_free(AecimgRateMap *map);
/* Releases a buffer the library allocated (the file of aecimg_encode()); the same as free() in C, for
 * bindings that cannot call the C library's free() themselves.  Since API 1.1. */
AECIMG_API void aecimg_free(void *p);

#ifdef __cplusplus
}
#endif

#endif /* AECIMG_AECIMG_H */
