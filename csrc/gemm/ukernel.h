// The micro-kernel interface: C tile (m<=MR, n<=NR) = alpha * Apanel @ Bpanel + beta * C.
// Apanel holds K columns of MR values (k-major), Bpanel K rows of NR values, both
// zero-padded. Each ISA's kernels live in their own file, compiled with their own flags.
#pragma once
#include <cstdint>

namespace fastmlp {

template <typename T>
using UkernelFn = void (*)(int64_t K, const T* a, const T* b, T* c, int64_t ldc, T alpha,
                           T beta, int64_t m, int64_t n);

template <typename T>
struct Ukernel {
  UkernelFn<T> fn;
  int64_t mr, nr;
};

// Register tiles: MR rows x NV vectors. They leave room for B loads in the register file
// (16 registers with AVX2, 32 with AVX-512; the portable kernel uses 16-byte vectors).
constexpr int kScalarMR = 4, kScalarNV = 2, kScalarBytes = 16;
constexpr int kAvx2MR = 6, kAvx2NV = 2, kAvx2Bytes = 32;
constexpr int kAvx512MR = 12, kAvx512NV = 2, kAvx512Bytes = 64;

void ukernel_scalar(int64_t, const float*, const float*, float*, int64_t, float, float, int64_t, int64_t);
void ukernel_scalar(int64_t, const double*, const double*, double*, int64_t, double, double, int64_t, int64_t);
void ukernel_avx2(int64_t, const float*, const float*, float*, int64_t, float, float, int64_t, int64_t);
void ukernel_avx2(int64_t, const double*, const double*, double*, int64_t, double, double, int64_t, int64_t);
void ukernel_avx512(int64_t, const float*, const float*, float*, int64_t, float, float, int64_t, int64_t);
void ukernel_avx512(int64_t, const double*, const double*, double*, int64_t, double, double, int64_t, int64_t);

}  // namespace fastmlp
