// Argument checks for the thin validation layer above the kernels.
// A failed check throws std::invalid_argument, which pybind11 turns into ValueError;
// kernels themselves never check or throw.
#pragma once
#include <stdexcept>
#include <string>

#define FASTMLP_CHECK(cond, msg)                                   \
  do {                                                             \
    if (!(cond)) throw std::invalid_argument(std::string(msg));    \
  } while (0)
