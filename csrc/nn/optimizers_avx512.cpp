// penalized_update compiled with the AVX-512 flags (see CMakeLists.txt: no FMA contraction,
// so each element gets the same IEEE operations as the baseline copy). Called by
// penalized_update only where cpu_has_avx512(); tested with it by tests/test_ops.py and the
// estimator tests.
#include "nn/optimizer_steps.h"
#include "nn/optimizers.h"

namespace fastmlp {

template <typename T>
double penalized_update_avx512(const OptimizerConfig& opt, int64_t t, T* w, T* state_a,
                               T* state_b, const T* grad, int64_t n, int64_t n_coefs,
                               double alpha, double scale, std::vector<double>& partial) {
  return penalized_update_here(opt, t, w, state_a, state_b, grad, n, n_coefs, alpha, scale,
                               partial);
}

template double penalized_update_avx512<float>(const OptimizerConfig&, int64_t, float*, float*,
                                               float*, const float*, int64_t, int64_t, double,
                                               double, std::vector<double>&);
template double penalized_update_avx512<double>(const OptimizerConfig&, int64_t, double*,
                                                double*, double*, const double*, int64_t,
                                                int64_t, double, double, std::vector<double>&);

}  // namespace fastmlp
