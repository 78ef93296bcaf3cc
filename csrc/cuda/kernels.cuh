// Launchers of the device kernels (one launch_<op> per kernel, each checks
// cudaGetLastError and throws std::runtime_error). Included by .cu files only; the rest
// of the project sees csrc/cuda/cuda_api.h. Shapes in the comments; row-major storage.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/cuda_api.h"

namespace fastmlp {
namespace cuda {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}
inline void check_launch(const char* what) { check(cudaGetLastError(), what); }

// fork: a child of fork() cannot use CUDA once its parent has (the driver's state is not
// copied; calls in the child fail or hang). Every entry point starts with require_usable(),
// which marks the runtime as used by this process and, in such a child, throws a
// std::runtime_error that says so; cudaFree and the other clean-ups are skipped there.
// (runtime.cu: a pthread_atfork child handler sets the flag.)
void require_usable();
void mark_used();
bool forked_after_use();

// Device memory owned by one object; allocated once per fit, never per batch.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(int64_t n) { resize(n); }
  ~DeviceBuffer() { if (p_ && !forked_after_use()) cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  void resize(int64_t n) {
    if (p_) cudaFree(p_);
    p_ = nullptr;
    n_ = 0;
    if (n <= 0) return;
    check(cudaMalloc(reinterpret_cast<void**>(&p_), size_t(n) * sizeof(T)), "cudaMalloc");
    n_ = n;
  }
  // False (and nothing allocated) when the device is out of memory.
  bool try_resize(int64_t n) {
    if (p_) cudaFree(p_);
    p_ = nullptr;
    n_ = 0;
    if (n <= 0) return true;
    const cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&p_), size_t(n) * sizeof(T));
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear the sticky-free error state
      p_ = nullptr;
      return false;
    }
    check(e, "cudaMalloc");
    n_ = n;
    return true;
  }
  T* data() const { return p_; }
  int64_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  int64_t n_ = 0;
};

// Host memory the device can copy from asynchronously (streamed mini-batches).
template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer() { if (p_ && !forked_after_use()) cudaFreeHost(p_); }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void resize(int64_t n) {
    if (p_) cudaFreeHost(p_);
    p_ = nullptr;
    if (n > 0) check(cudaMallocHost(reinterpret_cast<void**>(&p_), size_t(n) * sizeof(T)),
                     "cudaMallocHost");
  }
  T* data() const { return p_; }

 private:
  T* p_ = nullptr;
};

// ---- gemm.cu
// C (M,N) = alpha op(A) (M,K) @ op(B) (K,N) + beta C (beta == 0: C is not read).
void launch_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc, GemmPrecision precision, cudaStream_t stream);

// ---- layers.cu
// a (n,width) = f(z), z = a + bias, in place; bias (width) or null; pre (n,width), when
// not null, receives z (kept for the backward pass of gelu and silu)
void launch_bias_activation_forward(Activation f, float* a, const float* bias, int64_t n,
                                    int64_t width, cudaStream_t stream, float* pre = nullptr);
// delta (n,width) *= f'(z), from a = f(z) (n,width), or from z (n,width) itself where
// activation_needs_preactivation(f); z is read only then
void launch_activation_backward(Activation f, float* delta, const float* a, const float* z,
                                int64_t n, int64_t width, cudaStream_t stream);
// row_loss (n) = sw_i loss_i (double), delta (n,out) = g(p - y) sw (nn/loss_math.h);
// sw (n) or null
void launch_loss_forward_backward(Loss loss, double* row_loss, float* delta, const float* p,
                                  const float* y, const float* sw, int64_t n, int64_t out,
                                  cudaStream_t stream);
// stats[0] = sum(row_loss (n)), stats[1] = sum(sw) or n: one block, fixed order
void launch_batch_stats(double* stats, const double* row_loss, const float* sw, int64_t n,
                        cudaStream_t stream);
// db (width) = column sums of delta (n,width) (overwrites), fixed order
void launch_bias_grad(float* db, const float* delta, int64_t n, int64_t width,
                      cudaStream_t stream);
// out (m,width) = src rows order[first + i]; src (*, width)
void launch_gather_rows(float* out, const float* src, const int64_t* order, int64_t first,
                        int64_t m, int64_t width, cudaStream_t stream);

// ---- dropout.cu
// y (m,width) = a * mask, mask (m,width) = 1/(1-p) or 0 from nn/dropout_math.h for data
// rows order[first + i] (order null: first + i); 0 < p < 1
void launch_dropout_forward(float* y, float* mask, const float* a, const int64_t* order,
                            int64_t first, int64_t m, int64_t width, double p, uint64_t seed,
                            int64_t layer, cudaStream_t stream);
// delta (m,width) *= mask (m,width)
void launch_dropout_backward(float* delta, const float* mask, int64_t m, int64_t width,
                             cudaStream_t stream);

// ---- optimizers.cu
// The penalized step of nn/optimizers.h (sgd, adam, adamw; opt.learning_rate is the
// step's rate) with scale = 1 / stats[1] read on the device. With opt.max_grad_norm > 0
// a first pass sums the squared gradient in fixed blocks and stats[2] receives the
// clipped scale (stats: 3 entries). partial (blocks) receives per-block sums of w^2 over
// the weights before the step. Returns the number of blocks written.
int64_t launch_penalized_update(const OptimizerConfig& opt, int64_t t, float* w, float* state_a,
                                float* state_b, const float* grad, int64_t n, int64_t n_coefs,
                                double alpha, double* stats, double* partial,
                                cudaStream_t stream);
// epoch_loss += (stats[0] + 0.5 alpha sum(partial)) / stats[1] * mb; sq_out (opt) = sum(partial)
void launch_accumulate_loss(double* epoch_loss, double* sq_out, const double* stats,
                            const double* partial, int64_t blocks, double alpha, int64_t mb,
                            cudaStream_t stream);
int64_t update_blocks(int64_t n);  // partial's length for n parameters

}  // namespace cuda
}  // namespace fastmlp
