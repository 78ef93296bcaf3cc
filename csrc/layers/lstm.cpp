// The LSTM cell, as Keras's (the layer itself: layers/recurrent.cpp):
//   i = rf(x W_i + h U_i + b_i)   f = rf(x W_f + h U_f + b_f)
//   g = f_act(x W_c + h U_c + b_c)   o = rf(x W_o + h U_o + b_o)
//   c_t = f * c_{t-1} + i * g       h_t = o * f_act(c_t)
// with f_act = tanh and rf = sigmoid by default (unit_forget_bias: b_f starts at 1, drawn
// in Python). The step kernels run on blocks of rows in the blocked layout of
// layers/recurrent.h, x W already done for all steps; the oracles run one sample.
// Tested in tests/test_layers_recurrent.py (oracle, numpy, PyTorch, finite differences).
#include <algorithm>

#include "common/simd_clones.h"
#include "layers/recurrent.h"

namespace fastmlp {

namespace {

template <typename T>
FASTMLP_SIMD_CLONES void lstm_forward_blocks(const RecurrentPass<T>& p, int64_t t, int64_t b0,
                                             int64_t b1) {
  using P = RecurrentPass<T>;
  constexpr int64_t B = P::L;
  const int64_t u = p.units, G = 4 * u, S = p.steps, span = u * B;
  const T* U = p.recurrent;
  for (int64_t blk = b0; blk < b1; ++blk) {
    const T* hp = P::chunk(p.h, u, S + 1, blk, t);
    const T* cp = P::chunk(p.c, u, S + 1, blk, t);
    T* hn = P::chunk(p.h, u, S + 1, blk, t + 1);
    T* cn = P::chunk(p.c, u, S + 1, blk, t + 1);
    const T* gx = P::chunk(p.g, G, S, blk, t);
    T* gt = P::chunk(p.gates, G, S, blk, t);  // i, f, g, o
    T* a = P::chunk(p.aux, u, S, blk, t);     // f_act(c_t)
    for (int64_t c = 0; c < G; ++c) {
      const T bc = p.bias ? p.bias[c] : T(0);
#pragma omp simd
      for (int64_t b = 0; b < B; ++b) gt[c * B + b] = gx[c * B + b] + bc;
    }
    add_matvec(gt, U, G, 1, hp, u, G);
    activate_span(p.rf, gt, 2 * span);
    activate_span(p.f, gt + 2 * span, span);
    activate_span(p.rf, gt + 3 * span, span);
    const T* i = gt;
    const T* f = gt + span;
    const T* g = gt + 2 * span;
    const T* o = gt + 3 * span;
#pragma omp simd
    for (int64_t k = 0; k < span; ++k) cn[k] = a[k] = f[k] * cp[k] + i[k] * g[k];
    activate_span(p.f, a, span);
#pragma omp simd
    for (int64_t k = 0; k < span; ++k) hn[k] = o[k] * a[k];
  }
}

// From dh, dc = d loss / d h_t, c_t (plus the output's dy_t): the pre-activations' gradients
// into g, and dh, dc become d loss / d h_{t-1}, c_{t-1}.
template <typename T>
FASTMLP_SIMD_CLONES void lstm_backward_blocks(const RecurrentPass<T>& p, int64_t t, int64_t b0,
                                              int64_t b1) {
  using P = RecurrentPass<T>;
  constexpr int64_t B = P::L;
  const int64_t u = p.units, G = 4 * u, S = p.steps, span = u * B;
  const T* U = p.recurrent;
  for (int64_t blk = b0; blk < b1; ++blk) {
    const T* gt = P::chunk(p.gates, G, S, blk, t);
    const T* i = gt;
    const T* f = gt + span;
    const T* g = gt + 2 * span;
    const T* o = gt + 3 * span;
    const T* a = P::chunk(p.aux, u, S, blk, t);
    const T* cp = P::chunk(p.c, u, S + 1, blk, t);
    T* di = P::chunk(p.g, G, S, blk, t);
    T* df = di + span;
    T* dg = di + 2 * span;
    T* dov = di + 3 * span;
    T* dh = P::chunk(p.dh, u, 1, blk, 0);
    T* dc = P::chunk(p.dc, u, 1, blk, 0);
    if (p.dy) {
      const T* dy = P::chunk(p.dy, u, S, blk, t);
#pragma omp simd
      for (int64_t k = 0; k < span; ++k) dh[k] += dy[k];
    }
    // dc_t += dh o f_act'(c_t); di's room holds dh o until then.
#pragma omp simd
    for (int64_t k = 0; k < span; ++k) {
      di[k] = dh[k] * o[k];
      dov[k] = dh[k] * a[k];
    }
    derive_span(p.f, di, a, span);
#pragma omp simd
    for (int64_t k = 0; k < span; ++k) {
      const T d = dc[k] + di[k];
      di[k] = d * g[k];
      df[k] = d * cp[k];
      dg[k] = d * i[k];
      dc[k] = d * f[k];  // d loss / d c_{t-1}
      dh[k] = T(0);
    }
    derive_span(p.rf, di, i, 2 * span);  // i and f
    derive_span(p.f, dg, g, span);
    derive_span(p.rf, dov, o, span);
    add_matvec(dh, U, 1, G, di, G, u);  // dh_{t-1} = [di, df, dg, do] U^T
  }
}

}  // namespace

template <typename T>
void lstm_forward_step(const RecurrentPass<T>& p, int64_t t, int64_t b0, int64_t b1) {
  lstm_forward_blocks(p, t, b0, b1);
}

template <typename T>
void lstm_backward_step(const RecurrentPass<T>& p, int64_t t, int64_t b0, int64_t b1) {
  lstm_backward_blocks(p, t, b0, b1);
}

// ---- the oracle

namespace {

// gates (4u) = the activated i, f, g, o of one step.
template <typename T>
void lstm_gates_reference(const RecurrentShape& s, const RecurrentWeights<T>& w, T* gates,
                          const T* xt, const T* hp) {
  const int64_t u = s.units, G = 4 * u;
  for (int64_t c = 0; c < G; ++c) {
    T a = w.bias ? w.bias[c] : T(0);
    for (int64_t k = 0; k < s.inputs; ++k) a += xt[k] * w.kernel[k * G + c];
    for (int64_t k = 0; k < u; ++k) a += hp[k] * w.recurrent[k * G + c];
    gates[c] = activate_one(c >= 2 * u && c < 3 * u ? s.f : s.rf, a);
  }
}

}  // namespace

template <typename T>
void lstm_forward_reference(const RecurrentShape& s, const RecurrentWeights<T>& w, T* y, T* hs,
                            T* cs, const T* x, T* scratch) {
  const int64_t u = s.units, T_ = s.steps;
  T* gates = scratch;
  std::fill(hs, hs + u, T(0));
  std::fill(cs, cs + u, T(0));
  for (int64_t q = 0; q < T_; ++q) {
    const int64_t t = s.go_backwards ? T_ - 1 - q : q;
    lstm_gates_reference(s, w, gates, x + t * s.inputs, hs + q * u);
    for (int64_t j = 0; j < u; ++j) {
      const T c = gates[u + j] * cs[q * u + j] + gates[j] * gates[2 * u + j];
      cs[(q + 1) * u + j] = c;
      hs[(q + 1) * u + j] = gates[3 * u + j] * activate_one(s.f, c);
    }
    if (s.return_sequences) std::copy(hs + (q + 1) * u, hs + (q + 2) * u, y + q * u);
  }
  if (!s.return_sequences) std::copy(hs + T_ * u, hs + (T_ + 1) * u, y);
}

template <typename T>
void lstm_backward_reference(const RecurrentShape& s, const RecurrentWeights<T>& w,
                             const RecurrentGrads<T>& g, T* dx, const T* dy, const T* x,
                             const T* hs, const T* cs, T* scratch) {
  const int64_t u = s.units, G = 4 * u, d = s.inputs, T_ = s.steps;
  T* gates = scratch;  // (4u)
  T* da = gates + G;   // (4u) d loss / d pre-activations
  T* dh = da + G;      // (u)
  T* dc = dh + u;      // (u)
  std::fill(dh, dh + 2 * u, T(0));
  for (int64_t q = T_ - 1; q >= 0; --q) {
    const int64_t t = s.go_backwards ? T_ - 1 - q : q;
    const T* xt = x + t * d;
    const T* hp = hs + q * u;
    if (s.return_sequences) {
      for (int64_t j = 0; j < u; ++j) dh[j] += dy[q * u + j];
    } else if (q == T_ - 1) {
      for (int64_t j = 0; j < u; ++j) dh[j] += dy[j];
    }
    lstm_gates_reference(s, w, gates, xt, hp);
    for (int64_t j = 0; j < u; ++j) {
      const T i = gates[j], f = gates[u + j], gg = gates[2 * u + j], o = gates[3 * u + j];
      const T a = activate_one(s.f, cs[(q + 1) * u + j]);
      const T dct = dc[j] + derive_one(s.f, dh[j] * o, a);
      da[j] = derive_one(s.rf, dct * gg, i);
      da[u + j] = derive_one(s.rf, dct * cs[q * u + j], f);
      da[2 * u + j] = derive_one(s.f, dct * i, gg);
      da[3 * u + j] = derive_one(s.rf, dh[j] * a, o);
      dc[j] = dct * f;
    }
    for (int64_t k = 0; k < d; ++k)
      for (int64_t c = 0; c < G; ++c) g.kernel[k * G + c] += xt[k] * da[c];
    for (int64_t k = 0; k < u; ++k)
      for (int64_t c = 0; c < G; ++c) g.recurrent[k * G + c] += hp[k] * da[c];
    if (g.bias)
      for (int64_t c = 0; c < G; ++c) g.bias[c] += da[c];
    if (dx)
      for (int64_t k = 0; k < d; ++k) {
        T a = 0;
        for (int64_t c = 0; c < G; ++c) a += w.kernel[k * G + c] * da[c];
        dx[t * d + k] = a;
      }
    for (int64_t k = 0; k < u; ++k) {
      T a = 0;
      for (int64_t c = 0; c < G; ++c) a += w.recurrent[k * G + c] * da[c];
      dh[k] = a;
    }
  }
}

#define FASTMLP_LSTM(T)                                                                      \
  template void lstm_forward_step<T>(const RecurrentPass<T>&, int64_t, int64_t, int64_t);    \
  template void lstm_backward_step<T>(const RecurrentPass<T>&, int64_t, int64_t, int64_t);   \
  template void lstm_forward_reference<T>(const RecurrentShape&, const RecurrentWeights<T>&, \
                                          T*, T*, T*, const T*, T*);                         \
  template void lstm_backward_reference<T>(const RecurrentShape&,                            \
                                           const RecurrentWeights<T>&,                       \
                                           const RecurrentGrads<T>&, T*, const T*, const T*, \
                                           const T*, const T*, T*);
FASTMLP_LSTM(float)
FASTMLP_LSTM(double)
#undef FASTMLP_LSTM

}  // namespace fastmlp
