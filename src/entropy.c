/* entropy.c: lookup of the entropy stages by container id. */
#include <stdlib.h>
#include <string.h>

#include "entropy.h"
#include "internal.h"

const EntropyStage *entropy_stage(int id)
{
    return id == AECIMG_ENTROPY_ZSTD ? &entropy_zstd : NULL;
}

void entropy_streams_free(EntropyStreams *s)
{
    free(s->data);
    free(s->sizes);
    memset(s, 0, sizeof *s);
}
