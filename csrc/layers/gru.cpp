// The GRU cell, Keras's two variants (the layer itself: layers/recurrent.cpp):
//   z = rf(x W_z + b_z + h U_z + b'_z)      r = rf(x W_r + b_r + h U_r + b'_r)
//   reset_after=True (Keras's default, PyTorch's and cuDNN's GRU; b' the recurrent bias):
//     hh = f(x W_h + b_h + r * (h U_h + b'_h))
//   reset_after=False (the 2014 paper's; one bias, no b'):
//     hh = f(x W_h + b_h + (r * h) U_h)
//   h_t = z * h_{t-1} + (1 - z) * hh
// with f = tanh and rf = sigmoid by default. The step kernels run on blocks of rows in the
// blocked layout of layers/recurrent.h, x W already done for all steps; the oracles below
// run one sample by the formulas.
// Tested in tests/test_layers_recurrent.py (oracle, numpy, PyTorch, finite differences).
#include <algorithm>

#include "common/simd_clones.h"
#include "layers/recurrent.h"

namespace fastmlp {

namespace {

template <typename T>
FASTMLP_SIMD_CLONES void gru_forward_blocks(const RecurrentPass<T>& p, int64_t t, int64_t b0,
                                            int64_t b1) {
  using P = RecurrentPass<T>;
  constexpr int64_t B = P::L;
  const int64_t u = p.units, G = 3 * u, S = p.steps, span = u * B;
  const bool after = p.cell == RecurrentCell::gru;
  const T* U = p.recurrent;
  for (int64_t blk = b0; blk < b1; ++blk) {
    const T* hp = P::chunk(p.h, u, S + 1, blk, t);  // h_{t-1}; feature k at hp + k * B
    T* hn = P::chunk(p.h, u, S + 1, blk, t + 1);    // h_t
    const T* gx = P::chunk(p.g, G, S, blk, t);      // x_t W
    T* gt = P::chunk(p.gates, G, S, blk, t);        // z, r, hh
    T* aux = P::chunk(p.aux, u, S, blk, t);
    T* z = gt;
    T* r = gt + span;
    T* hh = gt + 2 * span;
    // z, r = rf(x W + b + h U + b')
    for (int64_t c = 0; c < 2 * u; ++c) {
      const T bc = (p.bias ? p.bias[c] : T(0)) + (p.rbias ? p.rbias[c] : T(0));
#pragma omp simd
      for (int64_t b = 0; b < B; ++b) gt[c * B + b] = gx[c * B + b] + bc;
    }
    add_matvec(gt, U, G, 1, hp, u, 2 * u);
    activate_span(p.rf, gt, 2 * span);
    // hh = f(x W_h + b_h + r * (h U_h + b'_h))  [aux = h U_h + b'_h], or
    //      f(x W_h + b_h + (r * h) U_h)          [aux = r * h]
    for (int64_t j = 0; j < u; ++j) {
      const T bc = p.bias ? p.bias[2 * u + j] : T(0), rb = p.rbias ? p.rbias[2 * u + j] : T(0);
#pragma omp simd
      for (int64_t b = 0; b < B; ++b) {
        hh[j * B + b] = gx[(2 * u + j) * B + b] + bc;
        aux[j * B + b] = after ? rb : r[j * B + b] * hp[j * B + b];
      }
    }
    if (after) {
      add_matvec(aux, U + 2 * u, G, 1, hp, u, u);
#pragma omp simd
      for (int64_t i = 0; i < span; ++i) hh[i] += r[i] * aux[i];
    } else {
      add_matvec(hh, U + 2 * u, G, 1, aux, u, u);
    }
    activate_span(p.f, hh, span);
    // h = z h_{t-1} + (1 - z) hh
#pragma omp simd
    for (int64_t i = 0; i < span; ++i) hn[i] = z[i] * hp[i] + (T(1) - z[i]) * hh[i];
  }
}

// From dh = d loss / d h_t (plus the output's dy_t): the pre-activations' gradients into g
// (and e), and dh becomes d loss / d h_{t-1}.
template <typename T>
FASTMLP_SIMD_CLONES void gru_backward_blocks(const RecurrentPass<T>& p, int64_t t, int64_t b0,
                                             int64_t b1) {
  using P = RecurrentPass<T>;
  constexpr int64_t B = P::L;
  const int64_t u = p.units, G = 3 * u, S = p.steps, span = u * B;
  const bool after = p.cell == RecurrentCell::gru;
  const T* U = p.recurrent;
  for (int64_t blk = b0; blk < b1; ++blk) {
    const T* hp = P::chunk(p.h, u, S + 1, blk, t);
    const T* gt = P::chunk(p.gates, G, S, blk, t);
    const T* z = gt;
    const T* r = gt + span;
    const T* hh = gt + 2 * span;
    const T* aux = P::chunk(p.aux, u, S, blk, t);
    T* dz = P::chunk(p.g, G, S, blk, t);  // d loss / d pre-activations of z, r, hh
    T* dr = dz + span;
    T* dhh = dz + 2 * span;
    T* dh = P::chunk(p.dh, u, 1, blk, 0);
    if (p.dy) {
      const T* dy = P::chunk(p.dy, u, S, blk, t);
#pragma omp simd
      for (int64_t i = 0; i < span; ++i) dh[i] += dy[i];
    }
#pragma omp simd
    for (int64_t i = 0; i < span; ++i) {
      dz[i] = dh[i] * (hp[i] - hh[i]);
      dhh[i] = dh[i] * (T(1) - z[i]);
      dh[i] *= z[i];  // the direct path h_t <- z h_{t-1}
    }
    derive_span(p.rf, dz, z, span);
    derive_span(p.f, dhh, hh, span);
    if (after) {
      T* e = P::chunk(p.e, u, S, blk, t);  // what h U_h + b'_h received: r dhh
#pragma omp simd
      for (int64_t i = 0; i < span; ++i) {
        dr[i] = dhh[i] * aux[i];
        e[i] = dhh[i] * r[i];
      }
      derive_span(p.rf, dr, r, span);
      add_matvec(dh, U + 2 * u, 1, G, e, u, u);  // dh_{t-1} += e U_h^T
    } else {
      // d(r h) = dhh U_h^T: into r's gradient and, through r h, into dh.
      T* drh = P::chunk(p.scratch, u, 1, blk, 0);
      std::fill_n(drh, span, T(0));
      add_matvec(drh, U + 2 * u, 1, G, dhh, u, u);
#pragma omp simd
      for (int64_t i = 0; i < span; ++i) {
        dr[i] = drh[i] * hp[i];
        dh[i] += drh[i] * r[i];
      }
      derive_span(p.rf, dr, r, span);
    }
    add_matvec(dh, U, 1, G, dz, 2 * u, u);  // dh_{t-1} += [dz, dr] [U_z, U_r]^T
  }
}

}  // namespace

template <typename T>
void gru_forward_step(const RecurrentPass<T>& p, int64_t t, int64_t b0, int64_t b1) {
  gru_forward_blocks(p, t, b0, b1);
}

template <typename T>
void gru_backward_step(const RecurrentPass<T>& p, int64_t t, int64_t b0, int64_t b1) {
  gru_backward_blocks(p, t, b0, b1);
}

// ---- the oracle

namespace {

// The pre-activations of one step: xw = x W + b, hw = h U + b' (reset after: all gates;
// reset before: z and r only), z and r; the candidate hh, and rh = r * h (reset before).
template <typename T>
struct GruStep {
  T *xw, *hw, *z, *r, *hh, *rh;
};

template <typename T>
void gru_step_reference(const RecurrentShape& s, const RecurrentWeights<T>& w, const GruStep<T>& v,
                        const T* xt, const T* hp) {
  const int64_t u = s.units, G = 3 * u;
  const bool after = s.cell == RecurrentCell::gru;
  for (int64_t c = 0; c < G; ++c) {
    v.xw[c] = w.bias ? w.bias[c] : T(0);
    for (int64_t k = 0; k < s.inputs; ++k) v.xw[c] += xt[k] * w.kernel[k * G + c];
    v.hw[c] = w.rbias ? w.rbias[c] : T(0);
    if (c < 2 * u || after)
      for (int64_t k = 0; k < u; ++k) v.hw[c] += hp[k] * w.recurrent[k * G + c];
  }
  for (int64_t j = 0; j < u; ++j) {
    v.z[j] = activate_one(s.rf, v.xw[j] + v.hw[j]);
    v.r[j] = activate_one(s.rf, v.xw[u + j] + v.hw[u + j]);
    v.rh[j] = v.r[j] * hp[j];
  }
  for (int64_t j = 0; j < u; ++j) {
    T a = v.xw[2 * u + j];
    if (after) {
      a += v.r[j] * v.hw[2 * u + j];
    } else {
      for (int64_t k = 0; k < u; ++k) a += v.rh[k] * w.recurrent[k * G + 2 * u + j];
    }
    v.hh[j] = activate_one(s.f, a);
  }
}

template <typename T>
GruStep<T> gru_scratch(T* scratch, int64_t u) {
  return {scratch, scratch + 3 * u, scratch + 6 * u, scratch + 7 * u, scratch + 8 * u,
          scratch + 9 * u};
}

}  // namespace

template <typename T>
void gru_forward_reference(const RecurrentShape& s, const RecurrentWeights<T>& w, T* y, T* hs,
                           const T* x, T* scratch) {
  const int64_t u = s.units, T_ = s.steps;
  const GruStep<T> v = gru_scratch(scratch, u);
  std::fill(hs, hs + u, T(0));
  for (int64_t q = 0; q < T_; ++q) {
    const int64_t t = s.go_backwards ? T_ - 1 - q : q;
    const T* hp = hs + q * u;
    T* h = hs + (q + 1) * u;
    gru_step_reference(s, w, v, x + t * s.inputs, hp);
    for (int64_t j = 0; j < u; ++j) h[j] = v.z[j] * hp[j] + (T(1) - v.z[j]) * v.hh[j];
    if (s.return_sequences) std::copy(h, h + u, y + q * u);
  }
  if (!s.return_sequences) std::copy(hs + T_ * u, hs + (T_ + 1) * u, y);
}

template <typename T>
void gru_backward_reference(const RecurrentShape& s, const RecurrentWeights<T>& w,
                            const RecurrentGrads<T>& g, T* dx, const T* dy, const T* x,
                            const T* hs, T* scratch) {
  const int64_t u = s.units, G = 3 * u, d = s.inputs, T_ = s.steps;
  const bool after = s.cell == RecurrentCell::gru;
  const GruStep<T> v = gru_scratch(scratch, u);
  T* dxw = scratch + 10 * u;  // (3u) d loss / d (x W + b)
  T* dhw = dxw + G;           // (3u) d loss / d (h U + b'), reset after
  T* dh = dhw + G;            // (u)
  T* drh = dh + u;            // (u) d loss / d (r h), reset before
  T* dnew = drh + u;          // (u) d loss / d h_{t-1}
  std::fill(dh, dh + u, T(0));
  for (int64_t q = T_ - 1; q >= 0; --q) {
    const int64_t t = s.go_backwards ? T_ - 1 - q : q;
    const T* xt = x + t * d;
    const T* hp = hs + q * u;
    if (s.return_sequences) {
      for (int64_t j = 0; j < u; ++j) dh[j] += dy[q * u + j];
    } else if (q == T_ - 1) {
      for (int64_t j = 0; j < u; ++j) dh[j] += dy[j];
    }
    gru_step_reference(s, w, v, xt, hp);
    for (int64_t j = 0; j < u; ++j) {
      dxw[j] = derive_one(s.rf, dh[j] * (hp[j] - v.hh[j]), v.z[j]);
      dxw[2 * u + j] = derive_one(s.f, dh[j] * (T(1) - v.z[j]), v.hh[j]);
    }
    if (after) {
      for (int64_t j = 0; j < u; ++j) {
        dxw[u + j] = derive_one(s.rf, dxw[2 * u + j] * v.hw[2 * u + j], v.r[j]);
        dhw[j] = dxw[j];
        dhw[u + j] = dxw[u + j];
        dhw[2 * u + j] = dxw[2 * u + j] * v.r[j];
      }
    } else {
      for (int64_t k = 0; k < u; ++k) {
        drh[k] = 0;
        for (int64_t j = 0; j < u; ++j) drh[k] += w.recurrent[k * G + 2 * u + j] * dxw[2 * u + j];
        dxw[u + k] = derive_one(s.rf, drh[k] * hp[k], v.r[k]);
      }
    }
    // Parameter gradients of this step.
    for (int64_t k = 0; k < d; ++k)
      for (int64_t c = 0; c < G; ++c) g.kernel[k * G + c] += xt[k] * dxw[c];
    if (g.bias)
      for (int64_t c = 0; c < G; ++c) g.bias[c] += dxw[c];
    for (int64_t k = 0; k < u; ++k)
      for (int64_t c = 0; c < G; ++c)
        g.recurrent[k * G + c] += after ? hp[k] * dhw[c]
                                        : (c < 2 * u ? hp[k] * dxw[c] : v.rh[k] * dxw[c]);
    if (g.rbias)
      for (int64_t c = 0; c < G; ++c) g.rbias[c] += dhw[c];
    if (dx)
      for (int64_t k = 0; k < d; ++k) {
        T a = 0;
        for (int64_t c = 0; c < G; ++c) a += w.kernel[k * G + c] * dxw[c];
        dx[t * d + k] = a;
      }
    // dh_{t-1}
    for (int64_t k = 0; k < u; ++k) {
      T a = dh[k] * v.z[k];
      if (after) {
        for (int64_t c = 0; c < G; ++c) a += w.recurrent[k * G + c] * dhw[c];
      } else {
        a += drh[k] * v.r[k];
        for (int64_t c = 0; c < 2 * u; ++c) a += w.recurrent[k * G + c] * dxw[c];
      }
      dnew[k] = a;
    }
    std::copy(dnew, dnew + u, dh);
  }
}

#define FASTMLP_GRU(T)                                                                      \
  template void gru_forward_step<T>(const RecurrentPass<T>&, int64_t, int64_t, int64_t);    \
  template void gru_backward_step<T>(const RecurrentPass<T>&, int64_t, int64_t, int64_t);   \
  template void gru_forward_reference<T>(const RecurrentShape&, const RecurrentWeights<T>&, \
                                         T*, T*, const T*, T*);                             \
  template void gru_backward_reference<T>(const RecurrentShape&, const RecurrentWeights<T>&, \
                                          const RecurrentGrads<T>&, T*, const T*, const T*,  \
                                          const T*, T*);
FASTMLP_GRU(float)
FASTMLP_GRU(double)
#undef FASTMLP_GRU

}  // namespace fastmlp
