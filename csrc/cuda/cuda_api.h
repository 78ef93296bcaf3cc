// The plain C++ face of the CUDA kernels (csrc/cuda/*.cu): no CUDA types cross it, so
// bindings.cpp compiles with the host compiler alone. Everything here takes and returns
// host pointers; device memory stays behind it. float32 only. Compiled only with
// FASTMLP_CUDA=ON. Tested by tests/test_cuda.py (each kernel against the CPU path, and
// fit/predict on the device against the CPU; skipped with a reason when no GPU is present).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/activations.h"
#include "nn/losses.h"
#include "nn/optimizers.h"

namespace fastmlp {
namespace cuda {

// True when a CUDA device can be used now. Never throws: no driver, no device, or any
// other error from the runtime all read as false.
bool available();
// "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)" or the reason none is usable.
std::string device_description();

// The GEMM's input precision: float32 on the SIMT cores, or the tensor cores with TF32
// or BF16 inputs; all three accumulate in float32.
enum class GemmPrecision { f32, tf32, bf16 };
GemmPrecision parse_gemm_precision(const std::string& name);  // throws std::invalid_argument

// Kernel test and benchmark entry points: copy to the device, run one kernel, copy back.
// C (M,N) = alpha op(A) (M,K) @ op(B) (K,N) + beta C; beta == 0 never reads C.
void gemm_host(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
               int64_t ldc, GemmPrecision precision);
// Average milliseconds of `repeats` device GEMMs on uninitialised device buffers
// (C (M,N) = A (M,K) @ B (K,N)), after one warm-up; for benchmarks/gpu_check.sh.
double gemm_time_ms(int64_t M, int64_t N, int64_t K, GemmPrecision precision, int repeats);
// a (n,width) = f(a + bias) in place (bias may be null; softmax per row)
void bias_activation_forward_host(Activation f, float* a, const float* bias, int64_t n,
                                  int64_t width);
// delta (n,width) *= f'(z) written with a = f(z); z (n,width) is read (and must not be
// null) only for gelu and silu
void activation_backward_host(Activation f, float* delta, const float* a, const float* z,
                              int64_t n, int64_t width);
// Returns sum_i sw_i loss_i and writes delta (n,out) = g(p - y) * sw, g as in
// nn/losses.h; sw may be null.
double loss_forward_backward_host(Loss loss, float* delta, const float* p, const float* y,
                                  const float* sw, int64_t n, int64_t out);
// db (width) = sum over rows of delta (n,width)
void bias_grad_host(float* db, const float* delta, int64_t n, int64_t width);
// out (m,width) = src rows rows[i]
void gather_rows_host(float* out, const float* src, const int64_t* rows, int64_t m,
                      int64_t n, int64_t width);
// y (m,width) = a * mask as nn/dropout.h's dropout_forward (rows (m) or null: row i)
void dropout_forward_host(float* y, float* mask, const float* a, const int64_t* rows,
                          int64_t m, int64_t width, double p, uint64_t seed, int64_t layer);
// One penalized optimizer step as nn/optimizers.h's penalized_update (sgd, adam, adamw,
// opt.max_grad_norm); returns sum(w^2) over the first n_coefs entries before the step.
double penalized_update_host(const OptimizerConfig& opt, int64_t t, float* w, float* state_a,
                             float* state_b, const float* grad, int64_t n, int64_t n_coefs,
                             double alpha, double scale);

// The training loop of nn/network.h on the device. The data is copied once (set_data,
// in chunks; when it does not fit in device memory, each mini-batch is gathered on the
// host and streamed instead); the parameters and optimizer state stay on the device
// between epochs, and each epoch synchronises with the host once, for its loss, then
// mirrors the parameters and state into the host arrays given to set_params.
class DeviceNetwork {
 public:
  // sizes: n_features, hidden..., n_outputs; batch_rows bounds the rows of one batch.
  // dropout: one rate in [0, 1) per hidden layer, or empty (none), as Network<T>'s;
  // training drops units, prediction never does.
  DeviceNetwork(std::vector<int64_t> sizes, Activation hidden, Activation output, Loss loss,
                int64_t batch_rows, GemmPrecision precision, std::vector<double> dropout = {});
  ~DeviceNetwork();
  DeviceNetwork(const DeviceNetwork&) = delete;
  DeviceNetwork& operator=(const DeviceNetwork&) = delete;

  int64_t n_params() const;
  // X (n, n_features), Y (n, n_outputs), sw (n) or null: the host arrays must outlive
  // training (streaming mode reads them every epoch).
  void set_data(const float* X, const float* Y, const float* sw, int64_t n);
  bool data_resident() const;  // false: streamed from the host per mini-batch
  // Uploads params and state (n_params each; state_b may be null for sgd) and remembers
  // the host arrays, which each epoch then refreshes.
  void set_params(float* params, float* state_a, float* state_b);
  // One epoch of mini-batches in `order` (host, n rows; null: in order); as
  // Network<T>::train_epoch: adam_t is incremented per batch (adam, adamw), first_step is
  // the cosine schedule's position, dropout_seed the epoch's masks (data rows are the
  // entries of order).
  double train_epoch(int64_t& adam_t, const OptimizerConfig& opt, const int64_t* order,
                     int64_t batch_size, double alpha, int64_t first_step,
                     uint64_t dropout_seed);
  // out (n, n_outputs) for X (n, n_features) with the host params (n_params).
  void predict(const float* params, const float* X, int64_t n, float* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cuda
}  // namespace fastmlp
