#ifndef EMBEDSCOPE_CKCONV_H
#define EMBEDSCOPE_CKCONV_H

/// Convolution kernels of the NHWC CNNs that are not GEMMs: the depthwise k×k convolution and
/// the 1×1 convolution with few input channels (K ≤ 32), both with the epilogue fused
/// (bias, optional residual, activation: a ck_activation; NaN is kept through ReLU / ReLU6).
/// `path` is a ck_path (AVX-512F, AVX2 + FMA, portable C); the caller checks it with
/// ck_path_supported. Single-threaded: callers split the rows across their threads.

/// Depthwise convolution, one k × k filter per channel, stride s, zero padding pad_top /
/// pad_left (the bottom / right padding follow from oh, ow):
///
///   y[img, oy, ox, ch] = act(bias[ch] + Σ w[(kh·k + kw)·c + ch] · x[img, oy·s − pad_top + kh, ox·s − pad_left + kw, ch])
///
/// x: NHWC input of height h, width w, c channels; element (img, row, col, ch) is at
/// x[((img·h + row − first_row)·w + col)·c + ch] (first_row > 0: x holds one image's rows from
/// first_row on, a band; only the rows read are addressed). Output rows r in [row_begin, row_end)
/// count over images × oh; row r is at y + r·ow·c. Weights [k·k][c] (tap-major), bias [c].
/// Any k ≥ 1, s ≥ 1; k = 3, 5 with s = 1, 2 run fully unrolled.
void ck_depthwise(int path, int k, int s, const float *x, long h, long w, long c, long first_row,
                  long pad_top, long pad_left, long oh, long ow, const float *weights, const float *bias,
                  int activation, float *y, long row_begin, long row_end);

/// ck_depthwise for channels [ch_begin, ch_end) only (clamped to [0, c)); c stays the pixel's
/// channel count (the stride of x, y, weights and bias). Each output element is the one
/// ck_depthwise computes, bit for bit: a team can split a layer by channels. y holds the output
/// rows from out_first_row on (row r at y + (r − out_first_row)·ow·c; ≤ row_begin): a band of
/// rows written into a small buffer that stays in cache.
void ck_depthwise_channels(int path, int k, int s, const float *x, long h, long w, long c, long first_row,
                           long pad_top, long pad_left, long oh, long ow, const float *weights, const float *bias,
                           int activation, float *y, long out_first_row, long row_begin, long row_end, long ch_begin,
                           long ch_end);

/// 1×1 convolution with few input channels: y[p, :] = act(x[p, :] · W + bias (+ residual[p, :]))
/// for `rows` pixels; x [rows × k] (row stride k), W [k × n] row-major, y and residual [rows × n]
/// (row stride n; residual may be NULL, may not alias y). Unpacked W: meant for k ≤ 32, where
/// packing A and B for a GEMM costs as much as the multiply.
void ck_pointwise_small(int path, long rows, long k, long n, const float *x, const float *weights, const float *bias,
                        const float *residual, int activation, float *y);

/// 1×1 convolution on weights packed by ck_pack_b for `path` (panels of ck_nr(path) columns; pass
/// the panel of column j0, a multiple of ck_nr, with bias, residual and C at column j0 too),
/// A [m × k] read in place (row stride lda; nothing is packed per call, unlike ck_sgemm_packed):
///   C[m × n] = act(A · B + bias (+ R)), R with row stride ldr (NULL: none; may not alias C).
void ck_pointwise_packed(int path, long m, long n, long k, const float *a, long lda, const float *packed_b,
                         const float *bias, const float *residual, long ldr, int activation, float *c, long ldc);

/// Taps (cin · k · k) up to which ck_conv_planar runs its SIMD tiles (more: portable loops).
#define CK_CONV_PLANAR_MAX_TAPS 192

/// Dense k×k convolution, stride s, of a planar (CHW per image) input of cin planes h × w into
/// NHWC output with `out` channels (the network's first convolution):
///   y[p − y_origin, o] = act(bias[o] + Σ_(c, kh, kw) w[((c·k + kh)·k + kw)·out + o] · x[img, c, oy·s − pad_top + kh, ox·s − pad_left + kw])
/// for output pixels p in [pixel_begin, pixel_end) (p over images × oh × ow), zero outside the
/// image. y holds pixel y_origin ≤ pixel_begin first (0: the whole output; a band of output rows:
/// its first pixel).
void ck_conv_planar(int path, const float *x, long h, long w, long cin, int k, int s, long pad_top, long pad_left, long oh, long ow,
                    const float *weights, long out, const float *bias, int activation, float *y, long y_origin,
                    long pixel_begin, long pixel_end);

/// Planes: the input of a depthwise layer laid out so that its windows need no copy and are never
/// clipped. Channels go in planes of ck_plane_width(path) (two SIMD vectors: 32 on AVX-512, 16 on
/// AVX2; 0 on the portable path, which has no planes); plane q holds channels [q·pw, (q + 1)·pw)
/// of every pixel, row by row, each row ck_plane_padded_width(k, s, w) pixels wide: image column
/// x at column x + pad_left, the other columns zero (ck_planes_clear). Row ih (from first_row) of
/// plane q starts at planes + q·plane_stride + (ih − first_row)·row_stride; rows outside the
/// image are not stored.
long ck_plane_width(int path);

/// Pixels in a padded row of planes for a k×k, stride-s layer over rows w wide with TF "SAME"
/// padding: (ceil(w / s) − 1)·s + k.
long ck_plane_padded_width(int k, int s, long w);

/// Floats in one padded row of a plane at most (k rows of the widest fit 48 KB for k ≥ 3); rows
/// above and below the image are read from a zero row of this length.
#define CK_PLANE_ROW_MAX 4096

/// Whether a k×k stride-s depthwise layer over rows w pixels wide reads planes on `path`: stride
/// 1 or 2, k = 3 or 5, k padded rows of a plane fit L1d (48 KB at most) and a row CK_PLANE_ROW_MAX.
int ck_depthwise_planes_fit(int path, int k, int s, long w);

/// ck_pointwise_packed (no residual) with C written as planes: A holds rows·w pixels, `rows`
/// image rows of w; output column j of pixel (row, x) goes to
/// c + (j / pw)·plane_stride + row·row_stride + x·pw + j % pw, c pointing at column pad_left of
/// the first row of the plane of the first column (a column range may start on half a plane: c
/// then points at that lane). The same values as ck_pointwise_packed, bit for bit.
void ck_pointwise_packed_planes(int path, long rows, long w, long n, long k, const float *a, long lda, const float *packed_b,
                                const float *bias, int activation, float *c, long plane_stride, long row_stride);

/// Zeroes what ck_depthwise_planes reads but no producer writes, in the lanes of channels
/// [ch_begin, ch_end) (of c) of `rows` rows padded_width pixels wide: the pad columns, and where
/// ch_end = c the lanes of the last plane past c.
void ck_planes_clear(int path, float *planes, long plane_stride, long row_stride, long rows, long w, long padded_width, long pad_left,
                     long ch_begin, long ch_end, long c);

/// ck_depthwise_channels at stride s (1 or 2), k = 3 or 5, on input given as planes (rows of
/// (ow − 1)·s + k pixels, at most CK_PLANE_ROW_MAX floats — ck_depthwise_planes_fit ensures both — and
/// row_stride at least that; ch_begin a multiple of half the plane width; otherwise nothing is
/// written): the same output, bit for bit.
void ck_depthwise_planes(int path, int k, int s, const float *planes, long plane_stride, long row_stride, long h, long w, long c,
                         long first_row, long pad_top, long pad_left, long oh, long ow, const float *weights, const float *bias,
                         int activation, float *y, long out_first_row, long row_begin, long row_end, long ch_begin, long ch_end);

/// ck_conv_planar writing its output as planes (ck_plane_width(path) > 0, cin·k·k ≤
/// CK_CONV_PLANAR_MAX_TAPS): output channel j of pixel p goes to y + (j / pw)·plane_stride +
/// ((p − y_origin) / ow)·row_stride + (p % ow)·pw + j % pw (y_origin the first pixel of a row; y
/// pointing at column pad_left of that row's plane 0). The same values, bit for bit.
void ck_conv_planar_planes(int path, const float *x, long h, long w, long cin, int k, int s, long pad_top, long pad_left, long oh,
                           long ow, const float *weights, long out, const float *bias, int activation, float *y, long y_origin,
                           long pixel_begin, long pixel_end, long plane_stride, long row_stride);

/// ck_pointwise_small (no residual) with y written as planes: x holds rows·w pixels, `rows` image
/// rows of w; output column j of pixel (row, x) goes to y + (j / pw)·plane_stride + row·row_stride +
/// x·pw + j % pw (y pointing at column pad_left of the first row of plane 0). The same values, bit
/// for bit.
void ck_pointwise_small_planes(int path, long rows, long w, long k, long n, const float *x, const float *weights, const float *bias,
                               int activation, float *y, long plane_stride, long row_stride);

#endif
