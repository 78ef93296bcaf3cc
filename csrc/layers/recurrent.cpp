// GRU(units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
//     return_sequences=False, go_backwards=False, reset_after=True) and
// LSTM(units, ... the same without reset_after), as Keras's: x (n, steps, features) ->
// (n, steps, units) with return_sequences, else the last state (n, units); the initial
// state is zeros; go_backwards reads the steps last to first and returns the states in
// that order. Parameters (Keras's shapes and names): kernel (features, gates * units),
// recurrent_kernel (units, gates * units), bias (gates * units), or (2, 3 * units) for
// GRU(reset_after=True): its input and recurrent biases.
//
// A pass (the fast path; blocked layout and kernels in layers/recurrent.h):
//   xt = x in blocks of rows (steps reversed with go_backwards)
//   g  = xt @ kernel                 the input projections of all steps: one product
//   for t in steps: the cell's step kernel on every block (recurrent product + gates)
// and backpropagation through time: the step kernels from the last step to the first
// leave d loss / d pre-activations of every step in g, then
//   d kernel = xt^T g,  d recurrent_kernel = h_{t-1}^T g,  dxt = g @ kernel^T
// are one product each over all steps (layers/recurrent_products.cpp). Backward only reads
// the forward pass's buffers, so it can run again after the same forward.
// impl="reference": the oracles of gru.cpp/lstm.cpp, one sample at a time.
// Tested in tests/test_layers_recurrent.py.
#include <algorithm>
#include <cstring>
#include <tuple>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "common/simd_clones.h"
#include "layers/kinds.h"
#include "layers/recurrent.h"
#include "nn/train_loop.h"

namespace fastmlp {

namespace {

// out[c] (+)= the sum of feature row c of a, c < count: lane-wise sums (in `lanes`, count L
// values) over the chunks in order, then the lanes in order (the same bits on any thread).
template <typename T>
FASTMLP_SIMD_CLONES void row_sums(T* out, FeatureRows<const T> a, int64_t count, int64_t blocks,
                                  int64_t steps, bool accumulate, T* lanes) {
  constexpr int64_t L = kRecurrentLanes<T>;
  std::fill_n(lanes, count * L, T(0));
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int64_t t = 0; t < steps; ++t) {
      const T* v = RecurrentPass<T>::chunk(a.base, a.features, a.steps_stored, blk, t);
#pragma omp simd
      for (int64_t i = 0; i < count * L; ++i) lanes[i] += v[i];
    }
  for (int64_t c = 0; c < count; ++c) {
    T s = 0;
    for (int64_t l = 0; l < L; ++l) s += lanes[c * L + l];
    out[c] = accumulate ? out[c] + s : s;
  }
}

template <typename T>
FeatureRows<const T> feature_rows(const T* base, int64_t features, int64_t steps_stored) {
  return {base, features, steps_stored};
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
class RecurrentLayer final : public SequenceLayer<T> {
 public:
  RecurrentLayer(const LayerSpec& spec, const char* kind) : SequenceLayer<T>(kind) {
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
    if (s_.cell == RecurrentCell::gru_reset_before) v += u;  // scratch
    if (s_.return_sequences) v += T_ * u;             // dy, transposed
    return v;
  }

  void reserve(int64_t rows) override {
    const int64_t T_ = s_.steps, u = units_, d = s_.inputs;
    if (reference_) {
      hs_.reserve(size_t(checked_mul(rows, (T_ + 1) * u)));
      if (lstm()) cs_.reserve(size_t(checked_mul(rows, (T_ + 1) * u)));
      ref_io_.reserve(size_t(T_ * (u + d)));
      ref_scratch_.reserve(size_t(kReferenceScratch * u));
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
    if (s_.cell == RecurrentCell::gru_reset_before) scratch_.reserve(per(u, 1));
    if (s_.return_sequences) dy_.reserve(per(u, T_));
    partial_.reserve(size_t(rows_dot_rows_partial(std::max(d, u), gate_width()) *
                            kRecurrentLanes<T>));
    if (std::max(d, u) >= kGemmMinFeatures) gathered_.reserve(size_t(kGemmGathered));
  }

  int64_t macs_per_row() const override {
    return s_.steps * (s_.inputs + units_) * gate_width();
  }
  bool prefers_row_slices() const override { return true; }

  // y (n, steps, units) or (n, units) = the layer over x (n, steps, features)
  void forward(const Context&, const T* params, T*, T* y, const T* x, int64_t n) override {
    const RecurrentWeights<T> w = weights(params);
    const int64_t T_ = s_.steps, u = units_, d = s_.inputs;
    if (reference_) {
      T* yi = ref_io_.data();  // one sample's output, then placed
      for (int64_t i = 0; i < n; ++i) {
        T* hs = hs_.data() + i * (T_ + 1) * u;
        if (lstm())
          lstm_forward_reference(s_, w, yi, hs, cs_.data() + i * (T_ + 1) * u, x + i * T_ * d,
                                 ref_scratch_.data());
        else
          gru_forward_reference(s_, w, yi, hs, x + i * T_ * d, ref_scratch_.data());
        for (int64_t q = 0; q < out_steps(); ++q) std::copy_n(yi + q * u, u, y + out_at(i, q));
      }
      return;
    }
    using P = RecurrentPass<T>;
    constexpr int64_t L = P::L;
    const RecurrentPass<T> p = pass(w, n);
    const int64_t blocks = p.blocks(), gu = gate_width();
    // xt: x in blocks, steps in processing order; padded rows are zeros, so that every
    // lane stays finite.
    T* xt = xt_.data();
    for (int64_t i = 0; i < p.rows; ++i)
      for (int64_t q = 0; q < T_; ++q) {
        T* dst = P::chunk(xt, d, T_, i / L, q) + i % L;
        const T* src = x + (i * T_ + source_step(q)) * d;
        for (int64_t k = 0; k < d; ++k) dst[k * L] = i < n ? src[k] : T(0);
      }
    // g = xt @ kernel: every step's input projection at once.
    combine_rows(FeatureRows<T>{p.g, gu, T_}, w.kernel, 1, gu, feature_rows<T>(xt, d, T_), gu, d,
                 blocks, T_);
    for (int64_t b = 0; b < blocks; ++b) {
      std::fill_n(P::chunk(p.h, u, T_ + 1, b, 0), u * L, T(0));
      if (p.c) std::fill_n(P::chunk(p.c, u, T_ + 1, b, 0), u * L, T(0));
    }
    for (int64_t t = 0; t < T_; ++t)
      run_step(p, t, lstm() ? lstm_forward_step<T> : gru_forward_step<T>);
    // y: the states of every step, or of the last
    const int64_t first = T_ + 1 - out_steps();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t q = 0; q < out_steps(); ++q) {
        const T* hq = P::chunk(p.h, u, T_ + 1, i / L, first + q) + i % L;
        T* dst = y + out_at(i, q);
        for (int64_t j = 0; j < u; ++j) dst[j] = hq[j * L];
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
      T* dyi = ref_io_.data();  // one sample's dy, gathered from its place
      T* dxi = dyi + T_ * u;    // and its dx, then put in place
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t q = 0; q < out_steps(); ++q) std::copy_n(dy + out_at(i, q), u, dyi + q * u);
        const T* hs = hs_.data() + i * (T_ + 1) * u;
        if (lstm())
          lstm_backward_reference(s_, w, gr, dx ? dxi : nullptr, dyi, x + i * T_ * d, hs,
                                  cs_.data() + i * (T_ + 1) * u, ref_scratch_.data());
        else
          gru_backward_reference(s_, w, gr, dx ? dxi : nullptr, dyi, x + i * T_ * d, hs,
                                 ref_scratch_.data());
        if (dx)
          for (int64_t k = 0; k < T_ * d; ++k)
            dx[i * T_ * d + k] = this->add_dx_ ? dx[i * T_ * d + k] + dxi[k] : dxi[k];
      }
      return;
    }
    using P = RecurrentPass<T>;
    constexpr int64_t L = P::L;
    RecurrentPass<T> p = pass(w, n);
    const int64_t blocks = p.blocks();
    // dh starts from dy at the last step, or dy comes in at every step.
    std::fill_n(p.dh, blocks * u * L, T(0));
    if (p.dc) std::fill_n(p.dc, blocks * u * L, T(0));
    if (s_.return_sequences) {
      T* dyt = dy_.data();
      for (int64_t i = 0; i < p.rows; ++i)
        for (int64_t q = 0; q < T_; ++q) {
          T* dst = P::chunk(dyt, u, T_, i / L, q) + i % L;
          const T* src = i < n ? dy + out_at(i, q) : nullptr;
          for (int64_t j = 0; j < u; ++j) dst[j * L] = src ? src[j] : T(0);
        }
      p.dy = dyt;
    } else {
      for (int64_t i = 0; i < n; ++i) {
        T* dst = P::chunk(p.dh, u, 1, i / L, 0) + i % L;
        const T* src = dy + out_at(i, 0);
        for (int64_t j = 0; j < u; ++j) dst[j * L] = src[j];
      }
    }
    for (int64_t t = T_ - 1; t >= 0; --t)
      run_step(p, t, lstm() ? lstm_backward_step<T> : gru_backward_step<T>);

    // The weight gradients of all steps: one product each (padded rows add zeros).
    const bool acc = ctx.accumulate;
    const auto g = feature_rows<T>(p.g, gu, T_);
    const auto h_prev = feature_rows<T>(p.h, u, T_ + 1);  // steps 0 .. T-1 of h
    T* part = partial_.data();
    GemmWorkspace& ws = *ctx.gemm;
    weight_gradient(gr.kernel, gu, feature_rows<T>(xt_.data(), d, T_), g, d, gu, blocks, acc, ws);
    // d recurrent_kernel = h_{t-1}^T [what each gate's product received]
    if (s_.cell == RecurrentCell::lstm) {
      weight_gradient(gr.recurrent, gu, h_prev, g, u, gu, blocks, acc, ws);
    } else {
      weight_gradient(gr.recurrent, gu, h_prev, g, u, 2 * u, blocks, acc, ws);
      const auto g_h = feature_rows<T>(p.g + 2 * u * L, gu, T_);
      if (s_.cell == RecurrentCell::gru)  // the candidate's product received e = r dhh
        weight_gradient(gr.recurrent + 2 * u, gu, h_prev, feature_rows<T>(p.e, u, T_), u, u,
                        blocks, acc, ws);
      else  // it multiplied r h by dhh
        weight_gradient(gr.recurrent + 2 * u, gu, feature_rows<T>(p.aux, u, T_), g_h, u, u,
                        blocks, acc, ws);
    }
    if (gr.bias) {
      row_sums(gr.bias, g, gu, blocks, T_, acc, part);
      if (gr.rbias) {
        row_sums(gr.rbias, g, 2 * u, blocks, T_, acc, part);
        row_sums(gr.rbias + 2 * u, feature_rows<T>(p.e, u, T_), u, blocks, T_, acc, part);
      }
    }
    if (dx) {
      T* dxt = dxt_.data();
      combine_rows(FeatureRows<T>{dxt, d, T_}, w.kernel, gu, 1, g, d, gu, blocks, T_);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t q = 0; q < T_; ++q) {
          const T* src = P::chunk(dxt, d, T_, i / L, q) + i % L;
          T* dst = dx + (i * T_ + source_step(q)) * d;
          if (this->add_dx_) {
            for (int64_t k = 0; k < d; ++k) dst[k] += src[k * L];
          } else {
            for (int64_t k = 0; k < d; ++k) dst[k] = src[k * L];
          }
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
  // Output steps per sample, and where output step q of sample i starts in y (and dy).
  int64_t out_steps() const { return s_.return_sequences ? s_.steps : 1; }
  int64_t out_at(int64_t i, int64_t q) const {
    const int64_t width = this->out_width_ ? this->out_width_ : units_;
    const int64_t S = out_steps();
    return (i * S + (this->out_reversed_ ? S - 1 - q : q)) * width + this->out_offset_;
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
    p.scratch = s_.cell == RecurrentCell::gru_reset_before ? scratch_.data() : nullptr;
    p.dh = dh_.data();
    p.dc = lstm() ? dc_.data() : nullptr;
    return p;
  }

  // c (m, n) (+)= a^T b over every step of every row (a weight gradient), on register
  // tiles (rows_dot_rows). Large passes of wide layers (at least kGemmMinFeatures on both
  // sides, kGemmMinRowSteps rows times steps: 4096 x 40 steps of an LSTM(64) trained 1.8x
  // faster this way, a batch of 64 x 50 steps of an LSTM(32) 1.3x slower) gather the rows,
  // a group of steps at a time, into row-major (row-steps, features) matrices for our
  // GEMM instead (a^T b, accumulated group by group in a fixed order).
  void weight_gradient(T* c, int64_t ldc, FeatureRows<const T> a, FeatureRows<const T> b,
                       int64_t m, int64_t n, int64_t blocks, bool accumulate, GemmWorkspace& ws) {
    constexpr int64_t L = kRecurrentLanes<T>;
    const int64_t T_ = s_.steps;
    const int64_t chunks = blocks * T_;
    if (m < kGemmMinFeatures || n < kGemmMinFeatures || chunks * L < kGemmMinRowSteps)
      return rows_dot_rows(c, ldc, a, b, m, n, blocks, T_, accumulate, partial_.data());
    const int64_t per = std::max<int64_t>(1, kGemmGathered / ((m + n) * L));
    for (int64_t q0 = 0; q0 < chunks; q0 += per) {
      const int64_t q1 = std::min(chunks, q0 + per), K = (q1 - q0) * L;
      T* ga = gathered_.data();
      T* gb = ga + K * m;
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t blk = q / T_, t = q % T_;
        for (auto [src, dst, width] : {std::tuple{RecurrentPass<T>::chunk(a.base, a.features,
                                                                          a.steps_stored, blk, t),
                                                  ga, m},
                                       std::tuple{RecurrentPass<T>::chunk(b.base, b.features,
                                                                          b.steps_stored, blk, t),
                                                  gb, n}})
          for (int64_t l = 0; l < L; ++l)
            for (int64_t f = 0; f < width; ++f)
              dst[((q - q0) * L + l) * width + f] = src[f * L + l];
      }
      gemm(true, false, m, n, K, T(1), ga, m, gb, n, accumulate || q0 > 0 ? T(1) : T(0), c, ldc,
           ws);
    }
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
    // Small steps run inline: a parallel call costs microseconds, and a pass has two per
    // step.
    const bool big = tasks > 1 && p.rows * gate_width() * (units_ + 8) >= kParallelStepWork;
    parallel_for(tasks, big ? max_threads() : 1, run);
  }

  int64_t units_ = 0;
  bool use_bias_ = true, reference_ = false;
  RecurrentShape s_;
  // weight_gradient's GEMM path: features on both sides from this many, and room for
  // this many gathered values (row-steps times features of both operands).
  static constexpr int64_t kGemmMinFeatures = 16, kGemmMinRowSteps = 1 << 16;
  static constexpr int64_t kGemmGathered = int64_t(1) << 20;
  AlignedBuffer<T> xt_, dxt_, g_, gates_, aux_, h_, dh_, c_, dc_, e_, scratch_, dy_, partial_,
      gathered_;
  AlignedBuffer<T> hs_, cs_, ref_scratch_, ref_io_;  // the oracle's
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
