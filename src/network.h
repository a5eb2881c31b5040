/* network.h: the analysis and synthesis transforms, built from a model file's layer list. */
#ifndef AECIMG_NETWORK_H
#define AECIMG_NETWORK_H

#include "model_file.h"
#include "nn/nn.h"

typedef struct NetLayer {
    uint32_t op; /* MODEL_OP_* */
    NnConv conv;
    NnGdn gdn;
    int fused;   /* a pixel shuffle the convolution before it already did (NnConv.shuffled) */
} NetLayer;

typedef struct Network {
    const NnKernels *kernels;
    uint32_t layer_count;
    NetLayer layers[MODEL_MAX_LAYERS];
    uint32_t in_channels, out_channels;
} Network;

/* Builds network `net` (MODEL_NET_*) of a validated model, packing weights with up to `threads`
 * threads; the weights stay owned by the model. */
int network_build(Network *n, const ModelFile *m, uint32_t net, const NnKernels *k, int threads);
/* The same network with bfloat16 products in every layer but the last convolution where the kernels
 * have them (the first convolution and every Winograd one included): outside the decoder's accuracy
 * contract, for the encoder's searches, which only need the network's direction (latent refinement:
 * on kodim01/07/15/23 at qualities 25-100 with 20 iterations, within 0.02 dB and 0.1% of the bytes of
 * refining through the decoder's network, 10% less time per iteration). */
int network_build_fast(Network *n, const ModelFile *m, uint32_t net, const NnKernels *k, int threads);
void network_free(Network *n);

/* Output size of the network for an h x w input. */
void network_out_size(const Network *n, int h, int w, int *oh, int *ow);

/* How far an input edge reaches into the output: the rows (likewise columns) next to a cut edge of
 * the input whose values depend on the zero padding there, in output units. A tile cut out of a
 * larger tensor matches the whole-tensor result exactly beyond this many rows from each cut edge
 * (for inputs whose sides are multiples of the network's total stride). */
int network_edge_reach(const Network *n);

/* What tile origins must be multiples of, in input units, so that blocked convolutions cut their
 * blocks where they would in the whole tensor. */
int network_alignment(const Network *n);

/* Working memory of network runs: two buffers the layers ping-pong between, each the size of the
 * largest tensor that lands in it, kept and reused between runs (zero-initialized: empty). */
typedef struct NetWorkspace {
    float *buf[2];
    size_t floats[2];
} NetWorkspace;

/* Makes room in ws for running n on an h x w input and returns where that HWC h x w x in_channels
 * input goes; NULL when out of memory. */
float *network_input(const Network *n, NetWorkspace *ws, int h, int w);
/* Runs n on the input placed by network_input; *out (HWC) points into ws and stays valid until ws is
 * used again. */
int network_run(const Network *n, NetWorkspace *ws, int h, int w, const float **out, int threads);
void network_workspace_free(NetWorkspace *ws);

#endif
