/* sha256.h: SHA-256 (FIPS 180-4), used for the model identity recorded in .aec files. */
#ifndef AECIMG_SHA256_H
#define AECIMG_SHA256_H

#include <stddef.h>
#include <stdint.h>

void sha256(const uint8_t *data, size_t size, uint8_t digest[32]);

/* Block compression, exposed for the tests: h is the chaining state, data holds whole 64-byte
 * blocks.  The x86 version exists where configure built the x86 kernels, and may only be called
 * when sha256_x86_available(). */
extern const uint32_t sha256_k[64];
void sha256_blocks_c(uint32_t h[8], const uint8_t *data, size_t blocks);
int sha256_x86_available(void);
void sha256_blocks_x86(uint32_t h[8], const uint8_t *data, size_t blocks);

#endif
