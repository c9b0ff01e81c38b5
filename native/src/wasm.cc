// WebAssembly entry points (web/ page): the native back-end's kernels,
// compiled by Emscripten to WebAssembly SIMD (the 16-byte vector build,
// namespace `scalar`, whose GCC vector extensions become simd128), one
// thread. scripts/build-wasm.ts builds it; src/engine/backend/wasm.ts copies
// arguments into this module's memory and calls these functions. Sizes are
// 32-bit: a wasm32 memory cannot hold anything larger.
//
// Spike (0/1) inputs: the convolutions add the weights of the active inputs
// (event-driven), the linear layers multiply densely; each is the faster
// choice here, and a fixed one, never decided per call (see addon.cc's
// g_dense_spikes). Measured as CPU time for 32 FSVAE samples (web/README.md):
// dense convolutions made the decoder about 1.5 times slower, event-driven
// linear layers the prior about 1.3 times slower.
#include <cstdint>
#include <functional>

#include "common.h"

#define SPV_EXPORT extern "C" __attribute__((used, visibility("default")))

namespace {

spv::Ctx serial_ctx() {
  spv::Ctx ctx;
  ctx.threads = 1;
  ctx.parallel_for = [](int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
    if (n > 0) fn(0, n);
  };
  return ctx;
}

const spv::Ctx& ctx() {
  static const spv::Ctx c = serial_ctx();
  return c;
}

spv::Geo geo(int32_t batch, int32_t C, int32_t H, int32_t W, int32_t O, int32_t OH, int32_t OW, int32_t K, int32_t S,
             int32_t P) {
  return spv::Geo{batch, C, H, W, O, OH, OW, K, S, P};
}

}  // namespace

SPV_EXPORT void spv_gemm(int32_t ta, int32_t tb, int32_t m, int32_t n, int32_t k, const float* a, const float* b,
                         float* c, int32_t accumulate) {
  spv::scalar::gemm(ctx(), ta, tb, m, n, k, a, b, c, accumulate);
}

SPV_EXPORT void spv_conv_forward(int32_t batch, int32_t C, int32_t H, int32_t W, int32_t O, int32_t OH, int32_t OW,
                                 int32_t K, int32_t S, int32_t P, const float* x, const float* w, const float* bias,
                                 float* y, int32_t x_binary) {
  spv::scalar::conv_forward(ctx(), geo(batch, C, H, W, O, OH, OW, K, S, P), x, w, bias, y, x_binary);
}

SPV_EXPORT void spv_conv_backward_data(int32_t batch, int32_t C, int32_t H, int32_t W, int32_t O, int32_t OH,
                                       int32_t OW, int32_t K, int32_t S, int32_t P, const float* gy, const float* w,
                                       float* gx, int32_t accumulate, int32_t gy_binary) {
  spv::scalar::conv_backward_data(ctx(), geo(batch, C, H, W, O, OH, OW, K, S, P), gy, w, gx, accumulate, gy_binary,
                                  /*dense_spikes=*/false);
}

SPV_EXPORT void spv_conv_backward_weight(int32_t batch, int32_t C, int32_t H, int32_t W, int32_t O, int32_t OH,
                                         int32_t OW, int32_t K, int32_t S, int32_t P, const float* x, const float* gy,
                                         float* gw, int32_t accumulate, int32_t x_binary) {
  spv::scalar::conv_backward_weight(ctx(), geo(batch, C, H, W, O, OH, OW, K, S, P), x, gy, gw, accumulate, x_binary);
}

SPV_EXPORT void spv_lif_forward(int32_t steps, int32_t size, const float* x, float* u, float* o, float decay,
                                float threshold) {
  spv::lif_forward(ctx(), steps, size, x, u, o, decay, threshold);
}

SPV_EXPORT void spv_affine_lif_forward(int32_t steps, int32_t size, int32_t C, int32_t inner, const float* x,
                                       const float* a, const float* b, float* o, float decay, float threshold,
                                       int32_t repeated) {
  spv::affine_lif_forward(ctx(), steps, size, C, inner, x, a, b, o, decay, threshold, repeated);
}

SPV_EXPORT void spv_lif_backward(int32_t steps, int32_t size, const float* u, const float* o, const float* go,
                                 float* gx, float decay, float half_width, float height) {
  spv::lif_backward(ctx(), steps, size, u, o, go, gx, decay, half_width, height);
}

// mean, inv_std, sum_g and sum_gx are all null or all set.
SPV_EXPORT void spv_lif_backward_recompute(int32_t steps, int32_t size, int32_t C, int32_t inner, const float* x,
                                           const float* a, const float* b, const float* o, const float* go, float* gx,
                                           float decay, float half_width, float height, int32_t repeated,
                                           const double* mean, const double* inv_std, double* sum_g, double* sum_gx) {
  spv::lif_backward_recompute(ctx(), steps, size, C, inner, x, a, b, o, go, gx, decay, half_width, height, repeated,
                              mean, inv_std, sum_g, sum_gx);
}

SPV_EXPORT void spv_lif_step(int32_t size, const float* x, float* u, float* o, float decay, float threshold) {
  spv::lif_step(ctx(), size, x, u, o, decay, threshold);
}

SPV_EXPORT void spv_affine_lif_time_sum(int32_t steps, int32_t size, int32_t C, int32_t inner, const float* x,
                                        const float* a, const float* b, const float* coef, float* out, float decay,
                                        float threshold) {
  spv::affine_lif_time_sum(ctx(), steps, size, C, inner, x, a, b, coef, out, decay, threshold);
}

// mean, inv_std, sum_g and sum_gx are all null or all set.
SPV_EXPORT void spv_lif_backward_time_sum(int32_t steps, int32_t size, int32_t C, int32_t inner, const float* x,
                                          const float* a, const float* b, const float* coef, const float* g, float* gx,
                                          float decay, float threshold, float half_width, float height,
                                          const double* mean, const double* inv_std, double* sum_g, double* sum_gx) {
  spv::lif_backward_time_sum(ctx(), steps, size, C, inner, x, a, b, coef, g, gx, decay, threshold, half_width, height,
                             mean, inv_std, sum_g, sum_gx);
}

// The PLIF-family kernels (plif.cc); a and b null without an affine input.
static spv::PlifInput plif_input(const float* x, int32_t C, int32_t inner, const float* a, const float* b,
                                 int32_t per_step, int32_t repeated) {
  return spv::PlifInput{x, repeated != 0, a ? C : 0, inner, a, b, per_step != 0};
}

SPV_EXPORT void spv_plif_forward(int32_t steps, int32_t size, const float* x, float* o, float k, float threshold,
                                 int32_t C, int32_t inner, const float* a, const float* b, int32_t per_step,
                                 int32_t repeated) {
  spv::plif_forward(ctx(), steps, size, plif_input(x, C, inner, a, b, per_step, repeated), o, k, threshold);
}

SPV_EXPORT void spv_plif_backward(int32_t steps, int32_t size, const float* x, const float* o, const float* go,
                                  float* gx, float k, float threshold, float alpha, int32_t C, int32_t inner,
                                  const float* a, const float* b, int32_t per_step, int32_t repeated, double* sums) {
  spv::plif_backward(ctx(), steps, size, plif_input(x, C, inner, a, b, per_step, repeated), o, go, gx, k, threshold,
                     alpha, sums);
}

// The same with a 2×2 max pooling fused after the neuron (planes of H×W; wasm.ts checks the geometry).
SPV_EXPORT void spv_plif_pool_forward(int32_t steps, int32_t size, const float* x, float* o, float* pooled, float k,
                                      float threshold, int32_t C, int32_t inner, const float* a, const float* b,
                                      int32_t per_step, int32_t repeated, int32_t H, int32_t W) {
  const spv::PlifPool pool{H, W, pooled, nullptr};
  spv::plif_forward(ctx(), steps, size, plif_input(x, C, inner, a, b, per_step, repeated), o, k, threshold, &pool);
}

SPV_EXPORT void spv_plif_pool_backward(int32_t steps, int32_t size, const float* x, const float* o,
                                       const float* gpooled, float* gx, float k, float threshold, float alpha,
                                       int32_t C, int32_t inner, const float* a, const float* b, int32_t per_step,
                                       int32_t repeated, double* sums, int32_t H, int32_t W) {
  const spv::PlifPool pool{H, W, nullptr, gpooled};
  spv::plif_backward(ctx(), steps, size, plif_input(x, C, inner, a, b, per_step, repeated), o, nullptr, gx, k,
                     threshold, alpha, sums, &pool);
}

SPV_EXPORT void spv_max_pool2x2_forward(int32_t planes, int32_t H, int32_t W, const float* x, float* y) {
  spv::max_pool2x2_forward(ctx(), planes, H, W, x, y);
}

SPV_EXPORT void spv_max_pool2x2_backward(int32_t planes, int32_t H, int32_t W, const float* x, const float* g,
                                         float* gx, int32_t accumulate) {
  spv::max_pool2x2_backward(ctx(), planes, H, W, x, g, gx, accumulate);
}

SPV_EXPORT void spv_time_weighted_sum(int32_t steps, int32_t size, const float* x, const float* coef, float* out) {
  spv::time_weighted_sum(ctx(), steps, size, x, coef, out);
}

SPV_EXPORT void spv_time_weighted_spread(int32_t steps, int32_t size, const float* g, const float* coef, float* gx,
                                         int32_t accumulate) {
  spv::time_weighted_spread(ctx(), steps, size, g, coef, gx, accumulate);
}

// Returns 1 when every stored p, m and v is finite (the trainer's non-finite guard).
SPV_EXPORT int32_t spv_adamw_update(int32_t n, float* p, const float* grad, float* m, float* v, double decay, double b1,
                                    double b2, double step_size, double bc2_sqrt, double eps) {
  return spv::adamw_update(ctx(), n, p, grad, m, v, decay, b1, b2, step_size, bc2_sqrt, eps) ? 1 : 0;
}

SPV_EXPORT void spv_channel_affine(int32_t outer, int32_t C, int32_t inner, const float* x, const float* a,
                                   const float* b, float* y) {
  spv::channel_affine(ctx(), outer, C, inner, x, a, b, y);
}

SPV_EXPORT void spv_channel_mean_var(int32_t outer, int32_t C, int32_t inner, const float* x, double* mean,
                                     double* var) {
  spv::channel_mean_var(ctx(), outer, C, inner, x, mean, var);
}

SPV_EXPORT void spv_channel_sums(int32_t outer, int32_t C, int32_t inner, const float* x, double* sum) {
  spv::channel_sums(ctx(), outer, C, inner, x, sum);
}

SPV_EXPORT void spv_channel_grad_sums(int32_t outer, int32_t C, int32_t inner, const float* g, const float* x,
                                      const double* mean, const double* inv_std, double* sum_g, double* sum_gx) {
  spv::channel_grad_sums(ctx(), outer, C, inner, g, x, mean, inv_std, sum_g, sum_gx);
}

SPV_EXPORT void spv_channel_norm_backward(int32_t outer, int32_t C, int32_t inner, const float* g, const float* x,
                                          const float* a, const double* mean, const double* inv_std,
                                          const double* sum_g, const double* sum_gx, int32_t batch_stats, float* gx,
                                          int32_t accumulate) {
  spv::channel_norm_backward(ctx(), outer, C, inner, g, x, a, mean, inv_std, sum_g, sum_gx, batch_stats, gx,
                             accumulate);
}
