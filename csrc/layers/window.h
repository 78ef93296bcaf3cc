// The geometry of sliding windows, shared by the convolution and pooling layers: output
// size and leading padding per spatial axis from Keras's padding modes ("valid", "same")
// or an explicit number of zeros on both sides (PyTorch's padding=p). 1-D layers are 2-D
// ones with a height of 1.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "layers/layer.h"

namespace fastmlp {

// How a layer pads: Keras's "valid" (no padding) or "same" (out = ceil(in / stride), the
// zeros split as TensorFlow splits them, the extra one after), or `explicit_pad` zeros on
// both sides of each axis.
struct Padding {
  enum Mode { valid, same, explicit_ } mode = valid;
  std::vector<int64_t> amount;  // explicit_: per spatial axis
};

// Reads the `padding` argument: "valid", "same", an int or a tuple of `dims` ints.
Padding read_padding(const LayerSpec& spec, size_t dims, const std::string& fallback);

// One spatial axis of a window: input size, window size, stride, zeros before, output size.
struct WindowAxis {
  int64_t in = 1, size = 1, stride = 1, pad = 0, out = 1;
};

// The axis for a window of `size` over `in` values; std::invalid_argument naming `what`
// ("kernel_size", "pool_size") and the sizes when the window is larger than the (padded)
// input. axis: which of the `dims` spatial axes (for an explicit padding per axis).
WindowAxis window_axis(int64_t in, int64_t size, int64_t stride, const Padding& padding,
                       size_t axis, const char* what);

// Both axes of a window over (height, width) -- height 1 for 1-D layers.
struct Window {
  WindowAxis h, w;
  int64_t out_positions() const { return h.out * w.out; }
  int64_t taps() const { return h.size * w.size; }
};

// The spatial shape of a channels-last input of a 1-D or 2-D layer: {1, steps} or
// {height, width}, and its channels; std::invalid_argument unless `in` has dims + 1 axes.
void spatial_input(const Shape& in, size_t dims, int64_t* height, int64_t* width,
                   int64_t* channels);

}  // namespace fastmlp
