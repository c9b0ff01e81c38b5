// AdamW parameter update (torch.optim.AdamW semantics; see src/engine/optim.ts).
// Float64 arithmetic in exactly the order of the TypeScript loop, rounding to
// float32 where it stores, and compiled without contraction: bit-identical to
// the portable version, just not one interpreted loop over millions of weights.
#include <algorithm>
#include <cmath>

#include "common.h"

namespace spv {

SPV_CLONES static void adamw_range(int64_t b, int64_t e, float* p, const float* grad, float* m, float* v,
                                   double decay, double b1, double b2, double step_size, double bc2_sqrt, double eps) {
  for (int64_t i = b; i < e; i++) {
    const double gi = grad[i];
    p[i] = (float)((double)p[i] * decay);
    m[i] = (float)(b1 * (double)m[i] + (1 - b1) * gi);
    v[i] = (float)(b2 * (double)v[i] + (1 - b2) * gi * gi);
    p[i] = (float)((double)p[i] - (step_size * (double)m[i]) / (std::sqrt((double)v[i]) / bc2_sqrt + eps));
  }
}

void adamw_update(const Ctx& ctx, int64_t n, float* p, const float* grad, float* m, float* v, double decay, double b1,
                  double b2, double step_size, double bc2_sqrt, double eps) {
  const int64_t chunk = 1 << 14;
  ctx.parallel_for((n + chunk - 1) / chunk, [&](int64_t b, int64_t e) {
    adamw_range(b * chunk, std::min(n, e * chunk), p, grad, m, v, decay, b1, b2, step_size, bc2_sqrt, eps);
  });
}

}  // namespace spv
