/* write_model.c: writes a model of model_builder.h for the CLI tests, which cannot call the builder:
 * write_model FILE CHANNELS STAGES [direct], with lambdas so that refinement runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "model_builder.h"

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: write_model FILE CHANNELS STAGES [direct]\n");
        return 2;
    }
    const TestModelShape shape = {.gdn_channels = 8, .latent_channels = 6, .symbols = 64, .precision = 14,
                                  .meta = "lambdas=0.002,0.05\n",
                                  .image_channels = (uint32_t)atoi(argv[2]), .stages = (uint32_t)atoi(argv[3]),
                                  .direct_output = argc == 5};
    size_t size;
    uint8_t *model = test_model_build(&shape, &size);
    FILE *f = fopen(argv[1], "wb");
    const int ok = f && fwrite(model, 1, size, f) == size;
    if (f && fclose(f) != 0) {
        free(model);
        return 1;
    }
    free(model);
    return ok ? 0 : 1;
}
