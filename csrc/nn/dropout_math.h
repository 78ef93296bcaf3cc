// The dropout mask formula, written once for both sides: nn/dropout.cpp (CPU) and
// cuda/dropout.cu (GPU) call these very functions, so a CPU fit and a device fit with
// the same seed drop exactly the same units. A unit's mask is a pure function of
// (seed, layer, data row, unit): a splitmix64 stream per (seed, layer), indexed by
// row * width + unit. Tested in tests/test_training_extras.py (numpy transcription of
// the hash) and tests/test_cuda.py (device masks against the CPU's).
#pragma once
#include <cmath>
#include <cstdint>

#include "common/host_device.h"

namespace fastmlp {

// splitmix64's output function (Steele, Lea, Flood 2014).
FASTMLP_HOST_DEVICE uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;

// Start of the stream of layer `layer` for one draw seed.
FASTMLP_HOST_DEVICE uint64_t dropout_stream(uint64_t seed, int64_t layer) {
  return mix64(mix64(seed) + uint64_t(layer));
}

// The 53 random bits of element `counter` of a stream.
FASTMLP_HOST_DEVICE uint64_t dropout_bits(uint64_t stream, uint64_t counter) {
  return mix64(stream + (counter + 1) * kGoldenGamma) >> 11;
}

// Uniform in [0, 1) for element `counter` of a stream (53 random bits: exact in double on
// both sides).
FASTMLP_HOST_DEVICE double dropout_uniform(uint64_t stream, uint64_t counter) {
  return double(dropout_bits(stream, counter)) * 0x1.0p-53;
}

// The unit is kept when dropout_uniform >= p, that is when its bits u >= p * 2^53 (both
// sides exact: u < 2^53, and scaling by 2^53 is exact), that is u >= this threshold: an
// integer comparison that vectorizes.
inline uint64_t dropout_threshold(double p) { return uint64_t(std::ceil(p * 0x1.0p53)); }

// The multiplier of unit j of data row r, in a layer of `width` units dropped with rate
// p: scale = 1/(1-p) where the unit is kept, 0 where it is dropped.
template <typename T>
FASTMLP_HOST_DEVICE T dropout_keep(uint64_t stream, uint64_t row, uint64_t width, uint64_t j,
                                   double p, T scale) {
  return dropout_uniform(stream, row * width + j) >= p ? scale : T(0);
}

}  // namespace fastmlp
