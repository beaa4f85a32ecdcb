#ifndef EMBEDSCOPE_CKSCAN_H
#define EMBEDSCOPE_CKSCAN_H

#include <stddef.h>
#include <stdint.h>

/// Batch-query scan kernels (scan_gemm.c): the scores of a batch of queries against index rows
/// read where they are (a mapped vector file), and the selection of the scores that may enter
/// a top-k.
///
///   C[m × n] = A[m × k] · Qᵀ     A: m rows of k floats, row stride lda, read in place (not packed)
///                                Q: n queries of k floats, packed once into panels
///
/// Unlike ck_sgemm_packed (ckernels.h), A is never copied into slivers: the micro-kernel
/// broadcasts each row's elements straight from the row (MR row pointers, prefetched one
/// block ahead), so a scan streams the index once, at the speed of the multiply-adds.
///
/// Paths as in ckernels.h (CK_PATH_PORTABLE 4 × 16, CK_PATH_AVX2 6 × 16, CK_PATH_AVX512 12 × 32),
/// chosen by the caller after ck_path_supported. Every element of C is summed in slices of 256
/// steps of p: in each, one chain of multiply-adds over its p in order (fused on the AVX2 and
/// AVX-512 paths) started from 0; the slices' sums added in order. Its value depends only on its
/// row, its query, k and the path — not on where the row sits in A, nor on m, n or the panel it
/// falls in. So scores of the same rows computed in another call (a
/// gathered subset, a half copy re-scored) are equal bit for bit.

/// Queries per panel of `path` (32 for AVX-512, 16 otherwise).
int ck_scan_nr(int path);
/// Rows per micro-kernel block of `path`.
int ck_scan_mr(int path);
/// Floats a packed batch of n queries of k floats occupies (64-byte aligned panels; at least 16).
size_t ck_scan_packed_count(int path, long k, long n);
/// Packs n queries (query j's element p at q[j * ldq + p]) into `packed` (ck_scan_packed_count
/// floats, 64-byte aligned): panel t holds queries [t·nr, t·nr + nr), element (p, c) at
/// [t · stride + p · nr + c], zero past the last query.
void ck_scan_pack_queries(int path, long k, long n, const float *q, long ldq, float *packed);

/// C[m × n] (row stride ldc ≥ n) = A · Qᵀ for the n queries packed in `packed` (same path and k).
/// Single-threaded; callers split the rows across their threads.
void ck_scan_gemm(int path, long m, long n, long k, const float *a, long lda, const float *packed, float *c, long ldc);

/// `ck_scan_gemm` for rows stored unit length, checking them on the way: after each block of
/// rows is multiplied (while it is in cache), a row whose sum of squares s has |s − 1| > tol (or
/// NaN) gets NaN for all n of its scores (`ck_mark_not_unit`). tol < 0: no check.
void ck_scan_gemm_unit(int path, long m, long n, long k, const float *a, long lda, const float *packed, float tol, float *c,
                       long ldc);

/// The scores that may enter a top-k: appends r · n + j to `out` (room for m · n entries; m · n
/// must be below 2^31) for every r < m, j < n with c[r · ldc + j] ≥ thresholds[j] (an ordered
/// comparison: never for NaN, nor for a NaN threshold), row by row; returns how many. Sets
/// *nonfinite to 1 if any of the m × n scores is NaN or ±Inf (leaves it alone otherwise).
long ck_scan_candidates(int path, long m, long n, const float *c, long ldc, const float *thresholds, int32_t *out,
                        int *nonfinite);

/// One query's candidates: appends j to `out` (room for n entries; n below 2^31) for every j < n with
/// scores[j] ≥ threshold (ordered: never for NaN), in order; returns how many. Sets *nonfinite to 1 if
/// any of the n scores is NaN or ±Inf (leaves it alone otherwise). (`ck_scan_candidates` with one
/// threshold for every score.)
long ck_scan_select(int path, long n, const float *scores, float threshold, int32_t *out, int *nonfinite);

/// One query: out[i] = Σ_p a[i · lda + p] · q[p] for i < m, each row alone (its score does not
/// depend on the rows around it), the rows read in order with a software prefetch
/// `ck_scan_prefetch_bytes(path)` ahead (a prefetch never faults: reading past the last row is
/// harmless). Fused multiply-adds in
/// four vector accumulators on the AVX2 and AVX-512 paths; eight scalar sums on the portable path.
void ck_scan_dots(int path, long m, long k, const float *a, long lda, const float *q, float *out);

/// `ck_scan_dots` for rows stored unit length, checking them on the way: a second set of
/// accumulators sums each row's squares from the same loads, and a row whose sum s has
/// |s − 1| > tol (or is NaN) scores NaN — a damaged row is then found by the caller's test for
/// non-finite scores, whether or not it would have entered the answer. The scores of the other
/// rows are those of `ck_scan_dots`, bit for bit. `UnitRows.scanTolerance` (Swift) gives a tol
/// that no row written unit length can exceed, whatever the order of the sums.
void ck_scan_dots_unit(int path, long m, long k, const float *a, long lda, const float *q, float tol, float *out);

/// The same check alone, for scores computed another way (a GEMM tile, sgemv): for each of the m
/// rows whose sum of squares s has |s − 1| > tol (or is NaN), sets its n scores
/// c[r · row_step + j · query_step], j < n, to NaN; returns how many rows.
long ck_mark_not_unit(int path, long m, long k, const float *a, long lda, float tol, float *c, long row_step, long query_step,
                      long n);

/// Bytes ahead of the row being read that `ck_scan_dots` and `ck_read_pass` prefetch on `path`
/// (0: no software prefetch): 64 KB on AVX-512, 16 KB on AVX2, none on AMD family 25 (Zen 3/4)
/// and on the portable path; EMBEDSCOPE_SCAN_PREFETCH=<bytes> overrides (read once).
long ck_scan_prefetch_bytes(int path);

/// Benchmarks only: the sum of x[0 ..< n rounded down to a multiple of 64 (AVX-512), 32 (AVX2) or 8],
/// read as the one-query scan reads its rows (same vector width, same prefetch distance) with no
/// arithmetic beyond one add per vector: the floor a scan of the same bytes cannot beat.
float ck_read_pass(int path, const float *x, long n);

#endif
