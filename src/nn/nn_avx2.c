/* nn_avx2.c: AVX2+FMA float kernels: the shared driver (nn_simd_tmpl.c) on 8-float vectors, with a
 * 6x16 register tile (12 accumulators of the 16 registers). */
#include "nn.h"

#include <assert.h>
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#define NN_FN(name) name##_avx2
#define NN_LEVEL NN_CPU_AVX2
#define VL 8 /* floats per vector */
#define MR 6
#define KC 256 /* longest reduction run per pass: a 16 KB panel slice stays in L1 */
#define KP 1
#define NN_TMPL_GDN 1
#define NN_TMPL_CONVERT 0
#define NN_TMPL_WINOGRAD 1
typedef float Elem;
typedef __m256 Vec;
typedef __m256 WVec;
typedef __m256 AVec;

#define VEC_INLINE static inline __attribute__((always_inline))

static __m256i tail_mask(int tail)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

VEC_INLINE Vec vec_zero(void)
{
    return _mm256_setzero_ps();
}

/* The last vector of a row may be partial: masked accesses keep to the tensor's channels. */
VEC_INLINE Vec vec_load(const float *p, int last, int tail)
{
    return last && tail < VL ? _mm256_maskload_ps(p, tail_mask(tail)) : _mm256_loadu_ps(p);
}

VEC_INLINE void vec_store(float *p, Vec v, int last, int tail)
{
    if (last && tail < VL)
        _mm256_maskstore_ps(p, tail_mask(tail), v);
    else
        _mm256_storeu_ps(p, v);
}

VEC_INLINE WVec wvec_load(const float *w)
{
    return _mm256_load_ps(w);
}

VEC_INLINE AVec avec_bcast(const float *a)
{
    return _mm256_broadcast_ss(a);
}

VEC_INLINE Vec vec_mac(Vec acc, AVec x, WVec w)
{
    return _mm256_fmadd_ps(x, w, acc);
}

VEC_INLINE Elem elem_from_float(float f)
{
    return f;
}

VEC_INLINE Vec vec_load_aligned(const float *p)
{
    return _mm256_load_ps(p);
}

VEC_INLINE Vec vec_sqrt(Vec v)
{
    return _mm256_sqrt_ps(v);
}

VEC_INLINE Vec vec_mul(Vec a, Vec b)
{
    return _mm256_mul_ps(a, b);
}

VEC_INLINE Vec vec_div(Vec a, Vec b)
{
    return _mm256_div_ps(a, b);
}

#include "nn_simd_tmpl.c"
