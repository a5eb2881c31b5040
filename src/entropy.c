/* entropy.c: lookup of the entropy stages by container id, and the checks they share. */
#include <stdlib.h>
#include <string.h>

#include "entropy.h"
#include "internal.h"

const EntropyStage *entropy_stage(int id)
{
    return id == AECIMG_ENTROPY_ZSTD ? &entropy_zstd : id == AECIMG_ENTROPY_RANS ? &entropy_rans : NULL;
}

int entropy_check_params(const EntropyParams *p)
{
    RETURN_ERROR_IF(!p->model, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(p->quality < 0 || (uint32_t)p->quality >= p->model->quality_count, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(p->channels != p->model->latent_channels, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(p->height == 0 || p->width == 0, AECIMG_ERR_INVALID_ARGUMENT);
    return 0;
}

void entropy_streams_free(EntropyStreams *s)
{
    free(s->data);
    free(s->sizes);
    memset(s, 0, sizeof *s);
}
