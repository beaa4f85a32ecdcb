#ifndef EMBEDSCOPE_CKHALF_H
#define EMBEDSCOPE_CKHALF_H

#include <stddef.h>
#include <stdint.h>

/// Half-precision storage kernels (docs/index-format.md, "Half-precision copies"): conversions
/// and the dot-product scan over rows of IEEE binary16 (`f16`) or bfloat16 (`bf16`) values.
///
/// Paths as in ckernels.h: CK_PATH_PORTABLE (plain C, any CPU), CK_PATH_AVX2 (AVX2 + FMA + F16C,
/// `_mm256_cvtph_ps`), CK_PATH_AVX512 (AVX-512F, `_mm512_cvtph_ps`). Chosen by the caller;
/// `ck_half_best_path()` is the best this CPU runs. Every path converts exactly (half → float is
/// exact) and rounds float → half to nearest, ties to even.

typedef enum {
    CK_HALF_F16 = 0,   ///< IEEE 754 binary16
    CK_HALF_BF16 = 1,  ///< bfloat16: the upper 16 bits of a float32
} ck_half_type;

/// 1 when `path` (a ck_path) can run the half kernels on this CPU.
int ck_half_path_supported(int path);
/// The best path this CPU supports for the half kernels.
int ck_half_best_path(void);

/// dst[i] = round-to-nearest-even(src[i]) for i < n. Values beyond the type's range become ±Inf
/// (f16) and NaN stays NaN (quiet); callers check finiteness before writing.
void ck_float_to_half(int path, int type, const float *src, uint16_t *dst, long n);
/// dst[i] = src[i] exactly, for i < n.
void ck_half_to_float(int path, int type, const uint16_t *src, float *dst, long n);

/// out[r] = Σ_{j < dimPadded} float(rows[r * stride + j]) · q[j] for r < n, computed in float32 with
/// fused multiply-adds (the portable path: separate multiply and add). `dimPadded` is a multiple
/// of 32 no larger than `stride` (elements); `q` holds `dimPadded` floats, zero past the row's
/// dimension, and the rows' padding is zero, so the padding adds exact zeros.
/// With tol ≥ 0 each row's sum of squares s is formed too (float32, from the same loads) and a
/// row with |s − 1| > tol (or NaN) scores NaN: a half copy of unit rows is checked on the way
/// (`UnitRows.scanTolerance`); the other scores are the same bits. tol < 0: no check.
void ck_half_dots(int path, int type, const uint16_t *rows, long stride, long n, long dimPadded, const float *q, float tol,
                  float *out);

/// 1 when the SIMD half scans prefetch rows ahead (not on AMD; EMBEDSCOPE_HALF_PREFETCH=0/1 overrides).
int ck_half_scan_prefetches(void);

#endif
