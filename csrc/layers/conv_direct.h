// Direct convolution kernels for the small convolutions of Conv1D/Conv2D (few channels and
// filters), where im2col + GEMM spends more time copying and packing than multiplying:
// they read the (zero-padded) input in place through a table of tap offsets and keep a
// block of outputs in registers (the compiler vectorizes the fixed-width lanes; built for
// AVX-512, AVX2 and baseline x86-64, chosen at load time). Channels last throughout.
// With one input channel and few filters (LeNet's first layer) the vectors run along
// output positions forward and along pairs of taps for the kernel gradient; every value
// is still the same chain of multiply-adds, so every path gives the same bits.
// Tested against the naive loops (impl="reference") in tests/test_layers_conv.py, and the
// one-channel paths bit for bit against the filter-block kernels.
#pragma once
#include <cstdint>
#include <vector>

namespace fastmlp {

// Lanes of the widest register block of filters: 128 bytes (two AVX-512 registers). A
// layer with fewer filters takes blocks of a half or a quarter of that (conv_lanes), so
// few filters do not leave most lanes idle.
template <typename T>
constexpr int64_t kConvLanes = 128 / int64_t(sizeof(T));

// The geometry the kernels walk: a padded input xp (n, hp, wp, c) -- every window inside
// it -- and output positions (n, oh, ow); window tap j (of k = kh*kw*c) of the output at
// (p, q) reads xp[i][p*sh*wp*c + q*sw*c + off[j]]. off has conv_padded_taps() entries, the
// ones beyond k equal to 0.
struct DirectConv {
  int64_t hp = 1, wp = 1, c = 1, oh = 1, ow = 1, sh = 1, sw = 1, kh = 1, kw = 1;
  int64_t k = 0, filters = 0;
  int64_t lanes = 0;  // of a filter block: conv_lanes<T>(filters)
  std::vector<int64_t> off;
  // The kernel gradient by pairs of taps (conv_by_pairs): offsets of the first of two
  // adjacent taps of a window row, (0, 1), (2, 3), ..., the last pair (kw-2, kw-1).
  std::vector<int64_t> pair_off;
  int64_t sample() const { return hp * wp * c; }
  int64_t positions() const { return oh * ow; }
};

// The filter block for `filters` filters: a quarter, a half or all of kConvLanes.
template <typename T>
int64_t conv_lanes(int64_t filters) {
  constexpr int64_t L = kConvLanes<T>;
  return filters <= L / 4 ? L / 4 : filters <= L / 2 ? L / 2 : L;
}

// Blocks of g.lanes filters.
inline int64_t conv_chunks(const DirectConv& g) { return (g.filters + g.lanes - 1) / g.lanes; }

// Taps rounded up to the kernel gradient's blocks of 8.
inline int64_t conv_padded_taps(const DirectConv& g) { return (g.k + 7) / 8 * 8; }

// The row length of the transposed kernel wt: k rounded up to blocks of 4 x lanes.
template <typename T>
int64_t conv_padded_columns(const DirectConv& g) {
  return (g.k + 4 * kConvLanes<T> - 1) / (4 * kConvLanes<T>) * (4 * kConvLanes<T>);
}

// The largest window (kh*kw*c) the direct kernels take.
constexpr int64_t kDirectMaxTaps = 2048;

// Output positions per vector of the forward pass by positions (64 bytes).
template <typename T>
constexpr int64_t kPositionLanes = 64 / int64_t(sizeof(T));

// Values of the zero-padded window rows that output rows narrower than kPositionLanes
// read from a copy on the stack.
constexpr int64_t kPositionLocal = 2048;

// Whether the forward pass vectorizes over output positions, each filter's weight
// broadcast: one input channel, stride 1 along the width (a tap's inputs at consecutive
// positions are contiguous) and at most 8 filters (one register each per row of positions).
template <typename T>
bool conv_by_positions(const DirectConv& g) {
  constexpr int64_t W = kPositionLanes<T>;
  return g.c == 1 && g.sw == 1 && g.filters <= 8 &&
         (g.ow >= W || g.kh * (W + g.kw - 1) <= kPositionLocal);
}

// y (n, oh, ow, filters) = the windows of xp @ w + bias, then relu when `relu`.
// wpad (chunks, k, lanes): the kernel (k, filters) split into blocks of g.lanes, zero-padded;
// bpad (chunks, lanes): the bias likewise (zeros for none).
template <typename T>
void conv_direct_forward(T* y, const T* xp, const T* wpad, const T* bpad, bool relu,
                         const DirectConv& g, int64_t n);

// Whether the kernel gradient runs by pairs of taps: one input channel (two taps of a
// window row are adjacent: one 8-byte broadcast fills a vector with both, each beside a
// copy of every filter's dy) and at most a quarter of kConvLanes filters (a vector holds
// them twice). The other kernel, with one channel and few filters, spends a broadcast
// per multiply-add on lanes mostly empty.
template <typename T>
bool conv_by_pairs(const DirectConv& g) {
  return g.c == 1 && g.kw >= 2 && g.filters <= kConvLanes<T> / 4;
}

// Fills g.pair_off from the geometry.
void conv_plan_pairs(DirectConv& g);

// Values per row of the split dy (dyp): 2 x lanes by pairs (each filter twice), else lanes.
template <typename T>
int64_t conv_split_width(const DirectConv& g) {
  return conv_by_pairs<T>(g) ? 2 * g.lanes : g.lanes;
}

// dyp (chunks, rows, lanes) = dy (rows, filters) split into blocks of g.lanes filters,
// zero-padded: the layout conv_direct_backward_weights reads; by pairs (rows, 2 * lanes),
// each filter's value twice in a row.
template <typename T>
void conv_direct_split_filters(T* dyp, const T* dy, const DirectConv& g, int64_t rows);

// dw (k, filters) (+)= sum over positions of window^T dy; db (filters) (+)= sum of dy (may
// be null). dyp (chunks, n*positions, lanes): dy split into blocks of lanes, zero-padded.
// The sums run over the samples in fixed blocks merged in order: the bits do not depend
// on the thread count. partial: scratch the kernel sizes.
template <typename T>
void conv_direct_backward_weights(T* dw, T* db, const T* xp, const T* dyp, const DirectConv& g,
                                  int64_t n, bool accumulate, std::vector<T>& partial);

// dxp (n, hp, wp, c) = the sum over the windows covering each input value of dy @ w^T
// (overwritten). wt (filters, conv_padded_columns): the kernel transposed, zero-padded.
template <typename T>
void conv_direct_backward_input(T* dxp, const T* dy, const T* wt, const DirectConv& g,
                                int64_t n);

}  // namespace fastmlp
