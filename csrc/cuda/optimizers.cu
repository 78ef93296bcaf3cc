// SGD (momentum, Nesterov) and Adam steps on the device, fused with the L2 penalty and
// the 1/S gradient scaling as nn/optimizers.cpp's penalized_update; S (the batch's
// weight sum) is read from device memory, so a training step needs no host round trip.
// The sum of squares of the weights is taken per fixed chunk and merged in chunk order.
// Tested against the CPU update in tests/test_cuda.py.
#include <cmath>

#include "cuda/kernels.cuh"

namespace fastmlp {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kPerThread = 8;
constexpr int64_t kChunk = int64_t(kThreads) * kPerThread;  // elements per block

struct SgdStep {
  float mu, eta;
  bool nesterov;
  __device__ void operator()(float& w, float& v, float&, float g) const {
    const float vi = mu * v - eta * g;
    v = vi;
    w += nesterov ? mu * vi - eta * g : vi;
  }
};

struct AdamStep {
  float b1, b2, c1, c2, step, eps;
  __device__ void operator()(float& w, float& m, float& v, float g) const {
    const float mi = b1 * m + c1 * g;
    const float vi = b2 * v + c2 * g * g;
    m = mi;
    v = vi;
    w -= step * mi / (sqrtf(vi) + eps);
  }
};

// state_b == state_a for sgd (only element i of it is touched by thread i's step).
template <typename Step>
__global__ void penalized_update_kernel(Step step, float* w, float* state_a, float* state_b,
                                        const float* grad, int64_t n, int64_t n_coefs,
                                        float alpha, const double* stats, double* partial) {
  __shared__ double sq[kThreads];
  const float scale = float(1.0 / stats[1]);
  const int64_t begin = int64_t(blockIdx.x) * kChunk;
  const int64_t end = begin + kChunk < n ? begin + kChunk : n;
  double s = 0.0;
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    const float wi = w[i];
    float g;
    if (i < n_coefs) {
      s += double(wi) * double(wi);
      g = (grad[i] + alpha * wi) * scale;
    } else {
      g = grad[i] * scale;
    }
    float a = state_a[i], b = state_b[i];
    float wn = wi;
    step(wn, a, b, g);
    w[i] = wn;
    state_a[i] = a;
    if (state_b != state_a) state_b[i] = b;
  }
  sq[threadIdx.x] = s;
  __syncthreads();
  for (int h = kThreads / 2; h > 0; h /= 2) {
    if (threadIdx.x < h) sq[threadIdx.x] += sq[threadIdx.x + h];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sq[0];
}

__global__ void accumulate_loss_kernel(double* epoch_loss, double* sq_out, const double* stats,
                                       const double* partial, int64_t blocks, double alpha,
                                       int64_t mb) {
  double sq = 0.0;
  for (int64_t b = 0; b < blocks; ++b) sq += partial[b];
  if (sq_out) *sq_out = sq;
  if (epoch_loss) *epoch_loss += (stats[0] / stats[1] + 0.5 * alpha * sq / stats[1]) * double(mb);
}

}  // namespace

int64_t update_blocks(int64_t n) { return (n + kChunk - 1) / kChunk; }

int64_t launch_penalized_update(const OptimizerConfig& opt, int64_t t, float* w, float* state_a,
                                float* state_b, const float* grad, int64_t n, int64_t n_coefs,
                                float alpha, const double* stats, double* partial,
                                cudaStream_t stream) {
  const int64_t blocks = update_blocks(n);
  if (blocks == 0) return 0;
  if (opt.solver == Solver::sgd) {
    const SgdStep step{float(opt.momentum), float(opt.learning_rate), opt.nesterov};
    penalized_update_kernel<<<unsigned(blocks), kThreads, 0, stream>>>(
        step, w, state_a, state_a, grad, n, n_coefs, alpha, stats, partial);
  } else {
    // The bias-corrected step size in double on the host, as the CPU computes it.
    const double lr_t = opt.learning_rate * std::sqrt(1.0 - std::pow(opt.beta_2, double(t))) /
                        (1.0 - std::pow(opt.beta_1, double(t)));
    const AdamStep step{float(opt.beta_1), float(opt.beta_2), float(1.0 - opt.beta_1),
                        float(1.0 - opt.beta_2), float(lr_t), float(opt.epsilon)};
    penalized_update_kernel<<<unsigned(blocks), kThreads, 0, stream>>>(
        step, w, state_a, state_b, grad, n, n_coefs, alpha, stats, partial);
  }
  check_launch("penalized_update");
  return blocks;
}

void launch_accumulate_loss(double* epoch_loss, double* sq_out, const double* stats,
                            const double* partial, int64_t blocks, double alpha, int64_t mb,
                            cudaStream_t stream) {
  accumulate_loss_kernel<<<1, 1, 0, stream>>>(epoch_loss, sq_out, stats, partial, blocks, alpha,
                                              mb);
  check_launch("accumulate_loss");
}

}  // namespace cuda
}  // namespace fastmlp
