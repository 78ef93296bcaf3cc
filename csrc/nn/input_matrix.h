// A read-only view of the training or prediction input X (n, d): dense row-major or CSR.
// Sparse input is never densified; the first layer reads it through the CSR kernels.
#pragma once
#include <cstdint>

namespace fastmlp {

template <typename T>
struct InputMatrix {
  const T* dense = nullptr;        // (n, d) row-major, or null for CSR
  const T* data = nullptr;         // CSR values
  const int64_t* indices = nullptr;
  const int64_t* indptr = nullptr;  // (n + 1)
  int64_t n = 0, d = 0;
  bool sparse() const { return dense == nullptr; }
};

}  // namespace fastmlp
