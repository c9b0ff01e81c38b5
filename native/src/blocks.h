// Neuron-block helpers shared by the neuron kernels (lif.cc, plif.cc): a
// layer's [steps, size] neurons are processed in blocks of neurons, time
// outer and neurons inner, so each pass streams contiguous memory while each
// neuron still sees its steps in order.
#pragma once
#include <algorithm>
#include <cstdint>

#include "common.h"

namespace spv {

// Runs fn(i0, n) over the neurons [0, size) in blocks of B (the last one
// shorter), blocks shared out over the threads.
template <int64_t B, typename F>
inline void for_each_block(const Ctx& ctx, int64_t size, F fn) {
  ctx.parallel_for((size + B - 1) / B, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; blk++) fn(blk * B, std::min(B, size - blk * B));
  });
}

// Calls fn(c, j0, j1) for each run [j0, j1) of neurons i0 + j of one channel
// c, in order: neuron i of a step's slice belongs to channel (i / inner) mod C.
// Two divisions per block instead of two per neuron.
template <typename F>
inline void for_channel_runs(int64_t i0, int64_t n, int64_t C, int64_t inner, F fn) {
  int64_t c = (i0 / inner) % C;
  int64_t j = 0;
  int64_t left = inner - i0 % inner;  // neurons left in the current channel
  while (j < n) {
    const int64_t j1 = std::min(n, j + left);
    fn(c, j, j1);
    j = j1;
    left = inner;
    if (++c == C) c = 0;
  }
}

// The batch-norm affine coefficients of neurons [i0, i0 + n) of a step's slice.
inline void channel_coefficients(int64_t i0, int64_t n, int64_t C, int64_t inner, const float* a, const float* b,
                                 float* av, float* bv) {
  for_channel_runs(i0, n, C, inner, [&](int64_t c, int64_t j0, int64_t j1) {
    std::fill(av + j0, av + j1, a[c]);
    std::fill(bv + j0, bv + j1, b[c]);
  });
}

}  // namespace spv
