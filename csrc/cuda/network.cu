// DeviceNetwork: nn/network.cpp's mini-batch training epoch and prediction on the device.
// Per batch: gather the shuffled rows (device), forward (GEMM + bias/activation, then
// dropout), loss and its gradient, batch sums, backward (GEMMs, bias sums, dropout mask,
// activation derivative), and the penalized optimizer step (clipping included), which
// reads the batch's weight sum from device memory; the cosine schedule's rate is set per
// step by the host loop that launches the kernels. The host waits once per epoch, for the
// loss. Tested in tests/test_cuda.py against Network<T>.
#include <algorithm>
#include <cstring>

#include "cuda/kernels.cuh"

namespace fastmlp {
namespace cuda {

struct DeviceNetwork::Impl {
  std::vector<int64_t> sizes;
  Activation hidden, output;
  Loss loss;
  int64_t batch_rows;
  GemmPrecision precision;
  cudaStream_t stream = nullptr;
  int64_t n_params = 0, n_coefs = 0;
  std::vector<int64_t> coef_off, bias_off;

  DeviceBuffer<float> params, state_a, state_b, grad, pred_params;
  std::vector<DeviceBuffer<float>> acts;  // acts[l] (batch_rows, sizes[l+1])
  // pre[l] (batch_rows, sizes[l+1]): hidden layer l's pre-activation, kept only for gelu
  // and silu, whose derivative needs it (as Network<T>::pre_); else empty.
  std::vector<DeviceBuffer<float>> pre;
  // Dropout rate per hidden layer (empty: none); for layers with a rate > 0, dropped[l]
  // (batch_rows, sizes[l+1]) holds the activations after dropout and mask[l] the
  // multipliers, acts[l] keeping the undropped ones (as Network<T>'s buffers).
  std::vector<double> dropout;
  std::vector<DeviceBuffer<float>> dropped, mask;
  DeviceBuffer<float> delta_a, delta_b, xb, yb, swb;
  DeviceBuffer<double> row_loss, stats, partial, epoch_loss;
  DeviceBuffer<int64_t> order;

  // Data: resident on the device, or streamed from the host arrays.
  int64_t n = 0;
  bool resident = true;
  DeviceBuffer<float> X, Y, sw;
  const float *hX = nullptr, *hY = nullptr, *hsw = nullptr;
  PinnedBuffer<float> stage_x, stage_y, stage_sw;
  cudaEvent_t staged = nullptr;

  float *host_params = nullptr, *host_a = nullptr, *host_b = nullptr;

  int64_t L() const { return int64_t(sizes.size()) - 1; }

  // The buffer that keeps hidden layer l's pre-activation, or null.
  float* pre_activation(int64_t l) const {
    return size_t(l) < pre.size() ? pre[size_t(l)].data() : nullptr;
  }

  // Whether hidden layer l drops units in a pass with dropout on.
  bool drops(int64_t l, bool on) const {
    return on && !dropout.empty() && dropout[size_t(l)] > 0.0;
  }
  // What hidden layer l hands to layer l+1: its activations, or their dropped copy.
  const float* hidden_output(int64_t l, bool on) const {
    return drops(l, on) ? dropped[size_t(l)].data() : acts[size_t(l)].data();
  }

  // Forward for mb rows of x (mb, sizes[0]); the output layer ends in acts[L-1]. drop on:
  // hidden units are dropped with the masks of `seed` for data rows rows[first + i]
  // (device; null: first + i).
  void forward(const float* p, const float* x, int64_t mb, bool drop = false,
               uint64_t seed = 0, const int64_t* rows = nullptr, int64_t first = 0) {
    for (int64_t l = 0; l < L(); ++l) {
      const int64_t in = sizes[size_t(l)], out = sizes[size_t(l) + 1];
      float* y = acts[size_t(l)].data();
      // y (mb,out) = x (mb,in) @ W (in,out); then f(y + b), y + b kept where needed
      launch_gemm(false, false, mb, out, in, 1.0f, x, in, p + coef_off[size_t(l)], out, 0.0f, y,
                  out, precision, stream);
      launch_bias_activation_forward(l == L() - 1 ? output : hidden, y, p + bias_off[size_t(l)],
                                     mb, out, stream, pre_activation(l));
      if (l < L() - 1 && drops(l, drop))
        launch_dropout_forward(dropped[size_t(l)].data(), mask[size_t(l)].data(), y, rows, first,
                               mb, out, dropout[size_t(l)], seed, l, stream);
      x = l < L() - 1 ? hidden_output(l, drop) : y;
    }
  }

  // delta_a holds the output delta (mb, n_outputs); writes the data gradient into grad.
  // drop: as the forward pass that left the activations.
  void backward(const float* x0, int64_t mb, bool drop) {
    float* delta = delta_a.data();
    float* next = delta_b.data();
    for (int64_t l = L() - 1; l >= 0; --l) {
      const int64_t in = sizes[size_t(l)], out = sizes[size_t(l) + 1];
      const float* x = l == 0 ? x0 : hidden_output(l - 1, drop);
      // dW (in,out) = x^T (in,mb) @ delta (mb,out);  db (out) = column sums of delta
      launch_gemm(true, false, in, out, mb, 1.0f, x, in, delta, out, 0.0f,
                  grad.data() + coef_off[size_t(l)], out, precision, stream);
      launch_bias_grad(grad.data() + bias_off[size_t(l)], delta, mb, out, stream);
      if (l > 0) {
        // next (mb,in) = delta (mb,out) @ W^T (out,in), times the dropout mask, times f'(a)
        launch_gemm(false, true, mb, in, out, 1.0f, delta, out, params.data() + coef_off[size_t(l)],
                    out, 0.0f, next, in, precision, stream);
        if (drops(l - 1, drop))
          launch_dropout_backward(next, mask[size_t(l) - 1].data(), mb, in, stream);
        launch_activation_backward(hidden, next, acts[size_t(l) - 1].data(),
                                   pre_activation(l - 1), mb, in, stream);
        std::swap(delta, next);
      }
    }
  }

  // The batch's rows [start, start+mb) of the epoch order into (x, y, w) device pointers.
  void batch(const int64_t* host_order, bool shuffled, int64_t start, int64_t mb,
             const float** x, const float** y, const float** w) {
    const int64_t d = sizes.front(), k = sizes.back();
    if (resident) {
      if (!shuffled) {  // consecutive rows: no copy
        *x = X.data() + start * d;
        *y = Y.data() + start * k;
        *w = sw.data() ? sw.data() + start : nullptr;
        return;
      }
      launch_gather_rows(xb.data(), X.data(), order.data(), start, mb, d, stream);
      launch_gather_rows(yb.data(), Y.data(), order.data(), start, mb, k, stream);
      if (sw.data()) launch_gather_rows(swb.data(), sw.data(), order.data(), start, mb, 1, stream);
    } else {
      // The previous batch's copies must have left the staging buffers.
      check(cudaEventSynchronize(staged), "cudaEventSynchronize");
      for (int64_t i = 0; i < mb; ++i) {
        const int64_t r = host_order ? host_order[start + i] : start + i;
        std::memcpy(stage_x.data() + i * d, hX + r * d, sizeof(float) * size_t(d));
        std::memcpy(stage_y.data() + i * k, hY + r * k, sizeof(float) * size_t(k));
        if (hsw) stage_sw.data()[i] = hsw[r];
      }
      check(cudaMemcpyAsync(xb.data(), stage_x.data(), sizeof(float) * size_t(mb * d),
                            cudaMemcpyHostToDevice, stream), "copy X batch");
      check(cudaMemcpyAsync(yb.data(), stage_y.data(), sizeof(float) * size_t(mb * k),
                            cudaMemcpyHostToDevice, stream), "copy Y batch");
      if (hsw)
        check(cudaMemcpyAsync(swb.data(), stage_sw.data(), sizeof(float) * size_t(mb),
                              cudaMemcpyHostToDevice, stream), "copy sample_weight batch");
      check(cudaEventRecord(staged, stream), "cudaEventRecord");
    }
    *x = xb.data();
    *y = yb.data();
    *w = (resident ? sw.data() : hsw) ? swb.data() : nullptr;
  }
};

DeviceNetwork::DeviceNetwork(std::vector<int64_t> sizes, Activation hidden, Activation output,
                             Loss loss, int64_t batch_rows, GemmPrecision precision,
                             std::vector<double> dropout)
    : impl_((require_usable(), new Impl)) {
  Impl& s = *impl_;
  if (sizes.size() < 2) throw std::invalid_argument("a network needs at least two layer sizes");
  for (int64_t v : sizes)
    if (v <= 0) throw std::invalid_argument("layer sizes must be > 0");
  if (batch_rows <= 0) throw std::invalid_argument("batch_rows must be > 0");
  if (!dropout.empty() && dropout.size() + 2 != sizes.size())
    throw std::invalid_argument("dropout needs one rate per hidden layer");
  for (double p : dropout)
    if (!(p >= 0.0 && p < 1.0)) throw std::invalid_argument("dropout rates must be in [0, 1)");
  s.sizes = std::move(sizes);
  s.hidden = hidden;
  s.output = output;
  s.loss = loss;
  s.batch_rows = batch_rows;
  s.precision = precision;
  s.dropout = std::move(dropout);
  const int64_t L = s.L();
  int64_t off = 0, widest = 0;
  for (int64_t l = 0; l < L; ++l) {
    s.coef_off.push_back(off);
    off += s.sizes[size_t(l)] * s.sizes[size_t(l) + 1];
  }
  s.n_coefs = off;
  for (int64_t l = 0; l < L; ++l) {
    s.bias_off.push_back(off);
    off += s.sizes[size_t(l) + 1];
    widest = std::max(widest, s.sizes[size_t(l) + 1]);
  }
  s.n_params = off;
  check(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cudaEventCreateWithFlags(&s.staged, cudaEventDisableTiming), "cudaEventCreate");
  s.params.resize(s.n_params);
  s.pred_params.resize(s.n_params);
  s.grad.resize(s.n_params);
  s.acts.resize(size_t(L));
  for (int64_t l = 0; l < L; ++l) s.acts[size_t(l)].resize(batch_rows * s.sizes[size_t(l) + 1]);
  if (activation_needs_preactivation(hidden)) {
    s.pre.resize(size_t(L - 1));
    for (int64_t l = 0; l + 1 < L; ++l)
      s.pre[size_t(l)].resize(batch_rows * s.sizes[size_t(l) + 1]);
  }
  if (!s.dropout.empty()) {
    s.dropped.resize(size_t(L - 1));
    s.mask.resize(size_t(L - 1));
    for (int64_t l = 0; l + 1 < L; ++l) {
      if (s.dropout[size_t(l)] == 0.0) continue;
      s.dropped[size_t(l)].resize(batch_rows * s.sizes[size_t(l) + 1]);
      s.mask[size_t(l)].resize(batch_rows * s.sizes[size_t(l) + 1]);
    }
  }
  s.delta_a.resize(batch_rows * widest);
  s.delta_b.resize(batch_rows * widest);
  s.xb.resize(batch_rows * s.sizes.front());
  s.yb.resize(batch_rows * s.sizes.back());
  s.swb.resize(batch_rows);
  s.row_loss.resize(batch_rows);
  s.stats.resize(3);  // loss sum, weight sum, clipped scale
  s.partial.resize(std::max<int64_t>(1, update_blocks(s.n_params)));
  s.epoch_loss.resize(1);
}

DeviceNetwork::~DeviceNetwork() {
  if (forked_after_use()) return;  // the parent's context: nothing to release here
  if (impl_->stream) {
    cudaStreamSynchronize(impl_->stream);
    cudaStreamDestroy(impl_->stream);
  }
  if (impl_->staged) cudaEventDestroy(impl_->staged);
}

int64_t DeviceNetwork::n_params() const { return impl_->n_params; }
bool DeviceNetwork::data_resident() const { return impl_->resident; }

void DeviceNetwork::set_data(const float* X, const float* Y, const float* sw, int64_t n) {
  require_usable();
  Impl& s = *impl_;
  const int64_t d = s.sizes.front(), k = s.sizes.back();
  s.n = n;
  s.hX = X;
  s.hY = Y;
  s.hsw = sw;
  s.order.resize(n);
  // Resident when the data fits in the free memory with room to spare; else streamed.
  size_t free_bytes = 0, total_bytes = 0;
  check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  const double need = double(n) * double(d + k + (sw ? 1 : 0)) * sizeof(float);
  s.resident = need < 0.8 * double(free_bytes) && s.X.try_resize(n * d) && s.Y.try_resize(n * k) &&
               (!sw || s.sw.try_resize(n));
  if (!s.resident) {
    s.X.resize(0);
    s.Y.resize(0);
    s.sw.resize(0);
    s.stage_x.resize(s.batch_rows * d);
    s.stage_y.resize(s.batch_rows * k);
    if (sw) s.stage_sw.resize(s.batch_rows);
    return;
  }
  if (!sw) s.sw.resize(0);
  // In chunks of rows, so that pageable copies are staged in pieces of bounded size.
  const int64_t chunk = std::max<int64_t>(1, (int64_t(64) << 20) / (4 * std::max(d, k)));
  for (int64_t r = 0; r < n; r += chunk) {
    const int64_t m = std::min(chunk, n - r);
    check(cudaMemcpyAsync(s.X.data() + r * d, X + r * d, sizeof(float) * size_t(m * d),
                          cudaMemcpyHostToDevice, s.stream), "copy X");
    check(cudaMemcpyAsync(s.Y.data() + r * k, Y + r * k, sizeof(float) * size_t(m * k),
                          cudaMemcpyHostToDevice, s.stream), "copy Y");
  }
  if (sw)
    check(cudaMemcpyAsync(s.sw.data(), sw, sizeof(float) * size_t(n), cudaMemcpyHostToDevice,
                          s.stream), "copy sample_weight");
  check(cudaStreamSynchronize(s.stream), "copy data");
}

void DeviceNetwork::set_params(float* params, float* state_a, float* state_b) {
  require_usable();
  Impl& s = *impl_;
  s.host_params = params;
  s.host_a = state_a;
  s.host_b = state_b;
  s.state_a.resize(s.n_params);
  s.state_b.resize(state_b ? s.n_params : 0);
  const size_t bytes = sizeof(float) * size_t(s.n_params);
  check(cudaMemcpyAsync(s.params.data(), params, bytes, cudaMemcpyHostToDevice, s.stream), "copy params");
  check(cudaMemcpyAsync(s.state_a.data(), state_a, bytes, cudaMemcpyHostToDevice, s.stream), "copy state");
  if (state_b)
    check(cudaMemcpyAsync(s.state_b.data(), state_b, bytes, cudaMemcpyHostToDevice, s.stream),
          "copy state");
  check(cudaStreamSynchronize(s.stream), "copy params");
}

double DeviceNetwork::train_epoch(int64_t& adam_t, const OptimizerConfig& opt,
                                  const int64_t* order, int64_t batch_size, double alpha,
                                  int64_t first_step, uint64_t dropout_seed) {
  require_usable();
  Impl& s = *impl_;
  if (!s.host_params) throw std::logic_error("DeviceNetwork: set_params before train_epoch");
  if (s.n <= 0) throw std::logic_error("DeviceNetwork: set_data before train_epoch");
  if (batch_size <= 0 || batch_size > s.batch_rows)
    throw std::invalid_argument("batch_size must be in [1, batch_rows]");
  const bool adam = opt.solver != Solver::sgd;  // adam or adamw
  if (adam && !s.state_b.data()) throw std::invalid_argument("adam needs two state vectors");
  if (opt.schedule == Schedule::cosine &&
      !(opt.warmup_steps >= 0 && opt.warmup_steps < opt.total_steps))
    throw std::invalid_argument("the cosine schedule needs 0 <= warmup_steps < total_steps");
  // On the device in both data modes: the gather reads it when resident, the dropout
  // masks (data rows) in either.
  if (order)
    check(cudaMemcpyAsync(s.order.data(), order, sizeof(int64_t) * size_t(s.n),
                          cudaMemcpyHostToDevice, s.stream), "copy order");
  check(cudaMemsetAsync(s.epoch_loss.data(), 0, sizeof(double), s.stream), "cudaMemset");
  float* b = adam ? s.state_b.data() : s.state_a.data();
  const bool drop = !s.dropout.empty();
  const int64_t* rows = order ? s.order.data() : nullptr;
  // adamw's alpha decays the weights inside the step; it adds no penalty to the loss.
  const double penalty = opt.solver == Solver::adamw ? 0.0 : alpha;
  OptimizerConfig step_opt = opt;
  for (int64_t start = 0, step = first_step; start < s.n; start += batch_size, ++step) {
    const int64_t mb = std::min(batch_size, s.n - start);
    const float *x, *y, *w;
    s.batch(order, order != nullptr, start, mb, &x, &y, &w);
    s.forward(s.params.data(), x, mb, drop, dropout_seed, rows, start);
    launch_loss_forward_backward(s.loss, s.row_loss.data(), s.delta_a.data(),
                                 s.acts.back().data(), y, w, mb, s.sizes.back(), s.stream);
    launch_batch_stats(s.stats.data(), s.row_loss.data(), w, mb, s.stream);
    s.backward(x, mb, drop);
    if (adam) ++adam_t;
    if (opt.schedule == Schedule::cosine)
      step_opt.learning_rate =
          cosine_learning_rate(opt.learning_rate, step, opt.warmup_steps, opt.total_steps);
    const int64_t blocks =
        launch_penalized_update(step_opt, adam_t, s.params.data(), s.state_a.data(), b,
                                s.grad.data(), s.n_params, s.n_coefs, alpha, s.stats.data(),
                                s.partial.data(), s.stream);
    launch_accumulate_loss(s.epoch_loss.data(), nullptr, s.stats.data(), s.partial.data(), blocks,
                           penalty, mb, s.stream);
  }
  // The epoch's one synchronisation: its loss, and the host mirrors of the parameters.
  double total = 0.0;
  const size_t bytes = sizeof(float) * size_t(s.n_params);
  check(cudaMemcpyAsync(&total, s.epoch_loss.data(), sizeof(double), cudaMemcpyDeviceToHost,
                        s.stream), "copy loss");
  check(cudaMemcpyAsync(s.host_params, s.params.data(), bytes, cudaMemcpyDeviceToHost, s.stream),
        "copy params");
  check(cudaMemcpyAsync(s.host_a, s.state_a.data(), bytes, cudaMemcpyDeviceToHost, s.stream),
        "copy state");
  if (s.host_b && adam)
    check(cudaMemcpyAsync(s.host_b, s.state_b.data(), bytes, cudaMemcpyDeviceToHost, s.stream),
          "copy state");
  check(cudaStreamSynchronize(s.stream), "train_epoch");
  return total / double(s.n);
}

void DeviceNetwork::predict(const float* params, const float* X, int64_t n, float* out) {
  require_usable();
  Impl& s = *impl_;
  const int64_t d = s.sizes.front(), k = s.sizes.back();
  check(cudaMemcpyAsync(s.pred_params.data(), params, sizeof(float) * size_t(s.n_params),
                        cudaMemcpyHostToDevice, s.stream), "copy params");
  for (int64_t start = 0; start < n; start += s.batch_rows) {
    const int64_t m = std::min(s.batch_rows, n - start);
    check(cudaMemcpyAsync(s.xb.data(), X + start * d, sizeof(float) * size_t(m * d),
                          cudaMemcpyHostToDevice, s.stream), "copy X");
    s.forward(s.pred_params.data(), s.xb.data(), m);
    check(cudaMemcpyAsync(out + start * k, s.acts.back().data(), sizeof(float) * size_t(m * k),
                          cudaMemcpyDeviceToHost, s.stream), "copy output");
  }
  check(cudaStreamSynchronize(s.stream), "predict");
}

}  // namespace cuda
}  // namespace fastmlp
