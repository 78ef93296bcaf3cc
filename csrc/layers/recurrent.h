// What the recurrent layers share: GRU and LSTM are one layer class (layers/recurrent.cpp:
// arguments, parameter slots, workspaces, the products over all steps, backpropagation
// through time) around a cell's step kernels (layers/gru.cpp, layers/lstm.cpp).
//
// The fast path keeps a pass in a (feature, step, row) layout, rows padded to whole blocks
// of kRecurrentLanes: feature c of step t of a buffer is a contiguous run of rows, so the
// step kernels vectorize across samples and fill the SIMD lanes whatever the number of
// units (the MNIST-1D GRU has 6). The input projections of all steps are one GEMM before
// the first step, the weight gradients of all steps one GEMM after the last.
// Each kernel has a naive oracle (impl="reference"): one sample at a time in the layer's
// own (step, feature) layout, the formulas as Keras writes them.
// Tested in tests/test_layers_recurrent.py.
#pragma once
#include <cstdint>

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

constexpr int64_t recurrent_gates(RecurrentCell cell) { return cell == RecurrentCell::lstm ? 4 : 3; }

// The activations a recurrent layer accepts: those whose derivative the backward step can
// write with the output alone (so no pre-activation is kept).
constexpr bool recurrent_activation_ok(Activation f) {
  return f == Activation::identity || f == Activation::logistic || f == Activation::tanh ||
         f == Activation::relu || f == Activation::leaky_relu || f == Activation::elu ||
         f == Activation::softplus;
}

// A pass of the fast path. Buffers are (features, steps, rows) unless said otherwise, rows
// padded to kRecurrentLanes; the gates of a cell are stacked along the features in Keras's
// order (GRU: z, r, h; LSTM: i, f, c, o).
template <typename T>
struct RecurrentPass {
  RecurrentCell cell = RecurrentCell::gru;
  int64_t units = 0, steps = 0, rows = 0;
  Activation f = Activation::tanh, rf = Activation::logistic;
  const T* recurrent = nullptr;  // recurrent_kernel (units, gates * units)
  const T* bias = nullptr;       // (gates * units) added to the input projections, or null
  const T* rbias = nullptr;      // GRU reset_after: the recurrent bias (3 * units), or null
  T* g = nullptr;      // (gates * units): x_t @ kernel (forward); d loss / d pre-activations
                       // (backward; what the weight gradients are made of)
  T* h = nullptr;      // (units, steps + 1, rows): h[:, 0] is the initial state (zeros)
  T* c = nullptr;      // LSTM: the cell states (units, steps + 1, rows)
  T* gates = nullptr;  // (gates * units): the gates after their activations
  T* aux = nullptr;    // (units): GRU reset_after: h_{t-1} @ U_h + b_h; reset before:
                       // r * h_{t-1}; LSTM: activation(c_t)
  T* e = nullptr;      // GRU reset_after, backward: r * d pre-activation of the candidate
  T* dh = nullptr;     // (units, rows): d loss / d h_t, running backward through the steps
  T* dc = nullptr;     // LSTM: d loss / d c_t, the same way
  const T* dy = nullptr;  // (units): d loss / d h_t from the layer's output, or null

  int64_t ld() const { return steps * rows; }        // between features of a buffer
  int64_t ld_h() const { return (steps + 1) * rows; }  // between features of h and c
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

// ---- the products over all steps (layers/recurrent_products.cpp), for skinny shapes

// c (m, n) (+)= a (m, K) @ b (n, K)^T: rows of a (stride lda) dotted with rows of b (ldb);
// K a multiple of kRecurrentLanes. accumulate: add to c instead of overwriting it.
template <typename T>
void rows_dot_rows(T* c, int64_t ldc, const T* a, int64_t lda, const T* b, int64_t ldb,
                   int64_t m, int64_t n, int64_t K, bool accumulate);
// c (m, N) = A (m, k) @ b (k, N), A(i, j) = a[i * ar + j * ac]; N a multiple of
// kRecurrentLanes.
template <typename T>
void combine_rows(T* c, int64_t ldc, const T* a, int64_t ar, int64_t ac, const T* b,
                  int64_t ldb, int64_t m, int64_t k, int64_t N);

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
#define FASTMLP_ACTIVATE(F)                                                   \
  case Activation::F:                                                         \
    _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) v[i] = activation_value<Activation::F>(v[i]); \
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
