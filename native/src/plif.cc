// Kernels of the PLIF family (PLIF, ALIF, and the classifiers' LIF with fixed
// parameters: reference-semantics.md §4.3). For each neuron, with v_{-1} = 0:
//   d_t = y_t − v_{t−1};  h_t = v_{t−1} + d_t·k;  s_t = [h_t ≥ V_th];  v_t = s_t ? 0 : h_t
// where k = sigmoid(w) and y is the input x, or a·x + b per channel (a fused
// batch norm; coefficients per step with per_step). The reset is detached:
// the backward sees v_t = h_t·(1 − s_t) with s_t a constant.
//
// Compiled with -ffp-contract=off like lif.cc: the forward rounds each float
// operation as the TypeScript oracle does, and the backward does the
// oracle's float64 operations in its order, so spikes and input gradients
// are equal bit for bit on every instruction set (target_clones bodies).
// Only the two scalar reductions (dL/dk, dL/dV_th) are summed in another
// order than the oracle's: per block, then blocks in a fixed number of
// groups, groups in order — independent of the thread count.
//
// Only spikes are stored; the backward replays the membrane from the input
// and the spikes (as the fused tdBN + LIF backward does), which saves an
// activation-sized buffer per layer between the passes.
//
// A 2×2 max pooling that follows the layer (the classifiers' MaxPool2d) can
// run in the same passes (PlifPool): the forward pools each block of spikes
// while it is in cache, and the backward sends the pooled gradient to each
// window's winner block by block, so the spikes' own gradient (a buffer as
// large as the spikes: 51 MB at batch 16) is never stored.
#include <algorithm>
#include <cmath>
#include <vector>

#include "blocks.h"
#include "common.h"

namespace spv {

static constexpr int64_t PB = 512;

// y[j] = a[j]·x[j] + b[j], rounded as channel_affine rounds it.
SPV_CLONES static void affine_row(int64_t n, const float* x, const float* av, const float* bv, float* y) {
  for (int64_t j = 0; j < n; j++) y[j] = av[j] * x[j] + bv[j];
}

// The input y of step t for neurons [i0, i0 + n): x's own memory, or the
// affine of it written into y (av, bv hold the coefficients of the previous
// call and are refilled at t = 0 and at every step with per-step coefficients).
static const float* step_input(const PlifInput& in, int64_t t, int64_t size, int64_t i0, int64_t n, float* y, float* av,
                               float* bv) {
  const float* xt = in.x + (in.repeated ? 0 : t * size) + i0;
  if (in.C == 0) return xt;
  if (t == 0 || in.per_step) {
    const int64_t off = in.per_step ? t * in.C : 0;
    channel_coefficients(i0, n, in.C, in.inner, in.a + off, in.b + off, av, bv);
  }
  affine_row(n, xt, av, bv, y);
  return y;
}

SPV_CLONES static void plif_step(int64_t n, const float* y, float* v, float* o, float k, float vth) {
  for (int64_t j = 0; j < n; j++) {
    const float d = y[j] - v[j];
    const float h = v[j] + d * k;
    const float s = h >= vth ? 1.f : 0.f;
    o[j] = s;
    v[j] = s != 0.f ? 0.f : h;
  }
}

// Neurons per block: PB, or with a fused pooling the most whole pairs of rows
// that fit in PB, so that every window lies in one block (a plane is H/2 such
// pairs, so blocks never straddle a plane either).
static int64_t block_length(const PlifPool* pool) { return pool ? PB / (2 * pool->W) * (2 * pool->W) : PB; }

void plif_forward(const Ctx& ctx, int64_t steps, int64_t size, const PlifInput& in, float* o, float k, float vth,
                  const PlifPool* pool) {
  const int64_t bl = block_length(pool);
  ctx.parallel_for((size + bl - 1) / bl, [&](int64_t b, int64_t e) {
    float v[PB], y[PB], av[PB], bv[PB];
    for (int64_t blk = b; blk < e; blk++) {
      const int64_t i0 = blk * bl, n = std::min(bl, size - i0);
      std::fill(v, v + n, 0.f);
      for (int64_t t = 0; t < steps; t++) {
        float* ot = o + t * size + i0;
        plif_step(n, step_input(in, t, size, i0, n, y, av, bv), v, ot, k, vth);
        // Pooled while the block's spikes are still in cache; a window's four
        // spikes are in this block (i0 is a multiple of 2W), its output at i0/4.
        if (pool) max_pool2x2_rows(n / (2 * pool->W), pool->W, ot, pool->y + t * (size / 4) + i0 / 4);
      }
    }
  });
}

// The forward recurrence again over the stored spikes, keeping h_t and d_t.
SPV_CLONES static void plif_replay_step(int64_t n, const float* y, const float* o, float* v, float* h, float* d, float k) {
  for (int64_t j = 0; j < n; j++) {
    const float dd = y[j] - v[j];
    const float hh = v[j] + dd * k;
    h[j] = hh;
    d[j] = dd;
    v[j] = o[j] != 0.f ? 0.f : hh;
  }
}

struct GradConstants {
  double k, vth, c, half_alpha;  // c = π/2·α
};

// One step of the backward recurrence, in float64 (the oracle's operations in
// its order). V holds dL/dv_t on entry and dL/dv_{t−1} on exit. The step's
// input gradient H·k is written to gx (rounded to float) or, with acc (a
// repeated input), added to acc as that float.
SPV_CLONES static void plif_grad_step(int64_t n, const float* h, const float* d, const float* o, const float* go,
                                      const GradConstants& q, double* V, double* dk, double* dth, float* gx,
                                      double* acc) {
  for (int64_t j = 0; j < n; j++) {
    const double z = (double)h[j] - q.vth;
    const double cz = q.c * z;
    const double sg = q.half_alpha / (1.0 + cz * cz);
    const double gs = (double)go[j] * sg;
    const double H = gs + V[j] * (1.0 - (double)o[j]);
    const float g = (float)(H * q.k);
    if (acc)
      acc[j] += (double)g;
    else
      gx[j] = g;
    dk[j] += H * (double)d[j];
    dth[j] -= gs;
    V[j] = H * (1.0 - q.k);
  }
}

void plif_backward(const Ctx& ctx, int64_t steps, int64_t size, const PlifInput& in, const float* o, const float* go,
                   float* gx, float k, float vth, float alpha, double* sums, const PlifPool* pool) {
  const int64_t bl = block_length(pool);
  const int64_t blocks = (size + bl - 1) / bl;
  const int64_t groups = std::min<int64_t>(blocks, 64);
  const int64_t per = (blocks + groups - 1) / groups;
  const GradConstants q{(double)k, (double)vth, M_PI / 2 * (double)alpha, (double)alpha / 2};
  scratch_vector<double> part((size_t)groups * 2, 0.0);
  ctx.parallel_for(groups, [&](int64_t g0, int64_t g1) {
    scratch_vector<float> hs((size_t)steps * PB), ds((size_t)steps * PB);
    float v[PB], y[PB], av[PB], bv[PB], gpool[PB];
    double V[PB], dk[PB], dth[PB], acc[PB];
    for (int64_t grp = g0; grp < g1; grp++) {
      for (int64_t blk = grp * per; blk < std::min(blocks, (grp + 1) * per); blk++) {
        const int64_t i0 = blk * bl, n = std::min(bl, size - i0);
        std::fill(v, v + n, 0.f);
        for (int64_t t = 0; t < steps; t++)
          plif_replay_step(n, step_input(in, t, size, i0, n, y, av, bv), o + t * size + i0, v, hs.data() + t * PB,
                           ds.data() + t * PB, k);
        std::fill(V, V + n, 0.0);
        std::fill(dk, dk + n, 0.0);
        std::fill(dth, dth + n, 0.0);
        std::fill(acc, acc + n, 0.0);
        for (int64_t t = steps - 1; t >= 0; t--) {
          const int64_t at = t * size + i0;
          // With a fused pooling, the block's spike gradient is the pooled
          // gradient at each window's winner (found from the spikes), 0 elsewhere.
          if (pool) max_pool2x2_unpool_rows(n / (2 * pool->W), pool->W, o + at, pool->gy + t * (size / 4) + i0 / 4, gpool, false);
          plif_grad_step(n, hs.data() + t * PB, ds.data() + t * PB, o + at, pool ? gpool : go + at, q, V, dk, dth,
                         in.repeated ? nullptr : gx + at, in.repeated ? acc : nullptr);
        }
        if (in.repeated)
          for (int64_t j = 0; j < n; j++) gx[i0 + j] = (float)acc[j];
        double sk = 0, st = 0;
        for (int64_t j = 0; j < n; j++) sk += dk[j], st += dth[j];
        part[grp * 2] += sk;
        part[grp * 2 + 1] += st;
      }
    }
  });
  sums[0] = sums[1] = 0;
  for (int64_t grp = 0; grp < groups; grp++) sums[0] += part[grp * 2], sums[1] += part[grp * 2 + 1];
}

}  // namespace spv
