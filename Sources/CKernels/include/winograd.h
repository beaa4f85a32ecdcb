#ifndef EMBEDSCOPE_WINOGRAD_H
#define EMBEDSCOPE_WINOGRAD_H

/// Winograd F(m×m, 3×3) (Lavin & Gray 2015), m = 2 or 4, for a 3×3, stride-1, pad-1 convolution
/// of NHWC activations. α = m + 2; the output is cut into m×m tiles (partial tiles at sizes that
/// m does not divide), tile index t = (image · tilesY + ty) · tilesX + tx, tilesY = ⌈h / m⌉; the
/// input patch of a tile is the α×α window at (m·ty − 1, m·tx − 1), zero outside the image.
/// Per block of `count` tiles from `t0`:
///
///   ck_wino_input:  V[ξ][i][c] = (Bᵀ d B)[ξ] of tile t0 + i, channel c (ξ = α·row + col),
///                   at v + ξ · ldm_v · count + i · ldm_v + c (ldm_v ≥ cin);
///   (the caller runs α² GEMMs M[ξ] = V[ξ] · U[ξ], U = G g Gᵀ, [cin × cout]);
///   ck_wino_output: y = act(Aᵀ M A + bias (+ residual)) for the in-image pixels of each tile,
///                   M[ξ] at m + ξ · ldm_m · count (ldm_m ≥ cout).
///
/// `path` is a ck_path (the SIMD width the channel loops are compiled for). A NaN input reaches
/// every output whose window holds it (F(2×2): exactly those; F(4×4): also the rest of its tiles).

/// U[ξ][c][o] (α² matrices [cin × cout], row-major, ξ = α·row + col) from the 3×3 weights
/// w[(kh · 3 + kw) · cin + c][o] (the im2col layout [9 · cin × cout]), computed in double.
void ck_wino_weights(int m, long cin, long cout, const float *w, float *u);

void ck_wino_input(int m, int path, const float *x, long h, long w, long cin, long t0, long count,
                   float *v, long ldm_v);

void ck_wino_output(int m, int path, const float *mm, long ldm_m, long t0, long count, long h, long w, long cout,
                    const float *bias, const float *residual, int activation, float *y);

#endif
