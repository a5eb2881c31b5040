/* entropy.h: the entropy stages that turn latent symbols into the container's streams and back. */
#ifndef AECIMG_ENTROPY_H
#define AECIMG_ENTROPY_H

#include <stddef.h>
#include <stdint.h>

#include <aecimg/aecimg.h>

#include "model_file.h"

/* What a stage needs to know about the symbols: channel-planar [channels][height][width]. */
typedef struct EntropyParams {
    const ModelFile *model;
    int quality;
    uint32_t channels, height, width;
    int threads;
} EntropyParams;

/* Streams produced by an encoder: one malloc'd buffer holding `count` streams back to back. */
typedef struct EntropyStreams {
    uint8_t *data;
    size_t size;
    uint32_t count;
    size_t *sizes; /* malloc'd, count entries */
} EntropyStreams;

typedef struct EntropyStage {
    int id; /* AECIMG_ENTROPY_* as stored in the container */
    const char *name;
    int (*encode)(const EntropyParams *p, const int32_t *symbols, EntropyStreams *out);
    /* Must validate the streams completely: wrong sizes or contents give AECIMG_ERR_ENTROPY. */
    int (*decode)(const EntropyParams *p, const uint8_t *const *streams, const size_t *sizes, uint32_t count,
                  int32_t *symbols);
} EntropyStage;

extern const EntropyStage entropy_zstd;
extern const EntropyStage entropy_rans;

/* Both stages use the model's tables at p->quality: the model must match the symbols' shape. */
int entropy_check_params(const EntropyParams *p);
/* The stage with this container id, or NULL. */
const EntropyStage *entropy_stage(int id);
void entropy_streams_free(EntropyStreams *s);

#endif
