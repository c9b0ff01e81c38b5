// N-API entry points: argument checking, instruction-set dispatch and the
// thread pool. Calls are synchronous: the JavaScript thread waits while the
// pool works, which keeps the kernels free of any JS object lifetime issues.
#include <node_api.h>
#include <sys/mman.h>
#include <cstdint>
#include <map>
#include <unordered_map>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace spv {
namespace {

// ---------------------------------------------------------------- thread pool

class Pool {
 public:
  explicit Pool(int n) : n_(n) {
    for (int i = 1; i < n_; i++) workers_.emplace_back([this, i] { loop(i); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
      gen_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return n_; }

  // Splits [0, n) into at most 4·threads contiguous chunks handed out dynamically.
  void run(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    const int64_t tasks = std::min<int64_t>(n, (int64_t)n_ * 4);
    if (n_ == 1 || tasks == 1) {
      fn(0, n);
      return;
    }
    std::unique_lock<std::mutex> call(call_m_);  // one parallel region at a time
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      total_ = n;
      tasks_ = tasks;
      next_.store(0);
      done_.store(0);
      joined_ = 0;
      open_ = true;
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    work();
    // Every task is taken: close the region and wait only for the workers
    // that joined it. A worker still waking up (from its condition variable,
    // or descheduled on a busy machine) no longer holds up a call whose work
    // the calling thread finished alone; it finds the region closed and goes
    // back to waiting. Who runs a task does not change what it computes.
    int joined;
    {
      std::lock_guard<std::mutex> lk(m_);
      open_ = false;
      joined = joined_;
    }
    if (joined > 0 && !spin_until([&] { return done_.load(std::memory_order_acquire) == joined; })) {
      std::unique_lock<std::mutex> lk(m_);
      done_cv_.wait(lk, [&] { return done_.load() == joined; });
    }
    fn_ = nullptr;
  }

 private:
  // Kernels come in quick succession (a training step makes thousands of
  // calls, many under a millisecond), and waking a sleeping thread through
  // the kernel took ~10 % of such calls (perf: task switching). Both sides
  // therefore spin briefly (about 50 µs) before sleeping on the condition
  // variable; longer gaps (JavaScript between kernels) still sleep, so the
  // second core stays free for V8's own threads.
  template <class Pred>
  static bool spin_until(Pred ready) {
    // Timed, not counted: a pause instruction takes 10-150 cycles depending on the CPU.
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
    for (int i = 0;; i++) {
      if (ready()) return true;
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
      if ((i & 63) == 63 && std::chrono::steady_clock::now() >= until) return ready();
    }
  }
  void work() {
    for (;;) {
      const int64_t t = next_.fetch_add(1);
      if (t >= tasks_) break;
      const int64_t b = total_ * t / tasks_, e = total_ * (t + 1) / tasks_;
      (*fn_)(b, e);
    }
  }
  void loop(int) {
    uint64_t seen = 0;
    for (;;) {
      if (!spin_until([&] { return gen_.load(std::memory_order_acquire) != seen; })) {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return gen_.load() != seen; });
      }
      bool join;
      {
        std::lock_guard<std::mutex> lk(m_);  // fn_, total_, tasks_ were written under it
        seen = gen_.load();
        if (stop_) return;
        join = open_;
        if (join) joined_++;
      }
      if (!join) continue;
      work();
      {
        std::lock_guard<std::mutex> lk(m_);
        done_.fetch_add(1, std::memory_order_release);
      }
      done_cv_.notify_one();
    }
  }
  int n_;
  std::vector<std::thread> workers_;
  std::mutex m_, call_m_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t total_ = 0, tasks_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int> done_{0};
  std::atomic<uint64_t> gen_{0};
  bool stop_ = false;
  bool open_ = false;  // the current region still takes workers (under m_)
  int joined_ = 0;     // workers that joined it (under m_)
};

Pool* g_pool = nullptr;
Ctx g_ctx;
std::string g_isa;
// Products whose input is spikes (0/1): added event by event (work per spike,
// gemm_binary and the im2col event path), or by the dense kernels. Measured
// on the AVX-512 machine (docs/performance.md) the dense kernels win above
// about 8 % firing and trained models fire at 15-30 %; with AVX2 the dense
// GEMM is half as fast and the crossover near 20 %. So AVX-512 defaults to
// dense, the others to events. A fixed choice per process, never per call:
// a data-dependent choice would round differently for the stepped and the
// full-prefix evaluation.
bool g_dense_spikes = false;

struct Kernels {
  decltype(&scalar::gemm) gemm;
  decltype(&scalar::gemm_binary) gemm_binary;
  decltype(&scalar::conv_forward) conv_forward;
  decltype(&scalar::conv_backward_data) conv_backward_data;
  decltype(&scalar::conv_backward_weight) conv_backward_weight;
  decltype(&scalar::peak_fma_loop) peak;
} K;

#define SPV_USE(NS) \
  K = Kernels{&NS::gemm, &NS::gemm_binary, &NS::conv_forward, &NS::conv_backward_data, &NS::conv_backward_weight, &NS::peak_fma_loop}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("fma");
}
bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// Returns an error message, or empty on success.
std::string select_isa(const std::string& want) {
  if (want == "avx512") {
    if (!cpu_has_avx512()) return "this CPU has no AVX-512";
    SPV_USE(avx512);
  } else if (want == "avx2") {
    if (!cpu_has_avx2()) return "this CPU has no AVX2/FMA";
    SPV_USE(avx2);
  } else if (want == "scalar") {
    SPV_USE(scalar);
  } else if (want.empty()) {
    if (cpu_has_avx512()) return select_isa("avx512");
    if (cpu_has_avx2()) return select_isa("avx2");
    return select_isa("scalar");
  } else {
    return "unknown instruction set '" + want + "' (avx512, avx2, scalar)";
  }
  g_isa = want;
  g_dense_spikes = want == "avx512";
  return "";
}

void set_threads(int n) {
  delete g_pool;
  g_pool = new Pool(n);
  g_ctx.threads = n;
  g_ctx.parallel_for = [](int64_t n, const std::function<void(int64_t, int64_t)>& fn) { g_pool->run(n, fn); };
}

// ---------------------------------------------------------------- argument helpers

napi_value throw_error(napi_env env, const std::string& msg) {
  napi_throw_range_error(env, nullptr, msg.c_str());
  return nullptr;
}

// A typed array of the expected element type: its data and element count.
template <typename T>
bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, T** data, size_t* len) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) return false;
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  void* ptr;
  napi_get_typedarray_info(env, v, &type, len, &ptr, &ab, &offset);
  if (type != want) return false;
  *data = static_cast<T*>(ptr);
  return true;
}

bool get_f32(napi_env env, napi_value v, float** data, size_t* len) {
  return get_typed(env, v, napi_float32_array, data, len);
}

bool get_f64arr(napi_env env, napi_value v, double** data, size_t* len) {
  return get_typed(env, v, napi_float64_array, data, len);
}

int64_t get_i64(napi_env env, napi_value v) {
  int64_t r = 0;
  napi_get_value_int64(env, v, &r);
  return r;
}
bool get_bool(napi_env env, napi_value v) {
  bool r = false;
  napi_get_value_bool(env, v, &r);
  return r;
}
double get_f64(napi_env env, napi_value v) {
  double r = 0;
  napi_get_value_double(env, v, &r);
  return r;
}

#define ARGS(N)                 \
  size_t argc = N;              \
  napi_value argv[N];           \
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr); \
  if (argc < N) return throw_error(env, "native: too few arguments");

#define F32(i, name, need)                                                                              \
  float* name = nullptr;                                                                                \
  size_t name##_len = 0;                                                                                \
  if (!get_f32(env, argv[i], &name, &name##_len)) return throw_error(env, "native: argument " #name " is not a Float32Array"); \
  if ((int64_t)name##_len < (int64_t)(need))                                                            \
    return throw_error(env, std::string("native: ") + __func__ + ": " #name " has " + std::to_string(name##_len) + \
                                " elements, needs " + std::to_string((int64_t)(need)));

// gemm(transA, transB, m, n, k, a, b, c, beta, aBinary)
napi_value Gemm(napi_env env, napi_callback_info info) {
  ARGS(10);
  const bool ta = get_bool(env, argv[0]), tb = get_bool(env, argv[1]);
  const int64_t m = get_i64(env, argv[2]), n = get_i64(env, argv[3]), k = get_i64(env, argv[4]);
  if (m < 0 || n < 0 || k < 0) return throw_error(env, "native gemm: negative size");
  F32(5, a, m * k);
  F32(6, b, k * n);
  F32(7, c, m * n);
  const bool acc = get_f64(env, argv[8]) != 0;
  // Few rows of spikes with a large weight: the dense route reads the weight
  // in place and gives the event-driven sums bit for bit (gemm_few_rows).
  const bool abin = get_bool(env, argv[9]) && !g_dense_spikes && !(gemm_few_rows(ta, tb, m, n, k, acc) && k <= 512);
  if (abin)
    K.gemm_binary(g_ctx, ta, tb, m, n, k, a, b, c, acc);
  else
    K.gemm(g_ctx, ta, tb, m, n, k, a, b, c, acc);
  return nullptr;
}

bool read_geo(napi_env env, napi_value obj, Geo* g) {
  const char* names[] = {"batch", "inChannels", "inHeight", "inWidth", "outChannels", "outHeight", "outWidth", "kernel", "stride", "padding"};
  int64_t* dst[] = {&g->batch, &g->C, &g->H, &g->W, &g->O, &g->OH, &g->OW, &g->K, &g->S, &g->P};
  for (int i = 0; i < 10; i++) {
    napi_value v;
    if (napi_get_named_property(env, obj, names[i], &v) != napi_ok) return false;
    *dst[i] = get_i64(env, v);
    if (*dst[i] < 0) return false;
  }
  if (g->K < 1 || g->S < 1) return false;
  if (g->OH != (g->H + 2 * g->P - g->K) / g->S + 1 && !(g->H + 2 * g->P - g->K >= 0 && g->OH == (g->H + 2 * g->P - g->K) / g->S + 1)) return false;
  return g->OH >= 1 && g->OW >= 1 && g->OH <= (g->H + 2 * g->P - g->K) / g->S + 1 && g->OW <= (g->W + 2 * g->P - g->K) / g->S + 1;
}

#define F64(i, name, need)                                                                              \
  double* name = nullptr;                                                                               \
  size_t name##_len = 0;                                                                                \
  if (!get_f64arr(env, argv[i], &name, &name##_len) || (int64_t)name##_len < (int64_t)(need))          \
    return throw_error(env, std::string("native: ") + __func__ + ": " #name " must be a Float64Array of at least " + \
                                std::to_string((int64_t)(need)) + " elements");

#define GEO(i)                                                          \
  Geo g;                                                                \
  if (!read_geo(env, argv[i], &g)) return throw_error(env, "native: invalid convolution geometry");

// conv2dForward(geo, x, w, bias|null, y, xBinary)
napi_value ConvForward(napi_env env, napi_callback_info info) {
  ARGS(6);
  GEO(0);
  F32(1, x, g.batch * g.C * g.H * g.W);
  F32(2, w, g.O * g.C * g.K * g.K);
  napi_valuetype bt;
  napi_typeof(env, argv[3], &bt);
  float* bias = nullptr;
  if (bt != napi_null && bt != napi_undefined) {
    size_t bl;
    if (!get_f32(env, argv[3], &bias, &bl) || (int64_t)bl < g.O) return throw_error(env, "native conv2dForward: bad bias");
  }
  F32(4, y, g.batch * g.O * g.OH * g.OW);
  K.conv_forward(g_ctx, g, x, w, bias, y, get_bool(env, argv[5]) && !g_dense_spikes);
  return nullptr;
}

// conv2dBackwardData(geo, gy, w, gx, accumulate, gyBinary)
napi_value ConvBackwardData(napi_env env, napi_callback_info info) {
  ARGS(6);
  GEO(0);
  F32(1, gy, g.batch * g.O * g.OH * g.OW);
  F32(2, w, g.O * g.C * g.K * g.K);
  F32(3, gx, g.batch * g.C * g.H * g.W);
  K.conv_backward_data(g_ctx, g, gy, w, gx, get_bool(env, argv[4]), get_bool(env, argv[5]), g_dense_spikes);
  return nullptr;
}

// conv2dBackwardWeight(geo, x, gy, gw, accumulate, xBinary)
napi_value ConvBackwardWeight(napi_env env, napi_callback_info info) {
  ARGS(6);
  GEO(0);
  F32(1, x, g.batch * g.C * g.H * g.W);
  F32(2, gy, g.batch * g.O * g.OH * g.OW);
  F32(3, gw, g.O * g.C * g.K * g.K);
  K.conv_backward_weight(g_ctx, g, x, gy, gw, get_bool(env, argv[4]), get_bool(env, argv[5]));
  return nullptr;
}

// lifForward(steps, size, x, u, o, decay, threshold)
napi_value LifForward(napi_env env, napi_callback_info info) {
  ARGS(7);
  const int64_t steps = get_i64(env, argv[0]), size = get_i64(env, argv[1]);
  F32(2, x, steps * size);
  F32(3, u, steps * size);
  F32(4, o, steps * size);
  lif_forward(g_ctx, steps, size, x, u, o, (float)get_f64(env, argv[5]), (float)get_f64(env, argv[6]));
  return nullptr;
}

// lifBackward(steps, size, u, o, go, gx, decay, halfWidth, height)
napi_value LifBackward(napi_env env, napi_callback_info info) {
  ARGS(9);
  const int64_t steps = get_i64(env, argv[0]), size = get_i64(env, argv[1]);
  F32(2, u, steps * size);
  F32(3, o, steps * size);
  F32(4, go, steps * size);
  F32(5, gx, steps * size);
  lif_backward(g_ctx, steps, size, u, o, go, gx, (float)get_f64(env, argv[6]), (float)get_f64(env, argv[7]),
               (float)get_f64(env, argv[8]));
  return nullptr;
}

// lifStep(size, x, u, o, decay, threshold)
napi_value LifStep(napi_env env, napi_callback_info info) {
  ARGS(6);
  const int64_t size = get_i64(env, argv[0]);
  if (size < 0) return throw_error(env, "native lifStep: negative size");
  F32(1, x, size);
  F32(2, u, size);
  F32(3, o, size);
  lif_step(g_ctx, size, x, u, o, (float)get_f64(env, argv[4]), (float)get_f64(env, argv[5]));
  return nullptr;
}

// The leading arguments (steps, size, C, inner, x, a, b, o) of the fused
// tdBN + LIF kernels, checked; x holds one step when `repeated` (argument
// `rep`) is true.
#define FUSED_LIF_SHAPE(fn)                                                                             \
  const int64_t steps = get_i64(env, argv[0]), size = get_i64(env, argv[1]);                          \
  const int64_t C = get_i64(env, argv[2]), inner = get_i64(env, argv[3]);                            \
  if (C <= 0 || inner <= 0 || size % (C * inner) != 0)                                               \
    return throw_error(env, std::string("native ") + fn + ": size is not a multiple of channels x inner")

// The batch-norm gradient sums at argv[i..i+3] (mean, invStd, sumG, sumGX):
// all null, or Float64Arrays of C.
#define OPTIONAL_GRAD_SUMS(i)                                                                           \
  double *mean = nullptr, *inv_std = nullptr, *sum_g = nullptr, *sum_gx = nullptr;                    \
  {                                                                                                   \
    napi_valuetype st;                                                                                \
    napi_typeof(env, argv[i], &st);                                                                   \
    if (st != napi_null && st != napi_undefined) {                                                    \
      F64(i, m, C);                                                                                   \
      F64(i + 1, is, C);                                                                              \
      F64(i + 2, sg, C);                                                                              \
      F64(i + 3, sgx, C);                                                                             \
      mean = m, inv_std = is, sum_g = sg, sum_gx = sgx;                                               \
    }                                                                                                 \
  }

#define FUSED_LIF_ARGS(fn, rep)                                                                         \
  FUSED_LIF_SHAPE(fn);                                                                                \
  const bool repeated = get_bool(env, argv[rep]);                                                     \
  F32(4, x, (repeated ? 1 : steps) * size);                                                           \
  F32(5, a, C);                                                                                       \
  F32(6, b, C);                                                                                       \
  F32(7, o, steps * size)

// affineLifForward(steps, size, C, inner, x, a, b, o, decay, threshold, repeated)
napi_value AffineLifForward(napi_env env, napi_callback_info info) {
  ARGS(11);
  FUSED_LIF_ARGS("affineLifForward", 10);
  affine_lif_forward(g_ctx, steps, size, C, inner, x, a, b, o, (float)get_f64(env, argv[8]), (float)get_f64(env, argv[9]),
                     repeated);
  return nullptr;
}

// lifBackwardRecompute(steps, size, C, inner, x, a, b, o, go, gx, decay, halfWidth, height, repeated,
//                      mean, invStd, sumG, sumGX) — the last four all null, or Float64Arrays of C
napi_value LifBackwardRecompute(napi_env env, napi_callback_info info) {
  ARGS(18);
  FUSED_LIF_ARGS("lifBackwardRecompute", 13);
  F32(8, go, steps * size);
  F32(9, gx, (repeated ? 1 : steps) * size);
  if (repeated && gx == go) return throw_error(env, "native lifBackwardRecompute: a repeated input's gradient cannot overwrite go");
  OPTIONAL_GRAD_SUMS(14);
  lif_backward_recompute(g_ctx, steps, size, C, inner, x, a, b, o, go, gx, (float)get_f64(env, argv[10]),
                         (float)get_f64(env, argv[11]), (float)get_f64(env, argv[12]), repeated, mean, inv_std, sum_g,
                         sum_gx);
  return nullptr;
}

// affineLifTimeSum(steps, size, C, inner, x, a, b, coef, out, decay, threshold)
napi_value AffineLifTimeSum(napi_env env, napi_callback_info info) {
  ARGS(11);
  FUSED_LIF_SHAPE("affineLifTimeSum");
  F32(4, x, steps * size);
  F32(5, a, C);
  F32(6, b, C);
  F32(7, coef, steps);
  F32(8, out, size);
  affine_lif_time_sum(g_ctx, steps, size, C, inner, x, a, b, coef, out, (float)get_f64(env, argv[9]),
                      (float)get_f64(env, argv[10]));
  return nullptr;
}

// lifBackwardTimeSum(steps, size, C, inner, x, a, b, coef, g, gx, decay, threshold, halfWidth, height,
//                    mean, invStd, sumG, sumGX) — the last four all null, or Float64Arrays of C
napi_value LifBackwardTimeSum(napi_env env, napi_callback_info info) {
  ARGS(18);
  FUSED_LIF_SHAPE("lifBackwardTimeSum");
  F32(4, x, steps * size);
  F32(5, a, C);
  F32(6, b, C);
  F32(7, coef, steps);
  F32(8, g, size);
  F32(9, gx, steps * size);
  OPTIONAL_GRAD_SUMS(14);
  lif_backward_time_sum(g_ctx, steps, size, C, inner, x, a, b, coef, g, gx, (float)get_f64(env, argv[10]),
                        (float)get_f64(env, argv[11]), (float)get_f64(env, argv[12]), (float)get_f64(env, argv[13]),
                        mean, inv_std, sum_g, sum_gx);
  return nullptr;
}

// The input arguments of the PLIF-family kernels at argv[i..i+5]: C, inner,
// a | null, b | null, perStep, repeated (C = 0: no affine), with x already
// read. Returns an error message, or "".
std::string read_plif_input(napi_env env, napi_value* argv, int i, int64_t steps, int64_t size, const float* x,
                            size_t x_len, PlifInput* in) {
  in->x = x;
  in->C = get_i64(env, argv[i]);
  in->inner = get_i64(env, argv[i + 1]);
  in->per_step = get_bool(env, argv[i + 4]);
  in->repeated = get_bool(env, argv[i + 5]);
  in->a = in->b = nullptr;
  if ((int64_t)x_len < (in->repeated ? 1 : steps) * size) return "x has " + std::to_string(x_len) + " elements, too few";
  if (in->C == 0) return "";
  if (in->C < 0 || in->inner <= 0 || size % (in->C * in->inner) != 0) return "size is not a multiple of channels x inner";
  const int64_t coefs = (in->per_step ? steps : 1) * in->C;
  float* ab[2];
  for (int j = 0; j < 2; j++) {
    size_t len = 0;
    if (!get_f32(env, argv[i + 2 + j], &ab[j], &len) || (int64_t)len < coefs)
      return std::string(j ? "b" : "a") + " must be a Float32Array of " + std::to_string(coefs) + " coefficients";
  }
  in->a = ab[0];
  in->b = ab[1];
  return "";
}

// What every PLIF-family binding reads first: N arguments, steps and size at
// 0-1, x and o at 2-3, and the input description at argv[input_at] into `in`;
// a problem with the latter is left in `err` for the binding to add to.
#define PLIF_HEAD(fn, N, input_at)                                                          \
  ARGS(N);                                                                                   \
  const int64_t steps = get_i64(env, argv[0]), size = get_i64(env, argv[1]);                 \
  if (steps < 0 || size < 0) return throw_error(env, "native " fn ": negative size");        \
  F32(2, x, 0);                                                                              \
  F32(3, o, steps * size);                                                                   \
  PlifInput in;                                                                              \
  std::string err = read_plif_input(env, argv, input_at, steps, size, x, x_len, &in);

// plifForward(steps, size, x, o, k, threshold, C, inner, a, b, perStep, repeated)
napi_value PlifForward(napi_env env, napi_callback_info info) {
  PLIF_HEAD("plifForward", 12, 6);
  if (!err.empty()) return throw_error(env, "native plifForward: " + err);
  plif_forward(g_ctx, steps, size, in, o, (float)get_f64(env, argv[4]), (float)get_f64(env, argv[5]));
  return nullptr;
}

// plifBackward(steps, size, x, o, go, gx, k, threshold, alpha, C, inner, a, b, perStep, repeated, sums)
napi_value PlifBackward(napi_env env, napi_callback_info info) {
  PLIF_HEAD("plifBackward", 16, 9);
  if (!err.empty()) return throw_error(env, "native plifBackward: " + err);
  F32(4, go, steps * size);
  F32(5, gx, (in.repeated ? 1 : steps) * size);
  if (in.repeated && gx == go) return throw_error(env, "native plifBackward: a repeated input's gradient cannot overwrite go");
  F64(15, sums, 2);
  plif_backward(g_ctx, steps, size, in, o, go, gx, (float)get_f64(env, argv[6]), (float)get_f64(env, argv[7]),
                (float)get_f64(env, argv[8]), sums);
  return nullptr;
}

// The plane geometry of a fused pooling at argv[i], argv[i + 1] (H, W), or an error message.
std::string read_plif_pool(napi_env env, napi_value* argv, int i, int64_t size, PlifPool* pool) {
  pool->H = get_i64(env, argv[i]);
  pool->W = get_i64(env, argv[i + 1]);
  if (pool->H <= 0 || pool->W <= 0 || pool->H % 2 || pool->W % 2 || pool->W > 256)
    return "pooled planes need an even height and an even width of at most 256";
  if (size % (pool->H * pool->W) != 0) return "size is not a multiple of the plane";
  return "";
}

// plifPoolForward(steps, size, x, o, pooled, k, threshold, C, inner, a, b, perStep, repeated, H, W)
napi_value PlifPoolForward(napi_env env, napi_callback_info info) {
  PLIF_HEAD("plifPoolForward", 15, 7);
  PlifPool pool;
  if (err.empty()) err = read_plif_pool(env, argv, 13, size, &pool);
  if (!err.empty()) return throw_error(env, "native plifPoolForward: " + err);
  F32(4, pooled, steps * size / 4);
  pool.y = pooled;
  pool.gy = nullptr;
  plif_forward(g_ctx, steps, size, in, o, (float)get_f64(env, argv[5]), (float)get_f64(env, argv[6]), &pool);
  return nullptr;
}

// plifPoolBackward(steps, size, x, o, gPooled, gx, k, threshold, alpha, C, inner, a, b, perStep, repeated, sums, H, W)
napi_value PlifPoolBackward(napi_env env, napi_callback_info info) {
  PLIF_HEAD("plifPoolBackward", 18, 9);
  PlifPool pool;
  if (err.empty()) err = read_plif_pool(env, argv, 16, size, &pool);
  if (!err.empty()) return throw_error(env, "native plifPoolBackward: " + err);
  F32(4, gpooled, steps * size / 4);
  F32(5, gx, (in.repeated ? 1 : steps) * size);
  F64(15, sums, 2);
  pool.y = nullptr;
  pool.gy = gpooled;
  plif_backward(g_ctx, steps, size, in, o, nullptr, gx, (float)get_f64(env, argv[6]), (float)get_f64(env, argv[7]),
                (float)get_f64(env, argv[8]), sums, &pool);
  return nullptr;
}

// timeWeightedSum(steps, size, x, coef, out)
napi_value TimeWeightedSum(napi_env env, napi_callback_info info) {
  ARGS(5);
  const int64_t steps = get_i64(env, argv[0]), size = get_i64(env, argv[1]);
  F32(2, x, steps * size);
  F32(3, coef, steps);
  F32(4, out, size);
  time_weighted_sum(g_ctx, steps, size, x, coef, out);
  return nullptr;
}

// timeWeightedSpread(steps, size, g, coef, gx, accumulate)
napi_value TimeWeightedSpread(napi_env env, napi_callback_info info) {
  ARGS(6);
  const int64_t steps = get_i64(env, argv[0]), size = get_i64(env, argv[1]);
  F32(2, g, size);
  F32(3, coef, steps);
  F32(4, gx, steps * size);
  time_weighted_spread(g_ctx, steps, size, g, coef, gx, get_bool(env, argv[5]));
  return nullptr;
}

// maxPool2x2Forward(planes, H, W, x, y)
napi_value MaxPool2x2Forward(napi_env env, napi_callback_info info) {
  ARGS(5);
  const int64_t planes = get_i64(env, argv[0]), H = get_i64(env, argv[1]), W = get_i64(env, argv[2]);
  if (planes < 0 || H < 0 || W < 0 || H % 2 || W % 2) return throw_error(env, "native maxPool2x2Forward: needs even, non-negative sizes");
  F32(3, x, planes * H * W);
  F32(4, y, planes * H * W / 4);
  max_pool2x2_forward(g_ctx, planes, H, W, x, y);
  return nullptr;
}

// maxPool2x2Backward(planes, H, W, x, g, gx, accumulate)
napi_value MaxPool2x2Backward(napi_env env, napi_callback_info info) {
  ARGS(7);
  const int64_t planes = get_i64(env, argv[0]), H = get_i64(env, argv[1]), W = get_i64(env, argv[2]);
  if (planes < 0 || H < 0 || W < 0 || H % 2 || W % 2) return throw_error(env, "native maxPool2x2Backward: needs even, non-negative sizes");
  F32(3, x, planes * H * W);
  F32(4, g, planes * H * W / 4);
  F32(5, gx, planes * H * W);
  max_pool2x2_backward(g_ctx, planes, H, W, x, g, gx, get_bool(env, argv[6]));
  return nullptr;
}

// channelMeanVar(outer, C, inner, x, mean, variance)
napi_value ChannelMeanVar(napi_env env, napi_callback_info info) {
  ARGS(6);
  const int64_t outer = get_i64(env, argv[0]), C = get_i64(env, argv[1]), inner = get_i64(env, argv[2]);
  F32(3, x, outer * C * inner);
  F64(4, mean, C);
  F64(5, var, C);
  channel_mean_var(g_ctx, outer, C, inner, x, mean, var);
  return nullptr;
}

// adamwUpdate(p, grad, m, v, decay, b1, b2, stepSize, bc2Sqrt, eps) -> every stored value finite
napi_value AdamwUpdate(napi_env env, napi_callback_info info) {
  ARGS(10);
  float* p = nullptr;
  size_t n = 0;
  if (!get_f32(env, argv[0], &p, &n)) return throw_error(env, "native adamwUpdate: parameters are not a Float32Array");
  F32(1, grad, n);
  F32(2, m, n);
  F32(3, v, n);
  const bool finite = adamw_update(g_ctx, (int64_t)n, p, grad, m, v, get_f64(env, argv[4]), get_f64(env, argv[5]),
                                  get_f64(env, argv[6]), get_f64(env, argv[7]), get_f64(env, argv[8]), get_f64(env, argv[9]));
  napi_value result;
  napi_get_boolean(env, finite, &result);
  return result;
}

// channelSums(outer, C, inner, x, sum)
napi_value ChannelSums(napi_env env, napi_callback_info info) {
  ARGS(5);
  const int64_t outer = get_i64(env, argv[0]), C = get_i64(env, argv[1]), inner = get_i64(env, argv[2]);
  F32(3, x, outer * C * inner);
  F64(4, sum, C);
  channel_sums(g_ctx, outer, C, inner, x, sum);
  return nullptr;
}

// channelAffine(outer, C, inner, x, a, b, y)
napi_value ChannelAffine(napi_env env, napi_callback_info info) {
  ARGS(7);
  const int64_t outer = get_i64(env, argv[0]), C = get_i64(env, argv[1]), inner = get_i64(env, argv[2]);
  F32(3, x, outer * C * inner);
  F32(4, a, C);
  F32(5, b, C);
  F32(6, y, outer * C * inner);
  channel_affine(g_ctx, outer, C, inner, x, a, b, y);
  return nullptr;
}

// leakyRelu(n, x, y, slope)
napi_value LeakyRelu(napi_env env, napi_callback_info info) {
  ARGS(4);
  const int64_t n = get_i64(env, argv[0]);
  F32(1, x, n);
  F32(2, y, n);
  leaky_relu(g_ctx, n, x, y, get_f64(env, argv[3]));
  return nullptr;
}

// leakyReluBackward(n, x, g, gx, slope, accumulate)
napi_value LeakyReluBackward(napi_env env, napi_callback_info info) {
  ARGS(6);
  const int64_t n = get_i64(env, argv[0]);
  F32(1, x, n);
  F32(2, g, n);
  F32(3, gx, n);
  leaky_relu_backward(g_ctx, n, x, g, gx, get_f64(env, argv[4]), get_bool(env, argv[5]));
  return nullptr;
}

// channelGradSums(outer, C, inner, g, x, mean, invStd, sumG, sumGX)
napi_value ChannelGradSums(napi_env env, napi_callback_info info) {
  ARGS(9);
  const int64_t outer = get_i64(env, argv[0]), C = get_i64(env, argv[1]), inner = get_i64(env, argv[2]);
  F32(3, g, outer * C * inner);
  F32(4, x, outer * C * inner);
  F64(5, mean, C);
  F64(6, inv_std, C);
  F64(7, sum_g, C);
  F64(8, sum_gx, C);
  channel_grad_sums(g_ctx, outer, C, inner, g, x, mean, inv_std, sum_g, sum_gx);
  return nullptr;
}

// channelNormBackward(outer, C, inner, g, x, a, mean, invStd, sumG, sumGX, batchStats, gx, accumulate)
napi_value ChannelNormBackward(napi_env env, napi_callback_info info) {
  ARGS(13);
  const int64_t outer = get_i64(env, argv[0]), C = get_i64(env, argv[1]), inner = get_i64(env, argv[2]);
  F32(3, g, outer * C * inner);
  F32(4, x, outer * C * inner);
  F32(5, a, C);
  F64(6, mean, C);
  F64(7, inv_std, C);
  F64(8, sum_g, C);
  F64(9, sum_gx, C);
  F32(11, gx, outer * C * inner);
  channel_norm_backward(g_ctx, outer, C, inner, g, x, a, mean, inv_std, sum_g, sum_gx, get_bool(env, argv[10]), gx,
                        get_bool(env, argv[12]));
  return nullptr;
}

napi_value make_string(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_utf8(env, s.c_str(), s.size(), &v);
  return v;
}

// configure(isa, threads, spikeKernels) -> error string ('' on success);
// isa '' picks the widest the CPU has, spikeKernels '' the default for it.
napi_value Configure(napi_env env, napi_callback_info info) {
  ARGS(3);
  size_t len = 0;
  char buf[32] = {0};
  napi_get_value_string_utf8(env, argv[0], buf, sizeof buf, &len);
  std::string err = select_isa(buf);
  char spikes[16] = {0};
  napi_get_value_string_utf8(env, argv[2], spikes, sizeof spikes, &len);
  const std::string mode = spikes;
  if (err.empty() && !mode.empty()) {
    if (mode == "dense" || mode == "event")
      g_dense_spikes = mode == "dense";
    else
      err = "unknown spike kernels '" + mode + "' (dense, event)";
  }
  if (err.empty()) {
    int64_t t = get_i64(env, argv[1]);
    if (t < 1) t = 1;
    if (!g_pool || g_pool->size() != t) set_threads((int)t);
  }
  return make_string(env, err);
}

napi_value Info(napi_env env, napi_callback_info) {
  napi_value obj, isa, th, hw;
  napi_create_object(env, &obj);
  isa = make_string(env, g_isa);
  napi_create_int32(env, g_ctx.threads, &th);
  napi_create_int32(env, (int)std::thread::hardware_concurrency(), &hw);
  napi_set_named_property(env, obj, "isa", isa);
  napi_set_named_property(env, obj, "threads", th);
  napi_set_named_property(env, obj, "hardwareThreads", hw);
  napi_set_named_property(env, obj, "spikeKernels", make_string(env, g_dense_spikes ? "dense" : "event"));
  return obj;
}

// peakGflops(seconds, threads): register-only FMA loop on `threads` threads.
napi_value Peak(napi_env env, napi_callback_info info) {
  ARGS(2);
  const double seconds = get_f64(env, argv[0]);
  const int threads = (int)get_i64(env, argv[1]);
  // Calibrate the iteration count on one thread.
  int64_t iters = 1 << 20;
  auto t0 = std::chrono::steady_clock::now();
  volatile double sink = K.peak(iters);
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  iters = (int64_t)(iters * seconds / std::max(dt, 1e-6));
  std::vector<double> flops(threads);
  std::vector<std::thread> ts;
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < threads; i++) ts.emplace_back([&, i] { flops[i] = K.peak(iters); });
  for (auto& t : ts) t.join();
  dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  (void)sink;
  double total = 0;
  for (int i = 0; i < threads; i++) total += flops[i];
  napi_value r;
  napi_create_double(env, total / dt / 1e9, &r);
  return r;
}

// memoryBandwidth(mib, threads): GB/s of a copy-and-scale over two arrays of
// `mib` MiB each on `threads` threads (bytes read + bytes written, best of 5),
// with ordinary stores: what a kernel that streams its input and writes a new
// output can reach, write-allocate traffic included. The arrays are 2 MiB
// aligned and advised for huge pages like the pool's blocks, which is what
// the kernels see. (It still varies from run to run on the VMs here: mostly
// 42-46 GB/s, up to 69.) The benchmarks use it for the memory side of the
// roofline.
napi_value Bandwidth(napi_env env, napi_callback_info info) {
  ARGS(2);
  const int64_t mib = get_i64(env, argv[0]);
  if (mib < 1 || mib > 4096) return throw_error(env, "native memoryBandwidth: size must be 1-4096 MiB");
  const int64_t n = mib * (1 << 20) / 4;
  const int threads = std::max(1, (int)get_i64(env, argv[1]));
  const size_t bytes = ((size_t)n * 4 + (2u << 20) - 1) / (2u << 20) * (2u << 20);
  std::unique_ptr<float, decltype(&std::free)> pa(static_cast<float*>(std::aligned_alloc(2u << 20, bytes)), &std::free),
      pb(static_cast<float*>(std::aligned_alloc(2u << 20, bytes)), &std::free);
  if (!pa || !pb) return throw_error(env, "native memoryBandwidth: out of memory");
#ifdef MADV_HUGEPAGE
  madvise(pa.get(), bytes, MADV_HUGEPAGE);
  madvise(pb.get(), bytes, MADV_HUGEPAGE);
#endif
  float* const a = pa.get();
  float* const b = pb.get();
  for (int64_t j = 0; j < n; j++) a[j] = 1.f, b[j] = 0.f;
  double best = 1e30;
  for (int rep = 0; rep < 5; rep++) {
    std::vector<std::thread> ts;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < threads; i++)
      ts.emplace_back([&, i] {
        const int64_t lo = n * i / threads, hi = n * (i + 1) / threads;
        float* __restrict d = b;
        const float* __restrict src = a;
        for (int64_t j = lo; j < hi; j++) d[j] = 1.5f * src[j];
      });
    for (auto& t : ts) t.join();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  volatile float sink = b[(size_t)n / 2];
  (void)sink;
  napi_value r;
  napi_create_double(env, 2.0 * 4.0 * (double)n / best / 1e9, &r);
  return r;
}

// ---------------------------------------------------------------- buffer pool
//
// Large activation and gradient arrays are allocated and dropped every
// training step. Fresh memory from the system costs a page fault per 4 KiB
// page on first touch (on the machines here ~3 µs each: 0.4 s for a 134 MB
// gradient), which dominated whole kernels. allocBuffer hands out zeroed,
// 64-byte aligned blocks as external ArrayBuffers; when V8 collects one, its
// block returns to a free list keyed by size and is reused warm. Blocks of
// 2 MiB and more are 2 MiB aligned and advised for transparent huge pages.
// A request first takes a free block of its own size, else the smallest free
// block up to 1.5 times its size. Only when neither exists is fresh memory
// taken, and then, if free blocks plus live ones would exceed the highest
// live total seen so far plus a slack (a quarter of it, but never beyond
// 2 GiB in all), free blocks are given back to the system first, the most
// recently returned first. So free blocks raise the process at most the slack
// above its own peak of live arrays (FSVAE at batch 250 peaked 1.1 GiB higher
// with a plain size-keyed cache, see docs/performance.md). Why the slack:
// steps differ (the prior's scheduled sampling draws how many prefix passes
// run), so a step's requests do not match the previous step's blocks exactly,
// and with no slack every mismatch gave back a block the step needed later:
// FSVAE at batch 64 took 320 MiB of fresh memory per step (page faults), with
// the slack 4 MiB, for 20 MiB more peak memory. Why the 2 GiB: at batch 250
// (live peak ~3 GiB) memory is the constraint, not faults: a 192-256 MiB
// slack raised `spikevae train`'s peak from 3.6 to 3.9 GiB, close to the
// 4 GiB target, for no speed gain that runs on this VM could resolve.
// Why the most recent:
// a training step's arrays come back roughly in the order they were made, so
// the oldest free block is the one the next step needs first; giving back the
// oldest made each step re-fault most of what it reused (FSVAE batch 250:
// 83 images/s and 1.75 GB of fresh memory per step, against 104 images/s and
// 1.34 GB). SPIKEVAE_POOL_MB optionally caps the free blocks kept.

static constexpr size_t POOL_SLACK_TOTAL = (size_t)2 << 30;

struct FreeBlock {
  void* data;
  uint64_t returned;  // order of return (the most recent are given back first)
};

struct BufferPool {
  std::mutex m;
  std::map<size_t, std::vector<FreeBlock>> free;  // by block size
  std::map<uint64_t, std::pair<size_t, void*>> by_age;  // returned → (block size, data)
  uint64_t clock = 0;
  size_t free_bytes = 0;
  size_t live_bytes = 0;  // blocks handed out and not returned
  size_t max_live = 0;    // the highest live_bytes so far
  size_t fresh_bytes = 0;  // total taken from the system (each costs page faults)
  size_t cap = SIZE_MAX;  // free bytes kept at most; SPIKEVAE_POOL_MB sets it
  // Blocks handed out and not yet returned, by address (releaseBuffer looks them up).
  std::unordered_map<void*, struct BufferHandle*> live;
};
BufferPool g_buffers;

// One per hand-out; the finalizer's hint. `released` is set when the block
// went back early through releaseBuffer, so the later finalizer leaves it alone.
struct BufferHandle {
  size_t block;
  bool released;
};

static size_t pool_block_size(size_t bytes) {
  const size_t huge = (size_t)2 << 20;
  return bytes >= huge ? (bytes + huge - 1) / huge * huge : (bytes + 63) / 64 * 64;
}

// Caller holds the lock. Removes the most recently returned block of exactly
// `size` from the free list (there is one).
static void* pool_take_locked(std::map<size_t, std::vector<FreeBlock>>::iterator it) {
  FreeBlock fb = it->second.back();
  it->second.pop_back();
  g_buffers.by_age.erase(fb.returned);
  g_buffers.free_bytes -= it->first;
  if (it->second.empty()) g_buffers.free.erase(it);
  return fb.data;
}

// Caller holds the lock. Gives back to the system the free blocks returned
// most recently until `bytes` have been given back or none is left.
static void pool_trim_locked(size_t bytes) {
  size_t done = 0;
  while (done < bytes && !g_buffers.by_age.empty()) {
    auto newest = std::prev(g_buffers.by_age.end());
    const size_t size = newest->second.first;
    void* data = newest->second.second;
    auto& list = g_buffers.free[size];
    for (size_t i = 0; i < list.size(); i++)
      if (list[i].data == data) {
        list.erase(list.begin() + (std::ptrdiff_t)i);
        break;
      }
    if (list.empty()) g_buffers.free.erase(size);
    g_buffers.by_age.erase(newest);
    g_buffers.free_bytes -= size;
    std::free(data);
    done += size;
  }
}

// Caller holds the lock. `block` was handed out and is now free.
static void pool_return_locked(void* data, size_t block) {
  g_buffers.live_bytes -= block;
  if (g_buffers.free_bytes + block > g_buffers.cap) {
    std::free(data);
    return;
  }
  const uint64_t t = ++g_buffers.clock;
  g_buffers.free[block].push_back(FreeBlock{data, t});
  g_buffers.by_age[t] = {block, data};
  g_buffers.free_bytes += block;
}

static void pool_finalize(napi_env, void* data, void* hint) {
  BufferHandle* h = static_cast<BufferHandle*>(hint);
  {
    std::lock_guard<std::mutex> lock(g_buffers.m);
    if (!h->released) {
      auto it = g_buffers.live.find(data);
      if (it != g_buffers.live.end() && it->second == h) g_buffers.live.erase(it);
      pool_return_locked(data, h->block);
    }
  }
  delete h;
}

// allocBuffer(bytes, zero) -> ArrayBuffer backed by a pooled block, zero-filled
// unless zero is false (for outputs a kernel overwrites completely).
napi_value AllocBuffer(napi_env env, napi_callback_info info) {
  ARGS(2);
  const size_t bytes = (size_t)get_i64(env, argv[0]);
  bool zero = true;
  napi_get_value_bool(env, argv[1], &zero);
  const size_t block = pool_block_size(std::max<size_t>(bytes, 64));
  static bool cap_read = false;
  if (!cap_read) {
    cap_read = true;
    if (const char* e = std::getenv("SPIKEVAE_POOL_MB")) g_buffers.cap = (size_t)std::strtoull(e, nullptr, 10) << 20;
  }
  void* p = nullptr;
  size_t got = block;
  {
    std::lock_guard<std::mutex> lock(g_buffers.m);
    auto it = g_buffers.free.lower_bound(block);
    if (it != g_buffers.free.end() && it->first <= block + block / 2) {
      got = it->first;
      p = pool_take_locked(it);
    } else {
      // Fresh memory: first give back free blocks, newest first, so that
      // live + free stays within the highest live total seen plus the slack.
      const size_t live_after = g_buffers.live_bytes + block;
      g_buffers.max_live = std::max(g_buffers.max_live, live_after);
      const size_t total = live_after + g_buffers.free_bytes;
      const size_t bound = std::max(g_buffers.max_live, std::min(g_buffers.max_live + g_buffers.max_live / 4, POOL_SLACK_TOTAL));
      if (total > bound) pool_trim_locked(total - bound);
    }
    g_buffers.live_bytes += got;
  }
  if (!p) {
    const size_t align = block >= ((size_t)2 << 20) ? ((size_t)2 << 20) : 64;
    p = std::aligned_alloc(align, block);
    if (p) {
      std::lock_guard<std::mutex> lock(g_buffers.m);
      g_buffers.fresh_bytes += block;
    }
    if (!p) {
      std::lock_guard<std::mutex> lock(g_buffers.m);
      g_buffers.live_bytes -= got;
      napi_throw_error(env, nullptr, "spikevae native: out of memory");
      return nullptr;
    }
#ifdef MADV_HUGEPAGE
    if (align > 64) madvise(p, block, MADV_HUGEPAGE);
#endif
  }
  // Fresh blocks are zeroed by touching them here (the faults happen once);
  // reused ones must be cleared like any new Float32Array.
  if (!zero) {
    // The caller overwrites every element.
  } else if (bytes >= ((size_t)1 << 22) && g_ctx.threads > 1) {
    const int64_t parts = 64;
    const size_t per = (bytes + parts - 1) / parts;
    g_ctx.parallel_for(parts, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; i++) {
        const size_t o = (size_t)i * per;
        if (o < bytes) std::memset((char*)p + o, 0, std::min(per, bytes - o));
      }
    });
  } else {
    std::memset(p, 0, bytes);
  }
  napi_value ab;
  BufferHandle* h = new BufferHandle{got, false};
  if (napi_create_external_arraybuffer(env, p, bytes, pool_finalize, h, &ab) != napi_ok) {
    std::free(p);
    delete h;
    {
      std::lock_guard<std::mutex> lock(g_buffers.m);
      g_buffers.live_bytes -= got;
    }
    napi_throw_error(env, nullptr, "spikevae native: cannot create an external ArrayBuffer");
    return nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(g_buffers.m);
    g_buffers.live[p] = h;
  }
  return ab;
}

// releaseBuffer(ab) -> true when ab was a live pool buffer: it is detached
// (every view on it becomes empty) and its block is reusable at once. Other
// ArrayBuffers are left untouched (false).
napi_value ReleaseBuffer(napi_env env, napi_callback_info info) {
  ARGS(1);
  void* data = nullptr;
  size_t len = 0;
  napi_value result;
  if (napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok || data == nullptr) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  BufferHandle* h = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_buffers.m);
    auto it = g_buffers.live.find(data);
    if (it != g_buffers.live.end()) h = it->second;
  }
  if (!h || napi_detach_arraybuffer(env, argv[0]) != napi_ok) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  {
    std::lock_guard<std::mutex> lock(g_buffers.m);
    h->released = true;
    g_buffers.live.erase(data);
    pool_return_locked(data, h->block);
  }
  napi_get_boolean(env, true, &result);
  return result;
}

// poolStats() -> { liveBytes, freeBytes, maxLiveBytes, freshBytes }
napi_value PoolStats(napi_env env, napi_callback_info) {
  size_t live, free_b, max_live, fresh;
  {
    std::lock_guard<std::mutex> lock(g_buffers.m);
    live = g_buffers.live_bytes;
    free_b = g_buffers.free_bytes;
    max_live = g_buffers.max_live;
    fresh = g_buffers.fresh_bytes;
  }
  napi_value r, v;
  napi_create_object(env, &r);
  napi_create_double(env, (double)live, &v);
  napi_set_named_property(env, r, "liveBytes", v);
  napi_create_double(env, (double)free_b, &v);
  napi_set_named_property(env, r, "freeBytes", v);
  napi_create_double(env, (double)max_live, &v);
  napi_set_named_property(env, r, "maxLiveBytes", v);
  napi_create_double(env, (double)fresh, &v);
  napi_set_named_property(env, r, "freshBytes", v);
  return r;
}

napi_value Init(napi_env env, napi_value exports) {
  struct Fn {
    const char* name;
    napi_callback cb;
  } fns[] = {{"gemm", Gemm},
             {"conv2dForward", ConvForward},
             {"conv2dBackwardData", ConvBackwardData},
             {"conv2dBackwardWeight", ConvBackwardWeight},
             {"lifForward", LifForward},
             {"lifBackward", LifBackward},
             {"lifBackwardRecompute", LifBackwardRecompute},
             {"affineLifForward", AffineLifForward},
             {"affineLifTimeSum", AffineLifTimeSum},
             {"lifStep", LifStep},
             {"lifBackwardTimeSum", LifBackwardTimeSum},
             {"plifForward", PlifForward},
             {"plifBackward", PlifBackward},
             {"plifPoolForward", PlifPoolForward},
             {"plifPoolBackward", PlifPoolBackward},
             {"maxPool2x2Forward", MaxPool2x2Forward},
             {"maxPool2x2Backward", MaxPool2x2Backward},
             {"timeWeightedSum", TimeWeightedSum},
             {"timeWeightedSpread", TimeWeightedSpread},
             {"configure", Configure},
             {"info", Info},
             {"peakGflops", Peak},
             {"memoryBandwidth", Bandwidth},
             {"channelMeanVar", ChannelMeanVar},
             {"channelSums", ChannelSums},
             {"adamwUpdate", AdamwUpdate},
             {"channelAffine", ChannelAffine},
             {"leakyRelu", LeakyRelu},
             {"leakyReluBackward", LeakyReluBackward},
             {"channelGradSums", ChannelGradSums},
             {"channelNormBackward", ChannelNormBackward},
             {"allocBuffer", AllocBuffer},
             {"releaseBuffer", ReleaseBuffer},
             {"poolStats", PoolStats}};
  for (auto& f : fns) {
    napi_value v;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &v);
    napi_set_named_property(env, exports, f.name, v);
  }
  return exports;
}

}  // namespace
}  // namespace spv

NAPI_MODULE(NODE_GYP_MODULE_NAME, spv::Init)
