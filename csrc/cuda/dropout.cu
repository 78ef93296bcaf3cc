// Inverted dropout on the device, the CUDA twin of nn/dropout.cpp: the masked forward
// pass of a hidden layer and the backward multiply. The mask of each unit comes from
// nn/dropout_math.h, the very function the CPU calls, so a device fit drops the units a
// CPU fit drops for the same seed. Tested in tests/test_cuda.py (masks against the CPU's,
// fits with dropout against CPU fits).
#include "cuda/kernels.cuh"
#include "nn/dropout_math.h"

namespace fastmlp {
namespace cuda {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return unsigned(b < 1 ? 1 : (b > 65535 * 32 ? 65535 * 32 : b));
}

// One thread per element; the data row of batch row i is order[first + i], or first + i.
__global__ void dropout_forward_kernel(float* y, float* mask, const float* a,
                                       const int64_t* order, int64_t first, int64_t m,
                                       int64_t width, double p, float scale, uint64_t stream) {
  const int64_t total = m * width;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e / width, j = e % width;
    const int64_t row = order ? order[first + i] : first + i;
    const float keep = dropout_keep(stream, uint64_t(row), uint64_t(width), uint64_t(j), p, scale);
    mask[e] = keep;
    y[e] = a[e] * keep;
  }
}

__global__ void dropout_backward_kernel(float* delta, const float* mask, int64_t total) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x)
    delta[e] *= mask[e];
}

}  // namespace

void launch_dropout_forward(float* y, float* mask, const float* a, const int64_t* order,
                            int64_t first, int64_t m, int64_t width, double p, uint64_t seed,
                            int64_t layer, cudaStream_t stream) {
  if (m <= 0 || width <= 0) return;
  // The stream start and the scale on the host, as nn/dropout.cpp computes them.
  const float scale = float(1.0 / (1.0 - p));
  dropout_forward_kernel<<<blocks_for(m * width), kThreads, 0, stream>>>(
      y, mask, a, order, first, m, width, p, scale, dropout_stream(seed, layer));
  check_launch("dropout_forward");
}

void launch_dropout_backward(float* delta, const float* mask, int64_t m, int64_t width,
                             cudaStream_t stream) {
  if (m <= 0 || width <= 0) return;
  dropout_backward_kernel<<<blocks_for(m * width), kThreads, 0, stream>>>(delta, mask,
                                                                          m * width);
  check_launch("dropout_backward");
}

}  // namespace cuda
}  // namespace fastmlp
