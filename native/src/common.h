// Shared declarations of the native kernels. kernels.cc and smallconv.cc are
// compiled three times (scalar/SSE2 baseline, AVX2+FMA, AVX-512) into
// separate namespaces; addon.cc picks one at load time with
// __builtin_cpu_supports. The web page's WebAssembly build (wasm.cc) compiles
// the 16-byte baseline, namespace `scalar`, as WebAssembly SIMD.
#pragma once
#include <cstdint>
#include <cstddef>
#include <functional>
#include <vector>

// Elementwise kernels (LIF, batch norm, AdamW) that must round identically on
// every instruction set are compiled once per ISA by the compiler itself and
// chosen at load time (ifunc); their files are built without floating-point
// contraction, so the wider code gives the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SPV_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SPV_CLONES
#endif

namespace spv {

// Kernel scratch memory from a per-thread cache of freed blocks (scratch.cc),
// 64-byte aligned; scratch_vector is a std::vector that uses it.
void* scratch_alloc(size_t bytes);
void scratch_free(void* p, size_t bytes);

template <class T>
struct ScratchAllocator {
  using value_type = T;
  ScratchAllocator() = default;
  template <class U>
  ScratchAllocator(const ScratchAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(scratch_alloc(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { scratch_free(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const ScratchAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const ScratchAllocator<U>&) const { return false; }
};
template <class T>
using scratch_vector = std::vector<T, ScratchAllocator<T>>;

struct Geo {
  int64_t batch, C, H, W, O, OH, OW, K, S, P;
};

// Image groups of the small-layer weight gradients (row-dot, single-channel):
// at least 16 images each, at most 64 groups, fixed by the batch so the sums
// do not depend on the thread count. Each group ends with a float64
// reduction of its vector sums that costs about as much as one image's
// products, so one-image groups (64 images) spent half their time there.
inline int64_t weight_gradient_groups(int64_t batch) {
  const int64_t groups = batch / 16 < 64 ? batch / 16 : 64;
  return groups > 1 ? groups : 1;
}

// Runs fn(begin, end) over [0, n) split into chunks on the thread pool and
// waits. Every index is processed by exactly one call, so kernels that give
// each output element to one index are deterministic for any thread count.
using ParallelFor = std::function<void(int64_t n, const std::function<void(int64_t, int64_t)>& fn)>;

struct Ctx {
  ParallelFor parallel_for;
  int threads;
};

#define SPV_DECLARE(NS)                                                                                   \
  namespace NS {                                                                                          \
  void gemm(const Ctx& ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* A,          \
            const float* B, float* C, bool accumulate);                                                  \
  void gemm_binary(const Ctx& ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* A,   \
                   const float* B, float* C, bool accumulate);                                           \
  void conv_forward(const Ctx& ctx, const Geo& g, const float* x, const float* w, const float* bias,     \
                    float* y, bool xbin);                                                                 \
  void conv_backward_data(const Ctx& ctx, const Geo& g, const float* gy, const float* w, float* gx,      \
                          bool accumulate, bool gybin, bool dense_spikes);                                \
  void conv_backward_weight(const Ctx& ctx, const Geo& g, const float* x, const float* gy, float* gw,    \
                            bool accumulate, bool xbin);                                                  \
  double peak_fma_loop(int64_t iterations);                                                               \
  }

SPV_DECLARE(scalar)
SPV_DECLARE(avx2)
SPV_DECLARE(avx512)

// gemm runs C = A·B^T with few rows and a large weight as C^T = B·A^T
// (kernels.cc), reading the weight where it lies. With k ≤ 512 (one K block)
// its sums are those of the event-driven product of spikes (each element's
// terms added in order from 0, a zero term adding nothing), so the addon
// takes this route for spikes too.
inline bool gemm_few_rows(bool ta, bool tb, int64_t m, int64_t n, int64_t k, bool accumulate) {
  return !ta && tb && m <= 128 && n * k >= ((int64_t)1 << 20) && (!accumulate || k <= 512);
}

// One LIF step with its state carried in u and o ([size], in place).
void lif_step(const Ctx& ctx, int64_t size, const float* x, float* u, float* o, float decay, float threshold);
void lif_forward(const Ctx& ctx, int64_t steps, int64_t size, const float* x, float* u, float* o, float decay,
                 float threshold);
void lif_backward(const Ctx& ctx, int64_t steps, int64_t size, const float* u, const float* o, const float* go,
                  float* gx, float decay, float half_width, float height);

void affine_lif_forward(const Ctx& ctx, int64_t steps, int64_t size, int64_t C, int64_t inner, const float* x,
                        const float* a, const float* b, float* o, float decay, float threshold, bool repeated);
void lif_backward_recompute(const Ctx& ctx, int64_t steps, int64_t size, int64_t C, int64_t inner, const float* x,
                            const float* a, const float* b, const float* o, const float* go, float* gx, float decay,
                            float half_width, float height, bool repeated, const double* mean, const double* inv_std,
                            double* sum_g, double* sum_gx);
// The fused tdBN + LIF of a layer whose spikes feed only a weighted sum over
// time: out = Σ_t coef[t]·o_t, spikes never stored; its backward takes the
// sum's gradient g [size] and writes gx [steps, size].
void affine_lif_time_sum(const Ctx& ctx, int64_t steps, int64_t size, int64_t C, int64_t inner, const float* x,
                         const float* a, const float* b, const float* coef, float* out, float decay, float threshold);
void lif_backward_time_sum(const Ctx& ctx, int64_t steps, int64_t size, int64_t C, int64_t inner, const float* x,
                           const float* a, const float* b, const float* coef, const float* g, float* gx, float decay,
                           float threshold, float half_width, float height, const double* mean, const double* inv_std,
                           double* sum_g, double* sum_gx);
// The input of a PLIF-family layer (plif.cc): x itself, or y = a·x + b per
// channel (C > 0; element i of a step's slice has channel (i / inner) mod C;
// a and b hold steps·C coefficients with per_step). With `repeated`, x is one
// step that drives every step.
struct PlifInput {
  const float* x;
  bool repeated;
  int64_t C, inner;
  const float* a;
  const float* b;
  bool per_step;
};

// A 2×2 stride-2 max pooling fused after a PLIF-family layer whose step
// slices are planes of H×W (H, W even, W ≤ 256): the forward also writes the
// pooled spikes y ([steps, size/4]); the backward takes the gradient of the
// pooled spikes gy instead of go and sends it to each window's winner.
struct PlifPool {
  int64_t H, W;
  float* y;
  const float* gy;
};

void plif_forward(const Ctx& ctx, int64_t steps, int64_t size, const PlifInput& in, float* o, float k, float vth,
                  const PlifPool* pool = nullptr);
// gx gets dL/dy ([steps, size], or [size] summed over the steps when repeated;
// it may be go itself unless repeated); sums[0] = dL/dk, sums[1] = dL/dV_th.
// With pool, go is unused (null) and pool->gy drives the layer.
void plif_backward(const Ctx& ctx, int64_t steps, int64_t size, const PlifInput& in, const float* o, const float* go,
                   float* gx, float k, float vth, float alpha, double* sums, const PlifPool* pool = nullptr);
void time_weighted_sum(const Ctx& ctx, int64_t steps, int64_t size, const float* x, const float* coef, float* out);
void time_weighted_spread(const Ctx& ctx, int64_t steps, int64_t size, const float* g, const float* coef, float* gx,
                          bool accumulate);

// 2×2 max pooling, stride 2, over `planes` planes of H×W (both even; pool.cc).
void max_pool2x2_forward(const Ctx& ctx, int64_t planes, int64_t H, int64_t W, const float* x, float* y);
// gx (+)= g at each window's winner (found again from x); without accumulate
// every other element of gx is written 0.
void max_pool2x2_backward(const Ctx& ctx, int64_t planes, int64_t H, int64_t W, const float* x, const float* g,
                          float* gx, bool accumulate);
// The same over `rows` pairs of input rows of width W (one output row each), for fused callers.
void max_pool2x2_rows(int64_t rows, int64_t W, const float* x, float* y);
void max_pool2x2_unpool_rows(int64_t rows, int64_t W, const float* x, const float* g, float* gx, bool accumulate);

bool adamw_update(const Ctx& ctx, int64_t n, float* p, const float* grad, float* m, float* v, double decay, double b1,
                  double b2, double step_size, double bc2_sqrt, double eps);

void channel_mean_var(const Ctx& ctx, int64_t outer, int64_t C, int64_t inner, const float* x, double* mean,
                      double* var);
void channel_sums(const Ctx& ctx, int64_t outer, int64_t C, int64_t inner, const float* x, double* sum);
void channel_affine(const Ctx& ctx, int64_t outer, int64_t C, int64_t inner, const float* x, const float* a,
                    const float* b, float* y);
void channel_grad_sums(const Ctx& ctx, int64_t outer, int64_t C, int64_t inner, const float* g, const float* x,
                       const double* mean, const double* inv_std, double* sum_g, double* sum_gx);
void channel_norm_backward(const Ctx& ctx, int64_t outer, int64_t C, int64_t inner, const float* g, const float* x,
                           const float* a, const double* mean, const double* inv_std, const double* sum_g,
                           const double* sum_gx, bool batch_stats, float* gx, bool accumulate);
void leaky_relu(const Ctx& ctx, int64_t n, const float* x, float* y, double slope);
void leaky_relu_backward(const Ctx& ctx, int64_t n, const float* x, const float* g, float* gx, double slope,
                         bool accumulate);

}  // namespace spv
