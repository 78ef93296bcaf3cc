// Layer kernels on the device, the CUDA twins of nn/activations.cpp and nn/losses.cpp:
// bias + activation forward (softmax one warp per row) and backward, the output loss and
// its gradient, the batch's loss and weight sums, bias-gradient column sums, and the
// gather of a shuffled mini-batch. The element formulas are the CPU's own
// (nn/activation_math.h, nn/loss_math.h); each kernel is built per activation or loss.
// Sums run in a fixed order: results do not depend on scheduling. Tested against the CPU
// kernels in tests/test_cuda.py.
#include "cuda/kernels.cuh"
#include "nn/activation_math.h"
#include "nn/loss_math.h"

namespace fastmlp {
namespace cuda {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n, int per_block = kThreads) {
  const int64_t b = (n + per_block - 1) / per_block;
  return unsigned(b < 1 ? 1 : (b > 65535 * 32 ? 65535 * 32 : b));
}

// z = a + bias, kept in pre (n,width) when pre is not null; a = f(z).
template <Activation F>
__global__ void bias_activation_forward_kernel(float* a, float* pre, const float* bias,
                                               int64_t n, int64_t width) {
  const int64_t total = n * width;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float z = a[i] + (bias ? bias[i % width] : 0.0f);
    if (pre) pre[i] = z;
    a[i] = activation_value<F>(z);
  }
}

// One warp per row: max, sum of exp, normalise; the row is re-read from global memory
// (mini-batch outputs are narrow and stay in L1/L2).
__global__ void softmax_forward_kernel(float* a, const float* bias, int64_t n, int64_t width) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= n) return;
  float* r = a + row * width;
  float mx = -INFINITY;
  for (int64_t j = lane; j < width; j += 32) {
    const float x = r[j] + (bias ? bias[j] : 0.0f);
    r[j] = x;
    mx = fmaxf(mx, x);
  }
  for (int o = 16; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  float sum = 0.0f;
  for (int64_t j = lane; j < width; j += 32) {
    const float e = expf(r[j] - mx);
    r[j] = e;
    sum += e;
  }
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const float inv = 1.0f / sum;
  for (int64_t j = lane; j < width; j += 32) r[j] *= inv;
}

template <Activation F>
__global__ void activation_backward_kernel(float* delta, const float* a, const float* z,
                                           int64_t total) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    if constexpr (activation_needs_preactivation(F))
      delta[i] = activation_delta<F>(delta[i], a[i], z[i]);
    else
      delta[i] = activation_delta<F>(delta[i], a[i], 0.0f);
  }
}

// One thread per row: the per-row loss in double (as the CPU), and the gradient.
template <Loss L>
__global__ void loss_forward_backward_kernel(double* row_loss, float* delta, const float* p,
                                             const float* y, const float* sw, int64_t n,
                                             int64_t out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float w = sw ? sw[i] : 1.0f;
  const float* pi = p + i * out;
  const float* yi = y + i * out;
  float* di = delta + i * out;
  double s = 0.0;
  for (int64_t j = 0; j < out; ++j) {
    s += loss_term<L>(pi[j], yi[j]);
    di[j] = loss_gradient<L>(pi[j], yi[j]) * w;
  }
  const double li = loss_from_terms<L>(s, out);
  row_loss[i] = sw ? double(w) * li : li;
}

// One block: each thread a strided partial sum, then a tree in shared memory.
__global__ void batch_stats_kernel(double* stats, const double* row_loss, const float* sw,
                                   int64_t n) {
  __shared__ double sl[kThreads], sw_sum[kThreads];
  double l = 0.0, w = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    l += row_loss[i];
    w += sw ? double(sw[i]) : 1.0;
  }
  sl[threadIdx.x] = l;
  sw_sum[threadIdx.x] = w;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) {
      sl[threadIdx.x] += sl[threadIdx.x + s];
      sw_sum[threadIdx.x] += sw_sum[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    stats[0] = sl[0];
    stats[1] = sw_sum[0];
  }
}

// Column sums: a 32-column slab per block, 8 row groups merged in shared memory.
template <int kCols, int kRowGroups>
__global__ void bias_grad_kernel(float* db, const float* delta, int64_t n, int64_t width) {
  static_assert(kCols == 32, "one warp spans the slab's columns: coalesced rows");
  __shared__ float part[kRowGroups][kCols];
  const int64_t j = int64_t(blockIdx.x) * kCols + threadIdx.x;
  float s = 0.0f;
  if (j < width)
    for (int64_t i = threadIdx.y; i < n; i += kRowGroups) s += delta[i * width + j];
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && j < width) {
    float t = 0.0f;
    for (int g = 0; g < kRowGroups; ++g) t += part[g][threadIdx.x];
    db[j] = t;
  }
}

__global__ void gather_rows_kernel(float* out, const float* src, const int64_t* order,
                                   int64_t first, int64_t m, int64_t width) {
  const int64_t total = m * width;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e / width, c = e % width;
    const int64_t r = order ? order[first + i] : first + i;
    out[e] = src[r * width + c];
  }
}

}  // namespace

void launch_bias_activation_forward(Activation f, float* a, const float* bias, int64_t n,
                                    int64_t width, cudaStream_t stream, float* pre) {
  if (n <= 0 || width <= 0) return;
  visit_activation(f, [&](auto tag) {
    constexpr Activation F = decltype(tag)::value;
    if constexpr (F == Activation::softmax) {
      constexpr int kRowsPerBlock = kThreads / 32;
      softmax_forward_kernel<<<blocks_for(n, kRowsPerBlock), kThreads, 0, stream>>>(a, bias, n,
                                                                                    width);
    } else {
      bias_activation_forward_kernel<F>
          <<<blocks_for(n * width), kThreads, 0, stream>>>(a, pre, bias, n, width);
    }
  });
  check_launch("bias_activation_forward");
}

void launch_activation_backward(Activation f, float* delta, const float* a, const float* z,
                                int64_t n, int64_t width, cudaStream_t stream) {
  if (n <= 0 || width <= 0) return;
  visit_activation(f, [&](auto tag) {
    constexpr Activation F = decltype(tag)::value;
    // identity; softmax and exp, output activations whose derivative is folded into the
    // loss gradient: delta stays as it is.
    if constexpr (F != Activation::identity && F != Activation::softmax &&
                  F != Activation::exp) {
      activation_backward_kernel<F>
          <<<blocks_for(n * width), kThreads, 0, stream>>>(delta, a, z, n * width);
      check_launch("activation_backward");
    }
  });
}

void launch_loss_forward_backward(Loss loss, double* row_loss, float* delta, const float* p,
                                  const float* y, const float* sw, int64_t n, int64_t out,
                                  cudaStream_t stream) {
  if (n <= 0) return;
  visit_loss(loss, [&](auto tag) {
    loss_forward_backward_kernel<decltype(tag)::value>
        <<<blocks_for(n), kThreads, 0, stream>>>(row_loss, delta, p, y, sw, n, out);
  });
  check_launch("loss_forward_backward");
}

void launch_batch_stats(double* stats, const double* row_loss, const float* sw, int64_t n,
                        cudaStream_t stream) {
  batch_stats_kernel<<<1, kThreads, 0, stream>>>(stats, row_loss, sw, n);
  check_launch("batch_stats");
}

void launch_bias_grad(float* db, const float* delta, int64_t n, int64_t width,
                      cudaStream_t stream) {
  if (width <= 0) return;
  constexpr int kCols = 32, kGroups = 8;
  bias_grad_kernel<kCols, kGroups>
      <<<unsigned((width + kCols - 1) / kCols), dim3(kCols, kGroups), 0, stream>>>(db, delta, n,
                                                                                  width);
  check_launch("bias_grad");
}

void launch_gather_rows(float* out, const float* src, const int64_t* order, int64_t first,
                        int64_t m, int64_t width, cudaStream_t stream) {
  if (m <= 0 || width <= 0) return;
  gather_rows_kernel<<<blocks_for(m * width), kThreads, 0, stream>>>(out, src, order, first, m,
                                                                     width);
  check_launch("gather_rows");
}

}  // namespace cuda
}  // namespace fastmlp
