// Dense and event-driven kernels, compiled once per instruction set (the
// namespace is SPV_ISA, the vector width SPV_VEC_BYTES). GCC's vector
// extensions let the same source become SSE2, AVX2+FMA or AVX-512 code.
//
// Determinism: every output element is accumulated by one thread in a fixed
// order (over K blocks, then within a block in index order), whatever the
// thread count or the number of rows in the call. That is what lets the
// stepped FSVAE evaluation reproduce the full prefix pass bit for bit.
// Weight gradients (a sum over the batch) add images in groups fixed by the
// layer's geometry and batch size, then the groups in order: independent of
// the thread count too.
//
// Which convolution kernel serves which geometry (the dispatchers
// conv_forward, conv_backward_data and conv_backward_weight; first match
// wins). NR = 2 vectors of output (or input) channels per register tile;
// "≤ 27 taps" means C·K·K ≤ 27 on the conv side. A transposed convolution's
// forward is conv_backward_data, its input gradient conv_forward. When the
// addon multiplies spikes densely (AVX-512), conv_forward sees spike inputs
// as real ones; conv_backward_data is told both the spike flag and the mode.
// "One channel" is the family in smallconv.cc: C = 1, K = 3, padding 1,
// stride 1 or 2, output rows of one, two or four whole vectors (on SSE2,
// final_layer.1's 32-float rows are eight and take the general kernels).
//
//   conv_forward
//     one channel               single_channel_forward     encoder.0; final_layer.1's input gradient
//     ≤ 27 taps, stride 1 or 2  rows_conv_forward          the RGB first layers (CIFAR-10, CelebA)
//     O % NR == 0               direct_conv_forward        encoder.1-3; the decoders' input gradients
//     ≤ 27 taps, other strides  direct_conv_small
//     otherwise / spikes        im2col + GEMM (for spikes: weight rows added per active input)
//   conv_backward_data
//     one channel (spikes: dense mode)
//                               single_channel_backward_data
//                                                          final_layer.1's forward; encoder.0's input gradient
//     stride 1, ≤ 27 taps       gather_transposed_small    the RGB last layers' forward
//     stride 2, ≤ 27 taps, ≤ 2 vectors per phase row
//                               gather_transposed_small_s2 the RGB first layers' input gradient
//     C % NR == 0 (spikes: dense mode and ≥ TM pixels per stride phase)
//                               direct_conv_backward_data  the encoders' input gradients; decoder.1-2 and
//                                                          final_layer.0 forward
//     spikes otherwise          scatter_transposed         decoder.0 forward (its 2×2 input)
//     otherwise                 GEMM + col2im
//   conv_backward_weight
//     one channel               single_channel_backward_weight
//                                                          encoder.0, final_layer.1
//     stride 1 or 2, K ≤ 3, ≤ 27 taps
//                               rowdot_weight_small        the RGB first and last layers
//     O % NR == 0               direct_conv_backward_weight every other FSVAE layer
//     ≤ 27 taps                 direct_weight_small
//     otherwise                 im2col + GEMM
#include <algorithm>
#include <cstring>
#include <vector>

#include "common.h"
#include "smallconv.h"
#include "vec.h"

#if SPV_VEC_BYTES == 64
#include <immintrin.h>
#endif

namespace spv {
namespace SPV_ISA {

constexpr int MR = 6;
constexpr int NR = 2 * V;
constexpr int64_t KC = 512;
constexpr int64_t MC = 96;
constexpr int64_t NC = 2048;

// A store that bypasses the caches where the instruction set has one and p is
// vector-aligned (no read of the line first); callers end with stream_fence().
static inline void store_stream(float* p, vf v) {
#if SPV_VEC_BYTES == 64
  if ((reinterpret_cast<uintptr_t>(p) & 63) == 0) {
    _mm512_stream_ps(p, (__m512)v);
    return;
  }
#endif
  storeu(p, v);
}
static inline void stream_fence() {
#if SPV_VEC_BYTES == 64
  _mm_sfence();
#endif
}

// ---------------------------------------------------------------- packing

// B block rows [p0, p0+kc), columns [j0, j0+nc) into panels of NR columns,
// each panel kc x NR contiguous, zero-padded past n. A transposed B ([n, k]
// rows) is read row by row, so every read is contiguous and the strided
// writes stay inside the panel (L1).
static void pack_b(bool tb, int64_t n, int64_t k, const float* B, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                   float* out) {
  const int64_t panels = (nc + NR - 1) / NR;
  for (int64_t q = 0; q < panels; q++) {
    float* dst = out + q * kc * NR;
    const int64_t jb = j0 + q * NR;
    const int64_t cols = std::min<int64_t>(NR, j0 + nc - jb);
    if (!tb) {
      for (int64_t p = 0; p < kc; p++) {
        float* d = dst + p * NR;
        const float* s = B + (p0 + p) * n + jb;
        int64_t j = 0;
        for (; j < cols; j++) d[j] = s[j];
        for (; j < NR; j++) d[j] = 0.f;
      }
    } else {
      for (int64_t j = 0; j < cols; j++) {
        const float* __restrict s = B + (jb + j) * k + p0;
        float* __restrict d = dst + j;
        for (int64_t p = 0; p < kc; p++) d[p * NR] = s[p];
      }
      for (int64_t j = cols; j < NR; j++)
        for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = 0.f;
    }
  }
}

// C[0:rows, 0:cols] (+)= A (MR rows x kc) · Bp (kc x NR), row r's element p
// at ar[r][p] (TA false: a row-major A read where it lies) or ar[r][p · ps]
// (TA true: the packed sliver of a transposed A, ps = MR). Rows past `rows`
// repeat the last valid row (their sums are discarded), so nothing outside A
// is read. Packing a row-major A cost about as much as the arithmetic when n
// is small (128 columns: each packed value fed only 128 multiply-adds).
template <bool TA>
static inline void micro_kernel(int64_t kc, const float* const* ar, int64_t ps, const float* Bp, float* C,
                                int64_t ldc, int rows, int cols, bool add) {
  vf c00 = {}, c01 = {}, c10 = {}, c11 = {}, c20 = {}, c21 = {}, c30 = {}, c31 = {}, c40 = {}, c41 = {}, c50 = {},
     c51 = {};
  const float *a0 = ar[0], *a1 = ar[1], *a2 = ar[2], *a3 = ar[3], *a4 = ar[4], *a5 = ar[5];
  for (int64_t p = 0; p < kc; p++) {
    const vf b0 = loadu(Bp + p * NR);
    const vf b1 = loadu(Bp + p * NR + V);
    const int64_t i = TA ? p * ps : p;
    const float x0 = a0[i], x1 = a1[i], x2 = a2[i], x3 = a3[i], x4 = a4[i], x5 = a5[i];
    c00 += b0 * x0;
    c01 += b1 * x0;
    c10 += b0 * x1;
    c11 += b1 * x1;
    c20 += b0 * x2;
    c21 += b1 * x2;
    c30 += b0 * x3;
    c31 += b1 * x3;
    c40 += b0 * x4;
    c41 += b1 * x4;
    c50 += b0 * x5;
    c51 += b1 * x5;
  }
  vf acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (cols == NR) {
    for (int r = 0; r < rows; r++) {
      float* cr = C + r * ldc;
      if (add) {
        storeu(cr, loadu(cr) + acc[r][0]);
        storeu(cr + V, loadu(cr + V) + acc[r][1]);
      } else {
        storeu(cr, acc[r][0]);
        storeu(cr + V, acc[r][1]);
      }
    }
  } else {
    for (int r = 0; r < rows; r++) {
      float* cr = C + r * ldc;
      for (int j = 0; j < cols; j++) {
        const float v = j < V ? acc[r][0][j] : acc[r][1][j - V];
        cr[j] = add ? cr[j] + v : v;
      }
    }
  }
}

// A transposed ([k, m]) block rows [i0, i0+mc), columns [p0, p0+kc) into
// slivers of MR rows, each kc x MR (p-major), the last one padded by repeating
// its last valid row. Read in place, a transposed A costs a new cache line per
// p for every sliver; packed, it is read once per block.
static void pack_a_transposed(int64_t m, const float* A, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                              float* out) {
  for (int64_t s = 0; s * MR < mc; s++) {
    float* dst = out + s * kc * MR;
    const int64_t ib = i0 + s * MR;
    const int64_t rows = std::min<int64_t>(MR, i0 + mc - ib);
    if (rows == MR) {
      for (int64_t p = 0; p < kc; p++) {
        const float* __restrict src = A + (p0 + p) * m + ib;
        float* __restrict d = dst + p * MR;
        for (int r = 0; r < MR; r++) d[r] = src[r];
      }
      continue;
    }
    for (int64_t p = 0; p < kc; p++) {
      const float* src = A + (p0 + p) * m + ib;
      float* d = dst + p * MR;
      for (int64_t r = 0; r < MR; r++) d[r] = src[std::min<int64_t>(r, rows - 1)];
    }
  }
}

// Rows per task: at most MC, a multiple of MR, and the rows split into a
// number of blocks the threads can share evenly where that costs little
// (1,024 rows in MC blocks made 11 tasks, which two threads share 6:5; 256
// rows made 3). Blocks are sized evenly (256 rows: 4 × 66, not 3 × 84 + 4).
// Row blocking does not change any sum, so results do not depend on it.
static int64_t row_block(int64_t m, int64_t col_tasks, int threads) {
  int64_t blocks = (m + MC - 1) / MC;
  if (threads > 1 && blocks * col_tasks < 8 * threads)
    while ((blocks * col_tasks) % threads != 0 && blocks < m) blocks++;
  const int64_t mc = (m + blocks - 1) / blocks;
  return std::min<int64_t>(MC, (mc + MR - 1) / MR * MR);
}

void gemm(const Ctx& ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* A, const float* B,
          float* C, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) std::memset(C, 0, sizeof(float) * m * n);
    return;
  }
  // C (+)= ct^T, with ct [n, m]: the second half of the swapped products below.
  const auto transpose_into = [&](const float* ct) {
    ctx.parallel_for((m + 15) / 16, [&](int64_t b, int64_t e) {
      for (int64_t i0 = b * 16; i0 < std::min(m, e * 16); i0 += 16)
        for (int64_t j0 = 0; j0 < n; j0 += 16)
          for (int64_t i = i0; i < std::min(m, i0 + 16); i++)
            for (int64_t j = j0; j < std::min(n, j0 + 16); j++)
              C[i * n + j] = accumulate ? C[i * n + j] + ct[j * m + i] : ct[j * m + i];
    });
  };
  if (ta && !tb && n <= 128 && m > 2 * n && n * m <= ((int64_t)4 << 20)) {
    // A weight gradient with many more outputs than inputs (decoder_input:
    // 1,024 × 128): as C^T = B^T·A the large operand is packed as B panels
    // (contiguous rows) instead of gathered as transposed A slivers (strided
    // rows), then C^T is transposed into C. Each element is the same products
    // summed in the same order, so the result is bit-identical. Only for
    // narrow products: at 2,560 × 512 (posterior.layers.2) it was 25 % slower.
    scratch_vector<float> ct((size_t)(n * m));
    gemm(ctx, true, false, n, m, k, B, A, ct.data(), false);
    transpose_into(ct.data());
    return;
  }
  if (gemm_few_rows(ta, tb, m, n, k, accumulate)) {
    // A linear layer's forward on a few rows with a large weight (the
    // prior's and posterior's last layer, 2,560 × 512, stepped one time step
    // of 64 images at a time in sampling and evaluation): packing B, the
    // whole weight, would cost as much as the product. As C^T = B·A^T the
    // weight is read where it lies (as A) and only the few rows are packed,
    // then C^T is transposed into C. The same products summed in the same
    // order (K blocks added in order; with accumulate only a single block, so
    // C's old value is added last either way): bit-identical.
    scratch_vector<float> ct((size_t)(n * m));
    gemm(ctx, false, true, n, m, k, B, A, ct.data(), false);
    transpose_into(ct.data());
    return;
  }
  // (The route above takes up to 128 rows; this one wider products of up to
  // n / 4 rows when k is large, and never accumulates.)
  if (!ta && tb && !accumulate && 4 * m <= n && k >= 2048 && n * m <= ((int64_t)4 << 20)) {
    // A wide linear layer over few rows (the MNIST classifier's 6,272 → 2,048
    // at 16 images × 8 steps: 128 × 2,048, k = 6,272): as C^T = B·A^T the
    // weight ([n, k] rows) is read in place as the A side and only the few
    // input rows are packed, instead of packing the whole weight (51 MB) on
    // every call; then C^T is transposed into C. Bit-identical (the same
    // products in the same order; not when adding to C, whose old value would
    // enter the sum after the K blocks instead of before them). Measured 2×
    // faster at 128 rows, 1.8× at 256, equal at 512.
    scratch_vector<float> ct((size_t)(n * m));
    gemm(ctx, false, true, n, m, k, B, A, ct.data(), false);
    transpose_into(ct.data());
    return;
  }
  const int64_t bcols = (std::min(NC, n) + NR - 1) / NR * NR;
  // K blocks packed per round: all of them when the packed B stays within
  // 4 M floats (every linear layer here), so a product costs two parallel
  // regions instead of two per K block (thread hand-offs were a visible share
  // of the sub-millisecond weight gradients). Each C element still adds its K
  // blocks in order.
  const int64_t kblocks = (k + KC - 1) / KC;
  const int64_t round_blocks = k * bcols <= ((int64_t)4 << 20) ? kblocks : 1;
  scratch_vector<float> bpack((size_t)(std::min(KC * round_blocks, k) * bcols));
  // Column sub-blocks so that small-M products still use every thread.
  const int64_t csub = 256;
  for (int64_t j0 = 0; j0 < n; j0 += NC) {
    const int64_t nc = std::min(NC, n - j0);
    const int64_t nsub = (nc + csub - 1) / csub;
    const int64_t mcb = row_block(m, nsub, ctx.threads);
    const int64_t mblocks = (m + mcb - 1) / mcb;
    const int64_t panels = (nc + NR - 1) / NR;
    for (int64_t kb0 = 0; kb0 < kblocks; kb0 += round_blocks) {
      const int64_t kb1 = std::min(kblocks, kb0 + round_blocks);
      // Block kb's panels start at (kb − kb0)·KC·bcols; panel q of it at + q·kc·NR.
      ctx.parallel_for((kb1 - kb0) * panels, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; t++) {
          const int64_t kb = kb0 + t / panels, q = t % panels, p0 = kb * KC, kc = std::min(KC, k - p0);
          const int64_t jb = q * NR;
          pack_b(tb, n, k, B, p0, kc, j0 + jb, std::min<int64_t>(NR, nc - jb),
                 bpack.data() + (kb - kb0) * KC * bcols + q * kc * NR);
        }
      });
      ctx.parallel_for(mblocks * nsub, [&](int64_t b, int64_t e) {
        scratch_vector<float> apack(ta ? (size_t)(std::min(KC, k) * (MC + MR)) : 0);
        for (int64_t t = b; t < e; t++) {
          const int64_t ib = t / nsub;
          const int64_t sb = t % nsub;
          const int64_t i0 = ib * mcb;
          const int64_t mc = std::min(mcb, m - i0);
          const int64_t js = sb * csub;
          const int64_t je = std::min(nc, js + csub);
          for (int64_t kb = kb0; kb < kb1; kb++) {
            const int64_t p0 = kb * KC, kc = std::min(KC, k - p0);
            const bool add = accumulate || p0 > 0;
            if (ta) pack_a_transposed(m, A, i0, mc, p0, kc, apack.data());
            const float* bblock = bpack.data() + (kb - kb0) * KC * bcols;
            for (int64_t jj = js; jj < je; jj += NR) {
              const int cols = (int)std::min<int64_t>(NR, je - jj);
              const float* bp = bblock + (jj / NR) * kc * NR;
              for (int64_t ii = 0; ii < mc; ii += MR) {
                const int rows = (int)std::min<int64_t>(MR, mc - ii);
                const float* ar[MR];
                float* cp = C + (i0 + ii) * n + j0 + jj;
                if (ta) {
                  const float* sliver = apack.data() + (ii / MR) * kc * MR;
                  for (int r = 0; r < MR; r++) ar[r] = sliver + r;
                  micro_kernel<true>(kc, ar, MR, bp, cp, n, rows, cols, add);
                } else {
                  for (int r = 0; r < MR; r++) ar[r] = A + (i0 + ii + std::min(r, rows - 1)) * k + p0;
                  micro_kernel<false>(kc, ar, 1, bp, cp, n, rows, cols, add);
                }
              }
            }
          }
        }
      });
    }
  }
}

// ---------------------------------------------------------------- event-driven product

// C[i,:] (+)= Σ_{p: A(i,p) != 0} Bt[p,:] — A holds only 0 and 1. Bt is B as
// [k, n] rows (transposed first when B is given as [n, k]). Work is
// proportional to the number of spikes; no multiplies.
void gemm_binary(const Ctx& ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* A,
                 const float* B, float* C, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  scratch_vector<float> bt;
  const float* rowsB = B;
  if (tb) {
    bt.resize((size_t)k * n);
    ctx.parallel_for(k, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; p++)
        for (int64_t j = 0; j < n; j++) bt[p * n + j] = B[j * k + p];
    });
    rowsB = bt.data();
  }
  ctx.parallel_for(m, [&](int64_t b, int64_t e) {
    scratch_vector<int32_t> active(k);
    scratch_vector<float> acc(n);
    for (int64_t i = b; i < e; i++) {
      int64_t na = 0;
      if (!ta) {
        const float* a = A + i * k;
        for (int64_t p = 0; p < k; p++)
          if (a[p] != 0.f) active[na++] = (int32_t)p;
      } else {
        for (int64_t p = 0; p < k; p++)
          if (A[p * m + i] != 0.f) active[na++] = (int32_t)p;
      }
      float* c = C + i * n;
      float* s = accumulate ? acc.data() : c;
      std::memset(s, 0, sizeof(float) * n);
      for (int64_t t = 0; t < na; t++) {
        const float* br = rowsB + (int64_t)active[t] * n;
        int64_t j = 0;
        for (; j + V <= n; j += V) storeu(s + j, loadu(s + j) + loadu(br + j));
        for (; j < n; j++) s[j] += br[j];
      }
      if (accumulate)
        for (int64_t j = 0; j < n; j++) c[j] += s[j];
    }
  });
}

// ---------------------------------------------------------------- convolution via im2col

// Images per chunk so that the column matrix stays near 4 M floats.
static int64_t chunk_images(const Geo& g) {
  const int64_t per = g.C * g.K * g.K * g.OH * g.OW;
  return std::max<int64_t>(1, std::min<int64_t>(g.batch, (4 << 20) / std::max<int64_t>(1, per)));
}

// col[(c,kh,kw), (img, oh, ow)] for images [n0, n0+nb).
static void im2col(const Ctx& ctx, const Geo& g, const float* x, int64_t n0, int64_t nb, float* col) {
  const int64_t P = g.OH * g.OW;
  const int64_t cols = nb * P;
  const int64_t KK = g.K * g.K;
  ctx.parallel_for(g.C * KK, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) {
      const int64_t c = r / KK, kh = (r % KK) / g.K, kw = r % g.K;
      float* dst = col + r * cols;
      for (int64_t img = 0; img < nb; img++) {
        const float* src = x + ((n0 + img) * g.C + c) * g.H * g.W;
        float* d = dst + img * P;
        for (int64_t oh = 0; oh < g.OH; oh++) {
          const int64_t ih = oh * g.S - g.P + kh;
          float* drow = d + oh * g.OW;
          if (ih < 0 || ih >= g.H) {
            std::memset(drow, 0, sizeof(float) * g.OW);
            continue;
          }
          const float* srow = src + ih * g.W;
          for (int64_t ow = 0; ow < g.OW; ow++) {
            const int64_t iw = ow * g.S - g.P + kw;
            drow[ow] = (iw >= 0 && iw < g.W) ? srow[iw] : 0.f;
          }
        }
      }
    }
  });
}

// gx[img, c] += fold of col rows (c, kh, kw); each channel plane is written by one thread.
static void col2im(const Ctx& ctx, const Geo& g, const float* col, int64_t n0, int64_t nb, float* gx) {
  const int64_t P = g.OH * g.OW;
  const int64_t cols = nb * P;
  const int64_t KK = g.K * g.K;
  ctx.parallel_for(nb * g.C, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; t++) {
      const int64_t img = t / g.C, c = t % g.C;
      float* dst = gx + ((n0 + img) * g.C + c) * g.H * g.W;
      for (int64_t kh = 0; kh < g.K; kh++) {
        for (int64_t kw = 0; kw < g.K; kw++) {
          const float* src = col + ((c * KK) + kh * g.K + kw) * cols + img * P;
          for (int64_t oh = 0; oh < g.OH; oh++) {
            const int64_t ih = oh * g.S - g.P + kh;
            if (ih < 0 || ih >= g.H) continue;
            for (int64_t ow = 0; ow < g.OW; ow++) {
              const int64_t iw = ow * g.S - g.P + kw;
              if (iw >= 0 && iw < g.W) dst[ih * g.W + iw] += src[oh * g.OW + ow];
            }
          }
        }
      }
    }
  });
}

// Direct convolution for layers with very few input channels (C·k·k small),
// where an im2col GEMM would be bound by memory traffic: one image per task,
// vectorised along output rows.
static void direct_conv_small(const Ctx& ctx, const Geo& g, const float* x, const float* w, const float* bias,
                              float* y) {
  const int64_t P = g.OH * g.OW, KK = g.K * g.K;
  ctx.parallel_for(g.batch, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; n++) {
      for (int64_t o = 0; o < g.O; o++) {
        float* out = y + (n * g.O + o) * P;
        const float bv = bias ? bias[o] : 0.f;
        for (int64_t p = 0; p < P; p++) out[p] = 0.f;
        for (int64_t c = 0; c < g.C; c++) {
          const float* xin = x + (n * g.C + c) * g.H * g.W;
          for (int64_t kh = 0; kh < g.K; kh++) {
            for (int64_t kw = 0; kw < g.K; kw++) {
              const float wv = w[(o * g.C + c) * KK + kh * g.K + kw];
              for (int64_t oh = 0; oh < g.OH; oh++) {
                const int64_t ih = oh * g.S - g.P + kh;
                if (ih < 0 || ih >= g.H) continue;
                const float* xr = xin + ih * g.W;
                float* yr = out + oh * g.OW;
                const int64_t ow0 = std::max<int64_t>(0, (g.P - kw + g.S - 1) / g.S);
                const int64_t ow1 = std::min<int64_t>(g.OW, (g.W - 1 + g.P - kw) / g.S + 1);
                if (g.S == 1) {
                  const float* xs = xr - g.P + kw;
                  for (int64_t ow = ow0; ow < ow1; ow++) yr[ow] += wv * xs[ow];
                } else {
                  for (int64_t ow = ow0; ow < ow1; ow++) yr[ow] += wv * xr[ow * g.S - g.P + kw];
                }
              }
            }
          }
        }
        if (bv != 0.f)
          for (int64_t p = 0; p < P; p++) out[p] += bv;
      }
    }
  });
}

// ---------------------------------------------------------------- direct (implicit-GEMM) convolutions
//
// For dense convolutions whose output channels fill whole register panels
// (O a multiple of NR). The im2col matrix is never written: each image is
// copied once into a zero-padded buffer (L2-sized), and the register tiles
// broadcast their inputs straight from it at precomputed offsets, with the
// weights as [R, O] rows, so every loaded weight vector feeds TM positions and
// every broadcast feeds NR output channels. Materialising im2col and packing it
// again moved R/O times the image through memory and dominated these layers.
// Each output element is summed over r = (c, kh, kw) in order by one thread.

constexpr int TM = 8;  // positions (or weight rows) per register tile

// Offsets of the first tap of every output position in the padded image.
static scratch_vector<int64_t> position_offsets(const Geo& g, int64_t Wp) {
  scratch_vector<int64_t> off((size_t)(g.OH * g.OW));
  for (int64_t oh = 0; oh < g.OH; oh++)
    for (int64_t ow = 0; ow < g.OW; ow++) off[oh * g.OW + ow] = oh * g.S * Wp + ow * g.S;
  return off;
}

// Offsets of every tap r = (c, kh, kw) in the padded image.
static scratch_vector<int64_t> tap_offsets(const Geo& g, int64_t Hp, int64_t Wp) {
  const int64_t KK = g.K * g.K;
  scratch_vector<int64_t> off((size_t)(g.C * KK));
  for (int64_t r = 0; r < g.C * KK; r++) off[r] = (r / KK) * Hp * Wp + ((r % KK) / g.K) * Wp + r % g.K;
  return off;
}

// Copies image n of x into the interior of xpad (whose border stays zero).
// Rows are short (4-32 floats), so an inline loop beats a memcpy call each.
static void pad_image(const Geo& g, const float* x, int64_t n, int64_t Hp, int64_t Wp, float* xpad) {
  for (int64_t c = 0; c < g.C; c++)
    for (int64_t ih = 0; ih < g.H; ih++) {
      float* __restrict d = xpad + c * Hp * Wp + (ih + g.P) * Wp + g.P;
      const float* __restrict src = x + ((n * g.C + c) * g.H + ih) * g.W;
      for (int64_t iw = 0; iw < g.W; iw++) d[iw] = src[iw];
    }
}

// Forward. A register tile may span images: small maps (2×2 outputs) would
// otherwise leave most of its 8 positions empty. Images are taken in blocks
// of at least 32 positions, padded side by side.
static bool direct_forward_fits(const Geo& g) { return g.O % NR == 0; }

static void direct_conv_forward(const Ctx& ctx, const Geo& g, const float* x, const float* w, const float* bias,
                                float* y) {
  const int64_t Hp = g.H + 2 * g.P, Wp = g.W + 2 * g.P, P = g.OH * g.OW, R = g.C * g.K * g.K, O = g.O;
  const int64_t img_floats = g.C * Hp * Wp;
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(g.batch, (32 + P - 1) / P));
  const int64_t blocks = (g.batch + block - 1) / block;
  scratch_vector<float> wt((size_t)(R * O));
  for (int64_t o = 0; o < O; o++)
    for (int64_t r = 0; r < R; r++) wt[r * O + o] = w[o * R + r];
  const scratch_vector<int64_t> pos = position_offsets(g, Wp), tap = tap_offsets(g, Hp, Wp);
  ctx.parallel_for(blocks, [&](int64_t b, int64_t e) {
    scratch_vector<float> xpad((size_t)(block * img_floats), 0.f);
    for (int64_t blk = b; blk < e; blk++) {
      const int64_t n0 = blk * block, nimg = std::min(block, g.batch - n0), count = nimg * P;
      for (int64_t k = 0; k < nimg; k++) pad_image(g, x, n0 + k, Hp, Wp, xpad.data() + k * img_floats);
      for (int64_t m0 = 0; m0 < count; m0 += TM) {
        const int valid = (int)std::min<int64_t>(TM, count - m0);
        const float* xq[TM];  // first tap of position q
        for (int q = 0; q < TM; q++) {
          const int64_t m = std::min<int64_t>(m0 + q, count - 1);
          xq[q] = xpad.data() + (m / P) * img_floats + pos[m % P];
        }
        for (int64_t o0 = 0; o0 < O; o0 += NR) {
          vf c0[TM], c1[TM];
#pragma GCC unroll 8
          for (int q = 0; q < TM; q++) c0[q] = c1[q] = vf{};
          const float* wr = wt.data() + o0;
          for (int64_t r = 0; r < R; r++, wr += O) {
            const vf b0 = loadu(wr), b1 = loadu(wr + V);
            const int64_t t = tap[r];
#pragma GCC unroll 8
            for (int q = 0; q < TM; q++) {
              const float a = xq[q][t];
              c0[q] += b0 * a;
              c1[q] += b1 * a;
            }
          }
          // Output offsets are derived here, not kept through the loop above
          // (eight more live registers made it spill accumulators). Channel
          // outer, position inner: consecutive stores stay in one cache line
          // (the other order strode by whole planes, 4 KiB at 32×32, and
          // missed L1 on every store).
          int64_t yoff[TM];
          for (int q = 0; q < valid; q++) yoff[q] = (n0 + (m0 + q) / P) * O * P + (m0 + q) % P + o0 * P;
          for (int j = 0; j < NR; j++) {
            const float bv = bias ? bias[o0 + j] : 0.f;
            for (int q = 0; q < valid; q++) y[yoff[q] + j * P] = (j < V ? c0[q][j] : c1[q][j - V]) + bv;
          }
        }
      }
    }
  });
}

// Prefetches share `part` of `parts` of the cache lines of [p, p + floats):
// kernels spread the next image's (or chunk's) data over the tiles of the
// current one, so copying it does not wait on DRAM.
static void prefetch_share(const float* p, int64_t floats, int64_t part, int64_t parts) {
  const int64_t lines = floats / 16;
  for (int64_t l = lines * part / parts; l < lines * (part + 1) / parts; l++) __builtin_prefetch(p + l * 16, 0, 3);
}

// gW [O, R] (+)= Σ_images gy [O, P] · col [R, P]^T, without col. Images are
// split into groups fixed by the geometry (not by the thread count); a task
// owns one group's partial sums for one panel of NR output channels and adds
// its images in order; the partials are then added in group order.
static void direct_conv_backward_weight(const Ctx& ctx, const Geo& g, const float* x, const float* gy, float* gw,
                                        bool accumulate) {
  const int64_t Hp = g.H + 2 * g.P, Wp = g.W + 2 * g.P, P = g.OH * g.OW, R = g.C * g.K * g.K, O = g.O;
  const int64_t panels = O / NR;
  const int64_t budget = (int64_t)1 << 20;  // floats of partial sums (4 MiB)
  const int64_t groups = std::max<int64_t>(1, std::min<int64_t>({g.batch, 64, budget / (R * O)}));
  const int64_t per = (g.batch + groups - 1) / groups;
  scratch_vector<float> part((size_t)(groups * R * O), 0.f);
  const scratch_vector<int64_t> pos = position_offsets(g, Wp), tap = tap_offsets(g, Hp, Wp);
  // Images are prepared in chunks that stay in L2 (~512 KiB), and each
  // register tile sums a whole chunk before it touches memory.
  const int64_t img_floats = g.C * Hp * Wp + P * NR;
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(per, ((int64_t)128 << 10) / img_floats));
  // A task is one group and a range of output-channel panels: each chunk of
  // images is padded once and serves the task's panels. Wide layers have few
  // groups (3 for 128 → 256 channels), which two threads cannot share evenly,
  // so their panels are split until the tasks can be (splitting panels
  // changes no sum).
  int64_t splits = 1;
  while (splits < panels && ((groups * splits) % ctx.threads != 0 || groups * splits < 2 * ctx.threads)) splits++;
  ctx.parallel_for(groups * splits, [&](int64_t b, int64_t e) {
    scratch_vector<float> xpad((size_t)(chunk * g.C * Hp * Wp), 0.f);
    scratch_vector<float> gyt((size_t)(chunk * P * NR));
    scratch_vector<int64_t> xoff((size_t)(chunk * P));  // first tap of (image, position) in xpad
    for (int64_t k = 0; k < chunk; k++)
      for (int64_t p = 0; p < P; p++) xoff[k * P + p] = k * g.C * Hp * Wp + pos[p];
    for (int64_t task = b; task < e; task++) {
      const int64_t grp = task / splits, split = task % splits;
      const int64_t pn0 = panels * split / splits, pn1 = panels * (split + 1) / splits;
      const int64_t i1 = std::min(g.batch, (grp + 1) * per);
      for (int64_t c0 = grp * per; c0 < i1; c0 += chunk) {
        const int64_t nimg = std::min(chunk, i1 - c0);
        for (int64_t k = 0; k < nimg; k++) pad_image(g, x, c0 + k, Hp, Wp, xpad.data() + k * g.C * Hp * Wp);
        // The task's next chunk (this group's, or the next task's first) is
        // read from memory in slices while this one is computed: x and gy come
        // from DRAM (16-32 MB each per call at 1,024 images), and the padded
        // and transposed copies that read them were a quarter of the kernel's
        // samples in perf (half of that with the prefetch).
        int64_t next_c0 = c0 + chunk, next_i1 = i1, next_pn0 = pn0, next_pn1 = pn1;
        if (next_c0 >= i1 && task + 1 < e) {
          const int64_t ng = (task + 1) / splits, ns = (task + 1) % splits;
          next_c0 = ng * per;
          next_i1 = std::min(g.batch, (ng + 1) * per);
          next_pn0 = panels * ns / splits;
          next_pn1 = panels * (ns + 1) / splits;
        }
        const int64_t next_nimg = next_c0 < next_i1 ? std::min(chunk, next_i1 - next_c0) : 0;
        const int64_t steps = (pn1 - pn0) * ((R + TM - 1) / TM);
        int64_t step = 0;
        for (int64_t pn = pn0; pn < pn1; pn++) {
        const int64_t n0 = pn * NR;
        float* acc_out = part.data() + grp * R * O + n0;  // [R] rows of stride O
        for (int64_t k = 0; k < nimg; k++) {
          float* gk = gyt.data() + k * P * NR;
          const float* src = gy + ((c0 + k) * O + n0) * P;
          int64_t p0 = 0;
          for (; p0 + V <= P; p0 += V)  // V × V blocks transposed in registers
            for (int jb = 0; jb < NR; jb += V) {
              vf r[V];
              for (int j = 0; j < V; j++) r[j] = loadu(src + (jb + j) * P + p0);
              transpose_stage<1>(r);
              for (int p = 0; p < V; p++) storeu(gk + (p0 + p) * NR + jb, r[p]);
            }
          for (int64_t j = 0; j < NR; j++)
            for (int64_t p = p0; p < P; p++) gk[p * NR + j] = src[j * P + p];
        }
        for (int64_t r0 = 0; r0 < R; r0 += TM, step++) {
          if (next_nimg > 0) {
            prefetch_share(x + next_c0 * g.C * g.H * g.W, next_nimg * g.C * g.H * g.W, step, steps);
            for (int64_t k = 0; k < next_nimg; k++)
              prefetch_share(gy + ((next_c0 + k) * O + next_pn0 * NR) * P, (next_pn1 - next_pn0) * NR * P, step,
                             steps);
          }
          const int valid = (int)std::min<int64_t>(TM, R - r0);
          int64_t toff[TM];
          for (int q = 0; q < TM; q++) toff[q] = tap[std::min<int64_t>(r0 + q, R - 1)];
          vf c0v[TM], c1v[TM];
#pragma GCC unroll 8
          for (int q = 0; q < TM; q++) c0v[q] = c1v[q] = vf{};
          // One loop over (image, position) pairs in order: small maps (2×2
          // positions) made the nested row loops mostly loop overhead.
          const float* xr[TM];
          for (int q = 0; q < TM; q++) xr[q] = xpad.data() + toff[q];
          const float* gk = gyt.data();
          for (int64_t i = 0; i < nimg * P; i++, gk += NR) {
            const vf b0 = loadu(gk), b1 = loadu(gk + V);
            const int64_t off = xoff[i];
#pragma GCC unroll 8
            for (int q = 0; q < TM; q++) {
              const float a = xr[q][off];
              c0v[q] += b0 * a;
              c1v[q] += b1 * a;
            }
          }
          for (int q = 0; q < valid; q++) {
            float* d = acc_out + (r0 + q) * O;
            storeu(d, loadu(d) + c0v[q]);
            storeu(d + V, loadu(d + V) + c1v[q]);
          }
        }
        }
      }
    }
  });
  // Groups added in order for each weight, reading the partials row by row
  // (contiguous over o), then written as [O, R].
  ctx.parallel_for(R, [&](int64_t b, int64_t e) {
    scratch_vector<float> acc((size_t)O);
    for (int64_t r = b; r < e; r++) {
      std::fill(acc.begin(), acc.end(), 0.f);
      for (int64_t grp = 0; grp < groups; grp++) {
        const float* src = part.data() + (grp * R + r) * O;
        for (int64_t o = 0; o < O; o++) acc[o] += src[o];
      }
      for (int64_t o = 0; o < O; o++) gw[o * R + r] = accumulate ? gw[o * R + r] + acc[o] : acc[o];
    }
  });
}

// An input row split by column phase (stride S ≤ 2): padded column S·j + φ
// goes to dst[φ·stride + j], i.e. input column S·j + φ − P for j in
// [j0[φ], j1[φ]) (j1 capped at `limit`). The ranges are computed once per
// kernel call: the per-row divisions were a tenth of the first layer's forward.
struct PhaseSplit {
  int64_t S, P, j0[2], j1[2];
  PhaseSplit(const Geo& g, int64_t limit) : S(g.S), P(g.P) {
    for (int64_t phase = 0; phase < S; phase++) {
      j0[phase] = (P - phase + S - 1) / S;
      j1[phase] = std::min(limit, (g.W - 1 + P - phase) / S + 1);
    }
  }
  void row(const float* src, float* dst, int64_t stride) const {
    for (int64_t phase = 0; phase < S; phase++) {
      float* __restrict d = dst + phase * stride;
      const float* sp = src + phase - P;
      for (int64_t j = j0[phase]; j < j1[phase]; j++) d[j] = sp[S * j];
    }
  }
};

// gx [C, H, W] (+)= the transposed convolution of gy [O, OH, OW] (conv2d's
// input gradient, and the forward pass of a transposed convolution). Output
// pixels of one stride phase (ih ≡ φh, iw ≡ φw mod S) take the same kernel
// taps, so a register tile holds TM pixels of one phase (taken row by row
// through the phase's pixels, so small maps still fill the tile) × NR input
// channels, and sums over the valid kh, then kw, then o, in that order,
// reading gy from a padded copy (no bounds checks) and the weights as
// [O, K, K, C] rows.
// Copies image n's output gradient gy [O, OH, OW] into dst, plane o at
// dst + o·plane, with gy(oh, ow) at (oh + lead, ow + lead) in rows of Wp (the
// margins stay as the caller zeroed them). Rows are 2-32 floats: an inline
// copy (memcpy calls were 9 % of a transposed convolution).
static void pad_gy_image(const Geo& g, const float* gy, int64_t n, int64_t lead, int64_t Wp, int64_t plane,
                         float* dst) {
  for (int64_t o = 0; o < g.O; o++)
    for (int64_t oh = 0; oh < g.OH; oh++) {
      float* __restrict d = dst + o * plane + (oh + lead) * Wp + lead;
      const float* __restrict src = gy + ((n * g.O + o) * g.OH + oh) * g.OW;
      for (int64_t ow = 0; ow < g.OW; ow++) d[ow] = src[ow];
    }
}

// The kernel taps k that reach pixels of stride phase φ in a transposed
// convolution, and for each the gy offset (φ + P − k) / S (exact division).
// Returns how many.
static int64_t phase_taps(const Geo& g, int64_t phase, int64_t* ks, int64_t* base) {
  int64_t n = 0;
  for (int64_t k = 0; k < g.K; k++) {
    const int64_t num = phase + g.P - k;
    if (((num % g.S) + g.S) % g.S != 0) continue;
    ks[n] = k;
    base[n++] = num >= 0 ? num / g.S : -((-num) / g.S);
  }
  return n;
}

static bool direct_backward_data_fits(const Geo& g) { return g.C % NR == 0 && g.K <= 16; }

static void direct_conv_backward_data(const Ctx& ctx, const Geo& g, const float* gy, const float* w, float* gx,
                                      bool accumulate) {
  const int64_t K = g.K, S = g.S, C = g.C, O = g.O, KK = K * K, HW = g.H * g.W;
  const int64_t lead = K + 1, trail = K + 2;  // margins of the padded gy
  const int64_t OHp = g.OH + lead + trail, OWp = g.OW + lead + trail, plane = OHp * OWp, img_floats = O * plane;
  // A tile may span images (a 4×4 map has 4 pixels per stride phase): blocks
  // of images with at least 32 pixels per phase, within ~1 MiB of padded gy.
  const int64_t phase_pixels = std::max<int64_t>(1, (g.H / S) * (g.W / S));
  const int64_t block = std::max<int64_t>(
      1, std::min<int64_t>({g.batch, (32 + phase_pixels - 1) / phase_pixels, ((int64_t)256 << 10) / img_floats}));
  const int64_t blocks = (g.batch + block - 1) / block;
  // Weights as [tap][channel panel][o][NR]: the o loop of a tile reads one
  // contiguous stream, and a panel's weights for one phase (at most 4 taps ×
  // O × NR) stay in L2 while every tile of the block uses them.
  const int64_t cpanels = C / NR;
  scratch_vector<float> wc((size_t)(O * KK * C));
  for (int64_t o = 0; o < O; o++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t t = 0; t < KK; t++)
        wc[((t * cpanels + c / NR) * O + o) * NR + c % NR] = w[(o * C + c) * KK + t];
  ctx.parallel_for(blocks, [&](int64_t b, int64_t e) {
    scratch_vector<float> gpad((size_t)(block * img_floats), 0.f);
    scratch_vector<int64_t> offs((size_t)(2 * block * ((g.H + S - 1) / S) * ((g.W + S - 1) / S)));
    for (int64_t blk = b; blk < e; blk++) {
      const int64_t n0 = blk * block, nimg = std::min(block, g.batch - n0);
      for (int64_t k = 0; k < nimg; k++) pad_gy_image(g, gy, n0 + k, lead, OWp, plane, gpad.data() + k * img_floats);
      // The next block's gy is read from memory in slices while this block's
      // tiles run (its copy above otherwise waits on DRAM). steps counts this
      // block's tiles (an upper bound when the map is not a multiple of S).
      const int64_t next_n0 = n0 + block, next_nimg = blk + 1 < e ? std::min(block, g.batch - next_n0) : 0;
      const int64_t steps =
          S * S * cpanels * ((nimg * ((g.H + S - 1) / S) * ((g.W + S - 1) / S) + TM - 1) / TM);
      int64_t step = 0;
      float* gblk = gx + n0 * C * HW;
      for (int64_t ph = 0; ph < S && ph < g.H; ph++) {
        int64_t khs[16], ohb[16];
        const int64_t nkh = phase_taps(g, ph, khs, ohb);
        const int64_t na = (g.H - ph + S - 1) / S;
        for (int64_t pw = 0; pw < S && pw < g.W; pw++) {
          int64_t kws[16], owb[16];
          const int64_t nkw = phase_taps(g, pw, kws, owb);
          // pixels (ph + S·a, pw + S·b) of each image in the block
          const int64_t nb = (g.W - pw + S - 1) / S, total = nimg * na * nb;
          // Offsets of the phase's pixels in gpad and in gx, once per phase
          // (computed per tile, their divisions cost a third of a small tile).
          int64_t* goff = offs.data();
          int64_t* xoff = offs.data() + total;
          for (int64_t k = 0, m = 0; k < nimg; k++)
            for (int64_t a = 0; a < na; a++)
              for (int64_t bb = 0; bb < nb; bb++, m++) {
                goff[m] = k * img_floats + a * OWp + bb;
                xoff[m] = k * C * HW + (ph + S * a) * g.W + pw + S * bb;
              }
          for (int64_t c0 = 0; c0 < C; c0 += NR) {
            for (int64_t m0 = 0; m0 < total; m0 += TM, step++) {
              if (next_nimg > 0) prefetch_share(gy + next_n0 * O * g.OH * g.OW, next_nimg * O * g.OH * g.OW, step, steps);
              const int valid = (int)std::min<int64_t>(TM, total - m0);
              const float* gq[TM];  // gy of pixel q at tap offset 0
              for (int q = 0; q < TM; q++) gq[q] = gpad.data() + goff[std::min<int64_t>(m0 + q, total - 1)];
              vf c0v[TM], c1v[TM];
#pragma GCC unroll 8
              for (int q = 0; q < TM; q++) c0v[q] = c1v[q] = vf{};
              for (int64_t i = 0; i < nkh; i++) {
                for (int64_t j = 0; j < nkw; j++) {
                  int64_t t = (ohb[i] + lead) * OWp + lead + owb[j];
                  const float* wp = wc.data() + ((khs[i] * K + kws[j]) * cpanels + c0 / NR) * O * NR;
                  for (int64_t o = 0; o < O; o++, t += plane, wp += NR) {
                    const vf w0 = loadu(wp), w1 = loadu(wp + V);
#pragma GCC unroll 8
                    for (int q = 0; q < TM; q++) {
                      const float v = gq[q][t];
                      c0v[q] += w0 * v;
                      c1v[q] += w1 * v;
                    }
                  }
                }
              }
              const int64_t* pix = xoff + m0;  // read after the loop (fewer live registers)
              alignas(64) float tile[TM][NR];
              for (int q = 0; q < TM; q++) {
                storeu(tile[q], c0v[q]);
                storeu(tile[q] + V, c1v[q]);
              }
              if (valid == TM && !accumulate) {
                for (int j = 0; j < NR; j++) {
                  float* d = gblk + (c0 + j) * HW;
#pragma GCC unroll 8
                  for (int q = 0; q < TM; q++) d[pix[q]] = tile[q][j];
                }
              } else {
                for (int j = 0; j < NR; j++) {
                  float* d = gblk + (c0 + j) * HW;
                  for (int q = 0; q < valid; q++) d[pix[q]] = accumulate ? d[pix[q]] + tile[q][j] : tile[q][j];
                }
              }
            }
          }
        }
      }
    }
  });
}

// Forward of a convolution with few taps per output (C·k·k ≤ 27: the
// encoders' first layer, and the input gradient of the decoders' last), at
// stride 1 or 2: vectorised along output rows. Each padded input row is split
// by column phase (x[S·j + φ] → row φ, j), so the taps of V consecutive
// outputs are one contiguous load, and each load feeds OB output channels.
// These layers move far more bytes than they compute (9-27 multiply-adds per
// output value); the register-tile kernel wrote their output lane by lane.
// Measured (bench:ops): encoder.0 forward 2.8 → 2.5 ms, the last decoder
// layer's input gradient 8.5 → 7.9 ms per 1,024 images; what remains is the
// write-allocate traffic of the output and the strided split of the input.
// Every output sums r = (c, kh, kw) in order and then adds the bias, like
// the tile kernel.
static bool rows_forward_fits(const Geo& g) { return g.C * g.K * g.K <= 27 && (g.S == 1 || g.S == 2); }

static void rows_conv_forward(const Ctx& ctx, const Geo& g, const float* x, const float* w, const float* bias,
                              float* y) {
  constexpr int OB = 8;
  const int64_t S = g.S, K = g.K, KK = K * K, R = g.C * KK, P = g.OH * g.OW;
  const int64_t Hp = g.H + 2 * g.P;
  const int64_t vecs = (g.OW + V - 1) / V;
  const int64_t Wq = vecs * V + (K + S - 1) / S;  // phase-row length: every vector load stays inside
  const PhaseSplit split(g, Wq);
  ctx.parallel_for(g.batch, [&](int64_t b, int64_t e) {
    scratch_vector<float> rows((size_t)(g.C * Hp * S * Wq), 0.f);
    scratch_vector<int64_t> tap((size_t)R);  // offset of tap r for output (0, 0)
    for (int64_t r = 0; r < R; r++) {
      const int64_t c = r / KK, kh = (r % KK) / K, kw = r % K;
      tap[r] = ((c * Hp + kh) * S + kw % S) * Wq + kw / S;
    }
    alignas(64) float tmp[OB][64];
    for (int64_t n = b; n < e; n++) {
      for (int64_t c = 0; c < g.C; c++)
        for (int64_t ih = 0; ih < g.H; ih++) {
          split.row(x + ((n * g.C + c) * g.H + ih) * g.W, rows.data() + (c * Hp + ih + g.P) * S * Wq, Wq);
        }
      for (int64_t oh = 0; oh < g.OH; oh++) {
        const float* base = rows.data() + oh * S * S * Wq;  // padded row oh·S, phase 0
        for (int64_t v = 0; v < vecs; v++) {
          const int64_t ow0 = v * V, width = std::min<int64_t>(V, g.OW - ow0);
          for (int64_t o0 = 0; o0 < g.O; o0 += OB) {
            const int nob = (int)std::min<int64_t>(OB, g.O - o0);
            vf acc[OB];
#pragma GCC unroll 8
            for (int j = 0; j < OB; j++) acc[j] = vf{};
            const float* wo = w + o0 * R;
            if (nob == OB) {
              for (int64_t r = 0; r < R; r++) {
                const vf xv = loadu(base + tap[r] + ow0);
#pragma GCC unroll 8
                for (int j = 0; j < OB; j++) acc[j] += xv * wo[j * R + r];
              }
            } else {
              for (int64_t r = 0; r < R; r++) {
                const vf xv = loadu(base + tap[r] + ow0);
                for (int j = 0; j < nob; j++) acc[j] += xv * wo[j * R + r];
              }
            }
            for (int j = 0; j < nob; j++) {
              const float bv = bias ? bias[o0 + j] : 0.f;
              float* out = y + (n * g.O + o0 + j) * P + oh * g.OW + ow0;
              if (width == V) {
                store_stream(out, acc[j] + bv);
              } else {
                storeu(tmp[j], acc[j] + bv);
                for (int64_t q = 0; q < width; q++) out[q] = tmp[j][q];
              }
            }
          }
        }
      }
    }
    stream_fence();
  });
}

void conv_forward(const Ctx& ctx, const Geo& g, const float* x, const float* w, const float* bias, float* y,
                  bool xbin) {
  if (!xbin && single_channel_forward(ctx, g, x, w, bias, y)) return;
  if (!xbin && rows_forward_fits(g)) {
    rows_conv_forward(ctx, g, x, w, bias, y);
    return;
  }
  if (!xbin && direct_forward_fits(g)) {
    direct_conv_forward(ctx, g, x, w, bias, y);
    return;
  }
  if (g.C * g.K * g.K <= 27 && !xbin) {
    direct_conv_small(ctx, g, x, w, bias, y);
    return;
  }
  const int64_t P = g.OH * g.OW;
  const int64_t R = g.C * g.K * g.K;
  const int64_t chunk = chunk_images(g);
  scratch_vector<float> col((size_t)R * chunk * P);
  scratch_vector<float> out((size_t)g.O * chunk * P);
  scratch_vector<float> wt;
  if (xbin) {
    // W^T [R, O], rows added for active inputs.
    wt.resize((size_t)R * g.O);
    for (int64_t o = 0; o < g.O; o++)
      for (int64_t r = 0; r < R; r++) wt[r * g.O + o] = w[o * R + r];
  }
  scratch_vector<float> colT;
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.batch - n0);
    const int64_t cols = nb * P;
    im2col(ctx, g, x, n0, nb, col.data());
    if (!xbin) {
      gemm(ctx, false, false, g.O, cols, R, w, col.data(), out.data(), false);
      ctx.parallel_for(nb * g.O, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; t++) {
          const int64_t img = t / g.O, o = t % g.O;
          const float* s = out.data() + o * cols + img * P;
          float* d = y + ((n0 + img) * g.O + o) * P;
          const float bv = bias ? bias[o] : 0.f;
          for (int64_t p = 0; p < P; p++) d[p] = s[p] + bv;
        }
      });
    } else {
      // Y^T [cols, O] = col^T [cols, R] · W^T [R, O], event-driven over col^T's rows.
      gemm_binary(ctx, true, false, cols, g.O, R, col.data(), wt.data(), out.data(), false);
      ctx.parallel_for(nb * g.O, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; t++) {
          const int64_t img = t / g.O, o = t % g.O;
          float* d = y + ((n0 + img) * g.O + o) * P;
          const float bv = bias ? bias[o] : 0.f;
          for (int64_t p = 0; p < P; p++) d[p] = out[(img * P + p) * g.O + o] + bv;
        }
      });
    }
  }
}

// Transposed convolution of spikes (conv2d backward-data with binary gy):
// every active input scatters its k·k·C weight patch into the output, in
// channels-last order so the innermost adds are contiguous. Each image is
// one task, so the result does not depend on the thread count.
static void scatter_transposed(const Ctx& ctx, const Geo& g, const float* gy, const float* w, float* gx,
                               bool accumulate) {
  const int64_t KK = g.K * g.K;
  // wt[o][kh][kw][c] = w[o][c][kh][kw]
  scratch_vector<float> wt((size_t)g.O * KK * g.C);
  for (int64_t o = 0; o < g.O; o++)
    for (int64_t c = 0; c < g.C; c++)
      for (int64_t q = 0; q < KK; q++) wt[(o * KK + q) * g.C + c] = w[(o * g.C + c) * KK + q];
  const int64_t P = g.OH * g.OW, HW = g.H * g.W;
  ctx.parallel_for(g.batch, [&](int64_t b, int64_t e) {
    scratch_vector<float> acc((size_t)HW * g.C);
    for (int64_t n = b; n < e; n++) {
      std::fill(acc.begin(), acc.end(), 0.f);
      for (int64_t o = 0; o < g.O; o++) {
        const float* s = gy + (n * g.O + o) * P;
        for (int64_t p = 0; p < P; p++) {
          if (s[p] == 0.f) continue;
          const int64_t oh = p / g.OW, ow = p % g.OW;
          for (int64_t kh = 0; kh < g.K; kh++) {
            const int64_t ih = oh * g.S - g.P + kh;
            if (ih < 0 || ih >= g.H) continue;
            for (int64_t kw = 0; kw < g.K; kw++) {
              const int64_t iw = ow * g.S - g.P + kw;
              if (iw < 0 || iw >= g.W) continue;
              float* d = acc.data() + (ih * g.W + iw) * g.C;
              const float* src = wt.data() + (o * KK + kh * g.K + kw) * g.C;
              int64_t c = 0;
              for (; c + V <= g.C; c += V) storeu(d + c, loadu(d + c) + loadu(src + c));
              for (; c < g.C; c++) d[c] += src[c];
            }
          }
        }
      }
      float* out = gx + n * g.C * HW;
      for (int64_t c = 0; c < g.C; c++)
        for (int64_t q = 0; q < HW; q++) {
          const float v = acc[q * g.C + c];
          out[c * HW + q] = accumulate ? out[c * HW + q] + v : v;
        }
    }
  });
}

// Stride-1 transposed convolution to very few channels (the decoders' last
// layer, 32 → 1 or 3), gathered directly: every output pixel's O·k·k products
// are summed in a fixed order (o, kh, kw). gy is copied into a zero-padded
// buffer so every row is read whole, and a register tile holds RB output rows
// of up to 4 vectors; one (image, channel) plane per task. (A first version
// added into a memory row per tap and ran at 5 % of peak: its rows of 31
// floats left a scalar tail, and every tap loaded and stored the row.)
template <int RB, int MAXV>
static void gather_transposed_small_t(const Ctx& ctx, const Geo& g, const float* gy, const float* w, float* gx,
                                      bool accumulate) {
  const int64_t KK = g.K * g.K, HW = g.H * g.W;
  const int64_t nv = (g.W + V - 1) / V;  // vectors per output row
  const int64_t lead = g.K;               // margin rows/columns of the padded gy
  const int64_t Wp = nv * V + 2 * lead, Hp = g.H + 2 * lead, plane = Hp * Wp;
  ctx.parallel_for(g.batch * g.C, [&](int64_t b, int64_t e) {
    scratch_vector<float> gpad((size_t)(g.O * plane), 0.f);
    scratch_vector<float> row((size_t)(nv * V));
    int64_t padded_image = -1;
    for (int64_t t = b; t < e; t++) {
      const int64_t n = t / g.C, c = t % g.C;
      if (padded_image != n) {
        // Output (ih, iw) reads gy at oh = ih + P − kh, ow = iw + P − kw.
        pad_gy_image(g, gy, n, lead, Wp, plane, gpad.data());
        padded_image = n;
      }
      float* out = gx + (n * g.C + c) * HW;
      for (int64_t v0 = 0; v0 < nv; v0 += MAXV) {
        const int64_t nvb = std::min<int64_t>(MAXV, nv - v0);
        for (int64_t ih0 = 0; ih0 < g.H; ih0 += RB) {
          const int rows = (int)std::min<int64_t>(RB, g.H - ih0);
          vf acc[RB][MAXV];
          for (int r = 0; r < RB; r++)
            for (int v = 0; v < MAXV; v++) acc[r][v] = vf{};
          // The next image's gy is fetched while this one is computed (its copy
          // into gpad otherwise waited on DRAM: 40 % of the kernel), a share
          // per tile and channel: one burst per tile was 20 % slower.
          const bool fetch_next = t + 1 < e && (t + 1) / g.C != n;
          const int64_t tile = (ih0 / RB) * ((nv + MAXV - 1) / MAXV) + v0 / MAXV;
          const int64_t tiles = ((g.H + RB - 1) / RB) * ((nv + MAXV - 1) / MAXV);
          for (int64_t o = 0; o < g.O; o++) {
            if (fetch_next)
              prefetch_share(gy + (n + 1) * g.O * g.OH * g.OW, g.O * g.OH * g.OW, tile * g.O + o, tiles * g.O);
            const float* go = gpad.data() + o * plane;
            const float* wo = w + (o * g.C + c) * KK;
            for (int64_t kh = 0; kh < g.K; kh++) {
              for (int64_t kw = 0; kw < g.K; kw++) {
                const float wv = wo[kh * g.K + kw];
                const float* base = go + (ih0 + g.P - kh + lead) * Wp + (g.P - kw + lead) + v0 * V;
                for (int r = 0; r < RB; r++) {
                  const float* src = base + r * Wp;
                  for (int v = 0; v < MAXV; v++)
                    if (v < nvb) acc[r][v] += loadu(src + v * V) * wv;
                }
              }
            }
          }
          for (int r = 0; r < rows; r++) {
            for (int v = 0; v < nvb; v++) storeu(row.data() + (v0 + v) * V, acc[r][v]);
            float* d = out + (ih0 + r) * g.W;
            const int64_t w0 = v0 * V, w1 = std::min<int64_t>(g.W, (v0 + nvb) * V);
            for (int64_t iw = w0; iw < w1; iw++) d[iw] = accumulate ? d[iw] + row[iw] : row[iw];
          }
        }
      }
    }
  });
}

// Rows of at most two vectors (32 pixels with AVX-512) take four rows per
// tile, so eight independent accumulators hide the FMA latency (with two rows
// the tile had four chains and ran at one FMA per cycle at best).
static void gather_transposed_small(const Ctx& ctx, const Geo& g, const float* gy, const float* w, float* gx,
                                    bool accumulate) {
  if ((g.W + V - 1) / V <= 2)
    gather_transposed_small_t<4, 2>(ctx, g, gy, w, gx, accumulate);
  else
    gather_transposed_small_t<2, 4>(ctx, g, gy, w, gx, accumulate);
}

// Stride-2 transposed convolution to very few channels (C·k·k ≤ 27: the
// image gradient of the encoders' first layer). Output pixels (ih, 2j + φ)
// of one column phase φ read gy row (ih + P − kh) / 2 at column j + (φ + P −
// kw) / 2 for the taps of their parity, so V consecutive j are one load; a
// tile holds RB output rows of one row parity × both column phases, and the
// phases are interleaved into the output row at the end. Each output sums o,
// then its kh, then its kw, in order. (It went through im2col + GEMM +
// col2im: 20 ms per 1,024 images, 5.7 with warm scratch buffers.)
static bool gather_s2_fits(const Geo& g) {
  return g.S == 2 && g.K <= 3 && g.C * g.K * g.K <= 27 && ((g.W + 1) / 2 + V - 1) / V <= 2;
}

template <int MAXQ>
static void gather_transposed_small_s2(const Ctx& ctx, const Geo& g, const float* gy, const float* w, float* gx,
                                       bool accumulate) {
  constexpr int RB = 4;
  const int64_t KK = g.K * g.K, HW = g.H * g.W;
  const int64_t half = (g.W + 1) / 2, nvq = MAXQ;  // phase columns, vectors per phase row
  const int64_t lead = g.K;
  const int64_t Wp = nvq * V + 2 * lead, Hp = g.OH + 2 * lead + RB, plane = Hp * Wp;
  // Taps of each parity and their gy offsets.
  int64_t ks[2][3], kd[2][3], nk[2];
  for (int ph = 0; ph < 2; ph++) nk[ph] = phase_taps(g, ph, ks[ph], kd[ph]);
  ctx.parallel_for(g.batch * g.C, [&](int64_t b, int64_t e) {
    scratch_vector<float> gpad((size_t)(g.O * plane), 0.f);
    alignas(64) float tmp[2][MAXQ * 16 > MAXQ * V ? MAXQ * 16 : MAXQ * V];
    int64_t padded_image = -1;
    for (int64_t t = b; t < e; t++) {
      const int64_t n = t / g.C, c = t % g.C;
      if (padded_image != n) {
        pad_gy_image(g, gy, n, lead, Wp, plane, gpad.data());
        padded_image = n;
      }
      float* out = gx + (n * g.C + c) * HW;
      for (int ph = 0; ph < 2 && ph < g.H; ph++) {
        const int64_t na = (g.H - ph + 1) / 2;  // output rows ph, ph + 2, ...
        for (int64_t a0 = 0; a0 < na; a0 += RB) {
          const int rows = (int)std::min<int64_t>(RB, na - a0);
          vf acc[RB][2][MAXQ];
          for (int r = 0; r < RB; r++)
            for (int p = 0; p < 2; p++)
              for (int v = 0; v < MAXQ; v++) acc[r][p][v] = vf{};
          // The next image's gy is fetched while this one is computed, a share per tile.
          if (t + 1 < e && (t + 1) / g.C != n)
            prefetch_share(gy + (n + 1) * g.O * g.OH * g.OW, g.O * g.OH * g.OW,
                           ph * ((na + RB - 1) / RB) + a0 / RB, 2 * ((na + RB - 1) / RB));
          for (int64_t o = 0; o < g.O; o++) {
            const float* go = gpad.data() + o * plane;
            const float* wo = w + (o * g.C + c) * KK;
            for (int64_t i = 0; i < nk[ph]; i++) {
              const float* rowp = go + (kd[ph][i] + a0 + lead) * Wp + lead;
              const float* wk = wo + ks[ph][i] * g.K;
#pragma GCC unroll 2
              for (int pw = 0; pw < 2; pw++)
                for (int64_t j = 0; j < nk[pw]; j++) {
                  const float wv = wk[ks[pw][j]];
                  const float* src = rowp + kd[pw][j];
#pragma GCC unroll 4
                  for (int r = 0; r < RB; r++)
#pragma GCC unroll 2
                    for (int v = 0; v < MAXQ; v++) acc[r][pw][v] += loadu(src + r * Wp + v * V) * wv;
                }
            }
          }
          for (int r = 0; r < rows; r++) {
            for (int p = 0; p < 2; p++)
              for (int v = 0; v < MAXQ; v++) storeu(tmp[p] + v * V, acc[r][p][v]);
            float* d = out + (ph + 2 * (a0 + r)) * g.W;
            for (int64_t jj = 0; jj < half; jj++)
              for (int p = 0; p < 2; p++) {
                const int64_t iw = 2 * jj + p;
                if (iw < g.W) d[iw] = accumulate ? d[iw] + tmp[p][jj] : tmp[p][jj];
              }
          }
        }
      }
    }
  });
}

void conv_backward_data(const Ctx& ctx, const Geo& g, const float* gy, const float* w, float* gx, bool accumulate,
                        bool gybin, bool dense_spikes) {
  if ((!gybin || dense_spikes) && single_channel_backward_data(ctx, g, gy, w, gx, accumulate)) return;
  if (g.S == 1 && g.C * g.K * g.K <= 27) {
    gather_transposed_small(ctx, g, gy, w, gx, accumulate);
    return;
  }
  if ((!gybin || dense_spikes) && gather_s2_fits(g)) {
    if (((g.W + 1) / 2 + V - 1) / V == 1)
      gather_transposed_small_s2<1>(ctx, g, gy, w, gx, accumulate);
    else
      gather_transposed_small_s2<2>(ctx, g, gy, w, gx, accumulate);
    return;
  }
  // Spikes on maps with fewer than TM pixels per stride phase (decoder.0's
  // 2×2 input) are faster scattered event by event than multiplied densely.
  const bool wide_phases = (g.H / g.S) * (g.W / g.S) >= TM;
  if ((!gybin || (dense_spikes && wide_phases)) && direct_backward_data_fits(g)) {
    direct_conv_backward_data(ctx, g, gy, w, gx, accumulate);
    return;
  }
  if (gybin) {
    scatter_transposed(ctx, g, gy, w, gx, accumulate);
    return;
  }
  const int64_t P = g.OH * g.OW;
  const int64_t R = g.C * g.K * g.K;
  const int64_t chunk = chunk_images(g);
  scratch_vector<float> col((size_t)R * chunk * P);
  scratch_vector<float> gyc((size_t)g.O * chunk * P);
  if (!accumulate) std::memset(gx, 0, sizeof(float) * g.batch * g.C * g.H * g.W);
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.batch - n0);
    const int64_t cols = nb * P;
    // Gather gy of the chunk as [O, cols].
    ctx.parallel_for(g.O, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; o++)
        for (int64_t img = 0; img < nb; img++)
          std::memcpy(gyc.data() + o * cols + img * P, gy + ((n0 + img) * g.O + o) * P, sizeof(float) * P);
    });
    gemm(ctx, true, false, R, cols, g.O, w, gyc.data(), col.data(), false);
    col2im(ctx, g, col.data(), n0, nb, gx);
  }
}

// Weight gradient with few input channels: each (o, c, kh, kw) is one dot
// product over every image and position, computed by one task in order.
static void direct_weight_small(const Ctx& ctx, const Geo& g, const float* x, const float* gy, float* gw,
                                bool accumulate) {
  const int64_t P = g.OH * g.OW, KK = g.K * g.K;
  ctx.parallel_for(g.O * g.C * KK, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; t++) {
      const int64_t o = t / (g.C * KK), c = (t / KK) % g.C, kh = (t % KK) / g.K, kw = t % g.K;
      double total = 0;
      const int64_t ow0 = std::max<int64_t>(0, (g.P - kw + g.S - 1) / g.S);
      const int64_t ow1 = std::min<int64_t>(g.OW, (g.W - 1 + g.P - kw) / g.S + 1);
      for (int64_t n = 0; n < g.batch; n++) {
        const float* xin = x + (n * g.C + c) * g.H * g.W;
        const float* gr = gy + (n * g.O + o) * P;
        vf acc = {};
        float tail = 0.f;
        for (int64_t oh = 0; oh < g.OH; oh++) {
          const int64_t ih = oh * g.S - g.P + kh;
          if (ih < 0 || ih >= g.H) continue;
          const float* xr = xin + ih * g.W;
          const float* grow = gr + oh * g.OW;
          int64_t ow = ow0;
          if (g.S == 1) {
            const float* xs = xr - g.P + kw;
            for (; ow + V <= ow1; ow += V) acc += loadu(grow + ow) * loadu(xs + ow);
            for (; ow < ow1; ow++) tail += grow[ow] * xs[ow];
          } else {
            for (; ow < ow1; ow++) tail += grow[ow] * xr[ow * g.S - g.P + kw];
          }
        }
        float s = tail;
        for (int j = 0; j < V; j++) s += acc[j];
        total += s;
      }
      gw[t] = accumulate ? gw[t] + (float)total : (float)total;
    }
  });
}

// Weight gradient of a convolution with few taps (C·k·k ≤ 27, stride 1 or 2:
// the encoders' first layer and the decoders' last on RGB images): gw[o, (c, kh, kw)] =
// Σ gy[o] row · the x row that tap reads, vectorised along output rows. At
// stride 2 each padded x row is split by column phase (x[2j + φ] → row φ, j),
// so the x values of V consecutive outputs are one load there too. One task
// per (image group, o); gy and x come from zero-padded copies, so whole
// vectors are read and the padding adds zeros; 9 taps × 2 vectors of
// accumulators, lanes added in a fixed order at the end. Groups are fixed by
// the geometry, so the result does not depend on the thread count. (The
// transposed-panel direct kernel spent its time transposing gy here: 256-1,024
// positions per image for 9 taps.)
static bool rowdot_weight_fits(const Geo& g) {
  return (g.S == 1 || g.S == 2) && g.K <= 3 && g.C * g.K * g.K <= 27;
}

static void rowdot_weight_small(const Ctx& ctx, const Geo& g, const float* x, const float* gy, float* gw,
                                bool accumulate) {
  const int64_t S = g.S, KK = g.K * g.K, R = g.C * KK, O = g.O;
  const int64_t nv = (g.OW + V - 1) / V;
  const int64_t Wg = nv * V;                          // gy row read as whole vectors
  const int64_t Wx = Wg + g.K;                        // length of a phase row of padded x
  const int64_t Hx = std::max(g.H + 2 * g.P, (g.OH - 1) * S + g.K);  // padded x rows
  const bool pad_gy = g.OW != Wg;
  const PhaseSplit split(g, Wx);
  const int64_t groups = weight_gradient_groups(g.batch);
  const int64_t per = (g.batch + groups - 1) / groups;
  const int64_t slots = (nv + 1) / 2;  // pairs of vectors along a row
  int64_t tap[9];                      // offset of tap (kh, kw) from its output row's first padded row
  for (int64_t r = 0; r < KK; r++) {
    const int64_t kh = r / g.K, kw = r % g.K;
    tap[r] = (kh * S + kw % S) * Wx + kw / S;
  }
  scratch_vector<double> part((size_t)(groups * O * R), 0.0);
  ctx.parallel_for(groups, [&](int64_t b, int64_t e) {
    scratch_vector<float> xpad((size_t)(g.C * Hx * S * Wx), 0.f);
    scratch_vector<float> gpad(pad_gy ? (size_t)(g.OH * Wg) : 0, 0.f);
    // Running sums per (o, c, slot, tap, 2 vectors), carried across the group's images.
    scratch_vector<vf> accs((size_t)(O * g.C * slots * 9 * 2));
    for (int64_t grp = b; grp < e; grp++) {
      std::fill(accs.begin(), accs.end(), vf{});
      const int64_t i1 = std::min(g.batch, (grp + 1) * per);
      for (int64_t n = grp * per; n < i1; n++) {
        for (int64_t c = 0; c < g.C; c++)
          for (int64_t ih = 0; ih < g.H; ih++) {
            split.row(x + ((n * g.C + c) * g.H + ih) * g.W, xpad.data() + ((c * Hx + ih + g.P) * S) * Wx, Wx);
          }
        for (int64_t o = 0; o < O; o++) {
          const float* gplane = gy + (n * O + o) * g.OH * g.OW;
          if (pad_gy) {
            for (int64_t oh = 0; oh < g.OH; oh++)
              std::memcpy(gpad.data() + oh * Wg, gplane + oh * g.OW, sizeof(float) * g.OW);
            gplane = gpad.data();
          }
          for (int64_t c = 0; c < g.C; c++) {
            const float* xp = xpad.data() + c * Hx * S * Wx;
            for (int64_t sl = 0; sl < slots; sl++) {
              const int64_t vb = sl * 2;
              const bool two = vb + 1 < nv;
              vf* a = accs.data() + (((o * g.C + c) * slots + sl) * 9) * 2;
              vf acc[9][2];
              for (int r = 0; r < 9; r++) acc[r][0] = a[r * 2], acc[r][1] = a[r * 2 + 1];
              for (int64_t oh = 0; oh < g.OH; oh++) {
                const float* grow = gplane + oh * Wg + vb * V;
                const vf g0 = loadu(grow), g1 = two ? loadu(grow + V) : vf{};
                const float* xrow = xp + oh * S * S * Wx + vb * V;
                for (int64_t r = 0; r < KK; r++) {
                  acc[r][0] += g0 * loadu(xrow + tap[r]);
                  if (two) acc[r][1] += g1 * loadu(xrow + tap[r] + V);
                }
              }
              for (int r = 0; r < 9; r++) a[r * 2] = acc[r][0], a[r * 2 + 1] = acc[r][1];
            }
          }
        }
      }
      for (int64_t o = 0; o < O; o++)
        for (int64_t c = 0; c < g.C; c++)
          for (int64_t r = 0; r < KK; r++) {
            double sum = 0;
            for (int64_t sl = 0; sl < slots; sl++) {
              const vf* a = accs.data() + (((o * g.C + c) * slots + sl) * 9 + r) * 2;
              for (int j = 0; j < V; j++) sum += (double)a[0][j] + (double)a[1][j];
            }
            part[(grp * O + o) * R + c * KK + r] = sum;
          }
    }
  });
  for (int64_t o = 0; o < O; o++)
    for (int64_t r = 0; r < R; r++) {
      double sum = 0;
      for (int64_t grp = 0; grp < groups; grp++) sum += part[(grp * O + o) * R + r];
      gw[o * R + r] = accumulate ? gw[o * R + r] + (float)sum : (float)sum;
    }
}

void conv_backward_weight(const Ctx& ctx, const Geo& g, const float* x, const float* gy, float* gw,
                          bool accumulate, bool xbin) {
  (void)xbin;
  if (single_channel_backward_weight(ctx, g, x, gy, gw, accumulate)) return;
  if (rowdot_weight_fits(g)) {
    rowdot_weight_small(ctx, g, x, gy, gw, accumulate);
    return;
  }
  if (g.O % NR == 0) {  // any number of positions: chunks of images fill the tiles
    direct_conv_backward_weight(ctx, g, x, gy, gw, accumulate);
    return;
  }
  if (g.C * g.K * g.K <= 27) {
    direct_weight_small(ctx, g, x, gy, gw, accumulate);
    return;
  }
  const int64_t P = g.OH * g.OW;
  const int64_t R = g.C * g.K * g.K;
  const int64_t chunk = chunk_images(g);
  scratch_vector<float> col((size_t)R * chunk * P);
  scratch_vector<float> gyc((size_t)g.O * chunk * P);
  if (!accumulate) std::memset(gw, 0, sizeof(float) * g.O * R);
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.batch - n0);
    const int64_t cols = nb * P;
    im2col(ctx, g, x, n0, nb, col.data());
    ctx.parallel_for(g.O, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; o++)
        for (int64_t img = 0; img < nb; img++)
          std::memcpy(gyc.data() + o * cols + img * P, gy + ((n0 + img) * g.O + o) * P, sizeof(float) * P);
    });
    // gW [O, R] += gy [O, cols] · col^T
    gemm(ctx, false, true, g.O, R, cols, gyc.data(), col.data(), gw, true);
  }
}

// Register-only FMA loop for the peak-throughput benchmark: 8 independent
// accumulator chains, 2 FLOPs per lane per FMA.
double peak_fma_loop(int64_t iterations) {
  vf a0 = {}, a1 = {}, a2 = {}, a3 = {}, a4 = {}, a5 = {}, a6 = {}, a7 = {};
  vf m = {}, c = {};
  m += 0.999999f;
  c += 1e-7f;
  for (int64_t i = 0; i < iterations; i++) {
    a0 = a0 * m + c;
    a1 = a1 * m + c;
    a2 = a2 * m + c;
    a3 = a3 * m + c;
    a4 = a4 * m + c;
    a5 = a5 * m + c;
    a6 = a6 * m + c;
    a7 = a7 * m + c;
#if defined(__x86_64__)
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7));
#endif
  }
  vf s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
  double r = 0;
  for (int j = 0; j < V; j++) r += s[j];
  // FLOPs done; comparing the sum keeps the loop from being optimised away.
  return (double)iterations * 16.0 * V + (r == 1234.5678 ? 1.0 : 0.0);
}

}  // namespace SPV_ISA
}  // namespace spv
