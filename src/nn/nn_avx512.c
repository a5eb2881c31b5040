/* nn_avx512.c: AVX-512 float kernels: the shared driver (nn_simd_tmpl.c) on 16-float vectors, with a
 * 12x32 register tile (24 of the 32 registers). */
#include "nn.h"

#include <assert.h>
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#define NN_FN(name) name##_avx512
#define NN_LEVEL NN_CPU_AVX512
#define VL 16 /* floats per vector */
#define MR 12
#define KC 192 /* longest reduction run per pass: a 24 KB panel slice stays in L1 */
#define KP 1
#define NN_TMPL_GDN 1
#define NN_TMPL_CONVERT 0
#define NN_TMPL_WINOGRAD 1
typedef float Elem;
typedef __m512 Vec;
typedef __m512 WVec;
typedef __m512 AVec;

#define VEC_INLINE static inline __attribute__((always_inline))

/* The last vector of a row may be partial: masked accesses keep to the tensor's channels. */
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

VEC_INLINE WVec wvec_load(const float *w)
{
    return _mm512_load_ps(w);
}

VEC_INLINE AVec avec_bcast(const float *a)
{
    return _mm512_set1_ps(*a);
}

VEC_INLINE Vec vec_mac(Vec acc, AVec x, WVec w)
{
    return _mm512_fmadd_ps(x, w, acc);
}

VEC_INLINE Elem elem_from_float(float f)
{
    return f;
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

#include "nn_simd_tmpl.c"
