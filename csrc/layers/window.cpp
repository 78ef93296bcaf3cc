// Window geometry of the convolution and pooling layers (see window.h).
#include "layers/window.h"

#include <stdexcept>
#include <variant>

#include "common/check.h"

namespace fastmlp {

Padding read_padding(const LayerSpec& spec, size_t dims, const std::string& fallback) {
  Padding p;
  auto it = spec.args.find("padding");
  const std::string* mode = it == spec.args.end() ? &fallback : std::get_if<std::string>(&it->second);
  if (mode) {
    FASTMLP_CHECK(*mode == "valid" || *mode == "same",
                  "padding must be 'valid', 'same' or a number of zeros, got '" + *mode + "'");
    p.mode = *mode == "same" ? Padding::same : Padding::valid;
    return p;
  }
  p.mode = Padding::explicit_;
  p.amount = spec.get_ints("padding", {}, dims);
  for (int64_t a : p.amount)
    FASTMLP_CHECK(a >= 0, "padding must be >= 0, got " + std::to_string(a));
  return p;
}

WindowAxis window_axis(int64_t in, int64_t size, int64_t stride, const Padding& padding,
                       size_t axis, const char* what) {
  WindowAxis a;
  a.in = in;
  a.size = size;
  a.stride = stride;
  if (padding.mode == Padding::same) {
    a.out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>((a.out - 1) * stride + size - in, 0);
    a.pad = total / 2;
    return a;
  }
  const int64_t pad = padding.mode == Padding::explicit_ ? padding.amount[axis] : 0;
  if (in + 2 * pad < size) {
    std::string msg = std::string(what) + " " + std::to_string(size) + " is larger than the ";
    msg += pad ? "padded input (" + std::to_string(in) + " + 2 x " + std::to_string(pad) +
                     " zeros = " + std::to_string(in + 2 * pad) + ")"
               : "input (" + std::to_string(in) + ")";
    throw std::invalid_argument(msg);
  }
  a.pad = pad;
  a.out = (in + 2 * pad - size) / stride + 1;
  return a;
}

void spatial_input(const Shape& in, size_t dims, int64_t* height, int64_t* width,
                   int64_t* channels) {
  if (in.size() != dims + 1)
    throw std::invalid_argument(
        std::string("needs samples of shape ") +
        (dims == 1 ? "(steps, channels)" : "(height, width, channels)") + ", got " +
        shape_str(in));
  *height = dims == 1 ? 1 : in[0];
  *width = in[dims - 1];
  *channels = in[dims];
}

}  // namespace fastmlp
