/* nn_avx512bf16.c: AVX512-BF16 kernels: the shared driver (nn_simd_tmpl.c) with bfloat16 weights and
 * reduction operands (convolution inputs, GDN squares), multiplied in pairs by vdpbf16ps into float32
 * sums, on the 12x32 tile of the AVX-512 float kernels. */
#include "nn.h"

#include <assert.h>
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define NN_FN(name) name##_avx512bf16
#define NN_LEVEL NN_CPU_AVX512BF16
#define VL 16 /* float sums per vector */
#define MR 12
#define KC 384 /* longest reduction run per pass: a 24 KB panel slice stays in L1 */
#define KP 2   /* vdpbf16ps adds two products per lane */
#define NN_TMPL_GDN 1
#define NN_TMPL_CONVERT 1
#define NN_TMPL_WINOGRAD 1
typedef uint16_t Elem;
typedef __m512 Vec;
typedef __m512bh WVec;
typedef __m512bh AVec;

#define VEC_INLINE static inline __attribute__((always_inline))

VEC_INLINE __mmask16 lanes(int last, int tail)
{
    return last ? (__mmask16)((1u << tail) - 1) : (__mmask16)0xffff;
}

VEC_INLINE Vec vec_zero(void)
{
    return _mm512_setzero_ps();
}

VEC_INLINE Vec vec_load(const float *p, int last, int tail)
{
    return _mm512_maskz_loadu_ps(lanes(last, tail), p);
}

VEC_INLINE void vec_store(float *p, Vec v, int last, int tail)
{
    _mm512_mask_storeu_ps(p, lanes(last, tail), v);
}

VEC_INLINE WVec wvec_load(const uint16_t *w)
{
    return (WVec)_mm512_load_si512((const void *)w);
}

/* Two consecutive reduction operands, one 32-bit lane's worth, in every lane. */
VEC_INLINE AVec avec_bcast(const uint16_t *a)
{
    uint32_t pair;
    memcpy(&pair, a, sizeof pair);
    return (AVec)_mm512_set1_epi32((int)pair);
}

/* Per lane: acc + x_odd * w_odd, then + x_even * w_even, each product exact, each sum rounded. */
VEC_INLINE Vec vec_mac(Vec acc, AVec x, WVec w)
{
    return _mm512_dpbf16_ps(acc, x, w);
}

VEC_INLINE Elem elem_from_float(float f)
{
    return nn_bf16_from_float(f);
}

VEC_INLINE Vec vec_load_aligned(const float *p)
{
    return _mm512_load_ps(p);
}

VEC_INLINE Vec vec_sqrt(Vec v)
{
    return _mm512_sqrt_ps(v);
}

VEC_INLINE Vec vec_mul(Vec a, Vec b)
{
    return _mm512_mul_ps(a, b);
}

VEC_INLINE Vec vec_div(Vec a, Vec b)
{
    return _mm512_div_ps(a, b);
}

/* The same rounding as nn_bf16_from_float, 32 at a time (vcvtne2ps2bf16). */
VEC_INLINE void to_bf16(const float *src, uint16_t *dst, size_t n)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh r = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512((void *)(dst + i), (__m512i)r);
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m256bh r = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
        _mm256_mask_storeu_epi16((void *)(dst + i), m, (__m256i)r);
    }
}

void nn_to_bf16_avx512bf16(const float *src, uint16_t *dst, size_t n)
{
    to_bf16(src, dst, n);
}

VEC_INLINE void rows_to_elem(const float *src, uint16_t *dst, size_t n)
{
    to_bf16(src, dst, n);
}

/* The Winograd driver of this level (its float convolutions too: the same bits as avx512's) rounds V
 * inline. */
#define WG_TO_BF16 to_bf16

#include "nn_simd_tmpl.c"
