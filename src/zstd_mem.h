/* zstd_mem.h: zstd contexts whose memory comes from the library's own malloc and free.
 *
 * ZSTD_compress and ZSTD_decompress allocate inside libzstd, out of sight of the rest of the
 * library: an allocation failure there would come back as a zstd error and be reported as a
 * corrupt stream.  Contexts made here allocate through malloc as called from libaecimg (so the
 * allocation-failure test sees and fails them too), and zstd_error() turns zstd's allocation
 * error into AECIMG_ERR_NO_MEMORY. */
#ifndef AECIMG_ZSTD_MEM_H
#define AECIMG_ZSTD_MEM_H

#include <stdlib.h>

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem and the _advanced constructors */
#include <zstd.h>
#include <zstd_errors.h>

#include <aecimg/aecimg.h>

static inline void *zstd_mem_alloc(void *opaque, size_t size)
{
    (void)opaque;
    return malloc(size);
}

static inline void zstd_mem_free(void *opaque, void *address)
{
    (void)opaque;
    free(address);
}

static inline ZSTD_CCtx *zstd_cctx_new(void)
{
    const ZSTD_customMem mem = {zstd_mem_alloc, zstd_mem_free, NULL};
    return ZSTD_createCCtx_advanced(mem);
}

static inline ZSTD_DCtx *zstd_dctx_new(void)
{
    const ZSTD_customMem mem = {zstd_mem_alloc, zstd_mem_free, NULL};
    return ZSTD_createDCtx_advanced(mem);
}

/* The AECIMG_ERR_* for a zstd error code: running out of memory, or `otherwise`. */
static inline int zstd_error(size_t code, int otherwise)
{
    return ZSTD_getErrorCode(code) == ZSTD_error_memory_allocation ? AECIMG_ERR_NO_MEMORY : otherwise;
}

#endif
