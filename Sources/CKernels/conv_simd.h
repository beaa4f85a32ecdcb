// One SIMD width of the depthwise and small-K pointwise kernels (see conv.c). Included once
// per width with these defined (and undefined again at the end):
//   VT, MT            vector and lane-mask types; VW lanes
//   ATTR              the target attribute of the width
//   SFX(name)         name with the width's suffix
//   V_LOAD(p), V_MLOAD(m, p), V_STORE(p, v), V_MSTORE(p, m, v), V_SET1(f), V_FMA(a, b, acc) = a·b + acc,
//   V_ADD(a, b), V_ACT(v, act) (NaN kept), V_MASK(count) (the first count < VW lanes), V_FULL (all lanes)
//   PW_R, PW_R3       pixels per small-K pointwise tile (pw_tile), PW_R3 where n ≥ 3 vectors (tiles of 3)
//   DWP_N(K)          pixels per one-vector depthwise tile on planes (dwp_row) for a K×K window, 8 to 12
// Masked loads and stores touch only the lanes of the mask (no fault past the end of a row).

#define INL ATTR __attribute__((always_inline)) static inline

// ---------------------------------------------------------------- depthwise

// One tap row of a tile, sliding: acc[i] += Σ_kw x[(i·S + kw)·xs] · w[kw·ws] for the N pixels, the
// K weight vectors loaded once and each input vector of the row once ((N − 1)·S + K loads), every
// accumulator taking its taps in kw order. xr, wr: the row's first input and weight vector; the
// inputs (MASKX) and the weights (MASKW) read only the lanes of m.
INL void SFX(slide_row)(const int K, const int S, const int N, const int MASKX, const int MASKW, MT m, const float *xr, long xs,
                        const float *wr, long ws, VT *acc) {
    VT wv[5];
    _Pragma("clang loop unroll(full)")
    for (int kw = 0; kw < K; kw++) wv[kw] = MASKW ? V_MLOAD(m, wr + kw * ws) : V_LOAD(wr + kw * ws);
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < (N - 1) * S + K; j++) {
        const float *q = xr + (long)j * xs;
        const VT xv = MASKX ? V_MLOAD(m, q) : V_LOAD(q);
        _Pragma("clang loop unroll(full)")
        for (int kw = 0; kw < K; kw++) {
            const int d = j - kw;
            if (d >= 0 && d % S == 0 && d / S < N) acc[d / S] = V_FMA(xv, wv[kw], acc[d / S]);
        }
    }
}

// slide_row on two channel vectors at once (the second VW floats after the first, in x and w):
// acc[i][0], acc[i][1].
INL void SFX(slide_row2)(const int K, const int S, const int N, const float *xr, long xs, const float *wr, long ws,
                         VT (*acc)[2]) {
    VT wv[5][2];
    _Pragma("clang loop unroll(full)")
    for (int kw = 0; kw < K; kw++) { wv[kw][0] = V_LOAD(wr + kw * ws); wv[kw][1] = V_LOAD(wr + kw * ws + VW); }
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < (N - 1) * S + K; j++) {
        const VT x0 = V_LOAD(xr + (long)j * xs), x1 = V_LOAD(xr + (long)j * xs + VW);
        _Pragma("clang loop unroll(full)")
        for (int kw = 0; kw < K; kw++) {
            const int d = j - kw;
            if (d >= 0 && d % S == 0 && d / S < N) {
                acc[d / S][0] = V_FMA(x0, wv[kw][0], acc[d / S][0]);
                acc[d / S][1] = V_FMA(x1, wv[kw][1], acc[d / S][1]);
            }
        }
    }
}

// Two channel vectors [cb, cb + 2·VW), all lanes, sliding as dw_tile: N pixels × 2 vectors, 2N
// independent chains where one vector has N (AVX-512 only: 2N + 2K + 2 of its 32 registers; K ≤ 5).
INL void SFX(dw_tile2)(const int K, const int S, const int N, const float *x, long xoff, long rs, long c, long khLo, long khHi,
                       const float *wcb, VT b0, VT b1, int act, float *yp) {
    VT acc[8][2];
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < N; i++) { acc[i][0] = b0; acc[i][1] = b1; }
    for (long kh = khLo; kh < khHi; kh++) SFX(slide_row2)(K, S, N, x + (xoff + kh * rs), c, wcb + kh * K * c, c, acc);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < N; i++) {
        V_STORE(yp + i * c, V_ACT(acc[i][0], act));
        V_STORE(yp + i * c + VW, V_ACT(acc[i][1], act));
    }
}

// N interior output pixels (their whole window is inside the row) of one output row, channels
// [cb, cb + VW) (the lanes of m when MASKED). xoff: offset of (image row ihBase, column of the
// first pixel's window, channel cb) from x; kh runs over [khLo, khHi) (rows inside the image).
// SLIDE (K ≤ 5, constant): per tap row the K weight vectors stay in registers and each input
// vector of the row is loaded once, feeding every pixel whose window covers it ((N − 1)·S + K
// loads, not N·K); else one load per multiply-add. Either way each accumulator takes its taps in
// the same order (kh, then kw), so both give the same result bit for bit.
INL void SFX(dw_tile)(const int K, const int S, const int N, const int MASKED, const int SLIDE, MT m, const float *x, long xoff,
                      long rs, long c, long khLo, long khHi, const float *wcb, VT bias, int act, float *yp) {
    VT acc[8];
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < N; i++) acc[i] = bias;
    for (long kh = khLo; kh < khHi; kh++) {
        const float *xr = x + (xoff + kh * rs);
        const float *wr = wcb + kh * K * c;
        if (SLIDE) {
            SFX(slide_row)(K, S, N, MASKED, MASKED, m, xr, c, wr, c, acc);
        } else {
            for (int kw = 0; kw < K; kw++) {
                const VT wv = MASKED ? V_MLOAD(m, wr + kw * c) : V_LOAD(wr + kw * c);
                _Pragma("clang loop unroll(full)")
                for (int i = 0; i < N; i++) {
                    const float *q = xr + (long)(i * S + kw) * c;
                    acc[i] = V_FMA(MASKED ? V_MLOAD(m, q) : V_LOAD(q), wv, acc[i]);
                }
            }
        }
    }
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < N; i++) {
        const VT v = V_ACT(acc[i], act);
        if (MASKED) V_MSTORE(yp + i * c, m, v); else V_STORE(yp + i * c, v);
    }
}

// One output pixel, all channels, its window clipped to [khLo, khHi) × [kwLo, kwHi): four
// channel vectors at a time (four independent chains), then one, then the masked rest.
// xoff: offset of (image row ihBase, column iw0, channel 0) from x.
INL void SFX(dw_pixel)(const int K, const float *x, long xoff, long rs, long c, long c0, long c1, long khLo, long khHi, long kwLo,
                       long kwHi, const float *wt, const float *bias, int act, float *yp) {
    long cb = c0;
    for (; cb + 4 * VW <= c1; cb += 4 * VW) {
        VT a0 = V_LOAD(bias + cb), a1 = V_LOAD(bias + cb + VW), a2 = V_LOAD(bias + cb + 2 * VW), a3 = V_LOAD(bias + cb + 3 * VW);
        for (long kh = khLo; kh < khHi; kh++) {
            for (long kw = kwLo; kw < kwHi; kw++) {
                const float *q = x + (xoff + kh * rs + kw * c + cb);
                const float *wq = wt + (kh * K + kw) * c + cb;
                a0 = V_FMA(V_LOAD(q), V_LOAD(wq), a0);
                a1 = V_FMA(V_LOAD(q + VW), V_LOAD(wq + VW), a1);
                a2 = V_FMA(V_LOAD(q + 2 * VW), V_LOAD(wq + 2 * VW), a2);
                a3 = V_FMA(V_LOAD(q + 3 * VW), V_LOAD(wq + 3 * VW), a3);
            }
        }
        V_STORE(yp + cb, V_ACT(a0, act));
        V_STORE(yp + cb + VW, V_ACT(a1, act));
        V_STORE(yp + cb + 2 * VW, V_ACT(a2, act));
        V_STORE(yp + cb + 3 * VW, V_ACT(a3, act));
    }
    for (; cb < c1; cb += VW) {
        const int full = c1 - cb >= VW;
        const MT m = full ? V_FULL : V_MASK((int)(c1 - cb));
        VT a = V_MLOAD(m, bias + cb);
        for (long kh = khLo; kh < khHi; kh++)
            for (long kw = kwLo; kw < kwHi; kw++)
                a = V_FMA(V_MLOAD(m, x + (xoff + kh * rs + kw * c + cb)), V_MLOAD(m, wt + (kh * K + kw) * c + cb), a);
        V_MSTORE(yp + cb, m, V_ACT(a, act));
    }
}

// Output rows [r0, r1), in chunks of 4·VW channels: a chunk's k·k weight vectors and the input
// rows its taps read stay in L1 while it sweeps all the rows (the 14×14 and 7×7 layers have
// 17–115 KB of weights, the whole of them per pixel would come from L2). Per row, each channel
// vector sweeps the interior columns in tiles of 8 then 4 pixels (a tap's weight vector loaded
// once per tile); the border columns and the interior rest go pixel by pixel over the chunk.
INL void SFX(dw_rows)(const int K, const int S, const int SLIDE, const dw_geom *g, long r0, long r1) {
    long lo, hi;
    interior_columns(g, K, S, &lo, &hi);
    const long c = g->c, rs = g->w * c;
    const long end8 = lo + (hi - lo) / 8 * 8, end4 = end8 + (hi - end8) / 4 * 4;
    const long tile2Bytes = ck_l1d_bytes() / 6 * 5;
    for (long c0 = g->c0; c0 < g->c1; c0 += 4 * VW) {
        const long c1 = lmin(g->c1, c0 + 4 * VW);
        for (long r = r0; r < r1; r++) {
            const long img = r / g->oh, orow = r - img * g->oh;
            const long ihBase = orow * S - g->pad_top;
            const long khLo = lmax(0, -ihBase), khHi = lmin(K, g->h - ihBase);
            const long rowoff = (img * g->h + ihBase - g->first_row) * rs;
            float *yr = g->y + (r - g->y_row0) * g->ow * c;
            for (long cb = c0; cb < c1; cb += VW) {
                // AVX-512, two vectors left in the chunk: both in one tile (2N chains), unless K input
                // rows of two vectors exceed 5/6 of L1 (40 KB of Zen 5's 48: the 112-wide rows there
                // 7-14 % slower).
                if (VW == 16 && SLIDE && K * g->w * 2 * VW * 4 <= tile2Bytes && cb + 2 * VW <= c1) {
                    const VT b0 = V_LOAD(g->bias + cb), b1 = V_LOAD(g->bias + cb + VW);
                    const float *wcb = g->wt + cb;
                    for (long o = lo; o < end8; o += 8)
                        SFX(dw_tile2)(K, S, 8, g->x, rowoff + (o * S - g->pad_left) * c + cb, rs, c, khLo, khHi, wcb, b0, b1, g->act, yr + o * c + cb);
                    for (long o = end8; o < end4; o += 4)
                        SFX(dw_tile2)(K, S, 4, g->x, rowoff + (o * S - g->pad_left) * c + cb, rs, c, khLo, khHi, wcb, b0, b1, g->act, yr + o * c + cb);
                    cb += VW;
                    continue;
                }
                const int full = c1 - cb >= VW;
                const MT m = full ? V_FULL : V_MASK((int)(c1 - cb));
                const VT bias = V_MLOAD(m, g->bias + cb);
                const float *wcb = g->wt + cb;
                if (full) {
                    for (long o = lo; o < end8; o += 8)
                        SFX(dw_tile)(K, S, 8, 0, SLIDE, m, g->x, rowoff + (o * S - g->pad_left) * c + cb, rs, c, khLo, khHi, wcb, bias, g->act, yr + o * c + cb);
                    for (long o = end8; o < end4; o += 4)
                        SFX(dw_tile)(K, S, 4, 0, SLIDE, m, g->x, rowoff + (o * S - g->pad_left) * c + cb, rs, c, khLo, khHi, wcb, bias, g->act, yr + o * c + cb);
                } else {
                    for (long o = lo; o < end8; o += 8)
                        SFX(dw_tile)(K, S, 8, 1, SLIDE, m, g->x, rowoff + (o * S - g->pad_left) * c + cb, rs, c, khLo, khHi, wcb, bias, g->act, yr + o * c + cb);
                    for (long o = end8; o < end4; o += 4)
                        SFX(dw_tile)(K, S, 4, 1, SLIDE, m, g->x, rowoff + (o * S - g->pad_left) * c + cb, rs, c, khLo, khHi, wcb, bias, g->act, yr + o * c + cb);
                }
            }
            for (long o = 0; o < g->ow; o++) {
                if (o >= lo && o < end4) continue;
                const long iw0 = o * S - g->pad_left;
                const long kwLo = lmax(0, -iw0), kwHi = lmin(K, g->w - iw0);
                SFX(dw_pixel)(K, g->x, rowoff + iw0 * c, rs, c, c0, c1, khLo, khHi, kwLo, kwHi, g->wt, g->bias, g->act, yr + o * c);
            }
        }
    }
}

// Stride 1 on narrow maps (the 7×7, 14×14, 28×28 and 56-wide layers): many pixels' windows are
// clipped (a 7×7 map with a 5×5 window has 3 interior columns), and dw_pixel loads a weight
// vector per multiply-add.
// Here the input rows a chunk of DW_CH channels reads are copied once into a zero-padded window
// of K rows (a ring: each input row is copied once per chunk, whatever the number of output rows
// that read it), so every output pixel is interior: a row runs in tiles of 8, 7, 6, 4, 2, 1
// pixels, a tap row's weight vectors held across the tile and each input vector loaded once (as
// dw_tile with SLIDE); on AVX-512 a whole chunk's two vectors go through one tile (dwp_tile2:
// 16 chains at 8 pixels; the model at batch 1, in-process A/B on Zen 5: −1.5 to −2.5 %).
#define DW_CH (2 * VW)

// N output pixels from column o of one output row, one channel vector (lanes of m when MASKED):
// win[kh] is the padded window row of the tap row kh (DW_CH floats per padded column). Taps in
// the order of dw_tile (kh, then kw), the same result bit for bit.
INL void SFX(dwp_tile)(const int K, const int S, const int N, const int MASKED, MT m, const float *const *win, long o,
                       const float *wv, long c, VT bias, int act, float *yp) {
    VT acc[12];
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < N; i++) acc[i] = bias;
    // The window holds whole vectors (zeros past the chunk's channels); the weights only m's lanes.
    for (int kh = 0; kh < K; kh++) SFX(slide_row)(K, S, N, 0, MASKED, m, win[kh] + o * S * DW_CH, DW_CH, wv + kh * K * c, c, acc);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < N; i++) {
        const VT v = V_ACT(acc[i], act);
        if (MASKED) V_MSTORE(yp + i * c, m, v); else V_STORE(yp + i * c, v);
    }
}

// Both vectors of a padded column (DW_CH = 2·VW channels, all lanes): N pixels × 2 vectors, 2N
// independent chains.
INL void SFX(dwp_tile2)(const int K, const int S, const int N, const float *const *win, long o, const float *wv, long c, VT b0, VT b1,
                        int act, float *yp) {
    VT acc[8][2];
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < N; i++) { acc[i][0] = b0; acc[i][1] = b1; }
    for (int kh = 0; kh < K; kh++) SFX(slide_row2)(K, S, N, win[kh] + o * S * DW_CH, DW_CH, wv + kh * K * c, c, acc);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < N; i++) {
        V_STORE(yp + i * c, V_ACT(acc[i][0], act));
        V_STORE(yp + i * c + VW, V_ACT(acc[i][1], act));
    }
}

// The tiles one output row of ow pixels runs in, o counting pixels: NMAX (8 to 12) at a time, then
// 8, then 7 or 6 pixels in one tile, else 4, 2, 1. TILE(N) runs N pixels from o (N a compile-time
// constant).
#ifndef DWP_TILES
#define DWP_TILES(TILE, NMAX)                                          \
    do {                                                               \
        long o = 0;                                                    \
        for (; o + (NMAX) <= ow; o += (NMAX)) TILE(NMAX);              \
        if ((NMAX) > 8 && ow - o >= 8) { TILE(8); o += 8; }            \
        if (ow - o == 7) { TILE(7); break; }                           \
        if (ow - o == 6) { TILE(6); break; }                           \
        if (ow - o >= 4) { TILE(4); o += 4; }                          \
        if (ow - o >= 2) { TILE(2); o += 2; }                          \
        if (ow - o >= 1) TILE(1);                                      \
    } while (0)
#endif

INL void SFX(dwp_row2)(const int K, const int S, const float *const *win, long ow, const float *wv, long c, VT b0, VT b1, int act,
                       float *yr) {
#define DWP_TILE2(N) SFX(dwp_tile2)(K, S, N, win, o, wv, c, b0, b1, act, yr + o * c)
    DWP_TILES(DWP_TILE2, 8);
#undef DWP_TILE2
}

INL void SFX(dwp_row)(const int K, const int S, const int MASKED, MT m, const float *const *win, long ow, const float *wv, long c,
                      VT bias, int act, float *yr) {
#define DWP_TILE1(N) SFX(dwp_tile)(K, S, N, MASKED, m, win, o, wv, c, bias, act, yr + o * c)
    DWP_TILES(DWP_TILE1, DWP_N(K));
#undef DWP_TILE1
}

// Output rows [r0, r1), stride 1, on the padded window `ring` (K · wp · DW_CH floats, wp = ow − 1 + K).
INL void SFX(dw_rows_padded)(const int K, const dw_geom *g, long r0, long r1, float *ring, long wp) {
    const long c = g->c;
    const long pl = g->pad_left, iw1 = lmin(g->w, wp - pl);   // image columns [0, iw1) land in the window
    // The padding columns are zeroed once; row copies write only the image columns [pl, pl + iw1).
    for (int t = 0; t < K; t++) {
        float *row = ring + t * wp * DW_CH;
        for (long j = 0; j < wp; j++)
            if (j < pl || j >= pl + iw1) { V_STORE(row + j * DW_CH, V_SET1(0)); V_STORE(row + j * DW_CH + VW, V_SET1(0)); }
    }
    for (long c0 = g->c0; c0 < g->c1; c0 += DW_CH) {
        const long cw = lmin(DW_CH, g->c1 - c0);
        const MT mc0 = cw >= VW ? V_FULL : V_MASK((int)cw), mc1 = cw >= 2 * VW ? V_FULL : V_MASK((int)(cw > VW ? cw - VW : 0));
        long haveImg = -1, haveHi = 0;   // the ring holds input rows [haveHi − K, haveHi) of image haveImg
        for (long r = r0; r < r1; r++) {
            const long img = r / g->oh, orow = r - img * g->oh;
            const long ihBase = orow - g->pad_top;
            long from = ihBase;
            if (img == haveImg && haveHi > ihBase && haveHi - K <= ihBase) from = haveHi;
            for (long ih = from; ih < ihBase + K; ih++) {
                float *d = ring + ((ih % K + K) % K) * wp * DW_CH + pl * DW_CH;
                if (ih < 0 || ih >= g->h) {
                    for (long iw = 0; iw < iw1; iw++) { V_STORE(d + iw * DW_CH, V_SET1(0)); V_STORE(d + iw * DW_CH + VW, V_SET1(0)); }
                } else if (cw == DW_CH) {
                    const float *src = x_row_ptr(g, img, ih) + c0;
                    for (long iw = 0; iw < iw1; iw++) {
                        V_STORE(d + iw * DW_CH, V_LOAD(src + iw * c));
                        V_STORE(d + iw * DW_CH + VW, V_LOAD(src + iw * c + VW));
                    }
                } else {
                    const float *src = x_row_ptr(g, img, ih) + c0;
                    for (long iw = 0; iw < iw1; iw++) {
                        V_STORE(d + iw * DW_CH, V_MLOAD(mc0, src + iw * c));
                        V_STORE(d + iw * DW_CH + VW, V_MLOAD(mc1, src + iw * c + VW));
                    }
                }
            }
            haveImg = img;
            haveHi = ihBase + K;
            float *yr = g->y + (r - g->y_row0) * g->ow * c + c0;
            if (VW == 16 && cw == DW_CH) {
                // AVX-512, a whole chunk: both vectors in one tile.
                const float *win[16];
                for (int kh = 0; kh < K; kh++) win[kh] = ring + (((ihBase + kh) % K + K) % K) * wp * DW_CH;
                SFX(dwp_row2)(K, 1, win, g->ow, g->wt + c0, c, V_LOAD(g->bias + c0), V_LOAD(g->bias + c0 + VW), g->act, yr);
                continue;
            }
            for (long v = 0; v < cw; v += VW) {
                const int full = cw - v >= VW;
                const MT mv = full ? V_FULL : V_MASK((int)(cw - v));
                const VT bias = V_MLOAD(mv, g->bias + c0 + v);
                const float *win[16];   // the ring row of each tap row, at this channel vector
                for (int kh = 0; kh < K; kh++) win[kh] = ring + (((ihBase + kh) % K + K) % K) * wp * DW_CH + v;
                if (full) SFX(dwp_row)(K, 1, 0, mv, win, g->ow, g->wt + c0 + v, c, bias, g->act, yr + v);
                else SFX(dwp_row)(K, 1, 1, mv, win, g->ow, g->wt + c0 + v, c, bias, g->act, yr + v);
            }
        }
    }
}

ATTR static void SFX(dw_run)(int k, int s, const dw_geom *g, long r0, long r1) {
    // Stride 1, 3×3 or 5×5: the padded window (K rows of the padded width, DW_CH channels) when it
    // fits in L1, 48 KB at most (the ring's size; on a 32 KB L1 — Zen 2–4, Skylake-X — 32 KB, the
    // limit before the 48 KB figures below were measured on Zen 5's 48 KB L1). In
    // EfficientNet-Lite0 at batch 1, one thread, per call: 7×7 5×5 62 → 50 µs, 14×14 5×5 84 → 73,
    // 14×14 3×3 31 → 27, 56-wide 3×3 bands 32 → 29; 28×28 5×5 within 5 %.
    // The 112-wide 3×3 on 32 channels (AVX-512: a 43.8 KB window) 58 → 47 µs a layer (it was
    // limited to 32 KB before). Not for stride 2: a quarter as many outputs per copied input
    // (14 → 7 5×5 33 → 37 µs, 28 → 14 3×3 14 → 17; on the wide maps too, 112 → 56 and 56 → 28,
    // 2026-12-05: the model's depthwise layers 0.55–0.59 → 0.60–0.70 ms an image, one thread).
    // Planes (dw_run_planes) take stride 2 too: there the layer before writes the padded rows,
    // nothing is copied.
    const long wp = (g->ow - 1) * s + k, l1 = ck_l1d_bytes();
    if (s == 1 && (k == 3 || k == 5) && k * wp * DW_CH * 4 <= (l1 < DW_RING_BYTES ? l1 : DW_RING_BYTES)) {
        float ring[DW_RING_BYTES / 4] __attribute__((aligned(64)));
        if (k == 3) SFX(dw_rows_padded)(3, g, r0, r1, ring, wp);
        else SFX(dw_rows_padded)(5, g, r0, r1, ring, wp);
        return;
    }
    if (k == 3 && s == 1) SFX(dw_rows)(3, 1, 1, g, r0, r1);
    else if (k == 3 && s == 2) SFX(dw_rows)(3, 2, 1, g, r0, r1);
    else if (k == 5 && s == 1) SFX(dw_rows)(5, 1, 1, g, r0, r1);
    else if (k == 5 && s == 2) SFX(dw_rows)(5, 2, 1, g, r0, r1);
    else SFX(dw_rows)(k, s, 0, g, r0, r1);
}

// Output rows [r0, r1), stride S (1 or 2), read from planes (ck_depthwise_planes): the layer's
// input as DW_CH-channel planes of zero-padded rows, written so by the layer before (the 1×1
// expand, the stem), so that no window is copied (dw_rows_padded's ring at stride 1) or clipped
// (dw_rows' border pixels), and a plane's pixels are contiguous, not c floats apart. Plane q
// holds channels [q·DW_CH, (q + 1)·DW_CH), its row ih (from first_row) at planes + q·cps +
// (ih − first_row)·crs; rows outside the image read the zero row. Channels [c0, c1) with c0 a
// multiple of VW. The tiles and the order of the taps are dw_rows_padded's: the same bits.
INL void SFX(dw_planes)(const int K, const int S, const dw_geom *g, long r0, long r1, const float *planes, long cps, long crs,
                        const float *zero_row) {
    const long c = g->c;
    for (long q = g->c0 / DW_CH; q * DW_CH < g->c1; q++) {
        const long lo = lmax(g->c0, q * DW_CH), hi = lmin(g->c1, (q + 1) * DW_CH);
        const float *plane = planes + q * cps;
        for (long r = r0; r < r1; r++) {
            const long img = r / g->oh, orow = r - img * g->oh;
            const long ihBase = orow * S - g->pad_top;
            const float *win[16];
            for (int kh = 0; kh < K; kh++) {
                const long ih = ihBase + kh;
                win[kh] = ih < 0 || ih >= g->h ? zero_row : plane + (img * g->h + ih - g->first_row) * crs;
            }
            float *yr = g->y + (r - g->y_row0) * g->ow * c;
            if (VW == 16 && lo == q * DW_CH && hi == lo + DW_CH) {
                SFX(dwp_row2)(K, S, win, g->ow, g->wt + lo, c, V_LOAD(g->bias + lo), V_LOAD(g->bias + lo + VW), g->act, yr + lo);
                continue;
            }
            for (long cb = lo; cb < hi; cb += VW) {
                const int full = hi - cb >= VW;
                const MT mv = full ? V_FULL : V_MASK((int)(hi - cb));
                const VT bias = V_MLOAD(mv, g->bias + cb);
                const float *wv[16];
                for (int kh = 0; kh < K; kh++) wv[kh] = win[kh] + (cb - q * DW_CH);
                if (full) SFX(dwp_row)(K, S, 0, mv, wv, g->ow, g->wt + cb, c, bias, g->act, yr + cb);
                else SFX(dwp_row)(K, S, 1, mv, wv, g->ow, g->wt + cb, c, bias, g->act, yr + cb);
            }
        }
    }
}

ATTR static void SFX(dw_run_planes)(int k, int s, const dw_geom *g, long r0, long r1, const float *planes, long cps, long crs,
                                    const float *zero_row) {
    if (k == 3 && s == 1) SFX(dw_planes)(3, 1, g, r0, r1, planes, cps, crs, zero_row);
    else if (k == 3) SFX(dw_planes)(3, 2, g, r0, r1, planes, cps, crs, zero_row);
    else if (s == 1) SFX(dw_planes)(5, 1, g, r0, r1, planes, cps, crs, zero_row);
    else SFX(dw_planes)(5, 2, g, r0, r1, planes, cps, crs, zero_row);
}

// ck_planes_clear on this width, with vector stores (not a memset call for each pad pixel's few
// lanes). Lanes [lo, hi) of each plane are whole vectors but for a masked last one.
ATTR static void SFX(planes_clear)(float *planes, long cps, long crs, long rows, long w, long wp, long pad_left, long ch_begin,
                                   long ch_end, long c) {
    const long pw = DW_CH;
    for (long q = ch_begin / pw; q * pw < ch_end; q++) {
        const long lo = lmax(ch_begin, q * pw) - q * pw, hi = lmin(ch_end, (q + 1) * pw) - q * pw;
        // Past the last channel (c not a multiple of pw): lanes the masked tiles read, never store.
        const long hiz = ch_end == c && hi < pw ? pw : hi;
        float *plane = planes + q * cps;
        for (long r = 0; r < rows; r++) {
            float *row = plane + r * crs;
            for (long j = 0; j < wp; j++) {
                const int pad = j < pad_left || j >= pad_left + w;
                if (!pad && hiz == hi) { j = pad_left + w - 1; continue; }
                for (long l = pad ? lo : hi; l < hiz; l += VW) {
                    const long left = hiz - l;
                    if (left >= VW) V_STORE(row + j * pw + l, V_SET1(0));
                    else V_MSTORE(row + j * pw + l, V_MASK((int)left), V_SET1(0));
                }
            }
        }
    }
}

// ---------------------------------------------------------------- pointwise, small K

// R pixels × NV vectors of output channels from column j (the last vector masked by m when
// MASKED): per input channel, NV weight vectors and R broadcasts feed R·NV multiply-adds.
// Without PL, row r's vector v is stored at y + r·n + v·VW. With PL (planes, pw_run_planes): y
// is plane 0 at pixel 0 of the call, the tile's columns start at pj, and row r (pixel px0 + r of
// rows wrapw wide, crs floats apart) stores column pj + c at y + ((pj + c) / (2·VW))·cps + row·crs +
// col·2·VW + (pj + c) % (2·VW).
INL void SFX(pw_tile)(const int R, const int NV, const int MASKED, MT m, long k, long n, const float *x, const float *w,
                      const float *bias, const float *res, int act, float *y, const int PL, long px0, long wrapw, long crs, long cps,
                      long pj) {
    VT acc[PW_R][3];
    _Pragma("clang loop unroll(full)")
    for (int v = 0; v < NV; v++) {
        const VT b = (MASKED && v == NV - 1) ? V_MLOAD(m, bias + v * VW) : V_LOAD(bias + v * VW);
        _Pragma("clang loop unroll(full)")
        for (int r = 0; r < R; r++) acc[r][v] = b;
    }
    for (long i = 0; i < k; i++) {
        VT wv[3];
        _Pragma("clang loop unroll(full)")
        for (int v = 0; v < NV; v++) wv[v] = (MASKED && v == NV - 1) ? V_MLOAD(m, w + i * n + v * VW) : V_LOAD(w + i * n + v * VW);
        _Pragma("clang loop unroll(full)")
        for (int r = 0; r < R; r++) {
            const VT xb = V_SET1(x[r * k + i]);
            _Pragma("clang loop unroll(full)")
            for (int v = 0; v < NV; v++) acc[r][v] = V_FMA(xb, wv[v], acc[r][v]);
        }
    }
    float *yv[3];   // where vector v of row 0 (PL: of pixel 0 of the call) goes
    long yo[PW_R];  // row r's offset from it
    _Pragma("clang loop unroll(full)")
    for (int v = 0; v < NV; v++) yv[v] = PL ? y + ((pj + v * VW) / (2 * VW)) * cps + (pj + v * VW) % (2 * VW) : y + v * VW;
    {
        long rr = PL ? px0 / wrapw : 0, cc = PL ? px0 - rr * wrapw : 0;
        _Pragma("clang loop unroll(full)")
        for (int r = 0; r < R; r++) {
            yo[r] = PL ? rr * crs + cc * 2 * VW : r * n;
            if (PL && ++cc == wrapw) { cc = 0; rr++; }
        }
    }
    _Pragma("clang loop unroll(full)")
    for (int r = 0; r < R; r++)
        _Pragma("clang loop unroll(full)")
        for (int v = 0; v < NV; v++) {
            const int last = MASKED && v == NV - 1;
            VT a = acc[r][v];
            if (res) a = V_ADD(a, last ? V_MLOAD(m, res + r * n + v * VW) : V_LOAD(res + r * n + v * VW));
            a = V_ACT(a, act);
            if (last) V_MSTORE(yv[v] + yo[r], m, a); else V_STORE(yv[v] + yo[r], a);
        }
}

// R rows from p across all n columns: groups of 3 vectors, then the 1–3 vectors left (the last masked if partial).
// PL: y is planes (pw_tile), no residual.
INL void SFX(pw_rows)(const int R, long p, long k, long n, const float *x, const float *w, const float *bias, const float *res,
                      int act, float *y, const int PL, long wrapw, long crs, long cps) {
    const float *xp = x + p * k;
    const float *rp = res ? res + p * n : NULL;
    float *yp = PL ? y : y + p * n;
#define PWT(NV, MASKED, M)                                                                                \
    SFX(pw_tile)(R, NV, MASKED, M, k, n, xp, w + j, bias + j, rp ? rp + j : NULL, act, PL ? yp : yp + j, PL, p, wrapw, crs, cps, j)
    long j = 0;
    for (; j + 3 * VW <= n; j += 3 * VW) PWT(3, 0, V_FULL);
    const long rest = n - j;
    if (rest <= 0) return;
    const int nv = (int)((rest + VW - 1) / VW);
    const int partial = rest % VW != 0;
    const MT m = partial ? V_MASK((int)(rest % VW)) : V_FULL;
    if (nv == 1) {
        if (partial) PWT(1, 1, m);
        else PWT(1, 0, m);
    } else if (nv == 2) {
        if (partial) PWT(2, 1, m);
        else PWT(2, 0, m);
    } else {
        PWT(3, 1, m);
    }
#undef PWT
}

#if VW == 16
// n = 16q + 8 output channels (24, 40: the projections to 24 and 40 channels), AVX-512: one
// pixel's n outputs take q + 1 vectors with the last half empty; two pixels' 2n outputs, which
// are contiguous in y, take 2q + 1 full vectors. P pairs of pixels from p (2P rows): vectors
// 0..q−1 are the first pixel's channels [0, 16q) (its broadcast), vector q its channels
// [16q, n) and the second pixel's [0, 8) (the two broadcasts in the two halves), vectors q+1..2q
// the second pixel's [8, n). Weights: row i of W as it is, the middle vector shuffled from
// W[i][16q..n) and W[i][0..8). Each output still sums bias + Σ_i x·w in the order of pw_tile,
// one fused multiply-add per term: the same bits, with (2q+1)/(2q+2) of its multiply-adds.
INL void SFX(pw_pairs)(const int Q, const int P, long k, long n, const float *x, const float *w, const float *bias,
                       const float *res, int act, float *y) {
    enum { V = 2 * 2 + 1 };   // 2Q + 1 ≤ 5
    const __mmask16 lo8 = 0x00FF, hi8 = 0xFF00;
    VT bv[V];
    _Pragma("clang loop unroll(full)")
    for (int v = 0; v < Q; v++) { bv[v] = V_LOAD(bias + 16 * v); bv[Q + 1 + v] = V_LOAD(bias + 8 + 16 * v); }
    bv[Q] = _mm512_shuffle_f32x4(_mm512_maskz_loadu_ps(lo8, bias + 16 * Q), _mm512_loadu_ps(bias), 0x44);
    VT acc[4][V];
    _Pragma("clang loop unroll(full)")
    for (int r = 0; r < P; r++)
        _Pragma("clang loop unroll(full)")
        for (int v = 0; v < 2 * Q + 1; v++) acc[r][v] = bv[v];
    for (long i = 0; i < k; i++) {
        const float *wr = w + i * n;
        VT wv[V];
        _Pragma("clang loop unroll(full)")
        for (int v = 0; v < Q; v++) { wv[v] = V_LOAD(wr + 16 * v); wv[Q + 1 + v] = V_LOAD(wr + 8 + 16 * v); }
        wv[Q] = _mm512_shuffle_f32x4(_mm512_maskz_loadu_ps(lo8, wr + 16 * Q), _mm512_loadu_ps(wr), 0x44);
        _Pragma("clang loop unroll(full)")
        for (int r = 0; r < P; r++) {
            const VT x0 = V_SET1(x[(2 * r) * k + i]);
            const VT xm = _mm512_mask_broadcastss_ps(x0, hi8, _mm_load_ss(x + (2 * r + 1) * k + i));
            const VT x1 = V_SET1(x[(2 * r + 1) * k + i]);
            _Pragma("clang loop unroll(full)")
            for (int v = 0; v < Q; v++) acc[r][v] = V_FMA(x0, wv[v], acc[r][v]);
            acc[r][Q] = V_FMA(xm, wv[Q], acc[r][Q]);
            _Pragma("clang loop unroll(full)")
            for (int v = 0; v < Q; v++) acc[r][Q + 1 + v] = V_FMA(x1, wv[Q + 1 + v], acc[r][Q + 1 + v]);
        }
    }
    _Pragma("clang loop unroll(full)")
    for (int r = 0; r < P; r++)
        _Pragma("clang loop unroll(full)")
        for (int v = 0; v < 2 * Q + 1; v++) {
            VT a = acc[r][v];
            if (res) a = V_ADD(a, V_LOAD(res + 2 * r * n + 16 * v));
            V_STORE(y + 2 * r * n + 16 * v, V_ACT(a, act));
        }
}
#endif

// Tiles of PW_R pixels, or PW_R3 where the columns come in groups of three vectors: on AVX2's 16
// registers 4 pixels × 3 vectors (12 accumulators, 3 weight vectors, a broadcast: all 16) made clang
// spill an accumulator and shuffle the rest with moves every depth step — 3 × 3 runs twice as
// fast (C harness, one thread, Zen 4: 3136 × 24 × 144 52 → 109 GFLOP/s, 12544 × 96 × 16 72 →
// 111, 784 × 40 × 240 64 → 97); 2-vector groups keep 4 pixels (12544 × 16 × 32: 110 against 94).
// The same sums in the same order either way: the same bits.
ATTR static void SFX(pw_run)(long rows, long k, long n, const float *x, const float *w, const float *bias, const float *res,
                             int act, float *y) {
    long p = 0;
#if VW == 16
    if (n == 24 || n == 40) {
        // Pairs of pixels in full vectors (pw_pairs); an odd last row as one pixel.
        for (; p + 8 <= rows; p += 8) {
            const float *xp = x + p * k, *rp = res ? res + p * n : NULL;
            if (n == 24) SFX(pw_pairs)(1, 4, k, n, xp, w, bias, rp, act, y + p * n);
            else SFX(pw_pairs)(2, 4, k, n, xp, w, bias, rp, act, y + p * n);
        }
        for (; p + 2 <= rows; p += 2) {
            const float *xp = x + p * k, *rp = res ? res + p * n : NULL;
            if (n == 24) SFX(pw_pairs)(1, 1, k, n, xp, w, bias, rp, act, y + p * n);
            else SFX(pw_pairs)(2, 1, k, n, xp, w, bias, rp, act, y + p * n);
        }
        for (; p < rows; p++) SFX(pw_rows)(1, p, k, n, x, w, bias, res, act, y, 0, 0, 0, 0);
        return;
    }
#endif
    if (PW_R3 != PW_R && n >= 3 * VW)
        for (; p + PW_R3 <= rows; p += PW_R3) SFX(pw_rows)(PW_R3, p, k, n, x, w, bias, res, act, y, 0, 0, 0, 0);
    else
        for (; p + PW_R <= rows; p += PW_R) SFX(pw_rows)(PW_R, p, k, n, x, w, bias, res, act, y, 0, 0, 0, 0);
    for (; p < rows; p++) SFX(pw_rows)(1, p, k, n, x, w, bias, res, act, y, 0, 0, 0, 0);
}


// pw_run with y as planes (ck_pointwise_small_planes): `rows` image rows of wrapw pixels; output
// column j of pixel i at y + (j / (2·VW))·cps + (i / wrapw)·crs + (i % wrapw)·2·VW + j % (2·VW). The
// tiles of pw_run (but not its pairs of pixels: n = 24, 40 are projections, never planes); the same bits.
ATTR static void SFX(pw_run_planes)(long rows, long wrapw, long k, long n, const float *x, const float *w, const float *bias, int act,
                                    float *y, long cps, long crs) {
    const long m = rows * wrapw;
    long p = 0;
    if (PW_R3 != PW_R && n >= 3 * VW)
        for (; p + PW_R3 <= m; p += PW_R3) SFX(pw_rows)(PW_R3, p, k, n, x, w, bias, NULL, act, y, 1, wrapw, crs, cps);
    else
        for (; p + PW_R <= m; p += PW_R) SFX(pw_rows)(PW_R, p, k, n, x, w, bias, NULL, act, y, 1, wrapw, crs, cps);
    for (; p < m; p++) SFX(pw_rows)(1, p, k, n, x, w, bias, NULL, act, y, 1, wrapw, crs, cps);
}

// ---------------------------------------------------------------- 1×1 convolution: packed weights, A in place

// MR rows × one weight panel (2·VW columns, zero-padded past the matrix; only the first vector
// when NV = 1, for a panel with w ≤ VW columns) over depths [p0, p0 + kc). A is read where it is
// (row i at a + i·lda, one broadcast per row and depth; rows ≥ h repeat row h − 1 and are not
// stored), so nothing is packed per call. first: start from 0 (else from C); last: add bias and
// residual, apply the activation. w: columns of the panel to store. pf (or NULL): the same depths
// of the panel that comes next, prefetched one 64-byte line per vector of B as this tile reads it.
// Rows of a tile at most: GP_MR_MAX for two-vector panels, GP_MR1 for one-vector panels (AVX2:
// 8 rows of one vector, where 6 rows left six multiply-add chains for two FMA pipes of latency 4;
// 10 or 12 rows run out of general registers for the row addresses and were slower).
#define GP_ROWS_MAX (GP_MR_MAX > GP_MR1 ? GP_MR_MAX : GP_MR1)

INL void SFX(gp_tile)(const int MR, const int NV, const int PL, long p0, long kc, long h, const float *a, long lda, const float *bp,
                      long w, int first, int last, const float *bias, const float *res, long ldr, int act, float *c0, long ldc,
                      const float *pf, long px0, long wrapw, long crs) {
    VT acc[GP_ROWS_MAX][2];
    const float *ar[GP_ROWS_MAX];
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < MR; i++) ar[i] = a + (i < h ? i : h - 1) * lda + p0;
    // Row i of the tile is stored at C(i): c0 + i·ldc, or with PL (planes) at pixel px0 + i of rows
    // wrapw pixels wide, crs floats apart (c0: pixel 0 of the call).
    float *cr[GP_ROWS_MAX];
#define C(i) cr[i]
#define C_ROWS()                                                                       \
    do {                                                                               \
        long rr = PL ? px0 / wrapw : 0, cc = PL ? px0 - rr * wrapw : 0;                \
        _Pragma("clang loop unroll(full)")                                             \
        for (int i = 0; i < MR; i++) {                                                 \
            cr[i] = PL ? c0 + rr * crs + cc * ldc : c0 + i * ldc;                      \
            if (PL && ++cc == wrapw) { cc = 0; rr++; }                                 \
        }                                                                              \
    } while (0)
    if (!first) C_ROWS();
    const MT m0 = w >= VW ? V_FULL : V_MASK((int)w);
    const MT m1 = w >= 2 * VW ? V_FULL : V_MASK((int)(w > VW ? w - VW : 0));
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < MR; i++) {
        if (first || i >= h) {
            acc[i][0] = V_SET1(0);
            if (NV == 2) acc[i][1] = V_SET1(0);
        } else {
            acc[i][0] = V_MLOAD(m0, C(i));
            if (NV == 2) acc[i][1] = V_MLOAD(m1, C(i) + VW);
        }
    }
    const float *b = bp + p0 * 2 * VW;
    for (long p = 0; p < kc; p++) {
        if (pf) {
            _mm_prefetch((const char *)(pf + p * 2 * VW), _MM_HINT_T0);
            if (2 * VW > 16) _mm_prefetch((const char *)(pf + p * 2 * VW + 16), _MM_HINT_T0);
        }
        const VT b0 = V_LOAD(b + p * 2 * VW), b1 = NV == 2 ? V_LOAD(b + p * 2 * VW + VW) : b0;
        _Pragma("clang loop unroll(full)")
        for (int i = 0; i < MR; i++) {
            const VT av = V_SET1(ar[i][p]);
            acc[i][0] = V_FMA(av, b0, acc[i][0]);
            if (NV == 2) acc[i][1] = V_FMA(av, b1, acc[i][1]);
        }
    }
    if (first) C_ROWS();
    if (NV == 2 && h == MR && w == 2 * VW) {
        // A whole tile: straight-line stores, the accumulators stay in registers.
        const VT bv0 = (last && bias) ? V_LOAD(bias) : V_SET1(0), bv1 = (last && bias) ? V_LOAD(bias + VW) : V_SET1(0);
        _Pragma("clang loop unroll(full)")
        for (int i = 0; i < MR; i++) {
            VT x0 = acc[i][0], x1 = acc[i][1];
            if (last) {
                x0 = V_ADD(x0, bv0);
                x1 = V_ADD(x1, bv1);
                if (res) {
                    x0 = V_ADD(x0, V_LOAD(res + i * ldr));
                    x1 = V_ADD(x1, V_LOAD(res + i * ldr + VW));
                }
                x0 = V_ACT(x0, act);
                x1 = V_ACT(x1, act);
            }
            V_STORE(C(i), x0);
            V_STORE(C(i) + VW, x1);
        }
        return;
    }
    _Pragma("clang loop unroll(full)")
    for (int v = 0; v < NV; v++) {
        if (w <= v * VW) continue;
        const MT m = v == 0 ? m0 : m1;
        const VT bv = (last && bias) ? V_MLOAD(m, bias + v * VW) : V_SET1(0);
        _Pragma("clang loop unroll(full)")
        for (int i = 0; i < MR; i++) {
            if (i >= h) continue;
            VT x = acc[i][v];
            if (last) {
                if (bias) x = V_ADD(x, bv);
                if (res) x = V_ADD(x, V_MLOAD(m, res + i * ldr + v * VW));
                x = V_ACT(x, act);
            }
            V_MSTORE(C(i) + v * VW, m, x);
        }
    }
}
#undef C
#undef C_ROWS

// C[m × n] = act(A[m × k] · B + bias (+ R)), B packed in panels of 2·VW columns (ck_pack_b of
// this path, panel stride pstride). Depth in slices of 256 (a slice of a panel, 32 KB at most,
// stays in L1 while the rows of a block pass), rows in blocks of 8 tiles, panels in between.
// With PL (planes, ck_pointwise_packed_planes): C is planes, the m rows of A are pixels of rows
// wrapw wide, output column j of pixel i at c + (j / (2·VW))·cps + (i / wrapw)·crs + (i % wrapw)·ldc
// + j % (2·VW) (ldc = 2·VW); the tiles are the same, only where they store changes.
INL void SFX(gp_drive)(const int PL, long m, long n, long k, const float *a, long lda, const float *packed, long pstride,
                       const float *bias, const float *res, long ldr, int act, float *c, long ldc, long wrapw, long crs, long cps) {
    const long nr = 2 * VW, mb = 8 * GP_MR, stretch = GP_TAIL5 ? GP_MR : GP_MR_MAX - GP_MR;
    for (long i0 = 0, ie; i0 < m; i0 = ie) {
        ie = m - i0 <= mb + stretch ? m : lmin(m, i0 + mb);
        for (long p0 = 0; p0 < k || p0 == 0; p0 += 256) {
            const long kc = lmin(256, k - p0);
            const int first = p0 == 0, last = p0 + 256 >= k;
            for (long j = 0; j < n; j += nr) {
                const float *bp = packed + (j / nr) * pstride;
                const long w = lmin(nr, n - j);
                for (long i = i0, h; i < ie; i += h) {
                    const float *bj = bias ? bias + j : NULL, *rj = res ? res + i * ldr + j : NULL;
                    h = lmin(GP_MR, ie - i);
                    if (GP_TAIL5) {
                        // The block's last 7 to 13 rows (GP_MR = 6) in tiles of 4 and 5 (GP_TAIL5 above).
                        const long left = ie - i;
                        if (left == 7 || left == 8) h = 4;
                        else if (left == 9 || left == 10 || left == 13) h = 5;
                    }
                    // The last tile of rows runs a third, two thirds or all of GP_MR rows,
                    // whichever covers it; on AVX-512 one or two rows left over after a whole
                    // tile are run with it, in a tile of 13 or 14 rows (28 of the 32 registers
                    // accumulate), and a block stretches by those rows to the end. 49 rows (a
                    // 7×7 map at batch 1) cost 49 rows' work, not 52 (12 + 12 + 12 + 4) or 60;
                    // the 7×7 GEMMs in the harness: 237–241 → 252–258 GFLOP/s.
                    // The first tile of a block prefetches what the block reads next: the next
                    // panel's slice, or after the last panel the first panel's next slice. At
                    // batch 1 the weights come from L3 or DRAM once per image; without this the
                    // first row tile of every panel waits on them (a 7×7 expand, 17 MB of weights
                    // cycled: 63-69 → 52-59 µs; weights in L3: unchanged).
                    const float *pf = i != i0 ? NULL
                        : j + nr < n ? packed + (j / nr + 1) * pstride + p0 * nr
                        : p0 + 256 < k ? packed + (p0 + 256) * nr : NULL;
#define GP_TILE(MRV, NVV)                                                                                                   \
    SFX(gp_tile)(MRV, NVV, PL, p0, kc, h, a + i * lda, lda, bp, w, first, last, bj, rj, ldr, act,                           \
                 PL ? c + (j / nr) * cps : c + i * ldc + j, ldc, pf, i, wrapw, crs)
#define GP_TILES(NVV)                                              \
    do {                                                           \
        if (GP_MR_MAX >= GP_MR + 2 && ie - i == GP_MR + 2) {       \
            h = GP_MR + 2;                                         \
            GP_TILE(GP_MR_MAX >= GP_MR + 2 ? GP_MR + 2 : GP_MR, NVV); \
        } else if (GP_MR_MAX >= GP_MR + 1 && ie - i == GP_MR + 1) { \
            h = GP_MR + 1;                                         \
            GP_TILE(GP_MR_MAX >= GP_MR + 1 ? GP_MR + 1 : GP_MR, NVV); \
        }                                                          \
        else if (GP_TAIL5 && h == GP_MR - 1) GP_TILE(GP_TAIL5 ? GP_MR - 1 : GP_MR, NVV); \
        else if (h > 2 * (GP_MR / 3)) GP_TILE(GP_MR, NVV);         \
        else if (h > GP_MR / 3) GP_TILE(2 * (GP_MR / 3), NVV);     \
        else GP_TILE(GP_MR / 3, NVV);                              \
    } while (0)
                    if (w > VW) GP_TILES(2);
                    else if (GP_MR1 != GP_MR) {
                        // One vector of columns (AVX2: n = 24 or 40, the projections' last panel): a
                        // tile of GP_MR1 rows (`bench gemm --pointwise`, Zen 5: 3136 × 24 × 96 and
                        // × 144 0.124–0.126 → 0.114–0.119 and 0.195 → 0.179–0.186 ms; 784 × 40 × 144
                        // and × 240 4–8 % faster). AVX-512 keeps GP_MR: 8 rows there measured the same.
                        h = lmin(GP_MR1, ie - i);
                        if (h > 2 * (GP_MR1 / 3)) GP_TILE(GP_MR1, 1);
                        else if (h > GP_MR1 / 3) GP_TILE(2 * (GP_MR1 / 3), 1);
                        else GP_TILE(GP_MR1 / 3, 1);
                    } else GP_TILES(1);
#undef GP_TILES
#undef GP_TILE
                }
            }
            if (k <= 0) break;
        }
    }
}

ATTR static void SFX(gp_run)(long m, long n, long k, const float *a, long lda, const float *packed, long pstride,
                             const float *bias, const float *res, long ldr, int act, float *c, long ldc) {
    SFX(gp_drive)(0, m, n, k, a, lda, packed, pstride, bias, res, ldr, act, c, ldc, 0, 0, 0);
}

ATTR static void SFX(gp_run_planes)(long rows, long w, long n, long k, const float *a, long lda, const float *packed, long pstride,
                                    const float *bias, int act, float *c, long cps, long crs) {
    SFX(gp_drive)(1, rows * w, n, k, a, lda, packed, pstride, bias, NULL, 0, act, c, 2 * VW, w, crs, cps);
}

// ---------------------------------------------------------------- dense conv on planar input (the stem)

// P ≤ CP_P pixels × output channels [j, j + 2·VW) (the lanes of m0, m1; two: the second vector
// is used; two == 2: both vectors whole, the masks not needed), T taps: tap t's input for pixel i
// at tp[t][i · ps] (in the image, or a zero-padded patch); weights w[t · out + j]. Stores the first
// np pixels, ys floats apart. Called with P and ps constant where they can be: with a run-time
// stride the P broadcast addresses took P registers and the compiler spilled accumulators to the
// stack (the stem ran at 108 GFLOP/s).
INL void SFX(cp_tile)(const int P, long T, const float *const *tp, long ps, const float *w, long out, MT m0, MT m1, const int two,
                      const float *bias, int act, float *y, long ys, long np) {
    VT acc[CP_P][2];
    const VT b0 = two == 2 ? V_LOAD(bias) : V_MLOAD(m0, bias);
    const VT b1 = two == 2 ? V_LOAD(bias + VW) : two ? V_MLOAD(m1, bias + VW) : V_SET1(0);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < P; i++) { acc[i][0] = b0; acc[i][1] = b1; }
    for (long t = 0; t < T; t++) {
        const float *q = tp[t];
        // All lanes (two == 2): plain loads. AVX2's masked load (vmaskmovps) is slow on AMD: with it
        // in this loop the stem ran at 47 GFLOP/s on Zen 4 (C harness, 224² image, one thread), 78 without.
        const VT w0 = two == 2 ? V_LOAD(w + t * out) : V_MLOAD(m0, w + t * out);
        const VT w1 = two == 2 ? V_LOAD(w + t * out + VW) : two ? V_MLOAD(m1, w + t * out + VW) : V_SET1(0);
        _Pragma("clang loop unroll(full)")
        for (int i = 0; i < P; i++) {
            const VT v = V_SET1(q[i * ps]);
            acc[i][0] = V_FMA(v, w0, acc[i][0]);
            if (two) acc[i][1] = V_FMA(v, w1, acc[i][1]);
        }
    }
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < P; i++) {
        if (i >= np) continue;
        V_MSTORE(y + i * ys, m0, V_ACT(acc[i][0], act));
        if (two) V_MSTORE(y + i * ys + VW, m1, V_ACT(acc[i][1], act));
    }
}

// cps > 0: y is planes (ck_conv_planar_planes): output channel j of pixel p goes to y + (j / (2·VW))·cps +
// ((p − y_origin) / ow)·crs + (p % ow)·2·VW + j % (2·VW), y_origin a row's first pixel.
ATTR static void SFX(cp_run)(const float *x, long h, long w, long cin, long k, long s, long pad_top, long pad_left, long oh, long ow,
                             const float *wt, long out, const float *bias, int act, float *y, long y_origin, long p0, long p1,
                             long cps, long crs) {
    const long T = cin * k * k;
    const float *tp[CP_MAX_TAPS];
    float patch[CP_MAX_TAPS * CP_P] = {0};   // entries past a border tile's pixels are read, never stored
    long p = p0;
    while (p < p1) {
        const long img = p / (oh * ow), rem = p - img * oh * ow;
        const long oy = rem / ow, ox = rem - oy * ow;
        const long np = lmin(CP_P, lmin(ow - ox, p1 - p));   // pixels of this tile, all in one row
        const long iy0 = oy * s - pad_top, ix0 = ox * s - pad_left;
        const float *planes = x + img * cin * h * w;
        if (ox == 0 && oy + 2 < oh) {
            // At a row's start, prefetch the input rows that output row oy + 2 reads first (the
            // stride's new rows, every plane): the network's input comes from DRAM, and the
            // hardware prefetchers do not follow cin · k rows at once (the 224² stem, cold
            // input, one thread: 220 → 172 µs).
            const long ny = oy + 2;
            for (long ch = 0; ch < cin; ch++)
                for (long r = lmax(0, ny * s - pad_top + k - s); r < lmin(h, ny * s - pad_top + k); r++)
                    for (long c0 = 0; c0 < w; c0 += 64 / (long)sizeof(float))
                        _mm_prefetch((const char *)(planes + (ch * h + r) * w + c0), _MM_HINT_T0);
        }
        const int inside = np == CP_P && iy0 >= 0 && iy0 + k <= h && ix0 >= 0 && ix0 + (CP_P - 1) * s + k <= w;
        long ps;
        if (inside) {
            long t = 0;
            for (long ch = 0; ch < cin; ch++)
                for (long kh = 0; kh < k; kh++)
                    for (long kw = 0; kw < k; kw++) tp[t++] = planes + (ch * h + iy0 + kh) * w + ix0 + kw;
            ps = s;
        } else {
            long t = 0;
            for (long ch = 0; ch < cin; ch++)
                for (long kh = 0; kh < k; kh++)
                    for (long kw = 0; kw < k; kw++, t++) {
                        float *d = patch + t * CP_P;
                        const long iy = iy0 + kh;
                        // Only the np pixels stored (the tile runs at most a third more, never read).
                        for (long i = 0; i < np; i++) {
                            const long ix = ix0 + i * s + kw;
                            d[i] = iy >= 0 && iy < h && ix >= 0 && ix < w ? planes[(ch * h + iy) * w + ix] : 0.0f;
                        }
                        tp[t] = d;
                    }
            ps = 1;
        }
        float *yp = cps > 0 ? y + ((p - y_origin) / ow) * crs + ox * 2 * VW : y + (p - y_origin) * out;
        const long ys = cps > 0 ? 2 * VW : out;
        for (long j = 0; j < out; j += 2 * VW) {
            float *yj = cps > 0 ? yp + (j / (2 * VW)) * cps : yp + j;
            const long cols = out - j;
            const MT m0 = cols >= VW ? V_FULL : V_MASK((int)cols);
            const int two = cols > VW;
            const MT m1 = cols >= 2 * VW ? V_FULL : V_MASK((int)(two ? cols - VW : 0));
            if (!two) SFX(cp_tile)(CP_P, T, tp, ps, wt + j, out, m0, m1, 0, bias + j, act, yj, ys, np);
            else if (ps == 2 && cols >= 2 * VW) SFX(cp_tile)(CP_P, T, tp, 2, wt + j, out, m0, m1, 2, bias + j, act, yj, ys, np);
            else if (ps == 2) SFX(cp_tile)(CP_P, T, tp, 2, wt + j, out, m0, m1, 1, bias + j, act, yj, ys, np);
            else if (ps != 1) SFX(cp_tile)(CP_P, T, tp, ps, wt + j, out, m0, m1, 1, bias + j, act, yj, ys, np);
            // A border tile (a zero-padded patch, stride 1): a third, two thirds or all of CP_P pixels.
            else if (np > 2 * (CP_P / 3)) SFX(cp_tile)(CP_P, T, tp, 1, wt + j, out, m0, m1, 1, bias + j, act, yj, ys, np);
            else if (np > CP_P / 3) SFX(cp_tile)(2 * (CP_P / 3), T, tp, 1, wt + j, out, m0, m1, 1, bias + j, act, yj, ys, np);
            else SFX(cp_tile)(CP_P / 3, T, tp, 1, wt + j, out, m0, m1, 1, bias + j, act, yj, ys, np);
        }
        p += np;
    }
}

#undef INL

// The width's parameters end with it (the next width defines its own).
#undef VT
#undef MT
#undef VW
#undef PW_R
#undef PW_R3
#undef DWP_N
#undef GP_MR
#undef GP_MR_MAX
#undef GP_MR1
#undef GP_TAIL5
#undef CP_P
#undef ATTR
#undef SFX
#undef V_LOAD
#undef V_MLOAD
#undef V_STORE
#undef V_MSTORE
#undef V_SET1
#undef V_FMA
#undef V_ADD
#undef V_ACT
#undef V_MASK
#undef V_FULL
