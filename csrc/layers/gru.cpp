// The GRU cell, Keras's two variants (the layer itself: layers/recurrent.cpp):
//   z = rf(x W_z + b_z + h U_z + b'_z)      r = rf(x W_r + b_r + h U_r + b'_r)
//   reset_after=True (Keras's default, PyTorch's and cuDNN's GRU; b' the recurrent bias):
//     hh = f(x W_h + b_h + r * (h U_h + b'_h))
//   reset_after=False (the 2014 paper's; one bias, no b'):
//     hh = f(x W_h + b_h + (r * h) U_h)
//   h_t = z * h_{t-1} + (1 - z) * hh
// with f = tanh and rf = sigmoid by default. The step kernels run on blocks of rows in the
// (feature, step, row) layout of layers/recurrent.h, x W already done for all steps; the
// oracles below run one sample by the formulas.
// Tested in tests/test_layers_recurrent.py (oracle, numpy, PyTorch, finite differences).
#include <algorithm>

#include "common/simd_clones.h"
#include "layers/recurrent.h"

namespace fastmlp {

namespace {

template <typename T>
FASTMLP_SIMD_CLONES void gru_forward_blocks(const RecurrentPass<T>& p, int64_t t, int64_t b0,
                                            int64_t b1) {
  constexpr int64_t B = kRecurrentLanes<T>;
  const int64_t u = p.units, G = 3 * u, ld = p.ld(), ldh = p.ld_h();
  const bool after = p.cell == RecurrentCell::gru;
  const T* U = p.recurrent;
  for (int64_t blk = b0; blk < b1; ++blk) {
    const int64_t at = t * p.rows + blk * B;  // step t, the block's first row
    const T* hp = p.h + at;                   // h_{t-1}; feature k at hp + k * ldh
    T* hn = p.h + at + p.rows;                // h_t
    const T* gx = p.g + at;
    T* gt = p.gates + at;
    T* aux = p.aux + at;
    // z, r = rf(x W + b + h U + b'), each accumulator one vector of rows across k.
    for (int64_t c = 0; c < 2 * u; ++c) {
      const T bc = (p.bias ? p.bias[c] : T(0)) + (p.rbias ? p.rbias[c] : T(0));
      T acc[B];
#pragma omp simd
      for (int64_t b = 0; b < B; ++b) acc[b] = gx[c * ld + b] + bc;
      for (int64_t k = 0; k < u; ++k) {
        const T w = U[k * G + c];
        const T* hk = hp + k * ldh;
#pragma omp simd
        for (int64_t b = 0; b < B; ++b) acc[b] += w * hk[b];
      }
      activate_lanes(p.rf, acc, B);
#pragma omp simd
      for (int64_t b = 0; b < B; ++b) gt[c * ld + b] = acc[b];
    }
    // aux: h U_h + b'_h (reset after), or r * h (reset before): what the candidate reads.
    for (int64_t j = 0; j < u; ++j) {
      T* aj = aux + j * ld;
      if (after) {
        const int64_t c = 2 * u + j;
        T acc[B];
        const T bc = p.rbias ? p.rbias[c] : T(0);
#pragma omp simd
        for (int64_t b = 0; b < B; ++b) acc[b] = bc;
        for (int64_t k = 0; k < u; ++k) {
          const T w = U[k * G + c];
          const T* hk = hp + k * ldh;
#pragma omp simd
          for (int64_t b = 0; b < B; ++b) acc[b] += w * hk[b];
        }
#pragma omp simd
        for (int64_t b = 0; b < B; ++b) aj[b] = acc[b];
      } else {
        const T* r = gt + (u + j) * ld;
        const T* hj = hp + j * ldh;
#pragma omp simd
        for (int64_t b = 0; b < B; ++b) aj[b] = r[b] * hj[b];
      }
    }
    // hh = f(x W_h + b_h + r * aux) or f(x W_h + b_h + aux U_h); h = z h_{t-1} + (1 - z) hh
    for (int64_t j = 0; j < u; ++j) {
      const int64_t c = 2 * u + j;
      const T bc = p.bias ? p.bias[c] : T(0);
      T acc[B];
      if (after) {
        const T* r = gt + (u + j) * ld;
        const T* aj = aux + j * ld;
#pragma omp simd
        for (int64_t b = 0; b < B; ++b) acc[b] = gx[c * ld + b] + bc + r[b] * aj[b];
      } else {
#pragma omp simd
        for (int64_t b = 0; b < B; ++b) acc[b] = gx[c * ld + b] + bc;
        for (int64_t k = 0; k < u; ++k) {
          const T w = U[k * G + c];
          const T* ak = aux + k * ld;
#pragma omp simd
          for (int64_t b = 0; b < B; ++b) acc[b] += w * ak[b];
        }
      }
      activate_lanes(p.f, acc, B);
      const T* z = gt + j * ld;
      const T* hj = hp + j * ldh;
#pragma omp simd
      for (int64_t b = 0; b < B; ++b) {
        gt[c * ld + b] = acc[b];
        hn[j * ldh + b] = z[b] * hj[b] + (T(1) - z[b]) * acc[b];
      }
    }
  }
}

// From dh = d loss / d h_t (plus the output's dy_t): the pre-activations' gradients into g
// (and e), and dh becomes d loss / d h_{t-1}.
template <typename T>
FASTMLP_SIMD_CLONES void gru_backward_blocks(const RecurrentPass<T>& p, int64_t t, int64_t b0,
                                             int64_t b1) {
  constexpr int64_t B = kRecurrentLanes<T>;
  const int64_t u = p.units, G = 3 * u, ld = p.ld(), ldh = p.ld_h();
  const bool after = p.cell == RecurrentCell::gru;
  const T* U = p.recurrent;
  for (int64_t blk = b0; blk < b1; ++blk) {
    const int64_t at = t * p.rows + blk * B;
    const T* hp = p.h + at;
    const T* gt = p.gates + at;
    const T* aux = p.aux + at;
    T* g = p.g + at;
    T* e = after ? p.e + at : nullptr;
    T* dh = p.dh + blk * B;  // feature j at dh + j * rows
    for (int64_t j = 0; j < u; ++j) {
      T* dhj = dh + j * p.rows;
      if (p.dy) {
        const T* dyj = p.dy + j * ld + at;
#pragma omp simd
        for (int64_t b = 0; b < B; ++b) dhj[b] += dyj[b];
      }
      const T* z = gt + j * ld;
      const T* r = gt + (u + j) * ld;
      const T* hh = gt + (2 * u + j) * ld;
      const T* hj = hp + j * ldh;
      T dz[B], dhh[B];
#pragma omp simd
      for (int64_t b = 0; b < B; ++b) {
        dz[b] = dhj[b] * (hj[b] - hh[b]);
        dhh[b] = dhj[b] * (T(1) - z[b]);
      }
      derive_lanes(p.rf, dz, z, B);
      derive_lanes(p.f, dhh, hh, B);
#pragma omp simd
      for (int64_t b = 0; b < B; ++b) {
        g[j * ld + b] = dz[b];
        g[(2 * u + j) * ld + b] = dhh[b];
        dhj[b] *= z[b];  // the direct path h_t <- z h_{t-1}
      }
      if (after) {
        const T* aj = aux + j * ld;
        T dr[B];
#pragma omp simd
        for (int64_t b = 0; b < B; ++b) dr[b] = dhh[b] * aj[b];
        derive_lanes(p.rf, dr, r, B);
#pragma omp simd
        for (int64_t b = 0; b < B; ++b) {
          g[(u + j) * ld + b] = dr[b];
          e[j * ld + b] = dhh[b] * r[b];
        }
      }
    }
    if (!after) {
      // d(r h) = dhh U_h^T: into r's gradient and, through r h, into dh.
      for (int64_t k = 0; k < u; ++k) {
        T drh[B] = {};
        for (int64_t j = 0; j < u; ++j) {
          const T w = U[k * G + 2 * u + j];
          const T* dj = g + (2 * u + j) * ld;
#pragma omp simd
          for (int64_t b = 0; b < B; ++b) drh[b] += w * dj[b];
        }
        const T* r = gt + (u + k) * ld;
        const T* hk = hp + k * ldh;
        T dr[B];
#pragma omp simd
        for (int64_t b = 0; b < B; ++b) dr[b] = drh[b] * hk[b];
        derive_lanes(p.rf, dr, r, B);
        T* dhk = dh + k * p.rows;
#pragma omp simd
        for (int64_t b = 0; b < B; ++b) {
          g[(u + k) * ld + b] = dr[b];
          dhk[b] += drh[b] * r[b];
        }
      }
    }
    // dh_{t-1} += [dz, dr, e or -] U^T: what the recurrent products pass back.
    const int64_t through = after ? G : 2 * u;
    for (int64_t k = 0; k < u; ++k) {
      T* dhk = dh + k * p.rows;
      T acc[B];
#pragma omp simd
      for (int64_t b = 0; b < B; ++b) acc[b] = dhk[b];
      for (int64_t c = 0; c < through; ++c) {
        const T w = U[k * G + c];
        const T* dc = c < 2 * u ? g + c * ld : e + (c - 2 * u) * ld;
#pragma omp simd
        for (int64_t b = 0; b < B; ++b) acc[b] += w * dc[b];
      }
#pragma omp simd
      for (int64_t b = 0; b < B; ++b) dhk[b] = acc[b];
    }
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
