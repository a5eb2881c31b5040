/* model_builder.h: small valid model files written from scratch, for tests that need a shape the
 * committed tiny model does not have (a wide GDN, many latent channels, large tables). */
#ifndef AEC_TESTS_MODEL_BUILDER_H
#define AEC_TESTS_MODEL_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct TestModelShape {
    uint32_t gdn_channels;    /* width of the analysis GDN (1..) */
    uint32_t latent_channels; /* M (1..) */
    uint32_t symbols;         /* symbols per CDF table (1..4095), centred on 0 */
    uint32_t precision;       /* CDF precision in bits (12..16) */
    const char *meta;         /* META lines after `name=test-built` ("key=value\n"...), or NULL */
} TestModelShape;

/* A model file (malloc'd bytes) with that shape.  Analysis: conv 3->gdn (1x1, stride 2), GDN,
 * conv gdn->M (1x1); synthesis: conv M->12 (1x1), pixel shuffle 2.  Weights are all one, biases
 * zero, the GDN is the identity; gains are one and every (quality, channel) shares one uniform
 * table, so even large tables cost little. */
uint8_t *test_model_build(const TestModelShape *shape, size_t *size);

/* Writes bytes to a fresh file named from `templ` (mkstemp pattern, modified in place). */
void test_model_write(char *templ, const uint8_t *data, size_t size);

#endif
