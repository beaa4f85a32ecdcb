// The silhouette's per-row epilogue (ckernels.h: ck_sil_row_d2, ck_sil_row_sum): squared
// distances from a tile row of float32 dot products, then distances, column sums and the row sum,
// in Double.
//
// Same values on every path: no contraction (intrinsics are never fused; the portable loop has
// FP_CONTRACT off), sqrt is correctly rounded everywhere, and the row sum is kept in eight lanes
// (lane l holds elements j ≡ l mod 8 of the vector part) reduced in one fixed order, then the
// tail added in sequence.
#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <math.h>

#pragma STDC FP_CONTRACT OFF

static int d2_portable(long n, const float *g, double u, const double *w, double ti, const double *tj, double *r) {
    int low = 0;
    for (long j = 0; j < n; j++) {
        const double v = (u + w[j]) - 2.0 * (double)g[j];
        r[j] = v;
        low |= v < ti * tj[j];
    }
    return low;
}

static double fold8(const double l[8]) {
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

static inline double dist1(double v) { return v < 0 ? 0 : sqrt(v); }   // NaN: v < 0 is false, sqrt keeps it

// The elements from j on, one at a time, added to s in order (every path's tail).
static double sum_tail(long j, long n, double *r, double *col, double s) {
    for (; j < n; j++) {
        const double d = dist1(r[j]);
        r[j] = d;
        if (col) col[j] += d;
        s += d;
    }
    return s;
}

static double sum_portable(long n, double *r, double *col) {
    double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        for (int l = 0; l < 8; l++) {
            const double d = dist1(r[j + l]);
            r[j + l] = d;
            if (col) col[j + l] += d;
            lane[l] += d;
        }
    }
    return sum_tail(j, n, r, col, fold8(lane));
}

#if defined(__x86_64__)
#define SIL_AVX2 __attribute__((target("avx2")))
#define SIL_AVX512 __attribute__((target("avx512f")))

SIL_AVX2 static int d2_avx2(long n, const float *g, double u, const double *w, double ti, const double *tj, double *r) {
    const __m256d uv = _mm256_set1_pd(u), tiv = _mm256_set1_pd(ti), two = _mm256_set1_pd(2.0);
    __m256d low = _mm256_setzero_pd();
    long j = 0;
    for (; j + 4 <= n; j += 4) {
        const __m256d gv = _mm256_cvtps_pd(_mm_loadu_ps(g + j));
        const __m256d v = _mm256_sub_pd(_mm256_add_pd(uv, _mm256_loadu_pd(w + j)), _mm256_mul_pd(two, gv));
        _mm256_storeu_pd(r + j, v);
        low = _mm256_or_pd(low, _mm256_cmp_pd(v, _mm256_mul_pd(tiv, _mm256_loadu_pd(tj + j)), _CMP_LT_OQ));
    }
    return (_mm256_movemask_pd(low) != 0) | d2_portable(n - j, g + j, u, w + j, ti, tj + j, r + j);
}

SIL_AVX2 static double sum_avx2(long n, double *r, double *col) {
    const __m256d zero = _mm256_setzero_pd();
    __m256d a0 = zero, a1 = zero;   // lanes 0–3 and 4–7
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256d v0 = _mm256_loadu_pd(r + j), v1 = _mm256_loadu_pd(r + j + 4);
        // max(v, 0) with NaN kept: blend 0 where v < 0 (false for NaN).
        v0 = _mm256_sqrt_pd(_mm256_blendv_pd(v0, zero, _mm256_cmp_pd(v0, zero, _CMP_LT_OQ)));
        v1 = _mm256_sqrt_pd(_mm256_blendv_pd(v1, zero, _mm256_cmp_pd(v1, zero, _CMP_LT_OQ)));
        _mm256_storeu_pd(r + j, v0);
        _mm256_storeu_pd(r + j + 4, v1);
        if (col) {
            _mm256_storeu_pd(col + j, _mm256_add_pd(_mm256_loadu_pd(col + j), v0));
            _mm256_storeu_pd(col + j + 4, _mm256_add_pd(_mm256_loadu_pd(col + j + 4), v1));
        }
        a0 = _mm256_add_pd(a0, v0);
        a1 = _mm256_add_pd(a1, v1);
    }
    double lane[8];
    _mm256_storeu_pd(lane, a0);
    _mm256_storeu_pd(lane + 4, a1);
    return sum_tail(j, n, r, col, fold8(lane));
}

SIL_AVX512 static int d2_avx512(long n, const float *g, double u, const double *w, double ti, const double *tj, double *r) {
    const __m512d uv = _mm512_set1_pd(u), tiv = _mm512_set1_pd(ti), two = _mm512_set1_pd(2.0);
    __mmask8 low = 0;
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m512d gv = _mm512_cvtps_pd(_mm256_loadu_ps(g + j));
        const __m512d v = _mm512_sub_pd(_mm512_add_pd(uv, _mm512_loadu_pd(w + j)), _mm512_mul_pd(two, gv));
        _mm512_storeu_pd(r + j, v);
        low |= _mm512_cmp_pd_mask(v, _mm512_mul_pd(tiv, _mm512_loadu_pd(tj + j)), _CMP_LT_OQ);
    }
    return (low != 0) | d2_portable(n - j, g + j, u, w + j, ti, tj + j, r + j);
}

SIL_AVX512 static double sum_avx512(long n, double *r, double *col) {
    const __m512d zero = _mm512_setzero_pd();
    __m512d a = zero;
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        __m512d v = _mm512_loadu_pd(r + j);
        v = _mm512_sqrt_pd(_mm512_mask_mov_pd(v, _mm512_cmp_pd_mask(v, zero, _CMP_LT_OQ), zero));
        _mm512_storeu_pd(r + j, v);
        if (col) _mm512_storeu_pd(col + j, _mm512_add_pd(_mm512_loadu_pd(col + j), v));
        a = _mm512_add_pd(a, v);
    }
    double lane[8];
    _mm512_storeu_pd(lane, a);
    return sum_tail(j, n, r, col, fold8(lane));
}
#endif

int ck_sil_row_d2(int path, long n, const float *g, double u, const double *w, double ti, const double *tj, double *r) {
    if (n <= 0) return 0;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512 && ck_path_supported(path)) return d2_avx512(n, g, u, w, ti, tj, r);
    if (path == CK_PATH_AVX2 && ck_path_supported(path)) return d2_avx2(n, g, u, w, ti, tj, r);
#endif
    return d2_portable(n, g, u, w, ti, tj, r);
}

double ck_sil_row_sum(int path, long n, double *r, double *col_acc) {
    if (n <= 0) return 0;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512 && ck_path_supported(path)) return sum_avx512(n, r, col_acc);
    if (path == CK_PATH_AVX2 && ck_path_supported(path)) return sum_avx2(n, r, col_acc);
#endif
    return sum_portable(n, r, col_acc);
}
