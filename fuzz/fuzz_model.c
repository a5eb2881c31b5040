/* fuzz_model.c: model files (.aecm) parsed from memory by model_file_parse.
 *
 * A model file ends with the SHA-256 of everything before it, which random changes almost never
 * keep right.  Each input is therefore parsed twice: as it is (the signature, section table and
 * hash checks), and with the hash recomputed, so that the section parsers (META, ARCH, TENS, RATE,
 * CDFS) and the shape checks see the mutated bytes.  A model that parses must build into networks,
 * as aecimg_open does with it: the loader has to refuse whatever the kernels cannot run. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model_file.h"
#include "network.h"
#include "nn/nn.h"
#include "sha256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_and_build(const uint8_t *data, size_t size)
{
    ModelFile m;
    int err = model_file_parse(data, size, &m);
    if (err > 0)
        abort();
    if (err < 0) {
        /* model_file_parse frees what it allocated and leaves m empty. */
        if (m.meta || m.tensors || m.rates || m.cdfs || m.freqs)
            abort();
        return;
    }
    NnKernels k;
    nn_kernels_init(&k, NN_CPU_C);
    Network a, s;
    if (network_build(&a, &m, MODEL_NET_ANALYSIS, &k, 1) != 0 || network_build(&s, &m, MODEL_NET_SYNTHESIS, &k, 1) != 0)
        abort();
    int oh, ow;
    network_out_size(&s, 1, 1, &oh, &ow);
    if ((uint32_t)oh != m.stride || (uint32_t)ow != m.stride)
        abort();
    network_out_size(&a, (int)m.stride, (int)m.stride, &oh, &ow);
    if (oh != 1 || ow != 1)
        abort();
    network_free(&s);
    network_free(&a);
    model_file_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_and_build(data, size);
    if (size < 48)
        return 0;
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    sha256(copy, size - 32, copy + size - 32);
    parse_and_build(copy, size);
    free(copy);
    return 0;
}
