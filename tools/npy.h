/* npy.h: NumPy .npy files (format version 1.0) for aec-decode --latents. */
#ifndef AECIMG_NPY_H
#define AECIMG_NPY_H

#include <stdint.h>
#include <stdio.h>

#define NPY_MAX_DIMS 8

/* Writes a C-order float32 array of ndim (1..NPY_MAX_DIMS) dimensions to f as a .npy file: dtype '<f4'
 * (little-endian whatever the host), header padded so that the data starts at a multiple of 64 bytes.
 * Returns 0, or -1 when ndim is out of range or a write fails (errno tells why). */
int npy_write_f32(FILE *f, const uint32_t *shape, int ndim, const float *data);

#endif
