#ifndef EMBEDSCOPE_CKERNELS_H
#define EMBEDSCOPE_CKERNELS_H

#include <stddef.h>

/// Packed single-precision GEMM with a fused epilogue, single-threaded (callers split the work
/// into tiles on their own threads). Row-major throughout:
///
///   C[m × n] = act(A[m × k] · B[k × n] + beta · C + bias[n] (+ R[m × n]))
///
/// B is packed once (`ck_pack_b`) into panels of `ck_nr(path)` columns, each panel k × nr
/// contiguous and zero-padded; A is packed internally into slivers of `ck_mr(path)` rows.
/// The path is chosen by the caller (`ck_best_path()` is what the CPU supports); a packed B
/// is only valid for the path it was packed for.

/// The spin-wait hint (x86 PAUSE): a thread spinning on a flag tells the core it waits, so an SMT
/// sibling doing the work gets the pipeline (and the loop does not flood the memory order
/// machinery on exit). Cheap on a core of its own.
static inline void ck_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

typedef enum {
    CK_PATH_PORTABLE = 0,  ///< plain C, any CPU
    CK_PATH_AVX2 = 1,      ///< AVX2 + FMA, 6 × 16 micro-kernel
    CK_PATH_AVX512 = 2,    ///< AVX-512F, 12 × 32 micro-kernel
} ck_path;

typedef enum {
    CK_ACT_NONE = 0,
    CK_ACT_RELU = 1,   ///< max(x, 0), NaN kept
    CK_ACT_RELU6 = 2,  ///< min(max(x, 0), 6), NaN kept
} ck_activation;

typedef struct {
    float beta;              ///< 0: C is written without being read (NaN in C is ignored, as BLAS does)
    const float *bias;       ///< n values or NULL
    const float *residual;   ///< m × n with row stride ldr, or NULL; may not alias C
    long ldr;
    int activation;          ///< a ck_activation
} ck_epilogue;

/// Runs `iterations` rounds of independent fused multiply-add chains on `path` (AVX-512 or AVX2)
/// and returns GFLOP per second of this thread's CPU time: the single-thread FMA ceiling (0 for
/// a path without SIMD FMA or one the CPU lacks).
double ck_fma_peak_gflops(int path, long iterations);

/// The best path this CPU (and OS) supports.
int ck_best_path(void);
/// 1 when this build was compiled for x86-64-v3 (AVX2, FMA, F16C required; checked at load), 0 for
/// baseline x86-64 (EMBEDSCOPE_PORTABLE, or a build machine without them) or another architecture.
int ck_built_for_v3(void);
/// The CPU family (base + extended, as CPUID leaf 1 reports it) when the CPU is AMD's
/// ("AuthenticAMD"), else 0 (other vendors, non-x86): 25 is Zen 3/4, 26 Zen 5.
int ck_cpu_amd_family(void);
/// 1 when AVX-512 (with VL) runs here and its 512-bit multiply-adds do no more FLOPs than 256-bit ones
/// (each split over two 256-bit halves: AMD Zen 4, Intel parts with one 512-bit FMA unit), measured
/// once by a ~0.2 ms probe; EMBEDSCOPE_AVX512_HALF_RATE=0|1 overrides. Only the speed of a kernel
/// choice depends on it, never a result (ck_pointwise_small).
int ck_avx512_half_rate(void);
/// Forces ck_avx512_half_rate's answer (value < 0: back to the probe's or the environment's), for
/// tests; 1 only where AVX-512 with VL runs.
void ck_set_avx512_half_rate(int value);
/// The data caches the kernels size their blocks to, in bytes: the L1 data cache and the L2 of
/// one core. Read once from the CPU (glibc's sysconf, which asks CPUID leaf 4 / 0x8000001D, else
/// Linux's /sys/devices/system/cpu/cpu0/cache); where neither answers, or answers outside
/// 8 KB–1 MB (L1) / 64 KB–64 MB (L2), 32 KB and 512 KB (Zen 2 / 3's; older Intel clients have a
/// 256 KB L2): blocks sized for a smaller cache than the CPU has cost a little, for a larger one a lot.
long ck_l1d_bytes(void);
long ck_l2_bytes(void);
/// Overrides the sizes ck_l1d_bytes / ck_l2_bytes return (a value ≤ 0: detected again). For
/// tests, which check that every blocking gives the same results; not thread-safe against
/// kernels running at the same time.
void ck_set_cache_sizes(long l1d, long l2);
/// 1 when `path` can run on this CPU.
int ck_path_supported(int path);
/// Rows per A sliver and columns per B panel of `path`.
int ck_mr(int path);
int ck_nr(int path);

/// Floats a packed B of k × n occupies for `path` (a multiple of 16, so 64-byte aligned panels stay aligned).
size_t ck_packed_b_count(int path, long k, long n);

/// Packs B (element (p, j) at b[p * rsb + j * csb]: rsb = ldb, csb = 1 for a [k × n] matrix;
/// rsb = 1, csb = ldb for Bᵀ stored [n × k]) into `packed` (ck_packed_b_count floats, 64-byte aligned).
void ck_pack_b(int path, long k, long n, const float *b, long rsb, long csb, float *packed);

/// C[m × n] for the columns of `packed_b` starting at its first panel (pass
/// packed + (j0 / nr) * ck_panel_stride to start at column j0, j0 a multiple of nr; `ep->bias`
/// and C then start at column j0 too). `k` is the full depth the panels were packed with.
void ck_sgemm_packed(int path, long m, long n, long k, const float *a, long lda, const float *packed_b,
                     float *c, long ldc, const ck_epilogue *ep);

/// `ck_sgemm_packed` with A given transposed: element (i, p) of A at a[p * lda + i] (Aᵀ stored
/// [k × m], row stride lda ≥ m), e.g. a gradient Rᵀ·X from the residuals R [k × m].
void ck_sgemm_packed_at(int path, long m, long n, long k, const float *a, long lda, const float *packed_b,
                        float *c, long ldc, const ck_epilogue *ep);

/// Floats a packed A of m × k occupies for `path`.
size_t ck_packed_a_count(int path, long m, long k);

/// Packs A [m × k] (row stride lda) whole, as `ck_sgemm_packed` packs it block by block, into
/// `packed` (ck_packed_a_count floats, 64-byte aligned): for an A used against many packed Bs.
void ck_pack_a(int path, long m, long k, const float *a, long lda, float *packed);

/// `ck_sgemm_packed` with A already packed by `ck_pack_a` (same path, m and k): same results, bit for bit.
void ck_sgemm_prepacked(int path, long m, long n, long k, const float *packed_a, const float *packed_b,
                        float *c, long ldc, const ck_epilogue *ep);

/// `ck_sgemm_prepacked` (no epilogue) for a product of rows with themselves (C = A·Aᵀ, m = n, B
/// packed from the same rows): only the micro-tiles of C that hold some element (i, j) with j < i
/// are computed — about half of C plus a band along the diagonal. Every element with j < i is
/// written, bit for bit as `ck_sgemm_prepacked` writes it; elements with j ≥ i may be left unwritten.
void ck_sgemm_prepacked_lower(int path, long m, long n, long k, const float *packed_a, const float *packed_b,
                              float *c, long ldc);

/// One level of Strassen–Winograd for a tile of an all-pairs product, C[2h × 2h] = X · Yᵀ with X
/// and Y blocks of 2h rows of depth k (strassen.c: 7 half-size products instead of 8, the
/// additions on the packed operands and on C). Each side is prepared once by
/// `ck_strassen_pack` into seven packed operands of depth ⌈k/2⌉ — X as the rows of C
/// (`CK_STRASSEN_ROWS`), Y as its columns (`CK_STRASSEN_COLUMNS`) — and any two are multiplied
/// by `ck_sgemm_strassen`. The result differs from the plain product by rounding only, within a
/// bound in terms of row pairs (i, i ± h) (strassen.c).
enum { CK_STRASSEN_ROWS = 0, CK_STRASSEN_COLUMNS = 1 };
/// Floats one side's packed operands occupy (64-byte aligned storage).
size_t ck_strassen_count(int path, long h, long k, int side);
/// Packs rows x[0 ..< 2h] (row stride ldx, depth k) as one side; 0, or −1 when out of memory.
int ck_strassen_pack(int path, long h, long k, const float *x, long ldx, int side, float *packed);
/// C = X · Yᵀ [2h × 2h] (row stride ldc) from `pa` (rows side) and `pb` (columns side), packed
/// for the same path, h and k; `scratch` holds h × h floats.
void ck_sgemm_strassen(int path, long h, long k, const float *pa, const float *pb, float *c, long ldc, float *scratch);

/// Floats between two consecutive panels of a packed B of depth k.
size_t ck_panel_stride(int path, long k);

/// The epilogue alone (after a BLAS GEMM that applied beta): C = act(C + bias (+ R)).
void ck_epilogue_apply(long m, long n, float *c, long ldc, const ck_epilogue *ep);

/// The silhouette's epilogue for one tile row, in Double (silhouette.c). `ck_sil_row_d2`: r[j] =
/// (u + w[j]) − 2·g[j] for j < n; returns 1 when some r[j] < ti·tj[j] (pairs to recompute exactly),
/// else 0. `ck_sil_row_sum`: r[j] = sqrt(max(r[j], 0)) (NaN kept), col_acc[j] += r[j] when col_acc
/// is not NULL, and returns Σ r[j] in a fixed order — the same values on every path.
int ck_sil_row_d2(int path, long n, const float *g, double u, const double *w, double ti, const double *tj, double *r);
double ck_sil_row_sum(int path, long n, double *r, double *col_acc);

#endif
