/* model_builder.h: small valid model files written from scratch, for tests that need a shape the
 * committed tiny model does not have (a wide GDN, many latent channels, large tables, one image
 * channel, a total stride of 4 or 8). */
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
    uint32_t image_channels;  /* C: 1 (a gray model) or 3; 0 stands for 3 */
    uint32_t stages;          /* 0: the 1x1 layout; 1..3: the 3x3 layout of total stride 2^stages */
    int direct_output;        /* the 3x3 layout: its synthesis ends in a convolution to C channels */
} TestModelShape;

/* A model file (malloc'd bytes) with that shape.  Gains are one and every (quality, channel) shares
 * one uniform table, so even large tables cost little.
 *
 * The 1x1 layout: analysis conv C->gdn (1x1, stride 2), GDN, conv gdn->M (1x1); synthesis conv M->4C
 * (1x1), pixel shuffle 2.  Weights are all one, biases zero, the GDN is the identity.
 *
 * The 3x3 layout, the shape of the trained models: analysis per stage a conv (5x5, stride 2), C->gdn
 * first, ->M last, with a GDN between stages; synthesis per stage a conv (3x3) M-> first, then pixel
 * shuffle 2, with an inverse GDN between stages: conv ->4 gdn, and in the last stage conv gdn->4C, so
 * that its shuffle gives the C image channels.  With direct_output the last stage also goes to gdn
 * channels, and an inverse GDN and a conv gdn->C (3x3) follow: a last convolution of one output channel
 * for a gray model.  Weights, biases and the GDNs' beta and gamma are pseudo-random (a fixed seed: the
 * same bytes on every run), the weights scaled by the fan-in so that activations keep their size. */
uint8_t *test_model_build(const TestModelShape *shape, size_t *size);

/* Writes bytes to a fresh file named from `templ` (mkstemp pattern, modified in place). */
void test_model_write(char *templ, const uint8_t *data, size_t size);

#endif
