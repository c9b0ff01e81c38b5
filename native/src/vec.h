// Vector types and lane shuffles shared by the kernels compiled once per
// instruction set (kernels.cc, smallconv.cc): GCC vector extensions of
// SPV_VEC_BYTES bytes (SSE2, AVX2, AVX-512 or WebAssembly SIMD), declared in that set's
// namespace. Shuffle masks are built at compile time from lane indices
// (0 … V−1 for the first operand, V … 2V−1 for the second).
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>

namespace spv {
namespace SPV_ISA {

typedef float vf __attribute__((vector_size(SPV_VEC_BYTES)));
typedef float vfu __attribute__((vector_size(SPV_VEC_BYTES), aligned(4)));
typedef int32_t vi __attribute__((vector_size(SPV_VEC_BYTES)));
constexpr int V = SPV_VEC_BYTES / 4;

static inline vf loadu(const float* p) { return *reinterpret_cast<const vfu*>(p); }
static inline void storeu(float* p, vf v) { *reinterpret_cast<vfu*>(p) = v; }
#if defined(__clang__)
// Clang (Emscripten's WebAssembly build) has no __builtin_shuffle; every mask
// here is a compile-time constant, so the lane-by-lane form below folds into
// one shuffle instruction.
static inline vf shuffle(vf a, vf b, vi mask) {
  vf r;
  for (int i = 0; i < V; i++) r[i] = mask[i] < V ? a[mask[i]] : b[mask[i] - V];
  return r;
}
#else
static inline vf shuffle(vf a, vf b, vi mask) { return __builtin_shuffle(a, b, mask); }
#endif

// Lane I of the mask is first + step·I.
template <size_t... I>
constexpr vi affine_lanes(int first, int step, std::index_sequence<I...>) {
  return vi{(int32_t)(first + step * (int)I)...};
}
// Lanes first, V + first, first + 1, V + first + 1, …: a's and b's lanes interleaved.
template <size_t... I>
constexpr vi zip_lanes(int first, std::index_sequence<I...>) {
  return vi{(int32_t)(((I & 1) ? V : 0) + first + (int)(I >> 1))...};
}
// The two masks of a transpose stage: lane I keeps its own vector's value
// where bit D of I is clear and takes the partner's otherwise.
template <int D, size_t... I>
constexpr vi transpose_low(std::index_sequence<I...>) {
  return vi{(int32_t)((I & D) == 0 ? I : V + I - D)...};
}
template <int D, size_t... I>
constexpr vi transpose_high(std::index_sequence<I...>) {
  return vi{(int32_t)((I & D) == 0 ? I + D : V + I)...};
}

// In-register transpose of V vectors (r[j][p] → r[p][j]): stage D (1, 2, 4,
// …) swaps the bit of value D in the vector index with the same bit of the
// lane, one two-input shuffle per vector and stage (4 stages of 16 shuffles
// on AVX-512 instead of 256 scalar moves). Call with D = 1.
template <int D>
static inline void transpose_stage(vf* r) {
  if constexpr (D < V) {
    constexpr vi lo = transpose_low<D>(std::make_index_sequence<V>{});
    constexpr vi hi = transpose_high<D>(std::make_index_sequence<V>{});
    for (int j = 0; j < V; j++)
      if ((j & D) == 0) {
        const vf a = r[j], b = r[j | D];
        r[j] = shuffle(a, b, lo);
        r[j | D] = shuffle(a, b, hi);
      }
    transpose_stage<2 * D>(r);
  }
}

}  // namespace SPV_ISA
}  // namespace spv
