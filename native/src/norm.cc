// Batch-norm kernels over x viewed as [outer, channels, inner]. Reductions
// are done per fixed block of outer rows into float64 partials, then summed
// in block order, so results do not depend on the thread count.
#include <algorithm>
#include <vector>

#include "common.h"

namespace spv {

static constexpr int64_t ROWS = 16;  // outer rows per reduction block

template <typename F>
static void blocked_channel_sums(const Ctx& ctx, int64_t outer, int64_t C, int nsums, F body, double* const* out) {
  const int64_t blocks = (outer + ROWS - 1) / ROWS;
  std::vector<double> part((size_t)blocks * C * nsums, 0.0);
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
      ctx, outer, C, 1,
      [&](int64_t o, double* p) {
        for (int64_t c = 0; c < C; c++) {
          const float* r = x + (o * C + c) * inner;
          double s = 0;
          for (int64_t i = 0; i < inner; i++) s += r[i];
          p[c] += s;
        }
      },
      m_out);
  for (int64_t c = 0; c < C; c++) mean[c] /= count;
  double* v_out[1] = {var};
  blocked_channel_sums(
      ctx, outer, C, 1,
      [&](int64_t o, double* p) {
        for (int64_t c = 0; c < C; c++) {
          const float* r = x + (o * C + c) * inner;
          const double m = mean[c];
          double s = 0;
          for (int64_t i = 0; i < inner; i++) {
            const double d = r[i] - m;
            s += d * d;
          }
          p[c] += s;
        }
      },
      v_out);
  for (int64_t c = 0; c < C; c++) var[c] /= count;
}

void channel_affine(const Ctx& ctx, int64_t outer, int64_t C, int64_t inner, const float* x, const float* a,
                    const float* b, float* y) {
  ctx.parallel_for(outer, [&](int64_t ob, int64_t oe) {
    for (int64_t o = ob; o < oe; o++)
      for (int64_t c = 0; c < C; c++) {
        const float* r = x + (o * C + c) * inner;
        float* w = y + (o * C + c) * inner;
        const float av = a[c], bv = b[c];
        for (int64_t i = 0; i < inner; i++) w[i] = av * r[i] + bv;
      }
  });
}

void channel_grad_sums(const Ctx& ctx, int64_t outer, int64_t C, int64_t inner, const float* g, const float* x,
                       const double* mean, const double* inv_std, double* sum_g, double* sum_gx) {
  double* outs[2] = {sum_g, sum_gx};
  blocked_channel_sums(
      ctx, outer, C, 2,
      [&](int64_t o, double* p) {
        for (int64_t c = 0; c < C; c++) {
          const float* gr = g + (o * C + c) * inner;
          const float* xr = x + (o * C + c) * inner;
          const double m = mean[c], is = inv_std[c];
          double s1 = 0, s2 = 0;
          for (int64_t i = 0; i < inner; i++) {
            s1 += gr[i];
            s2 += gr[i] * (xr[i] - m) * is;
          }
          p[c * 2] += s1;
          p[c * 2 + 1] += s2;
        }
      },
      outs);
}

void channel_norm_backward(const Ctx& ctx, int64_t outer, int64_t C, int64_t inner, const float* g, const float* x,
                           const float* a, const double* mean, const double* inv_std, const double* sum_g,
                           const double* sum_gx, bool batch_stats, float* gx) {
  const double count = (double)outer * inner;
  ctx.parallel_for(outer, [&](int64_t ob, int64_t oe) {
    for (int64_t o = ob; o < oe; o++)
      for (int64_t c = 0; c < C; c++) {
        const float* gr = g + (o * C + c) * inner;
        const float* xr = x + (o * C + c) * inner;
        float* d = gx + (o * C + c) * inner;
        const double av = a[c];
        if (batch_stats) {
          const double mg = sum_g[c] / count, mgx = sum_gx[c] / count, m = mean[c], is = inv_std[c];
          for (int64_t i = 0; i < inner; i++) d[i] += (float)(av * (gr[i] - mg - (xr[i] - m) * is * mgx));
        } else {
          for (int64_t i = 0; i < inner; i++) d[i] += (float)(av * gr[i]);
        }
      }
  });
}

}  // namespace spv
