// Layer kernels on the device, the CUDA twins of nn/activations.cpp and nn/losses.cpp:
// bias + activation forward (softmax one warp per row) and backward, the output loss and
// its gradient, the batch's loss and weight sums, bias-gradient column sums, and the
// gather of a shuffled mini-batch. Sums run in a fixed order: results do not depend on
// scheduling. Tested against the CPU kernels in tests/test_cuda.py.
#include <cfloat>

#include "cuda/kernels.cuh"

namespace fastmlp {
namespace cuda {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n, int per_block = kThreads) {
  const int64_t b = (n + per_block - 1) / per_block;
  return unsigned(b < 1 ? 1 : (b > 65535 * 32 ? 65535 * 32 : b));
}

// exp(-|x|) never overflows, so both branches stay finite (as the CPU's expit).
__device__ __forceinline__ float expit(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

__global__ void bias_activation_forward_kernel(Activation f, float* a, const float* bias,
                                               int64_t n, int64_t width) {
  const int64_t total = n * width;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    float x = a[i] + (bias ? bias[i % width] : 0.0f);
    switch (f) {
      case Activation::logistic: x = expit(x); break;
      case Activation::tanh: x = tanhf(x); break;
      case Activation::relu: x = fmaxf(x, 0.0f); break;
      case Activation::exp: x = expf(x); break;
      default: break;  // identity (softmax has its own kernel)
    }
    a[i] = x;
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

__global__ void activation_backward_kernel(Activation f, float* delta, const float* a,
                                           int64_t total) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float y = a[i];
    switch (f) {
      case Activation::logistic: delta[i] *= y * (1.0f - y); break;
      case Activation::tanh: delta[i] *= 1.0f - y * y; break;
      case Activation::relu: if (!(y > 0.0f)) delta[i] = 0.0f; break;
      default: break;  // identity
    }
  }
}

// scipy.special.xlogy: 0 where x == 0, whatever y is.
__device__ __forceinline__ double xlogy(double x, double y) { return x == 0.0 ? 0.0 : x * log(y); }

// One thread per row: the per-row loss in double (as the CPU), and the gradient.
__global__ void loss_forward_backward_kernel(Loss loss, double* row_loss, float* delta,
                                             const float* p, const float* y, const float* sw,
                                             int64_t n, int64_t out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const double eps = FLT_EPSILON;  // sklearn clips with the array's dtype eps
  const float w = sw ? sw[i] : 1.0f;
  const float* pi = p + i * out;
  const float* yi = y + i * out;
  float* di = delta + i * out;
  double s = 0.0;
  for (int64_t j = 0; j < out; ++j) {
    const double pj = pi[j], yj = yi[j];
    switch (loss) {
      case Loss::squared_error: s += (yj - pj) * (yj - pj); break;
      case Loss::log_loss: s -= xlogy(yj, fmin(fmax(pj, eps), 1.0 - eps)); break;
      case Loss::binary_log_loss: {
        const double q = fmin(fmax(pj, eps), 1.0 - eps);
        s -= xlogy(yj, q) + xlogy(1.0 - yj, 1.0 - q);
        break;
      }
      case Loss::poisson: s += xlogy(yj, yj / pj) - yj + pj; break;
    }
    di[j] = (pi[j] - yi[j]) * w;
  }
  if (loss == Loss::squared_error) s = 0.5 * s / double(out);
  row_loss[i] = sw ? double(w) * s : s;
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
                                    int64_t width, cudaStream_t stream) {
  if (n <= 0 || width <= 0) return;
  if (f == Activation::softmax) {
    constexpr int kRowsPerBlock = kThreads / 32;
    softmax_forward_kernel<<<blocks_for(n, kRowsPerBlock), kThreads, 0, stream>>>(a, bias, n,
                                                                                  width);
  } else {
    bias_activation_forward_kernel<<<blocks_for(n * width), kThreads, 0, stream>>>(f, a, bias, n,
                                                                                   width);
  }
  check_launch("bias_activation_forward");
}

void launch_activation_backward(Activation f, float* delta, const float* a, int64_t n,
                                int64_t width, cudaStream_t stream) {
  if (n <= 0 || width <= 0 || f == Activation::identity) return;
  activation_backward_kernel<<<blocks_for(n * width), kThreads, 0, stream>>>(f, delta, a,
                                                                             n * width);
  check_launch("activation_backward");
}

void launch_loss_forward_backward(Loss loss, double* row_loss, float* delta, const float* p,
                                  const float* y, const float* sw, int64_t n, int64_t out,
                                  cudaStream_t stream) {
  if (n <= 0) return;
  loss_forward_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(loss, row_loss, delta, p,
                                                                       y, sw, n, out);
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
