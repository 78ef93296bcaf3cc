// Device discovery and the host-pointer entry points of cuda_api.h that run one kernel:
// copy in, launch, copy out. They exist for tests/test_cuda.py (each kernel against the
// CPU path) and benchmarks/gpu_check.sh (GEMM timing), not for training.
#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <vector>

#include "cuda/kernels.cuh"

namespace fastmlp {
namespace cuda {

namespace {

std::atomic<bool> g_used{false}, g_forked{false};

void mark_forked_child() {
  if (g_used.load()) g_forked.store(true);
}

constexpr const char* kForkedMessage =
    "CUDA cannot be used in this process: it is a child of fork() and its parent had already "
    "used CUDA (the GPU context is not copied by fork). Fit or predict on the GPU in the "
    "parent, use device='cpu' here, or start worker processes with the 'spawn' or "
    "'forkserver' start method (multiprocessing.get_context('spawn'))";

}  // namespace

void mark_used() {
  static const bool registered = pthread_atfork(nullptr, nullptr, &mark_forked_child) == 0;
  (void)registered;
  g_used.store(true);
}

bool forked_after_use() { return g_forked.load(); }

void require_usable() {
  if (forked_after_use()) throw std::runtime_error(kForkedMessage);
  mark_used();
}

bool available() {
  if (forked_after_use()) return false;
  mark_used();
  // No driver reads as cudaErrorInsufficientDriver, not cudaErrorNoDevice: any error is "no".
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return count > 0;
}

std::string device_description() {
  if (forked_after_use()) return kForkedMessage;
  mark_used();
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("no usable CUDA device: ") + cudaGetErrorString(e);
  }
  if (count == 0) return "no CUDA device";
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    cudaGetLastError();
    return "CUDA device 0 (properties unavailable)";
  }
  char buf[sizeof prop.name + 64];  // room for the whole name: no truncation (-Wall)
  std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %.1f GiB)", prop.name, prop.major, prop.minor,
                double(prop.totalGlobalMem) / double(1ull << 30));
  return buf;
}

namespace {

template <typename T>
void to_device(DeviceBuffer<T>& d, const T* h, int64_t n) {
  d.resize(n);
  if (n > 0) check(cudaMemcpy(d.data(), h, sizeof(T) * size_t(n), cudaMemcpyHostToDevice), "copy in");
}

template <typename T>
void to_host(T* h, const DeviceBuffer<T>& d, int64_t n) {
  check(cudaDeviceSynchronize(), "kernel");
  if (n > 0) check(cudaMemcpy(h, d.data(), sizeof(T) * size_t(n), cudaMemcpyDeviceToHost), "copy out");
}

}  // namespace

void gemm_host(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
               int64_t ldc, GemmPrecision precision) {
  require_usable();
  DeviceBuffer<float> a, b, c;
  to_device(a, A, (trans_a ? K : M) * lda);
  to_device(b, B, (trans_b ? N : K) * ldb);
  to_device(c, C, M * ldc);
  launch_gemm(trans_a, trans_b, M, N, K, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc,
              precision, nullptr);
  to_host(C, c, M * ldc);
}

double gemm_time_ms(int64_t M, int64_t N, int64_t K, GemmPrecision precision, int repeats) {
  require_usable();
  DeviceBuffer<float> a(M * K), b(K * N), c(M * N);
  check(cudaMemset(a.data(), 0, sizeof(float) * size_t(M * K)), "cudaMemset");
  check(cudaMemset(b.data(), 0, sizeof(float) * size_t(K * N)), "cudaMemset");
  launch_gemm(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N, precision,
              nullptr);
  cudaEvent_t t0, t1;
  check(cudaEventCreate(&t0), "cudaEventCreate");
  check(cudaEventCreate(&t1), "cudaEventCreate");
  check(cudaEventRecord(t0), "cudaEventRecord");
  for (int r = 0; r < repeats; ++r)
    launch_gemm(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N,
                precision, nullptr);
  check(cudaEventRecord(t1), "cudaEventRecord");
  check(cudaEventSynchronize(t1), "gemm timing");
  float ms = 0.0f;
  check(cudaEventElapsedTime(&ms, t0, t1), "cudaEventElapsedTime");
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  return double(ms) / repeats;
}

void bias_activation_forward_host(Activation f, float* a, const float* bias, int64_t n,
                                  int64_t width) {
  require_usable();
  DeviceBuffer<float> da, db;
  to_device(da, a, n * width);
  if (bias) to_device(db, bias, width);
  launch_bias_activation_forward(f, da.data(), bias ? db.data() : nullptr, n, width, nullptr);
  to_host(a, da, n * width);
}

void activation_backward_host(Activation f, float* delta, const float* a, const float* z,
                              int64_t n, int64_t width) {
  require_usable();
  DeviceBuffer<float> dd, da, dz;
  to_device(dd, delta, n * width);
  to_device(da, a, n * width);
  if (z) to_device(dz, z, n * width);
  launch_activation_backward(f, dd.data(), da.data(), z ? dz.data() : nullptr, n, width,
                             nullptr);
  to_host(delta, dd, n * width);
}

double loss_forward_backward_host(Loss loss, float* delta, const float* p, const float* y,
                                  const float* sw, int64_t n, int64_t out) {
  require_usable();
  DeviceBuffer<float> dd(n * out), dp, dy, dw;
  DeviceBuffer<double> rl(n), stats(2);
  to_device(dp, p, n * out);
  to_device(dy, y, n * out);
  if (sw) to_device(dw, sw, n);
  launch_loss_forward_backward(loss, rl.data(), dd.data(), dp.data(), dy.data(),
                               sw ? dw.data() : nullptr, n, out, nullptr);
  launch_batch_stats(stats.data(), rl.data(), sw ? dw.data() : nullptr, n, nullptr);
  to_host(delta, dd, n * out);
  double s[2];
  to_host(s, stats, 2);
  return s[0];
}

void bias_grad_host(float* db, const float* delta, int64_t n, int64_t width) {
  require_usable();
  DeviceBuffer<float> dd, dout(width);
  to_device(dd, delta, n * width);
  launch_bias_grad(dout.data(), dd.data(), n, width, nullptr);
  to_host(db, dout, width);
}

void gather_rows_host(float* out, const float* src, const int64_t* rows, int64_t m, int64_t n,
                      int64_t width) {
  require_usable();
  DeviceBuffer<float> ds, dout(m * width);
  DeviceBuffer<int64_t> dr;
  to_device(ds, src, n * width);
  to_device(dr, rows, m);
  launch_gather_rows(dout.data(), ds.data(), dr.data(), 0, m, width, nullptr);
  to_host(out, dout, m * width);
}

void dropout_forward_host(float* y, float* mask, const float* a, const int64_t* rows,
                          int64_t m, int64_t width, double p, uint64_t seed, int64_t layer) {
  require_usable();
  DeviceBuffer<float> dy(m * width), dm(m * width), da;
  DeviceBuffer<int64_t> dr;
  to_device(da, a, m * width);
  if (rows) to_device(dr, rows, m);
  launch_dropout_forward(dy.data(), dm.data(), da.data(), rows ? dr.data() : nullptr, 0, m,
                         width, p, seed, layer, nullptr);
  to_host(y, dy, m * width);
  to_host(mask, dm, m * width);
}

double penalized_update_host(const OptimizerConfig& opt, int64_t t, float* w, float* state_a,
                             float* state_b, const float* grad, int64_t n, int64_t n_coefs,
                             double alpha, double scale) {
  require_usable();
  DeviceBuffer<float> dw, da, db, dg;
  DeviceBuffer<double> stats, partial(std::max<int64_t>(1, update_blocks(n))), sq(1);
  to_device(dw, w, n);
  to_device(da, state_a, n);
  const bool adam = opt.solver != Solver::sgd;  // adam or adamw
  if (adam) to_device(db, state_b, n);
  to_device(dg, grad, n);
  const double s[3] = {0.0, 1.0 / scale, 0.0};  // stats[2]: the clipped scale, if any
  to_device(stats, s, 3);
  const int64_t blocks =
      launch_penalized_update(opt, t, dw.data(), da.data(), adam ? db.data() : da.data(),
                              dg.data(), n, n_coefs, alpha, stats.data(), partial.data(),
                              nullptr);
  launch_accumulate_loss(nullptr, sq.data(), stats.data(), partial.data(), blocks, alpha, 0,
                         nullptr);
  to_host(w, dw, n);
  to_host(state_a, da, n);
  if (adam) to_host(state_b, db, n);
  double result = 0.0;
  to_host(&result, sq, 1);
  return result;
}

}  // namespace cuda
}  // namespace fastmlp
