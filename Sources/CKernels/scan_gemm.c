// Batch-query scan (ckscan.h): C = A · Qᵀ with A the index rows read in place, Q the batch of
// queries packed once into panels of NR queries.
//
// Why not ck_sgemm_packed: there A is packed per block into MR-row slivers, a strided copy of
// every row that cost as much as the multiply-adds when the rows stream from memory once (a
// scan never reuses a row across calls). Here the micro-kernel broadcasts A's elements straight
// from MR row pointers (row stride lda) against the query panel, and prefetches the next block
// of MR rows while the current one is multiplied. The whole depth k runs in one pass per tile:
// with k ≤ a few thousand a query panel (k × NR floats) sits in L2. Each element of C is summed
// in slices of SCAN_SLICE steps of p — a chain of multiply-adds from 0 in registers per slice,
// the slices' sums added in order in a tile on the stack — so its value depends only on its
// row, its query, k and the path (see ckscan.h). One chain over all of k (as before 2026-12-07)
// lost ~√k ulps: at k = 4097 batch scores were off by 2e-6 where numpy's sgemm is at 2.7e-7 and
// the one-query scan at 8e-8, and a batch could rank two rows the other way round.
//
// No global -m flags, as in sgemm.c: the AVX2 and AVX-512 kernels carry target attributes and
// are only called after a CPUID check (ck_path_supported).
#include "ckscan.h"
#include "ckernels.h"

#include <float.h>
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_reduce.h"
#endif
#include <stdlib.h>
#include <string.h>

// Steps of p summed in registers before a slice's sums are added into the tile (a multiple of 16,
// the prefetch step): one slice for k ≤ 256 (no extra work), 2 for 1M × 512.
enum { SCAN_SLICE = 256 };

int ck_scan_nr(int path) { return path == CK_PATH_AVX512 ? 32 : 16; }
int ck_scan_mr(int path) { return path == CK_PATH_AVX512 ? 12 : path == CK_PATH_AVX2 ? 6 : 4; }

static size_t scan_panel_stride(int path, long k) {
    size_t s = (size_t)(k > 0 ? k : 0) * (size_t)ck_scan_nr(path);
    return (s + 15) & ~(size_t)15;
}

size_t ck_scan_packed_count(int path, long k, long n) {
    const long nr = ck_scan_nr(path);
    const long panels = n > 0 ? (n + nr - 1) / nr : 0;
    const size_t total = (size_t)panels * scan_panel_stride(path, k);
    return total > 16 ? total : 16;
}

void ck_scan_pack_queries(int path, long k, long n, const float *q, long ldq, float *packed) {
    const long nr = ck_scan_nr(path);
    const size_t stride = scan_panel_stride(path, k);
    for (long j0 = 0; j0 < n; j0 += nr) {
        float *dst = packed + (size_t)(j0 / nr) * stride;
        const long w = n - j0 < nr ? n - j0 : nr;
        for (long p = 0; p < k; p++) {
            float *d = dst + p * nr;
            long c = 0;
            for (; c < w; c++) d[c] = q[(j0 + c) * ldq + p];
            for (; c < nr; c++) d[c] = 0;
        }
        for (size_t t = (size_t)k * (size_t)nr; t < stride; t++) dst[t] = 0;
    }
}

// A micro-kernel: the tile C[h × w] (h ≤ MR rows from a, w ≤ its width of queries from the panel
// bp) over the whole depth k. Rows past h repeat row h − 1 (computed, not stored), so every
// row pointer is valid. When pf is set, the pfh rows at pf (stride lda) are prefetched, one
// line per row every 16 steps of p: the next block, while this one is multiplied.
typedef void (*scan_kernel)(long k, const float *a, long lda, int h, const float *bp, float *c, long ldc, int w,
                            const float *pf, int pfh);

#define PF_LINE(pf, pfh, lda, p)                                                                                    \
    do {                                                                                                            \
        if (pf) {                                                                                                   \
            const float *pp = (pf) + (p);                                                                           \
            for (int t = 0; t < (pfh); t++, pp += (lda)) __builtin_prefetch(pp, 0, 3);                              \
        }                                                                                                           \
    } while (0)

// ---------------------------------------------------------------- portable 4 × 16

enum { P_MR = 4, P_NR = 16 };

static void scan_portable(long k, const float *a, long lda, int h, const float *bp, float *c, long ldc, int w,
                          const float *pf, int pfh) {
    const float *r[P_MR];
    for (int i = 0; i < P_MR; i++) r[i] = a + (long)(i < h ? i : h - 1) * lda;
    float acc[P_MR][P_NR], tot[P_MR][P_NR];
    for (long k0 = 0, p = 0;; k0 = p) {
        const long k1 = k - k0 > SCAN_SLICE ? k0 + SCAN_SLICE : k;
        for (int i = 0; i < P_MR; i++)
            for (int j = 0; j < P_NR; j++) acc[i][j] = 0;
        for (; p < k1; p++) {
            if ((p & 15) == 0) PF_LINE(pf, pfh, lda, p);
            const float *b = bp + p * P_NR;
            for (int i = 0; i < P_MR; i++) {
                const float av = r[i][p];
                for (int j = 0; j < P_NR; j++) acc[i][j] += av * b[j];
            }
        }
        for (int i = 0; i < P_MR; i++)
            for (int j = 0; j < P_NR; j++) tot[i][j] = k0 == 0 ? acc[i][j] : tot[i][j] + acc[i][j];
        if (k1 >= k) break;
    }
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) c[i * ldc + j] = tot[i][j];
}

#if defined(__x86_64__)
// ---------------------------------------------------------------- AVX2 + FMA 6 × 16

#define AVX2_ATTR __attribute__((target("avx2,fma")))

#define SCAN_AVX2(NAME, NV)                                                                                          \
    AVX2_ATTR static void NAME(long k, const float *a, long lda, int h, const float *bp, float *c, long ldc, int w,   \
                               const float *pf, int pfh) {                                                           \
        const float *r[6];                                                                                           \
        _Pragma("clang loop unroll(full)")                                                                           \
        for (int i = 0; i < 6; i++) r[i] = a + (long)(i < h ? i : h - 1) * lda;                                      \
        __m256 acc[6][NV];                                                                                           \
        _Pragma("clang loop unroll(full)")                                                                           \
        for (int i = 0; i < 6; i++)                                                                                  \
            _Pragma("clang loop unroll(full)")                                                                       \
            for (int v = 0; v < NV; v++) acc[i][v] = _mm256_setzero_ps();                                            \
        float tot[6 * NV * 8] __attribute__((aligned(32)));                                                          \
        for (long k0 = 0, p = 0;; k0 = p) {                                                                          \
            const long k1 = k - k0 > SCAN_SLICE ? k0 + SCAN_SLICE : k;                                               \
            if (k0 > 0) {                                                                                            \
                _Pragma("clang loop unroll(full)")                                                                   \
                for (int i = 0; i < 6; i++)                                                                          \
                    _Pragma("clang loop unroll(full)")                                                               \
                    for (int v = 0; v < NV; v++) acc[i][v] = _mm256_setzero_ps();                                    \
            }                                                                                                        \
            for (; p + 16 <= k1; p += 16) {                                                                          \
                PF_LINE(pf, pfh, lda, p);                                                                            \
                for (long q = p; q < p + 16; q++) {                                                                  \
                    __m256 b[NV];                                                                                    \
                    _Pragma("clang loop unroll(full)")                                                               \
                    for (int v = 0; v < NV; v++) b[v] = _mm256_load_ps(bp + q * 16 + 8 * v);                         \
                    _Pragma("clang loop unroll(full)")                                                               \
                    for (int i = 0; i < 6; i++) {                                                                    \
                        const __m256 av = _mm256_broadcast_ss(r[i] + q);                                             \
                        _Pragma("clang loop unroll(full)")                                                           \
                        for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(av, b[v], acc[i][v]);               \
                    }                                                                                                \
                }                                                                                                    \
            }                                                                                                        \
            for (; p < k1; p++) {                                                                                    \
                __m256 b[NV];                                                                                        \
                _Pragma("clang loop unroll(full)")                                                                   \
                for (int v = 0; v < NV; v++) b[v] = _mm256_load_ps(bp + p * 16 + 8 * v);                             \
                _Pragma("clang loop unroll(full)")                                                                   \
                for (int i = 0; i < 6; i++) {                                                                        \
                    const __m256 av = _mm256_broadcast_ss(r[i] + p);                                                 \
                    _Pragma("clang loop unroll(full)")                                                               \
                    for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(av, b[v], acc[i][v]);                   \
                }                                                                                                    \
            }                                                                                                        \
            if (k1 >= k && k0 == 0) break; /* one slice: the sums are in acc */                                     \
            _Pragma("clang loop unroll(full)")                                                                       \
            for (int i = 0; i < 6; i++)                                                                              \
                _Pragma("clang loop unroll(full)")                                                                   \
                for (int v = 0; v < NV; v++) {                                                                       \
                    float *t = tot + (i * NV + v) * 8;                                                               \
                    const __m256 sum = k0 == 0 ? acc[i][v] : _mm256_add_ps(_mm256_load_ps(t), acc[i][v]);            \
                    if (k1 >= k) acc[i][v] = sum; else _mm256_store_ps(t, sum);                                      \
                }                                                                                                    \
            if (k1 >= k) break;                                                                                      \
        }                                                                                                            \
        const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);                                              \
        _Pragma("clang loop unroll(full)")                                                                           \
        for (int v = 0; v < NV; v++) {                                                                               \
            const int cols = w - 8 * v;                                                                              \
            if (cols <= 0) continue;                                                                                 \
            const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), idx);                                   \
            _Pragma("clang loop unroll(full)")                                                                       \
            for (int i = 0; i < 6; i++) {                                                                            \
                if (i >= h) continue;                                                                                \
                if (cols >= 8) _mm256_storeu_ps(c + i * ldc + 8 * v, acc[i][v]);                                     \
                else _mm256_maskstore_ps(c + i * ldc + 8 * v, mask, acc[i][v]);                                      \
            }                                                                                                        \
        }                                                                                                            \
    }

SCAN_AVX2(scan_avx2_16, 2)
SCAN_AVX2(scan_avx2_8, 1)

// ---------------------------------------------------------------- AVX-512F 12 × 32

#define AVX512_ATTR __attribute__((target("avx512f")))

#define SCAN_AVX512(NAME, NV)                                                                                        \
    AVX512_ATTR static void NAME(long k, const float *a, long lda, int h, const float *bp, float *c, long ldc, int w, \
                                 const float *pf, int pfh) {                                                         \
        const float *r[12];                                                                                          \
        _Pragma("clang loop unroll(full)")                                                                           \
        for (int i = 0; i < 12; i++) r[i] = a + (long)(i < h ? i : h - 1) * lda;                                     \
        __m512 acc[12][NV];                                                                                          \
        _Pragma("clang loop unroll(full)")                                                                           \
        for (int i = 0; i < 12; i++)                                                                                 \
            _Pragma("clang loop unroll(full)")                                                                       \
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();                                            \
        float tot[12 * NV * 16] __attribute__((aligned(64)));                                                        \
        for (long k0 = 0, p = 0;; k0 = p) {                                                                          \
            const long k1 = k - k0 > SCAN_SLICE ? k0 + SCAN_SLICE : k;                                               \
            if (k0 > 0) {                                                                                            \
                _Pragma("clang loop unroll(full)")                                                                   \
                for (int i = 0; i < 12; i++)                                                                         \
                    _Pragma("clang loop unroll(full)")                                                               \
                    for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();                                    \
            }                                                                                                        \
            for (; p + 16 <= k1; p += 16) {                                                                          \
                PF_LINE(pf, pfh, lda, p);                                                                            \
                for (long q = p; q < p + 16; q++) {                                                                  \
                    __m512 b[NV];                                                                                    \
                    _Pragma("clang loop unroll(full)")                                                               \
                    for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(bp + q * 32 + 16 * v);                        \
                    _Pragma("clang loop unroll(full)")                                                               \
                    for (int i = 0; i < 12; i++) {                                                                   \
                        const __m512 av = _mm512_set1_ps(r[i][q]);                                                   \
                        _Pragma("clang loop unroll(full)")                                                           \
                        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(av, b[v], acc[i][v]);               \
                    }                                                                                                \
                }                                                                                                    \
            }                                                                                                        \
            for (; p < k1; p++) {                                                                                    \
                __m512 b[NV];                                                                                        \
                _Pragma("clang loop unroll(full)")                                                                   \
                for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(bp + p * 32 + 16 * v);                            \
                _Pragma("clang loop unroll(full)")                                                                   \
                for (int i = 0; i < 12; i++) {                                                                       \
                    const __m512 av = _mm512_set1_ps(r[i][p]);                                                       \
                    _Pragma("clang loop unroll(full)")                                                               \
                    for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(av, b[v], acc[i][v]);                   \
                }                                                                                                    \
            }                                                                                                        \
            if (k1 >= k && k0 == 0) break; /* one slice: the sums are in acc */                                     \
            _Pragma("clang loop unroll(full)")                                                                       \
            for (int i = 0; i < 12; i++)                                                                             \
                _Pragma("clang loop unroll(full)")                                                                   \
                for (int v = 0; v < NV; v++) {                                                                       \
                    float *t = tot + (i * NV + v) * 16;                                                              \
                    const __m512 sum = k0 == 0 ? acc[i][v] : _mm512_add_ps(_mm512_load_ps(t), acc[i][v]);            \
                    if (k1 >= k) acc[i][v] = sum; else _mm512_store_ps(t, sum);                                      \
                }                                                                                                    \
            if (k1 >= k) break;                                                                                      \
        }                                                                                                            \
        _Pragma("clang loop unroll(full)")                                                                           \
        for (int v = 0; v < NV; v++) {                                                                               \
            const int cols = w - 16 * v;                                                                             \
            if (cols <= 0) continue;                                                                                 \
            const __mmask16 mask = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);                   \
            _Pragma("clang loop unroll(full)")                                                                       \
            for (int i = 0; i < 12; i++) {                                                                           \
                if (i >= h) continue;                                                                                \
                _mm512_mask_storeu_ps(c + i * ldc + 16 * v, mask, acc[i][v]);                                        \
            }                                                                                                        \
        }                                                                                                            \
    }

SCAN_AVX512(scan_avx512_32, 2)
SCAN_AVX512(scan_avx512_16, 1)
#endif

// ---------------------------------------------------------------- driver

void ck_scan_gemm(int path, long m, long n, long k, const float *a, long lda, const float *packed, float *c, long ldc) {
    ck_scan_gemm_unit(path, m, n, k, a, lda, packed, -1, c, ldc);
}

void ck_scan_gemm_unit(int path, long m, long n, long k, const float *a, long lda, const float *packed, float tol, float *c,
                       long ldc) {
    if (m <= 0 || n <= 0) return;
    if (k < 0) k = 0;
#if !defined(__x86_64__)
    path = CK_PATH_PORTABLE;
#endif
    const int mr = ck_scan_mr(path), nr = ck_scan_nr(path);
    scan_kernel wide = scan_portable, narrow = scan_portable;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) { wide = scan_avx512_32; narrow = scan_avx512_16; }
    else if (path == CK_PATH_AVX2) { wide = scan_avx2_16; narrow = scan_avx2_8; }
#endif
    const size_t stride = scan_panel_stride(path, k);
    for (long i0 = 0; i0 < m; i0 += mr) {
        const int h = (int)(m - i0 < mr ? m - i0 : mr);
        const float *ab = a + i0 * lda;
        const long next = m - i0 - h;
        const float *pf = next > 0 ? ab + (long)h * lda : NULL;
        const int pfh = (int)(next < mr ? next : mr);
        for (long j0 = 0; j0 < n; j0 += nr) {
            const int w = (int)(n - j0 < nr ? n - j0 : nr);
            const scan_kernel kern = w <= nr / 2 ? narrow : wide;
            kern(k, ab, lda, h, packed + (size_t)(j0 / nr) * stride, c + i0 * ldc + j0, ldc, w, j0 == 0 ? pf : NULL, pfh);
        }
        // The block's rows were just read (still in L1 / L2): their unit-length check costs a
        // fraction of the block's multiply-adds (2–4 % of a 64-query batch on 1M × 512, Zen 5).
        if (tol >= 0) ck_mark_not_unit(path, h, k, ab, lda, tol, c + i0 * ldc, ldc, 1, n);
    }
}

// ---------------------------------------------------------------- candidates

// Column j's threshold is thr[j · ts]: ts = 1 (one per query, ck_scan_candidates) or 0 (one for
// every score, ck_scan_select).
static long candidates_portable(long m, long n, const float *c, long ldc, const float *thr, long ts, int32_t *out,
                                int *nonfinite) {
    long count = 0;
    int bad = 0;
    for (long r = 0; r < m; r++) {
        const float *row = c + r * ldc;
        for (long j = 0; j < n; j++) {
            const float s = row[j];
            bad |= !(s - s == 0);  // NaN or ±Inf
            if (s >= thr[j * ts]) out[count++] = (int32_t)(r * n + j);
        }
    }
    if (bad) *nonfinite = 1;
    return count;
}

#if defined(__x86_64__)
AVX2_ATTR static long candidates_avx2(long m, long n, const float *c, long ldc, const float *thr, long ts, int32_t *out,
                                      int *nonfinite) {
    long count = 0;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 big = _mm256_set1_ps(FLT_MAX), thr0 = _mm256_set1_ps(thr[0]);
    __m256 bad = _mm256_setzero_ps();
    const long n8 = n & ~7L;
    for (long r = 0; r < m; r++) {
        const float *row = c + r * ldc;
        long j = 0;
        for (; j < n8; j += 8) {
            const __m256 s = _mm256_loadu_ps(row + j);
            bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_and_ps(s, absmask), big, _CMP_NLE_UQ));
            const __m256 t = ts ? _mm256_loadu_ps(thr + j) : thr0;
            unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(s, t, _CMP_GE_OQ));
            while (bits) {
                const int t = __builtin_ctz(bits);
                out[count++] = (int32_t)(r * n + j + t);
                bits &= bits - 1;
            }
        }
        for (; j < n; j++) {
            const float s = row[j];
            if (!(s - s == 0)) *nonfinite = 1;
            if (s >= thr[j * ts]) out[count++] = (int32_t)(r * n + j);
        }
    }
    if (_mm256_movemask_ps(bad)) *nonfinite = 1;
    return count;
}

AVX512_ATTR static long candidates_avx512(long m, long n, const float *c, long ldc, const float *thr, long ts, int32_t *out,
                                          int *nonfinite) {
    long count = 0;
    const __m512 big = _mm512_set1_ps(FLT_MAX), thr0 = _mm512_set1_ps(thr[0]);
    __mmask16 bad = 0;
    for (long r = 0; r < m; r++) {
        const float *row = c + r * ldc;
        for (long j = 0; j < n; j += 16) {
            const __mmask16 mask = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
            const __m512 s = _mm512_maskz_loadu_ps(mask, row + j);
            bad |= _mm512_mask_cmp_ps_mask(mask, _mm512_abs_ps(s), big, _CMP_NLE_UQ);
            const __m512 t = ts ? _mm512_maskz_loadu_ps(mask, thr + j) : thr0;
            unsigned bits = _mm512_mask_cmp_ps_mask(mask, s, t, _CMP_GE_OQ);
            while (bits) {
                const int t = __builtin_ctz(bits);
                out[count++] = (int32_t)(r * n + j + t);
                bits &= bits - 1;
            }
        }
    }
    if (bad) *nonfinite = 1;
    return count;
}
#endif

static long candidates(int path, long m, long n, const float *c, long ldc, const float *thr, long ts, int32_t *out,
                       int *nonfinite) {
    if (m <= 0 || n <= 0) return 0;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) return candidates_avx512(m, n, c, ldc, thr, ts, out, nonfinite);
    if (path == CK_PATH_AVX2) return candidates_avx2(m, n, c, ldc, thr, ts, out, nonfinite);
#endif
    return candidates_portable(m, n, c, ldc, thr, ts, out, nonfinite);
}

long ck_scan_candidates(int path, long m, long n, const float *c, long ldc, const float *thresholds, int32_t *out,
                        int *nonfinite) {
    return candidates(path, m, n, c, ldc, thresholds, 1, out, nonfinite);
}

long ck_scan_select(int path, long n, const float *scores, float threshold, int32_t *out, int *nonfinite) {
    return candidates(path, 1, n, scores, n, &threshold, 0, out, nonfinite);
}

// ---------------------------------------------------------------- one query: dot products

// Prefetch distance of the one-query scan (and of the read pass that mirrors it), per thread:
// without a software prefetch the scan waited on memory more than a pure read of the same bytes
// does (its loop carries twice the loads). On the AVX-512 path 64 KB ahead: on Zen 5 when the VM
// read ~80 GB/s (1M × 512, `bench half`, alternated runs) 16 KB ahead left the scan at 1.13–1.26×
// the bandwidth pass, 64 KB at 1.09–1.12× (96–128 KB 1.11–1.12×, 192 KB 1.13–1.14×, none 1.39×);
// at ~50 GB/s every distance within 0.98–1.08×. The AVX2 path keeps 16 KB (0.98–1.06× at ~80 GB/s;
// 64 KB 1.06–1.10×).
//
// On AMD family 25 (Zen 4 measured) none: its hardware prefetchers keep up and a software prefetch
// costs more than it saves — alternated `bench half` runs at ~58 GB/s: AVX-512 none 1.03–1.05× the
// bandwidth pass, 16 KB 1.24–1.27×, 64 KB 1.29×; AVX2 (AVX-512 hidden) none 1.07–1.08×, 16 KB 1.21×;
// at ~34 GB/s none 1.00–1.02×, 64 KB 1.04–1.09× (the half scans' prefetch is off on AMD already,
// half.c). EMBEDSCOPE_SCAN_PREFETCH=<bytes> (0: none) overrides.
//
// The half scan holds the query's first 384 floats in registers (half.c); here that made the scan
// slower on Zen 4 (alternated `bench half`: 1.12× / 1.47–1.53× the bandwidth pass at ~36 / ~60 GB/s,
// against 1.01× / 1.05–1.06× loading q for every row), so this one loads it.
#define DOTS_PREFETCH_AVX512 65536
#define DOTS_PREFETCH_AVX2 16384

__attribute__((unused)) static long dots_prefetch_bytes(int avx512) {
    static long cached[2] = {-1, -1};
    long v = __atomic_load_n(&cached[avx512 != 0], __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv("EMBEDSCOPE_SCAN_PREFETCH");
        char *end = NULL;
        const long parsed = e ? strtol(e, &end, 10) : -1;
        if (e && *e && end && *end == 0 && parsed >= 0 && parsed <= (1L << 24)) v = parsed;
        else if (ck_cpu_amd_family() == 0x19) v = 0;
        else v = avx512 ? DOTS_PREFETCH_AVX512 : DOTS_PREFETCH_AVX2;
        __atomic_store_n(&cached[avx512 != 0], v, __ATOMIC_RELAXED);
    }
    return v;
}

long ck_scan_prefetch_bytes(int path) {
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) return dots_prefetch_bytes(1);
    if (path == CK_PATH_AVX2) return dots_prefetch_bytes(0);
#endif
    (void)path;
    return 0;
}

// The distance in rows (at least one) for `ahead` bytes.
__attribute__((unused)) static long dots_ahead(long lda, long ahead) {   // (used by the x86 kernels only)
    const long bytes = lda * (long)sizeof(float);
    const long rows = bytes > 0 ? (ahead + bytes - 1) / bytes : 1;
    return rows < 1 ? 1 : rows;
}

// The one-query dot kernels, with or without the unit-length check (`check`, a constant in each
// caller, so each body is compiled twice): with it, a second set of accumulators sums each row's
// squares from the same loads, and a row whose sum is not within `tol` of 1 scores NaN. The
// dot's own sums are formed in the same order either way: the scores of unit rows are the same
// bits with and without the check.
static inline __attribute__((always_inline)) void dots_portable_impl(long m, long k, const float *a, long lda, const float *q,
                                                                     float *out, int check, float tol) {
    for (long r = 0; r < m; r++) {
        const float *x = a + r * lda;
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, sq[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        long j = 0;
        for (; j + 8 <= k; j += 8)
            for (int t = 0; t < 8; t++) {
                acc[t] += x[j + t] * q[j + t];
                if (check) sq[t] += x[j + t] * x[j + t];
            }
        float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        float n2 = ((sq[0] + sq[1]) + (sq[2] + sq[3])) + ((sq[4] + sq[5]) + (sq[6] + sq[7]));
        for (; j < k; j++) {
            s += x[j] * q[j];
            if (check) n2 += x[j] * x[j];
        }
        if (check && !(fabsf(n2 - 1.0f) <= tol)) s = NAN;
        out[r] = s;
    }
}

static void dots_portable(long m, long k, const float *a, long lda, const float *q, float *out) {
    dots_portable_impl(m, k, a, lda, q, out, 0, 0);
}
static void dots_portable_unit(long m, long k, const float *a, long lda, const float *q, float tol, float *out) {
    dots_portable_impl(m, k, a, lda, q, out, 1, tol);
}

#if defined(__x86_64__)
AVX2_ATTR static inline float dots_hsum256(__m256 v) {
    float unused;
    return ck_reduce2_256(v, v, &unused);
}

AVX2_ATTR static inline __attribute__((always_inline)) void dots_avx2_impl(long m, long k, const float *a, long lda, const float *q,
                                                                           float *out, int check, float tol, int prefetch) {
    const long pfb = prefetch ? dots_prefetch_bytes(0) : 0, ahead = dots_ahead(lda, pfb) * lda;
    for (long r = 0; r < m; r++) {
        const float *x = a + r * lda;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m256 n0 = a0, n1 = a0, n2 = a0, n3 = a0;
        long j = 0;
        for (; j + 32 <= k; j += 32) {
            if (pfb) {
                _mm_prefetch((const char *)(x + ahead + j), _MM_HINT_T0);
                _mm_prefetch((const char *)(x + ahead + j + 16), _MM_HINT_T0);
            }
            const __m256 x0 = _mm256_loadu_ps(x + j), x1 = _mm256_loadu_ps(x + j + 8);
            const __m256 x2 = _mm256_loadu_ps(x + j + 16), x3 = _mm256_loadu_ps(x + j + 24);
            a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(q + j), a0);
            a1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(q + j + 8), a1);
            a2 = _mm256_fmadd_ps(x2, _mm256_loadu_ps(q + j + 16), a2);
            a3 = _mm256_fmadd_ps(x3, _mm256_loadu_ps(q + j + 24), a3);
            if (check) {
                n0 = _mm256_fmadd_ps(x0, x0, n0);
                n1 = _mm256_fmadd_ps(x1, x1, n1);
                n2 = _mm256_fmadd_ps(x2, x2, n2);
                n3 = _mm256_fmadd_ps(x3, x3, n3);
            }
        }
        for (; j + 8 <= k; j += 8) {
            const __m256 x0 = _mm256_loadu_ps(x + j);
            a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(q + j), a0);
            if (check) n0 = _mm256_fmadd_ps(x0, x0, n0);
        }
        const __m256 av = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
        float sq = 0;
        float s = check ? ck_reduce2_256(av, _mm256_add_ps(_mm256_add_ps(n0, n1), _mm256_add_ps(n2, n3)), &sq) : dots_hsum256(av);
        for (; j < k; j++) {
            s += x[j] * q[j];
            if (check) sq += x[j] * x[j];
        }
        if (check && !(fabsf(sq - 1.0f) <= tol)) s = NAN;
        out[r] = s;
    }
}

AVX2_ATTR static void dots_avx2(long m, long k, const float *a, long lda, const float *q, float *out) {
    dots_avx2_impl(m, k, a, lda, q, out, 0, 0, 1);
}
AVX2_ATTR static void dots_avx2_unit(long m, long k, const float *a, long lda, const float *q, float tol, float *out) {
    dots_avx2_impl(m, k, a, lda, q, out, 1, tol, 1);
}
// A row's sum of squares (its dot with itself), without software prefetch (`ck_mark_not_unit`).
AVX2_ATTR static float squares_avx2(long k, const float *x) {
    float s;
    dots_avx2_impl(1, k, x, k, x, &s, 0, 0, 0);
    return s;
}

AVX512_ATTR static inline __attribute__((always_inline)) void dots_avx512_impl(long m, long k, const float *a, long lda,
                                                                               const float *q, float *out, int check, float tol,
                                                                               int prefetch) {
    const long pfb = prefetch ? dots_prefetch_bytes(1) : 0, ahead = dots_ahead(lda, pfb) * lda;
    const long tail = k & 15;
    const __mmask16 tmask = (__mmask16)((1u << tail) - 1);
    for (long r = 0; r < m; r++) {
        const float *x = a + r * lda;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m512 n0 = a0, n1 = a0, n2 = a0, n3 = a0;
        long j = 0;
        for (; j + 64 <= k; j += 64) {
            if (pfb) {
                const char *pf = (const char *)(x + ahead + j);
                _mm_prefetch(pf, _MM_HINT_T0);
                _mm_prefetch(pf + 64, _MM_HINT_T0);
                _mm_prefetch(pf + 128, _MM_HINT_T0);
                _mm_prefetch(pf + 192, _MM_HINT_T0);
            }
            const __m512 x0 = _mm512_loadu_ps(x + j), x1 = _mm512_loadu_ps(x + j + 16);
            const __m512 x2 = _mm512_loadu_ps(x + j + 32), x3 = _mm512_loadu_ps(x + j + 48);
            a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(q + j), a0);
            a1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(q + j + 16), a1);
            a2 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(q + j + 32), a2);
            a3 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(q + j + 48), a3);
            if (check) {
                n0 = _mm512_fmadd_ps(x0, x0, n0);
                n1 = _mm512_fmadd_ps(x1, x1, n1);
                n2 = _mm512_fmadd_ps(x2, x2, n2);
                n3 = _mm512_fmadd_ps(x3, x3, n3);
            }
        }
        for (; j + 16 <= k; j += 16) {
            const __m512 x0 = _mm512_loadu_ps(x + j);
            a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(q + j), a0);
            if (check) n0 = _mm512_fmadd_ps(x0, x0, n0);
        }
        // The last k mod 16 elements: masked loads read zeros past k, adding exact zeros.
        if (tail) {
            const __m512 x1 = _mm512_maskz_loadu_ps(tmask, x + j);
            a1 = _mm512_fmadd_ps(x1, _mm512_maskz_loadu_ps(tmask, q + j), a1);
            if (check) n1 = _mm512_fmadd_ps(x1, x1, n1);
        }
        const __m512 av = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        float sq;
        float s = ck_reduce2_512(av, check ? _mm512_add_ps(_mm512_add_ps(n0, n1), _mm512_add_ps(n2, n3)) : av, &sq);
        if (check && !(fabsf(sq - 1.0f) <= tol)) s = NAN;
        out[r] = s;
    }
}

AVX512_ATTR static void dots_avx512(long m, long k, const float *a, long lda, const float *q, float *out) {
    dots_avx512_impl(m, k, a, lda, q, out, 0, 0, 1);
}
AVX512_ATTR static void dots_avx512_unit(long m, long k, const float *a, long lda, const float *q, float tol, float *out) {
    dots_avx512_impl(m, k, a, lda, q, out, 1, tol, 1);
}
AVX512_ATTR static float squares_avx512(long k, const float *x) {
    float s;
    dots_avx512_impl(1, k, x, k, x, &s, 0, 0, 0);
    return s;
}
#endif

void ck_scan_dots(int path, long m, long k, const float *a, long lda, const float *q, float *out) {
    if (m <= 0) return;
    if (k < 0) k = 0;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) { dots_avx512(m, k, a, lda, q, out); return; }
    if (path == CK_PATH_AVX2) { dots_avx2(m, k, a, lda, q, out); return; }
#endif
    dots_portable(m, k, a, lda, q, out);
}

void ck_scan_dots_unit(int path, long m, long k, const float *a, long lda, const float *q, float tol, float *out) {
    if (m <= 0) return;
    if (k < 0) k = 0;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) { dots_avx512_unit(m, k, a, lda, q, tol, out); return; }
    if (path == CK_PATH_AVX2) { dots_avx2_unit(m, k, a, lda, q, tol, out); return; }
#endif
    dots_portable_unit(m, k, a, lda, q, tol, out);
}

// ---------------------------------------------------------------- the unit-length check alone

// A row's sum of squares, four accumulators, no software prefetch (the rows checked here were
// just read: through the one-query kernel, which prefetches 64 KB ahead of every row, the check
// cost a 64-query batch on 1M × 512 12–14 %; this way 2–4 %).
static float row_squares(int path, long k, const float *x) {
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) return squares_avx512(k, x);
    if (path == CK_PATH_AVX2) return squares_avx2(k, x);
#endif
    (void)path;
    float s;
    dots_portable(1, k, x, k, x, &s);
    return s;
}

long ck_mark_not_unit(int path, long m, long k, const float *a, long lda, float tol, float *c, long row_step, long query_step,
                      long n) {
    if (m <= 0) return 0;
    if (k < 0) k = 0;
    long bad = 0;
    for (long r = 0; r < m; r++) {
        if (!(fabsf(row_squares(path, k, a + r * lda) - 1.0f) <= tol)) {
            bad++;
            for (long j = 0; j < n; j++) c[r * row_step + j * query_step] = NAN;
        }
    }
    return bad;
}

// ---------------------------------------------------------------- a pure read, for benchmarks

static float read_portable(const float *x, long n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long j = 0;
    for (; j + 8 <= n; j += 8)
        for (int t = 0; t < 8; t++) acc[t] += x[j + t];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

#if defined(__x86_64__)
AVX512_ATTR static float read_avx512(const float *x, long n) {
    const long pfb = dots_prefetch_bytes(1);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    long j = 0;
    for (; j + 64 <= n; j += 64) {
        if (pfb) {
            const char *pf = (const char *)(x + j) + pfb;
            _mm_prefetch(pf, _MM_HINT_T0);
            _mm_prefetch(pf + 64, _MM_HINT_T0);
            _mm_prefetch(pf + 128, _MM_HINT_T0);
            _mm_prefetch(pf + 192, _MM_HINT_T0);
        }
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + j));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + j + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + j + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + j + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

AVX2_ATTR static float read_avx2(const float *x, long n) {
    const long pfb = dots_prefetch_bytes(0);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    long j = 0;
    for (; j + 32 <= n; j += 32) {
        if (pfb) {
            const char *pf = (const char *)(x + j) + pfb;
            _mm_prefetch(pf, _MM_HINT_T0);
            _mm_prefetch(pf + 64, _MM_HINT_T0);
        }
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + j));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + j + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + j + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + j + 24));
    }
    const __m256 v = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    float f[8];
    _mm256_storeu_ps(f, v);
    return ((f[0] + f[1]) + (f[2] + f[3])) + ((f[4] + f[5]) + (f[6] + f[7]));
}
#endif

float ck_read_pass(int path, const float *x, long n) {
    if (n <= 0) return 0;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) return read_avx512(x, n);
    if (path == CK_PATH_AVX2) return read_avx2(x, n);
#endif
    return read_portable(x, n);
}
