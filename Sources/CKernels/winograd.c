// Winograd F(2×2, 3×3) and F(4×4, 3×3) transforms for NHWC activations (see winograd.h). The
// GEMMs between them are our packed SGEMM (sgemm.c), called from Swift. Each transform loops over
// channels (contiguous in NHWC), so it vectorises across channels; one copy per SIMD width.
// The 1-D transforms are written out (no multiplications by 0 or 1: x · 0 is not 0 for NaN).
#include "ckernels.h"
#include "winograd.h"

#include <stdlib.h>
#include <string.h>

// clang vectorises the F(2×2) loops across channels; the F(4×4) ones (6×6 values per channel)
// it leaves scalar ("loop not vectorized" is expected there, one reason F(4×4) is not used).
#pragma clang diagnostic ignored "-Wpass-failed"

// G of F(2, 3) and F(4, 3): rows α, columns 3.
static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double G4[6][3] = {{1.0 / 4, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}};

void ck_wino_weights(int m, long cin, long cout, const float *w, float *u) {
    const int a = m + 2;
    const double(*G)[3] = m == 4 ? G4 : G2;
    const size_t plane = (size_t)cin * (size_t)cout;
    for (long c = 0; c < cin; c++) {
        for (long o = 0; o < cout; o++) {
            double g[3][3], t[6][3];
            for (int kh = 0; kh < 3; kh++)
                for (int kw = 0; kw < 3; kw++) g[kh][kw] = w[((size_t)(kh * 3 + kw) * (size_t)cin + (size_t)c) * (size_t)cout + (size_t)o];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * g[0][j] + G[i][1] * g[1][j] + G[i][2] * g[2][j];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < a; j++) {
                    const double r = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
                    u[(size_t)(i * a + j) * plane + (size_t)c * (size_t)cout + (size_t)o] = (float)r;
                }
        }
    }
}

// Per-thread buffers: zeros (the padding outside the image, a missing bias or residual) and a
// sink for the pixels of a partial tile that lie outside the output.
static _Thread_local float *zero_buf, *sink_buf;
static _Thread_local size_t zero_cap;

static int buffers(size_t count) {
    if (count <= zero_cap) return 1;
    free(zero_buf);
    free(sink_buf);
    zero_buf = calloc(count, sizeof(float));
    sink_buf = calloc(count, sizeof(float));
    if (!zero_buf || !sink_buf) {
        free(zero_buf);
        free(sink_buf);
        zero_buf = sink_buf = NULL;
        zero_cap = 0;
        return 0;
    }
    zero_cap = count;
    return 1;
}

// 1-D input transforms Bᵀ d.
#define BT2(d, r)                                                                                            \
    do {                                                                                                     \
        r[0] = d[0] - d[2]; r[1] = d[1] + d[2]; r[2] = d[2] - d[1]; r[3] = d[1] - d[3];                      \
    } while (0)
#define BT4(d, r)                                                                                            \
    do {                                                                                                     \
        r[0] = 4 * d[0] - 5 * d[2] + d[4];                                                                   \
        r[1] = d[3] + d[4] - 4 * (d[1] + d[2]);                                                              \
        r[2] = 4 * (d[1] - d[2]) + d[4] - d[3];                                                              \
        r[3] = 2 * (d[3] - d[1]) + d[4] - d[2];                                                              \
        r[4] = 2 * (d[1] - d[3]) + d[4] - d[2];                                                              \
        r[5] = 4 * d[1] - 5 * d[3] + d[5];                                                                   \
    } while (0)
// 1-D output transforms Aᵀ s.
#define AT2(s, o)                                                                                            \
    do {                                                                                                     \
        o[0] = s[0] + s[1] + s[2]; o[1] = s[1] - s[2] - s[3];                                                \
    } while (0)
#define AT4(s, o)                                                                                            \
    do {                                                                                                     \
        const float p12 = s[1] + s[2], m12 = s[1] - s[2], p34 = s[3] + s[4], m34 = s[3] - s[4];              \
        o[0] = s[0] + p12 + p34; o[1] = m12 + 2 * m34; o[2] = p12 + 4 * p34; o[3] = m12 + 8 * m34 + s[5];    \
    } while (0)

// V = Bᵀ d B for channels [0, cin) of one tile; p[α·i + j]: patch row i, column j (a channel
// vector); V[ξ] at v + ξ · vs.
#define WINO_INPUT_LOOP(A, BT)                                                                               \
    _Pragma("clang loop vectorize(assume_safety)") for (long c = 0; c < cin; c++) {                          \
        float t[A][A];                                                                                       \
        for (int j = 0; j < A; j++) {                                                                        \
            float d[A], r[A];                                                                                \
            for (int i = 0; i < A; i++) d[i] = p[A * i + j][c];                                              \
            BT(d, r);                                                                                        \
            for (int i = 0; i < A; i++) t[i][j] = r[i];                                                      \
        }                                                                                                    \
        for (int i = 0; i < A; i++) {                                                                        \
            float r[A];                                                                                      \
            BT(t[i], r);                                                                                     \
            for (int j = 0; j < A; j++) v[(A * i + j) * vs + c] = r[j];                                      \
        }                                                                                                    \
    }

// Y = Aᵀ M A, then bias, residual, activation; q[k]: output pixel k (row-major m×m), r[k] its residual.
#define WINO_OUTPUT_LOOP(A, M, AT)                                                                           \
    _Pragma("clang loop vectorize(assume_safety)") for (long c = 0; c < cout; c++) {                         \
        float s[M][A];                                                                                       \
        for (int j = 0; j < A; j++) {                                                                        \
            float col[A], o[M];                                                                              \
            for (int i = 0; i < A; i++) col[i] = mm[(A * i + j) * ms + c];                                   \
            AT(col, o);                                                                                      \
            for (int i = 0; i < M; i++) s[i][j] = o[i];                                                      \
        }                                                                                                    \
        for (int i = 0; i < M; i++) {                                                                        \
            float o[M];                                                                                      \
            AT(s[i], o);                                                                                     \
            for (int j = 0; j < M; j++) {                                                                    \
                const int k = M * i + j;                                                                     \
                float val = o[j] + b[c] + r[k][c];                                                           \
                if (act != CK_ACT_NONE) val = val < 0 ? 0 : val;                                             \
                if (act == CK_ACT_RELU6) val = val > 6 ? 6 : val;                                            \
                q[k][c] = val;                                                                               \
            }                                                                                                \
        }                                                                                                    \
    }

#define WINO_FUNCS(SUFFIX, ATTR)                                                                             \
    ATTR static void input2_##SUFFIX(const float *const *p, long cin, float *v, long vs) { WINO_INPUT_LOOP(4, BT2) } \
    ATTR static void input4_##SUFFIX(const float *const *p, long cin, float *v, long vs) { WINO_INPUT_LOOP(6, BT4) } \
    ATTR static void output2_##SUFFIX(const float *mm, long ms, long cout, const float *b, const float *const *r, \
                                      float *const *q, int act) { WINO_OUTPUT_LOOP(4, 2, AT2) }              \
    ATTR static void output4_##SUFFIX(const float *mm, long ms, long cout, const float *b, const float *const *r, \
                                      float *const *q, int act) { WINO_OUTPUT_LOOP(6, 4, AT4) }

WINO_FUNCS(generic, )
#if defined(__x86_64__)
WINO_FUNCS(avx2, __attribute__((target("avx2,fma"))))
WINO_FUNCS(avx512, __attribute__((target("avx512f"))))
#endif

typedef void (*input_fn)(const float *const *, long, float *, long);
typedef void (*output_fn)(const float *, long, long, const float *, const float *const *, float *const *, int);

void ck_wino_input(int m, int path, const float *x, long h, long w, long cin, long t0, long count, float *v, long ldm_v) {
    if (count <= 0 || cin <= 0 || (m != 2 && m != 4) || !buffers((size_t)cin)) return;
    input_fn fn = m == 4 ? input4_generic : input2_generic;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) fn = m == 4 ? input4_avx512 : input2_avx512;
    else if (path == CK_PATH_AVX2) fn = m == 4 ? input4_avx2 : input2_avx2;
#endif
    const int a = m + 2;
    const long tx_n = (w + m - 1) / m, ty_n = (h + m - 1) / m, per_image = tx_n * ty_n;
    const long vs = ldm_v * count;
    for (long i = 0; i < count; i++) {
        const long t = t0 + i, img = t / per_image, rem = t - img * per_image;
        const long ty = rem / tx_n, tx = rem - ty * tx_n;
        const float *base = x + (size_t)img * (size_t)h * (size_t)w * (size_t)cin;
        const float *p[36];
        for (int r = 0; r < a; r++) {
            const long iy = m * ty - 1 + r;
            for (int s = 0; s < a; s++) {
                const long ix = m * tx - 1 + s;
                p[a * r + s] = (iy < 0 || iy >= h || ix < 0 || ix >= w) ? zero_buf : base + ((size_t)iy * (size_t)w + (size_t)ix) * (size_t)cin;
            }
        }
        fn(p, cin, v + (size_t)i * (size_t)ldm_v, vs);
    }
}

void ck_wino_output(int m, int path, const float *mm, long ldm_m, long t0, long count, long h, long w, long cout,
                    const float *bias, const float *residual, int activation, float *y) {
    if (count <= 0 || cout <= 0 || (m != 2 && m != 4) || !buffers((size_t)cout)) return;
    output_fn fn = m == 4 ? output4_generic : output2_generic;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) fn = m == 4 ? output4_avx512 : output2_avx512;
    else if (path == CK_PATH_AVX2) fn = m == 4 ? output4_avx2 : output2_avx2;
#endif
    const long tx_n = (w + m - 1) / m, ty_n = (h + m - 1) / m, per_image = tx_n * ty_n;
    const long ms = ldm_m * count;
    const float *b = bias ? bias : zero_buf;
    for (long i = 0; i < count; i++) {
        const long t = t0 + i, img = t / per_image, rem = t - img * per_image;
        const long ty = rem / tx_n, tx = rem - ty * tx_n;
        float *q[16];
        const float *r[16];
        for (int k = 0; k < m * m; k++) {
            const long oy = m * ty + k / m, ox = m * tx + k % m;
            if (oy < h && ox < w) {
                const size_t at = (((size_t)img * (size_t)h + (size_t)oy) * (size_t)w + (size_t)ox) * (size_t)cout;
                q[k] = y + at;
                r[k] = residual ? residual + at : zero_buf;
            } else {
                q[k] = sink_buf;
                r[k] = zero_buf;
            }
        }
        fn(mm + (size_t)i * (size_t)ldm_m, ms, cout, b, r, q, activation);
    }
}
