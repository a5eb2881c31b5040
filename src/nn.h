/* nn.h: neural-network kernels over HWC float tensors, with a per-CPU dispatch table. */
#ifndef AECIMG_NN_H
#define AECIMG_NN_H

#include <stddef.h>

/* Tensors are HWC: element (y, x, ch) of an h x w x c tensor is at data[(y * w + x) * c + ch]. */

/* A 2-D convolution with zero padding k/2 on every side, as PyTorch's Conv2d(padding=k//2).
 * Output size: oh = (ih + 2*(k/2) - k) / stride + 1, likewise ow. k is odd, stride 1 or 2. */
typedef struct NnConv {
    int cin, cout, k, stride;
    const float *weight; /* [cout][cin][k][k], PyTorch's layout, as stored in the model file */
    const float *bias;   /* [cout] */
    float *packed;       /* owned: weights rearranged by nn_conv_prepare for the active kernels */
    size_t packed_size;  /* in floats */
    int packed_level;    /* NN_CPU_* of the kernels whose layout packed holds */
} NnConv;

/* Generalized divisive normalization: norm_i = beta_i + sum_j gamma[i][j] * x_j^2;
 * GDN: y_i = x_i / sqrt(norm_i); inverse GDN: y_i = x_i * sqrt(norm_i).
 * channels is at most NN_GDN_MAX_CHANNELS. */
typedef struct NnGdn {
    int channels;
    int inverse;
    const float *beta;  /* [channels] */
    const float *gamma; /* [channels][channels] */
    float *packed;      /* owned, as for NnConv */
    size_t packed_size; /* in floats */
    int packed_level;
} NnGdn;

/* The GDN kernels keep a few pixels' worth of channels on the stack, hence a bound. */
#define NN_GDN_MAX_CHANNELS 1024

/* The kernels of one level. conv2d and gdn need a conv/gdn prepared with the same table:
 * the packed layouts differ between levels. Every entry gives bit-identical results for any
 * thread count (>= 1): each output element is accumulated in an order fixed by its position. */
typedef struct NnKernels {
    const char *level; /* "c", "avx2", "avx512" */
    void (*conv2d)(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads);
    void (*gdn)(const NnGdn *gdn, float *data, int h, int w, int threads); /* in place */
    int (*conv_pack)(NnConv *conv);  /* fills conv->packed; 0 or -1 on allocation failure */
    int (*gdn_pack)(NnGdn *gdn);
} NnKernels;

/* CPU feature levels, lowest first. */
enum { NN_CPU_C = 0, NN_CPU_AVX2 = 1, NN_CPU_AVX512 = 2 };

/* Highest level this CPU (and its OS) supports, capped by the environment variable
 * AECIMG_CPU_MAX ("c", "avx2", "avx512") when set; other values of it are ignored. */
int nn_cpu_detect(void);
/* Fills k with the kernels of the given level, or of the best level below it that is compiled in
 * and that the CPU supports (so asking for more than the CPU has never selects illegal code). */
void nn_kernels_init(NnKernels *k, int level);

static inline int nn_conv_out_size(int in, int k, int stride)
{
    return (in + 2 * (k / 2) - k) / stride + 1;
}

/* Check the shape and pack the weights for k; 0, or -1 on a bad shape or allocation failure.
 * packed must be NULL (a zero-initialized struct) or from an earlier prepare: it is freed first.
 * Release frees packed and may be repeated. */
int nn_conv_prepare(const NnKernels *k, NnConv *conv);
int nn_gdn_prepare(const NnKernels *k, NnGdn *gdn);
void nn_conv_release(NnConv *conv);
void nn_gdn_release(NnGdn *gdn);

/* out (2h x 2w x c/4) from in (h x w x c), PyTorch's pixel_shuffle(2) channel order:
 * out(2y+i, 2x+j, ch) = in(y, x, ch*4 + i*2 + j). c is a multiple of 4. */
void nn_pixel_shuffle2(const float *in, int h, int w, int c, float *out, int threads);

/* The portable reference kernels, used by the dispatch table and by the tests of the others. */
void nn_conv2d_c(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads);
void nn_gdn_c(const NnGdn *gdn, float *data, int h, int w, int threads);
int nn_conv_pack_c(NnConv *conv);
int nn_gdn_pack_c(NnGdn *gdn);

/* The x86 kernels (nn_avx2.c, nn_avx512.c), built only when configure finds HAVE_X86_SIMD. */
void nn_conv2d_avx2(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads);
void nn_gdn_avx2(const NnGdn *gdn, float *data, int h, int w, int threads);
int nn_conv_pack_avx2(NnConv *conv);
int nn_gdn_pack_avx2(NnGdn *gdn);
void nn_conv2d_avx512(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads);
void nn_gdn_avx512(const NnGdn *gdn, float *data, int h, int w, int threads);
int nn_conv_pack_avx512(NnConv *conv);
int nn_gdn_pack_avx512(NnGdn *gdn);

/* Helpers shared by the kernel files. */

/* An aligned (64-byte), zeroed array of n floats for packed weights; NULL on failure.
 * Free it with nn_free_packed. */
float *nn_alloc_packed(size_t n);
void nn_free_packed(float *p);

/* OpenMP pragmas that vanish (without unknown-pragma or unused-parameter warnings) when OpenMP
 * is off. NN_PARALLEL_FOR goes right before a for statement. */
#define NN_PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#define NN_PARALLEL_FOR(threads) NN_PRAGMA(omp parallel for num_threads(threads) schedule(static))
#define NN_SIMD NN_PRAGMA(omp simd)
#else
#define NN_PARALLEL_FOR(threads) (void)(threads);
#define NN_SIMD
#endif

#endif
