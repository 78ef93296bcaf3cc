// The gate activations of the recurrent step kernels (layers/gru.cpp, layers/lstm.cpp) over
// spans of a step, each in its own SIMD builds. Tested through the layers
// (tests/test_layers_recurrent.py).
#include "common/simd_clones.h"
#include "layers/recurrent.h"

namespace fastmlp {

template <typename T>
FASTMLP_SIMD_CLONES void activate_span(Activation f, T* v, int64_t n) {
  activate_lanes(f, v, n);
}

template <typename T>
FASTMLP_SIMD_CLONES void derive_span(Activation f, T* d, const T* a, int64_t n) {
  derive_lanes(f, d, a, n);
}

template void activate_span<float>(Activation, float*, int64_t);
template void activate_span<double>(Activation, double*, int64_t);
template void derive_span<float>(Activation, float*, const float*, int64_t);
template void derive_span<double>(Activation, double*, const double*, int64_t);

}  // namespace fastmlp
