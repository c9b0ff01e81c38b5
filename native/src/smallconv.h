// Single-channel 3×3 convolutions (smallconv.cc), declared for kernels.cc's
// dispatchers in the instruction set's namespace. Each returns false, having
// done nothing, when the geometry is not one it serves.
#pragma once
#include "common.h"

namespace spv {
namespace SPV_ISA {

bool single_channel_forward(const Ctx& ctx, const Geo& g, const float* x, const float* w, const float* bias,
                            float* y);
bool single_channel_backward_data(const Ctx& ctx, const Geo& g, const float* gy, const float* w, float* gx,
                                  bool accumulate);
bool single_channel_backward_weight(const Ctx& ctx, const Geo& g, const float* x, const float* gy, float* gw,
                                    bool accumulate);

}  // namespace SPV_ISA
}  // namespace spv
