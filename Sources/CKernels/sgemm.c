// Packed SGEMM after the GotoBLAS / BLIS / MLAS design: B packed once into k × NR panels,
// A packed per (MC × KC) block into MR-row slivers, a register-blocked micro-kernel that keeps
// the MR × NR tile of C in registers across a KC slice, and the epilogue (beta, bias, residual,
// activation) applied when the tile is stored after the last KC slice.
//
// No global -m flags: the AVX2 and AVX-512 kernels carry target attributes and are only called
// after a CPUID check (ck_path_supported).
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <time.h>
#include <string.h>

#define KC 256
// The AVX-512 path's slice: 1280 deep (a whole embedding for k ≤ 1280), so a tile of C is loaded
// and stored once instead of once per 256-deep slice. Its 32-column B sliver (160 KB) is then
// read from L2 rather than L1, which the machines measured absorb: on Zen 5 a 512 × 512 × 1280
// tile (the silhouette's) ran 3–5 % faster (C harness, 5 interleaved rounds, medians 199 → 210
// GFLOP/s). A blocks of 8 slivers (96 rows, 480 KB) keep A and the sliver within a 1 MB L2.
#define KC_AVX512 1280
static long kc_max(int path) { return path == CK_PATH_AVX512 ? KC_AVX512 : KC; }

// ---------------------------------------------------------------- dispatch

int ck_path_supported(int path) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    switch (path) {
    case CK_PATH_PORTABLE: return 1;
    case CK_PATH_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CK_PATH_AVX512: return __builtin_cpu_supports("avx512f");
    default: return 0;
    }
#else
    return path == CK_PATH_PORTABLE;
#endif
}

// The Swift code of this build was compiled for x86-64-v3 (AVX2 + FMA + F16C; Package.swift) and
// may use those instructions anywhere: on a CPU without them it would die of SIGILL at the first
// one. This runs before main (and before any Swift code): on such a CPU it says so and exits 2.
// EMBEDSCOPE_TEST_CPU_WITHOUT_V3=1 makes it act as on such a CPU (for the test of this message).
#if defined(__x86_64__) && defined(EMBEDSCOPE_BUILT_FOR_V3)
#include <unistd.h>
__attribute__((constructor)) static void ck_refuse_cpu_without_v3(void) {
    __builtin_cpu_init();
    const char *pretend = getenv("EMBEDSCOPE_TEST_CPU_WITHOUT_V3");
    const int has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (has && !(pretend && pretend[0] == '1')) return;
    static const char msg[] =
        "embedscope: error: this build runs on x86-64-v3 CPUs (AVX2, FMA and F16C), and this CPU does not report all three\n"
        "  hint: build for baseline x86-64 instead: EMBEDSCOPE_PORTABLE=1 swift build -c release\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(2);
}
#endif

int ck_built_for_v3(void) {
#if defined(__x86_64__) && defined(EMBEDSCOPE_BUILT_FOR_V3)
    return 1;
#else
    return 0;
#endif
}

int ck_best_path(void) {
    if (ck_path_supported(CK_PATH_AVX512)) return CK_PATH_AVX512;
    if (ck_path_supported(CK_PATH_AVX2)) return CK_PATH_AVX2;
    return CK_PATH_PORTABLE;
}

int ck_cpu_amd_family(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    if (!(b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u)) return 0;  // "Auth" "enti" "cAMD"
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    unsigned family = (a >> 8) & 0xF;
    if (family == 0xF) family += (a >> 20) & 0xFF;
    return (int)family;
#else
    return 0;
#endif
}

// ---------------------------------------------------------------- cache sizes

// Bytes of cpu0's cache of `level` and `type` ("Data", "Unified") as sysfs states it ("48K"), 0 if unknown.
static long sysfs_cache_bytes(int level, const char *type) {
    for (int i = 0; i < 8; i++) {
        char path[96], buf[32];
        long lv = 0, size = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        if (!f) return 0;
        int ok = fscanf(f, "%ld", &lv) == 1;
        fclose(f);
        if (!ok || lv != level) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (!(f = fopen(path, "r"))) continue;
        ok = fgets(buf, sizeof buf, f) != NULL;
        fclose(f);
        if (!ok || strncmp(buf, type, strlen(type)) != 0) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (!(f = fopen(path, "r"))) continue;
        char unit = 0;
        ok = fscanf(f, "%ld%c", &size, &unit) >= 1;
        fclose(f);
        if (!ok || size <= 0 || size > (1L << 30)) return 0;
        return unit == 'K' ? size << 10 : unit == 'M' ? size << 20 : size;
    }
    return 0;
}

static long detect_cache(int level) {
    long v = 0;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
    v = sysconf(level == 1 ? _SC_LEVEL1_DCACHE_SIZE : _SC_LEVEL2_CACHE_SIZE);
#endif
    if (v <= 0) v = sysfs_cache_bytes(level, level == 1 ? "Data" : "Unified");
    const long lo = level == 1 ? 8L << 10 : 64L << 10, hi = level == 1 ? 1L << 20 : 64L << 20;
    return v >= lo && v <= hi ? v : (level == 1 ? 32L << 10 : 512L << 10);
}

static long cache_l1d, cache_l2;   // 0: not yet detected (atomic accesses; detection is idempotent)

static long cached_cache(long *slot, int level) {
    long v = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (v > 0) return v;
    v = detect_cache(level);
    __atomic_store_n(slot, v, __ATOMIC_RELAXED);
    return v;
}

long ck_l1d_bytes(void) { return cached_cache(&cache_l1d, 1); }
long ck_l2_bytes(void) { return cached_cache(&cache_l2, 2); }

void ck_set_cache_sizes(long l1d, long l2) {
    __atomic_store_n(&cache_l1d, l1d > 0 ? l1d : 0, __ATOMIC_RELAXED);
    __atomic_store_n(&cache_l2, l2 > 0 ? l2 : 0, __ATOMIC_RELAXED);
}

int ck_mr(int path) { return path == CK_PATH_AVX512 ? 12 : path == CK_PATH_AVX2 ? 6 : 4; }
int ck_nr(int path) { return path == CK_PATH_AVX512 ? 32 : 16; }

size_t ck_panel_stride(int path, long k) {
    size_t s = (size_t)(k > 0 ? k : 0) * (size_t)ck_nr(path);
    return (s + 15) & ~(size_t)15;
}

size_t ck_packed_b_count(int path, long k, long n) {
    long nr = ck_nr(path);
    long panels = (n + nr - 1) / nr;
    size_t total = (size_t)panels * ck_panel_stride(path, k);
    return total > 0 ? total : 16;
}

#if defined(__x86_64__)
#define PACK_AVX512 __attribute__((target("avx512f")))

// r[0..15], 16 rows of 16 floats, becomes its transpose: r[j] = column j. Four rounds of 16
// shuffles (pairs of rows interleaved, then pairs of pairs, then 128-bit lanes gathered twice)
// instead of 256 scalar moves.
PACK_AVX512 static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);       // lane L: r_i[4L], r_i+1[4L], r_i[4L+1], r_i+1[4L+1]
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);   // … [4L+2], [4L+3]
    }
    for (int g = 0; g < 4; g++) {                        // u[4g + c], lane L: column 4L + c of rows 4g … 4g+3
        const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int c = 0; c < 4; c++) {                        // column 4L + c: lane L of u[c], u[4 + c], u[8 + c], u[12 + c]
        const __m512 v01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), w01 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        const __m512 v23 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE), w23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(v01, w01, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(v01, w01, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(v23, w23, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(v23, w23, 0xDD);
    }
}

static inline __mmask16 first_lanes(long n) { return (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1); }

// One 32-column panel of B given by columns (element (p, j) at b[j * csb + p], j < w), as
// 16 × 16 blocks transposed in registers; columns from w on are written as zeros.
PACK_AVX512 static void pack_b_panel_avx512(long k, long w, const float *b, long csb, float *dst) {
    for (long p0 = 0; p0 < k; p0 += 16) {
        const long pe = k - p0 < 16 ? k - p0 : 16;
        const __mmask16 m = first_lanes(pe);
        for (long half = 0; half < 2; half++) {
            __m512 r[16];
            for (long j = 0; j < 16; j++) {
                const long col = half * 16 + j;
                r[j] = col < w ? _mm512_maskz_loadu_ps(m, b + col * csb + p0) : _mm512_setzero_ps();
            }
            transpose16(r);
            for (long p = 0; p < pe; p++) _mm512_storeu_ps(dst + (p0 + p) * 32 + half * 16, r[p]);
        }
    }
}

// pack_a's slivers of 12 rows (the AVX-512 kernel's MR), 16 × 16 blocks transposed in registers
// (rows past the 12, and past mc, are zeros).
PACK_AVX512 static void pack_a_avx512(long mc, long kc, const float *a, long lda, float *dst) {
    // Lanes of (x, y) for permutex2var: 0–15 from x, 16–31 from y.
    const __m512i idx0 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19);
    const __m512i idx1 = _mm512_setr_epi32(4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i idx2 = _mm512_setr_epi32(8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27);
    for (long i0 = 0; i0 < mc; i0 += 12) {
        const long h = mc - i0 < 12 ? mc - i0 : 12;
        float *d = dst + i0 * kc;
        for (long p0 = 0; p0 < kc; p0 += 16) {
            const long pe = kc - p0 < 16 ? kc - p0 : 16;
            const __mmask16 m = first_lanes(pe);
            __m512 r[16];
            for (long i = 0; i < 16; i++) r[i] = i < h ? _mm512_maskz_loadu_ps(m, a + (i0 + i) * lda + p0) : _mm512_setzero_ps();
            transpose16(r);
            // Four k steps (48 floats) as three whole vectors; a tail of fewer under a mask.
            long p = 0;
            for (; p + 4 <= pe; p += 4) {
                float *q = d + (p0 + p) * 12;
                _mm512_storeu_ps(q, _mm512_permutex2var_ps(r[p], idx0, r[p + 1]));
                _mm512_storeu_ps(q + 16, _mm512_permutex2var_ps(r[p + 1], idx1, r[p + 2]));
                _mm512_storeu_ps(q + 32, _mm512_permutex2var_ps(r[p + 2], idx2, r[p + 3]));
            }
            for (; p < pe; p++) _mm512_mask_storeu_ps(d + (p0 + p) * 12, 0x0FFF, r[p]);
        }
    }
}

#define PACK_AVX2 __attribute__((target("avx2")))

// r[0..7], 8 rows of 8 floats, becomes its transpose (r[j] = column j).
PACK_AVX2 static inline void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int g = 0; g < 2; g++) {   // u[4g + c], 128-bit lane L: column 4L + c of rows 4g … 4g+3
        u[4 * g] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

// The first n (≤ 8) floats at p, the rest zeros; nothing past them is read.
PACK_AVX2 static inline __m256 load_first(const float *p, long n) {
    if (n >= 8) return _mm256_loadu_ps(p);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane));
}

// pack_b_panel_avx512 for the AVX2 path's 16-column panels, in 8 × 8 blocks.
PACK_AVX2 static void pack_b_panel_avx2(long k, long w, const float *b, long csb, float *dst) {
    for (long p0 = 0; p0 < k; p0 += 8) {
        const long pe = k - p0 < 8 ? k - p0 : 8;
        for (long half = 0; half < 2; half++) {
            __m256 r[8];
            for (long j = 0; j < 8; j++) {
                const long col = half * 8 + j;
                r[j] = col < w ? load_first(b + col * csb + p0, pe) : _mm256_setzero_ps();
            }
            transpose8(r);
            for (long p = 0; p < pe; p++) _mm256_storeu_ps(dst + (p0 + p) * 16 + half * 8, r[p]);
        }
    }
}

// pack_a's slivers of 6 rows (the AVX2 kernel's MR), in 8 × 8 blocks; each k step's 6 floats
// stored as 4 + 2.
PACK_AVX2 static void pack_a_avx2(long mc, long kc, const float *a, long lda, float *dst) {
    for (long i0 = 0; i0 < mc; i0 += 6) {
        const long h = mc - i0 < 6 ? mc - i0 : 6;
        float *d = dst + i0 * kc;
        for (long p0 = 0; p0 < kc; p0 += 8) {
            const long pe = kc - p0 < 8 ? kc - p0 : 8;
            __m256 r[8];
            for (long i = 0; i < 8; i++) r[i] = i < h ? load_first(a + (i0 + i) * lda + p0, pe) : _mm256_setzero_ps();
            transpose8(r);
            for (long p = 0; p < pe; p++) {
                float *q = d + (p0 + p) * 6;
                _mm_storeu_ps(q, _mm256_castps256_ps128(r[p]));
                _mm_storel_pi((__m64 *)(q + 4), _mm256_extractf128_ps(r[p], 1));
            }
        }
    }
}
#endif

void ck_pack_b(int path, long k, long n, const float *b, long rsb, long csb, float *packed) {
    const long nr = ck_nr(path);
    const size_t stride = ck_panel_stride(path, k);
#if defined(__x86_64__)
    const int simd = rsb == 1 && csb != 1 && ck_path_supported(path)
        ? (path == CK_PATH_AVX512 && nr == 32 ? 512 : path == CK_PATH_AVX2 && nr == 16 ? 256 : 0) : 0;
#else
    const int simd = 0;
#endif
    for (long j0 = 0; j0 < n; j0 += nr) {
        float *dst = packed + (size_t)(j0 / nr) * stride;
        const long w = n - j0 < nr ? n - j0 : nr;
        if (simd) {
#if defined(__x86_64__)
            if (simd == 512) pack_b_panel_avx512(k, w, b + j0 * csb, csb, dst);
            else pack_b_panel_avx2(k, w, b + j0 * csb, csb, dst);
#endif
        } else if (csb == 1) {
            for (long p = 0; p < k; p++) {
                const float *src = b + p * rsb + j0;
                float *d = dst + p * nr;
                memcpy(d, src, (size_t)w * sizeof(float));
                for (long j = w; j < nr; j++) d[j] = 0;
            }
        } else {
            for (long p = 0; p < k; p++)
                for (long j = w; j < nr; j++) dst[p * nr + j] = 0;
            // Blocked over p so the destination block (PB × nr floats) stays in L1 while the
            // w source rows are read; a whole panel (k × nr) written column by column would
            // miss L1 on every store.
            enum { PB = 16 };
            for (long p0 = 0; p0 < k; p0 += PB) {
                const long pe = k - p0 < PB ? k - p0 : PB;
                for (long j = 0; j < w; j++) {
                    const float *src = b + (j0 + j) * csb + p0 * rsb;
                    float *d = dst + p0 * nr + j;
                    for (long p = 0; p < pe; p++) d[p * nr] = src[p * rsb];
                }
            }
        }
        for (size_t t = (size_t)k * (size_t)nr; t < stride; t++) dst[t] = 0;
    }
}

// Packs rows [0, mc) × columns [0, kc) of A into slivers of mr rows: sliver s holds
// a[(s*mr + i) * lda + p] at [s * mr * kc + p * mr + i], zero rows past mc.
static void pack_a(int path, long mc, long kc, const float *a, long lda, int mr, float *dst) {
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512 && mr == 12 && ck_path_supported(path)) { pack_a_avx512(mc, kc, a, lda, dst); return; }
    if (path == CK_PATH_AVX2 && mr == 6 && ck_path_supported(path)) { pack_a_avx2(mc, kc, a, lda, dst); return; }
#endif
    for (long i0 = 0; i0 < mc; i0 += mr) {
        const long h = mc - i0 < mr ? mc - i0 : mr;
        float *d = dst + i0 * kc;
        if (h == mr && mr == 4) {
            const float *r0 = a + i0 * lda, *r1 = r0 + lda, *r2 = r1 + lda, *r3 = r2 + lda;
            for (long p = 0; p < kc; p++) { d[4 * p] = r0[p]; d[4 * p + 1] = r1[p]; d[4 * p + 2] = r2[p]; d[4 * p + 3] = r3[p]; }
            continue;
        }
        for (long i = 0; i < h; i++) {
            const float *src = a + (i0 + i) * lda;
            for (long p = 0; p < kc; p++) d[p * mr + i] = src[p];
        }
        for (long i = h; i < mr; i++)
            for (long p = 0; p < kc; p++) d[p * mr + i] = 0;
    }
}

// pack_a for A given transposed: element (i, p) at a[p * lda + i], so each k step of a sliver
// is mr contiguous floats.
static void pack_a_t(long mc, long kc, const float *a, long lda, int mr, float *dst) {
    for (long i0 = 0; i0 < mc; i0 += mr) {
        const long h = mc - i0 < mr ? mc - i0 : mr;
        float *d = dst + i0 * kc;
        for (long p = 0; p < kc; p++) {
            const float *src = a + p * lda + i0;
            float *dp = d + p * mr;
            long i = 0;
            for (; i < h; i++) dp[i] = src[i];
            for (; i < mr; i++) dp[i] = 0;
        }
    }
}

// A per-thread scratch for the packed A block.
static _Thread_local float *scratch_buf;
static _Thread_local size_t scratch_cap;

static float *scratch(size_t count) {
    if (count > scratch_cap) {
        free(scratch_buf);
        scratch_buf = NULL;
        scratch_cap = 0;
        void *p = NULL;
        if (posix_memalign(&p, 64, count * sizeof(float)) != 0) return NULL;
        scratch_buf = p;
        scratch_cap = count;
    }
    return scratch_buf;
}

// How a micro-kernel stores its tile.
typedef struct {
    int load;            // 0: C = acc; 1: C += acc; 2: C = acc + beta * C
    float beta;
    int last;            // apply bias / residual / activation
    const float *bias;   // at the tile's first column, or NULL
    const float *res;    // at the tile's first element, or NULL
    long ldr;
    int act;
} store_mode;

static inline float act1(float x, int act) {
    if (act == CK_ACT_NONE) return x;
    x = x < 0 ? 0 : x;
    if (act == CK_ACT_RELU6) x = x > 6 ? 6 : x;
    return x;
}

static inline float store1(float acc, const float *cp, int i, int j, const store_mode *s) {
    float v = acc;
    if (s->load == 1) v += *cp;
    else if (s->load == 2) v += s->beta * *cp;
    if (s->last) {
        if (s->bias) v += s->bias[j];
        if (s->res) v += s->res[i * s->ldr + j];
        v = act1(v, s->act);
    }
    return v;
}

// ---------------------------------------------------------------- portable 4 × 16

enum { P_MR = 4, P_NR = 16 };

static void kernel_portable(long kc, const float *ap, const float *bp, float *c, long ldc, int mr, int nr, const store_mode *s) {
    float acc[P_MR][P_NR];
    for (int i = 0; i < P_MR; i++)
        for (int j = 0; j < P_NR; j++) acc[i][j] = 0;
    for (long p = 0; p < kc; p++) {
        const float *b = bp + p * P_NR;
        for (int i = 0; i < P_MR; i++) {
            const float a = ap[p * P_MR + i];
            for (int j = 0; j < P_NR; j++) acc[i][j] += a * b[j];
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            float *cp = c + i * ldc + j;
            *cp = store1(acc[i][j], cp, i, j, s);
        }
}

// ---------------------------------------------------------------- AVX2 + FMA 6 × 16

#if defined(__x86_64__)
#define AVX2_ATTR __attribute__((target("avx2,fma")))

AVX2_ATTR static inline __m256 avx2_store_vec(__m256 v, float *cp, const float *bias, const float *res, __m256i mask, int full,
                                              const store_mode *s) {
    if (s->load == 1) v = _mm256_add_ps(v, full ? _mm256_loadu_ps(cp) : _mm256_maskload_ps(cp, mask));
    else if (s->load == 2) v = _mm256_fmadd_ps(_mm256_set1_ps(s->beta), full ? _mm256_loadu_ps(cp) : _mm256_maskload_ps(cp, mask), v);
    if (s->last) {
        if (bias) v = _mm256_add_ps(v, full ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, mask));
        if (res) v = _mm256_add_ps(v, full ? _mm256_loadu_ps(res) : _mm256_maskload_ps(res, mask));
        // max(0, v) / min(6, v) return v when v is NaN (the second operand wins on unordered).
        if (s->act != CK_ACT_NONE) v = _mm256_max_ps(_mm256_setzero_ps(), v);
        if (s->act == CK_ACT_RELU6) v = _mm256_min_ps(_mm256_set1_ps(6), v);
    }
    if (full) _mm256_storeu_ps(cp, v); else _mm256_maskstore_ps(cp, mask, v);
    return v;
}

AVX2_ATTR static inline __m256i avx2_mask(int count) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), idx);
}

#define AVX2_KERNEL(NAME, NV)                                                                                        \
    AVX2_ATTR static void NAME(long kc, const float *ap, const float *bp, float *c, long ldc, int mr, int nr,         \
                               const store_mode *s) {                                                                \
        __m256 acc[6][NV];                                                                                           \
        _Pragma("clang loop unroll(full)")                                                                           \
        for (int i = 0; i < 6; i++)                                                                                  \
            _Pragma("clang loop unroll(full)")                                                                       \
            for (int v = 0; v < NV; v++) acc[i][v] = _mm256_setzero_ps();                                            \
        for (long p = 0; p < kc; p++) {                                                                              \
            __m256 b[NV];                                                                                            \
            _Pragma("clang loop unroll(full)")                                                                       \
            for (int v = 0; v < NV; v++) b[v] = _mm256_load_ps(bp + p * 16 + 8 * v);                                 \
            _Pragma("clang loop unroll(full)")                                                                       \
            for (int i = 0; i < 6; i++) {                                                                            \
                const __m256 a = _mm256_broadcast_ss(ap + p * 6 + i);                                                \
                _Pragma("clang loop unroll(full)")                                                                   \
                for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(a, b[v], acc[i][v]);                        \
            }                                                                                                        \
        }                                                                                                            \
        _Pragma("clang loop unroll(full)")                                                                           \
        for (int v = 0; v < NV; v++) {                                                                               \
            const int cols = nr - 8 * v;                                                                             \
            if (cols <= 0) continue;                                                                                 \
            const int full = cols >= 8;                                                                              \
            const __m256i mask = avx2_mask(cols);                                                                    \
            _Pragma("clang loop unroll(full)")                                                                       \
            for (int i = 0; i < 6; i++) {                                                                            \
                if (i >= mr) continue;                                                                               \
                avx2_store_vec(acc[i][v], c + i * ldc + 8 * v, s->bias ? s->bias + 8 * v : NULL,                     \
                               s->res ? s->res + i * s->ldr + 8 * v : NULL, mask, full, s);                          \
            }                                                                                                        \
        }                                                                                                            \
    }

AVX2_KERNEL(kernel_avx2_16, 2)
AVX2_KERNEL(kernel_avx2_8, 1)

// ---------------------------------------------------------------- AVX-512F 12 × 32

#define AVX512_ATTR __attribute__((target("avx512f")))

AVX512_ATTR static inline void avx512_store_vec(__m512 v, float *cp, const float *bias, const float *res, __mmask16 mask,
                                                const store_mode *s) {
    if (s->load == 1) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, cp));
    else if (s->load == 2) v = _mm512_fmadd_ps(_mm512_set1_ps(s->beta), _mm512_maskz_loadu_ps(mask, cp), v);
    if (s->last) {
        if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, bias));
        if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, res));
        if (s->act != CK_ACT_NONE) v = _mm512_max_ps(_mm512_setzero_ps(), v);
        if (s->act == CK_ACT_RELU6) v = _mm512_min_ps(_mm512_set1_ps(6), v);
    }
    _mm512_mask_storeu_ps(cp, mask, v);
}

#define AVX512_KERNEL(NAME, NV)                                                                                      \
    AVX512_ATTR static void NAME(long kc, const float *ap, const float *bp, float *c, long ldc, int mr, int nr,       \
                                 const store_mode *s) {                                                              \
        __m512 acc[12][NV];                                                                                          \
        _Pragma("clang loop unroll(full)")                                                                           \
        for (int i = 0; i < 12; i++)                                                                                 \
            _Pragma("clang loop unroll(full)")                                                                       \
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();                                            \
        for (long p = 0; p < kc; p++) {                                                                              \
            __m512 b[NV];                                                                                            \
            _Pragma("clang loop unroll(full)")                                                                      \
            for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(bp + p * 32 + 16 * v);                               \
            _Pragma("clang loop unroll(full)")                                                                       \
            for (int i = 0; i < 12; i++) {                                                                           \
                const __m512 a = _mm512_set1_ps(ap[p * 12 + i]);                                                     \
                _Pragma("clang loop unroll(full)")                                                                   \
                for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);                        \
            }                                                                                                        \
        }                                                                                                            \
        _Pragma("clang loop unroll(full)")                                                                           \
        for (int v = 0; v < NV; v++) {                                                                               \
            const int cols = nr - 16 * v;                                                                            \
            if (cols <= 0) continue;                                                                                 \
            const __mmask16 mask = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);                   \
            _Pragma("clang loop unroll(full)")                                                                       \
            for (int i = 0; i < 12; i++) {                                                                           \
                if (i >= mr) continue;                                                                               \
                avx512_store_vec(acc[i][v], c + i * ldc + 16 * v, s->bias ? s->bias + 16 * v : NULL,                 \
                                 s->res ? s->res + i * s->ldr + 16 * v : NULL, mask, s);                             \
            }                                                                                                        \
        }                                                                                                            \
    }

AVX512_KERNEL(kernel_avx512_32, 2)
AVX512_KERNEL(kernel_avx512_16, 1)
#endif

// ---------------------------------------------------------------- peak

// The machine's single-thread fused multiply-add ceiling for a path: `iterations` rounds of
// independent FMA chains (24 for AVX-512, 12 for AVX2: enough to cover latency × ports), no
// loads. Returns the FLOPs done (the caller times it); the benchmark prints each kernel's
// GFLOP/s as a fraction of this.
#if defined(__x86_64__)
AVX512_ATTR static double peak_avx512(long iterations, float *sink) {
    __m512 acc[24];
    for (int i = 0; i < 24; i++) acc[i] = _mm512_set1_ps((float)i * 1e-9f);
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-9f);
    for (long it = 0; it < iterations; it++)
        for (int i = 0; i < 24; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
    __m512 s = acc[0];
    for (int i = 1; i < 24; i++) s = _mm512_add_ps(s, acc[i]);
    *sink = _mm512_reduce_add_ps(s);
    return (double)iterations * 24 * 32;
}

AVX2_ATTR static double peak_avx2(long iterations, float *sink) {
    __m256 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i * 1e-9f);
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-9f);
    for (long it = 0; it < iterations; it++)
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
    __m256 s = acc[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, acc[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    *sink = out[0] + out[7];
    return (double)iterations * 12 * 16;
}
#endif

double ck_fma_peak_gflops(int path, long iterations) {
    float sink = 0;
    double flops = 0;
    struct timespec t0, t1;
    // This thread's CPU time, not wall time: other processes on the core do not lower the figure.
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512 && ck_path_supported(path)) flops = peak_avx512(iterations, &sink);
    else if (path == CK_PATH_AVX2 && ck_path_supported(path)) flops = peak_avx2(iterations, &sink);
#endif
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    const double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    (void)path; (void)iterations;
    return flops > 0 && ns > 0 && sink == sink ? flops / ns : 0;
}

// ---------------------------------------------------------------- AVX-512 at half rate

// Whether 512-bit multiply-adds run at no more FLOPs than 256-bit ones here: CPUs that split each
// 512-bit instruction over two 256-bit halves (AMD Zen 4; Intel parts with one 512-bit FMA
// unit). There, a kernel whose columns leave a 16-lane vector part empty (the projections to 24
// and 40 channels) runs faster on 8-lane vectors with AVX-512VL's 32 registers (conv.c, pw_run
// of the "y32" width). Measured, not looked up: a short probe of both peaks (peak_avx512 and
// peak_avx2, ~20 µs each at 4 GHz), five interleaved rounds, the best of each by this thread's CPU
// time; half rate when 512-bit is below 1.4× the 256-bit FLOPs (2× on full-width units).
// EMBEDSCOPE_AVX512_HALF_RATE=0|1 overrides; ck_set_avx512_half_rate for tests.
static int half_rate_forced = -1;
static int half_rate_cached = -1;

static double thread_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

// What the 8-lane AVX-512 width needs: AVX-512F with VL (not on Knights Landing), AVX2 and FMA.
static int half_rate_width_runs(void) {
#if defined(__x86_64__)
    return ck_path_supported(CK_PATH_AVX512) && ck_path_supported(CK_PATH_AVX2) && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

static int probe_half_rate(void) {
#if defined(__x86_64__)
    if (!half_rate_width_runs()) return 0;
    float sink = 0;
    double best512 = 0, best256 = 0;
    for (int round = 0; round < 5; round++) {
        double t0 = thread_ns();
        const double f512 = peak_avx512(3000, &sink);
        double t1 = thread_ns();
        if (t1 > t0 && f512 / (t1 - t0) > best512) best512 = f512 / (t1 - t0);
        t0 = thread_ns();
        const double f256 = peak_avx2(12000, &sink);
        t1 = thread_ns();
        if (t1 > t0 && f256 / (t1 - t0) > best256) best256 = f256 / (t1 - t0);
    }
    return sink == sink && best256 > 0 && best512 < 1.4 * best256;
#else
    return 0;
#endif
}

int ck_avx512_half_rate(void) {
    const int forced = __atomic_load_n(&half_rate_forced, __ATOMIC_RELAXED);
    if (forced >= 0) return forced;
    int v = __atomic_load_n(&half_rate_cached, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv("EMBEDSCOPE_AVX512_HALF_RATE");
        if (e && (strcmp(e, "0") == 0 || strcmp(e, "1") == 0)) v = e[0] == '1' && half_rate_width_runs();
        else v = probe_half_rate();
        __atomic_store_n(&half_rate_cached, v, __ATOMIC_RELAXED);
    }
    return v;
}

void ck_set_avx512_half_rate(int value) {
    __atomic_store_n(&half_rate_forced, value < 0 ? -1 : value != 0 && half_rate_width_runs(), __ATOMIC_RELAXED);
}

// ---------------------------------------------------------------- driver

typedef void (*kernel_fn)(long, const float *, const float *, float *, long, int, int, const store_mode *);

static long round_up(long v, long to) { return (v + to - 1) / to * to; }

size_t ck_packed_a_count(int path, long m, long k) {
    if (m <= 0 || k <= 0) return 16;
    return (size_t)round_up(m, ck_mr(path)) * (size_t)k;
}

// Slice pc of depth kc (every slice but the last is kc_max(path) deep) holds all round_up(m, mr) rows as
// slivers, at packed + pc * round_up(m, mr); within it, the rows from ic (a multiple of mr) on
// start at + ic * kc: exactly what pack_a writes for a block of rows starting at ic.
void ck_pack_a(int path, long m, long k, const float *a, long lda, float *packed) {
    if (m <= 0 || k <= 0) return;
    const int mr = ck_mr(path);
    const long mp = round_up(m, mr);
    const long kcMax = kc_max(path);
    for (long pc = 0; pc < k; pc += kcMax) {
        const long kc = k - pc < kcMax ? k - pc : kcMax;
        pack_a(path, m, kc, a + pc, lda, mr, packed + pc * mp);
    }
}

static void sgemm_driver(int path, long m, long n, long k, const float *a, long lda, int a_transposed,
                         const float *packed_a, const float *packed_b, float *c, long ldc, const ck_epilogue *ep,
                         int lower);

void ck_sgemm_packed(int path, long m, long n, long k, const float *a, long lda, const float *packed_b,
                     float *c, long ldc, const ck_epilogue *ep) {
    sgemm_driver(path, m, n, k, a, lda, 0, NULL, packed_b, c, ldc, ep, 0);
}

void ck_sgemm_packed_at(int path, long m, long n, long k, const float *a, long lda, const float *packed_b,
                        float *c, long ldc, const ck_epilogue *ep) {
    sgemm_driver(path, m, n, k, a, lda, 1, NULL, packed_b, c, ldc, ep, 0);
}

void ck_sgemm_prepacked(int path, long m, long n, long k, const float *packed_a, const float *packed_b,
                        float *c, long ldc, const ck_epilogue *ep) {
    sgemm_driver(path, m, n, k, NULL, 0, 0, packed_a, packed_b, c, ldc, ep, 0);
}

void ck_sgemm_prepacked_lower(int path, long m, long n, long k, const float *packed_a, const float *packed_b,
                              float *c, long ldc) {
    sgemm_driver(path, m, n, k, NULL, 0, 0, packed_a, packed_b, c, ldc, NULL, 1);
}

static void sgemm_driver(int path, long m, long n, long k, const float *a, long lda, int a_transposed,
                         const float *packed_a, const float *packed_b, float *c, long ldc, const ck_epilogue *ep,
                         int lower) {
    if (m <= 0 || n <= 0) return;
#if !defined(__x86_64__)
    path = CK_PATH_PORTABLE;
#endif
    const int mr = ck_mr(path), nr = ck_nr(path);
    kernel_fn wide = kernel_portable, narrow = kernel_portable;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) { wide = kernel_avx512_32; narrow = kernel_avx512_16; }
    else if (path == CK_PATH_AVX2) { wide = kernel_avx2_16; narrow = kernel_avx2_8; }
#endif
    const int half = nr / 2;
    const size_t pstride = ck_panel_stride(path, k);
    // MC: A block (MC × KC) in L2; NC: the B slab swept per A block. 8 slivers of 1280 deep on
    // AVX-512 (480 KB), 24 of 256 on AVX2 (147 KB); fewer where that passes half of this CPU's L2
    // (AVX-512 with a 512 KB L2: Ice Lake and Rocket Lake clients, 4 slivers).
    const long kcMax = kc_max(path);
    long slivers = path == CK_PATH_AVX512 ? 8 : 24;
    const long fit = ck_l2_bytes() / 2 / ((long)mr * kcMax * (long)sizeof(float));
    if (fit < slivers) slivers = fit > 1 ? fit : 1;
    const long mcMax = (long)mr * slivers;
    const long ncMax = 2048;
    float *abuf = packed_a ? NULL : scratch((size_t)mcMax * kcMax);
    if (!packed_a && !abuf) return;
    const long mp = round_up(m, mr);
    const float beta = ep ? ep->beta : 0;
    for (long jc = 0; jc < n; jc += ncMax) {
        const long nc = n - jc < ncMax ? n - jc : ncMax;
        long pc = 0;
        do {
            const long kc = k - pc < kcMax ? k - pc : kcMax;
            store_mode s;
            s.load = pc == 0 ? (beta != 0 ? 2 : 0) : 1;
            s.beta = beta;
            s.last = pc + kc >= k;
            s.ldr = ep ? ep->ldr : 0;
            s.act = ep ? ep->activation : CK_ACT_NONE;
            for (long ic = 0; ic < m; ic += mcMax) {
                const long mc = m - ic < mcMax ? m - ic : mcMax;
                const float *ablk;
                if (packed_a) {
                    ablk = packed_a + pc * mp + ic * kc;
                } else {
                    if (a_transposed) pack_a_t(mc, kc, a + pc * lda + ic, lda, mr, abuf);
                    else pack_a(path, mc, kc, a + ic * lda + pc, lda, mr, abuf);
                    ablk = abuf;
                }
                for (long jr = jc; jr < jc + nc; jr += nr) {
                    const int w = (int)(jc + nc - jr < nr ? jc + nc - jr : nr);
                    const float *bp = packed_b + (size_t)(jr / nr) * pstride + (size_t)pc * nr;
                    const kernel_fn kern = w <= half ? narrow : wide;
                    for (long ir = 0; ir < mc; ir += mr) {
                        const int h = (int)(mc - ir < mr ? mc - ir : mr);
                        // Lower: only tiles holding some (i, j) with j < i.
                        if (lower && jr + 1 >= ic + ir + h) continue;
                        s.bias = ep && ep->bias ? ep->bias + jr : NULL;
                        s.res = ep && ep->residual ? ep->residual + (ic + ir) * ep->ldr + jr : NULL;
                        kern(kc, ablk + ir * kc, bp, c + (ic + ir) * ldc + jr, ldc, h, w, &s);
                    }
                }
            }
            pc += kc;
        } while (pc < k);
    }
}

void ck_epilogue_apply(long m, long n, float *c, long ldc, const ck_epilogue *ep) {
    if (!ep || (!ep->bias && !ep->residual && ep->activation == CK_ACT_NONE)) return;
    for (long i = 0; i < m; i++) {
        float *row = c + i * ldc;
        const float *res = ep->residual ? ep->residual + i * ep->ldr : NULL;
        for (long j = 0; j < n; j++) {
            float v = row[j];
            if (ep->bias) v += ep->bias[j];
            if (res) v += res[j];
            row[j] = act1(v, ep->activation);
        }
    }
}
