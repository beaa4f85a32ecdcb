#ifndef EMBEDSCOPE_WINOGRAD_H
#define EMBEDSCOPE_WINOGRAD_H

/// Winograd F(2×2, 3×3) (Lavin & Gray 2015) for a 3×3, stride-1, pad-1 convolution of NHWC
/// activations. The output is cut into 2×2 tiles (partial tiles at odd sizes), tile index
/// t = (image · tilesY + ty) · tilesX + tx; the input patch of a tile is the 4×4 window at
/// (2·ty − 1, 2·tx − 1), zero outside the image. Per block of `count` tiles from `t0`:
///
///   ck_wino_input:  V[ξ][i][c] = (Bᵀ d B)[ξ] of tile t0 + i, channel c (ξ = 4·row + col),
///                   V + ξ · ldm_v · count, row stride ldm_v (≥ cin);
///   (the caller runs 16 GEMMs M[ξ] = V[ξ] · U[ξ] with U = G g Gᵀ, [cin × cout]);
///   ck_wino_output: y = act(Aᵀ M A + bias (+ residual)) for the in-image pixels of each tile,
///                   M + ξ · ldm_m · count, row stride ldm_m (≥ cout).
///
/// `path` is a ck_path (the SIMD width the channel loops are compiled for). NaN propagates.

/// U[ξ][c][o] (16 matrices [cin × cout], row-major, ξ = 4·row + col) from the 3×3 weights
/// w[(kh · 3 + kw) · cin + c][o] (the im2col layout [9 · cin × cout]), computed in double.
void ck_wino_weights(long cin, long cout, const float *w, float *u);

void ck_wino_input(int path, const float *x, long h, long w, long cin, long t0, long count,
                   float *v, long ldm_v);

void ck_wino_output(int path, const float *m, long ldm_m, long t0, long count, long h, long w, long cout,
                    const float *bias, const float *residual, int activation, float *y);

#endif
