// 2×2 max pooling with stride 2 over planes whose height and width are even
// (the classifiers' MaxPool2d(2)): the windows tile the plane, so the
// backward writes every input element once and needs no zeroed buffer.
// The window's winner is its first maximum in row-major order, as PyTorch's
// CPU kernel picks it (a later value wins only if strictly greater, or NaN),
// exactly the comparisons of the TypeScript oracle. The backward finds the
// winner again from x instead of keeping an index per output.
#include <algorithm>

#include "common.h"

namespace spv {

// Index (0-3, row-major) of the winner of the window at x[0], x[1], x[w], x[w + 1].
static inline int window_winner(const float* x, int64_t w) {
  float best = x[0];
  int at = 0;
  const float v1 = x[1], v2 = x[w], v3 = x[w + 1];
  if (v1 > best || v1 != v1) best = v1, at = 1;
  if (v2 > best || v2 != v2) best = v2, at = 2;
  if (v3 > best || v3 != v3) at = 3;
  return at;
}

// The classifiers' rows are short (7 or 14 windows), too short for a loop
// over a row's windows to vectorise; so each pair of adjacent elements is
// reduced first over all the rows at once (one long loop), then each pair of
// the upper row with the pair below it (another long loop, over every row
// but the last, of which only the upper rows' results are kept). The order of
// the comparisons changes, not the winner: the upper pair's first maximum
// stays unless a lower value is greater, or NaN (the last NaN wins either way).
// Selects, not branches (see max_pool2x2_unpool_rows). rows·W ≤ POOL_CHUNK.
static constexpr int64_t POOL_CHUNK = 2048;
__attribute__((optimize("no-trapping-math"))) SPV_CLONES static void pool_chunk(int64_t rows, int64_t W, const float* x,
                                                                                 float* y) {
  const int64_t OW = W / 2, pairs = rows * W;  // horizontal pairs in the 2·rows input rows
  float h[POOL_CHUNK], v[POOL_CHUNK];
  for (int64_t i = 0; i < pairs; i++) {
    const float p0 = x[2 * i], p1 = x[2 * i + 1];
    h[i] = (p1 > p0) | (p1 != p1) ? p1 : p0;
  }
  for (int64_t i = 0; i + OW < pairs; i++) {
    const float up = h[i], down = h[i + OW];
    v[i] = (down > up) | (down != down) ? down : up;
  }
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < OW; j++) y[r * OW + j] = v[2 * r * OW + j];
}

// The chunking both directions share: runs of output rows whose input fits a
// chunk go to chunk(n, r) (rows r .. r + n), and a row wider than a chunk,
// one at a time, to wide(r).
template <class Chunk, class Wide>
static void for_pool_chunks(int64_t rows, int64_t W, Chunk chunk, Wide wide) {
  const int64_t step = std::max<int64_t>(1, POOL_CHUNK / W);
  for (int64_t r = 0; r < rows; r += step) {
    const int64_t n = std::min(step, rows - r);
    if (n * W <= POOL_CHUNK)
      chunk(n, r);
    else
      wide(r);  // step is 1 here: W alone exceeds a chunk
  }
}

void max_pool2x2_rows(int64_t rows, int64_t W, const float* x, float* y) {
  for_pool_chunks(rows, W, [&](int64_t n, int64_t r) { pool_chunk(n, W, x + 2 * r * W, y + r * (W / 2)); }, [&](int64_t r) {
    for (int64_t j = 0; j < W / 2; j++) {  // window by window
      const float* a = x + 2 * r * W + 2 * j;
      float best = a[0];
      for (const float v : {a[1], a[W], a[W + 1]})
        if (v > best || v != v) best = v;
      y[r * (W / 2) + j] = best;
    }
  });
}

void max_pool2x2_forward(const Ctx& ctx, int64_t planes, int64_t H, int64_t W, const float* x, float* y) {
  const int64_t rows = planes * (H / 2);  // output rows, each from two input rows
  ctx.parallel_for((rows + 63) / 64, [&](int64_t b, int64_t e) {
    const int64_t r0 = b * 64, r1 = std::min(rows, e * 64);
    max_pool2x2_rows(r1 - r0, W, x + 2 * r0 * W, y + r0 * (W / 2));
  });
}

// The backward of pool_chunk's layout, for the same short rows: each
// horizontal pair's winner over all rows at once (one long loop), the window's
// pair per window (the only loop over a row's windows, selects only), then
// every element's gradient (another long loop). Same winner as the
// comparison chain below: the upper pair's first maximum unless the lower
// pair's is greater or NaN (the last NaN wins either way).
__attribute__((optimize("no-trapping-math"))) SPV_CLONES static void unpool_chunk(int64_t rows, int64_t W, const float* x,
                                                                                   const float* g, float* gx) {
  const int64_t OW = W / 2, pairs = rows * W;  // horizontal pairs in the 2·rows input rows
  float h[POOL_CHUNK], right[POOL_CHUNK], gp[POOL_CHUNK];
  for (int64_t i = 0; i < pairs; i++) {
    const float p0 = x[2 * i], p1 = x[2 * i + 1];
    const bool w = (p1 > p0) | (p1 != p1);
    h[i] = w ? p1 : p0;
    right[i] = w ? 1.f : 0.f;
  }
  for (int64_t r = 0; r < rows; r++) {
    const float* up = h + 2 * r * OW;
    const float* gr = g + r * OW;
    float* gu = gp + 2 * r * OW;
    for (int64_t j = 0; j < OW; j++) {
      const float u = up[j], d = up[j + OW];
      const bool lower = (d > u) | (d != d);
      gu[j] = lower ? 0.f : gr[j];
      gu[j + OW] = lower ? gr[j] : 0.f;
    }
  }
  for (int64_t i = 0; i < pairs; i++) {
    const float gv = gp[i];
    const bool w = right[i] != 0.f;
    gx[2 * i] = w ? 0.f : gv;
    gx[2 * i + 1] = w ? gv : 0.f;
  }
}

// Row by row: the accumulating backward, and rows wider than a chunk.
// Written without branches (selects on the comparisons): with spikes the
// winner is data-dependent and a branch per comparison mispredicted often.
// no-trapping-math lets the compiler evaluate every comparison (it changes no
// value), so the selects need no control flow.
__attribute__((optimize("no-trapping-math"))) SPV_CLONES static void unpool_each_row(
    int64_t rows, int64_t W, const float* x, const float* g, float* gx, bool accumulate) {
  const int64_t OW = W / 2;
  for (int64_t r = 0; r < rows; r++) {
    const float* xa = x + 2 * r * W;
    const float* xb = xa + W;
    float* ga = gx + 2 * r * W;
    float* gb = ga + W;
    const float* gr = g + r * OW;
    if (accumulate) {  // only the winner's element changes
      for (int64_t j = 0; j < OW; j++) {
        const int at = window_winner(xa + 2 * j, W);
        *((at < 2 ? ga : gb) + 2 * j + (at & 1)) += gr[j];
      }
      continue;
    }
    for (int64_t j = 0; j < OW; j++) {
      const float a0 = xa[2 * j], a1 = xa[2 * j + 1], b0 = xb[2 * j], b1 = xb[2 * j + 1];
      const bool w1 = (a1 > a0) | (a1 != a1);
      const float m1 = w1 ? a1 : a0;
      const bool w2 = (b0 > m1) | (b0 != b0);
      const float m2 = w2 ? b0 : m1;
      const bool w3 = (b1 > m2) | (b1 != b1);
      // The gradient goes to the last element that won its comparison.
      const float gv = gr[j];
      const float g3 = w3 ? gv : 0.f, r3 = w3 ? 0.f : gv;
      const float g2 = w2 ? r3 : 0.f, r2 = w2 ? 0.f : r3;
      const float g1 = w1 ? r2 : 0.f, g0 = w1 ? 0.f : r2;
      ga[2 * j] = g0;
      ga[2 * j + 1] = g1;
      gb[2 * j] = g2;
      gb[2 * j + 1] = g3;
    }
  }
}

// Chunked as max_pool2x2_rows is (for_pool_chunks): as many rows as fit a
// chunk go through unpool_chunk's long loops.
void max_pool2x2_unpool_rows(int64_t rows, int64_t W, const float* x, const float* g, float* gx, bool accumulate) {
  if (accumulate) return unpool_each_row(rows, W, x, g, gx, true);
  const auto at = [&](int64_t r) { return 2 * r * W; };
  for_pool_chunks(
      rows, W, [&](int64_t n, int64_t r) { unpool_chunk(n, W, x + at(r), g + r * (W / 2), gx + at(r)); },
      [&](int64_t r) { unpool_each_row(1, W, x + at(r), g + r * (W / 2), gx + at(r), false); });
}

void max_pool2x2_backward(const Ctx& ctx, int64_t planes, int64_t H, int64_t W, const float* x, const float* g,
                          float* gx, bool accumulate) {
  const int64_t rows = planes * (H / 2);
  ctx.parallel_for((rows + 63) / 64, [&](int64_t b, int64_t e) {
    const int64_t r0 = b * 64, r1 = std::min(rows, e * 64);
    max_pool2x2_unpool_rows(r1 - r0, W, x + 2 * r0 * W, g + r0 * (W / 2), gx + 2 * r0 * W, accumulate);
  });
}

}  // namespace spv
