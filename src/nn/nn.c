/* nn.c: CPU feature detection, the kernel dispatch table, weight preparation and pixel shuffle. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#define _DEFAULT_SOURCE /* madvise */
#include "nn.h"

#include <stdint.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#define NN_X86 1
#else
#define NN_X86 0
#endif

#if NN_X86
/* XCR0: which register states the OS saves on context switches. */
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

static int cpu_raw_level(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return NN_CPU_C;
    const unsigned fma = 1u << 12, osxsave = 1u << 27, avx = 1u << 28;
    if ((c & (fma | osxsave | avx)) != (fma | osxsave | avx))
        return NN_CPU_C;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) /* XMM and YMM state */
        return NN_CPU_C;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 5))) /* AVX2 */
        return NN_CPU_C;
    const unsigned avx512 = 1u << 16 | 1u << 17 | 1u << 30 | 1u << 31; /* F, DQ, BW, VL */
    if ((b & avx512) != avx512 || (xcr0 & 0xe0) != 0xe0) /* opmask, ZMM0-15 high, ZMM16-31 */
        return NN_CPU_AVX2;
    const unsigned subleaves = a;
    if (subleaves < 1 || !__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a & (1u << 5))) /* AVX512_BF16 */
        return NN_CPU_AVX512;
    return NN_CPU_AVX512BF16;
}
#else
static int cpu_raw_level(void)
{
    return NN_CPU_C;
}
#endif

int nn_cpu_detect(void)
{
    static const char *const names[] = {"c", "avx2", "avx512", "avx512bf16"};
    int level = cpu_raw_level();
    const char *cap = getenv("AECIMG_CPU_MAX");
    for (int i = 0; cap && i < (int)(sizeof names / sizeof names[0]); i++)
        if (!strcmp(cap, names[i]) && i < level)
            level = i;
    return level;
}

void nn_kernels_init(NnKernels *k, int level)
{
    int raw = cpu_raw_level();
    if (level > raw)
        level = raw;
    *k = (NnKernels){.level = "c", .cpu = NN_CPU_C, .conv2d = nn_conv2d_c, .gdn = nn_gdn_c,
                     .conv_pack = nn_conv_pack_c, .gdn_pack = nn_gdn_pack_c, .gemm = nn_gemm_c,
                     .gemm_packed_size = nn_gemm_packed_size_c, .gemm_pack = nn_gemm_pack_c,
                     .winograd = nn_winograd_conv_c};
#if HAVE_X86_SIMD
    if (level >= NN_CPU_AVX512)
        *k = (NnKernels){.level = "avx512", .cpu = NN_CPU_AVX512, .conv2d = nn_conv2d_avx512, .gdn = nn_gdn_avx512,
                         .conv_pack = nn_conv_pack_avx512, .gdn_pack = nn_gdn_pack_avx512, .gemm = nn_gemm_avx512,
                         .gemm_packed_size = nn_gemm_packed_size_avx512, .gemm_pack = nn_gemm_pack_avx512,
                         .winograd = nn_winograd_conv_avx512};
    else if (level >= NN_CPU_AVX2)
        *k = (NnKernels){.level = "avx2", .cpu = NN_CPU_AVX2, .conv2d = nn_conv2d_avx2, .gdn = nn_gdn_avx2,
                         .conv_pack = nn_conv_pack_avx2, .gdn_pack = nn_gdn_pack_avx2, .gemm = nn_gemm_avx2,
                         .gemm_packed_size = nn_gemm_packed_size_avx2, .gemm_pack = nn_gemm_pack_avx2,
                         .winograd = nn_winograd_conv_avx2};
#endif
#if HAVE_X86_SIMD && HAVE_AVX512BF16
    /* The float entries stay AVX-512's: GDN and the convolutions that keep float32 products.  The
     * Winograd driver is this level's own (the same float arithmetic), whose products go through the
     * table's gemm or gemm_bf16. */
    if (level >= NN_CPU_AVX512BF16) {
        k->level = "avx512bf16";
        k->cpu = NN_CPU_AVX512BF16;
        k->conv2d_bf16 = nn_conv2d_avx512bf16;
        k->conv_pack_bf16 = nn_conv_pack_avx512bf16;
        k->gemm_bf16 = nn_gemm_avx512bf16;
        k->gemm_packed_size_bf16 = nn_gemm_packed_size_avx512bf16;
        k->gemm_pack_bf16 = nn_gemm_pack_avx512bf16;
        k->to_bf16 = nn_to_bf16_avx512bf16;
        k->gdn_bf16 = nn_gdn_avx512bf16;
        k->gdn_pack_bf16 = nn_gdn_pack_avx512bf16;
        k->winograd = nn_winograd_conv_avx512bf16;
    }
#endif
}

void nn_kernels_bf16_reference(NnKernels *k)
{
    k->conv2d_bf16 = nn_conv2d_bf16_c;
    k->conv_pack_bf16 = nn_conv_pack_bf16_c;
    k->gemm_bf16 = nn_gemm_bf16_c;
    k->gemm_packed_size_bf16 = nn_gemm_packed_size_bf16_c;
    k->gemm_pack_bf16 = nn_gemm_pack_bf16_c;
    k->to_bf16 = nn_to_bf16_c;
    k->gdn_bf16 = nn_gdn_bf16_c;
    k->gdn_pack_bf16 = nn_gdn_pack_bf16_c;
}

/* Large arrays start on 2 MiB boundaries offered to transparent huge pages: filling 24 MB of packed
 * weights then costs a dozen page faults instead of 6000.  calloc hands out large blocks as fresh zero
 * pages from the kernel, without writing them; the block's start is kept just below the array. */
#define NN_HUGE_PAGE ((size_t)2 << 20)

void *nn_alloc_packed(size_t n)
{
    const size_t align = n >= NN_HUGE_PAGE / 2 ? NN_HUGE_PAGE : 64;
    if (n > SIZE_MAX - align - sizeof(void *))
        return NULL;
    char *base = calloc(1, n + align + sizeof(void *));
    if (!base)
        return NULL;
    uintptr_t at = ((uintptr_t)base + sizeof(void *) + align - 1) & ~(uintptr_t)(align - 1);
    char *p = (char *)at;
    memcpy(p - sizeof(void *), &base, sizeof base);
#ifdef MADV_HUGEPAGE
    if (align == NN_HUGE_PAGE)
        madvise(p, n / NN_HUGE_PAGE * NN_HUGE_PAGE, MADV_HUGEPAGE);
#endif
    return p;
}

void *nn_alloc_scratch(size_t n)
{
    if (n > SIZE_MAX - 64)
        return NULL;
    return aligned_alloc(64, n ? (n + 63) & ~(size_t)63 : 64);
}

void nn_free_scratch(void *p)
{
    free(p);
}

void nn_free_packed(void *p)
{
    if (p) {
        void *base;
        memcpy(&base, (char *)p - sizeof(void *), sizeof base);
        free(base);
    }
}

int nn_conv_prepare(const NnKernels *k, NnConv *conv, int threads)
{
    nn_conv_release(conv);
    if (conv->cin < 1 || conv->cout < 1 || conv->k < 1 || conv->k % 2 == 0 ||
        (conv->stride != 1 && conv->stride != 2) || !conv->weight || !conv->bias)
        return -1;
    if (conv->winograd_ok && conv->k == 3 && conv->stride == 1) {
        conv->block = NN_WINOGRAD_M;
        /* One input channel: its products padded to bfloat16 pairs cost what float32 ones do, and their
         * rounding, amplified by the transforms, has no other channels to average out with (up to 10% of
         * an output's magnitude where two channels stay near 5%): float32. */
        conv->bf16 = conv->bf16_ok && k->gemm_bf16 && conv->cin > 1;
        conv->shuffled = conv->shuffle_ok && conv->cout % 4 == 0;
        conv->unshuffled = conv->unshuffle_ok && conv->cin % 4 == 0;
        return nn_winograd_pack(k, conv, threads);
    }
    conv->block = 1;
    conv->shuffled = conv->unshuffled = 0;
    conv->bf16 = conv->bf16_ok && k->conv2d_bf16 && conv->cin % 2 == 0;
    return conv->bf16 ? k->conv_pack_bf16(conv) : k->conv_pack(conv);
}

int nn_conv2d(const NnKernels *k, const NnConv *conv, const float *in, int ih, int iw, float *out, int threads)
{
    if (conv->block == NN_WINOGRAD_M)
        return k->winograd(k, conv, in, ih, iw, out, threads);
    return conv->bf16 ? k->conv2d_bf16(conv, in, ih, iw, out, threads) : k->conv2d(conv, in, ih, iw, out, threads);
}

int nn_gdn_prepare(const NnKernels *k, NnGdn *gdn)
{
    nn_gdn_release(gdn);
    if (gdn->channels < 1 || gdn->channels > NN_GDN_MAX_CHANNELS || !gdn->beta || !gdn->gamma)
        return -1;
    gdn->bf16 = gdn->bf16_ok && k->gdn_bf16 && gdn->channels % 2 == 0;
    return gdn->bf16 ? k->gdn_pack_bf16(gdn) : k->gdn_pack(gdn);
}

void nn_gdn(const NnKernels *k, const NnGdn *gdn, const float *in, float *out, int h, int w, int threads)
{
    if (gdn->bf16)
        k->gdn_bf16(gdn, in, out, h, w, threads);
    else
        k->gdn(gdn, in, out, h, w, threads);
}

void nn_conv_release(NnConv *conv)
{
    nn_free_packed(conv->packed);
    free(conv->shuffle_bias);
    conv->shuffle_bias = NULL;
    conv->packed = NULL;
    conv->packed_size = 0;
}

void nn_gdn_release(NnGdn *gdn)
{
    nn_free_packed(gdn->packed);
    gdn->packed = NULL;
    gdn->packed_size = 0;
}

void nn_pixel_shuffle2(const float *in, int h, int w, int c, float *out, int threads)
{
    int co = c / 4;
    size_t ow = 2 * (size_t)w;
    NN_PARALLEL_FOR(threads < 1 ? 1 : threads)
    for (int y = 0; y < h; y++)
        for (int i = 0; i < 2; i++)
            for (int x = 0; x < w; x++) {
                const float *src = in + ((size_t)y * w + x) * c + i * 2;
                float *dst = out + ((2 * (size_t)y + i) * ow + 2 * (size_t)x) * co;
                for (int ch = 0; ch < co; ch++) {
                    dst[ch] = src[ch * 4];
                    dst[co + ch] = src[ch * 4 + 1];
                }
            }
}

void nn_pixel_unshuffle2(const float *in, int h, int w, int c, float *out, int threads)
{
    const size_t iw = 2 * (size_t)w, co = 4 * (size_t)c;
    NN_PARALLEL_FOR(threads < 1 ? 1 : threads)
    for (int y = 0; y < h; y++)
        for (int i = 0; i < 2; i++)
            for (int x = 0; x < w; x++) {
                const float *src = in + ((2 * (size_t)y + i) * iw + 2 * (size_t)x) * c;
                float *dst = out + ((size_t)y * w + x) * co + i * 2;
                for (int ch = 0; ch < c; ch++) {
                    dst[ch * 4] = src[ch];
                    dst[ch * 4 + 1] = src[c + ch];
                }
            }
}
