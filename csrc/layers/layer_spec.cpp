// LayerSpec's typed argument access and the shape helpers of layers/layer.h.
#include <algorithm>
#include <stdexcept>

#include "layers/layer.h"

namespace fastmlp {

int64_t shape_size(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

namespace {

[[noreturn]] void wrong_type(const std::string& name, const char* want) {
  throw std::invalid_argument("argument '" + name + "' must be " + want);
}

}  // namespace

int64_t LayerSpec::get_int(const std::string& name, int64_t fallback) const {
  auto it = args.find(name);
  if (it == args.end()) return fallback;
  if (auto v = std::get_if<int64_t>(&it->second)) return *v;
  wrong_type(name, "an integer");
}

double LayerSpec::get_float(const std::string& name, double fallback) const {
  auto it = args.find(name);
  if (it == args.end()) return fallback;
  if (auto v = std::get_if<double>(&it->second)) return *v;
  if (auto v = std::get_if<int64_t>(&it->second)) return double(*v);
  wrong_type(name, "a number");
}

std::string LayerSpec::get_str(const std::string& name, const std::string& fallback) const {
  auto it = args.find(name);
  if (it == args.end()) return fallback;
  if (auto v = std::get_if<std::string>(&it->second)) return *v;
  wrong_type(name, "a string");
}

std::vector<int64_t> LayerSpec::get_ints(const std::string& name,
                                         const std::vector<int64_t>& fallback,
                                         size_t dims) const {
  auto it = args.find(name);
  std::vector<int64_t> v = fallback;
  if (it != args.end()) {
    if (auto k = std::get_if<int64_t>(&it->second)) {
      v.assign(dims, *k);
    } else if (auto t = std::get_if<std::vector<int64_t>>(&it->second)) {
      v = *t;
    } else {
      wrong_type(name, "an integer or a tuple of integers");
    }
  }
  if (v.size() != dims)
    throw std::invalid_argument("argument '" + name + "' must be an integer or a tuple of " +
                                std::to_string(dims) + " integers");
  return v;
}

void LayerSpec::check_known(const std::vector<std::string>& known) const {
  for (const auto& [name, value] : args) {
    (void)value;
    if (std::find(known.begin(), known.end(), name) == known.end())
      throw std::invalid_argument("unknown argument '" + name + "'");
  }
}

}  // namespace fastmlp
