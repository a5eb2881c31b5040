/* sha256.h: SHA-256 (FIPS 180-4), used for the model identity recorded in .aec files. */
#ifndef AECIMG_SHA256_H
#define AECIMG_SHA256_H

#include <stddef.h>
#include <stdint.h>

void sha256(const uint8_t *data, size_t size, uint8_t digest[32]);

#endif
