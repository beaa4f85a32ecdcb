// Horizontal sums shared by the scan kernels (scan_gemm.c, half.c): a row's dot-product
// accumulator `a` and, for the checking kernels, its sum of squares `n`, reduced in one sequence of
// shuffles (halves first, then pairs within 128 bits) instead of one reduction each. `a`'s sum is
// the same tree whether or not `n` rides along (their lanes never meet): passing n = a reduces `a`
// alone, bit for bit as with a separate `n`. x86-64 only; include after <immintrin.h>.
#ifndef EMBEDSCOPE_SIMD_REDUCE_H
#define EMBEDSCOPE_SIMD_REDUCE_H
#if defined(__x86_64__)

// ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)); *sn likewise for n.
__attribute__((target("avx2,fma"), always_inline)) static inline float ck_reduce2_256(__m256 a, __m256 n, float *sn) {
    __m256 s = _mm256_add_ps(_mm256_permute2f128_ps(a, n, 0x20), _mm256_permute2f128_ps(a, n, 0x31));
    s = _mm256_add_ps(s, _mm256_permute_ps(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm256_add_ps(s, _mm256_permute_ps(s, _MM_SHUFFLE(2, 3, 0, 1)));
    *sn = _mm_cvtss_f32(_mm256_extractf128_ps(s, 1));
    return _mm_cvtss_f32(_mm256_castps256_ps128(s));
}

// The 128-bit lanes as ((l0+l2)+(l1+l3)), then pairs within the lane; *sn likewise for n.
__attribute__((target("avx512f"), always_inline)) static inline float ck_reduce2_512(__m512 a, __m512 n, float *sn) {
    __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(a, n, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(a, n, _MM_SHUFFLE(3, 2, 3, 2)));
    s = _mm512_add_ps(s, _mm512_shuffle_f32x4(s, s, _MM_SHUFFLE(2, 3, 0, 1)));
    s = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(2, 3, 0, 1)));
    *sn = _mm_cvtss_f32(_mm512_extractf32x4_ps(s, 2));
    return _mm512_cvtss_f32(s);
}

#endif
#endif
