/* error.c: error strings and version queries. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <aecimg/aecimg.h>

const char *aecimg_strerror(int err)
{
    switch (err) {
    case AECIMG_OK: return "success";
    case AECIMG_ERR_INVALID_ARGUMENT: return "invalid argument";
    case AECIMG_ERR_NO_MEMORY: return "out of memory";
    case AECIMG_ERR_IO: return "input/output error";
    case AECIMG_ERR_BAD_MAGIC: return "not an aec file (bad signature)";
    case AECIMG_ERR_UNSUPPORTED_VERSION: return "unsupported aec format version";
    case AECIMG_ERR_TRUNCATED: return "truncated file";
    case AECIMG_ERR_CRC_MISMATCH: return "CRC mismatch (corrupted file)";
    case AECIMG_ERR_CORRUPT: return "corrupted or invalid file structure";
    case AECIMG_ERR_UNKNOWN_CRITICAL_CHUNK: return "unknown critical chunk";
    case AECIMG_ERR_TOO_LARGE: return "image dimensions exceed the limits";
    case AECIMG_ERR_MODEL_MISMATCH: return "file was made with a different model";
    case AECIMG_ERR_MODEL_INVALID: return "invalid or corrupted model file";
    case AECIMG_ERR_MODEL_NOT_FOUND: return "model file not found";
    case AECIMG_ERR_ENTROPY: return "corrupted latent payload";
    case AECIMG_ERR_UNSUPPORTED: return "unsupported feature";
    case AECIMG_ERR_INTERNAL: return "internal error";
    case AECIMG_ERR_COLOR_INPUT: return "the model codes gray images; the input is color";
    default: return "unknown error";
    }
}

const char *aecimg_version(void)
{
    return PACKAGE_VERSION;
}

unsigned aecimg_api_version(void)
{
    return AECIMG_API_VERSION;
}
