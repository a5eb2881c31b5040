/* nn.h: neural-network kernels over HWC float tensors, with a per-CPU dispatch table. */
#ifndef AECIMG_NN_H
#define AECIMG_NN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Tensors are HWC: element (y, x, ch) of an h x w x c tensor is at data[(y * w + x) * c + ch]. */

/* A 2-D convolution with zero padding k/2 on every side, as PyTorch's Conv2d(padding=k//2).
 * Output size: oh = (ih + 2*(k/2) - k) / stride + 1, likewise ow. k is odd, stride 1 or 2. */
typedef struct NnConv {
    int cin, cout, k, stride;
    const float *weight; /* [cout][cin][k][k], PyTorch's layout, as stored in the model file */
    const float *bias;   /* [cout] */
    int winograd_ok;     /* in: nonzero lets nn_conv_prepare pick Winograd for 3x3 stride 1 */
    int bf16_ok;         /* in: nonzero lets nn_conv_prepare pick the kernels' bfloat16 products */
    int shuffle_ok;      /* in: nonzero lets a Winograd convolution write its output pixel-shuffled */
    int unshuffle_ok;    /* in: nonzero lets a Winograd convolution read its input pixel-unshuffled */
    int block;           /* out: side of the output blocks computed together: 1, or NN_WINOGRAD_M */
    int bf16;            /* out: products of bfloat16 weights and inputs, summed in float32 */
    int shuffled;        /* out: the output is nn_pixel_shuffle2 of the convolution's, 2oh x 2ow x cout/4 */
    int unshuffled;      /* out: the input given is what nn_pixel_unshuffle2 makes the input from,
                          * 2ih x 2iw x cin/4 (ih, iw stay the convolution's own) */
    float *shuffle_bias; /* owned: the bias in the packed order of a shuffled convolution */
    void *packed;        /* owned: weights rearranged by nn_conv_prepare for the active kernels */
    size_t packed_size;  /* in elements (float, or uint16_t bfloat16 when bf16) */
    int packed_level;    /* NN_CPU_* of the kernels whose layout packed holds */
} NnConv;

/* Winograd F(4x4, 3x3): each 4x4 block of outputs comes from a 6x6 input tile through 36 matrix
 * products over the channels, 2.25 multiplications per output and channel pair instead of 9. The
 * floating-point result of an output depends on its whole block, so a block is the unit of
 * exactness when tensors are cut into tiles (network_edge_reach).  A bfloat16 convolution uses other
 * interpolation points, whose transforms amplify the rounding of bfloat16 less (nn_winograd.c). */
#define NN_WINOGRAD_M 4
#define NN_WINOGRAD_T 6

/* Generalized divisive normalization: norm_i = beta_i + sum_j gamma[i][j] * x_j^2;
 * GDN: y_i = x_i / sqrt(norm_i); inverse GDN: y_i = x_i * sqrt(norm_i).
 * channels is at most NN_GDN_MAX_CHANNELS. */
typedef struct NnGdn {
    int channels;
    int inverse;
    const float *beta;  /* [channels] */
    const float *gamma; /* [channels][channels] */
    int bf16_ok;        /* in: nonzero lets nn_gdn_prepare pick bfloat16 products (squares and gamma) */
    int bf16;           /* out: it did (an even channel count and kernels that have them) */
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
    const char *level; /* "c", "avx2", "avx512", "avx512bf16" */
    int cpu;           /* NN_CPU_* */
    /* Direct convolution (any shape), with weights packed by conv_pack; 0, or -1 when its scratch
     * cannot be allocated. */
    int (*conv2d)(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads);
    /* GDN of in into out, which may be in (per pixel, all its channels read before any is written). */
    void (*gdn)(const NnGdn *gdn, const float *in, float *out, int h, int w, int threads);
    int (*conv_pack)(NnConv *conv);  /* fills conv->packed; 0 or -1 on allocation failure */
    int (*gdn_pack)(NnGdn *gdn);
    /* c[i][j] = sum over kk in order of a[i][kk] * B[kk][j] for an m x k matrix a (rows lda apart)
     * and a k x n matrix B packed by gemm_pack; c's rows are ldc apart. Single-threaded. */
    void (*gemm)(const float *a, ptrdiff_t lda, const float *b, int k, int n, float *c, ptrdiff_t ldc, int m);
    size_t (*gemm_packed_size)(int k, int n); /* floats */
    void (*gemm_pack)(const float *b, int k, int n, float *dst); /* b: k x n, rows n apart */
    /* bfloat16 products with float32 sums, NULL where the level has none: the same operations with
     * weights rounded to bfloat16 by the packers and inputs rounded by to_bf16 (nn_bf16_from_float).
     * conv2d_bf16 rounds its input rows itself and needs an even cin; gemm_bf16 takes bfloat16 rows
     * and an even k (pad a row with a zero); gemm_packed_size_bf16 counts uint16_t. */
    int (*conv2d_bf16)(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads);
    int (*conv_pack_bf16)(NnConv *conv);
    void (*gemm_bf16)(const uint16_t *a, ptrdiff_t lda, const uint16_t *b, int k, int n, float *c, ptrdiff_t ldc,
                      int m);
    size_t (*gemm_packed_size_bf16)(int k, int n);
    void (*gemm_pack_bf16)(const float *b, int k, int n, uint16_t *dst);
    void (*to_bf16)(const float *src, uint16_t *dst, size_t n);
    void (*gdn_bf16)(const NnGdn *gdn, const float *in, float *out, int h, int w, int threads); /* even channels */
    int (*gdn_pack_bf16)(NnGdn *gdn);
    /* A convolution nn_winograd_pack prepared with this table (nn_winograd_tmpl.c, compiled per level). */
    int (*winograd)(const struct NnKernels *k, const NnConv *conv, const float *in, int ih, int iw, float *out,
                    int threads);
} NnKernels;

/* CPU feature levels, lowest first.  AVX512BF16 is AVX512 plus the bfloat16 products (AVX512-BF16)
 * for the convolutions that allow them. */
enum { NN_CPU_C = 0, NN_CPU_AVX2 = 1, NN_CPU_AVX512 = 2, NN_CPU_AVX512BF16 = 3 };

/* Highest level this CPU (and its OS) supports, capped by the environment variable
 * AECIMG_CPU_MAX ("c", "avx2", "avx512", "avx512bf16") when set; other values of it are ignored. */
int nn_cpu_detect(void);
/* Fills k with the kernels of the given level, or of the best level below it that is compiled in
 * and that the CPU supports (so asking for more than the CPU has never selects illegal code). */
void nn_kernels_init(NnKernels *k, int level);

static inline int nn_conv_out_size(int in, int k, int stride)
{
    return (in + 2 * (k / 2) - k) / stride + 1;
}

/* bfloat16 keeps float32's sign and exponent and the top 7 bits of its mantissa.  Rounding to nearest,
 * ties to even; subnormal inputs become zeros of their sign and NaNs stay (quiet) NaNs: exactly what
 * vcvtneps2bf16 does, so that packing in C and converting in SIMD agree bit for bit. */
static inline uint16_t nn_bf16_from_float(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)(u >> 16 | 0x40);
    if ((u & 0x7f800000u) == 0)
        return (uint16_t)(u >> 16 & 0x8000);
    u += 0x7fffu + (u >> 16 & 1);
    return (uint16_t)(u >> 16);
}

static inline float nn_bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Check the shape, choose the algorithm (Winograd for 3x3 stride 1 when conv->winograd_ok, else
 * direct), the precision (bfloat16 products when conv->bf16_ok and k has them for the shape: an even
 * cin for the direct convolution, more than one input channel for Winograd) and the
 * output layout (shuffled when conv->shuffle_ok, the algorithm is Winograd and cout a multiple of 4:
 * the pixel shuffle that follows then costs nothing, and the same bits come out), likewise the input
 * layout (unshuffled when conv->unshuffle_ok and cin is a multiple of 4), and pack the weights for k;
 * 0, or -1 on a bad shape or allocation failure.
 * packed must be NULL (a zero-initialized struct) or from an earlier prepare: it is freed first.
 * Release frees packed and may be repeated. The Winograd weight transform uses up to `threads`. */
int nn_conv_prepare(const NnKernels *k, NnConv *conv, int threads);
/* Runs a prepared convolution with the algorithm prepare chose; 0, or -1 when the Winograd
 * scratch cannot be allocated. Bit-identical for any thread count. */
int nn_conv2d(const NnKernels *k, const NnConv *conv, const float *in, int ih, int iw, float *out, int threads);
int nn_gdn_prepare(const NnKernels *k, NnGdn *gdn);
/* GDN of in into out (out may be in), in the precision prepare chose. */
void nn_gdn(const NnKernels *k, const NnGdn *gdn, const float *in, float *out, int h, int w, int threads);
void nn_conv_release(NnConv *conv);
void nn_gdn_release(NnGdn *gdn);

/* out (2h x 2w x c/4) from in (h x w x c), PyTorch's pixel_shuffle(2) channel order:
 * out(2y+i, 2x+j, ch) = in(y, x, ch*4 + i*2 + j). c is a multiple of 4. */
void nn_pixel_shuffle2(const float *in, int h, int w, int c, float *out, int threads);
/* Its inverse, which is also its gradient: out (h x w x 4c) from in (2h x 2w x c). */
void nn_pixel_unshuffle2(const float *in, int h, int w, int c, float *out, int threads);

/* Winograd F(4x4, 3x3) (nn_winograd.c): the weights packed for k's matrix products; the convolution is
 * k->winograd, one instance of the driver per level. */
int nn_winograd_pack(const NnKernels *k, NnConv *conv, int threads);
int nn_winograd_channel(const NnConv *conv, int c);
int nn_winograd_conv_c(const NnKernels *k, const NnConv *conv, const float *in, int ih, int iw, float *out,
                       int threads);
int nn_winograd_conv_avx2(const NnKernels *k, const NnConv *conv, const float *in, int ih, int iw, float *out,
                          int threads);
int nn_winograd_conv_avx512(const NnKernels *k, const NnConv *conv, const float *in, int ih, int iw, float *out,
                            int threads);
int nn_winograd_conv_avx512bf16(const NnKernels *k, const NnConv *conv, const float *in, int ih, int iw,
                                float *out, int threads);

/* The portable reference kernels, used by the dispatch table and by the tests of the others. */
int nn_conv2d_c(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads);
void nn_gdn_c(const NnGdn *gdn, const float *in, float *out, int h, int w, int threads);
int nn_conv_pack_c(NnConv *conv);
int nn_gdn_pack_c(NnGdn *gdn);
void nn_gemm_c(const float *a, ptrdiff_t lda, const float *b, int k, int n, float *c, ptrdiff_t ldc, int m);
size_t nn_gemm_packed_size_c(int k, int n);
void nn_gemm_pack_c(const float *b, int k, int n, float *dst);
/* References of the bfloat16 entries (no level dispatches to them: the tests' oracle): each product of
 * rounded operands is exact in float32, so they differ from the SIMD kernels only in summation order. */
int nn_conv2d_bf16_c(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads);
int nn_conv_pack_bf16_c(NnConv *conv);
void nn_gemm_bf16_c(const uint16_t *a, ptrdiff_t lda, const uint16_t *b, int k, int n, float *c, ptrdiff_t ldc,
                    int m);
size_t nn_gemm_packed_size_bf16_c(int k, int n);
void nn_gemm_pack_bf16_c(const float *b, int k, int n, uint16_t *dst);
void nn_to_bf16_c(const float *src, uint16_t *dst, size_t n);
void nn_gdn_bf16_c(const NnGdn *gdn, const float *in, float *out, int h, int w, int threads);
int nn_gdn_pack_bf16_c(NnGdn *gdn);
/* k with the bfloat16 entries of the references: the whole bfloat16 arithmetic in portable C. */
void nn_kernels_bf16_reference(NnKernels *k);

/* The x86 kernels (nn_avx2.c, nn_avx512.c, nn_avx512bf16.c), built only when configure finds
 * HAVE_X86_SIMD (and HAVE_AVX512BF16). */
int nn_conv2d_avx2(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads);
void nn_gdn_avx2(const NnGdn *gdn, const float *in, float *out, int h, int w, int threads);
int nn_conv_pack_avx2(NnConv *conv);
int nn_gdn_pack_avx2(NnGdn *gdn);
void nn_gemm_avx2(const float *a, ptrdiff_t lda, const float *b, int k, int n, float *c, ptrdiff_t ldc, int m);
size_t nn_gemm_packed_size_avx2(int k, int n);
void nn_gemm_pack_avx2(const float *b, int k, int n, float *dst);
int nn_conv2d_avx512(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads);
void nn_gdn_avx512(const NnGdn *gdn, const float *in, float *out, int h, int w, int threads);
int nn_conv_pack_avx512(NnConv *conv);
int nn_gdn_pack_avx512(NnGdn *gdn);
void nn_gemm_avx512(const float *a, ptrdiff_t lda, const float *b, int k, int n, float *c, ptrdiff_t ldc, int m);
size_t nn_gemm_packed_size_avx512(int k, int n);
void nn_gemm_pack_avx512(const float *b, int k, int n, float *dst);
int nn_conv2d_avx512bf16(const NnConv *conv, const float *in, int ih, int iw, float *out, int threads);
int nn_conv_pack_avx512bf16(NnConv *conv);
void nn_gemm_avx512bf16(const uint16_t *a, ptrdiff_t lda, const uint16_t *b, int k, int n, float *c, ptrdiff_t ldc,
                        int m);
size_t nn_gemm_packed_size_avx512bf16(int k, int n);
void nn_gemm_pack_avx512bf16(const float *b, int k, int n, uint16_t *dst);
void nn_to_bf16_avx512bf16(const float *src, uint16_t *dst, size_t n);
void nn_gdn_avx512bf16(const NnGdn *gdn, const float *in, float *out, int h, int w, int threads);
int nn_gdn_pack_avx512bf16(NnGdn *gdn);

/* Helpers shared by the kernel files. */

/* An aligned (64-byte), zeroed array of n bytes for packed weights or scratch; NULL on failure.
 * Free it with nn_free_packed. */
void *nn_alloc_packed(size_t bytes);
void nn_free_packed(void *p);
/* An aligned (64-byte), uninitialized scratch array of n bytes, kept off the fresh zero pages that
 * nn_alloc_packed hands out (the allocator reuses it from one call to the next); NULL on failure. */
void *nn_alloc_scratch(size_t bytes);
void nn_free_scratch(void *p);

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

/* The calling thread's number inside an OpenMP parallel region (0 outside one or without OpenMP):
 * an index into per-thread scratch. */
#ifdef _OPENMP
#include <omp.h>
static inline int nn_thread_index(void)
{
    return omp_get_thread_num();
}
#else
static inline int nn_thread_index(void)
{
    return 0;
}
#endif

#endif
