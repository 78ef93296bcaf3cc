// numpy's RandomState.shuffle of a 1-D array, draw for draw: the MT19937 generator with
// numpy's state layout (624 key words, then the position of the next one) and the legacy
// random_interval's masked rejection. scikit-learn's MLP shuffles its rows with it every
// epoch. The cost is the rejection loop's unpredictable branch more than the generator:
// for load_digits' 1,797 rows numpy takes 28-35 µs, the plain loop inlined 24-27 µs, and
// interval() below, which looks at the next three draws at once and picks the first one
// in range without a branch (still consuming them one by one, as numpy does), 19-21 µs.
#pragma once
#include <cstdint>
#include <utility>

namespace fastmlp {

class LegacyMt19937 {
 public:
  static constexpr int kN = 624;  // key words; state[kN] is the position
  explicit LegacyMt19937(uint32_t* state) : key_(state), pos_(int(state[kN])) {
    temper_block();
  }
  ~LegacyMt19937() { key_[kN] = uint32_t(pos_); }
  LegacyMt19937(const LegacyMt19937&) = delete;
  LegacyMt19937& operator=(const LegacyMt19937&) = delete;

  uint32_t next32() {
    if (pos_ >= kN) twist();
    return tempered_[pos_++];
  }
  uint64_t next64() {
    const uint64_t hi = next32();
    return hi << 32 | next32();
  }

  // A uniform integer in [0, max] for max > 0: draws masked by `mask`, the smallest all-ones
  // value >= max, until one is in range (32-bit draws while max fits in 32 bits).
  uint64_t interval(uint64_t max, uint64_t mask) {
    uint64_t v;
    if (max <= 0xffffffffu) {
      if (pos_ + 3 <= kN) {  // three draws left in this block: no branch on which one fits
        const uint32_t m = uint32_t(mask), hi = uint32_t(max);
        const uint32_t v0 = tempered_[pos_] & m, v1 = tempered_[pos_ + 1] & m,
                       v2 = tempered_[pos_ + 2] & m;
        const uint32_t a0 = v0 <= hi, a1 = v1 <= hi, a2 = v2 <= hi;
        if (a0 | a1 | a2) {  // masks and sums: compilers turn ?: chains back into branches
          pos_ += int(1 + (a0 ^ 1) + ((a0 | a1) ^ 1));
          const uint32_t v12 = v2 ^ ((v1 ^ v2) & (0u - a1));
          return v12 ^ ((v0 ^ v12) & (0u - a0));
        }
      }
      do v = next32() & mask; while (v > max);
    } else {
      do v = next64() & mask; while (v > max);
    }
    return v;
  }

 private:
  void twist() {
    constexpr int kM = 397;
    constexpr uint32_t kMatrix = 0x9908b0dfu, kUpper = 0x80000000u, kLower = 0x7fffffffu;
    auto mix = [&](int i, int j, int k) {
      const uint32_t y = (key_[i] & kUpper) | (key_[j] & kLower);
      key_[i] = key_[k] ^ (y >> 1) ^ ((0u - (y & 1u)) & kMatrix);
    };
    int i = 0;
    for (; i < kN - kM; ++i) mix(i, i + 1, i + kM);
    for (; i < kN - 1; ++i) mix(i, i + 1, i + kM - kN);
    mix(kN - 1, 0, kM - 1);
    pos_ = 0;
    temper_block();
  }

  // The outputs of the whole block, computed once per block (the loop vectorizes).
  void temper_block() {
    for (int i = 0; i < kN; ++i) {
      uint32_t y = key_[i];
      y ^= y >> 11;
      y ^= (y << 7) & 0x9d2c5680u;
      y ^= (y << 15) & 0xefc60000u;
      y ^= y >> 18;
      tempered_[i] = y;
    }
  }

  uint32_t* key_;
  int pos_;
  uint32_t tempered_[kN];
};

// x[0..n) shuffled as RandomState.shuffle(x) would with the generator in `state`
// (uint32[625]), which advances as numpy's would.
inline void legacy_shuffle(int64_t* x, int64_t n, uint32_t* state) {
  LegacyMt19937 gen(state);
  uint64_t mask = ~uint64_t(0);
  for (int64_t i = n - 1; i > 0; --i) {
    while ((mask >> 1) >= uint64_t(i)) mask >>= 1;  // i only decreases
    std::swap(x[i], x[gen.interval(uint64_t(i), mask)]);
  }
}

}  // namespace fastmlp
