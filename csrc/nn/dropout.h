// Inverted dropout of hidden activations during training, and its backward step.
// A unit's mask is a pure function of (seed, layer, data row, unit): a splitmix64 stream
// per (seed, layer), indexed by row * width + unit. No generator state, so the masks do
// not depend on batch boundaries, row slices or the thread count.
// Tested in tests/test_training_extras.py (numpy transcription of the hash, keep rate,
// scale) and tests/test_gradcheck.py (finite differences with a fixed seed).
#pragma once
#include <cstdint>

namespace fastmlp {

// splitmix64's output function (Steele, Lea, Flood 2014).
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;

// Start of the stream of layer `layer` for one draw seed.
inline uint64_t dropout_stream(uint64_t seed, int64_t layer) {
  return mix64(mix64(seed) + uint64_t(layer));
}

// Uniform in [0, 1) for element `counter` of a stream (53 random bits).
inline double dropout_uniform(uint64_t stream, uint64_t counter) {
  return double(mix64(stream + (counter + 1) * kGoldenGamma) >> 11) * 0x1.0p-53;
}

// y (m,width) = a * mask, mask (m,width) = 1/(1-p) where the unit is kept, 0 where dropped;
// unit j of data row r is kept when dropout_uniform(dropout_stream(seed, layer),
// r * width + j) >= p. Data rows are rows[i], or first + i when rows is null.
// Requires 0 < p < 1.
template <typename T>
void dropout_forward(T* y, T* mask, const T* a, const int64_t* rows, int64_t first, int64_t m,
                     int64_t width, double p, uint64_t seed, int64_t layer);

// delta (m,width) *= mask (m,width): the gradient reaching the undropped activations.
template <typename T>
void dropout_backward(T* delta, const T* mask, int64_t m, int64_t width);

}  // namespace fastmlp
