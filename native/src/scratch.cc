// Per-thread cache of kernel scratch buffers (padded images, packed panels,
// partial sums). Kernels run thousands of times per training step with the
// same sizes, and buffers of a few hundred KiB and more come from mmap in
// glibc: a fresh allocation page-faulted on every call (bench:ops with
// malloc's mmap threshold raised: encoder.2's forward 74 → 82 % of peak,
// encoder.0's input gradient 20 → 5 ms). Freed blocks are kept per thread,
// keyed by exact size, up to kMaxCachedBytes per thread.
#include <cstdlib>
#include <new>
#include <unordered_map>

#include "common.h"

namespace spv {
namespace {

constexpr size_t kMaxCachedBytes = (size_t)128 << 20;

struct Cache {
  std::unordered_multimap<size_t, void*> blocks;
  size_t bytes = 0;
  ~Cache() {
    for (auto& b : blocks) std::free(b.second);
  }
};

thread_local Cache cache;

size_t rounded(size_t bytes) { return ((bytes ? bytes : 1) + 63) / 64 * 64; }

}  // namespace

void* scratch_alloc(size_t bytes) {
  const size_t n = rounded(bytes);
  auto it = cache.blocks.find(n);
  if (it != cache.blocks.end()) {
    void* p = it->second;
    cache.blocks.erase(it);
    cache.bytes -= n;
    return p;
  }
  void* p = std::aligned_alloc(64, n);
  if (!p) throw std::bad_alloc();
  return p;
}

void scratch_free(void* p, size_t bytes) {
  if (!p) return;
  const size_t n = rounded(bytes);
  if (n > kMaxCachedBytes) {
    std::free(p);
    return;
  }
  while (cache.bytes + n > kMaxCachedBytes && !cache.blocks.empty()) {
    auto it = cache.blocks.begin();
    std::free(it->second);
    cache.bytes -= it->first;
    cache.blocks.erase(it);
  }
  cache.blocks.emplace(n, p);
  cache.bytes += n;
}

}  // namespace spv
