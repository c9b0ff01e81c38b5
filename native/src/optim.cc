// AdamW parameter update (torch.optim.AdamW semantics; see src/engine/optim.ts).
// Float64 arithmetic in exactly the order of the TypeScript loop, rounding to
// float32 where it stores, and compiled without contraction: bit-identical to
// the portable version, just not one interpreted loop over millions of weights.
// It also reports whether every value it stored is finite: the trainer's
// non-finite guard rides on this pass instead of reading 3 x 16 MB again.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common.h"

namespace spv {

// Returns a sum that is NaN exactly when a stored p, m or v is NaN or infinite
// (x·0 is NaN for those and 0 otherwise; no -ffast-math, so it is not folded).
SPV_CLONES static double adamw_range(int64_t b, int64_t e, float* p, const float* grad, float* m, float* v,
                                     double decay, double b1, double b2, double step_size, double bc2_sqrt, double eps) {
  double poison = 0;
  for (int64_t i = b; i < e; i++) {
    const double gi = grad[i];
    p[i] = (float)((double)p[i] * decay);
    m[i] = (float)(b1 * (double)m[i] + (1 - b1) * gi);
    v[i] = (float)(b2 * (double)v[i] + (1 - b2) * gi * gi);
    p[i] = (float)((double)p[i] - (step_size * (double)m[i]) / (std::sqrt((double)v[i]) / bc2_sqrt + eps));
    poison += (double)p[i] * 0.0 + (double)m[i] * 0.0 + (double)v[i] * 0.0;
  }
  return poison;
}

bool adamw_update(const Ctx& ctx, int64_t n, float* p, const float* grad, float* m, float* v, double decay, double b1,
                  double b2, double step_size, double bc2_sqrt, double eps) {
  const int64_t chunk = 1 << 14;
  const int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<double> poison(chunks, 0.0);  // one slot per chunk: no sharing between threads
  ctx.parallel_for(chunks, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; c++)
      poison[c] = adamw_range(c * chunk, std::min(n, (c + 1) * chunk), p, grad, m, v, decay, b1, b2, step_size, bc2_sqrt, eps);
  });
  for (double x : poison)
    if (!std::isfinite(x)) return false;
  return true;
}

}  // namespace spv
