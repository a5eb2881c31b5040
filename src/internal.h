/* internal.h: helpers shared by the library's modules (error forwarding, checked sizes, byte order). */
#ifndef AECIMG_INTERNAL_H
#define AECIMG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <aecimg/aecimg.h>

#define RETURN_ERROR_IF(cond, err) \
    do { \
        if (cond) \
            return (err); \
    } while (0)

#define FORWARD_IF_ERROR(expr) \
    do { \
        int forward_err_ = (expr); \
        if (forward_err_ < 0) \
            return forward_err_; \
    } while (0)

/* a * b, or 0 (and *ok cleared) if the product overflows size_t. */
static inline size_t mul_size(size_t a, size_t b, int *ok)
{
    if (a && b > SIZE_MAX / a) {
        *ok = 0;
        return 0;
    }
    return a * b;
}

static inline uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t load_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void store_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static inline uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)load_le32(p + 4) << 32 | load_le32(p);
}

#endif
