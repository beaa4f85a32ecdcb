// Half-precision conversions and the half-copy dot-product scan (ckhalf.h).
//
// No global -m flags, as in sgemm.c: the F16C / AVX2 and AVX-512 functions carry target
// attributes and are only called after a CPUID check (ck_half_path_supported). The SIMD scans
// prefetch the row 8 ahead (a prefetch never faults, so reading past the last row is harmless)
// except on AMD, where it slows them (half_scan_prefetches).
#include "ckhalf.h"
#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_reduce.h"
#endif
#include <stdlib.h>
#include <math.h>
#include <string.h>

// ---------------------------------------------------------------- dispatch

int ck_half_path_supported(int path) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    switch (path) {
    case CK_PATH_PORTABLE: return 1;
    case CK_PATH_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    case CK_PATH_AVX512: return __builtin_cpu_supports("avx512f");
    default: return 0;
    }
#else
    return path == CK_PATH_PORTABLE;
#endif
}

int ck_half_best_path(void) {
    if (ck_half_path_supported(CK_PATH_AVX512)) return CK_PATH_AVX512;
    if (ck_half_path_supported(CK_PATH_AVX2)) return CK_PATH_AVX2;
    return CK_PATH_PORTABLE;
}

// ---------------------------------------------------------------- portable scalar conversions

static inline uint32_t f_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float f_from(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// float → binary16, round to nearest, ties to even (F. Giesen's float_to_half_fast3_rtne): the
// subnormal range is rounded by one float addition (which rounds to nearest even), the normal
// range by adding 0xfff + the lowest kept mantissa bit before truncating; a carry out of the
// mantissa moves to the next binade, and out of the largest one to infinity.
static inline uint16_t f32_to_f16(float f) {
    const uint32_t f32infty = 255u << 23;
    const uint32_t f16max = (127u + 16u) << 23;             // 65536: at or above is Inf (or NaN)
    const uint32_t denorm_magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    uint32_t x = f_bits(f);
    const uint32_t sign = x & 0x80000000u;
    x ^= sign;
    uint16_t o;
    if (x >= f16max) {
        o = x > f32infty ? 0x7e00 : 0x7c00;
    } else if (x < (113u << 23)) {                          // below 2^-14: subnormal or zero
        const float fx = f_from(x) + f_from(denorm_magic);
        o = (uint16_t)(f_bits(fx) - denorm_magic);
    } else {
        const uint32_t odd = (x >> 13) & 1u;
        x += ((uint32_t)(15 - 127) << 23) + 0xfffu;
        x += odd;
        o = (uint16_t)(x >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

static inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {
        const float v = (float)m * 0x1p-24f;                  // exact: m < 2^10
        return f_from(f_bits(v) | sign);
    }
    if (e == 31) return f_from(sign | 0x7f800000u | (m << 13));
    return f_from(sign | ((e + 112u) << 23) | (m << 13));
}

// float → bfloat16, round to nearest, ties to even; NaN stays a quiet NaN.
static inline uint16_t f32_to_bf16(float f) {
    uint32_t x = f_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

static inline float bf16_to_f32(uint16_t h) { return f_from((uint32_t)h << 16); }

static void to_half_portable(int type, const float *src, uint16_t *dst, long n) {
    if (type == CK_HALF_BF16) for (long i = 0; i < n; i++) dst[i] = f32_to_bf16(src[i]);
    else for (long i = 0; i < n; i++) dst[i] = f32_to_f16(src[i]);
}

static void to_float_portable(int type, const uint16_t *src, float *dst, long n) {
    if (type == CK_HALF_BF16) for (long i = 0; i < n; i++) dst[i] = bf16_to_f32(src[i]);
    else for (long i = 0; i < n; i++) dst[i] = f16_to_f32(src[i]);
}

static void dots_portable(int type, const uint16_t *rows, long stride, long n, long dp, const float *q, float tol, float *out) {
    for (long r = 0; r < n; r++) {
        const uint16_t *x = rows + r * stride;
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, sq[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (long j = 0; j < dp; j += 8)
            for (int t = 0; t < 8; t++) {
                const float v = type == CK_HALF_BF16 ? bf16_to_f32(x[j + t]) : f16_to_f32(x[j + t]);
                acc[t] += v * q[j + t];
                sq[t] += v * v;
            }
        float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        const float n2 = ((sq[0] + sq[1]) + (sq[2] + sq[3])) + ((sq[4] + sq[5]) + (sq[6] + sq[7]));
        if (tol >= 0 && !(fabsf(n2 - 1.0f) <= tol)) s = NAN;
        out[r] = s;
    }
}

// ---------------------------------------------------------------- AVX2 + FMA + F16C

#if defined(__x86_64__)
#define HALF_AVX2_ATTR __attribute__((target("avx2,fma,f16c")))

HALF_AVX2_ATTR static inline __m256 avx2_load8(int type, const uint16_t *p) {
    const __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (type == CK_HALF_BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

HALF_AVX2_ATTR static void to_half_avx2(int type, const float *src, uint16_t *dst, long n) {
    if (type == CK_HALF_BF16) { to_half_portable(type, src, dst, n); return; }
    long i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = f32_to_f16(src[i]);
}

HALF_AVX2_ATTR static void to_float_avx2(int type, const uint16_t *src, float *dst, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, avx2_load8(type, src + i));
    for (; i < n; i++) dst[i] = type == CK_HALF_BF16 ? bf16_to_f32(src[i]) : f16_to_f32(src[i]);
}

// Two rows a step, n / 2 rows apart (the halves of the call's rows: two sequential streams), each
// query load feeding both; every row keeps its own four sums in the order of a row alone, so the
// scores are those of one row at a time, bit for bit. Per 8 values a row alone loads 16 bytes of
// row and 32 of query, and at ~57–60 GB/s (Zen 4, AVX-512 hidden) the query's loads held the f16
// scan at 0.59–0.62× the float32 pass; two streams: 0.55–0.56× (C harness, 1M × 512, blocks of
// 1,024 rows as the scan calls it). Rows next to each other (1–2 KB apart) instead ran 1.5–2.6×
// slower there whatever the bandwidth (the prefetchers, it seems): the pairs are half a call apart.
// With CHECK, each row's squares are summed too (`ck_half_dots`, tol ≥ 0): four squares a step
// into a temporary, one add into the row's sum, so the loop carries one more add, not four more
// multiply-adds; a row whose sum is not within tol of 1 scores NaN. The scores are the same bits.
//
// One 32-value step of row X at j: into the accumulators A0..A3 against Q0..Q3, its squares into N.
#define HALF_AVX2_STEP(TYPE, CHECK, X, Q0, Q1, Q2, Q3, A0, A1, A2, A3, N)                                       \
    do {                                                                                                        \
        const __m256 v0 = avx2_load8(TYPE, (X) + j), v1 = avx2_load8(TYPE, (X) + j + 8);                        \
        const __m256 v2 = avx2_load8(TYPE, (X) + j + 16), v3 = avx2_load8(TYPE, (X) + j + 24);                  \
        A0 = _mm256_fmadd_ps(v0, (Q0), A0);                                                                     \
        A1 = _mm256_fmadd_ps(v1, (Q1), A1);                                                                     \
        A2 = _mm256_fmadd_ps(v2, (Q2), A2);                                                                     \
        A3 = _mm256_fmadd_ps(v3, (Q3), A3);                                                                     \
        if (CHECK) N = _mm256_add_ps(N, avx2_squares4(v0, v1, v2, v3));                                         \
    } while (0)

#define HALF_DOTS_AVX2(NAME, TYPE, PF, CHECK)                                                                   \
    HALF_AVX2_ATTR static void NAME(const uint16_t *rows, long stride, long n, long dp, const float *q, float tol, \
                                    float *out) {                                                               \
        const long h = n / 2;                                                                                   \
        for (long r = 0; r < h; r++) {                                                                          \
            const uint16_t *x = rows + r * stride, *y = rows + (r + h) * stride;                                \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;     \
            __m256 na = a0, nb = a0;                                                                            \
            for (long j = 0; j < dp; j += 32) {                                                                 \
                if (PF) {                                                                                       \
                    _mm_prefetch((const char *)(x + 8 * stride + j), _MM_HINT_T0);                              \
                    _mm_prefetch((const char *)(y + 8 * stride + j), _MM_HINT_T0);                              \
                }                                                                                               \
                const __m256 q0 = _mm256_loadu_ps(q + j), q1 = _mm256_loadu_ps(q + j + 8);                      \
                const __m256 q2 = _mm256_loadu_ps(q + j + 16), q3 = _mm256_loadu_ps(q + j + 24);                \
                HALF_AVX2_STEP(TYPE, CHECK, x, q0, q1, q2, q3, a0, a1, a2, a3, na);                             \
                HALF_AVX2_STEP(TYPE, CHECK, y, q0, q1, q2, q3, b0, b1, b2, b3, nb);                             \
            }                                                                                                   \
            out[r] = avx2_checked(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), CHECK, na, tol); \
            out[r + h] = avx2_checked(_mm256_add_ps(_mm256_add_ps(b0, b1), _mm256_add_ps(b2, b3)), CHECK, nb, tol); \
        }                                                                                                       \
        for (long r = 2 * h; r < n; r++) {                                                                      \
            const uint16_t *x = rows + r * stride;                                                              \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, na = a0;                                \
            for (long j = 0; j < dp; j += 32)                                                                   \
                HALF_AVX2_STEP(TYPE, CHECK, x, _mm256_loadu_ps(q + j), _mm256_loadu_ps(q + j + 8),              \
                               _mm256_loadu_ps(q + j + 16), _mm256_loadu_ps(q + j + 24), a0, a1, a2, a3, na);   \
            out[r] = avx2_checked(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), CHECK, na, tol); \
        }                                                                                                       \
    }

HALF_AVX2_ATTR static inline __m256 avx2_squares4(__m256 x0, __m256 x1, __m256 x2, __m256 x3) {
    return _mm256_fmadd_ps(x3, x3, _mm256_fmadd_ps(x2, x2, _mm256_fmadd_ps(x1, x1, _mm256_mul_ps(x0, x0))));
}

// The score (the lanes of `a` summed), or NaN when checking and the row's sum of squares (the lanes
// of `sq`) is not within tol of 1.
HALF_AVX2_ATTR static inline float avx2_checked(__m256 a, int check, __m256 sq, float tol) {
    float n2;
    const float s = ck_reduce2_256(a, check ? sq : a, &n2);
    return check && !(fabsf(n2 - 1.0f) <= tol) ? NAN : s;
}

HALF_DOTS_AVX2(dots_avx2_f16, CK_HALF_F16, 1, 0)
HALF_DOTS_AVX2(dots_avx2_bf16, CK_HALF_BF16, 1, 0)
HALF_DOTS_AVX2(dots_avx2_f16_nopf, CK_HALF_F16, 0, 0)
HALF_DOTS_AVX2(dots_avx2_bf16_nopf, CK_HALF_BF16, 0, 0)
HALF_DOTS_AVX2(dots_avx2_f16_unit, CK_HALF_F16, 1, 1)
HALF_DOTS_AVX2(dots_avx2_bf16_unit, CK_HALF_BF16, 1, 1)
HALF_DOTS_AVX2(dots_avx2_f16_nopf_unit, CK_HALF_F16, 0, 1)
HALF_DOTS_AVX2(dots_avx2_bf16_nopf_unit, CK_HALF_BF16, 0, 1)

// ---------------------------------------------------------------- AVX-512F

#define HALF_AVX512_ATTR __attribute__((target("avx512f")))

HALF_AVX512_ATTR static inline __m512 avx512_load16(int type, const uint16_t *p) {
    const __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (type == CK_HALF_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

HALF_AVX512_ATTR static void to_half_avx512(int type, const float *src, uint16_t *dst, long n) {
    if (type == CK_HALF_BF16) { to_half_portable(type, src, dst, n); return; }
    long i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) dst[i] = f32_to_f16(src[i]);
}

HALF_AVX512_ATTR static void to_float_avx512(int type, const uint16_t *src, float *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, avx512_load16(type, src + i));
    for (; i < n; i++) dst[i] = type == CK_HALF_BF16 ? bf16_to_f32(src[i]) : f16_to_f32(src[i]);
}

// The AVX-512 half scan keeps the query's first `nb` 64-float blocks (nb ≤ 6: 24 of the 32 vector
// registers; four accumulators and the converted row vector take the rest) in registers across
// the rows, loading only the rest of q from L1 for each row. The row's sums are formed in the same
// order either way (same accumulators, same blocks in turn), so the scores are the same bits.
// Streaming from memory the query's loads slow the scan: on Zen 4, one thread, 1M × 512 f16 rows,
// a C harness: 46–50 ns a row with q loaded for every row, 34–36 with 24 vectors in registers —
// the speed of a pure read of the same bytes (34–36 ns); from L1 both 17.8 ns.
#define HALF_Q_BLOCKS_MAX 6

// One 64-float block of row x at j into the four accumulators, against the query vectors Q0..Q3;
// with `check`, its squares into one temporary and that into `sq` (one add carried by the loop).
#define HALF_AVX512_BLOCK(Q0, Q1, Q2, Q3)                                                                   \
    do {                                                                                                    \
        if (pf) {                                                                                           \
            _mm_prefetch((const char *)(x + 8 * stride + j), _MM_HINT_T0);                                  \
            _mm_prefetch((const char *)(x + 8 * stride + j + 32), _MM_HINT_T0);                             \
        }                                                                                                   \
        const __m512 x0 = avx512_load16(type, x + j), x1 = avx512_load16(type, x + j + 16);                 \
        const __m512 x2 = avx512_load16(type, x + j + 32), x3 = avx512_load16(type, x + j + 48);            \
        a0 = _mm512_fmadd_ps(x0, (Q0), a0);                                                                 \
        a1 = _mm512_fmadd_ps(x1, (Q1), a1);                                                                 \
        a2 = _mm512_fmadd_ps(x2, (Q2), a2);                                                                 \
        a3 = _mm512_fmadd_ps(x3, (Q3), a3);                                                                 \
        if (check)                                                                                          \
            sq = _mm512_add_ps(sq, _mm512_fmadd_ps(x3, x3, _mm512_fmadd_ps(x2, x2,                          \
                                   _mm512_fmadd_ps(x1, x1, _mm512_mul_ps(x0, x0)))));                       \
    } while (0)

HALF_AVX512_ATTR static inline __attribute__((always_inline)) void half_dots_avx512(
    int type, int pf, int check, int nb, const uint16_t *rows, long stride, long n, long dp, const float *q, float tol,
    float *out) {
    __m512 qr[4 * HALF_Q_BLOCKS_MAX];
#pragma clang loop unroll(full)
    for (int i = 0; i < 4 * HALF_Q_BLOCKS_MAX; i++) qr[i] = i < 4 * nb ? _mm512_loadu_ps(q + 16 * i) : _mm512_setzero_ps();
    for (long r = 0; r < n; r++) {
        const uint16_t *x = rows + r * stride;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, sq = a0;
        long j = 0;
#pragma clang loop unroll(full)
        for (int b = 0; b < HALF_Q_BLOCKS_MAX; b++) {
            if (b < nb) {
                HALF_AVX512_BLOCK(qr[4 * b], qr[4 * b + 1], qr[4 * b + 2], qr[4 * b + 3]);
                j += 64;
            }
        }
        for (; j + 64 <= dp; j += 64)
            HALF_AVX512_BLOCK(_mm512_loadu_ps(q + j), _mm512_loadu_ps(q + j + 16), _mm512_loadu_ps(q + j + 32),
                              _mm512_loadu_ps(q + j + 48));
        if (j < dp) {
            const __m512 x0 = avx512_load16(type, x + j), x1 = avx512_load16(type, x + j + 16);
            a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(q + j), a0);
            a1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(q + j + 16), a1);
            if (check) sq = _mm512_add_ps(sq, _mm512_fmadd_ps(x1, x1, _mm512_mul_ps(x0, x0)));
        }
        const __m512 av = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        float n2;
        float s = ck_reduce2_512(av, check ? sq : av, &n2);
        if (check && !(fabsf(n2 - 1.0f) <= tol)) s = NAN;
        out[r] = s;
    }
}

// One function per storage type, prefetch choice and check; the query blocks held in registers
// are chosen per call (6 from 384 dimensions on, 4 from 256, 2 from 128), each a specialised body.
#define HALF_DOTS_AVX512(NAME, TYPE, PF, CHECK)                                                                 \
    HALF_AVX512_ATTR static void NAME(const uint16_t *rows, long stride, long n, long dp, const float *q, float tol, \
                                      float *out) {                                                             \
        if (dp >= 384) half_dots_avx512(TYPE, PF, CHECK, 6, rows, stride, n, dp, q, tol, out);                  \
        else if (dp >= 256) half_dots_avx512(TYPE, PF, CHECK, 4, rows, stride, n, dp, q, tol, out);             \
        else if (dp >= 128) half_dots_avx512(TYPE, PF, CHECK, 2, rows, stride, n, dp, q, tol, out);             \
        else half_dots_avx512(TYPE, PF, CHECK, 0, rows, stride, n, dp, q, tol, out);                            \
    }

HALF_DOTS_AVX512(dots_avx512_f16, CK_HALF_F16, 1, 0)
HALF_DOTS_AVX512(dots_avx512_bf16, CK_HALF_BF16, 1, 0)
HALF_DOTS_AVX512(dots_avx512_f16_nopf, CK_HALF_F16, 0, 0)
HALF_DOTS_AVX512(dots_avx512_bf16_nopf, CK_HALF_BF16, 0, 0)
HALF_DOTS_AVX512(dots_avx512_f16_unit, CK_HALF_F16, 1, 1)
HALF_DOTS_AVX512(dots_avx512_bf16_unit, CK_HALF_BF16, 1, 1)
HALF_DOTS_AVX512(dots_avx512_f16_nopf_unit, CK_HALF_F16, 0, 1)
HALF_DOTS_AVX512(dots_avx512_bf16_nopf_unit, CK_HALF_BF16, 0, 1)
#endif

// ---------------------------------------------------------------- entry points

#if defined(__x86_64__)
// Whether the SIMD half scans prefetch 8 rows ahead: on Intel (Sapphire/Emerald Rapids, measured
// under load) the hardware prefetcher alone left the f16 scan ~1.5× its bandwidth pass; on AMD
// Zen 4 the software prefetch costs more than it saves (the f16 kernel at 0.62–0.71× the float32
// pass with it, 0.52× without, quiet, same harness). EMBEDSCOPE_HALF_PREFETCH=0/1 overrides.
static int half_scan_prefetches(void) {
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv("EMBEDSCOPE_HALF_PREFETCH");
        if (e && (e[0] == '0' || e[0] == '1') && e[1] == 0) v = e[0] == '1';
        else v = ck_cpu_amd_family() == 0;   // the one vendor test (sgemm.c)
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}
#endif

int ck_half_scan_prefetches(void) {
#if defined(__x86_64__)
    return half_scan_prefetches();
#else
    return 0;
#endif
}

void ck_float_to_half(int path, int type, const float *src, uint16_t *dst, long n) {
    if (n <= 0) return;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) { to_half_avx512(type, src, dst, n); return; }
    if (path == CK_PATH_AVX2) { to_half_avx2(type, src, dst, n); return; }
#endif
    (void)path;
    to_half_portable(type, src, dst, n);
}

void ck_half_to_float(int path, int type, const uint16_t *src, float *dst, long n) {
    if (n <= 0) return;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) { to_float_avx512(type, src, dst, n); return; }
    if (path == CK_PATH_AVX2) { to_float_avx2(type, src, dst, n); return; }
#endif
    (void)path;
    to_float_portable(type, src, dst, n);
}

typedef void (*half_dots_fn)(const uint16_t *, long, long, long, const float *, float, float *);

void ck_half_dots(int path, int type, const uint16_t *rows, long stride, long n, long dimPadded, const float *q, float tol,
                  float *out) {
    if (n <= 0) return;
#if defined(__x86_64__)
    // [bf16][prefetch][check]
    static const half_dots_fn avx512[2][2][2] = {
        {{dots_avx512_f16_nopf, dots_avx512_f16_nopf_unit}, {dots_avx512_f16, dots_avx512_f16_unit}},
        {{dots_avx512_bf16_nopf, dots_avx512_bf16_nopf_unit}, {dots_avx512_bf16, dots_avx512_bf16_unit}}};
    static const half_dots_fn avx2[2][2][2] = {
        {{dots_avx2_f16_nopf, dots_avx2_f16_nopf_unit}, {dots_avx2_f16, dots_avx2_f16_unit}},
        {{dots_avx2_bf16_nopf, dots_avx2_bf16_nopf_unit}, {dots_avx2_bf16, dots_avx2_bf16_unit}}};
    const int bf = type == CK_HALF_BF16, pf = half_scan_prefetches() != 0, check = tol >= 0;
    if (path == CK_PATH_AVX512) { avx512[bf][pf][check](rows, stride, n, dimPadded, q, tol, out); return; }
    if (path == CK_PATH_AVX2) { avx2[bf][pf][check](rows, stride, n, dimPadded, q, tol, out); return; }
#endif
    (void)path;
    dots_portable(type, rows, stride, n, dimPadded, q, tol, out);
}
