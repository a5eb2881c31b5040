/* bench_codecs.h: the codecs aec-bench compares, each behind one small table of functions. */
#ifndef AECIMG_BENCH_CODECS_H
#define AECIMG_BENCH_CODECS_H

#include <stddef.h>
#include <stdint.h>

#include <aecimg/aecimg.h>

/* What every codec is opened with. */
typedef struct BenchConfig {
    const char *model;   /* aec model file; NULL: the library's default */
    int threads;         /* threads for aec (>= 1) */
    uint64_t max_pixels; /* aec's pixel limit */
    int refine;          /* aec-refine's iterations of latent refinement */
    int effort;          /* aec's encoder effort level */
} BenchConfig;

typedef struct BenchCodec BenchCodec;

/* An opened codec: its state and what the report says about it. */
typedef struct BenchSession {
    const BenchCodec *codec;
    void *state;
    int threads;        /* threads its encoder and decoder use */
    char settings[512]; /* library version and every setting that shapes the bitstream */
    char check[160];    /* how the bitstream check decodes a second time */
} BenchSession;

/* Encoders and decoders take and give 8-bit gray or RGB images with malloc'd pixels; the encoded
 * file is malloc'd.  All return 0, or -1 with a one-line reason in err. */
typedef int (*BenchEncodeFn)(BenchSession *s, const AecimgImage *img, int quality, uint8_t **out,
                             size_t *out_size, char *err, size_t err_size);
typedef int (*BenchDecodeFn)(BenchSession *s, const uint8_t *data, size_t size, AecimgImage *img,
                             char *err, size_t err_size);

struct BenchCodec {
    const char *name;            /* as --codecs spells it */
    const char *missing;         /* NULL when built in; else why the codec is skipped */
    int lossless;                /* one point per image, no quality */
    int gray;                    /* codes gray images as such; else they are expanded to RGB */
    const char *qualities;       /* default quality sweep (BENCH_QUALITIES_*); NULL if lossless */
    int (*open)(BenchSession *s, const BenchConfig *cfg, char *err, size_t err_size);
    void (*close)(BenchSession *s); /* NULL: nothing to release */
    BenchEncodeFn encode;
    BenchDecodeFn decode;        /* the decode that is timed and measured */
    BenchDecodeFn decode_check;  /* a second, independent decode for the bitstream check */
};

/* Default quality sweeps (at least 8 points where the codec has a quality setting). */
#define BENCH_QUALITIES_AEC "0,12,25,37,50,62,75,87,100"
#define BENCH_QUALITIES_JPEG "10,20,30,40,50,60,70,80,90,95"
#define BENCH_QUALITIES_WEBP "10,20,30,40,50,60,70,80,90,95"
#define BENCH_QUALITIES_AVIF "10,20,30,40,50,60,70,80,90,95"
#define BENCH_QUALITIES_JXL "20,30,40,50,60,70,80,90,95"

enum { BENCH_CODEC_COUNT = 7 };

/* aec-refine's default encoder effort: the iterations measured in training/README.md. */
#define BENCH_REFINE_DEFAULT 50

/* Every codec, built in or not, in report order: aec, aec-refine, then the anchors. */
extern const BenchCodec *const bench_codecs[BENCH_CODEC_COUNT];

/* The codec called name, or NULL. */
const BenchCodec *bench_codec_find(const char *name);

/* ---------------------------------------------------------------- for the codec files */

extern const BenchCodec bench_codec_aec, bench_codec_aec_refine, bench_codec_png, bench_codec_jpeg, bench_codec_webp,
    bench_codec_avif, bench_codec_jxl;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int bench_fail(char *err, size_t err_size, const char *fmt, ...);

/* Sets img's size and allocates its pixels; returns 0 or -1 with err. */
int bench_alloc_image(AecimgImage *img, uint32_t width, uint32_t height, uint32_t channels,
                      char *err, size_t err_size);

/* A malloc'd copy of n bytes into *out; returns 0 or -1 with err. */
int bench_copy_bytes(const void *data, size_t n, uint8_t **out, size_t *out_size, char *err,
                     size_t err_size);

#endif
