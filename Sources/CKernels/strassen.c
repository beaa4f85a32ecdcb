// One level of Strassen–Winograd for a product of two blocks of rows, C[2h × 2h] = X · Yᵀ
// (X, Y: 2h rows of depth k), on the packed SGEMM kernels (ckernels.h: ck_strassen_*).
//
// Quarters (k1 = ⌈k/2⌉, k2 = k − k1; a quarter of depth k2 is padded with a zero column):
//   A = X:  A11 = X[0:h, 0:k1]   A12 = X[0:h, k1:k]   A21 = X[h:2h, 0:k1]   A22 = X[h:2h, k1:k]
//   B = Yᵀ: B11 = Y[0:h, 0:k1]ᵀ  B12 = Y[h:2h, 0:k1]ᵀ B21 = Y[0:h, k1:k]ᵀ   B22 = Y[h:2h, k1:k]ᵀ
// Winograd's form (7 products, 15 additions):
//   S1 = A21 + A22   S2 = S1 − A11   S3 = A11 − A21   S4 = A12 − S2
//   T1 = B12 − B11   T2 = B22 − T1   T3 = B22 − B12   T4 = T2 − B21
//   M1 = A11·B11  M2 = A12·B21  M3 = S4·B22  M4 = A22·T4  M5 = S1·T1  M6 = S2·T2  M7 = S3·T3
//   C11 = M1 + M2   U2 = M1 + M6   U3 = U2 + M7   C12 = U2 + M5 + M3   C21 = U3 − M4   C22 = U3 + M5
// 7/8 of the multiply-adds of the plain product; the additions are O(h·k + h²).
//
// Error: every entry of a tile now carries rounding from the rows it was combined with — row i
// of C's first half with row i + h of X (and column j with row j ± h of Y) — so its bound is
// in terms of the larger norm of each pair rather than of the two rows alone, and a few times
// the plain product's (Higham, Accuracy and Stability of Numerical Algorithms, §23.2.2). The
// caller's exactness test accounts for that (Silhouette.swift).
//
// Same values on every run: the order of every operation is fixed.
#include "ckernels.h"

#include <stdlib.h>
#include <string.h>

static size_t aligned16(size_t n) { return (n + 15) & ~(size_t)15; }

static size_t a_one(int path, long h, long k1) { return aligned16(ck_packed_a_count(path, h, k1)); }
static size_t b_one(int path, long h, long k1) { return aligned16(ck_packed_b_count(path, k1, h)); }

size_t ck_strassen_count(int path, long h, long k, int side) {
    if (h <= 0 || k <= 0) return 16;
    const long k1 = (k + 1) / 2;
    return 7 * (side == CK_STRASSEN_ROWS ? a_one(path, h, k1) : b_one(path, h, k1));
}

// Operand `op` of one side over n depths, from the four quarters' rows (q11 = X[i][p], q12 =
// X[i][k1 + p], q21 = X[h + i][p], q22 = X[h + i][k1 + p]). One loop per operand, so that each
// vectorizes (a switch inside the loop over p kept it scalar: ~3 % of a 10k silhouette).
static void form(int rows_side, int op, long n, const float *restrict q11, const float *restrict q12, const float *restrict q21,
                 const float *restrict q22, float *restrict out) {
    if (rows_side) {
        switch (op) {
        case 0: for (long p = 0; p < n; p++) out[p] = q11[p]; break;
        case 1: for (long p = 0; p < n; p++) out[p] = q12[p]; break;
        case 2: for (long p = 0; p < n; p++) out[p] = q22[p]; break;
        case 3: for (long p = 0; p < n; p++) out[p] = q21[p] + q22[p]; break;                        // S1
        case 4: for (long p = 0; p < n; p++) out[p] = (q21[p] + q22[p]) - q11[p]; break;             // S2 = S1 − A11
        case 5: for (long p = 0; p < n; p++) out[p] = q11[p] - q21[p]; break;                        // S3
        default: for (long p = 0; p < n; p++) out[p] = q12[p] - ((q21[p] + q22[p]) - q11[p]); break; // S4 = A12 − S2
        }
    } else {
        // In Y's row terms: B11 = q11, B12 = q21, B21 = q12, B22 = q22.
        switch (op) {
        case 0: for (long p = 0; p < n; p++) out[p] = q11[p]; break;
        case 1: for (long p = 0; p < n; p++) out[p] = q12[p]; break;
        case 2: for (long p = 0; p < n; p++) out[p] = q22[p]; break;
        case 3: for (long p = 0; p < n; p++) out[p] = q21[p] - q11[p]; break;                        // T1
        case 4: for (long p = 0; p < n; p++) out[p] = q22[p] - (q21[p] - q11[p]); break;             // T2 = B22 − T1
        case 5: for (long p = 0; p < n; p++) out[p] = q22[p] - q21[p]; break;                        // T3
        default: for (long p = 0; p < n; p++) out[p] = q12[p] - (q22[p] - (q21[p] - q11[p])); break; // −T4 = B21 − T2
        }
    }
}

// The seven operands of one side, each [h × k1] row-major, formed into `t` one at a time and packed.
// Side A (rows of C): A11, A12, A22, S1, S2, S3, S4. Side B (columns of C, given as the rows of
// Y): B11, B21, B22, T1, T2, T3, −T4 (negated so that C21 = U3 + A22·(−T4) is an accumulation).
int ck_strassen_pack(int path, long h, long k, const float *x, long ldx, int side, float *packed) {
    if (h <= 0 || k <= 0) return 0;
    const long k1 = (k + 1) / 2, k2 = k - k1;
    static const float zero[1] = {0.0f};   // the quarters of depth k2 < k1 are padded with a zero column
    float *t = malloc((size_t)h * (size_t)k1 * sizeof(float));
    if (!t) return -1;
    const int rows_side = side == CK_STRASSEN_ROWS;
    const size_t one = rows_side ? a_one(path, h, k1) : b_one(path, h, k1);
    for (int op = 0; op < 7; op++) {
        for (long i = 0; i < h; i++) {
            const float *top = x + i * ldx, *bottom = x + (h + i) * ldx;
            form(rows_side, op, k2, top, top + k1, bottom, bottom + k1, t + i * k1);
            if (k1 > k2) form(rows_side, op, 1, top + k2, zero, bottom + k2, zero, t + i * k1 + k2);
        }
        float *dst = packed + (size_t)op * one;
        if (rows_side) ck_pack_a(path, h, k1, t, k1, dst);
        else ck_pack_b(path, k1, h, t, 1, k1, dst);
    }
    free(t);
    return 0;
}

static void add_into(long h, float *dst, long ldd, const float *a, long lda, const float *b, long ldb) {
    for (long i = 0; i < h; i++)
        for (long j = 0; j < h; j++) dst[i * ldd + j] = a[i * lda + j] + b[i * ldb + j];
}

static void copy_into(long h, float *dst, long ldd, const float *a, long lda) {
    for (long i = 0; i < h; i++) memcpy(dst + i * ldd, a + i * lda, (size_t)h * sizeof(float));
}

void ck_sgemm_strassen(int path, long h, long k, const float *pa, const float *pb, float *c, long ldc, float *scratch) {
    if (h <= 0 || k <= 0) return;
    const long k1 = (k + 1) / 2;
    const size_t sa = a_one(path, h, k1), sb = b_one(path, h, k1);
    const float *A11 = pa, *A12 = pa + sa, *A22 = pa + 2 * sa, *S1 = pa + 3 * sa, *S2 = pa + 4 * sa, *S3 = pa + 5 * sa,
                *S4 = pa + 6 * sa;
    const float *B11 = pb, *B21 = pb + sb, *B22 = pb + 2 * sb, *T1 = pb + 3 * sb, *T2 = pb + 4 * sb, *T3 = pb + 5 * sb,
                *nT4 = pb + 6 * sb;
    float *C11 = c, *C12 = c + h, *C21 = c + h * ldc, *C22 = c + h * ldc + h, *X = scratch;
    const ck_epilogue acc = {.beta = 1, .bias = NULL, .residual = NULL, .ldr = 0, .activation = CK_ACT_NONE};
    ck_sgemm_prepacked(path, h, h, k1, S1, T1, C22, ldc, NULL);   // C22 = M5
    ck_sgemm_prepacked(path, h, h, k1, A11, B11, X, h, NULL);     // X = M1
    copy_into(h, C11, ldc, X, h);
    ck_sgemm_prepacked(path, h, h, k1, A12, B21, C11, ldc, &acc); // C11 = M1 + M2
    ck_sgemm_prepacked(path, h, h, k1, S2, T2, X, h, &acc);       // X = U2 = M1 + M6
    add_into(h, C12, ldc, X, h, C22, ldc);                        // C12 = U2 + M5
    ck_sgemm_prepacked(path, h, h, k1, S4, B22, C12, ldc, &acc);  // C12 += M3
    ck_sgemm_prepacked(path, h, h, k1, S3, T3, X, h, &acc);       // X = U3 = U2 + M7
    add_into(h, C22, ldc, X, h, C22, ldc);                        // C22 = U3 + M5
    copy_into(h, C21, ldc, X, h);
    ck_sgemm_prepacked(path, h, h, k1, A22, nT4, C21, ldc, &acc); // C21 = U3 − M4
}
