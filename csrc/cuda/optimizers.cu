// SGD (momentum, Nesterov), Adam and AdamW steps on the device, fused with the L2 penalty
// and the 1/S gradient scaling as nn/optimizers.cpp's penalized_update; S (the batch's
// weight sum) is read from device memory, so a training step needs no host round trip.
// Gradient clipping adds a pass that sums the squared gradient per fixed chunk, merged in
// chunk order by one thread, which leaves the clipped scale in device memory too. The
// sum of squares of the weights is taken the same way. Tested against numpy and the CPU
// update in tests/test_cuda.py.
#include <cmath>

#include "cuda/kernels.cuh"

namespace fastmlp {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kPerThread = 8;
constexpr int64_t kChunk = int64_t(kThreads) * kPerThread;  // elements per block
static_assert((kThreads & (kThreads - 1)) == 0, "the tree reduction halves kThreads");

struct SgdStep {
  float mu, eta;
  bool nesterov;
  __device__ void operator()(float& w, float& v, float&, float g) const {
    const float vi = mu * v - eta * g;
    v = vi;
    w += nesterov ? mu * vi - eta * g : vi;
  }
};

// Decay: AdamW's decoupled weight decay w *= keep (keep = 1 - lr * alpha) before the Adam
// step, as nn/optimizers.cpp's AdamStep; a template flag so that Adam keeps its arithmetic.
template <bool Decay>
struct AdamStep {
  float b1, b2, c1, c2, step, eps, keep;
  __device__ void operator()(float& w, float& m, float& v, float g) const {
    const float mi = b1 * m + c1 * g;
    const float vi = b2 * v + c2 * g * g;
    m = mi;
    v = vi;
    if (Decay) w *= keep;
    w -= step * mi / (sqrtf(vi) + eps);
  }
};

// The block's sum of the threads' s, by a tree in shared memory (a fixed order); valid in
// thread 0.
__device__ double block_sum(double s) {
  __shared__ double part[kThreads];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int h = kThreads / 2; h > 0; h /= 2) {
    if (threadIdx.x < h) part[threadIdx.x] += part[threadIdx.x + h];
    __syncthreads();
  }
  return part[0];
}

// The step's gradient scale: 1 / stats[1], or the clipped one in stats[2].
__device__ float step_scale(const double* stats, bool clipped) {
  return float(clipped ? stats[2] : 1.0 / stats[1]);
}

// partial[block] = sum of g^2 over the block's chunk, g = (grad + alpha w) * scale on the
// weights and grad * scale on the biases (the gradient the step would take).
__global__ void grad_sq_kernel(const float* w, const float* grad, int64_t n, int64_t n_coefs,
                               float alpha, const double* stats, double* partial) {
  const float scale = step_scale(stats, false);
  const int64_t begin = int64_t(blockIdx.x) * kChunk;
  const int64_t end = begin + kChunk < n ? begin + kChunk : n;
  double s = 0.0;
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    const float g = i < n_coefs ? (grad[i] + alpha * w[i]) * scale : grad[i] * scale;
    s += double(g) * double(g);
  }
  const double total = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// stats[2] = 1 / stats[1], times max_norm / ||g|| when ||g|| exceeds max_norm (a NaN norm
// leaves the step unclipped, as on the CPU: divergence stays visible).
__global__ void clip_scale_kernel(double* stats, const double* partial, int64_t blocks,
                                  double max_norm) {
  double sq = 0.0;
  for (int64_t b = 0; b < blocks; ++b) sq += partial[b];
  const double norm = sqrt(sq);
  double scale = 1.0 / stats[1];
  if (norm > max_norm) scale *= max_norm / norm;
  stats[2] = scale;
}

// coef_step updates the weights (the first n_coefs entries), bias_step the rest (they
// differ for AdamW only). state_b == state_a for sgd (only element i of it is touched by
// thread i's step).
template <typename CoefStep, typename BiasStep>
__global__ void penalized_update_kernel(CoefStep coef_step, BiasStep bias_step, float* w,
                                        float* state_a, float* state_b, const float* grad,
                                        int64_t n, int64_t n_coefs, float alpha,
                                        const double* stats, bool clipped, double* partial) {
  const float scale = step_scale(stats, clipped);
  const int64_t begin = int64_t(blockIdx.x) * kChunk;
  const int64_t end = begin + kChunk < n ? begin + kChunk : n;
  double s = 0.0;
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    float wn = w[i];
    float a = state_a[i], b = state_b[i];
    if (i < n_coefs) {
      s += double(wn) * double(wn);
      coef_step(wn, a, b, (grad[i] + alpha * wn) * scale);
    } else {
      bias_step(wn, a, b, grad[i] * scale);
    }
    w[i] = wn;
    state_a[i] = a;
    if (state_b != state_a) state_b[i] = b;
  }
  const double total = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void accumulate_loss_kernel(double* epoch_loss, double* sq_out, const double* stats,
                                       const double* partial, int64_t blocks, double alpha,
                                       int64_t mb) {
  double sq = 0.0;
  for (int64_t b = 0; b < blocks; ++b) sq += partial[b];
  if (sq_out) *sq_out = sq;
  if (epoch_loss) *epoch_loss += (stats[0] / stats[1] + 0.5 * alpha * sq / stats[1]) * double(mb);
}

template <typename CoefStep, typename BiasStep>
void launch_update(const CoefStep& coef_step, const BiasStep& bias_step, int64_t blocks,
                   float* w, float* state_a, float* state_b, const float* grad, int64_t n,
                   int64_t n_coefs, float alpha, const double* stats, bool clipped,
                   double* partial, cudaStream_t stream) {
  penalized_update_kernel<<<unsigned(blocks), kThreads, 0, stream>>>(
      coef_step, bias_step, w, state_a, state_b, grad, n, n_coefs, alpha, stats, clipped,
      partial);
}

}  // namespace

int64_t update_blocks(int64_t n) { return (n + kChunk - 1) / kChunk; }

int64_t launch_penalized_update(const OptimizerConfig& opt, int64_t t, float* w, float* state_a,
                                float* state_b, const float* grad, int64_t n, int64_t n_coefs,
                                double alpha, double* stats, double* partial,
                                cudaStream_t stream) {
  const int64_t blocks = update_blocks(n);
  if (blocks == 0) return 0;
  // adamw: alpha is the decay, not a penalty on the gradient.
  const bool adamw = opt.solver == Solver::adamw;
  const float penalty = adamw ? 0.0f : float(alpha);
  const bool clipped = opt.max_grad_norm > 0.0;
  if (clipped) {
    grad_sq_kernel<<<unsigned(blocks), kThreads, 0, stream>>>(w, grad, n, n_coefs, penalty,
                                                                stats, partial);
    check_launch("grad_sq");
    clip_scale_kernel<<<1, 1, 0, stream>>>(stats, partial, blocks, opt.max_grad_norm);
    check_launch("clip_scale");
  }
  const double lr = opt.learning_rate;
  if (opt.solver == Solver::sgd) {
    const SgdStep step{float(opt.momentum), float(lr), opt.nesterov};
    launch_update(step, step, blocks, w, state_a, state_a, grad, n, n_coefs, penalty, stats,
                  clipped, partial, stream);
  } else {
    // The bias-corrected step size and AdamW's keep factor in double on the host, as the
    // CPU computes them.
    const double lr_t = lr * std::sqrt(1.0 - std::pow(opt.beta_2, double(t))) /
                        (1.0 - std::pow(opt.beta_1, double(t)));
    const AdamStep<false> adam{float(opt.beta_1), float(opt.beta_2), float(1.0 - opt.beta_1),
                               float(1.0 - opt.beta_2), float(lr_t), float(opt.epsilon), 1.0f};
    if (adamw) {
      AdamStep<true> decayed{adam.b1, adam.b2, adam.c1, adam.c2, adam.step, adam.eps,
                             float(1.0 - lr * alpha)};
      launch_update(decayed, adam, blocks, w, state_a, state_b, grad, n, n_coefs, penalty,
                    stats, clipped, partial, stream);
    } else {
      launch_update(adam, adam, blocks, w, state_a, state_b, grad, n, n_coefs, penalty, stats,
                    clipped, partial, stream);
    }
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
