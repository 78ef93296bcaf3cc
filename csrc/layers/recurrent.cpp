// GRU(units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
//     return_sequences=False, go_backwards=False, reset_after=True) and
// LSTM(units, ... the same without reset_after), as Keras's: x (n, steps, features) ->
// (n, steps, units) with return_sequences, else the last state (n, units); the initial
// state is zeros; go_backwards reads the steps last to first and returns the states in
// that order. Parameters (Keras's shapes and names): kernel (features, gates * units),
// recurrent_kernel (units, gates * units), bias (gates * units), or (2, 3 * units) for
// GRU(reset_after=True): its input and recurrent biases.
//
// A pass (the fast path, layout and kernels in layers/recurrent.h):
//   xt (features, steps, rows)  = x transposed (steps reversed with go_backwards)
//   g  (gates*units, steps*rows) = kernel^T @ xt            one GEMM for all steps
//   for t in steps: the cell's step kernel on blocks of rows  (recurrent product + gates)
// and backpropagation through time: the step kernels from the last step to the first
// leave d loss / d pre-activations of every step in g, then
//   d kernel = xt @ g^T,  d recurrent_kernel = h_{t-1} @ g^T,  dxt = kernel @ g
// are one GEMM each over all steps. Backward only reads the forward pass's buffers, so it
// can run again after the same forward. impl="reference": the oracles of gru.cpp/lstm.cpp.
// Tested in tests/test_layers_recurrent.py.
#include <algorithm>
#include <cstring>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "common/simd_clones.h"
#include "layers/kinds.h"
#include "layers/recurrent.h"
#include "nn/train_loop.h"

namespace fastmlp {

namespace {

// out[r] (+)= the sum of row r of a (rows, len; row stride ld), len a multiple of the lanes:
// lane sums first, then the lanes in order (a fixed order: the same bits on any thread).
template <typename T>
FASTMLP_SIMD_CLONES void row_sums(T* out, const T* a, int64_t rows, int64_t len, int64_t ld,
                                  bool accumulate) {
  constexpr int64_t B = kRecurrentLanes<T>;
  for (int64_t r = 0; r < rows; ++r) {
    T acc[B] = {};
    const T* row = a + r * ld;
    for (int64_t j = 0; j < len; j += B) {
#pragma omp simd
      for (int64_t b = 0; b < B; ++b) acc[b] += row[j + b];
    }
    T s = 0;
    for (int64_t b = 0; b < B; ++b) s += acc[b];
    out[r] = accumulate ? out[r] + s : s;
  }
}

Activation recurrent_activation(const LayerSpec& spec, const char* name, const char* fallback) {
  const std::string f = spec.get_str(name, fallback);
  const Activation a = parse_activation(f);
  FASTMLP_CHECK(recurrent_activation_ok(a),
                std::string(name) + " '" + f + "' is not available in recurrent layers (use " +
                    "tanh, logistic (sigmoid), relu, leaky_relu, elu, softplus or identity)");
  return a;
}

template <typename T>
class RecurrentLayer final : public Layer<T> {
 public:
  RecurrentLayer(const LayerSpec& spec, const char* kind) : Layer<T>(kind) {
    const bool gru = std::string(kind) == "GRU";
    std::vector<std::string> known{"units", "activation", "recurrent_activation", "use_bias",
                                   "return_sequences", "go_backwards", "impl"};
    if (gru) known.push_back("reset_after");
    spec.check_known(known);
    units_ = spec.get_int("units", 0);
    FASTMLP_CHECK(units_ > 0, "units must be > 0, got " + std::to_string(units_));
    s_.cell = !gru ? RecurrentCell::lstm
              : spec.get_int("reset_after", 1) ? RecurrentCell::gru
                                                : RecurrentCell::gru_reset_before;
    s_.units = units_;
    s_.f = recurrent_activation(spec, "activation", "tanh");
    s_.rf = recurrent_activation(spec, "recurrent_activation", "logistic");
    s_.return_sequences = spec.get_int("return_sequences", 0) != 0;
    s_.go_backwards = spec.get_int("go_backwards", 0) != 0;
    use_bias_ = spec.get_int("use_bias", 1) != 0;
    const std::string impl = spec.get_str("impl", "auto");
    FASTMLP_CHECK(impl == "auto" || impl == "reference",
                  "impl must be 'auto' or 'reference', got '" + impl + "'");
    reference_ = impl == "reference";
  }

  std::vector<ParamSlot> params() const override {
    const int64_t gu = gate_width();
    std::vector<ParamSlot> p{
        {"kernel", {s_.inputs, gu}, true, "glorot_uniform", s_.inputs, gu},
        {"recurrent_kernel", {units_, gu}, true, "orthogonal", units_, gu}};
    if (use_bias_) {
      Shape shape = two_biases() ? Shape{2, gu} : Shape{gu};
      p.push_back({"bias", shape, false, "zeros", s_.inputs, gu});
    }
    return p;
  }

  int64_t workspace_per_row() const override {
    const int64_t T_ = s_.steps, u = units_, d = s_.inputs;
    if (reference_) return (lstm() ? 2 : 1) * (T_ + 1) * u;
    int64_t v = T_ * (2 * d + 2 * gate_width() + u)  // xt, dxt, g, gates, aux
                + (T_ + 1) * u + u;                   // h, dh
    if (lstm()) v += (T_ + 1) * u + u;                // c, dc
    if (s_.cell == RecurrentCell::gru) v += T_ * u;   // e
    if (s_.return_sequences) v += T_ * u;             // dy, transposed
    return v;
  }

  void reserve(int64_t rows) override {
    const int64_t T_ = s_.steps, u = units_, d = s_.inputs;
    if (reference_) {
      hs_.reserve(size_t(checked_mul(rows, (T_ + 1) * u)));
      if (lstm()) cs_.reserve(size_t(checked_mul(rows, (T_ + 1) * u)));
      scratch_.reserve(size_t(kReferenceScratch * u));
      return;
    }
    const int64_t R = padded(rows);
    const auto per = [&](int64_t features, int64_t steps) {
      return size_t(checked_mul(checked_mul(R, steps), features));
    };
    xt_.reserve(per(d, T_));
    dxt_.reserve(per(d, T_));
    g_.reserve(per(gate_width(), T_));
    gates_.reserve(per(gate_width(), T_));
    aux_.reserve(per(u, T_));
    h_.reserve(per(u, T_ + 1));
    dh_.reserve(per(u, 1));
    if (lstm()) {
      c_.reserve(per(u, T_ + 1));
      dc_.reserve(per(u, 1));
    }
    if (s_.cell == RecurrentCell::gru) e_.reserve(per(u, T_));
    if (s_.return_sequences) dy_.reserve(per(u, T_));
  }

  int64_t macs_per_row() const override {
    return s_.steps * (s_.inputs + units_) * gate_width();
  }
  bool sequential_steps() const override { return true; }

  // y (n, steps, units) or (n, units) = the layer over x (n, steps, features)
  void forward(const Context& ctx, const T* params, T*, T* y, const T* x, int64_t n) override {
    const RecurrentWeights<T> w = weights(params);
    const int64_t T_ = s_.steps, u = units_, d = s_.inputs;
    if (reference_) {
      const int64_t out = shape_size(this->out_);
      for (int64_t i = 0; i < n; ++i) {
        T* hs = hs_.data() + i * (T_ + 1) * u;
        if (lstm())
          lstm_forward_reference(s_, w, y + i * out, hs, cs_.data() + i * (T_ + 1) * u,
                                 x + i * T_ * d, scratch_.data());
        else
          gru_forward_reference(s_, w, y + i * out, hs, x + i * T_ * d, scratch_.data());
      }
      return;
    }
    const RecurrentPass<T> p = pass(w, n);
    const int64_t N = p.ld();
    // xt (d, steps, rows): padded rows are zeros, so every lane stays finite.
    T* xt = xt_.data();
    for (int64_t k = 0; k < d; ++k)
      for (int64_t q = 0; q < T_; ++q) {
        T* dst = xt + (k * T_ + q) * p.rows;
        const int64_t t = source_step(q);
        for (int64_t i = 0; i < n; ++i) dst[i] = x[(i * T_ + t) * d + k];
        std::fill(dst + n, dst + p.rows, T(0));
      }
    // g (gates*units, steps*rows) = kernel^T @ xt: every step's input projection at once.
    combine_rows(p.g, N, w.kernel, 1, gate_width(), xt, N, gate_width(), d, N);
    for (int64_t k = 0; k < u; ++k) {
      std::fill(p.h + k * p.ld_h(), p.h + k * p.ld_h() + p.rows, T(0));
      if (p.c) std::fill(p.c + k * p.ld_h(), p.c + k * p.ld_h() + p.rows, T(0));
    }
    for (int64_t t = 0; t < T_; ++t) run_step(p, t, lstm() ? lstm_forward_step<T> : gru_forward_step<T>);
    // y from h (units, steps + 1, rows)
    for (int64_t i = 0; i < n; ++i) {
      if (s_.return_sequences) {
        for (int64_t q = 0; q < T_; ++q)
          for (int64_t j = 0; j < u; ++j)
            y[(i * T_ + q) * u + j] = p.h[j * p.ld_h() + (q + 1) * p.rows + i];
      } else {
        for (int64_t j = 0; j < u; ++j) y[i * u + j] = p.h[j * p.ld_h() + T_ * p.rows + i];
      }
    }
  }

  void backward(const Context& ctx, const T* params, T* grad, T* dx, T* dy, const T* x,
                const T*, int64_t n) override {
    const RecurrentWeights<T> w = weights(params);
    const RecurrentGrads<T> gr = grads(grad);
    const int64_t T_ = s_.steps, u = units_, d = s_.inputs, gu = gate_width();
    if (reference_) {
      if (!ctx.accumulate) {
        std::fill(gr.kernel, gr.kernel + d * gu, T(0));
        std::fill(gr.recurrent, gr.recurrent + u * gu, T(0));
        if (gr.bias) std::fill(gr.bias, gr.bias + (two_biases() ? 2 : 1) * gu, T(0));
      }
      const int64_t out = shape_size(this->out_);
      for (int64_t i = 0; i < n; ++i) {
        const T* hs = hs_.data() + i * (T_ + 1) * u;
        T* dxi = dx ? dx + i * T_ * d : nullptr;
        if (lstm())
          lstm_backward_reference(s_, w, gr, dxi, dy + i * out, x + i * T_ * d, hs,
                                  cs_.data() + i * (T_ + 1) * u, scratch_.data());
        else
          gru_backward_reference(s_, w, gr, dxi, dy + i * out, x + i * T_ * d, hs,
                                 scratch_.data());
      }
      return;
    }
    RecurrentPass<T> p = pass(w, n);
    const int64_t R = p.rows, N = p.ld();
    // dh (units, rows) starts from dy at the last step, or dy comes in at every step.
    std::fill(p.dh, p.dh + u * R, T(0));
    if (p.dc) std::fill(p.dc, p.dc + u * R, T(0));
    if (s_.return_sequences) {
      T* dyt = dy_.data();
      for (int64_t j = 0; j < u; ++j)
        for (int64_t q = 0; q < T_; ++q) {
          T* dst = dyt + (j * T_ + q) * R;
          for (int64_t i = 0; i < n; ++i) dst[i] = dy[(i * T_ + q) * u + j];
          std::fill(dst + n, dst + R, T(0));
        }
      p.dy = dyt;
    } else {
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < u; ++j) p.dh[j * R + i] = dy[i * u + j];
    }
    for (int64_t t = T_ - 1; t >= 0; --t)
      run_step(p, t, lstm() ? lstm_backward_step<T> : gru_backward_step<T>);

    // The weight gradients of all steps: one product each (padded rows add zeros).
    const bool acc = ctx.accumulate;
    rows_dot_rows(gr.kernel, gu, xt_.data(), N, p.g, N, d, gu, N, acc);
    // d recurrent_kernel = h_{t-1} @ [what each gate's product received]^T
    if (s_.cell == RecurrentCell::lstm) {
      rows_dot_rows(gr.recurrent, gu, p.h, p.ld_h(), p.g, N, u, gu, N, acc);
    } else {
      rows_dot_rows(gr.recurrent, gu, p.h, p.ld_h(), p.g, N, u, 2 * u, N, acc);
      if (s_.cell == RecurrentCell::gru)  // the candidate's product received e = r dhh
        rows_dot_rows(gr.recurrent + 2 * u, gu, p.h, p.ld_h(), p.e, N, u, u, N, acc);
      else  // it multiplied r h
        rows_dot_rows(gr.recurrent + 2 * u, gu, p.aux, N, p.g + 2 * u * N, N, u, u, N, acc);
    }
    if (gr.bias) {
      row_sums(gr.bias, p.g, gu, N, N, ctx.accumulate);
      if (gr.rbias) {
        row_sums(gr.rbias, p.g, 2 * u, N, N, ctx.accumulate);
        row_sums(gr.rbias + 2 * u, p.e, u, N, N, ctx.accumulate);
      }
    }
    if (dx) {
      T* dxt = dxt_.data();
      combine_rows(dxt, N, w.kernel, gu, 1, p.g, N, d, gu, N);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t q = 0; q < T_; ++q) {
          T* dst = dx + (i * T_ + source_step(q)) * d;
          for (int64_t k = 0; k < d; ++k) dst[k] = dxt[(k * T_ + q) * R + i];
        }
    }
  }

 private:
  Shape infer(const Shape& in) override {
    if (in.size() != 2)
      throw std::invalid_argument("needs samples of shape (steps, features), got " +
                                  shape_str(in));
    s_.steps = in[0];
    s_.inputs = in[1];
    if (s_.return_sequences) return {s_.steps, units_};
    return {units_};
  }

  bool lstm() const { return s_.cell == RecurrentCell::lstm; }
  bool two_biases() const { return s_.cell == RecurrentCell::gru; }
  int64_t gate_width() const { return recurrent_gates(s_.cell) * units_; }
  static int64_t padded(int64_t rows) {
    constexpr int64_t B = kRecurrentLanes<T>;
    return (rows + B - 1) / B * B;
  }
  // The input step read at processing step q.
  int64_t source_step(int64_t q) const { return s_.go_backwards ? s_.steps - 1 - q : q; }

  RecurrentWeights<T> weights(const T* params) const {
    const T* b = use_bias_ ? this->param(params, 2) : nullptr;
    return {this->param(params, 0), this->param(params, 1), b,
            b && two_biases() ? b + gate_width() : nullptr};
  }
  RecurrentGrads<T> grads(T* grad) const {
    T* b = use_bias_ ? this->grad_of(grad, 2) : nullptr;
    return {this->grad_of(grad, 0), this->grad_of(grad, 1), b,
            b && two_biases() ? b + gate_width() : nullptr};
  }

  RecurrentPass<T> pass(const RecurrentWeights<T>& w, int64_t n) {
    RecurrentPass<T> p;
    p.cell = s_.cell;
    p.units = units_;
    p.steps = s_.steps;
    p.rows = padded(n);
    p.f = s_.f;
    p.rf = s_.rf;
    p.recurrent = w.recurrent;
    p.bias = w.bias;
    p.rbias = w.rbias;
    p.g = g_.data();
    p.h = h_.data();
    p.c = lstm() ? c_.data() : nullptr;
    p.gates = gates_.data();
    p.aux = aux_.data();
    p.e = s_.cell == RecurrentCell::gru ? e_.data() : nullptr;
    p.dh = dh_.data();
    p.dc = lstm() ? dc_.data() : nullptr;
    return p;
  }

  // One step on every block of rows: tasks of a few blocks, threads only for steps with
  // enough work to pay for waking them at every step (in a row slice of the engine the
  // region is nested and runs serially).
  void run_step(const RecurrentPass<T>& p, int64_t t,
                void (*step)(const RecurrentPass<T>&, int64_t, int64_t, int64_t)) {
    constexpr int64_t kBlocksPerTask = 4;
    constexpr int64_t kParallelStepWork = int64_t(1) << 20;  // ~ multiply-adds of a step
    const int64_t blocks = p.rows / kRecurrentLanes<T>;
    const int64_t tasks = (blocks + kBlocksPerTask - 1) / kBlocksPerTask;
    const auto run = [&](int64_t task) {
      step(p, t, task * kBlocksPerTask, std::min(blocks, (task + 1) * kBlocksPerTask));
    };
    // Not even a serial region otherwise: entering one costs a microsecond, and a pass
    // has two per step.
    if (tasks > 1 && p.rows * gate_width() * (units_ + 8) >= kParallelStepWork) {
#pragma omp parallel for schedule(dynamic, 1)
      for (int64_t task = 0; task < tasks; ++task) run(task);
    } else {
      for (int64_t task = 0; task < tasks; ++task) run(task);
    }
  }

  int64_t units_ = 0;
  bool use_bias_ = true, reference_ = false;
  RecurrentShape s_;
  AlignedBuffer<T> xt_, dxt_, g_, gates_, aux_, h_, dh_, c_, dc_, e_, dy_;
  AlignedBuffer<T> hs_, cs_, scratch_;  // the oracle's
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_gru(const LayerSpec& spec) {
  return std::make_unique<RecurrentLayer<T>>(spec, "GRU");
}

template <typename T>
std::unique_ptr<Layer<T>> make_lstm(const LayerSpec& spec) {
  return std::make_unique<RecurrentLayer<T>>(spec, "LSTM");
}

template std::unique_ptr<Layer<float>> make_gru<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_gru<double>(const LayerSpec&);
template std::unique_ptr<Layer<float>> make_lstm<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_lstm<double>(const LayerSpec&);

}  // namespace fastmlp
