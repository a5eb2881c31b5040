/* fma_peak.c: the CPU's peak at each kernel level, measured as a loop of independent multiply-adds on
 * registers: enough accumulators to cover the latency on every port, no memory traffic.  fp32 FMAs up
 * to avx512; at avx512bf16, vdpbf16ps (two bfloat16 products per lane, summed into float32: 4 FLOPs).
 * No real kernel can beat it, so kernel_bench reports kernels as a fraction of it.
 *
 * Each function carries its own target attribute, so one file holds all levels; only the level the
 * CPU supports is ever called (kernel_bench asks nn_cpu_detect). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

double fma_peak_gflops(int level, int threads);

#define ITERS 20000000L
#define TARGET(isa) __attribute__((target(isa), noinline))

static volatile float sink;

/* The inner loops are unrolled so that the accumulators live in registers, not on the stack.
 * acc = acc * a + b converges to b / (1 - a) and never overflows or goes subnormal. */
#ifdef HAVE_X86
enum { ACC_SSE = 12, ACC_AVX2 = 12, ACC_AVX512 = 24 };

TARGET("sse2") static double sse_loop(void)
{
    __m128 acc[ACC_SSE], a = _mm_set1_ps(0.5f), b = _mm_set1_ps(0.25f);
    for (int i = 0; i < ACC_SSE; i++)
        acc[i] = _mm_set1_ps((float)i);
    for (long n = 0; n < ITERS; n++)
#pragma GCC unroll 32
        for (int i = 0; i < ACC_SSE; i++)
            acc[i] = _mm_add_ps(_mm_mul_ps(acc[i], a), b); /* no FMA below AVX2: 2 instructions */
    for (int i = 1; i < ACC_SSE; i++)
        acc[0] = _mm_add_ps(acc[0], acc[i]);
    sink = _mm_cvtss_f32(acc[0]);
    return 2.0 * 4 * ACC_SSE * ITERS;
}

TARGET("avx2,fma") static double avx2_loop(void)
{
    __m256 acc[ACC_AVX2], a = _mm256_set1_ps(0.5f), b = _mm256_set1_ps(0.25f);
    for (int i = 0; i < ACC_AVX2; i++)
        acc[i] = _mm256_set1_ps((float)i);
    for (long n = 0; n < ITERS; n++)
#pragma GCC unroll 32
        for (int i = 0; i < ACC_AVX2; i++)
            acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    for (int i = 1; i < ACC_AVX2; i++)
        acc[0] = _mm256_add_ps(acc[0], acc[i]);
    sink = _mm256_cvtss_f32(acc[0]);
    return 2.0 * 8 * ACC_AVX2 * ITERS;
}

TARGET("avx512f") static double avx512_loop(void)
{
    __m512 acc[ACC_AVX512], a = _mm512_set1_ps(0.5f), b = _mm512_set1_ps(0.25f);
    for (int i = 0; i < ACC_AVX512; i++)
        acc[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < ITERS; n++)
#pragma GCC unroll 32
        for (int i = 0; i < ACC_AVX512; i++)
            acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    for (int i = 1; i < ACC_AVX512; i++)
        acc[0] = _mm512_add_ps(acc[0], acc[i]);
    sink = _mm512_reduce_add_ps(acc[0]);
    return 2.0 * 16 * ACC_AVX512 * ITERS;
}

#if HAVE_AVX512BF16
/* acc grows by 2 * 2^-20 per step: far from overflow after ITERS steps. */
TARGET("avx512f,avx512bf16") static double avx512bf16_loop(void)
{
    __m512 acc[ACC_AVX512];
    const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3580); /* 2^-20 in bfloat16 */
    const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80); /* 1 */
    for (int i = 0; i < ACC_AVX512; i++)
        acc[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < ITERS; n++)
#pragma GCC unroll 32
        for (int i = 0; i < ACC_AVX512; i++)
            acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    for (int i = 1; i < ACC_AVX512; i++)
        acc[0] = _mm512_add_ps(acc[0], acc[i]);
    sink = _mm512_reduce_add_ps(acc[0]);
    return 4.0 * 16 * ACC_AVX512 * ITERS;
}
#endif
#else
static double scalar_loop(void)
{
    float acc[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    for (long n = 0; n < ITERS; n++)
#pragma GCC unroll 32
        for (int i = 0; i < 8; i++)
            acc[i] = acc[i] * 0.5f + 0.25f;
    sink = acc[0] + acc[7];
    return 2.0 * 8 * ITERS;
}
#endif

static double run_level(int level)
{
#ifdef HAVE_X86
#if HAVE_AVX512BF16
    if (level == 3)
        return avx512bf16_loop();
#endif
    if (level >= 2)
        return avx512_loop();
    if (level == 1)
        return avx2_loop();
    return sse_loop();
#else
    (void)level;
    return scalar_loop();
#endif
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Best of five: GFLOP/s of `threads` threads each running the level's loop at once. */
double fma_peak_gflops(int level, int threads)
{
    double best = 0;
    for (int trial = 0; trial < 5; trial++) {
        double flops = 0, t0 = seconds();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
        flops += run_level(level);
        best = fmax(best, flops / (seconds() - t0) * 1e-9);
    }
    return best;
}
