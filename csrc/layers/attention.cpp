// MultiHeadAttention(num_heads, key_dim, value_dim=key_dim, dropout=0, use_bias=True,
// causal=False): self-attention over (steps, features), as Keras's MultiHeadAttention
// called with query = value = key = x (and use_causal_mask=causal):
//   Q = x Wq + bq, K = x Wk + bk, V = x Wv + bv     (steps, heads, key_dim / value_dim)
//   P_h = softmax(Q_h K_h^T / sqrt(key_dim))        (steps, steps) per head, row by row;
//                                                   causal: step i sees steps <= i only
//   O_h = dropout(P_h) V_h,  y = O Wo + bo         (steps, features)
// Keras's weight shapes: query/kernel (features, heads, key_dim), query/bias (heads,
// key_dim), ..., attention_output/kernel (heads, value_dim, features).
//
// The projections run over all n*steps tokens at once on our GEMM (Q, K and V as one
// product on the three kernels side by side). The attention itself is one task per
// (sample, head): small products by a register-blocked kernel (small_matmul below: rows
// of C in blocks of 6, columns in whole SIMD vectors, built per SIMD width) on score rows
// padded to a multiple of 16, K and V transposed through registers, and a numerically
// stable softmax (maximum subtracted, causal entries zero) fused with the scaling. Tasks
// are independent and write disjoint outputs, so nothing depends on the thread count;
// networks with attention prefer the engine's row slices (one core per half batch).
// impl="reference" runs naive loops instead: the oracle the fast path is tested against.
// The dropout masks of the attention weights are those of Dropout (nn/dropout_math.h):
// unit (head, i, j) of data row r.
// Tested in tests/test_layers_attention.py (reference and numpy oracles, finite
// differences with and without causal and dropout, threads).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "common/cpu_features.h"
#include "common/parallel.h"
#include "common/simd_clones.h"
#include "layers/kinds.h"
#include "nn/dense.h"
#include "nn/dropout_math.h"
#include "nn/exp_math.h"
#include "nn/train_loop.h"

namespace fastmlp {

namespace {

// Which part of each block of rows [i, i + rows) a causal product needs: its k up to the
// block's last row (P V, dS K), its k from the block's first row (P^T dO, dS^T Q), or its
// columns up to the block's last row (Q K^T, dO V^T).
enum class Span { all, k_to_row, k_from_row, n_to_row };

// The helpers below are inlined into the SIMD builds of their callers (attend_forward,
// small_matmul, ...): called out of line they would run the baseline x86-64 build.
#define FASTMLP_ALWAYS_INLINE inline __attribute__((always_inline))

template <typename T>
constexpr int64_t kLanes = 64 / int64_t(sizeof(T));  // one AVX-512 vector
constexpr int64_t kBlockRows = 6;

// 64 bytes of T as one value (GCC/Clang vector extensions): a zmm register in the AVX-512
// build, two ymm in the AVX2 one. The compiler's own vectorizer kept the accumulators of
// the blocked loops in memory; these keep them in registers.
template <typename T>
struct Lanes {
  typedef T vec __attribute__((vector_size(64)));
};

template <typename T>
FASTMLP_ALWAYS_INLINE typename Lanes<T>::vec load_lanes(const T* p) {
  typename Lanes<T>::vec v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
FASTMLP_ALWAYS_INLINE void store_lanes(T* p, typename Lanes<T>::vec v) {
  __builtin_memcpy(p, &v, sizeof v);
}

// C (R, n) = op(A) (R, k0:k1) @ B (k0:k1, n); op(A)[r][p] = A[r lda + p], or A[p lda + r]
// with TransA. R rows of one or (wide: where 32 vector registers hold them) two vectors of
// C stay in registers across the k loop: two give the FMA units twice the independent
// chains.
template <typename T, int R, bool TransA>
FASTMLP_ALWAYS_INLINE void mm_rows(T* C, int64_t ldc, const T* A, int64_t lda, const T* B,
                                  int64_t ldb, int64_t n, int64_t k0, int64_t k1, bool wide) {
  using V = typename Lanes<T>::vec;
  constexpr int64_t W = kLanes<T>;
  int64_t j = 0;
  if (wide)
    for (; j + 2 * W <= n; j += 2 * W) {
      V lo[R], hi[R];
      for (int r = 0; r < R; ++r) lo[r] = hi[r] = V{};
      for (int64_t p = k0; p < k1; ++p) {
        const V b0 = load_lanes(B + p * ldb + j), b1 = load_lanes(B + p * ldb + j + W);
        for (int r = 0; r < R; ++r) {
          const T a = TransA ? A[p * lda + r] : A[r * lda + p];
          lo[r] += a * b0;
          hi[r] += a * b1;
        }
      }
      for (int r = 0; r < R; ++r) {
        store_lanes(C + r * ldc + j, lo[r]);
        store_lanes(C + r * ldc + j + W, hi[r]);
      }
    }
  for (; j + W <= n; j += W) {
    V acc[R];
    for (int r = 0; r < R; ++r) acc[r] = V{};
    for (int64_t p = k0; p < k1; ++p) {
      const V b = load_lanes(B + p * ldb + j);
      for (int r = 0; r < R; ++r) acc[r] += (TransA ? A[p * lda + r] : A[r * lda + p]) * b;
    }
    for (int r = 0; r < R; ++r) store_lanes(C + r * ldc + j, acc[r]);
  }
  if (j == n) return;
  const int64_t w = n - j;  // a last, partial vector of columns
  T acc[R][W] = {};
  for (int64_t p = k0; p < k1; ++p) {
    const T* b = B + p * ldb + j;
    for (int r = 0; r < R; ++r) {
      const T a = TransA ? A[p * lda + r] : A[r * lda + p];
      for (int64_t c = 0; c < w; ++c) acc[r][c] += a * b[c];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int64_t c = 0; c < w; ++c) C[r * ldc + j + c] = acc[r][c];
}

// C (m, n) = op(A) (m, k) @ B (k, n), row-major with strides; `span` skips what a causal
// product does not need (columns past a block's last row are then left unwritten).
template <typename T, bool TransA>
FASTMLP_SIMD_CLONES void small_matmul(T* C, int64_t ldc, const T* A, int64_t lda, const T* B,
                                      int64_t ldb, int64_t m, int64_t n, int64_t k, Span span,
                                      bool wide) {
  for (int64_t i = 0; i < m; i += kBlockRows) {
    const int64_t rows = std::min(kBlockRows, m - i);
    int64_t k0 = 0, k1 = k, cols = n;
    if (span == Span::k_to_row) k1 = std::min(k, i + rows);
    if (span == Span::k_from_row) k0 = i;
    if (span == Span::n_to_row)
      cols = std::min(n, (i + rows + kLanes<T> - 1) / kLanes<T> * kLanes<T>);
    const T* a = TransA ? A + i : A + i * lda;
    T* c = C + i * ldc;
    switch (rows) {
      case 6: mm_rows<T, 6, TransA>(c, ldc, a, lda, B, ldb, cols, k0, k1, wide); break;
      case 5: mm_rows<T, 5, TransA>(c, ldc, a, lda, B, ldb, cols, k0, k1, wide); break;
      case 4: mm_rows<T, 4, TransA>(c, ldc, a, lda, B, ldb, cols, k0, k1, wide); break;
      case 3: mm_rows<T, 3, TransA>(c, ldc, a, lda, B, ldb, cols, k0, k1, wide); break;
      case 2: mm_rows<T, 2, TransA>(c, ldc, a, lda, B, ldb, cols, k0, k1, wide); break;
      default: mm_rows<T, 1, TransA>(c, ldc, a, lda, B, ldb, cols, k0, k1, wide); break;
    }
  }
}

// The sizes of one layer, and where task (sample b, head h) finds its slices: Q, K and V
// share one (tokens, ld) buffer (columns [0, qk), [qk, 2 qk), [2 qk, ld)), as do their
// gradients; O and dO are (tokens, v).
struct Geometry {
  int64_t steps, padded, heads, key_dim, value_dim;
  int64_t qk, v, ld;  // heads*key_dim, heads*value_dim, 2 qk + v
  bool causal;
  bool wide;  // the small products may keep two vectors of C per row (AVX-512's 32 registers)
  int64_t visible(int64_t i) const { return causal ? i + 1 : steps; }  // keys row i sees
  int64_t scores(int64_t b, int64_t h) const { return (b * heads + h) * steps * padded; }
  int64_t query(int64_t b, int64_t h) const { return b * steps * ld + h * key_dim; }
  int64_t key(int64_t b, int64_t h) const { return query(b, h) + qk; }
  int64_t value(int64_t b, int64_t h) const { return b * steps * ld + 2 * qk + h * value_dim; }
  int64_t out(int64_t b, int64_t h) const { return b * steps * v + h * value_dim; }
};

// The dropout of the attention weights: keep(i, j) of task (b, h).
struct AttentionDropout {
  bool on = false;
  uint64_t stream = 0;
  double rate = 0;
  const int64_t* rows = nullptr;
  int64_t first = 0;

  uint64_t data_row(int64_t b) const { return uint64_t(rows ? rows[b] : first + b); }
};

// One butterfly stage of a (lanes x lanes) transpose in registers: rows r and r + S swap
// their off-diagonal S-blocks. lo[l] = l & S ? b[l - S] : a[l]; hi[l] = l & S ? b[l] : a[l + S].
template <int S, typename V, size_t... L>
FASTMLP_ALWAYS_INLINE void butterfly(V& a, V& b, std::index_sequence<L...>) {
  constexpr int N = int(sizeof...(L));
  const V lo = __builtin_shufflevector(a, b, ((L & S) ? int(L) - S + N : int(L))...);
  const V hi = __builtin_shufflevector(a, b, ((L & S) ? int(L) + N : int(L) + S)...);
  a = lo;
  b = hi;
}

template <int S, typename T>
FASTMLP_ALWAYS_INLINE void butterfly_stage(typename Lanes<T>::vec* rows) {
  for (int r = 0; r < int(kLanes<T>); ++r)
    if (!(r & S)) butterfly<S>(rows[r], rows[r + S], std::make_index_sequence<kLanes<T>>());
}

// t (d, padded) = s^T for s (steps, d) with row stride ld; columns past steps zero.
// Tiles of lanes x lanes go through registers when d is a multiple of the lanes.
template <typename T>
FASTMLP_ALWAYS_INLINE void transpose_padded(T* t, const T* s, int64_t ld, int64_t steps,
                                           int64_t padded, int64_t d) {
  using V = typename Lanes<T>::vec;
  constexpr int64_t W = kLanes<T>;
  if (d % W != 0) {
    for (int64_t j = 0; j < steps; ++j)
      for (int64_t c = 0; c < d; ++c) t[c * padded + j] = s[j * ld + c];
    for (int64_t c = 0; c < d; ++c) std::fill(t + c * padded + steps, t + (c + 1) * padded, T(0));
    return;
  }
  for (int64_t j0 = 0; j0 < padded; j0 += W)
    for (int64_t c0 = 0; c0 < d; c0 += W) {
      V rows[W];
      for (int64_t r = 0; r < W; ++r)
        rows[r] = j0 + r < steps ? load_lanes(s + (j0 + r) * ld + c0) : V{};
      butterfly_stage<W / 2, T>(rows);
      butterfly_stage<W / 4, T>(rows);
      butterfly_stage<W / 8, T>(rows);
      if constexpr (W == 16) butterfly_stage<1, T>(rows);
      for (int64_t r = 0; r < W; ++r) store_lanes(t + (c0 + r) * padded + j0, rows[r]);
    }
}

// Lane-wise maximum, sum and dot product of rows of `padded` values (a multiple of the
// lanes); the lanes are then combined halves first (a fixed order, log2(lanes) vector
// steps instead of a chain through every lane).
template <typename V>
FASTMLP_ALWAYS_INLINE V lane_op(V a, V b, bool take_max) {
  return take_max ? (b > a ? b : a) : a + b;
}

template <typename T>
FASTMLP_ALWAYS_INLINE T combine_lanes(typename Lanes<T>::vec v, bool take_max) {
  typedef T v4 __attribute__((vector_size(4 * sizeof(T))));
  typedef T v2 __attribute__((vector_size(2 * sizeof(T))));
  v4 q;
  if constexpr (kLanes<T> == 16) {
    typedef T v8 __attribute__((vector_size(8 * sizeof(T))));
    const v8 h = lane_op<v8>(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7),
                             __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15),
                             take_max);
    q = lane_op<v4>(__builtin_shufflevector(h, h, 0, 1, 2, 3),
                    __builtin_shufflevector(h, h, 4, 5, 6, 7), take_max);
  } else {
    static_assert(kLanes<T> == 8, "64-byte vectors of float or double");
    q = lane_op<v4>(__builtin_shufflevector(v, v, 0, 1, 2, 3),
                    __builtin_shufflevector(v, v, 4, 5, 6, 7), take_max);
  }
  const v2 d = lane_op<v2>(__builtin_shufflevector(q, q, 0, 1),
                           __builtin_shufflevector(q, q, 2, 3), take_max);
  return take_max ? (d[1] > d[0] ? d[1] : d[0]) : d[0] + d[1];
}

template <typename T>
FASTMLP_ALWAYS_INLINE T row_max(const T* row, int64_t padded) {
  using V = typename Lanes<T>::vec;
  V m = load_lanes(row);
  for (int64_t k = kLanes<T>; k < padded; k += kLanes<T>) {
    const V v = load_lanes(row + k);
    m = v > m ? v : m;
  }
  return combine_lanes<T>(m, true);
}

template <typename T>
FASTMLP_ALWAYS_INLINE T row_sum(const T* row, int64_t padded) {
  using V = typename Lanes<T>::vec;
  V s = load_lanes(row);
  for (int64_t k = kLanes<T>; k < padded; k += kLanes<T>) s += load_lanes(row + k);
  return combine_lanes<T>(s, false);
}

template <typename T>
FASTMLP_ALWAYS_INLINE T row_dot(const T* a, const T* b, int64_t padded) {
  using V = typename Lanes<T>::vec;
  V s = load_lanes(a) * load_lanes(b);
  for (int64_t k = kLanes<T>; k < padded; k += kLanes<T>)
    s += load_lanes(a + k) * load_lanes(b + k);
  return combine_lanes<T>(s, false);
}

// row (padded): softmax(scale * row) over its first `seen` entries, zero beyond (the
// hidden entries become -inf first, so that the whole padded row runs as vectors).
template <typename T>
FASTMLP_ALWAYS_INLINE void softmax_row(T* row, int64_t seen, int64_t padded, T scale) {
  std::fill(row + seen, row + padded, -std::numeric_limits<T>::infinity());
  const T mx = row_max(row, padded) * scale;  // scale > 0
  for (int64_t j = 0; j < padded; ++j) row[j] = fast_exp(row[j] * scale - mx);
  const T inv = T(1) / row_sum(row, padded);
  for (int64_t j = 0; j < padded; ++j) row[j] *= inv;
}

// p (steps, padded): softmax(scale * p) along each row over the visible keys.
template <typename T>
FASTMLP_ALWAYS_INLINE void softmax_scores(T* p, const Geometry& g, T scale) {
  for (int64_t i = 0; i < g.steps; ++i)
    softmax_row(p + i * g.padded, g.visible(i), g.padded, scale);
}

// pd = p * mask for query row i of task (b, h) (padded entries), zero where p is.
template <typename T>
FASTMLP_ALWAYS_INLINE void drop_weight_row(T* pd, const T* p, const Geometry& g,
                                          const AttentionDropout& drop, int64_t b, int64_t h,
                                          int64_t i) {
  const T scale = T(1.0 / (1.0 - drop.rate));
  const uint64_t width = uint64_t(g.heads * g.steps * g.steps), row = drop.data_row(b);
  const uint64_t unit = uint64_t((h * g.steps + i) * g.steps);
  const int64_t seen = g.visible(i);
  for (int64_t j = 0; j < seen; ++j)
    pd[j] = p[j] * dropout_keep(drop.stream, row, width, unit + uint64_t(j), drop.rate, scale);
  std::fill(pd + seen, pd + g.padded, T(0));
}

// pd = p * mask of task (b, h), zero where p is.
template <typename T>
FASTMLP_ALWAYS_INLINE void drop_weights(T* pd, const T* p, const Geometry& g,
                                       const AttentionDropout& drop, int64_t b, int64_t h) {
  for (int64_t i = 0; i < g.steps; ++i)
    drop_weight_row(pd + i * g.padded, p + i * g.padded, g, drop, b, h, i);
}

// Task (b, h) of the forward pass: p = softmax(Q K^T * scale), pd = dropout(p),
// o = pd V. scratch: (key_dim, padded).
template <typename T>
FASTMLP_SIMD_CLONES void attend_forward(const Geometry& g, const AttentionDropout& drop,
                                        int64_t b, int64_t h, T scale, const T* qkv, T* p,
                                        T* pd, T* o, T* scratch) {
  T* pb = p + g.scores(b, h);
  transpose_padded(scratch, qkv + g.key(b, h), g.ld, g.steps, g.padded, g.key_dim);
  small_matmul<T, false>(pb, g.padded, qkv + g.query(b, h), g.ld, scratch, g.padded, g.steps,
                         g.padded, g.key_dim, g.causal ? Span::n_to_row : Span::all, g.wide);
  softmax_scores(pb, g, scale);
  const T* weights = pb;
  if (drop.on) {
    drop_weights(pd + g.scores(b, h), pb, g, drop, b, h);
    weights = pd + g.scores(b, h);
  }
  small_matmul<T, false>(o + g.out(b, h), g.v, weights, g.padded, qkv + g.value(b, h), g.ld,
                         g.steps, g.value_dim, g.steps,
                         g.causal ? Span::k_to_row : Span::all, g.wide);
}

// Task (b, h) of the backward pass, from dO: dV = pd^T dO; dS = scale * (pd * dPd - p * c)
// with dPd = dO V^T and c = the row sums of pd * dPd (softmax's backward; pd = p without
// dropout); dQ = dS K; dK = dS^T Q. ds: (steps, padded); scratch: (value_dim, padded).
template <typename T>
FASTMLP_SIMD_CLONES void attend_backward(const Geometry& g, bool dropped, int64_t b, int64_t h,
                                         T scale, const T* qkv, const T* p, const T* pd,
                                         const T* d_o, T* dqkv, T* ds, T* scratch) {
  const T* pb = p + g.scores(b, h);
  const T* weights = dropped ? pd + g.scores(b, h) : pb;
  const T* dob = d_o + g.out(b, h);
  T* dsb = ds + g.scores(b, h);
  transpose_padded(scratch, qkv + g.value(b, h), g.ld, g.steps, g.padded, g.value_dim);
  small_matmul<T, false>(dsb, g.padded, dob, g.v, scratch, g.padded, g.steps, g.padded,
                         g.value_dim, g.causal ? Span::n_to_row : Span::all, g.wide);
  for (int64_t i = 0; i < g.steps; ++i) {
    T* row = dsb + i * g.padded;
    const T* w = weights + i * g.padded;
    const T* pr = pb + i * g.padded;
    // entries past the visible keys: w = p = 0, and dPd is made finite first
    std::fill(row + g.visible(i), row + g.padded, T(0));
    const T c = row_dot(w, row, g.padded);
    for (int64_t j = 0; j < g.padded; ++j) row[j] = scale * (w[j] * row[j] - pr[j] * c);
  }
  small_matmul<T, true>(dqkv + g.value(b, h), g.ld, weights, g.padded, dob, g.v, g.steps,
                        g.value_dim, g.steps, g.causal ? Span::k_from_row : Span::all, g.wide);
  small_matmul<T, false>(dqkv + g.query(b, h), g.ld, dsb, g.padded, qkv + g.key(b, h), g.ld,
                         g.steps, g.key_dim, g.steps, g.causal ? Span::k_to_row : Span::all, g.wide);
  small_matmul<T, true>(dqkv + g.key(b, h), g.ld, dsb, g.padded, qkv + g.query(b, h), g.ld,
                        g.steps, g.key_dim, g.steps, g.causal ? Span::k_from_row : Span::all, g.wide);
}

// ---- the last query only (a layer whose last step alone is read: keep_last_step_only).
// Q holds the last step's row; O, dO and the weights are one row per task: o and d_o
// (n, v), p, pd and ds the first row of the task's scores.

// Task (b, h) of the forward pass: p = softmax(q K^T * scale), pd = dropout(p), o = pd V.
template <typename T>
FASTMLP_SIMD_CLONES void attend_last_forward(const Geometry& g, const AttentionDropout& drop,
                                             int64_t b, int64_t h, T scale, const T* qkv, T* p,
                                             T* pd, T* o) {
  const int64_t last = g.steps - 1;
  const T* q = qkv + g.query(b, h) + last * g.ld;
  const T* k = qkv + g.key(b, h);
  const T* v = qkv + g.value(b, h);
  T* row = p + g.scores(b, h);
  for (int64_t j = 0; j < g.steps; ++j) {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < g.key_dim; ++c) s += q[c] * k[j * g.ld + c];
    row[j] = s;
  }
  softmax_row(row, g.steps, g.padded, scale);
  const T* w = row;
  if (drop.on) {
    drop_weight_row(pd + g.scores(b, h), row, g, drop, b, h, last);
    w = pd + g.scores(b, h);
  }
  small_matmul<T, false>(o + b * g.v + h * g.value_dim, g.v, w, g.padded, v, g.ld, 1,
                         g.value_dim, g.steps, Span::all, g.wide);
}

// Task (b, h) of the backward pass, from dO: as attend_backward for the one query row:
// dV_j = pd_j dO, dS = scale * (pd * dPd - p * c), dq = dS K, dK_j = dS_j q.
template <typename T>
FASTMLP_SIMD_CLONES void attend_last_backward(const Geometry& g, bool dropped, int64_t b,
                                              int64_t h, T scale, const T* qkv, const T* p,
                                              const T* pd, const T* d_o, T* dqkv, T* ds) {
  const int64_t last = g.steps - 1;
  const T* pr = p + g.scores(b, h);
  const T* w = dropped ? pd + g.scores(b, h) : pr;
  const T* dob = d_o + b * g.v + h * g.value_dim;
  const T* q = qkv + g.query(b, h) + last * g.ld;
  const T* k = qkv + g.key(b, h);
  const T* v = qkv + g.value(b, h);
  T* row = ds + g.scores(b, h);
  T c = 0;
  for (int64_t j = 0; j < g.steps; ++j) {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t e = 0; e < g.value_dim; ++e) s += dob[e] * v[j * g.ld + e];
    row[j] = s;
    c += w[j] * s;
  }
  for (int64_t j = 0; j < g.steps; ++j) {
    row[j] = scale * (w[j] * row[j] - pr[j] * c);
    T* dk = dqkv + g.key(b, h) + j * g.ld;
    T* dv = dqkv + g.value(b, h) + j * g.ld;
#pragma omp simd
    for (int64_t e = 0; e < g.value_dim; ++e) dv[e] = w[j] * dob[e];
#pragma omp simd
    for (int64_t e = 0; e < g.key_dim; ++e) dk[e] = row[j] * q[e];
  }
  small_matmul<T, false>(dqkv + g.query(b, h) + last * g.ld, g.ld, row, g.padded, k, g.ld, 1,
                         g.key_dim, g.steps, Span::all, g.wide);
}

// ---- the naive oracle (impl="reference"): plain loops, libm's exp, no padding tricks.

// y (m, out) with row stride ldy = x (m, in) @ w (in, out) + b
template <typename T>
void project_ref(T* y, int64_t ldy, const T* x, int64_t ldx, const T* w, const T* b, int64_t m,
                 int64_t in, int64_t out) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t o = 0; o < out; ++o) {
      T s = b ? b[o] : T(0);
      for (int64_t i = 0; i < in; ++i) s += x[r * ldx + i] * w[i * out + o];
      y[r * ldy + o] = s;
    }
}

// dw (+)= x^T dy, db (+)= column sums of dy, dx (+)= dy w^T (dx may be null); dy has row
// stride ldd
template <typename T>
void project_backward_ref(T* dw, T* db, T* dx, bool accumulate_w, bool accumulate_x,
                          const T* x, const T* dy, int64_t ldd, const T* w, int64_t m,
                          int64_t in, int64_t out) {
  for (int64_t i = 0; i < in; ++i)
    for (int64_t o = 0; o < out; ++o) {
      T s = accumulate_w ? dw[i * out + o] : T(0);
      for (int64_t r = 0; r < m; ++r) s += x[r * in + i] * dy[r * ldd + o];
      dw[i * out + o] = s;
    }
  if (db)
    for (int64_t o = 0; o < out; ++o) {
      T s = accumulate_w ? db[o] : T(0);
      for (int64_t r = 0; r < m; ++r) s += dy[r * ldd + o];
      db[o] = s;
    }
  if (dx)
    for (int64_t r = 0; r < m; ++r)
      for (int64_t i = 0; i < in; ++i) {
        T s = accumulate_x ? dx[r * in + i] : T(0);
        for (int64_t o = 0; o < out; ++o) s += dy[r * ldd + o] * w[i * out + o];
        dx[r * in + i] = s;
      }
}

template <typename T>
void attend_forward_ref(const Geometry& g, const AttentionDropout& drop, int64_t b, int64_t h,
                        T scale, const T* qkv, T* p, T* pd, T* o) {
  const T* qb = qkv + g.query(b, h);
  const T* kb = qkv + g.key(b, h);
  const T* vb = qkv + g.value(b, h);
  T* pb = p + g.scores(b, h);
  for (int64_t i = 0; i < g.steps; ++i) {
    const int64_t seen = g.visible(i);
    T* row = pb + i * g.padded;
    for (int64_t j = 0; j < g.padded; ++j) {
      T s = 0;
      if (j < seen)
        for (int64_t d = 0; d < g.key_dim; ++d) s += qb[i * g.ld + d] * kb[j * g.ld + d];
      row[j] = s * scale;
    }
    T mx = row[0];
    for (int64_t j = 1; j < seen; ++j) mx = std::max(mx, row[j]);
    T sum = 0;
    for (int64_t j = 0; j < g.padded; ++j) {
      row[j] = j < seen ? std::exp(row[j] - mx) : T(0);
      sum += row[j];
    }
    for (int64_t j = 0; j < seen; ++j) row[j] /= sum;
  }
  const T* weights = pb;
  if (drop.on) {
    drop_weights(pd + g.scores(b, h), pb, g, drop, b, h);
    weights = pd + g.scores(b, h);
  }
  for (int64_t i = 0; i < g.steps; ++i)
    for (int64_t d = 0; d < g.value_dim; ++d) {
      T s = 0;
      for (int64_t j = 0; j < g.steps; ++j) s += weights[i * g.padded + j] * vb[j * g.ld + d];
      o[g.out(b, h) + i * g.v + d] = s;
    }
}

template <typename T>
void attend_backward_ref(const Geometry& g, bool dropped, int64_t b, int64_t h, T scale,
                         const T* qkv, const T* p, const T* pd, const T* d_o, T* dqkv, T* ds) {
  const T* pb = p + g.scores(b, h);
  const T* w = dropped ? pd + g.scores(b, h) : pb;
  const T* qb = qkv + g.query(b, h);
  const T* kb = qkv + g.key(b, h);
  const T* vb = qkv + g.value(b, h);
  const T* dob = d_o + g.out(b, h);
  T* dsb = ds + g.scores(b, h);
  const int64_t P = g.padded;
  for (int64_t i = 0; i < g.steps; ++i) {
    T c = 0;
    for (int64_t j = 0; j < g.steps; ++j) {
      T s = 0;  // d loss / d pd[i, j]
      for (int64_t d = 0; d < g.value_dim; ++d) s += dob[i * g.v + d] * vb[j * g.ld + d];
      dsb[i * P + j] = s;
      c += w[i * P + j] * s;
    }
    for (int64_t j = 0; j < g.steps; ++j)
      dsb[i * P + j] = scale * (w[i * P + j] * dsb[i * P + j] - pb[i * P + j] * c);
  }
  for (int64_t j = 0; j < g.steps; ++j)
    for (int64_t d = 0; d < g.value_dim; ++d) {
      T s = 0;
      for (int64_t i = 0; i < g.steps; ++i) s += w[i * P + j] * dob[i * g.v + d];
      dqkv[g.value(b, h) + j * g.ld + d] = s;
    }
  for (int64_t i = 0; i < g.steps; ++i)
    for (int64_t d = 0; d < g.key_dim; ++d) {
      T sq = 0, sk = 0;
      for (int64_t j = 0; j < g.steps; ++j) {
        sq += dsb[i * P + j] * kb[j * g.ld + d];
        sk += dsb[j * P + i] * qb[j * g.ld + d];
      }
      dqkv[g.query(b, h) + i * g.ld + d] = sq;
      dqkv[g.key(b, h) + i * g.ld + d] = sk;
    }
}

template <typename T>
class MultiHeadAttentionLayer final : public Layer<T> {
 public:
  explicit MultiHeadAttentionLayer(const LayerSpec& spec) : Layer<T>("MultiHeadAttention") {
    spec.check_known({"num_heads", "key_dim", "value_dim", "dropout", "use_bias", "causal",
                      "impl"});
    heads_ = spec.get_int("num_heads", 0);
    key_dim_ = spec.get_int("key_dim", 0);
    value_dim_ = spec.get_int("value_dim", key_dim_);
    rate_ = spec.get_float("dropout", 0.0);
    use_bias_ = spec.get_int("use_bias", 1) != 0;
    causal_ = spec.get_int("causal", 0) != 0;
    const std::string impl = spec.get_str("impl", "auto");
    FASTMLP_CHECK(heads_ > 0, "num_heads must be > 0, got " + std::to_string(heads_));
    FASTMLP_CHECK(key_dim_ > 0, "key_dim must be > 0, got " + std::to_string(key_dim_));
    FASTMLP_CHECK(value_dim_ > 0, "value_dim must be > 0, got " + std::to_string(value_dim_));
    FASTMLP_CHECK(rate_ >= 0.0 && rate_ < 1.0,
                  "dropout must be in [0, 1), got " + std::to_string(rate_));
    FASTMLP_CHECK(impl == "auto" || impl == "reference",
                  "impl must be 'auto' or 'reference', got '" + impl + "'");
    reference_ = impl == "reference";
  }

  std::vector<ParamSlot> params() const override {
    const int64_t d = features_;
    std::vector<ParamSlot> p;
    auto add = [&](const std::string& name, Shape kernel, Shape bias, int64_t fan_in,
                   int64_t fan_out) {
      p.push_back({name + "/kernel", kernel, true, "glorot_uniform", fan_in, fan_out});
      if (use_bias_) p.push_back({name + "/bias", bias, false, "zeros", fan_in, fan_out});
    };
    add("query", {d, heads_, key_dim_}, {heads_, key_dim_}, d, heads_ * key_dim_);
    add("key", {d, heads_, key_dim_}, {heads_, key_dim_}, d, heads_ * key_dim_);
    add("value", {d, heads_, value_dim_}, {heads_, value_dim_}, d, heads_ * value_dim_);
    add("attention_output", {heads_, value_dim_, d}, {d}, heads_ * value_dim_, d);
    return p;
  }

  int64_t workspace_per_row() const override {
    const Geometry& g = g_;
    const int64_t scores = g.heads * g.steps * g.padded;
    // Q K V and their gradients, O and dO, the weights (and dropped weights), dS, the
    // transposes
    return g.steps * (2 * g.ld + 2 * g.v) + scores * (rate_ > 0 ? 3 : 2) +
           g.heads * std::max(g.key_dim, g.value_dim) * g.padded;
  }
  void reserve(int64_t rows) override {
    const Geometry& g = g_;
    const int64_t tokens = checked_mul(rows, g.steps);
    const int64_t scores = checked_mul(rows, g.heads * g.steps * g.padded);
    qkv_.reserve(size_t(checked_mul(tokens, g.ld)));
    dqkv_.reserve(size_t(checked_mul(tokens, g.ld)));
    o_.reserve(size_t(checked_mul(tokens, g.v)));
    do_.reserve(size_t(checked_mul(tokens, g.v)));
    p_.reserve(size_t(scores));
    ds_.reserve(size_t(scores));
    if (rate_ > 0) pd_.reserve(size_t(scores));
    scratch_.reserve(size_t(checked_mul(rows * g.heads, scratch_size())));
    w_.reserve(size_t(features_ * g.ld));
    dw_.reserve(size_t(features_ * g.ld + g.ld));
    b_.reserve(size_t(g.ld));
  }
  bool prefers_row_slices() const override { return true; }
  int64_t macs_per_row() const override {
    const Geometry& g = g_;
    if (last_only_)
      return g.steps * features_ * (g.ld - g.qk) + features_ * (g.qk + g.v) +
             g.heads * g.steps * (g.key_dim + g.value_dim);
    return g.steps * features_ * (g.ld + g.v) +
           g.heads * g.steps * g.steps * (g.key_dim + g.value_dim);
  }
  // Keys and values for every step, the query, the weights and the output projection for
  // the last step only.
  bool keep_last_step_only(bool compact) override {
    if (reference_) return false;  // the oracle computes every step
    last_only_ = true;
    if (compact) this->out_ = {1, features_};
    out_at_ = compact ? 0 : (g_.steps - 1) * features_;
    out_ld_ = compact ? features_ : g_.steps * features_;
    return true;
  }

  // y (n, steps, features) = attention(x (n, steps, features))
  void forward(const Context& ctx, const T* params, T*, T* y, const T* x, int64_t n) override {
    const Geometry& g = g_;
    const int64_t m = n * g.steps, d = features_;
    dropping_ = ctx.training && rate_ > 0;
    AttentionDropout drop;
    if (dropping_) drop = {true, dropout_stream(ctx.seed, ctx.layer), rate_, ctx.rows, ctx.first};
    const T scale = T(1.0 / std::sqrt(double(key_dim_)));
    // Q K V = x [Wq Wk Wv] + [bq bk bv]: one product over every token, on the three
    // kernels side by side (a copy of 3 d^2 values, against the 3 products it saves)
    gather_qkv(params);
    const T* wo = this->param(params, slot(3, false));
    const T* bo = use_bias_ ? this->param(params, slot(3, true)) : nullptr;
    const T* bqkv = use_bias_ ? b_.data() : nullptr;
    if (last_only_) {
      forward_last(ctx, y, x, wo, bo, drop, scale, n);
      return;
    }
    if (reference_)
      project_ref(qkv_.data(), g.ld, x, d, w_.data(), bqkv, m, d, g.ld);
    else
      dense_forward(Activation::identity, qkv_.data(), x, w_.data(), bqkv, m, d, g.ld,
                    *ctx.gemm, ctx.precision);
    const int64_t tasks = n * g.heads;
    const bool threads = !reference_ && worth_parallel(tasks * g.steps * g.padded);
    parallel_for(tasks, threads ? max_threads() : 1, [&](int64_t t) {
      const int64_t bi = t / g.heads, h = t % g.heads;
      if (reference_)
        attend_forward_ref(g, drop, bi, h, scale, qkv_.data(), p_.data(), pd_.data(),
                           o_.data());
      else
        attend_forward(g, drop, bi, h, scale, qkv_.data(), p_.data(), pd_.data(), o_.data(),
                       scratch_.data() + t * scratch_size());
    });
    if (reference_)
      project_ref(y, d, o_.data(), g.v, wo, bo, m, g.v, d);
    else
      dense_forward(Activation::identity, y, o_.data(), wo, bo, m, g.v, d, *ctx.gemm,
                    ctx.precision);
  }

  void backward(const Context& ctx, const T* params, T* grad, T* dx, T* dy, const T* x,
                const T*, int64_t n) override {
    const Geometry& g = g_;
    const int64_t m = n * g.steps, d = features_;
    const T scale = T(1.0 / std::sqrt(double(key_dim_)));
    const T* wo = this->param(params, slot(3, false));
    T* dwo = this->grad_of(grad, slot(3, false));
    T* dbo = use_bias_ ? this->grad_of(grad, slot(3, true)) : nullptr;
    if (last_only_) {
      backward_last(ctx, grad, dx, dy, x, wo, dwo, dbo, scale, n);
      return;
    }
    // the output projection: dWo, dbo, dO = dy Wo^T
    if (reference_) {
      project_backward_ref(dwo, dbo, do_.data(), ctx.accumulate, false, o_.data(), dy, d, wo,
                           m, g.v, d);
    } else {
      dense_backward_weights(dwo, dbo, o_.data(), dy, m, g.v, d, ctx.accumulate, *ctx.gemm,
                             ctx.precision);
      dense_backward_input(do_.data(), dy, wo, m, g.v, d, *ctx.gemm, ctx.precision);
    }
    const int64_t tasks = n * g.heads;
    const bool threads = !reference_ && worth_parallel(tasks * g.steps * g.padded);
    parallel_for(tasks, threads ? max_threads() : 1, [&](int64_t t) {
      const int64_t bi = t / g.heads, h = t % g.heads;
      if (reference_)
        attend_backward_ref(g, dropping_, bi, h, scale, qkv_.data(), p_.data(), pd_.data(),
                            do_.data(), dqkv_.data(), ds_.data());
      else
        attend_backward(g, dropping_, bi, h, scale, qkv_.data(), p_.data(), pd_.data(),
                        do_.data(), dqkv_.data(), ds_.data(),
                        scratch_.data() + t * scratch_size());
    });
    // the input projections on the kernels side by side: d[Wq Wk Wv] = x^T dQKV and the
    // bias sums into a scratch, added to the three slots; dx = dQKV [Wq Wk Wv]^T
    T* dw = dw_.data();
    T* db = use_bias_ ? dw_.data() + d * g.ld : nullptr;
    if (reference_)
      project_backward_ref(dw, db, dx, false, false, x, dqkv_.data(), g.ld, w_.data(), m, d,
                           g.ld);
    else
      dense_backward_weights(dw, db, x, dqkv_.data(), m, d, g.ld, false, *ctx.gemm,
                             ctx.precision);
    scatter_qkv_grad(grad, ctx.accumulate);
    if (dx && !reference_)
      dense_backward_input(dx, dqkv_.data(), w_.data(), m, d, g.ld, *ctx.gemm, ctx.precision);
  }

 private:
  Shape infer(const Shape& in) override {
    FASTMLP_CHECK(in.size() == 2,
                  "needs samples of shape (steps, features), got " + shape_str(in));
    features_ = in[1];
    const int64_t steps = in[0], qk = heads_ * key_dim_, v = heads_ * value_dim_;
    g_ = {steps, (steps + 15) / 16 * 16, heads_, key_dim_, value_dim_, qk, v, 2 * qk + v,
          causal_, cpu_has_avx512()};
    return in;
  }

  // y (m, out) = x (m, in) @ w (in, out) + b, rows of each ld* apart; b may be null.
  static void project(const Context& ctx, T* y, int64_t ldy, const T* x, int64_t ldx,
                      const T* w, int64_t ldw, const T* b, int64_t m, int64_t in, int64_t out) {
    gemm_as<T>(ctx.precision, false, false, m, out, in, T(1), x, ldx, w, ldw, T(0), y, ldy,
               *ctx.gemm);
    if (!b) return;
    parallel_rows(m, out, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
#pragma omp simd
        for (int64_t j = 0; j < out; ++j) y[i * ldy + j] += b[j];
    });
  }

  // forward() for keep_last_step_only: K and V over every token, Q, the attention and the
  // output projection at the last step of each sample; y's last steps (out_at_, out_ld_).
  void forward_last(const Context& ctx, T* y, const T* x, const T* wo, const T* bo,
                    const AttentionDropout& drop, T scale, int64_t n) {
    const Geometry& g = g_;
    const int64_t d = features_, last = g.steps - 1, kv = g.ld - g.qk;
    const T* b = use_bias_ ? b_.data() : nullptr;
    project(ctx, qkv_.data() + g.qk, g.ld, x, d, w_.data() + g.qk, g.ld, b ? b + g.qk : nullptr,
            n * g.steps, d, kv);
    project(ctx, qkv_.data() + last * g.ld, g.steps * g.ld, x + last * d, g.steps * d, w_.data(),
            g.ld, b, n, d, g.qk);
    const int64_t tasks = n * g.heads;
    const bool threads = worth_parallel(tasks * g.steps * (g.key_dim + g.value_dim));
    parallel_for(tasks, threads ? max_threads() : 1, [&](int64_t t) {
      attend_last_forward(g, drop, t / g.heads, t % g.heads, scale, qkv_.data(), p_.data(),
                          pd_.data(), o_.data());
    });
    project(ctx, y + out_at_, out_ld_, o_.data(), g.v, wo, d, bo, n, g.v, d);
  }

  // backward() for keep_last_step_only: dy read at the last steps only.
  void backward_last(const Context& ctx, T* grad, T* dx, const T* dy, const T* x, const T* wo,
                     T* dwo, T* dbo, T scale, int64_t n) {
    const Geometry& g = g_;
    const int64_t d = features_, last = g.steps - 1, kv = g.ld - g.qk, m = n * g.steps;
    const Precision precision = ctx.precision;
    GemmWorkspace& ws = *ctx.gemm;
    const T* dyl = dy + out_at_;
    // the output projection: dWo, dbo, dO = dy Wo^T
    gemm_as<T>(precision, true, false, g.v, d, n, T(1), o_.data(), g.v, dyl, out_ld_,
               ctx.accumulate ? T(1) : T(0), dwo, d, ws);
    if (dbo) dense_bias_grad(dbo, dyl, n, d, out_ld_, ctx.accumulate);
    gemm_as<T>(precision, false, true, n, g.v, d, T(1), dyl, out_ld_, wo, d, T(0), do_.data(),
               g.v, ws);
    const int64_t tasks = n * g.heads;
    const bool threads = worth_parallel(tasks * g.steps * (g.key_dim + g.value_dim));
    parallel_for(tasks, threads ? max_threads() : 1, [&](int64_t t) {
      attend_last_backward(g, dropping_, t / g.heads, t % g.heads, scale, qkv_.data(),
                           p_.data(), pd_.data(), do_.data(), dqkv_.data(), ds_.data());
    });
    // d[Wk Wv] = x^T d[K V] over every token, dWq = x_last^T dq; the bias sums; dx = d[K V]
    // [Wk Wv]^T, plus dq Wq^T at the last steps
    T* dw = dw_.data();
    const T* dq = dqkv_.data() + last * g.ld;
    gemm_as<T>(precision, true, false, d, kv, m, T(1), x, d, dqkv_.data() + g.qk, g.ld, T(0),
               dw + g.qk, g.ld, ws);
    gemm_as<T>(precision, true, false, d, g.qk, n, T(1), x + last * d, g.steps * d, dq,
               g.steps * g.ld, T(0), dw, g.ld, ws);
    if (use_bias_) {
      dense_bias_grad(dw + d * g.ld + g.qk, dqkv_.data() + g.qk, m, kv, g.ld, false);
      dense_bias_grad(dw + d * g.ld, dq, n, g.qk, g.steps * g.ld, false);
    }
    scatter_qkv_grad(grad, ctx.accumulate);
    if (!dx) return;
    gemm_as<T>(precision, false, true, m, d, kv, T(1), dqkv_.data() + g.qk, g.ld,
               w_.data() + g.qk, g.ld, T(0), dx, d, ws);
    gemm_as<T>(precision, false, true, n, d, g.qk, T(1), dq, g.steps * g.ld, w_.data(), g.ld,
               T(1), dx + last * d, g.steps * d, ws);
  }

  // The slot of projection s (0 query, 1 key, 2 value, 3 output): kernel or bias.
  size_t slot(int s, bool bias) const { return size_t(use_bias_ ? 2 * s + bias : s); }
  int64_t scratch_size() const { return std::max(key_dim_, value_dim_) * g_.padded; }

  // w_ (features, ld) = [Wq Wk Wv], b_ (ld) = [bq bk bv]
  void gather_qkv(const T* params) {
    const int64_t widths[3] = {g_.qk, g_.qk, g_.v}, at[3] = {0, g_.qk, 2 * g_.qk};
    for (int s = 0; s < 3; ++s) {
      const T* w = this->param(params, slot(s, false));
      for (int64_t i = 0; i < features_; ++i)
        std::memcpy(w_.data() + i * g_.ld + at[s], w + i * widths[s],
                    sizeof(T) * size_t(widths[s]));
      if (use_bias_)
        std::memcpy(b_.data() + at[s], this->param(params, slot(s, true)),
                    sizeof(T) * size_t(widths[s]));
    }
  }

  // The three kernels' (and biases') gradients from dw_ (features, ld) [+ (ld)].
  void scatter_qkv_grad(T* grad, bool accumulate) {
    const int64_t widths[3] = {g_.qk, g_.qk, g_.v}, at[3] = {0, g_.qk, 2 * g_.qk};
    auto put = [accumulate](T* dst, const T* src, int64_t count) {
      for (int64_t k = 0; k < count; ++k) dst[k] = accumulate ? dst[k] + src[k] : src[k];
    };
    for (int s = 0; s < 3; ++s) {
      T* dw = this->grad_of(grad, slot(s, false));
      for (int64_t i = 0; i < features_; ++i)
        put(dw + i * widths[s], dw_.data() + i * g_.ld + at[s], widths[s]);
      if (use_bias_)
        put(this->grad_of(grad, slot(s, true)), dw_.data() + features_ * g_.ld + at[s],
            widths[s]);
    }
  }

  int64_t heads_, key_dim_, value_dim_, features_ = 0;
  double rate_;
  bool use_bias_, causal_, reference_;
  bool dropping_ = false;  // whether the last forward dropped (backward follows it)
  // keep_last_step_only: the output's last steps start at y + out_at_, out_ld_ apart
  bool last_only_ = false;
  int64_t out_at_ = 0, out_ld_ = 0;
  Geometry g_{};
  AlignedBuffer<T> qkv_, dqkv_, o_, do_, p_, pd_, ds_, scratch_, w_, b_, dw_;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_multi_head_attention(const LayerSpec& spec) {
  return std::make_unique<MultiHeadAttentionLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_multi_head_attention<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_multi_head_attention<double>(const LayerSpec&);

}  // namespace fastmlp
