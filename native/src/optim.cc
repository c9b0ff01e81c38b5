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

// Returns whether every stored p, m and v is finite (x·0 is 0 for those and
// NaN otherwise). The check is an integer OR: a float64 sum of x·0, the first
// version, is a chain the compiler may not reorder, which kept the whole loop
// scalar (sqrt and division one element at a time).
SPV_CLONES static bool adamw_range(int64_t b, int64_t e, float* __restrict p, const float* __restrict grad,
                                   float* __restrict m, float* __restrict v, double decay, double b1, double b2,
                                   double step_size, double bc2_sqrt, double eps) {
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
    bad |= (pi * 0.f != 0.f) | (mi * 0.f != 0.f) | (vi * 0.f != 0.f);
  }
  return bad == 0;
}

bool adamw_update(const Ctx& ctx, int64_t n, float* p, const float* grad, float* m, float* v, double decay, double b1,
                  double b2, double step_size, double bc2_sqrt, double eps) {
  const int64_t chunk = 1 << 14;
  const int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<char> finite(chunks, 1);  // one slot per chunk: no sharing between threads
  ctx.parallel_for(chunks, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; c++)
      finite[c] = adamw_range(c * chunk, std::min(n, (c + 1) * chunk), p, grad, m, v, decay, b1, b2, step_size, bc2_sqrt, eps);
  });
  for (char f : finite)
    if (!f) return false;
  return true;
}

}  // namespace spv
