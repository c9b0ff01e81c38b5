// Single-channel 3×3 convolutions: the three products of a convolution with
// one input channel, kernel 3, padding 1 and stride 1 or 2, on maps whose
// output rows are one, two or four whole vectors (FSVAE's encoder.0, 1→32 at
// stride 2, and final_layer.1, the 32→1 stride-1 transposed convolution seen
// from its conv side). Compiled once per instruction set with kernels.cc.
//
// Why a family of its own: with one input channel a convolution does 9
// multiply-adds per output value, so the general kernels' per-image set-up
// (padded or phase-split copies of the input, tap-offset tables, partial
// vector stores) cost more than the arithmetic; they ran at 12-31 % of the
// FMA peak here. In this file every row is turned into its three column
// variants with register shuffles (the values under taps kw = 0, 1, 2 for a
// vector of outputs: at stride 1 the row shifted by one lane either way, at
// stride 2 its odd columns shifted, its even and its odd columns) and used for
// every output channel, with the geometry fixed at compile time so the tiles
// stay in registers.
//
// Sums run in a fixed order whatever the thread count: each output value of
// the forward and input-gradient kernels belongs to one task; the weight
// gradient adds images in fixed groups (float32 vector sums within a group,
// float64 across lanes and groups), as rowdot_weight_small does.
#include <algorithm>
#include <utility>

#include "common.h"
#include "smallconv.h"
#include "vec.h"

namespace spv {
namespace SPV_ISA {

namespace {

constexpr auto kLanes = std::make_index_sequence<V>{};
constexpr vi kEven = affine_lanes(0, 2, kLanes);      // a0 a2 … b0 b2 …: even columns of 2V
constexpr vi kOdd = affine_lanes(1, 2, kLanes);       // odd columns of 2V
constexpr vi kBack = affine_lanes(V - 1, 1, kLanes);  // a(V-1) b0 … b(V-2): b one lane later
constexpr vi kAhead = affine_lanes(1, 1, kLanes);     // a1 … a(V-1) b0: a one lane earlier
constexpr vi kZipLow = zip_lanes(0, kLanes);          // a0 b0 a1 b1 …
constexpr vi kZipHigh = zip_lanes(V / 2, kLanes);     // the upper halves interleaved

// The three column variants of one input row for NV vectors of outputs:
// out[kw][k] holds, for outputs k·V … k·V+V-1, the input under tap kw
// (column S·ow − 1 + kw, zero outside the row). row == nullptr: a padding row.
template <int S, int NV>
inline void row_variants(const float* row, vf out[3][NV]) {
  if (!row) {
    for (int kw = 0; kw < 3; kw++)
      for (int k = 0; k < NV; k++) out[kw][k] = vf{};
    return;
  }
  if constexpr (S == 1) {
    vf c[NV];
    for (int k = 0; k < NV; k++) c[k] = loadu(row + k * V);
    for (int k = 0; k < NV; k++) {
      out[0][k] = shuffle(k > 0 ? c[k - 1] : vf{}, c[k], kBack);
      out[1][k] = c[k];
      out[2][k] = shuffle(c[k], k + 1 < NV ? c[k + 1] : vf{}, kAhead);
    }
  } else {
    vf odd[NV];
    for (int k = 0; k < NV; k++) {
      const vf a = loadu(row + 2 * k * V), b = loadu(row + 2 * k * V + V);
      out[1][k] = shuffle(a, b, kEven);
      odd[k] = shuffle(a, b, kOdd);
    }
    for (int k = 0; k < NV; k++) {
      out[0][k] = shuffle(k > 0 ? odd[k - 1] : vf{}, odd[k], kBack);
      out[2][k] = odd[k];
    }
  }
}

// The row variants of a whole image, padded row pr (input row pr − 1, rows −1
// and H zero) at dst + pr·3·NV: [kw][vector]. A tap (kh, kw) of output row
// oh is then dst[((oh·S + kh)·3 + kw)·NV + k].
template <int S, int NV>
inline void image_variants(const Geo& g, const float* img, vf* dst) {
  for (int64_t pr = 0; pr < g.H + 2; pr++) {
    vf var[3][NV];
    row_variants<S, NV>(pr >= 1 && pr <= g.H ? img + (pr - 1) * g.W : nullptr, var);
    for (int kw = 0; kw < 3; kw++)
      for (int k = 0; k < NV; k++) dst[(pr * 3 + kw) * NV + k] = var[kw][k];
  }
}

// ---- forward: y[n, o] = bias[o] + Σ_taps w[o, tap] · x[n] under the tap ----
//
// Per image: its row variants to scratch (6.5-13 KiB for MNIST), then
// channel tiles outermost, each writing its planes row block after row
// block. (All channels of one row at a time, the first version, put 32
// stores 4 KiB apart into one L1 set at 32×32 maps: final_layer.1's input
// gradient ran at half the speed.) A tile is RB output rows × OB channels × NV vectors; xv:
// the variants from the tile's first row on, wp: its packed weights.
template <int S, int NV, int OB, int RB>
__attribute__((always_inline)) inline void forward_tile(const vf* xv, const float* wp, float* y, int64_t ow,
                                                        int64_t plane) {
  vf acc[RB][OB][NV];
#pragma GCC unroll 16
  for (int j = 0; j < OB; j++) {
    const vf b = vf{} + wp[9 * OB + j];
#pragma GCC unroll 4
    for (int rr = 0; rr < RB; rr++)
#pragma GCC unroll 4
      for (int k = 0; k < NV; k++) acc[rr][j][k] = b;
  }
#pragma GCC unroll 9
  for (int tap = 0; tap < 9; tap++) {
    vf x[RB][NV];
#pragma GCC unroll 4
    for (int rr = 0; rr < RB; rr++)
#pragma GCC unroll 4
      for (int k = 0; k < NV; k++) x[rr][k] = xv[rr * S * 3 * NV + tap * NV + k];
#pragma GCC unroll 16
    for (int j = 0; j < OB; j++) {
      const vf wv = vf{} + wp[tap * OB + j];
#pragma GCC unroll 4
      for (int rr = 0; rr < RB; rr++)
#pragma GCC unroll 4
        for (int k = 0; k < NV; k++) acc[rr][j][k] += x[rr][k] * wv;
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < OB; j++)
#pragma GCC unroll 4
    for (int rr = 0; rr < RB; rr++)
#pragma GCC unroll 4
      for (int k = 0; k < NV; k++) storeu(y + j * plane + rr * ow + k * V, acc[rr][j][k]);
}

// Weights and biases of OB consecutive output channels, packed tap-major
// ([tap][j], then the biases) so a tile's broadcasts are constant offsets
// from one pointer.
template <int OB>
void pack_forward_weights(const float* w, const float* bias, int64_t o0, int64_t ob, float* wp) {
  for (int64_t j = 0; j < ob; j++) {
    for (int tap = 0; tap < 9; tap++) wp[tap * OB + j] = w[(o0 + j) * 9 + tap];
    wp[9 * OB + j] = bias ? bias[o0 + j] : 0.f;
  }
}

template <int S, int NV>
void forward(const Ctx& ctx, const Geo& g, const float* x, const float* w, const float* bias, float* y) {
  // A tile: OB channels × RB rows × NV vectors of accumulators, half the
  // vector registers (16 of AVX-512's 32, 8 of AVX2's 16), each weight
  // broadcast once for RB rows.
  constexpr int ACC = V == 16 ? 16 : 8;
  constexpr int OB = NV == 4 ? 2 : 4;
  constexpr int RB = std::max(1, ACC / (OB * NV));
  constexpr int TILE = 10 * OB;  // packed floats per tile
  const int64_t plane = g.OH * g.OW;
  const int64_t full = g.O / OB, tail = g.O % OB;
  scratch_vector<float> wp((size_t)((full + tail) * TILE));
  for (int64_t t = 0; t < full; t++) pack_forward_weights<OB>(w, bias, t * OB, OB, wp.data() + t * TILE);
  for (int64_t t = 0; t < tail; t++)
    pack_forward_weights<1>(w, bias, full * OB + t, 1, wp.data() + full * TILE + t * 10);
  ctx.parallel_for(g.batch, [&](int64_t b, int64_t e) {
    scratch_vector<vf> variants((size_t)((g.H + 2) * 3 * NV));
    for (int64_t n = b; n < e; n++) {
      image_variants<S, NV>(g, x + n * g.H * g.W, variants.data());
      float* out = y + n * g.O * plane;
      for (int64_t t = 0; t < full + tail; t++) {
        const bool whole = t < full;
        const float* wt = wp.data() + (whole ? t * TILE : full * TILE + (t - full) * 10);
        float* ot = out + (whole ? t * OB : full * OB + (t - full)) * plane;
        int64_t oh = 0;
        if (whole) {
          for (; oh + RB <= g.OH; oh += RB)
            forward_tile<S, NV, OB, RB>(variants.data() + oh * S * 3 * NV, wt, ot + oh * g.OW, g.OW, plane);
          for (; oh < g.OH; oh++)
            forward_tile<S, NV, OB, 1>(variants.data() + oh * S * 3 * NV, wt, ot + oh * g.OW, g.OW, plane);
        } else {
          for (; oh < g.OH; oh++)
            forward_tile<S, NV, 1, 1>(variants.data() + oh * S * 3 * NV, wt, ot + oh * g.OW, g.OW, plane);
        }
      }
    }
  });
}

// The input-gradient kernels' outer loop: body(gy of image n, gx of image n)
// for every image, images split over the threads.
template <class Body>
inline void for_each_image(const Ctx& ctx, const Geo& g, const float* gy, float* gx, Body body) {
  ctx.parallel_for(g.batch, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; n++) body(gy + n * g.O * g.OH * g.OW, gx + n * g.H * g.W);
  });
}

// ---- input gradient, stride 2: gx[n] = Σ_o the transposed convolution of gy[n, o] ----
//
// Output pixel (2i + φh, 2j + φw) takes gy row i (and i + 1 for φh = 1) at
// column j (and j + 1 for φw = 1). A tile holds the four phases of IB
// consecutive i, the (odd, odd) phase in two accumulators (with its four taps
// in one, the kernel took 0.063-0.065 instead of 0.051-0.055 ms on one
// thread at 64 images); the even and odd columns are interleaved into the
// rows at the end. Edge: some of the tile's gy rows lie
// below the map (a template argument, so the channel loop has no such test).
constexpr int kS2Phases = 5;  // (even row, even col), (even, odd), (odd, even), (odd, odd) × 2

template <int NV, int IB, bool Edge>
inline void s2_channels(const Geo& g, const float* gimg, int64_t i0, const float* w, vf (&acc)[IB][kS2Phases][NV]) {
  const int64_t plane = g.OH * g.OW;
  const int64_t rows = std::min<int64_t>(IB + 1, g.OH - i0);  // gy rows of the tile inside the map
  for (int64_t o = 0; o < g.O; o++) {
    const float* wo = w + o * 9;
    const float* gp = gimg + o * plane + i0 * g.OW;
    vf cur[IB + 1][NV], next[IB + 1][NV];  // gy row i0 + r at column j, and at j + 1
#pragma GCC unroll 16
    for (int r = 0; r <= IB; r++)
#pragma GCC unroll 4
      for (int k = 0; k < NV; k++) {
        cur[r][k] = (Edge && r >= rows) ? vf{} : loadu(gp + r * g.OW + k * V);
      }
#pragma GCC unroll 16
    for (int r = 0; r <= IB; r++)
#pragma GCC unroll 4
      for (int k = 0; k < NV; k++) next[r][k] = shuffle(cur[r][k], k + 1 < NV ? cur[r][k + 1] : vf{}, kAhead);
#pragma GCC unroll 16
    for (int r = 0; r < IB; r++)
#pragma GCC unroll 4
      for (int k = 0; k < NV; k++) {
        acc[r][0][k] += cur[r][k] * wo[4];
        acc[r][1][k] += cur[r][k] * wo[5];
        acc[r][1][k] += next[r][k] * wo[3];
        acc[r][2][k] += cur[r][k] * wo[7];
        acc[r][2][k] += cur[r + 1][k] * wo[1];
        acc[r][3][k] += cur[r][k] * wo[8];
        acc[r][3][k] += next[r][k] * wo[6];
        acc[r][4][k] += cur[r + 1][k] * wo[2];
        acc[r][4][k] += next[r + 1][k] * wo[0];
      }
  }
}

template <int NV, int IB>
void backward_data_s2(const Ctx& ctx, const Geo& g, const float* gy, const float* w, float* gx, bool accumulate) {
  for_each_image(ctx, g, gy, gx, [&](const float* gimg, float* ximg) {
    for (int64_t i0 = 0; i0 < g.OH; i0 += IB) {
      vf acc[IB][kS2Phases][NV];
      for (int r = 0; r < IB; r++)
        for (int p = 0; p < kS2Phases; p++)
          for (int k = 0; k < NV; k++) acc[r][p][k] = vf{};
      if (i0 + IB < g.OH)
        s2_channels<NV, IB, false>(g, gimg, i0, w, acc);
      else
        s2_channels<NV, IB, true>(g, gimg, i0, w, acc);
      for (int r = 0; r < IB && i0 + r < g.OH; r++)
        for (int half = 0; half < 2; half++) {
          float* row = ximg + (2 * (i0 + r) + half) * g.W;
          for (int k = 0; k < NV; k++) {
            const vf even = acc[r][2 * half][k];
            const vf odd = half ? acc[r][3][k] + acc[r][4][k] : acc[r][1][k];
            vf lo = shuffle(even, odd, kZipLow), hi = shuffle(even, odd, kZipHigh);
            if (accumulate) lo += loadu(row + 2 * k * V), hi += loadu(row + 2 * k * V + V);
            storeu(row + 2 * k * V, lo);
            storeu(row + 2 * k * V + V, hi);
          }
        }
    }
  });
}

// ---- input gradient, stride 1: gx[n](y, x) = Σ_o Σ_taps w[o, kh, kw] · gy[n, o](y + 1 − kh, x + 1 − kw) ----
//
// A tile of IB output rows reads gy rows y0 − 1 … y0 + IB; each row's three
// column variants feed the (up to three) output rows it touches. Edge: some
// of those rows lie outside the map (the first and last tiles).
template <int NV, int IB, bool Edge>
inline void s1_channels(const Geo& g, const float* gimg, int64_t y0, const float* w, vf (&acc)[IB][NV]) {
  const int64_t plane = g.OH * g.OW;
  for (int64_t o = 0; o < g.O; o++) {
    const float* wo = w + o * 9;
    const float* gp = gimg + o * plane;
#pragma GCC unroll 16
    for (int r = 0; r < IB + 2; r++) {
      const int64_t row = y0 - 1 + r;
      vf var[3][NV];  // columns x − 1, x, x + 1 of gy row `row`
      row_variants<1, NV>(!Edge || (row >= 0 && row < g.OH) ? gp + row * g.OW : nullptr, var);
#pragma GCC unroll 3
      for (int kh = 0; kh < 3; kh++) {
        const int t = r - 2 + kh;  // the output row this gy row reaches through tap kh
        if (t < 0 || t >= IB) continue;
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; kw++)
#pragma GCC unroll 4
          for (int k = 0; k < NV; k++) acc[t][k] += var[2 - kw][k] * wo[kh * 3 + kw];
      }
    }
  }
}

template <int NV, int IB>
void backward_data_s1(const Ctx& ctx, const Geo& g, const float* gy, const float* w, float* gx, bool accumulate) {
  for_each_image(ctx, g, gy, gx, [&](const float* gimg, float* ximg) {
    for (int64_t y0 = 0; y0 < g.H; y0 += IB) {
      vf acc[IB][NV];
      for (int t = 0; t < IB; t++)
        for (int k = 0; k < NV; k++) acc[t][k] = vf{};
      if (y0 > 0 && y0 + IB < g.OH)
        s1_channels<NV, IB, false>(g, gimg, y0, w, acc);
      else
        s1_channels<NV, IB, true>(g, gimg, y0, w, acc);
      for (int t = 0; t < IB && y0 + t < g.H; t++) {
        float* row = ximg + (y0 + t) * g.W;
        for (int k = 0; k < NV; k++) storeu(row + k * V, accumulate ? acc[t][k] + loadu(row + k * V) : acc[t][k]);
      }
    }
  });
}

// ---- weight gradient: gw[o, kh, kw] (+)= Σ_n Σ_(oh, ow) gy[n, o](oh, ow) · x[n] under tap (kh, kw) ----
//
// Images in fixed groups (weight_gradient_groups), one task per group. For
// each image the task writes the row variants (every padded input row: three
// columns × NV vectors, a few KiB) to scratch, then walks the image's gy
// planes in order, output channels in pairs and one output-vector
// slot at a time, with the pair's 9 × 2 vector sums in registers; the sums
// live in a per-task array between images. Reading gy image by image keeps
// its reads sequential (channel pairs outermost jumped 32 KiB every plane and
// waited on memory).
template <int S, int NV, int OB>
inline void weight_tile(const Geo& g, const float* gp, const vf* xv, vf* sums) {
  const int64_t plane = g.OH * g.OW;
  vf acc[OB][9];
#pragma GCC unroll 4
  for (int j = 0; j < OB; j++)
#pragma GCC unroll 9
    for (int r = 0; r < 9; r++) acc[j][r] = sums[j * 9 * NV + r * NV];
  for (int64_t oh = 0; oh < g.OH; oh++) {
    vf gv[OB];
#pragma GCC unroll 4
    for (int j = 0; j < OB; j++) gv[j] = loadu(gp + j * plane + oh * g.OW);
    const vf* rows = xv + (oh * S) * 3 * NV;  // padded row oh·S = input row oh·S − 1
#pragma GCC unroll 9
    for (int r = 0; r < 9; r++) {
      const vf xk = rows[r * NV];
#pragma GCC unroll 4
      for (int j = 0; j < OB; j++) acc[j][r] += gv[j] * xk;
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < OB; j++)
#pragma GCC unroll 9
    for (int r = 0; r < 9; r++) sums[j * 9 * NV + r * NV] = acc[j][r];
}

template <int S, int NV>
void backward_weight(const Ctx& ctx, const Geo& g, const float* x, const float* gy, float* gw, bool accumulate) {
  constexpr int OB = 2;
  const int64_t groups = weight_gradient_groups(g.batch);
  const int64_t per = (g.batch + groups - 1) / groups;
  const int64_t plane = g.OH * g.OW;
  scratch_vector<double> part((size_t)(groups * g.O * 9));
  ctx.parallel_for(groups, [&](int64_t b, int64_t e) {
    scratch_vector<vf> variants((size_t)((g.H + 2) * 3 * NV));
    scratch_vector<vf> sums((size_t)(g.O * 9 * NV));  // [o][tap][slot]
    for (int64_t grp = b; grp < e; grp++) {
      std::fill(sums.begin(), sums.end(), vf{});
      const int64_t n1 = std::min(g.batch, (grp + 1) * per);
      for (int64_t n = grp * per; n < n1; n++) {
        image_variants<S, NV>(g, x + n * g.H * g.W, variants.data());
        const float* gimg = gy + n * g.O * plane;
        int64_t o0 = 0;
        for (; o0 + OB <= g.O; o0 += OB)
          for (int k = 0; k < NV; k++)
            weight_tile<S, NV, OB>(g, gimg + o0 * plane + k * V, variants.data() + k, sums.data() + o0 * 9 * NV + k);
        for (; o0 < g.O; o0++)
          for (int k = 0; k < NV; k++)
            weight_tile<S, NV, 1>(g, gimg + o0 * plane + k * V, variants.data() + k, sums.data() + o0 * 9 * NV + k);
      }
      double* gpart = part.data() + grp * g.O * 9;
      for (int64_t t = 0; t < g.O * 9; t++) {
        double total = 0;
        for (int k = 0; k < NV; k++) {
          const vf v = sums[t * NV + k];
          double lanes = 0;
          for (int l = 0; l < V; l++) lanes += (double)v[l];
          total += lanes;
        }
        gpart[t] = total;
      }
    }
  });
  for (int64_t t = 0; t < g.O * 9; t++) {
    double s = 0;
    for (int64_t grp = 0; grp < groups; grp++) s += part[grp * g.O * 9 + t];
    gw[t] = accumulate ? gw[t] + (float)s : (float)s;
  }
}

// Output vectors per row, or 0 when the geometry is not one this family serves.
int vectors_per_row(const Geo& g) {
  if (g.C != 1 || g.K != 3 || g.P != 1 || (g.S != 1 && g.S != 2)) return 0;
  if (g.H != g.S * g.OH || g.W != g.S * g.OW || g.OW % V != 0) return 0;
  const int64_t nv = g.OW / V;
  return nv == 1 || nv == 2 || nv == 4 ? (int)nv : 0;
}

template <template <int, int> class Fn, class... A>
bool dispatch(const Geo& g, A&&... args) {
  const int nv = vectors_per_row(g);
  if (nv == 0) return false;
  if (g.S == 1) {
    if (nv == 1) Fn<1, 1>::run(args...);
    else if (nv == 2) Fn<1, 2>::run(args...);
    else Fn<1, 4>::run(args...);
  } else {
    if (nv == 1) Fn<2, 1>::run(args...);
    else if (nv == 2) Fn<2, 2>::run(args...);
    else Fn<2, 4>::run(args...);
  }
  return true;
}

template <int S, int NV>
struct Forward {
  static void run(const Ctx& ctx, const Geo& g, const float* x, const float* w, const float* bias, float* y) {
    forward<S, NV>(ctx, g, x, w, bias, y);
  }
};
template <int S, int NV>
struct BackwardData {
  static void run(const Ctx& ctx, const Geo& g, const float* gy, const float* w, float* gx, bool accumulate) {
    if constexpr (S == 1)
      backward_data_s1<NV, NV == 4 ? 4 : 8>(ctx, g, gy, w, gx, accumulate);
    else
      backward_data_s2<NV, NV == 1 ? 4 : 2>(ctx, g, gy, w, gx, accumulate);
  }
};
template <int S, int NV>
struct BackwardWeight {
  static void run(const Ctx& ctx, const Geo& g, const float* x, const float* gy, float* gw, bool accumulate) {
    backward_weight<S, NV>(ctx, g, x, gy, gw, accumulate);
  }
};

}  // namespace

bool single_channel_forward(const Ctx& ctx, const Geo& g, const float* x, const float* w, const float* bias,
                            float* y) {
  return dispatch<Forward>(g, ctx, g, x, w, bias, y);
}

bool single_channel_backward_data(const Ctx& ctx, const Geo& g, const float* gy, const float* w, float* gx,
                                  bool accumulate) {
  return dispatch<BackwardData>(g, ctx, g, gy, w, gx, accumulate);
}

bool single_channel_backward_weight(const Ctx& ctx, const Geo& g, const float* x, const float* gy, float* gw,
                                    bool accumulate) {
  return dispatch<BackwardWeight>(g, ctx, g, x, gy, gw, accumulate);
}

}  // namespace SPV_ISA
}  // namespace spv
