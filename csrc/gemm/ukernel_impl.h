// The one micro-kernel body, written with GCC/Clang vector extensions and instantiated
// by each ukernel_<isa>.cpp under that file's instruction-set flags. Everything here has
// internal linkage, so code built for AVX-512 can never be picked for another CPU.
#pragma once
#include <cstdint>
#include <cstring>

namespace fastmlp {
namespace {

template <typename T, int VB, int MR, int NV>
inline void ukernel_body(int64_t K, const T* __restrict a, const T* __restrict b,
                         T* __restrict c, int64_t ldc, T alpha, T beta, int64_t m, int64_t n) {
  typedef T V __attribute__((vector_size(VB)));
  constexpr int W = VB / int(sizeof(T));
  constexpr int NR = NV * W;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V{} ;
  for (int64_t k = 0; k < K; ++k) {
    V bv[NV];
    for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], b + k * NR + v * W, sizeof(V));
    const T* ak = a + k * MR;
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] += bv[v] * ak[r];
  }
  if (m == MR && n == NR) {
    for (int r = 0; r < MR; ++r) {
      T* cr = c + r * ldc;
      for (int v = 0; v < NV; ++v) {
        V out = acc[r][v] * alpha;
        if (beta != T(0)) {
          V old;
          std::memcpy(&old, cr + v * W, sizeof(V));
          out += old * beta;
        }
        std::memcpy(cr + v * W, &out, sizeof(V));
      }
    }
    return;
  }
  // Edge tile: spill the accumulators and store only the valid part.
  alignas(64) T tile[MR * NR];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) std::memcpy(tile + r * NR + v * W, &acc[r][v], sizeof(V));
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < n; ++j) {
      T* cij = c + r * ldc + j;
      *cij = beta == T(0) ? alpha * tile[r * NR + j] : alpha * tile[r * NR + j] + beta * *cij;
    }
}

}  // namespace
}  // namespace fastmlp
