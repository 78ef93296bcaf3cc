// Dense (fully connected) layer: forward and the two halves of backward, for dense
// and CSR inputs. Shapes in comments; rows may be selected through an index list so
// mini-batches of sparse input need no copy. Tested in tests/test_ops.py.
#pragma once
#include <cstdint>

#include "gemm/gemm.h"
#include "nn/activations.h"
#include "nn/input_matrix.h"

namespace fastmlp {

// The dense products run in `precision` (gemm_as): Precision::bf16 rounds x, w and delta to
// bfloat16 inside the GEMM; everything else stays in T.

// y (m,out) = f(x (m,in) @ w (in,out) + b (out)); b may be null (no bias)
template <typename T>
void dense_forward(Activation f, T* y, const T* x, const T* w, const T* b, int64_t m, int64_t in,
                   int64_t out, GemmWorkspace& ws, Precision precision = Precision::native);

// y (m,out) = f(X[rows] (m,in) @ w (in,out) + b (out)); rows null means rows [first, first+m)
template <typename T>
void dense_forward_csr(Activation f, T* y, const InputMatrix<T>& X, const int64_t* rows,
                       int64_t first, const T* w, const T* b, int64_t m, int64_t out);

// dw (in,out) (+)= x^T (in,m) @ delta (m,out);  db (out) (+)= sum over rows of delta
// accumulate=false overwrites dw and db; db may be null (no bias).
template <typename T>
void dense_backward_weights(T* dw, T* db, const T* x, const T* delta, int64_t m, int64_t in,
                            int64_t out, bool accumulate, GemmWorkspace& ws,
                            Precision precision = Precision::native);

// The same with x = X[rows] in CSR.
template <typename T>
void dense_backward_weights_csr(T* dw, T* db, const InputMatrix<T>& X, const int64_t* rows,
                                int64_t first, const T* delta, int64_t m, int64_t out,
                                bool accumulate);

// db (out) (+)= the column sums of delta (m,out) with row stride ld: a bias's gradient, in
// the same order for any thread count.
template <typename T>
void dense_bias_grad(T* db, const T* delta, int64_t m, int64_t out, int64_t ld, bool accumulate);

// delta (m,out) *= f'(z), from the activation's output a (and pre-activation z for gelu and
// silu, see activation_backward), and db (out) (+)= column sums of the result, in one pass:
// the hidden layer's bias gradient as dense_backward_weights computes it. db may be null.
template <typename T>
void dense_backward_activation(Activation f, T* delta, const T* a, const T* z, T* db, int64_t m,
                               int64_t out, bool accumulate);

// dx (m,in) = delta (m,out) @ w^T (out,in)
template <typename T>
void dense_backward_input(T* dx, const T* delta, const T* w, int64_t m, int64_t in, int64_t out,
                          GemmWorkspace& ws, Precision precision = Precision::native);

}  // namespace fastmlp
