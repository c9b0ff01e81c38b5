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

// Returns whether a stored p, m or v is NaN or infinite (x − x is NaN for
// those and 0 otherwise; no -ffast-math, so it is not folded). An integer
// flag rather than a float sum: an ordered float reduction kept the compiler
// from vectorising the loop, and the update was then a third of a classifier
// step at batch 16 (13 M weights).
SPV_CLONES static bool adamw_range(int64_t b, int64_t e, float* p, const float* grad, float* m, float* v, double decay,
                                   double b1, double b2, double step_size, double bc2_sqrt, double eps) {
  int bad = 0;
  for (int64_t i = b; i < e; i++) {
    const double gi = grad[i];
    const float pd = (float)((double)p[i] * decay);
    const float mi = (float)(b1 * (double)m[i] + (1 - b1) * gi);
    const float vi = (float)(b2 * (double)v[i] + (1 - b2) * gi * gi);
    const float pi = (float)((double)pd - (step_size * (double)mi) / (std::sqrt((double)vi) / bc2_sqrt + eps));
    m[i] = mi;
    v[i] = vi;
    p[i] = pi;
    bad |= (int)((pi - pi) != 0.f) | (int)((mi - mi) != 0.f) | (int)((vi - vi) != 0.f);
  }
  return bad != 0;
}

bool adamw_update(const Ctx& ctx, int64_t n, float* p, const float* grad, float* m, float* v, double decay, double b1,
                  double b2, double step_size, double bc2_sqrt, double eps) {
  const int64_t chunk = 1 << 14;
  const int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<char> bad(chunks, 0);  // one slot per chunk: no sharing between threads
  ctx.parallel_for(chunks, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; c++)
      bad[c] = adamw_range(c * chunk, std::min(n, (c + 1) * chunk), p, grad, m, v, decay, b1, b2, step_size, bc2_sqrt, eps);
  });
  return std::find(bad.begin(), bad.end(), 1) == bad.end();
}

}  // namespace spv
