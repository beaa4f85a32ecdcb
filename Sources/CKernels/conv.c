// Depthwise k×k and small-K 1×1 convolutions over NHWC activations (see ckconv.h), with the
// epilogue fused. NHWC makes the channel the SIMD dimension: every tap is one vector load of
// input and one of weights, whatever the stride. The interior of a row runs 8 (then 4) output
// pixels × one channel vector per tile (two on AVX-512 where K input rows fit L1): a tap row's
// weight vectors are loaded once for the tile and each input vector of the row once, feeding
// every pixel whose window covers it, with 8 (16) independent chains to cover the FMA latency.
// Border pixels (window clipped) run one pixel × four channel vectors; at stride 1 on
// narrow maps the rows are first copied into a zero-padded window, so that no window is clipped —
// or the layer before wrote them as planes of such padded rows (ck_depthwise_planes), and the
// windows are read where they are.
//
// One copy per SIMD width (conv_simd.h included with the width's macros): AVX-512F (16 lanes),
// AVX2 + FMA (8 lanes), each with target attributes and called only after a CPUID check by the
// caller; and portable C. No global -m flags.
#include "ckconv.h"
#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The stride-1 depthwise window (conv_simd.h: dw_rows_padded) and planes (ck_depthwise_planes_fit) take
// K rows of this many bytes at most, and no more than L1d.
#define DW_RING_BYTES 49152

// Taps (cin · k · k) the planar convolution takes: the stem has 27.
#define CP_MAX_TAPS CK_CONV_PLANAR_MAX_TAPS

typedef struct {
    const float *x;
    long h, w, c, first_row, pad_top, pad_left, oh, ow;
    long c0, c1;   // the channels computed: [c0, c1) of the c in a pixel
    const float *wt, *bias;
    int act;
    float *y;
    long y_row0;   // the output row y points at
} dw_geom;

static inline long lmin(long a, long b) { return a < b ? a : b; }
static inline long lmax(long a, long b) { return a > b ? a : b; }

// Output columns whose whole window lies inside the row: [*lo, *hi).
__attribute__((unused)) static inline void interior_columns(const dw_geom *g, long k, long s, long *lo, long *hi) {
    const long a = lmin(g->ow, (g->pad_left + s - 1) / s);
    const long last = g->w - k + g->pad_left;
    *lo = a;
    *hi = lmax(a, lmin(g->ow, last >= 0 ? last / s + 1 : 0));
}

// Input row ih of image img (in the band x holds, which starts at row first_row); only read when
// 0 ≤ ih < h.
__attribute__((unused)) static inline const float *x_row_ptr(const dw_geom *g, long img, long ih) {
    return g->x + (img * g->h + ih - g->first_row) * g->w * g->c;
}

// x < 0 is false for NaN, so NaN passes through both (as the GEMM epilogue).
static inline float act1(float v, int act) {
    if (act == CK_ACT_NONE) return v;
    v = v < 0 ? 0 : v;
    if (act == CK_ACT_RELU6) v = v > 6 ? 6 : v;
    return v;
}

// ---------------------------------------------------------------- portable

static void dw_portable(int k, int s, const dw_geom *g, long r0, long r1) {
    enum { CH = 64 };
    const long c = g->c, rs = g->w * c;
    for (long r = r0; r < r1; r++) {
        const long img = r / g->oh, orow = r - img * g->oh;
        const long ihBase = orow * s - g->pad_top;
        const long khLo = lmax(0, -ihBase), khHi = lmin(k, g->h - ihBase);
        const long rowoff = (img * g->h + ihBase - g->first_row) * rs;
        for (long o = 0; o < g->ow; o++) {
            const long iw0 = o * s - g->pad_left;
            const long kwLo = lmax(0, -iw0), kwHi = lmin(k, g->w - iw0);
            float *yp = g->y + ((r - g->y_row0) * g->ow + o) * c;
            for (long c0 = g->c0; c0 < g->c1; c0 += CH) {
                const long nc = lmin(CH, g->c1 - c0);
                float acc[CH];
                for (long j = 0; j < nc; j++) acc[j] = g->bias[c0 + j];
                for (long kh = khLo; kh < khHi; kh++)
                    for (long kw = kwLo; kw < kwHi; kw++) {
                        const float *xq = g->x + (rowoff + kh * rs + (iw0 + kw) * c + c0);
                        const float *wq = g->wt + (kh * k + kw) * c + c0;
                        for (long j = 0; j < nc; j++) acc[j] += xq[j] * wq[j];
                    }
                for (long j = 0; j < nc; j++) yp[c0 + j] = act1(acc[j], g->act);
            }
        }
    }
}

// Portable: panels of 16 columns (ck_nr of the portable path).
static void gp_portable(long m, long n, long k, const float *a, long lda, const float *packed, long pstride, const float *bias,
                        const float *res, long ldr, int act, float *c, long ldc) {
    for (long i = 0; i < m; i++)
        for (long j0 = 0; j0 < n; j0 += 16) {
            const float *bp = packed + (j0 / 16) * pstride;
            const long w = lmin(16, n - j0);
            float acc[16] = {0};
            for (long p = 0; p < k; p++) {
                const float av = a[i * lda + p];
                for (long j = 0; j < 16; j++) acc[j] += av * bp[p * 16 + j];
            }
            for (long j = 0; j < w; j++) {
                float v = acc[j];
                if (bias) v += bias[j0 + j];
                if (res) v += res[i * ldr + j0 + j];
                c[i * ldc + j0 + j] = act1(v, act);
            }
        }
}

static void pw_portable(long rows, long k, long n, const float *x, const float *w, const float *bias, const float *res, int act,
                        float *y) {
    enum { CH = 64 };
    for (long p = 0; p < rows; p++) {
        for (long j0 = 0; j0 < n; j0 += CH) {
            const long nc = lmin(CH, n - j0);
            float acc[CH];
            for (long j = 0; j < nc; j++) acc[j] = bias[j0 + j];
            for (long i = 0; i < k; i++) {
                const float xv = x[p * k + i];
                const float *wr = w + i * n + j0;
                for (long j = 0; j < nc; j++) acc[j] += xv * wr[j];
            }
            for (long j = 0; j < nc; j++) {
                float v = acc[j];
                if (res) v += res[p * n + j0 + j];
                y[p * n + j0 + j] = act1(v, act);
            }
        }
    }
}

#if defined(__x86_64__)

// ---------------------------------------------------------------- AVX-512F, 16 lanes

#define VT __m512
#define MT __mmask16
#define VW 16
#define PW_R 8
#define PW_R3 8
#define DWP_N(K) 8
#define GP_MR 12
#define GP_MR_MAX 14
#define GP_MR1 12
#define GP_TAIL5 0
#define CP_P 12
#define ATTR __attribute__((target("avx512f")))
#define SFX(name) name##_avx512
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_MLOAD(m, p) _mm512_maskz_loadu_ps(m, p)
#define V_STORE(p, v) _mm512_storeu_ps(p, v)
#define V_MSTORE(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define V_SET1(f) _mm512_set1_ps(f)
#define V_FMA(a, b, acc) _mm512_fmadd_ps(a, b, acc)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_ACT(v, act) act_avx512(v, act)
#define V_MASK(count) ((__mmask16)((1u << (count)) - 1))
#define V_FULL ((__mmask16)0xFFFF)

// max(0, v) / min(6, v) return v when v is NaN (the second operand wins on unordered).
ATTR static inline __m512 act_avx512(__m512 v, int act) {
    if (act != CK_ACT_NONE) v = _mm512_max_ps(_mm512_setzero_ps(), v);
    if (act == CK_ACT_RELU6) v = _mm512_min_ps(_mm512_set1_ps(6), v);
    return v;
}

#include "conv_simd.h"

// ---------------------------------------------------------------- AVX2 + FMA, 8 lanes

#define VT __m256
#define MT __m256i
#define VW 8
#define PW_R 4
#define PW_R3 3
// Depthwise tiles on planes (dwp_tile, one vector): 8 pixels, 10 for a 5×5 window — 10 chains
// of 8 lanes against 8, with the 5 weight vectors and the input in the 16 registers (C harness,
// one thread, Zen 4, two runs: 28² × 240 90 → 104 GFLOP/s, 14² × 672 87 → 92, 7² × 1152 82–83 →
// 86–87, 56² stride 2 77 → 82; 12 spilled: 73; for 3×3 windows 10 and 12 were slower than 8).
#define DWP_N(K) ((K) == 5 ? 10 : 8)
#define GP_MR 6
#define GP_MR_MAX 6
#define GP_MR1 8
// The packed 1×1 kernel's last rows of a block in tiles of 5 and 4 rows (10 and 8 chains), not a
// tile of 2 (4 chains, half speed) or 1: 49 rows (a 7×7 map at batch 1) run 6·6 + 5 + 4 + 4, not
// 8·6 + a 2-row tile for 1 row; the block stretches by up to 6 rows to take them (C harness /
// `bench gemm --pointwise`, one thread, Zen 4 with AVX-512 hidden: see docs/performance.md).
#define GP_TAIL5 1
// The stem's tiles: 6 pixels × 2 vectors, 12 accumulators + 2 weight vectors + the broadcast in
// the 16 registers (C harness, 224² image, one thread, Zen 4: 4 pixels 78, 6 pixels 85 GFLOP/s).
#define CP_P 6
#define ATTR __attribute__((target("avx2,fma")))
#define SFX(name) name##_avx2
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_MLOAD(m, p) _mm256_maskload_ps(p, m)
#define V_STORE(p, v) _mm256_storeu_ps(p, v)
#define V_MSTORE(p, m, v) _mm256_maskstore_ps(p, m, v)
#define V_SET1(f) _mm256_set1_ps(f)
#define V_FMA(a, b, acc) _mm256_fmadd_ps(a, b, acc)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_ACT(v, act) act_avx2(v, act)
#define V_MASK(count) _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define V_FULL _mm256_set1_epi32(-1)

ATTR static inline __m256 act_avx2(__m256 v, int act) {
    if (act != CK_ACT_NONE) v = _mm256_max_ps(_mm256_setzero_ps(), v);
    if (act == CK_ACT_RELU6) v = _mm256_min_ps(_mm256_set1_ps(6), v);
    return v;
}

#include "conv_simd.h"

// ---------------------------------------------------------------- AVX-512VL, 8 lanes in 32 registers

// For the projections to 24 and 40 channels on CPUs where 512-bit multiply-adds run at half rate
// (ck_avx512_half_rate: Zen 4): there a 16-lane vector does the work of two 8-lane ones, so
// 8-lane vectors lose nothing, and 24 or 40 channels fill 3 or 5 of them with no lane empty;
// AVX-512VL gives them 32 registers, so tiles of 8 pixels × 3 vectors (24 accumulators).
// Only pw_run is used. One thread, C harness, Zen 4, 3136 pixels: 96 → 24 and 144 → 24 at 112
// GFLOP/s (95 % of peak) against 81–82 (70 %) for AVX-512's pairs of pixels (pw_pairs) and 52
// for AVX2's 4 × 3 tiles; 144 → 40 and 240 → 40 107–108 against 106–107. Every output sums the
// same terms in the same order with fused multiply-adds: the same bits as the other widths.
#define VT __m256
#define MT __mmask8
#define VW 8
#define PW_R 8
#define PW_R3 8
#define DWP_N(K) 8
#define GP_MR 6
#define GP_MR_MAX 6
#define GP_MR1 8
#define GP_TAIL5 0
#define CP_P 4
#define ATTR __attribute__((target("avx2,fma,avx512f,avx512vl")))
#define SFX(name) name##_y32
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_MLOAD(m, p) _mm256_maskz_loadu_ps(m, p)
#define V_STORE(p, v) _mm256_storeu_ps(p, v)
#define V_MSTORE(p, m, v) _mm256_mask_storeu_ps(p, m, v)
#define V_SET1(f) _mm256_set1_ps(f)
#define V_FMA(a, b, acc) _mm256_fmadd_ps(a, b, acc)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_ACT(v, act) act_avx2(v, act)
#define V_MASK(count) ((__mmask8)((1u << (count)) - 1))
#define V_FULL ((__mmask8)0xFF)

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-function"
#include "conv_simd.h"
#pragma clang diagnostic pop

#endif

// ---------------------------------------------------------------- entry points

void ck_depthwise(int path, int k, int s, const float *x, long h, long w, long c, long first_row,
                  long pad_top, long pad_left, long oh, long ow, const float *weights, const float *bias,
                  int activation, float *y, long row_begin, long row_end) {
    ck_depthwise_channels(path, k, s, x, h, w, c, first_row, pad_top, pad_left, oh, ow, weights, bias, activation, y, 0,
                          row_begin, row_end, 0, c);
}

void ck_depthwise_channels(int path, int k, int s, const float *x, long h, long w, long c, long first_row,
                           long pad_top, long pad_left, long oh, long ow, const float *weights, const float *bias,
                           int activation, float *y, long out_first_row, long row_begin, long row_end, long ch_begin,
                           long ch_end) {
    if (ch_begin < 0) ch_begin = 0;
    if (ch_end > c) ch_end = c;
    if (k < 1 || s < 1 || c <= 0 || ow <= 0 || row_begin >= row_end || ch_begin >= ch_end || out_first_row > row_begin) return;
    const dw_geom g = {x, h, w, c, first_row, pad_top, pad_left, oh, ow, ch_begin, ch_end, weights, bias, activation, y, out_first_row};
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) { dw_run_avx512(k, s, &g, row_begin, row_end); return; }
    if (path == CK_PATH_AVX2) { dw_run_avx2(k, s, &g, row_begin, row_end); return; }
#endif
    dw_portable(k, s, &g, row_begin, row_end);
}

void ck_pointwise_packed(int path, long m, long n, long k, const float *a, long lda, const float *packed_b,
                         const float *bias, const float *residual, long ldr, int activation, float *c, long ldc) {
    if (m <= 0 || n <= 0) return;
    const long pstride = (long)ck_panel_stride(path, k);
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) { gp_run_avx512(m, n, k, a, lda, packed_b, pstride, bias, residual, ldr, activation, c, ldc); return; }
    if (path == CK_PATH_AVX2) { gp_run_avx2(m, n, k, a, lda, packed_b, pstride, bias, residual, ldr, activation, c, ldc); return; }
#endif
    gp_portable(m, n, k, a, lda, packed_b, pstride, bias, residual, ldr, activation, c, ldc);
}

static void cp_portable(const float *x, long h, long w, long cin, long k, long s, long pad_top, long pad_left, long oh, long ow,
                        const float *wt, long out, const float *bias, int act, float *y, long y_origin, long p0, long p1) {
    enum { CH = 64 };
    for (long p = p0; p < p1; p++) {
        const long img = p / (oh * ow), rem = p - img * oh * ow;
        const long oy = rem / ow, ox = rem - oy * ow;
        const float *planes = x + img * cin * h * w;
        for (long j0 = 0; j0 < out; j0 += CH) {
            const long nc = lmin(CH, out - j0);
            float acc[CH];
            for (long j = 0; j < nc; j++) acc[j] = bias[j0 + j];
            long t = 0;
            for (long ch = 0; ch < cin; ch++)
                for (long kh = 0; kh < k; kh++)
                    for (long kw = 0; kw < k; kw++, t++) {
                        const long iy = oy * s - pad_top + kh, ix = ox * s - pad_left + kw;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                        const float v = planes[(ch * h + iy) * w + ix];
                        for (long j = 0; j < nc; j++) acc[j] += v * wt[t * out + j0 + j];
                    }
            for (long j = 0; j < nc; j++) y[(p - y_origin) * out + j0 + j] = act1(acc[j], act);
        }
    }
}

void ck_conv_planar(int path, const float *x, long h, long w, long cin, int k, int s, long pad_top, long pad_left, long oh, long ow,
                    const float *weights, long out, const float *bias, int activation, float *y, long y_origin,
                    long pixel_begin, long pixel_end) {
    if (k < 1 || s < 1 || out <= 0 || pixel_begin >= pixel_end) return;
#if defined(__x86_64__)
    if (cin * k * k <= CP_MAX_TAPS) {
        if (path == CK_PATH_AVX512) { cp_run_avx512(x, h, w, cin, k, s, pad_top, pad_left, oh, ow, weights, out, bias, activation, y, y_origin, pixel_begin, pixel_end, 0, 0); return; }
        if (path == CK_PATH_AVX2) { cp_run_avx2(x, h, w, cin, k, s, pad_top, pad_left, oh, ow, weights, out, bias, activation, y, y_origin, pixel_begin, pixel_end, 0, 0); return; }
    }
#endif
    cp_portable(x, h, w, cin, k, s, pad_top, pad_left, oh, ow, weights, out, bias, activation, y, y_origin, pixel_begin, pixel_end);
}

void ck_pointwise_small(int path, long rows, long k, long n, const float *x, const float *weights, const float *bias,
                        const float *residual, int activation, float *y) {
    if (rows <= 0 || n <= 0) return;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) {
        if ((n == 24 || n == 40) && ck_avx512_half_rate()) pw_run_y32(rows, k, n, x, weights, bias, residual, activation, y);
        else pw_run_avx512(rows, k, n, x, weights, bias, residual, activation, y);
        return;
    }
    if (path == CK_PATH_AVX2) { pw_run_avx2(rows, k, n, x, weights, bias, residual, activation, y); return; }
#endif
    pw_portable(rows, k, n, x, weights, bias, residual, activation, y);
}

// ---------------------------------------------------------------- planes (depthwise input, stride 1 and 2)

// The zero row that rows above and below the image read (CK_PLANE_ROW_MAX, ckconv.h: the widest
// row a layer reads from planes has k·row·4 ≤ 48 KB, ck_depthwise_planes_fit).
static const float ck_zero_row[CK_PLANE_ROW_MAX] __attribute__((aligned(64)));

long ck_plane_width(int path) {
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) return 32;
    if (path == CK_PATH_AVX2) return 16;
#endif
    (void)path;
    return 0;
}

long ck_plane_padded_width(int k, int s, long w) {
    if (k < 1 || s < 1 || w < 1) return 0;
    const long ow = (w + s - 1) / s;   // TF "SAME": the output width
    return (ow - 1) * s + k;
}

int ck_depthwise_planes_fit(int path, int k, int s, long w) {
    const long pw = ck_plane_width(path), l1 = ck_l1d_bytes();
    if (pw == 0 || (s != 1 && s != 2) || (k != 3 && k != 5) || w < 1) return 0;
    const long row = ck_plane_padded_width(k, s, w) * pw;   // floats in one padded row of a plane
    const long limit = l1 < DW_RING_BYTES ? l1 : DW_RING_BYTES;
    return row <= CK_PLANE_ROW_MAX && k * row * 4 <= limit;
}

void ck_pointwise_packed_planes(int path, long rows, long w, long n, long k, const float *a, long lda, const float *packed_b,
                                const float *bias, int activation, float *c, long plane_stride, long row_stride) {
    if (rows <= 0 || w <= 0 || n <= 0) return;
    const long pstride = (long)ck_panel_stride(path, k);
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) {
        gp_run_planes_avx512(rows, w, n, k, a, lda, packed_b, pstride, bias, activation, c, plane_stride, row_stride);
        return;
    }
    if (path == CK_PATH_AVX2) {
        gp_run_planes_avx2(rows, w, n, k, a, lda, packed_b, pstride, bias, activation, c, plane_stride, row_stride);
        return;
    }
#endif
    (void)a; (void)lda; (void)packed_b; (void)bias; (void)activation; (void)c; (void)plane_stride; (void)row_stride; (void)pstride;
}

void ck_planes_clear(int path, float *planes, long plane_stride, long row_stride, long rows, long w, long padded_width, long pad_left,
                     long ch_begin, long ch_end, long c) {
    if (ck_plane_width(path) == 0 || rows <= 0 || ch_begin >= ch_end || padded_width < w + pad_left) return;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) {
        planes_clear_avx512(planes, plane_stride, row_stride, rows, w, padded_width, pad_left, ch_begin, ch_end, c);
        return;
    }
    if (path == CK_PATH_AVX2) {
        planes_clear_avx2(planes, plane_stride, row_stride, rows, w, padded_width, pad_left, ch_begin, ch_end, c);
        return;
    }
#endif
    (void)planes; (void)plane_stride; (void)row_stride; (void)c;
}

void ck_depthwise_planes(int path, int k, int s, const float *planes, long plane_stride, long row_stride, long h, long w, long c,
                         long first_row, long pad_top, long pad_left, long oh, long ow, const float *weights, const float *bias,
                         int activation, float *y, long out_first_row, long row_begin, long row_end, long ch_begin, long ch_end) {
    if (ch_begin < 0) ch_begin = 0;
    if (ch_end > c) ch_end = c;
    // What the tiles need (not whether the window fits L1: the caller chose planes for that).
    const long pw = ck_plane_width(path), wp = (ow - 1) * s + k;
    if (pw == 0 || (k != 3 && k != 5) || (s != 1 && s != 2) || ow < 1 || wp * pw > CK_PLANE_ROW_MAX || wp * pw > row_stride
        || c <= 0 || row_begin >= row_end || ch_begin >= ch_end || out_first_row > row_begin || ch_begin % (pw / 2) != 0)
        return;
    const dw_geom g = {NULL, h, w, c, first_row, pad_top, pad_left, oh, ow, ch_begin, ch_end, weights, bias, activation, y, out_first_row};
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) { dw_run_planes_avx512(k, s, &g, row_begin, row_end, planes, plane_stride, row_stride, ck_zero_row); return; }
    if (path == CK_PATH_AVX2) { dw_run_planes_avx2(k, s, &g, row_begin, row_end, planes, plane_stride, row_stride, ck_zero_row); return; }
#endif
    (void)planes; (void)plane_stride;
}

void ck_conv_planar_planes(int path, const float *x, long h, long w, long cin, int k, int s, long pad_top, long pad_left, long oh,
                           long ow, const float *weights, long out, const float *bias, int activation, float *y, long y_origin,
                           long pixel_begin, long pixel_end, long plane_stride, long row_stride) {
    if (k < 1 || s < 1 || out <= 0 || pixel_begin >= pixel_end || ck_plane_width(path) == 0 || cin * k * k > CP_MAX_TAPS
        || y_origin % ow != 0 || plane_stride <= 0)
        return;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) {
        cp_run_avx512(x, h, w, cin, k, s, pad_top, pad_left, oh, ow, weights, out, bias, activation, y, y_origin, pixel_begin, pixel_end,
                      plane_stride, row_stride);
        return;
    }
    if (path == CK_PATH_AVX2) {
        cp_run_avx2(x, h, w, cin, k, s, pad_top, pad_left, oh, ow, weights, out, bias, activation, y, y_origin, pixel_begin, pixel_end,
                    plane_stride, row_stride);
        return;
    }
#endif
    (void)x; (void)h; (void)w; (void)cin; (void)pad_top; (void)pad_left; (void)oh; (void)weights; (void)bias; (void)activation; (void)y; (void)row_stride;
}

void ck_pointwise_small_planes(int path, long rows, long w, long k, long n, const float *x, const float *weights, const float *bias,
                               int activation, float *y, long plane_stride, long row_stride) {
    if (rows <= 0 || w <= 0 || n <= 0 || ck_plane_width(path) == 0) return;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) { pw_run_planes_avx512(rows, w, k, n, x, weights, bias, activation, y, plane_stride, row_stride); return; }
    if (path == CK_PATH_AVX2) { pw_run_planes_avx2(rows, w, k, n, x, weights, bias, activation, y, plane_stride, row_stride); return; }
#endif
    (void)k; (void)x; (void)weights; (void)bias; (void)activation; (void)y; (void)plane_stride; (void)row_stride;
}
