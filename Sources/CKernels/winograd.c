// Winograd F(2×2, 3×3) transforms for NHWC activations (see winograd.h). The GEMMs between
// them are our packed SGEMM (sgemm.c), called from Swift. Each transform loops over channels
// (contiguous in NHWC), so it vectorises across channels; one copy per SIMD width, chosen by path.
#include "ckernels.h"
#include "winograd.h"

#include <stdlib.h>
#include <string.h>

void ck_wino_weights(long cin, long cout, const float *w, float *u) {
    const size_t plane = (size_t)cin * (size_t)cout;
    for (long c = 0; c < cin; c++) {
        for (long o = 0; o < cout; o++) {
            double g[3][3], t[4][3];
            for (int kh = 0; kh < 3; kh++)
                for (int kw = 0; kw < 3; kw++) g[kh][kw] = w[((size_t)(kh * 3 + kw) * (size_t)cin + (size_t)c) * (size_t)cout + (size_t)o];
            // t = G g, G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[0][j];
                t[1][j] = 0.5 * (g[0][j] + g[1][j] + g[2][j]);
                t[2][j] = 0.5 * (g[0][j] - g[1][j] + g[2][j]);
                t[3][j] = g[2][j];
            }
            // U = t Gᵀ
            for (int i = 0; i < 4; i++) {
                const double r[4] = {t[i][0], 0.5 * (t[i][0] + t[i][1] + t[i][2]), 0.5 * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
                for (int j = 0; j < 4; j++) u[(size_t)(i * 4 + j) * plane + (size_t)c * (size_t)cout + (size_t)o] = (float)r[j];
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

// V = Bᵀ d B, Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], for channels [0, cin) of one tile.
// p[4i + j]: row i, column j of the patch (a channel vector); v: ξ = 0 at v, ξ at v + ξ · vs.
#define WINO_INPUT_LOOP                                                                                      \
    _Pragma("clang loop vectorize(assume_safety)") for (long c = 0; c < cin; c++) {                          \
        float d[4][4], t[4][4];                                                                              \
        for (int i = 0; i < 4; i++)                                                                          \
            for (int j = 0; j < 4; j++) d[i][j] = p[4 * i + j][c];                                           \
        for (int j = 0; j < 4; j++) {                                                                        \
            t[0][j] = d[0][j] - d[2][j];                                                                     \
            t[1][j] = d[1][j] + d[2][j];                                                                     \
            t[2][j] = d[2][j] - d[1][j];                                                                     \
            t[3][j] = d[1][j] - d[3][j];                                                                     \
        }                                                                                                    \
        for (int i = 0; i < 4; i++) {                                                                        \
            v[(4 * i + 0) * vs + c] = t[i][0] - t[i][2];                                                     \
            v[(4 * i + 1) * vs + c] = t[i][1] + t[i][2];                                                     \
            v[(4 * i + 2) * vs + c] = t[i][2] - t[i][1];                                                     \
            v[(4 * i + 3) * vs + c] = t[i][1] - t[i][3];                                                     \
        }                                                                                                    \
    }

// Y = Aᵀ M A, Aᵀ = [1 1 1 0; 0 1 −1 −1], then bias, residual, activation; q[k]: output pixel k
// (row-major 2×2), r[k] its residual.
#define WINO_OUTPUT_LOOP                                                                                     \
    _Pragma("clang loop vectorize(assume_safety)") for (long c = 0; c < cout; c++) {                         \
        float s[2][4];                                                                                       \
        for (int j = 0; j < 4; j++) {                                                                        \
            const float m0 = m[(0 * 4 + j) * ms + c], m1 = m[(1 * 4 + j) * ms + c];                          \
            const float m2 = m[(2 * 4 + j) * ms + c], m3 = m[(3 * 4 + j) * ms + c];                          \
            s[0][j] = m0 + m1 + m2;                                                                          \
            s[1][j] = m1 - m2 - m3;                                                                          \
        }                                                                                                    \
        float o[4];                                                                                          \
        for (int i = 0; i < 2; i++) {                                                                        \
            o[2 * i] = s[i][0] + s[i][1] + s[i][2];                                                          \
            o[2 * i + 1] = s[i][1] - s[i][2] - s[i][3];                                                      \
        }                                                                                                    \
        for (int k = 0; k < 4; k++) {                                                                        \
            float val = o[k] + b[c] + r[k][c];                                                               \
            if (act != CK_ACT_NONE) val = val < 0 ? 0 : val;                                                 \
            if (act == CK_ACT_RELU6) val = val > 6 ? 6 : val;                                                \
            q[k][c] = val;                                                                                   \
        }                                                                                                    \
    }

#define WINO_FUNCS(SUFFIX, ATTR)                                                                             \
    ATTR static void input_tile_##SUFFIX(const float *const *p, long cin, float *v, long vs) { WINO_INPUT_LOOP } \
    ATTR static void output_tile_##SUFFIX(const float *m, long ms, long cout, const float *b,                \
                                          const float *const *r, float *const *q, int act) { WINO_OUTPUT_LOOP }

WINO_FUNCS(generic, )
#if defined(__x86_64__)
WINO_FUNCS(avx2, __attribute__((target("avx2,fma"))))
WINO_FUNCS(avx512, __attribute__((target("avx512f"))))
#endif

typedef void (*input_fn)(const float *const *, long, float *, long);
typedef void (*output_fn)(const float *, long, long, const float *, const float *const *, float *const *, int);

void ck_wino_input(int path, const float *x, long h, long w, long cin, long t0, long count, float *v, long ldm_v) {
    if (count <= 0 || cin <= 0 || !buffers((size_t)cin)) return;
    input_fn fn = input_tile_generic;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) fn = input_tile_avx512;
    else if (path == CK_PATH_AVX2) fn = input_tile_avx2;
#endif
    const long tx_n = (w + 1) / 2, ty_n = (h + 1) / 2, per_image = tx_n * ty_n;
    const long vs = ldm_v * count;
    for (long i = 0; i < count; i++) {
        const long t = t0 + i, img = t / per_image, rem = t - img * per_image;
        const long ty = rem / tx_n, tx = rem - ty * tx_n;
        const float *base = x + (size_t)img * (size_t)h * (size_t)w * (size_t)cin;
        const float *p[16];
        for (int a = 0; a < 4; a++) {
            const long iy = 2 * ty - 1 + a;
            for (int b = 0; b < 4; b++) {
                const long ix = 2 * tx - 1 + b;
                p[4 * a + b] = (iy < 0 || iy >= h || ix < 0 || ix >= w) ? zero_buf : base + ((size_t)iy * (size_t)w + (size_t)ix) * (size_t)cin;
            }
        }
        fn(p, cin, v + (size_t)i * (size_t)ldm_v, vs);
    }
}

void ck_wino_output(int path, const float *m, long ldm_m, long t0, long count, long h, long w, long cout,
                    const float *bias, const float *residual, int activation, float *y) {
    if (count <= 0 || cout <= 0 || !buffers((size_t)cout)) return;
    output_fn fn = output_tile_generic;
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) fn = output_tile_avx512;
    else if (path == CK_PATH_AVX2) fn = output_tile_avx2;
#endif
    const long tx_n = (w + 1) / 2, ty_n = (h + 1) / 2, per_image = tx_n * ty_n;
    const long ms = ldm_m * count;
    const float *b = bias ? bias : zero_buf;
    for (long i = 0; i < count; i++) {
        const long t = t0 + i, img = t / per_image, rem = t - img * per_image;
        const long ty = rem / tx_n, tx = rem - ty * tx_n;
        float *q[4];
        const float *r[4];
        for (int k = 0; k < 4; k++) {
            const long oy = 2 * ty + k / 2, ox = 2 * tx + k % 2;
            if (oy < h && ox < w) {
                const size_t at = (((size_t)img * (size_t)h + (size_t)oy) * (size_t)w + (size_t)ox) * (size_t)cout;
                q[k] = y + at;
                r[k] = residual ? residual + at : zero_buf;
            } else {
                q[k] = sink_buf;
                r[k] = zero_buf;
            }
        }
        fn(m + (size_t)i * (size_t)ldm_m, ms, cout, b, r, q, activation);
    }
}
