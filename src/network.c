/* network.c: runs a model's layer list with the dispatched nn kernels, ping-ponging two buffers. */
#define _DEFAULT_SOURCE /* madvise */
#include "network.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

static int winograd_shape(const ModelLayer *l)
{
    return l->p[2] == 3 && l->p[3] == 1;
}

/* Whether conv layer i of network `net` may use bfloat16 products.  The first and the last convolution
 * keep float32, so that the pixels and the latents that get rounded keep full precision (as training's
 * bfloat16 mode).  Winograd's transforms amplify the rounding about fourfold (nn_winograd.c), and an error
 * made at a lower resolution is spread by every layer after it, so of the inner convolutions that run
 * as Winograd only the last keeps bfloat16: on Kodak at quality 100 each of the model's two inner
 * Winograd convolutions costs about 0.008 dB in bfloat16, against 0.02 dB allowed in all. */
/* With `fast` (network_build_fast), every convolution but the last may. */
static int bf16_allowed(const ModelFile *m, uint32_t net, uint32_t i, int fast)
{
    int before = 0, after = 0, winograd_after = 0;
    for (uint32_t j = 0; j < m->layer_count; j++)
        if (m->layers[j].net == net && m->layers[j].op == MODEL_OP_CONV) {
            before += j < i;
            after += j > i;
        }
    for (uint32_t j = i + 1, seen = 0; j < m->layer_count; j++)
        if (m->layers[j].net == net && m->layers[j].op == MODEL_OP_CONV && ++seen < (uint32_t)after)
            winograd_after |= winograd_shape(&m->layers[j]);
    const int winograd = m->layers[i].op == MODEL_OP_CONV && winograd_shape(&m->layers[i]);
    return after > 0 && (fast || (before > 0 && !(winograd && winograd_after)));
}

/* Whether the next layer of network `net` after layer i is a pixel shuffle. */
static int shuffle_follows(const ModelFile *m, uint32_t net, uint32_t i)
{
    for (uint32_t j = i + 1; j < m->layer_count; j++)
        if (m->layers[j].net == net)
            return m->layers[j].op == MODEL_OP_PIXEL_SHUFFLE;
    return 0;
}

/* fast: network_build_fast's precision. */
static int build(Network *n, const ModelFile *m, uint32_t net, const NnKernels *k, int fast, int threads)
{
    memset(n, 0, sizeof *n);
    n->kernels = k;
    n->in_channels = net == MODEL_NET_ANALYSIS ? m->image_channels : m->latent_channels;
    n->out_channels = net == MODEL_NET_ANALYSIS ? m->latent_channels : m->image_channels;
    for (uint32_t i = 0; i < m->layer_count; i++) {
        const ModelLayer *ml = &m->layers[i];
        if (ml->net != net)
            continue;
        NetLayer *l = &n->layers[n->layer_count++];
        l->op = ml->op;
        int err = 0;
        if (ml->op == MODEL_OP_CONV) {
            l->conv = (NnConv){.cin = (int)ml->p[0], .cout = (int)ml->p[1], .k = (int)ml->p[2],
                               .stride = (int)ml->p[3], .weight = ml->t[0]->data, .bias = ml->t[1]->data,
                               .winograd_ok = 1, .bf16_ok = bf16_allowed(m, net, i, fast),
                               .shuffle_ok = shuffle_follows(m, net, i)};
            err = nn_conv_prepare(k, &l->conv, threads);
        } else if (ml->op == MODEL_OP_GDN || ml->op == MODEL_OP_IGDN) {
            l->gdn = (NnGdn){.channels = (int)ml->p[0], .inverse = ml->op == MODEL_OP_IGDN,
                             .beta = ml->t[0]->data, .gamma = ml->t[1]->data,
                             .bf16_ok = bf16_allowed(m, net, i, fast)};
            err = nn_gdn_prepare(k, &l->gdn);
        } else if (ml->op == MODEL_OP_PIXEL_SHUFFLE && n->layer_count > 1) {
            const NetLayer *before = &n->layers[n->layer_count - 2];
            l->fused = before->op == MODEL_OP_CONV && before->conv.shuffled;
        }
        if (err < 0) {
            network_free(n);
            return AECIMG_ERR_NO_MEMORY;
        }
    }
    return 0;
}

int network_build(Network *n, const ModelFile *m, uint32_t net, const NnKernels *k, int threads)
{
    return build(n, m, net, k, 0, threads);
}

int network_build_fast(Network *n, const ModelFile *m, uint32_t net, const NnKernels *k, int threads)
{
    return build(n, m, net, k, 1, threads);
}

void network_free(Network *n)
{
    for (uint32_t i = 0; i < n->layer_count; i++) {
        nn_conv_release(&n->layers[i].conv);
        nn_gdn_release(&n->layers[i].gdn);
    }
    memset(n, 0, sizeof *n);
}

/* Walks the layers' shapes: output size, and the largest tensor (in floats) that lands in each of the
 * two ping-pong buffers. */
static void walk_shapes(const Network *n, int h, int w, int *oh, int *ow, size_t largest[2])
{
    int c = (int)n->in_channels, cur = 0;
    largest[0] = (size_t)h * w * c;
    largest[1] = 0;
    for (uint32_t i = 0; i < n->layer_count; i++) {
        const NetLayer *l = &n->layers[i];
        if (l->op == MODEL_OP_CONV) {
            h = nn_conv_out_size(h, l->conv.k, l->conv.stride);
            w = nn_conv_out_size(w, l->conv.k, l->conv.stride);
            c = l->conv.cout;
            cur = !cur;
        } else if (l->op == MODEL_OP_PIXEL_SHUFFLE) {
            h *= 2;
            w *= 2;
            c /= 4;
            cur = l->fused ? cur : !cur;
        }
        size_t size = (size_t)h * w * c;
        if (size > largest[cur])
            largest[cur] = size;
    }
    *oh = h;
    *ow = w;
}

/* A direct conv's output row is wrong if its window [stride*o - k/2, stride*o + k/2] touches a wrong
 * input row or the padding. A blocked (Winograd, stride 1) conv's output rows are wrong by whole
 * blocks: a block is wrong if its input rows [b*block - k/2, ...] start inside the wrong rows. Pixel
 * shuffle doubles the rows; GDN works per pixel. The far edge reaches no further, for inputs whose
 * sides are multiples of network_alignment and of the total stride. */
int network_edge_reach(const Network *n)
{
    int reach = 0;
    for (uint32_t i = 0; i < n->layer_count; i++) {
        const NnConv *c = &n->layers[i].conv;
        if (n->layers[i].op == MODEL_OP_CONV && c->block > 1)
            reach = (reach + c->k / 2 + c->block - 1) / c->block * c->block;
        else if (n->layers[i].op == MODEL_OP_CONV)
            reach = (reach + c->k / 2 + c->stride - 1) / c->stride;
        else if (n->layers[i].op == MODEL_OP_PIXEL_SHUFFLE)
            reach *= 2;
    }
    return reach;
}

static int gcd(int a, int b)
{
    return b ? gcd(b, a % b) : a;
}

/* A blocked conv at scale up/down of the input sees an input origin o at o*up/down, which must be a
 * multiple of its block: o a multiple of block*down / gcd(up, block*down). */
int network_alignment(const Network *n)
{
    int align = 1, up = 1, down = 1;
    for (uint32_t i = 0; i < n->layer_count; i++) {
        const NnConv *c = &n->layers[i].conv;
        if (n->layers[i].op == MODEL_OP_CONV && c->block > 1) {
            int need = c->block * down / gcd(up, c->block * down);
            align = align / gcd(align, need) * need;
        }
        if (n->layers[i].op == MODEL_OP_CONV)
            down *= c->stride;
        else if (n->layers[i].op == MODEL_OP_PIXEL_SHUFFLE)
            up *= 2;
    }
    return align;
}

/* Big buffers are aligned to 2 MiB and offered to transparent huge pages: first touching a 50 MB
 * tensor costs 25 faults instead of 12800. */
#define HUGE_PAGE ((size_t)2 << 20)

static float *alloc_big(size_t floats)
{
    size_t bytes = (floats * sizeof(float) + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    float *p = aligned_alloc(HUGE_PAGE, bytes);
#ifdef MADV_HUGEPAGE
    if (p)
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

void network_out_size(const Network *n, int h, int w, int *oh, int *ow)
{
    size_t largest[2];
    walk_shapes(n, h, w, oh, ow, largest);
}

float *network_input(const Network *n, NetWorkspace *ws, int h, int w)
{
    int oh, ow;
    size_t largest[2];
    walk_shapes(n, h, w, &oh, &ow, largest);
    for (int b = 0; b < 2; b++)
        if (largest[b] > ws->floats[b]) {
            free(ws->buf[b]);
            ws->buf[b] = NULL;
            ws->floats[b] = 0;
            if (largest[b] > (SIZE_MAX - HUGE_PAGE) / sizeof(float) || !(ws->buf[b] = alloc_big(largest[b]))) {
                network_workspace_free(ws);
                return NULL;
            }
            ws->floats[b] = largest[b];
        }
    return ws->buf[0];
}

void network_workspace_free(NetWorkspace *ws)
{
    free(ws->buf[0]);
    free(ws->buf[1]);
    memset(ws, 0, sizeof *ws);
}

int network_run(const Network *n, NetWorkspace *ws, int h, int w, const float **out, int threads)
{
    float *const *buf = ws->buf;
    int cur = 0, c = (int)n->in_channels;
    for (uint32_t i = 0; i < n->layer_count; i++) {
        const NetLayer *l = &n->layers[i];
        if (l->op == MODEL_OP_CONV) {
            if (nn_conv2d(n->kernels, &l->conv, buf[cur], h, w, buf[!cur], threads) < 0)
                return AECIMG_ERR_NO_MEMORY;
            h = nn_conv_out_size(h, l->conv.k, l->conv.stride);
            w = nn_conv_out_size(w, l->conv.k, l->conv.stride);
            c = l->conv.cout;
            cur = !cur;
        } else if (l->op == MODEL_OP_PIXEL_SHUFFLE && l->fused) {
            h *= 2;
            w *= 2;
            c /= 4;
        } else if (l->op == MODEL_OP_PIXEL_SHUFFLE) {
            nn_pixel_shuffle2(buf[cur], h, w, c, buf[!cur], threads);
            h *= 2;
            w *= 2;
            c /= 4;
            cur = !cur;
        } else {
            nn_gdn(n->kernels, &l->gdn, buf[cur], buf[cur], h, w, threads);
        }
    }
    *out = buf[cur];
    return 0;
}
