// LIF neuron kernels. Compiled with -ffp-contract=off: the forward pass must
// round exactly like the TypeScript oracle (and PyTorch's float32 ops):
// u = fl(fl(fl(decay·u_prev)·(1 − o_prev)) + x), with no fused multiply-add,
// and the backward must do the oracle's float64 operations in its order.
//
// Memory layout is [steps, size]; neurons are processed in blocks with time
// outer and neurons inner, so every pass streams contiguous memory and
// vectorises, while each neuron still sees its steps in order. The per-block
// bodies are compiled for AVX-512, AVX2 and the baseline and chosen at load
// time (target_clones): the backward's float64 arithmetic runs 8 lanes wide
// instead of SSE2's 2 (its time dropped by half). Without contraction the
// wider code rounds exactly like the baseline.
#include <algorithm>
#include <vector>

#include "blocks.h"
#include "common.h"

namespace spv {

static constexpr int64_t BLOCK = 2048;

// The membrane update of every kernel here, one definition for the rounding
// the oracle fixes: u_t = fl(fl(fl(decay·u_{t−1})·(1 − o_{t−1})) + x_t). Inlined
// into each per-block body (and its AVX-512/AVX2 clones) so the loops still
// vectorise; -ffp-contract=off keeps the products and the sum apart.
__attribute__((always_inline)) static inline float lif_membrane(float decay, float u_prev, float o_prev, float x) {
  const float d = decay * u_prev;
  const float r = d * (1.f - o_prev);
  return r + x;
}

SPV_CLONES static void lif_forward_block(int64_t steps, int64_t size, int64_t i0, int64_t n, const float* x, float* u,
                                         float* o, float decay, float threshold) {
  float up[BLOCK], op[BLOCK];
  for (int64_t j = 0; j < n; j++) up[j] = op[j] = 0.f;
  for (int64_t t = 0; t < steps; t++) {
    const float* xt = x + t * size + i0;
    float* ut = u + t * size + i0;
    float* ot = o + t * size + i0;
    for (int64_t j = 0; j < n; j++) {
      const float v = lif_membrane(decay, up[j], op[j], xt[j]);
      const float s = v > threshold ? 1.f : 0.f;
      ut[j] = v;
      ot[j] = s;
      up[j] = v;
      op[j] = s;
    }
  }
}

void lif_forward(const Ctx& ctx, int64_t steps, int64_t size, const float* x, float* u, float* o, float decay,
                 float threshold) {
  for_each_block<BLOCK>(ctx, size, [&](int64_t i0, int64_t n) {
    lif_forward_block(steps, size, i0, n, x, u, o, decay, threshold);
  });
}

// lif_forward_block's step for a neuron whose previous membrane and spike
// are carried in u and o (a network stepped one time step at a time).
SPV_CLONES static void lif_step_block(int64_t n, const float* x, float* u, float* o, float decay, float threshold) {
  for (int64_t j = 0; j < n; j++) {
    const float v = lif_membrane(decay, u[j], o[j], x[j]);
    u[j] = v;
    o[j] = v > threshold ? 1.f : 0.f;
  }
}

void lif_step(const Ctx& ctx, int64_t size, const float* x, float* u, float* o, float decay, float threshold) {
  for_each_block<BLOCK * 8>(ctx, size, [&](int64_t i0, int64_t n) {
    lif_step_block(n, x + i0, u + i0, o + i0, decay, threshold);
  });
}

// One step of the backward recurrence for one neuron: dL/du_t from the
// output gradient, the membrane, the spike and dL/du_{t+1}, in doubles like the oracle.
static inline double lif_grad_step(double uv, double go, double o, double gn, double dd, double hw, double hh) {
  const double g_o = go - dd * uv * gn;
  const double sg = (uv < hw && uv > -hw) ? hh : 0.0;
  return g_o * sg + dd * (1.0 - o) * gn;
}

// The backward recurrence over one block; the membrane of step t is at
// u + t * ustride (the stored array, or a replay scratch). With sum_steps the
// per-step gradients (each rounded to float, as written otherwise) are summed
// over the steps in float64, from the last step down, into gx[i0 .. i0 + n).
SPV_CLONES static void lif_backward_block(int64_t steps, int64_t size, int64_t i0, int64_t n, const float* u,
                                          int64_t ustride, const float* o, const float* go, float* gx, double dd,
                                          double hw, double hh, bool sum_steps = false) {
  double gn[BLOCK];  // dL/du_{t+1}
  double acc[BLOCK];  // with sum_steps only
  for (int64_t j = 0; j < n; j++) gn[j] = 0;
  if (sum_steps)
    for (int64_t j = 0; j < n; j++) acc[j] = 0;
  for (int64_t t = steps - 1; t >= 0; t--) {
    const float* ut = u + t * ustride;
    const float* ot = o + t * size + i0;
    const float* gt = go + t * size + i0;
    if (sum_steps) {
      for (int64_t j = 0; j < n; j++) {
        const double g_u = lif_grad_step(ut[j], gt[j], ot[j], gn[j], dd, hw, hh);
        acc[j] += (double)(float)g_u;
        gn[j] = g_u;
      }
    } else {
      float* xt = gx + t * size + i0;
      for (int64_t j = 0; j < n; j++) {
        const double g_u = lif_grad_step(ut[j], gt[j], ot[j], gn[j], dd, hw, hh);
        xt[j] = (float)g_u;
        gn[j] = g_u;
      }
    }
  }
  if (sum_steps)
    for (int64_t j = 0; j < n; j++) gx[i0 + j] = (float)acc[j];
}

void lif_backward(const Ctx& ctx, int64_t steps, int64_t size, const float* u, const float* o, const float* go,
                  float* gx, float decay, float half_width, float height) {
  for_each_block<BLOCK>(ctx, size, [&](int64_t i0, int64_t n) {
    lif_backward_block(steps, size, i0, n, u + i0, size, o, go, gx, decay, half_width, height);
  });
}

// The fused tdBN + LIF forward over one block: y = a·x + b rounded as
// channel_affine rounds it, then lif_forward's recurrence; only spikes are
// written (the membrane is replayed by the backward pass).
SPV_CLONES static void affine_lif_block(int64_t steps, int64_t size, int64_t xstride, int64_t i0, int64_t n,
                                        const float* av, const float* bv, const float* x, float* o, float decay,
                                        float threshold) {
  float up[BLOCK], op[BLOCK];
  for (int64_t j = 0; j < n; j++) up[j] = op[j] = 0.f;
  for (int64_t t = 0; t < steps; t++) {
    const float* xt = x + t * xstride + i0;
    float* ot = o + t * size + i0;
    for (int64_t j = 0; j < n; j++) {
      const float v = lif_membrane(decay, up[j], op[j], av[j] * xt[j] + bv[j]);
      const float s = v > threshold ? 1.f : 0.f;
      ot[j] = s;
      up[j] = v;
      op[j] = s;
    }
  }
}

void affine_lif_forward(const Ctx& ctx, int64_t steps, int64_t size, int64_t C, int64_t inner, const float* x,
                        const float* a, const float* b, float* o, float decay, float threshold, bool repeated) {
  for_each_block<BLOCK>(ctx, size, [&](int64_t i0, int64_t n) {
    float av[BLOCK], bv[BLOCK];
    channel_coefficients(i0, n, C, inner, a, b, av, bv);
    affine_lif_block(steps, size, repeated ? 0 : size, i0, n, av, bv, x, o, decay, threshold);
  });
}

// affine_lif_block's recurrence, but its spikes only summed over time,
// out[i] = Σ_t coef[t]·o_t[i] in float32 exactly as time_weighted_sum adds
// them (a spike times a coefficient is the coefficient or 0): for a layer
// whose spikes feed nothing but the membrane output (the decoder's last
// spiking layer), so they are never written (its backward replays them).
SPV_CLONES static void affine_lif_sum_block(int64_t steps, int64_t size, int64_t i0, int64_t n, const float* av,
                                            const float* bv, const float* x, const float* coef, float* out,
                                            float decay, float threshold) {
  float up[BLOCK], op[BLOCK], acc[BLOCK];
  for (int64_t j = 0; j < n; j++) up[j] = op[j] = acc[j] = 0.f;
  for (int64_t t = 0; t < steps; t++) {
    const float* xt = x + t * size + i0;
    const float c = coef[t];
    for (int64_t j = 0; j < n; j++) {
      const float v = lif_membrane(decay, up[j], op[j], av[j] * xt[j] + bv[j]);
      const float s = v > threshold ? 1.f : 0.f;
      acc[j] = acc[j] + s * c;
      up[j] = v;
      op[j] = s;
    }
  }
  for (int64_t j = 0; j < n; j++) out[i0 + j] = acc[j];
}

void affine_lif_time_sum(const Ctx& ctx, int64_t steps, int64_t size, int64_t C, int64_t inner, const float* x,
                         const float* a, const float* b, const float* coef, float* out, float decay, float threshold) {
  for_each_block<BLOCK>(ctx, size, [&](int64_t i0, int64_t n) {
    float av[BLOCK], bv[BLOCK];
    channel_coefficients(i0, n, C, inner, a, b, av, bv);
    affine_lif_sum_block(steps, size, i0, n, av, bv, x, coef, out, decay, threshold);
  });
}

// Replays the membrane of one block of the fused tdBN + LIF into us
// ([steps, RB]) from the batch-norm input x and the stored spikes o, with
// exactly the roundings of channel_affine (y = a·x + b) and lif_forward.
static constexpr int64_t RB = 512;
SPV_CLONES static void lif_replay_block(int64_t steps, int64_t size, int64_t xstride, int64_t i0, int64_t n,
                                        const float* av, const float* bv, const float* x, const float* o, float decay,
                                        float* us) {
  {
    const float* xt = x + i0;
    // u_{-1} = o_{-1} = 0, so lif_forward's first step is 0 + y.
    for (int64_t j = 0; j < n; j++) us[j] = 0.f + (av[j] * xt[j] + bv[j]);
  }
  for (int64_t t = 1; t < steps; t++) {
    const float* xt = x + t * xstride + i0;
    const float* op = o + (t - 1) * size + i0;
    const float* up = us + (t - 1) * RB;
    float* ut = us + t * RB;
    for (int64_t j = 0; j < n; j++) {
      ut[j] = lif_membrane(decay, up[j], op[j], av[j] * xt[j] + bv[j]);
    }
  }
}

// lif_replay_block without stored spikes: o_{t−1} is replayed too, as
// u_{t−1} > threshold, the forward's own comparison on the same float.
SPV_CLONES static void lif_replay_spiking_block(int64_t steps, int64_t size, int64_t i0, int64_t n, const float* av,
                                                const float* bv, const float* x, float decay, float threshold,
                                                float* us) {
  {
    const float* xt = x + i0;
    for (int64_t j = 0; j < n; j++) us[j] = 0.f + (av[j] * xt[j] + bv[j]);
  }
  for (int64_t t = 1; t < steps; t++) {
    const float* xt = x + t * size + i0;
    const float* up = us + (t - 1) * RB;
    float* ut = us + t * RB;
    for (int64_t j = 0; j < n; j++) {
      const float o = up[j] > threshold ? 1.f : 0.f;
      ut[j] = lif_membrane(decay, up[j], o, av[j] * xt[j] + bv[j]);
    }
  }
}

// lif_backward_block for affine_lif_time_sum's layer: the output gradient of
// step t is coef[t]·g (g is [size]), rounded as time_weighted_spread rounds
// it, and the spikes are replayed from the membrane (u_t > threshold).
SPV_CLONES static void lif_backward_spread_block(int64_t steps, int64_t size, int64_t i0, int64_t n, const float* us,
                                                 const float* coef, const float* g, float* gx, float threshold,
                                                 double dd, double hw, double hh) {
  double gn[RB];
  const float* gi = g + i0;
  for (int64_t j = 0; j < n; j++) gn[j] = 0;
  for (int64_t t = steps - 1; t >= 0; t--) {
    const float* ut = us + t * RB;
    const double c = coef[t];
    float* xt = gx + t * size + i0;
    for (int64_t j = 0; j < n; j++) {
      const float go = (float)((double)gi[j] * c);
      const double o = ut[j] > threshold ? 1.0 : 0.0;
      const double g_u = lif_grad_step(ut[j], go, o, gn[j], dd, hw, hh);
      xt[j] = (float)g_u;
      gn[j] = g_u;
    }
  }
}

// The batch-norm gradient sums of one block's gradients (channelGradSums'
// terms: Σ g and Σ g·(x − mean_c)·invstd_c, in float64), read back while the
// block is still in cache: per neuron over the steps, then each channel's run
// of neurons in order (in registers: a per-neuron add through memory made
// the long runs of a convolution's channel wait on every store), added to the
// channel's partials p[2c], p[2c+1].
SPV_CLONES static void block_grad_sums(int64_t steps, int64_t size, int64_t i0, int64_t n, int64_t C, int64_t inner,
                                       const float* x, const float* g, const double* mean, const double* inv_std,
                                       double* p) {
  double a1[RB], a2[RB], mv[RB], iv[RB];
  for_channel_runs(i0, n, C, inner, [&](int64_t c, int64_t j0, int64_t j1) {
    std::fill(mv + j0, mv + j1, mean[c]);
    std::fill(iv + j0, iv + j1, inv_std[c]);
  });
  for (int64_t j = 0; j < n; j++) a1[j] = a2[j] = 0;
  for (int64_t t = 0; t < steps; t++) {
    const float* xt = x + t * size + i0;
    const float* gt = g + t * size + i0;
    for (int64_t j = 0; j < n; j++) {
      const double gv = gt[j];
      a1[j] += gv;
      a2[j] += gv * ((double)xt[j] - mv[j]) * iv[j];
    }
  }
  for_channel_runs(i0, n, C, inner, [&](int64_t c, int64_t j0, int64_t j1) {
    double s1 = 0, s2 = 0;
    for (int64_t j = j0; j < j1; j++) s1 += a1[j], s2 += a2[j];
    p[c * 2] += s1;
    p[c * 2 + 1] += s2;
  });
}

// lif_backward over the membrane of y = a_c·x + b_c (the fused tdBN + LIF),
// without a stored membrane: each block's membrane is replayed into a small
// scratch (this file and norm.cc are both compiled without contraction), then
// the backward recurrence runs over it. Saves keeping an activation-sized
// membrane from the forward to the backward pass. go and gx may be the same
// array. With `repeated`, x is one step that drove every step, and gx gets the
// gradient summed over the steps ([size]). With sum_g (and mean, inv_std,
// sum_gx), the batch-norm gradient sums of gx are computed too, while each
// block is in cache (what channel_grad_sums would compute, summed in another
// order): the backward of the fused tdBN + LIF then reads the layer's
// gradient and input once less.
// Runs body(i0, n, av, bv, us) over the blocks of RB neurons (us: a
// [steps, RB] scratch for the replayed membrane), then, with sum_g, the
// batch-norm gradient sums of gx: blocks are dealt in a fixed number of
// contiguous groups, each with its own per-channel partials added in group
// order, so the result does not depend on the thread count.
template <typename Body>
static void replayed_blocks(const Ctx& ctx, int64_t steps, int64_t size, int64_t C, int64_t inner, const float* x,
                            const float* a, const float* b, const float* gx, bool repeated, const double* mean,
                            const double* inv_std, double* sum_g, double* sum_gx, Body body) {
  const int64_t blocks = (size + RB - 1) / RB;
  const bool sums = sum_g != nullptr;
  const int64_t groups = sums ? std::min<int64_t>(blocks, 64) : blocks;
  const int64_t per = (blocks + groups - 1) / groups;
  scratch_vector<double> part(sums ? (size_t)(groups * C * 2) : 0, 0.0);
  ctx.parallel_for(groups, [&](int64_t g0, int64_t g1) {
    scratch_vector<float> us((size_t)steps * RB);
    float av[RB], bv[RB];
    for (int64_t grp = g0; grp < g1; grp++) {
      for (int64_t blk = grp * per; blk < std::min(blocks, (grp + 1) * per); blk++) {
        const int64_t i0 = blk * RB, n = std::min(RB, size - i0);
        channel_coefficients(i0, n, C, inner, a, b, av, bv);
        body(i0, n, av, bv, us.data());
        // A repeated input's gradient is one step: the sums see that step.
        if (sums) block_grad_sums(repeated ? 1 : steps, size, i0, n, C, inner, x, gx, mean, inv_std, part.data() + grp * C * 2);
      }
    }
  });
  if (!sums) return;
  std::fill(sum_g, sum_g + C, 0.0);
  std::fill(sum_gx, sum_gx + C, 0.0);
  for (int64_t grp = 0; grp < groups; grp++)
    for (int64_t c = 0; c < C; c++) {
      sum_g[c] += part[(grp * C + c) * 2];
      sum_gx[c] += part[(grp * C + c) * 2 + 1];
    }
}

// lif_backward over the membrane of y = a_c·x + b_c (the fused tdBN + LIF),
// without a stored membrane: each block's membrane is replayed into a small
// scratch (this file and norm.cc are both compiled without contraction), then
// the backward recurrence runs over it. Saves keeping an activation-sized
// membrane from the forward to the backward pass. go and gx may be the same
// array. With `repeated`, x is one step that drove every step, and gx gets the
// gradient summed over the steps ([size]). With sum_g (and mean, inv_std,
// sum_gx), the batch-norm gradient sums of gx are computed too, while each
// block is in cache (what channel_grad_sums would compute, summed in another
// order): the backward of the fused tdBN + LIF then reads the layer's
// gradient and input once less.
void lif_backward_recompute(const Ctx& ctx, int64_t steps, int64_t size, int64_t C, int64_t inner, const float* x,
                            const float* a, const float* b, const float* o, const float* go, float* gx, float decay,
                            float half_width, float height, bool repeated, const double* mean, const double* inv_std,
                            double* sum_g, double* sum_gx) {
  replayed_blocks(ctx, steps, size, C, inner, x, a, b, gx, repeated, mean, inv_std, sum_g, sum_gx,
                  [&](int64_t i0, int64_t n, const float* av, const float* bv, float* us) {
                    lif_replay_block(steps, size, repeated ? 0 : size, i0, n, av, bv, x, o, decay, us);
                    lif_backward_block(steps, size, i0, n, us, RB, o, go, gx, decay, half_width, height, repeated);
                  });
}

// The backward of affine_lif_time_sum: lif_backward_recompute with the output
// gradient coef[t]·g of every step and the spikes replayed, not read (none
// were stored). Writes gx [steps, size] and, with sum_g, the gradient sums.
void lif_backward_time_sum(const Ctx& ctx, int64_t steps, int64_t size, int64_t C, int64_t inner, const float* x,
                           const float* a, const float* b, const float* coef, const float* g, float* gx, float decay,
                           float threshold, float half_width, float height, const double* mean, const double* inv_std,
                           double* sum_g, double* sum_gx) {
  replayed_blocks(ctx, steps, size, C, inner, x, a, b, gx, false, mean, inv_std, sum_g, sum_gx,
                  [&](int64_t i0, int64_t n, const float* av, const float* bv, float* us) {
                    lif_replay_spiking_block(steps, size, i0, n, av, bv, x, decay, threshold, us);
                    lif_backward_spread_block(steps, size, i0, n, us, coef, g, gx, threshold, decay, half_width, height);
                  });
}

// The membrane output (a non-firing leaky integrator read at the last step):
// out[i] = Σ_t coef[t]·x[t·size + i] in float32, each product and sum
// rounded (this file has no contraction), as the TypeScript oracle rounds it.
// (Sums in float64 rounded per step, the first version, took 5.7-6.7 ms of a
// batch-64 FSVAE step for the last decoder layer's 134 MB input, this 4.6.)
SPV_CLONES static void time_weighted_sum_block(int64_t steps, int64_t size, int64_t i0, int64_t n, const float* x,
                                               const float* coef, float* out) {
  float acc[BLOCK];
  for (int64_t j = 0; j < n; j++) acc[j] = 0.f;
  for (int64_t t = 0; t < steps; t++) {
    const float c = coef[t];
    const float* xt = x + t * size + i0;
    for (int64_t j = 0; j < n; j++) acc[j] = acc[j] + xt[j] * c;
  }
  for (int64_t j = 0; j < n; j++) out[i0 + j] = acc[j];
}

void time_weighted_sum(const Ctx& ctx, int64_t steps, int64_t size, const float* x, const float* coef, float* out) {
  for_each_block<BLOCK>(ctx, size, [&](int64_t i0, int64_t n) { time_weighted_sum_block(steps, size, i0, n, x, coef, out); });
}

// Its backward: gx[t·size + i] = coef[t]·g[i], or added to gx (each sum in
// float64, rounded once).
SPV_CLONES static void time_weighted_spread_block(int64_t steps, int64_t size, int64_t i0, int64_t n, const float* g,
                                                  const float* coef, float* gx, bool accumulate) {
  for (int64_t t = 0; t < steps; t++) {
    const double c = coef[t];
    float* xt = gx + t * size + i0;
    const float* gi = g + i0;
    if (accumulate)
      for (int64_t j = 0; j < n; j++) xt[j] = (float)((double)xt[j] + (double)gi[j] * c);
    else
      for (int64_t j = 0; j < n; j++) xt[j] = (float)((double)gi[j] * c);
  }
}

void time_weighted_spread(const Ctx& ctx, int64_t steps, int64_t size, const float* g, const float* coef, float* gx,
                          bool accumulate) {
  for_each_block<BLOCK>(ctx, size, [&](int64_t i0, int64_t n) {
    time_weighted_spread_block(steps, size, i0, n, g, coef, gx, accumulate);
  });
}

}  // namespace spv
