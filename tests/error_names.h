/* error_names.h: an error code from its name in the public header, for the tests that read
 * tests/conformance/MANIFEST (test_conformance, test_pixbuf); one table, so a new code is added once. */
#ifndef AEC_TESTS_ERROR_NAMES_H
#define AEC_TESTS_ERROR_NAMES_H

#include <string.h>

#include <aecimg/aecimg.h>

/* The AECIMG_ERR_* code named `name`, or 0 when no code has that name. */
static inline int error_code_by_name(const char *name)
{
#define AEC_ERROR_NAME(code) {#code, code}
    static const struct {
        const char *name;
        int code;
    } codes[] = {
        AEC_ERROR_NAME(AECIMG_ERR_INVALID_ARGUMENT),   AEC_ERROR_NAME(AECIMG_ERR_NO_MEMORY),
        AEC_ERROR_NAME(AECIMG_ERR_IO),                 AEC_ERROR_NAME(AECIMG_ERR_BAD_MAGIC),
        AEC_ERROR_NAME(AECIMG_ERR_UNSUPPORTED_VERSION), AEC_ERROR_NAME(AECIMG_ERR_TRUNCATED),
        AEC_ERROR_NAME(AECIMG_ERR_CRC_MISMATCH),       AEC_ERROR_NAME(AECIMG_ERR_CORRUPT),
        AEC_ERROR_NAME(AECIMG_ERR_UNKNOWN_CRITICAL_CHUNK), AEC_ERROR_NAME(AECIMG_ERR_TOO_LARGE),
        AEC_ERROR_NAME(AECIMG_ERR_MODEL_MISMATCH),     AEC_ERROR_NAME(AECIMG_ERR_MODEL_INVALID),
        AEC_ERROR_NAME(AECIMG_ERR_MODEL_NOT_FOUND),    AEC_ERROR_NAME(AECIMG_ERR_ENTROPY),
        AEC_ERROR_NAME(AECIMG_ERR_UNSUPPORTED),        AEC_ERROR_NAME(AECIMG_ERR_INTERNAL),
        AEC_ERROR_NAME(AECIMG_ERR_COLOR_INPUT),
    };
#undef AEC_ERROR_NAME
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(name, codes[i].name) == 0)
            return codes[i].code;
    return 0;
}

#endif
