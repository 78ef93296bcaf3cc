// What the recurrent layers share: GRU and LSTM are one layer class (layers/recurrent.cpp:
// arguments, parameter slots, workspaces, the products over all steps, backpropagation
// through time) around a cell's step kernels (layers/gru.cpp, layers/lstm.cpp).
//
// The fast path pads the rows (samples) of a pass to whole blocks of kRecurrentLanes and
// keeps each block's whole history contiguous, (step, feature, lane): the step kernels
// vectorize across the samples of a block, filling the SIMD lanes whatever the number of
// units (the MNIST-1D GRU has 6), and a step of a block reads a few contiguous vectors.
// The input projections of all steps are one product before the first step, the weight
// gradients of all steps one product after the last.
// Each kernel has a naive oracle (impl="reference"): one sample at a time in the layer's
// own (step, feature) layout, the formulas as Keras writes them.
// Tested in tests/test_layers_recurrent.py.
#pragma once
#include <cstdint>

#include "layers/layer.h"
#include "nn/activation_math.h"
#include "nn/activations.h"

// Helpers inlined into the SIMD builds (common/simd_clones.h) of the kernels that call
// them: a call would run their baseline build.
#define FASTMLP_INLINE inline __attribute__((always_inline))

namespace fastmlp {

// Rows per block of the step kernels: 64 bytes of T, one AVX-512 vector.
template <typename T>
constexpr int64_t kRecurrentLanes = 64 / int64_t(sizeof(T));

// Keras's GRU(reset_after=True) (its default, and PyTorch's and cuDNN's GRU), Keras's
// GRU(reset_after=False) (the 2014 paper's: the reset gate scales the state before the
// product), and LSTM.
enum class RecurrentCell { gru, gru_reset_before, lstm };

constexpr int64_t recurrent_gates(RecurrentCell cell) {
  return cell == RecurrentCell::lstm ? 4 : 3;
}

// GRU and LSTM as Bidirectional drives them (layers/recurrent.cpp builds them): their
// output can be part of a wider, merged tensor.
template <typename T>
class SequenceLayer : public Layer<T> {
 public:
  // From now on the output (and its gradient dy, read in backward) is columns
  // [offset, offset + units) of rows of `row_width` values, output step q at row step
  // steps - 1 - q when `reversed` (return_sequences); and backward adds the input's
  // gradient into dx instead of overwriting it when `add_dx`.
  void place_output(int64_t row_width, int64_t offset, bool reversed, bool add_dx) {
    out_width_ = row_width;
    out_offset_ = offset;
    out_reversed_ = reversed;
    add_dx_ = add_dx;
  }

 protected:
  using Layer<T>::Layer;
  int64_t out_width_ = 0, out_offset_ = 0;  // width 0: the layer's own
  bool out_reversed_ = false, add_dx_ = false;
};

// The activations a recurrent layer accepts: those whose derivative the backward step can
// write with the output alone (so no pre-activation is kept).
constexpr bool recurrent_activation_ok(Activation f) {
  return f == Activation::identity || f == Activation::logistic || f == Activation::tanh ||
         f == Activation::relu || f == Activation::leaky_relu || f == Activation::elu ||
         f == Activation::softplus;
}

// A pass of the fast path. A buffer of C features over S steps holds, for block b (rows
// b*L .. b*L+L-1, L = kRecurrentLanes) and step t, the L-vector of feature c at
// ((b*S + t)*C + c)*L: see chunk(). The gates of a cell are stacked along the features in
// Keras's order (GRU: z, r, h; LSTM: i, f, c, o).
template <typename T>
struct RecurrentPass {
  static constexpr int64_t L = kRecurrentLanes<T>;
  RecurrentCell cell = RecurrentCell::gru;
  int64_t units = 0, steps = 0, rows = 0;  // rows: a multiple of L
  Activation f = Activation::tanh, rf = Activation::logistic;
  const T* recurrent = nullptr;  // recurrent_kernel (units, gates * units)
  const T* bias = nullptr;       // (gates * units) added to the input projections, or null
  const T* rbias = nullptr;      // GRU reset_after: the recurrent bias (3 * units), or null
  T* g = nullptr;      // (gates * units): x_t @ kernel (forward); d loss / d pre-activations
                       // (backward; what the weight gradients are made of)
  T* h = nullptr;      // (units) over steps + 1: step 0 is the initial state (zeros)
  T* c = nullptr;      // LSTM: the cell states, as h
  T* gates = nullptr;  // (gates * units): the gates after their activations
  T* aux = nullptr;    // (units): GRU reset_after: h_{t-1} @ U_h + b_h; reset before:
                       // r * h_{t-1}; LSTM: activation(c_t)
  T* e = nullptr;      // GRU reset_after, backward: r * d pre-activation of the candidate
  T* scratch = nullptr;  // GRU reset before: (units) over 1 step, the backward's d (r h)
  T* dh = nullptr;     // (units) over 1 step: d loss / d h_t, running back through the steps
  T* dc = nullptr;     // LSTM: d loss / d c_t, the same way
  const T* dy = nullptr;  // (units): d loss / d h_t from the layer's output, or null

  int64_t blocks() const { return rows / L; }
  // Step t of block b in a buffer of `features` over `steps` steps.
  template <typename P>
  static P* chunk(P* base, int64_t features, int64_t steps, int64_t b, int64_t t) {
    return base + (b * steps + t) * features * L;
  }
};

// Step t of the forward pass, or of backpropagation through time (steps run T-1 .. 0, the
// caller adds nothing in between), on the rows of blocks [b0, b1). Rows never interact, so
// blocks can run on any thread in any order.
template <typename T>
void gru_forward_step(const RecurrentPass<T>& p, int64_t t, int64_t b0, int64_t b1);
template <typename T>
void gru_backward_step(const RecurrentPass<T>& p, int64_t t, int64_t b0, int64_t b1);
template <typename T>
void lstm_forward_step(const RecurrentPass<T>& p, int64_t t, int64_t b0, int64_t b1);
template <typename T>
void lstm_backward_step(const RecurrentPass<T>& p, int64_t t, int64_t b0, int64_t b1);

// ---- the products over all steps (layers/recurrent_products.cpp)

// The features of a pass buffer as rows of a matrix: row c is the L-vectors of feature c
// at every step of every block, chunk(base, features, steps_stored, b, t) + c * L for the
// first `steps` steps of each block (h stores one more, the initial state).
template <typename T>
struct FeatureRows {
  T* base;
  int64_t features, steps_stored;
};

// c (m, n) (+)= a (m, K) @ b (n, K)^T, the K values of a row being its L-vectors over
// `blocks` blocks of `steps` steps. accumulate: add to c instead of overwriting it.
// partial: room for rows_dot_rows_partial(m, n) L-vectors.
template <typename T>
void rows_dot_rows(T* c, int64_t ldc, FeatureRows<const T> a, FeatureRows<const T> b,
                   int64_t m, int64_t n, int64_t blocks, int64_t steps, bool accumulate,
                   T* partial);
int64_t rows_dot_rows_partial(int64_t m, int64_t n);
// out (m rows) = A (m, k) @ b (k rows), A(i, j) = a[i * ar + j * ac].
template <typename T>
void combine_rows(FeatureRows<T> out, const T* a, int64_t ar, int64_t ac, FeatureRows<const T> b,
                  int64_t m, int64_t k, int64_t blocks, int64_t steps);

// ---- the oracles: one sample, by the definitions

struct RecurrentShape {
  RecurrentCell cell = RecurrentCell::gru;
  int64_t units = 0, inputs = 0, steps = 0;
  Activation f = Activation::tanh, rf = Activation::logistic;
  bool go_backwards = false, return_sequences = false;
};

template <typename T>
struct RecurrentWeights {
  const T* kernel;     // (inputs, gates * units)
  const T* recurrent;  // (units, gates * units)
  const T* bias;       // (gates * units) or null; GRU reset_after: the input bias
  const T* rbias;      // GRU reset_after: the recurrent bias, or null
};

template <typename T>
struct RecurrentGrads {
  T *kernel, *recurrent, *bias, *rbias;  // as RecurrentWeights; bias and rbias may be null
};

// y (steps, units) or (units,) from x (steps, inputs); hs (steps + 1, units) and, for the
// LSTM, cs (steps + 1, units) keep the states in processing order for the backward pass.
// backward: from dy (as y), adds this sample's gradients into g and writes dx (steps,
// inputs) unless it is null. scratch: kReferenceScratch * units values.
constexpr int64_t kReferenceScratch = 24;
template <typename T>
void gru_forward_reference(const RecurrentShape& s, const RecurrentWeights<T>& w, T* y, T* hs,
                           const T* x, T* scratch);
template <typename T>
void gru_backward_reference(const RecurrentShape& s, const RecurrentWeights<T>& w,
                            const RecurrentGrads<T>& g, T* dx, const T* dy, const T* x,
                            const T* hs, T* scratch);
template <typename T>
void lstm_forward_reference(const RecurrentShape& s, const RecurrentWeights<T>& w, T* y, T* hs,
                            T* cs, const T* x, T* scratch);
template <typename T>
void lstm_backward_reference(const RecurrentShape& s, const RecurrentWeights<T>& w,
                             const RecurrentGrads<T>& g, T* dx, const T* dy, const T* x,
                             const T* hs, const T* cs, T* scratch);

// ---- the gate arithmetic shared by the cells' kernels (inlined into their SIMD builds)

// v[i] = f(v[i]) for i < n.
template <typename T>
FASTMLP_INLINE void activate_lanes(Activation f, T* v, int64_t n) {
  switch (f) {
#define FASTMLP_ACTIVATE(F)                                                      \
  case Activation::F:                                                            \
    _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) v[i] =                   \
        activation_value<Activation::F>(v[i]);                                   \
    return;
    FASTMLP_ACTIVATE(logistic)
    FASTMLP_ACTIVATE(tanh)
    FASTMLP_ACTIVATE(relu)
    FASTMLP_ACTIVATE(leaky_relu)
    FASTMLP_ACTIVATE(elu)
    FASTMLP_ACTIVATE(softplus)
#undef FASTMLP_ACTIVATE
    default:
      return;  // identity
  }
}

// d[i] *= f'(z[i]) for i < n, written with the output a = f(z).
template <typename T>
FASTMLP_INLINE void derive_lanes(Activation f, T* d, const T* a, int64_t n) {
  switch (f) {
#define FASTMLP_DERIVE(F)                                                                  \
  case Activation::F:                                                                      \
    _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) d[i] =                             \
        activation_delta<Activation::F>(d[i], a[i], T(0));                                 \
    return;
    FASTMLP_DERIVE(logistic)
    FASTMLP_DERIVE(tanh)
    FASTMLP_DERIVE(relu)
    FASTMLP_DERIVE(leaky_relu)
    FASTMLP_DERIVE(elu)
    FASTMLP_DERIVE(softplus)
#undef FASTMLP_DERIVE
    default:
      return;  // identity
  }
}

// activate_lanes and derive_lanes over a span of a step, as calls into their own SIMD
// builds (layers/recurrent_gates.cpp): inlined several times into one step kernel, the
// compiler stopped inlining the activations themselves and called them value by value.
template <typename T>
void activate_span(Activation f, T* v, int64_t n);
template <typename T>
void derive_span(Activation f, T* d, const T* a, int64_t n);

// dst[i] += sum_{k < depth} w[k * wk + i * wi] * src[k] for i < count, dst[i] and src[k]
// L-vectors (L = kRecurrentLanes) at i * L, k * L: the recurrent products of a block of
// rows (w = U with wk = gates * units, wi = 1; or its transpose). Tiles of W outputs keep
// W independent accumulators, which hides the multiply-add latency, and load each src
// vector once per tile.
template <typename T, int W>
FASTMLP_INLINE void matvec_tile(T* dst, const T* w, int64_t wk, int64_t wi, const T* src,
                                int64_t depth) {
  constexpr int64_t L = kRecurrentLanes<T>;
  T acc[W][L];
  for (int i = 0; i < W; ++i) {
    _Pragma("omp simd") for (int64_t l = 0; l < L; ++l) acc[i][l] = dst[i * L + l];
  }
  for (int64_t k = 0; k < depth; ++k) {
    const T* sk = src + k * L;
    for (int i = 0; i < W; ++i) {
      const T wv = w[k * wk + i * wi];
      _Pragma("omp simd") for (int64_t l = 0; l < L; ++l) acc[i][l] += wv * sk[l];
    }
  }
  for (int i = 0; i < W; ++i) {
    _Pragma("omp simd") for (int64_t l = 0; l < L; ++l) dst[i * L + l] = acc[i][l];
  }
}

template <typename T>
FASTMLP_INLINE void add_matvec(T* dst, const T* w, int64_t wk, int64_t wi, const T* src,
                               int64_t depth, int64_t count) {
  constexpr int kTile = 8;
  constexpr int64_t L = kRecurrentLanes<T>;
  int64_t i = 0;
  for (; i + kTile <= count; i += kTile)
    matvec_tile<T, kTile>(dst + i * L, w + i * wi, wk, wi, src, depth);
  T* d = dst + i * L;
  const T* wt = w + i * wi;
  switch (count - i) {
    case 7: return matvec_tile<T, 7>(d, wt, wk, wi, src, depth);
    case 6: return matvec_tile<T, 6>(d, wt, wk, wi, src, depth);
    case 5: return matvec_tile<T, 5>(d, wt, wk, wi, src, depth);
    case 4: return matvec_tile<T, 4>(d, wt, wk, wi, src, depth);
    case 3: return matvec_tile<T, 3>(d, wt, wk, wi, src, depth);
    case 2: return matvec_tile<T, 2>(d, wt, wk, wi, src, depth);
    case 1: return matvec_tile<T, 1>(d, wt, wk, wi, src, depth);
    default: return;
  }
}

// Scalar versions for the oracles.
template <typename T>
T activate_one(Activation f, T x) {
  activate_lanes(f, &x, 1);
  return x;
}

template <typename T>
T derive_one(Activation f, T d, T a) {
  derive_lanes(f, &d, &a, 1);
  return d;
}

}  // namespace fastmlp
