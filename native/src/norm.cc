// Batch-norm kernels over x viewed as [outer, channels, inner]. Reductions
// are done per fixed block of outer rows into float64 partials, then summed
// in block order, so results do not depend on the thread count.
//
// Within a channel's run of `inner` values the float64 sums use 8 interleaved
// accumulators (element i goes to lane i mod 8, the lanes are added in a
// fixed tree at the end): a single chain would wait on the add latency for
// every element, and the compiler may not reorder a float sum itself. The
// order is fixed by this code, not by the instruction set. Row bodies are
// compiled for AVX-512, AVX2 and the baseline (target_clones) without
// contraction, so every instruction set rounds the same way.
#include <algorithm>
#include <vector>

#include "blocks.h"
#include "common.h"

namespace spv {

static constexpr int64_t ROWS = 16;  // outer rows per reduction block
static constexpr int LANES = 8;

static inline double lanes_total(const double* acc) {
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// p[c] += Σ_i row[c, i] (kind 0), Σ_i (row[c, i] − mean_c)² (kind 1).
SPV_CLONES static void row_sums(const float* row, int64_t C, int64_t inner, const double* mean, int kind, double* p) {
  if (inner == 1) {
    if (kind == 0)
      for (int64_t c = 0; c < C; c++) p[c] += row[c];
    else
      for (int64_t c = 0; c < C; c++) {
        const double d = row[c] - mean[c];
        p[c] += d * d;
      }
    return;
  }
  for (int64_t c = 0; c < C; c++) {
    const float* r = row + c * inner;
    double acc[LANES] = {};
    int64_t i = 0;
    if (kind == 0) {
      for (; i + LANES <= inner; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += r[i + l];
      for (int l = 0; i < inner; i++, l++) acc[l] += r[i];
    } else {
      const double m = mean[c];
      for (; i + LANES <= inner; i += LANES)
        for (int l = 0; l < LANES; l++) {
          const double d = r[i + l] - m;
          acc[l] += d * d;
        }
      for (int l = 0; i < inner; i++, l++) {
        const double d = r[i] - m;
        acc[l] += d * d;
      }
    }
    p[c] += lanes_total(acc);
  }
}

// p[2c] += Σ_i g, p[2c+1] += Σ_i g·(x − mean_c)·invstd_c.
SPV_CLONES static void row_grad_sums(const float* grow, const float* xrow, int64_t C, int64_t inner,
                                     const double* mean, const double* inv_std, double* p) {
  if (inner == 1) {
    for (int64_t c = 0; c < C; c++) {
      p[c * 2] += grow[c];
      p[c * 2 + 1] += grow[c] * (xrow[c] - mean[c]) * inv_std[c];
    }
    return;
  }
  for (int64_t c = 0; c < C; c++) {
    const float* gr = grow + c * inner;
    const float* xr = xrow + c * inner;
    const double m = mean[c], is = inv_std[c];
    double a1[LANES] = {}, a2[LANES] = {};
    int64_t i = 0;
    for (; i + LANES <= inner; i += LANES)
      for (int l = 0; l < LANES; l++) {
        a1[l] += gr[i + l];
        a2[l] += gr[i + l] * (xr[i + l] - m) * is;
      }
    for (int l = 0; i < inner; i++, l++) {
      a1[l] += gr[i];
      a2[l] += gr[i] * (xr[i] - m) * is;
    }
    p[c * 2] += lanes_total(a1);
    p[c * 2 + 1] += lanes_total(a2);
  }
}

SPV_CLONES static void row_affine(const float* xrow, int64_t C, int64_t inner, const float* a, const float* b,
                                  float* yrow) {
  if (inner == 1) {  // linear layers: vectorise across channels
    for (int64_t c = 0; c < C; c++) yrow[c] = a[c] * xrow[c] + b[c];
    return;
  }
  for (int64_t c = 0; c < C; c++) {
    const float* r = xrow + c * inner;
    float* w = yrow + c * inner;
    const float av = a[c], bv = b[c];
    for (int64_t i = 0; i < inner; i++) w[i] = av * r[i] + bv;
  }
}

SPV_CLONES static void row_norm_backward(const float* grow, const float* xrow, int64_t C, int64_t inner,
                                         const float* a, const double* mean, const double* inv_std,
                                         const double* sum_g, const double* sum_gx, double count, bool batch_stats,
                                         bool accumulate, float* drow) {
  for (int64_t c = 0; c < C; c++) {
    const float* gr = grow + c * inner;
    const float* xr = xrow + c * inner;
    float* d = drow + c * inner;
    const double av = a[c];
    if (batch_stats) {
      const double mg = sum_g[c] / count, mgx = sum_gx[c] / count, m = mean[c], is = inv_std[c];
      if (accumulate)
        for (int64_t i = 0; i < inner; i++) d[i] += (float)(av * (gr[i] - mg - (xr[i] - m) * is * mgx));
      else
        for (int64_t i = 0; i < inner; i++) d[i] = (float)(av * (gr[i] - mg - (xr[i] - m) * is * mgx));
    } else if (accumulate) {
      for (int64_t i = 0; i < inner; i++) d[i] += (float)(av * gr[i]);
    } else {
      for (int64_t i = 0; i < inner; i++) d[i] = (float)(av * gr[i]);
    }
  }
}

template <typename F>
static void blocked_channel_sums(const Ctx& ctx, int64_t outer, int64_t C, int nsums, F body, double* const* out) {
  const int64_t blocks = (outer + ROWS - 1) / ROWS;
  // From the scratch cache, like every kernel's scratch (scratch.cc): with
  // thousands of channels (the posterior's last layer) the partials are
  // megabytes. (No gain was measurable in channelMeanVar's time.)
  scratch_vector<double> part((size_t)blocks * C * nsums, 0.0);
  ctx.parallel_for(blocks, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; blk++) {
      double* p = part.data() + blk * C * nsums;
      const int64_t o1 = std::min(outer, (blk + 1) * ROWS);
      for (int64_t o = blk * ROWS; o < o1; o++) body(o, p);
    }
  });
  for (int s = 0; s < nsums; s++) std::fill(out[s], out[s] + C, 0.0);
  for (int64_t blk = 0; blk < blocks; blk++)
    for (int s = 0; s < nsums; s++)
      for (int64_t c = 0; c < C; c++) out[s][c] += part[(blk * C + c) * nsums + s];
}

void channel_mean_var(const Ctx& ctx, int64_t outer, int64_t C, int64_t inner, const float* x, double* mean,
                      double* var) {
  const double count = (double)outer * inner;
  double* m_out[1] = {mean};
  blocked_channel_sums(
      ctx, outer, C, 1, [&](int64_t o, double* p) { row_sums(x + o * C * inner, C, inner, nullptr, 0, p); }, m_out);
  for (int64_t c = 0; c < C; c++) mean[c] /= count;
  double* v_out[1] = {var};
  blocked_channel_sums(
      ctx, outer, C, 1, [&](int64_t o, double* p) { row_sums(x + o * C * inner, C, inner, mean, 1, p); }, v_out);
  for (int64_t c = 0; c < C; c++) var[c] /= count;
}

void channel_sums(const Ctx& ctx, int64_t outer, int64_t C, int64_t inner, const float* x, double* sum) {
  double* out[1] = {sum};
  blocked_channel_sums(
      ctx, outer, C, 1, [&](int64_t o, double* p) { row_sums(x + o * C * inner, C, inner, nullptr, 0, p); }, out);
}

void channel_affine(const Ctx& ctx, int64_t outer, int64_t C, int64_t inner, const float* x, const float* a,
                    const float* b, float* y) {
  ctx.parallel_for(outer, [&](int64_t ob, int64_t oe) {
    for (int64_t o = ob; o < oe; o++) row_affine(x + o * C * inner, C, inner, a, b, y + o * C * inner);
  });
}

void channel_grad_sums(const Ctx& ctx, int64_t outer, int64_t C, int64_t inner, const float* g, const float* x,
                       const double* mean, const double* inv_std, double* sum_g, double* sum_gx) {
  double* outs[2] = {sum_g, sum_gx};
  blocked_channel_sums(
      ctx, outer, C, 2,
      [&](int64_t o, double* p) { row_grad_sums(g + o * C * inner, x + o * C * inner, C, inner, mean, inv_std, p); },
      outs);
}

void channel_norm_backward(const Ctx& ctx, int64_t outer, int64_t C, int64_t inner, const float* g, const float* x,
                           const float* a, const double* mean, const double* inv_std, const double* sum_g,
                           const double* sum_gx, bool batch_stats, float* gx, bool accumulate) {
  const double count = (double)outer * inner;
  ctx.parallel_for(outer, [&](int64_t ob, int64_t oe) {
    for (int64_t o = ob; o < oe; o++)
      row_norm_backward(g + o * C * inner, x + o * C * inner, C, inner, a, mean, inv_std, sum_g, sum_gx, count,
                        batch_stats, accumulate, gx + o * C * inner);
  });
}

// LeakyReLU, the ANN VAE's activation after each batch norm: y = x·f with
// f = 1 for x > 0, else slope, in float64 and rounded once (ops.leakyRelu's
// expression; NaN stays NaN, −0 stays −0), and its backward gx (+)= g·f, the
// first gradient written as 0 + g·f. Elementwise in blocks over the threads.
static constexpr int64_t ACT_BLOCK = 1 << 14;

// The factor selected and then multiplied, as the backward does, so the loop
// vectorises as a blend and a multiply. `one` is 1.0 passed in from outside:
// with the constant written here, GCC folded v·1 into v, turned the two
// cases into a branch (which the random signs of batch-norm outputs
// mispredict half the time) and left the loop scalar: 9.5 ms per 4 M values
// against 0.9 for the backward. v·1 = v exactly, so the values are the same.
SPV_CLONES static void leaky_relu_block(int64_t n, const float* x, float* y, double slope, double one) {
  for (int64_t i = 0; i < n; i++) {
    const double v = x[i];
    y[i] = (float)(v * (v > 0 ? one : slope));
  }
}

void leaky_relu(const Ctx& ctx, int64_t n, const float* x, float* y, double slope) {
  // Read through a volatile so the compiler cannot see the value (see above).
  static volatile double one = 1.0;
  const double o = one;
  for_each_block<ACT_BLOCK>(ctx, n, [&](int64_t i0, int64_t m) { leaky_relu_block(m, x + i0, y + i0, slope, o); });
}

SPV_CLONES static void leaky_relu_backward_block(int64_t n, const float* x, const float* g, float* gx, double slope,
                                                 bool accumulate) {
  if (accumulate)
    for (int64_t i = 0; i < n; i++) gx[i] = (float)((double)gx[i] + (double)g[i] * (x[i] > 0 ? 1.0 : slope));
  else
    for (int64_t i = 0; i < n; i++) gx[i] = (float)(0.0 + (double)g[i] * (x[i] > 0 ? 1.0 : slope));
}

void leaky_relu_backward(const Ctx& ctx, int64_t n, const float* x, const float* g, float* gx, double slope,
                         bool accumulate) {
  for_each_block<ACT_BLOCK>(ctx, n, [&](int64_t i0, int64_t m) {
    leaky_relu_backward_block(m, x + i0, g + i0, gx + i0, slope, accumulate);
  });
}

}  // namespace spv
