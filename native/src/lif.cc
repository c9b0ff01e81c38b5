// LIF neuron kernels. Compiled with -ffp-contract=off: the forward pass must
// round exactly like the TypeScript oracle (and PyTorch's float32 ops):
// u = fl(fl(fl(decay·u_prev)·(1 − o_prev)) + x), with no fused multiply-add.
#include "common.h"

namespace spv {

void lif_forward(const Ctx& ctx, int64_t steps, int64_t size, const float* x, float* u, float* o, float decay,
                 float threshold) {
  ctx.parallel_for(size, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) {
      float up = 0.f, op = 0.f;
      for (int64_t t = 0; t < steps; t++) {
        const int64_t idx = t * size + i;
        const float d = decay * up;
        const float r = d * (1.f - op);
        const float ut = r + x[idx];
        const float ot = ut > threshold ? 1.f : 0.f;
        u[idx] = ut;
        o[idx] = ot;
        up = ut;
        op = ot;
      }
    }
  });
}

void lif_backward(const Ctx& ctx, int64_t steps, int64_t size, const float* u, const float* o, const float* go,
                  float* gx, float decay, float half_width, float height) {
  ctx.parallel_for(size, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) {
      double g_next = 0;  // the oracle accumulates in doubles too
      for (int64_t t = steps - 1; t >= 0; t--) {
        const int64_t idx = t * size + i;
        const double ut = u[idx];
        const double g_o = (double)go[idx] - (double)decay * ut * g_next;
        const double sg = (ut < half_width && ut > -half_width) ? height : 0.0;
        const double g_u = g_o * sg + (double)decay * (1.0 - o[idx]) * g_next;
        gx[idx] = (float)g_u;
        g_next = g_u;
      }
    }
  });
}

}  // namespace spv
