// Standard normal numbers from a counter-based generator: number `counter` of a stream is
// a pure function of (stream, counter), so noise depends on neither the thread count nor
// how a batch is sliced. The uniforms are the dropout masks' (nn/dropout_math.h,
// splitmix64); pairs of them become two normals by Box-Muller. Used by the Sampling layer
// (layers/sampling.cpp: a VAE's reparameterisation) and the GAN trainer
// (generative/gan.cpp: the generator's latent noise); tested in tests/test_gan.py
// (moments, independence of the slicing) and tests/test_layers_sampling.py.
#pragma once
#include <cmath>
#include <cstdint>

#include "nn/dropout_math.h"

namespace fastmlp {

// The stream of one (seed, purpose) pair; purposes keep the streams of one seed apart.
inline uint64_t noise_stream(uint64_t seed, uint64_t purpose) {
  return mix64(mix64(seed ^ 0x6a09e667f3bcc909ULL) + purpose);
}

// Normals 2c and 2c+1 of a stream: sqrt(-2 log(1 - u)) (cos, sin)(2 pi v) with u, v its
// uniforms 2c and 2c+1 (1 - u is in (0, 1], so the log is finite).
inline void normal_pair(uint64_t stream, uint64_t c, double* a, double* b) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  const double u = dropout_uniform(stream, 2 * c), v = dropout_uniform(stream, 2 * c + 1);
  const double r = std::sqrt(-2.0 * std::log1p(-u));
  *a = r * std::cos(kTwoPi * v);
  *b = r * std::sin(kTwoPi * v);
}

// Normal number `counter` of a stream.
inline double normal_at(uint64_t stream, uint64_t counter) {
  double a, b;
  normal_pair(stream, counter / 2, &a, &b);
  return counter % 2 == 0 ? a : b;
}

// out[i] = normal number first + i of the stream, i < n (each pair computed once).
template <typename T>
void fill_normal(T* out, int64_t n, uint64_t stream, uint64_t first) {
  int64_t i = 0;
  if (n > 0 && first % 2 == 1) out[i++] = T(normal_at(stream, first));
  for (; i + 1 < n; i += 2) {
    double a, b;
    normal_pair(stream, (first + uint64_t(i)) / 2, &a, &b);
    out[i] = T(a);
    out[i + 1] = T(b);
  }
  if (i < n) out[i] = T(normal_at(stream, first + uint64_t(i)));
}

}  // namespace fastmlp
