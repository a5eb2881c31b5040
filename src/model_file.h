/* model_file.h: loading and validating aec model files (doc/model-format.md). */
#ifndef AECIMG_MODEL_FILE_H
#define AECIMG_MODEL_FILE_H

#include <stddef.h>
#include <stdint.h>

#define MODEL_MAX_LAYERS 64
#define MODEL_MAX_TENSORS 1024
#define MODEL_MAX_CHANNELS 4096
#define MODEL_MAX_SYMBOLS 4095
#define MODEL_QUALITIES 101

enum { MODEL_NET_ANALYSIS = 0, MODEL_NET_SYNTHESIS = 1 };
enum { MODEL_OP_CONV = 1, MODEL_OP_GDN = 2, MODEL_OP_IGDN = 3, MODEL_OP_PIXEL_SHUFFLE = 4 };

typedef struct ModelTensor {
    char name[128];
    uint32_t ndim;
    uint32_t dims[4];
    size_t count;
    float *data; /* converted to host float32, in the model's arena */
} ModelTensor;

typedef struct ModelLayer {
    uint32_t net, op;
    uint32_t p[4];
    const ModelTensor *t[2]; /* NULL where the layer has none */
} ModelLayer;

/* Integer probability table of one latent channel at one quality. */
typedef struct ModelCdf {
    int32_t first;         /* first symbol of the table */
    uint32_t count;        /* symbols in the table; freq[count] is the escape */
    const uint16_t *freq;  /* count + 1 frequencies summing to 1 << precision */
} ModelCdf;

typedef struct ModelFile {
    uint8_t hash[32];
    char name[64];
    /* The identity .aec files made with this model record: the hash and name of the first model
     * file that had this decoder (META `decoder` and `decoder_name`), or the model's own when META
     * names none.  A model whose decoder is another's decodes that model's files and writes files
     * that model decodes (doc/model-format.md). */
    uint8_t decoder_hash[32];
    char decoder_name[64];
    char *meta;           /* owned NUL-terminated copy of the META text */
    uint32_t image_channels, latent_channels, stride;
    uint32_t layer_count;
    ModelLayer layers[MODEL_MAX_LAYERS];
    uint32_t tensor_count;
    ModelTensor *tensors;
    float *arena;         /* owned: every tensor's data (nn_alloc_packed) */
    uint32_t quality_count;
    float *rates;         /* [quality][3][latent_channels]: gain, inverse gain, offset */
    uint32_t precision;
    ModelCdf *cdfs;       /* [quality][latent_channels] */
    uint16_t *freqs;      /* owned storage of every table's frequencies */
} ModelFile;

/* Parses and validates a model file held in memory; m owns copies of everything it keeps. */
int model_file_parse(const uint8_t *data, size_t size, ModelFile *m);
int model_file_load(const char *path, ModelFile *m);
void model_file_free(ModelFile *m);

/* Whether a .aec file naming model `hash` is decoded by m: its own hash or its decoder's starts with
 * the hash_size (1..32) bytes the file stores (32 in version 1, a prefix in the compact form). */
int model_file_decodes(const ModelFile *m, const uint8_t *hash, size_t hash_size);

/* Value of META key (NUL-terminated copy into buf); 0 or -1 if absent or too long. */
int model_file_meta(const ModelFile *m, const char *key, char *buf, size_t buf_size);

/* The rate-distortion weight lambda the model was trained with at quality q: META `lambdas` (2..64
 * increasing positive values, one per trained rate point, qualities spread evenly over them) is
 * interpolated linearly in log lambda, as the training code interpolates the gains.  0, or
 * AECIMG_ERR_UNSUPPORTED when META has no usable `lambdas`. */
int model_file_lambda(const ModelFile *m, int q, double *lambda);

static inline const float *model_gain(const ModelFile *m, int q)
{
    return m->rates + (size_t)q * 3 * m->latent_channels;
}
static inline const float *model_inv_gain(const ModelFile *m, int q)
{
    return model_gain(m, q) + m->latent_channels;
}
static inline const float *model_offset(const ModelFile *m, int q)
{
    return model_gain(m, q) + 2 * (size_t)m->latent_channels;
}
static inline const ModelCdf *model_cdf(const ModelFile *m, int q, int c)
{
    return &m->cdfs[(size_t)q * m->latent_channels + c];
}

#endif
