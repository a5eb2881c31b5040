/* npy.c: writes NumPy .npy files (format version 1.0, numpy/lib/format.py). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "npy.h"

#include <errno.h>
#include <string.h>

/* "\x93NUMPY", version 1.0, then the header's length as a little-endian u16. */
#define NPY_PREAMBLE 10
/* numpy aligns the data to 64 bytes (ARRAY_ALIGN), so that it can be mapped and read in place. */
#define NPY_ALIGN 64

/* The header dict, as numpy writes it: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
 * a one-dimensional shape with its trailing comma. */
static int header_dict(char *buf, size_t size, const uint32_t *shape, int ndim)
{
    size_t n = (size_t)snprintf(buf, size, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %u" : "%u", (unsigned)shape[i]);
    if (n < size)
        n += (size_t)snprintf(buf + n, size - n, ndim == 1 ? ",), }" : "), }");
    return n < size ? (int)n : -1;
}

static int write_header(FILE *f, const uint32_t *shape, int ndim)
{
    char dict[256];
    uint8_t preamble[NPY_PREAMBLE] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    int n = header_dict(dict, sizeof dict, shape, ndim);
    if (n < 0)
        return -1;
    /* Spaces, then the newline that ends the header, up to the next multiple of NPY_ALIGN. */
    size_t total = NPY_PREAMBLE + (size_t)n + 1, padded = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    size_t header_len = padded - NPY_PREAMBLE;
    preamble[8] = (uint8_t)header_len;
    preamble[9] = (uint8_t)(header_len >> 8);
    if (fwrite(preamble, 1, sizeof preamble, f) != sizeof preamble || fwrite(dict, 1, (size_t)n, f) != (size_t)n)
        return -1;
    for (size_t i = total; i < padded; i++)
        if (fputc(' ', f) == EOF)
            return -1;
    return fputc('\n', f) == EOF ? -1 : 0;
}

int npy_write_f32(FILE *f, const uint32_t *shape, int ndim, const float *data)
{
    uint8_t buf[4096];
    size_t count = 1;

    if (ndim < 1 || ndim > NPY_MAX_DIMS) {
        errno = EINVAL;
        return -1;
    }
    for (int i = 0; i < ndim; i++)
        count *= shape[i];
    if (write_header(f, shape, ndim) != 0)
        return -1;
    for (size_t i = 0; i < count;) {
        size_t k = 0;
        for (; k + 4 <= sizeof buf && i < count; k += 4, i++) {
            uint32_t v;
            memcpy(&v, &data[i], 4);
            buf[k] = (uint8_t)v;
            buf[k + 1] = (uint8_t)(v >> 8);
            buf[k + 2] = (uint8_t)(v >> 16);
            buf[k + 3] = (uint8_t)(v >> 24);
        }
        if (fwrite(buf, 1, k, f) != k)
            return -1;
    }
    return 0;
}
