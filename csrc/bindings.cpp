// The Python module fastmlp._core: the only file that includes pybind11.
// Arrays cross without copies (C-contiguous, exact dtype; Python makes any conversion
// visibly), every argument is validated here so that bad input raises ValueError
// instead of reaching a kernel, and all numerical work runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "common/check.h"
#include "common/cpu_features.h"
#include "common/legacy_shuffle.h"
#include "common/parallel.h"
#include "gemm/gemm.h"
#include "nn/activations.h"
#include "nn/dropout.h"
#include "nn/log_math.h"
#include "nn/losses.h"
#include "nn/network.h"
#include "nn/optimizers.h"
#include "generative/gan.h"
#include "layers/sequential.h"

#ifdef FASTMLP_HAS_CUDA
#include <memory>

#include "cuda/cuda_api.h"
#endif

namespace py = pybind11;
using namespace fastmlp;

namespace {

template <typename T>
using Array = py::array_t<T, py::array::c_style>;

template <typename T>
const char* dtype_name() {
  return sizeof(T) == 4 ? "float32" : "float64";
}

// The array itself, or a ValueError naming the argument: never a silent copy.
template <typename T>
Array<T> require(const py::handle& o, const char* name) {
  FASTMLP_CHECK(py::isinstance<Array<T>>(o), std::string(name) + " must be a C-contiguous " +
                                                 dtype_name<T>() + " numpy array");
  return py::reinterpret_borrow<Array<T>>(o);
}

template <typename T>
T* writable(Array<T>& a, const char* name) {
  FASTMLP_CHECK(a.writeable(), std::string(name) + " must be writeable");
  return a.mutable_data();
}

void check_size(int64_t got, int64_t want, const char* what) {
  FASTMLP_CHECK(got == want, std::string(what) + " has " + std::to_string(got) +
                                 " elements, expected " + std::to_string(want));
}

// Keeps the arrays behind an InputMatrix alive and checked. X is a 2-D array, or a
// tuple (data, indices, indptr, n_features) describing a CSR matrix with int64 indices.
template <typename T>
struct InputHolder {
  py::object keep[3];
  InputMatrix<T> m;
};

template <typename T>
InputHolder<T> as_input(const py::object& X, int64_t n_features) {
  InputHolder<T> h;
  if (py::isinstance<py::tuple>(X)) {
    auto t = X.cast<py::tuple>();
    FASTMLP_CHECK(t.size() == 4, "sparse X must be (data, indices, indptr, n_features)");
    auto data = require<T>(t[0], "X.data");
    FASTMLP_CHECK(py::isinstance<Array<int64_t>>(t[1]) && py::isinstance<Array<int64_t>>(t[2]),
                  "X.indices and X.indptr must be C-contiguous int64 arrays");
    auto indices = py::reinterpret_borrow<Array<int64_t>>(t[1]);
    auto indptr = py::reinterpret_borrow<Array<int64_t>>(t[2]);
    const int64_t d = t[3].cast<int64_t>();
    FASTMLP_CHECK(indptr.ndim() == 1 && indptr.size() >= 1, "X.indptr must be 1-D and non-empty");
    const int64_t n = indptr.size() - 1;
    const int64_t* ip = indptr.data();
    const int64_t nnz = ip[n];
    FASTMLP_CHECK(ip[0] == 0 && nnz <= data.size() && nnz <= indices.size(),
                  "X.indptr does not match X.data / X.indices");
    for (int64_t i = 0; i < n; ++i) FASTMLP_CHECK(ip[i] <= ip[i + 1], "X.indptr must be non-decreasing");
    const int64_t* idx = indices.data();
    for (int64_t p = 0; p < nnz; ++p)
      FASTMLP_CHECK(idx[p] >= 0 && idx[p] < d, "X.indices out of range [0, n_features)");
    h.m.data = data.data();
    h.m.indices = idx;
    h.m.indptr = ip;
    h.m.n = n;
    h.m.d = d;
    h.keep[0] = data;
    h.keep[1] = indices;
    h.keep[2] = indptr;
  } else {
    auto a = require<T>(X, "X");
    FASTMLP_CHECK(a.ndim() == 2, "X must be 2-D");
    h.m.dense = a.data();
    h.m.n = a.shape(0);
    h.m.d = a.shape(1);
    h.keep[0] = a;
  }
  FASTMLP_CHECK(h.m.d == n_features, "X has " + std::to_string(h.m.d) +
                                         " features, the network expects " +
                                         std::to_string(n_features));
  return h;
}

template <typename T>
const T* optional_weights(const py::object& sw, Array<T>& keep, int64_t n) {
  if (sw.is_none()) return nullptr;
  keep = require<T>(sw, "sample_weight");
  check_size(keep.size(), n, "sample_weight");
  return keep.data();
}

// The epoch's row order (int64, every entry in [0, n)), or null for rows in order.
const int64_t* optional_order(const py::object& order_obj, Array<int64_t>& keep, int64_t n) {
  if (order_obj.is_none()) return nullptr;
  FASTMLP_CHECK(py::isinstance<Array<int64_t>>(order_obj), "order must be a C-contiguous int64 array");
  keep = py::reinterpret_borrow<Array<int64_t>>(order_obj);
  check_size(keep.size(), n, "order");
  const int64_t* order = keep.data();
  for (int64_t i = 0; i < n; ++i)
    FASTMLP_CHECK(order[i] >= 0 && order[i] < n, "order holds a row out of range");
  return order;
}

// train_epoch's `commit`: arrays (one per live array: params, optimizer state(s)) that
// receive a copy of the live ones before the epoch changes them, so that an interrupted
// epoch can be undone. Checked with the GIL held; copied by copy_commit without it, split
// in halves across the threads: each half is then read on the core that last stepped
// most of it (one core's np.copyto pulled the other core's half over: 15-30 µs a digits
// epoch against a few here).
template <typename T>
struct Commit {
  struct Copy {
    const T* src;
    T* dst;
    int64_t n;
  };
  std::vector<Copy> copies;
  std::vector<Array<T>> keep;
};

// live: (array, size) of each array the epoch changes, in train_epoch's order (b null for
// sgd); commit holds copies of the first ones.
template <typename T>
Commit<T> check_commit(const py::object& commit_obj,
                       std::initializer_list<std::pair<const T*, int64_t>> live) {
  Commit<T> c;
  if (commit_obj.is_none()) return c;
  FASTMLP_CHECK(py::isinstance<py::sequence>(commit_obj), "commit must be a sequence of arrays");
  auto seq = commit_obj.cast<py::sequence>();
  auto src = live.begin();
  for (size_t i = 0; i < seq.size(); ++i, ++src) {
    FASTMLP_CHECK(src != live.end() && src->first != nullptr,
                  "commit has more arrays than the epoch changes");
    auto a = require<T>(seq[i], "commit");
    check_size(a.size(), src->second, "commit");
    c.copies.push_back({src->first, writable(a, "commit"), src->second});
    c.keep.push_back(a);
  }
  return c;
}

template <typename T>
void copy_commit(const Commit<T>& c) {
  if (c.copies.empty()) return;
  parallel_for(2, [&](int64_t h) {
    for (const auto& cp : c.copies) {
      const int64_t half = (cp.n + 1) / 2, lo = h * half, len = std::min(cp.n, lo + half) - lo;
      if (len > 0) std::memcpy(cp.dst + lo, cp.src + lo, sizeof(T) * size_t(len));
    }
  });
}

// Ctrl-C from a long C++ loop: every ~50 ms take the GIL back just long enough to run
// Python's signal handlers. A pending KeyboardInterrupt stays set on this thread and is
// raised by the caller once the GIL-released scope has ended.
class SignalCheck {
 public:
  bool operator()() {
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(50)) return false;
    last_ = now;
    py::gil_scoped_acquire gil;
    return PyErr_CheckSignals() != 0;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// "native" (the arrays' own dtype) or "bfloat16" (float32 rounded to bf16, float32 sums).
Precision parse_precision(const std::string& name) {
  if (name == "native") return Precision::native;
  if (name == "bfloat16") return Precision::bf16;
  throw std::invalid_argument("unknown precision '" + name + "' (expected 'native' or 'bfloat16')");
}

template <typename T>
py::array gemm_typed(const py::array& a_obj, const py::array& b_obj, bool ta, bool tb,
                     const std::string& kernel_name, double alpha, double beta,
                     const py::object& out, Precision precision) {
  auto a = require<T>(a_obj, "a");
  auto b = require<T>(b_obj, "b");
  FASTMLP_CHECK(a.ndim() == 2 && b.ndim() == 2, "gemm takes 2-D arrays");
  const int64_t M = ta ? a.shape(1) : a.shape(0), K = ta ? a.shape(0) : a.shape(1);
  const int64_t Kb = tb ? b.shape(1) : b.shape(0), N = tb ? b.shape(0) : b.shape(1);
  FASTMLP_CHECK(K == Kb, "gemm: inner dimensions differ (" + std::to_string(K) + " vs " +
                             std::to_string(Kb) + ")");
  GemmKernel kernel = GemmKernel::automatic;
  Bf16Kernel bf16_kernel = Bf16Kernel::automatic;
  if (precision == Precision::bf16) {
    FASTMLP_CHECK((std::is_same_v<T, float>), "precision='bfloat16' takes float32 arrays");
    FASTMLP_CHECK(cpu_has_avx512_bf16(),
                  "precision='bfloat16' needs a CPU with AVX-512 BF16 (avx512_bf16); this CPU "
                  "does not have it (or FASTMLP_BF16=0 is set)");
    bf16_kernel = resolve_bf16_kernel(parse_bf16_kernel(kernel_name));
  } else {
    kernel = resolve_gemm_kernel(parse_gemm_kernel(kernel_name));
  }
  Array<T> c;
  if (out.is_none()) {
    FASTMLP_CHECK(beta == 0.0, "gemm: beta != 0 needs `out`");
    c = Array<T>({M, N});
  } else {
    c = require<T>(out, "out");
    FASTMLP_CHECK(c.ndim() == 2 && c.shape(0) == M && c.shape(1) == N,
                  "gemm: out must have shape (" + std::to_string(M) + ", " + std::to_string(N) + ")");
  }
  T* cp = writable(c, "out");
  {
    py::gil_scoped_release release;
    GemmWorkspace ws;
    bool done = false;
    if constexpr (std::is_same_v<T, float>) {
      if (precision == Precision::bf16) {
        gemm_bf16(ta, tb, M, N, K, alpha, a.data(), a.shape(1), b.data(), b.shape(1), beta, cp,
                  N, ws, bf16_kernel);
        done = true;
      }
    }
    if (!done)
      gemm<T>(ta, tb, M, N, K, T(alpha), a.data(), a.shape(1), b.data(), b.shape(1), T(beta), cp,
              N, ws, kernel);
  }
  return std::move(c);
}

// The test hook activation_backward(name, delta, a, z=None) of the CPU and the CUDA
// kernels: one set of argument checks, then run(f, delta, a, z or null, rows, width).
template <typename T, typename Run>
void def_activation_backward(py::module_& m, Run run) {
  m.def("activation_backward", [run](const std::string& name, py::object delta_obj,
                                     py::object a_obj, py::object z_obj) {
    auto delta = require<T>(delta_obj, "delta");
    auto a = require<T>(a_obj, "a");
    FASTMLP_CHECK(delta.ndim() == 2 && a.ndim() == 2 && delta.shape(0) == a.shape(0) &&
                      delta.shape(1) == a.shape(1),
                  "delta and a must be 2-D arrays of the same shape");
    const Activation f = parse_activation(name);
    Array<T> z;
    if (!z_obj.is_none()) {
      z = require<T>(z_obj, "z");
      FASTMLP_CHECK(z.ndim() == 2 && z.shape(0) == a.shape(0) && z.shape(1) == a.shape(1),
                    "z and a must be 2-D arrays of the same shape");
    }
    FASTMLP_CHECK(!activation_needs_preactivation(f) || !z_obj.is_none(),
                  "activation '" + name + "' needs the pre-activation z");
    const T* zp = z_obj.is_none() ? nullptr : z.data();
    T* d = writable(delta, "delta");
    py::gil_scoped_release release;
    run(f, d, a.data(), zp, a.shape(0), a.shape(1));
  }, py::arg("name"), py::arg("delta"), py::arg("a"), py::arg("z") = py::none());
}

// The test hook dropout_forward(y, mask, a, rows, p, seed, layer) of the CPU and the CUDA
// kernels: one set of argument checks, then run(y, mask, a, rows, n, width, p, seed, layer).
template <typename T, typename Run>
void def_dropout_forward(py::module_& m, Run run) {
  m.def("dropout_forward", [run](py::object y_obj, py::object mask_obj, py::object a_obj,
                                 py::object rows_obj, double p, uint64_t seed, int64_t layer) {
    auto y = require<T>(y_obj, "y");
    auto mask = require<T>(mask_obj, "mask");
    auto a = require<T>(a_obj, "a");
    FASTMLP_CHECK(a.ndim() == 2 && y.ndim() == 2 && mask.ndim() == 2 &&
                      y.shape(0) == a.shape(0) && y.shape(1) == a.shape(1) &&
                      mask.shape(0) == a.shape(0) && mask.shape(1) == a.shape(1),
                  "y, mask and a must be 2-D arrays of the same shape");
    FASTMLP_CHECK(p > 0.0 && p < 1.0, "p must be in (0, 1)");
    Array<int64_t> rows;
    const int64_t* r = nullptr;
    if (!rows_obj.is_none()) {
      FASTMLP_CHECK(py::isinstance<Array<int64_t>>(rows_obj), "rows must be a C-contiguous int64 array");
      rows = py::reinterpret_borrow<Array<int64_t>>(rows_obj);
      check_size(rows.size(), a.shape(0), "rows");
      r = rows.data();
    }
    T* yp = writable(y, "y");
    T* mp = writable(mask, "mask");
    py::gil_scoped_release release;
    run(yp, mp, a.data(), r, a.shape(0), a.shape(1), p, seed, layer);
  }, py::arg("y"), py::arg("mask"), py::arg("a"), py::arg("rows"), py::arg("p"), py::arg("seed"),
     py::arg("layer"));
}

// The optimizer of one train_epoch call (CPU and GPU networks alike), validated.
OptimizerConfig make_optimizer(const std::string& solver, double lr, double momentum,
                               bool nesterov, double beta_1, double beta_2, double epsilon,
                               const std::string& schedule = "constant",
                               int64_t warmup_steps = 0, int64_t total_steps = 0,
                               double max_grad_norm = 0.0) {
  OptimizerConfig opt;
  FASTMLP_CHECK(solver == "sgd" || solver == "adam" || solver == "adamw",
                "solver must be 'sgd', 'adam' or 'adamw'");
  opt.solver = solver == "sgd" ? Solver::sgd : solver == "adam" ? Solver::adam : Solver::adamw;
  FASTMLP_CHECK(schedule == "constant" || schedule == "cosine",
                "schedule must be 'constant' or 'cosine'");
  opt.schedule = schedule == "cosine" ? Schedule::cosine : Schedule::constant;
  opt.warmup_steps = warmup_steps;
  opt.total_steps = total_steps;
  FASTMLP_CHECK(max_grad_norm >= 0.0, "max_grad_norm must be >= 0 (0: no clipping)");
  opt.max_grad_norm = max_grad_norm;
  opt.learning_rate = lr;
  opt.momentum = momentum;
  opt.nesterov = nesterov;
  opt.beta_1 = beta_1;
  opt.beta_2 = beta_2;
  opt.epsilon = epsilon;
  return opt;
}

// The arrays of a fused step (nn/optimizers.h penalized_update) from Python: the weights,
// the optimizer's two states and the gradient (scratch), all checked writeable and of one
// size; n_coefs within it and t >= 1.
template <typename T>
struct StepArrays {
  T *w, *a, *b, *g;
  int64_t n;
};
template <typename T>
StepArrays<T> step_arrays(const py::object& w_obj, const py::object& a_obj,
                          const py::object& b_obj, const py::object& g_obj, int64_t n_coefs,
                          int64_t t) {
  auto w = require<T>(w_obj, "w");
  auto a = require<T>(a_obj, "state_a");
  auto b = require<T>(b_obj, "state_b");
  auto g = require<T>(g_obj, "grad");
  check_size(a.size(), w.size(), "state_a");
  check_size(b.size(), w.size(), "state_b");
  check_size(g.size(), w.size(), "grad");
  FASTMLP_CHECK(n_coefs >= 0 && n_coefs <= w.size() && t >= 1, "bad n_coefs or t");
  return {writable(w, "w"), writable(a, "state_a"), writable(b, "state_b"), writable(g, "grad"),
          int64_t(w.size())};
}

template <typename T>
void bind_kernels(py::module_& m) {
  m.def("activation_forward", [](const std::string& name, py::object a_obj) {
    auto a = require<T>(a_obj, "a");
    FASTMLP_CHECK(a.ndim() == 2, "a must be 2-D");
    const Activation f = parse_activation(name);
    T* p = writable(a, "a");
    py::gil_scoped_release release;
    activation_forward(f, p, a.shape(0), a.shape(1));
  });
  def_activation_backward<T>(m, [](Activation f, T* d, const T* a, const T* z, int64_t n,
                                   int64_t width) { activation_backward(f, d, a, n, width, z); });
  m.def("loss_forward", [](const std::string& name, py::object p_obj, py::object y_obj,
                           py::object sw_obj) {
    auto p = require<T>(p_obj, "p");
    auto y = require<T>(y_obj, "y");
    FASTMLP_CHECK(p.ndim() == 2 && y.ndim() == 2 && p.shape(0) == y.shape(0) &&
                      p.shape(1) == y.shape(1),
                  "p and y must be 2-D arrays of the same shape");
    Array<T> sw_keep;
    const T* sw = optional_weights<T>(sw_obj, sw_keep, p.shape(0));
    const Loss loss = parse_loss(name);
    py::gil_scoped_release release;
    return loss_forward(loss, p.data(), y.data(), sw, p.shape(0), p.shape(1));
  });
  m.def("loss_backward", [](py::object delta_obj, py::object p_obj, py::object y_obj,
                            py::object sw_obj, const std::string& name) {
    auto delta = require<T>(delta_obj, "delta");
    auto p = require<T>(p_obj, "p");
    auto y = require<T>(y_obj, "y");
    FASTMLP_CHECK(p.ndim() == 2 && y.ndim() == 2 && delta.ndim() == 2 &&
                      p.shape(0) == y.shape(0) && p.shape(1) == y.shape(1) &&
                      delta.shape(0) == p.shape(0) && delta.shape(1) == p.shape(1),
                  "delta, p and y must be 2-D arrays of the same shape");
    Array<T> sw_keep;
    const T* sw = optional_weights<T>(sw_obj, sw_keep, p.shape(0));
    const Loss loss = parse_loss(name);
    T* d = writable(delta, "delta");
    py::gil_scoped_release release;
    loss_backward(loss, d, p.data(), y.data(), sw, p.shape(0), p.shape(1));
  }, py::arg("delta"), py::arg("p"), py::arg("y"), py::arg("sw"),
     py::arg("loss") = "squared_error");
  def_dropout_forward<T>(m, [](T* y, T* mask, const T* a, const int64_t* rows, int64_t n,
                               int64_t width, double p, uint64_t seed, int64_t layer) {
    dropout_forward(y, mask, a, rows, 0, n, width, p, seed, layer);
  });
  m.def("sgd_update", [](py::object w_obj, py::object v_obj, py::object g_obj, double lr,
                         double momentum, bool nesterov) {
    auto w = require<T>(w_obj, "w");
    auto v = require<T>(v_obj, "velocity");
    auto g = require<T>(g_obj, "grad");
    check_size(v.size(), w.size(), "velocity");
    check_size(g.size(), w.size(), "grad");
    T* wp = writable(w, "w");
    T* vp = writable(v, "velocity");
    py::gil_scoped_release release;
    sgd_update(wp, vp, g.data(), w.size(), lr, momentum, nesterov);
  });
  m.def("adam_update", [](py::object w_obj, py::object m_obj, py::object v_obj, py::object g_obj,
                          int64_t t, double lr, double beta_1, double beta_2, double epsilon) {
    auto w = require<T>(w_obj, "w");
    auto mm = require<T>(m_obj, "m");
    auto v = require<T>(v_obj, "v");
    auto g = require<T>(g_obj, "grad");
    check_size(mm.size(), w.size(), "m");
    check_size(v.size(), w.size(), "v");
    check_size(g.size(), w.size(), "grad");
    FASTMLP_CHECK(t >= 1, "t must be >= 1");
    T* wp = writable(w, "w");
    T* mp = writable(mm, "m");
    T* vp = writable(v, "v");
    py::gil_scoped_release release;
    adam_update(wp, mp, vp, g.data(), w.size(), t, lr, beta_1, beta_2, epsilon);
  });
  // The training loop's fused step (nn/optimizers.h), for tests: grad is scratch, `more`
  // another slice's gradient or None; returns sum(w^2) over the weights before the step.
  m.def("penalized_update", [](const std::string& solver, int64_t t, py::object w_obj,
                               py::object a_obj, py::object b_obj, py::object g_obj,
                               py::object more_obj, int64_t n_coefs, double lr,
                               double momentum, bool nesterov, double beta_1, double beta_2,
                               double epsilon, double alpha, double scale,
                               double max_grad_norm) {
    const OptimizerConfig opt = make_optimizer(solver, lr, momentum, nesterov, beta_1, beta_2,
                                               epsilon, "constant", 0, 0, max_grad_norm);
    const StepArrays<T> s = step_arrays<T>(w_obj, a_obj, b_obj, g_obj, n_coefs, t);
    Array<T> more;
    if (!more_obj.is_none()) {
      more = require<T>(more_obj, "more");
      check_size(more.size(), s.n, "more");
    }
    const T* mp = more_obj.is_none() ? nullptr : more.data();
    std::vector<double> partial;
    py::gil_scoped_release release;
    return penalized_update(opt, t, s.w, s.a, s.b, s.g, mp, s.n, n_coefs, alpha, scale, partial);
  }, py::arg("solver"), py::arg("t"), py::arg("w"), py::arg("state_a"), py::arg("state_b"),
     py::arg("grad"), py::arg("more"), py::arg("n_coefs"), py::arg("lr"), py::arg("momentum"),
     py::arg("nesterov"), py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"),
     py::arg("alpha"), py::arg("scale"), py::arg("max_grad_norm") = 0.0);
}

template <typename T>
void bind_network(py::module_& m, const char* name) {
  py::class_<Network<T>>(m, name, "A dense network's workspaces; parameters stay in numpy.")
      .def(py::init([](std::vector<int64_t> sizes, const std::string& hidden,
                       const std::string& output, const std::string& loss, int64_t chunk_rows,
                       std::vector<double> dropout, const std::string& precision) {
             NetworkSpec spec;
             spec.sizes = std::move(sizes);
             spec.hidden = parse_activation(hidden);
             spec.output = parse_activation(output);
             spec.loss = parse_loss(loss);
             return new Network<T>(std::move(spec), chunk_rows, std::move(dropout),
                                   parse_precision(precision));
           }),
           py::arg("sizes"), py::arg("hidden_activation"), py::arg("output_activation"),
           py::arg("loss"), py::arg("chunk_rows"), py::arg("dropout") = std::vector<double>(),
           py::arg("precision") = "native")
      .def_property_readonly("n_params", [](const Network<T>& net) { return net.spec().n_params(); })
      .def_property_readonly("precision", [](const Network<T>& net) {
        return std::string(net.precision() == Precision::bf16 ? "bfloat16" : "native");
      })
      .def("loss_grad",
           [](Network<T>& net, py::object params_obj, py::object grad_obj, py::object X_obj,
              py::object Y_obj, py::object sw_obj, double alpha, py::object dropout_seed) {
             const NetworkSpec& spec = net.spec();
             DropoutDraw drop;
             if (!dropout_seed.is_none()) drop = {true, dropout_seed.cast<uint64_t>()};
             auto params = require<T>(params_obj, "params");
             auto grad = require<T>(grad_obj, "grad");
             check_size(params.size(), spec.n_params(), "params");
             check_size(grad.size(), spec.n_params(), "grad");
             auto X = as_input<T>(X_obj, spec.sizes.front());
             auto Y = require<T>(Y_obj, "Y");
             check_size(Y.size(), X.m.n * spec.sizes.back(), "Y");
             Array<T> sw_keep;
             const T* sw = optional_weights<T>(sw_obj, sw_keep, X.m.n);
             FASTMLP_CHECK(X.m.n > 0, "X has no rows");
             T* g = writable(grad, "grad");
             bool interrupted = false;
             double loss;
             {
               py::gil_scoped_release release;
               SignalCheck check;
               loss = net.loss_grad(params.data(), g, X.m, Y.data(), sw, nullptr, X.m.n, alpha,
                                    std::ref(check), &interrupted, drop);
             }
             if (interrupted) throw py::error_already_set();
             return loss;
           },
           py::arg("params"), py::arg("grad"), py::arg("X"), py::arg("Y"), py::arg("sample_weight"),
           py::arg("alpha"), py::arg("dropout_seed") = py::none())
      .def("train_epoch",
           [](Network<T>& net, py::object params_obj, py::object state_a_obj,
              py::object state_b_obj, int64_t adam_t, const std::string& solver, double lr,
              double momentum, bool nesterov, double beta_1, double beta_2, double epsilon,
              py::object X_obj, py::object Y_obj, py::object sw_obj, py::object order_obj,
              int64_t batch_size, double alpha, int64_t step, const std::string& schedule,
              int64_t warmup_steps, int64_t total_steps, double max_grad_norm,
              uint64_t dropout_seed, py::object commit_obj) {
             const NetworkSpec& spec = net.spec();
             const int64_t np_ = spec.n_params();
             auto params = require<T>(params_obj, "params");
             auto state_a = require<T>(state_a_obj, "optimizer state");
             auto state_b = require<T>(state_b_obj, "optimizer state");
             check_size(params.size(), np_, "params");
             check_size(state_a.size(), np_, "optimizer state");
             const OptimizerConfig opt =
                 make_optimizer(solver, lr, momentum, nesterov, beta_1, beta_2, epsilon,
                                schedule, warmup_steps, total_steps, max_grad_norm);
             if (opt.solver != Solver::sgd) check_size(state_b.size(), np_, "optimizer state");
             FASTMLP_CHECK(step >= 0, "step must be >= 0");
             auto X = as_input<T>(X_obj, spec.sizes.front());
             FASTMLP_CHECK(X.m.n > 0, "X has no rows");
             auto Y = require<T>(Y_obj, "Y");
             check_size(Y.size(), X.m.n * spec.sizes.back(), "Y");
             Array<T> sw_keep;
             const T* sw = optional_weights<T>(sw_obj, sw_keep, X.m.n);
             Array<int64_t> order_keep;
             const int64_t* order = optional_order(order_obj, order_keep, X.m.n);
             T* p = writable(params, "params");
             T* a = writable(state_a, "optimizer state");
             T* b = opt.solver != Solver::sgd ? writable(state_b, "optimizer state") : nullptr;
             const Commit<T> commit = check_commit<T>(commit_obj, {{p, np_}, {a, np_}, {b, np_}});
             bool interrupted = false;
             double loss;
             {
               py::gil_scoped_release release;
               copy_commit(commit);
               SignalCheck check;
               loss = net.train_epoch(p, a, b, adam_t, opt, X.m, Y.data(), sw, order, X.m.n,
                                      batch_size, alpha, step, dropout_seed, std::ref(check),
                                      &interrupted);
             }
             if (interrupted) throw py::error_already_set();
             return py::make_tuple(loss, adam_t);
           },
           py::arg("params"), py::arg("state_a"), py::arg("state_b"), py::arg("adam_t"),
           py::arg("solver"), py::arg("learning_rate"), py::arg("momentum"),
           py::arg("nesterov"), py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"),
           py::arg("X"), py::arg("Y"), py::arg("sample_weight"), py::arg("order"),
           py::arg("batch_size"), py::arg("alpha"), py::arg("step") = 0,
           py::arg("schedule") = "constant", py::arg("warmup_steps") = 0,
           py::arg("total_steps") = 0, py::arg("max_grad_norm") = 0.0,
           py::arg("dropout_seed") = 0, py::arg("commit") = py::none())
      .def("mean_loss",
           [](Network<T>& net, py::object params_obj, py::object X_obj, py::object Y_obj,
              py::object sw_obj) {
             const NetworkSpec& spec = net.spec();
             auto params = require<T>(params_obj, "params");
             check_size(params.size(), spec.n_params(), "params");
             auto X = as_input<T>(X_obj, spec.sizes.front());
             FASTMLP_CHECK(X.m.n > 0, "X has no rows");
             auto Y = require<T>(Y_obj, "Y");
             check_size(Y.size(), X.m.n * spec.sizes.back(), "Y");
             Array<T> sw_keep;
             const T* sw = optional_weights<T>(sw_obj, sw_keep, X.m.n);
             bool interrupted = false;
             double loss;
             {
               py::gil_scoped_release release;
               SignalCheck check;
               loss = net.mean_loss(params.data(), X.m, Y.data(), sw, std::ref(check),
                                    &interrupted);
             }
             if (interrupted) throw py::error_already_set();
             return loss;
           },
           py::arg("params"), py::arg("X"), py::arg("Y"), py::arg("sample_weight"))
      .def("predict",
           [](Network<T>& net, py::object params_obj, py::object X_obj, py::object out_obj) {
             const NetworkSpec& spec = net.spec();
             auto params = require<T>(params_obj, "params");
             check_size(params.size(), spec.n_params(), "params");
             auto X = as_input<T>(X_obj, spec.sizes.front());
             auto out = require<T>(out_obj, "out");
             check_size(out.size(), X.m.n * spec.sizes.back(), "out");
             T* o = writable(out, "out");
             bool interrupted = false;
             {
               py::gil_scoped_release release;
               SignalCheck check;
               net.predict(params.data(), X.m, o, std::ref(check), &interrupted);
             }
             if (interrupted) throw py::error_already_set();
           },
           py::arg("params"), py::arg("X"), py::arg("out"));
}


// A layer spec from Python's plain data: {"kind": str, "args": {name: int | float | str |
// tuple of ints}, "children": [spec, ...]} (python/fastmlp/layers.py builds them).
LayerSpec as_layer_spec(const py::handle& obj) {
  FASTMLP_CHECK(py::isinstance<py::dict>(obj), "a layer spec must be a dict");
  auto d = py::reinterpret_borrow<py::dict>(obj);
  FASTMLP_CHECK(d.contains("kind"), "a layer spec needs a 'kind'");
  LayerSpec spec;
  spec.kind = d["kind"].cast<std::string>();
  if (d.contains("args")) {
    for (auto item : d["args"].cast<py::dict>()) {
      const std::string name = item.first.cast<std::string>();
      const py::handle v = item.second;
      if (py::isinstance<py::bool_>(v) || py::isinstance<py::int_>(v)) {
        spec.args[name] = v.cast<int64_t>();
      } else if (py::isinstance<py::float_>(v)) {
        spec.args[name] = v.cast<double>();
      } else if (py::isinstance<py::str>(v)) {
        spec.args[name] = v.cast<std::string>();
      } else if (py::isinstance<py::tuple>(v) || py::isinstance<py::list>(v)) {
        spec.args[name] = v.cast<std::vector<int64_t>>();
      } else {
        throw std::invalid_argument(spec.kind + ": argument '" + name +
                                    "' must be an int, a float, a str or a tuple of ints");
      }
    }
  }
  if (d.contains("children"))
    for (auto child : d["children"].cast<py::list>()) spec.children.push_back(as_layer_spec(child));
  return spec;
}

// The engine behind NeuralNetClassifier/Regressor, with the arrays its last forward pass
// read kept alive for the backward pass that follows.
template <typename T>
struct SequentialHandle {
  std::unique_ptr<Sequential<T>> net;
  py::object last_x;
};

template <typename T>
py::tuple as_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = s[i];
  return t;
}

template <typename T>
void bind_sequential(py::module_& m, const char* name) {
  using H = SequentialHandle<T>;
  // The estimators keep the non-trainable state right after the parameters in one array:
  // `params` holds n_params + n_state values; the optimizer states at least n_params.
  auto split = [](H& h, py::object params_obj, bool write) {
    auto params = require<T>(params_obj, "params");
    check_size(params.size(), h.net->n_params() + h.net->n_state(), "params");
    T* p = write ? writable(params, "params") : const_cast<T*>(params.data());
    return std::make_pair(params, p);
  };
  auto input = [](H& h, const py::object& X_obj) {
    auto X = as_input<T>(X_obj, h.net->input_size());
    FASTMLP_CHECK(!X.m.sparse(), "the layer engine takes dense X");
    FASTMLP_CHECK(X.m.n > 0, "X has no rows");
    return X;
  };
  py::class_<H>(m, name, "A stack of layers' workspaces; parameters stay in numpy.")
      .def(py::init([](py::list layers, std::vector<int64_t> input_shape,
                       const std::string& output, const std::string& loss, int64_t chunk_rows,
                       const std::string& precision, bool allow_slices) {
             std::vector<LayerSpec> specs;
             for (auto l : layers) specs.push_back(as_layer_spec(l));
             auto h = new H;
             h->net.reset(new Sequential<T>(std::move(specs), std::move(input_shape),
                                            parse_activation(output), parse_loss(loss),
                                            chunk_rows, parse_precision(precision),
                                            allow_slices));
             return h;
           }),
           py::arg("layers"), py::arg("input_shape"), py::arg("output_activation"),
           py::arg("loss"), py::arg("chunk_rows"), py::arg("precision") = "native",
           py::arg("allow_slices") = true)
      .def_property_readonly("n_params", [](const H& h) { return h.net->n_params(); })
      .def_property_readonly("n_decayed", [](const H& h) { return h.net->n_decayed(); })
      .def_property_readonly("n_state", [](const H& h) { return h.net->n_state(); })
      .def_property_readonly("input_shape", [](const H& h) { return as_tuple<T>(h.net->input_shape()); })
      .def_property_readonly("output_shape", [](const H& h) { return as_tuple<T>(h.net->output_shape()); })
      .def_property_readonly("input_size", [](const H& h) { return h.net->input_size(); })
      .def_property_readonly("output_size", [](const H& h) { return h.net->output_size(); })
      .def_property_readonly("chunk_rows", [](const H& h) { return h.net->chunk_rows(); })
      .def_property_readonly("workspace_per_row", [](const H& h) { return h.net->workspace_per_row(); })
      .def_property_readonly("sliced", [](const H& h) { return h.net->sliced(); })
      .def("layout", [](const H& h) {
        // Per layer: kind, shapes, slots with their offsets (states: after n_params in the
        // estimators' array, offsets relative to the state vector).
        py::list out;
        for (int64_t i = 0; i < h.net->n_layers(); ++i) {
          const Layer<T>& layer = h.net->layer(i);
          py::list params, states;
          const auto slots = layer.params();
          for (size_t s = 0; s < slots.size(); ++s)
            params.append(py::dict(
                py::arg("name") = slots[s].name, py::arg("shape") = as_tuple<T>(slots[s].shape),
                py::arg("offset") = h.net->param_offsets(i)[s],
                py::arg("decayed") = slots[s].decayed, py::arg("init") = slots[s].init,
                py::arg("fan_in") = slots[s].fan_in, py::arg("fan_out") = slots[s].fan_out));
          const auto st = layer.states();
          for (size_t s = 0; s < st.size(); ++s)
            states.append(py::dict(
                py::arg("name") = st[s].name, py::arg("shape") = as_tuple<T>(st[s].shape),
                py::arg("offset") = h.net->state_offsets(i)[s], py::arg("init") = st[s].init));
          out.append(py::dict(
              py::arg("kind") = layer.kind(), py::arg("input_shape") = as_tuple<T>(layer.input_shape()),
              py::arg("output_shape") = as_tuple<T>(layer.output_shape()),
              py::arg("params") = params, py::arg("states") = states,
              py::arg("workspace_per_row") = layer.workspace_per_row(),
              py::arg("macs_per_row") = layer.macs_per_row()));
        }
        return out;
      })
      .def("loss_grad",
           [split, input](H& h, py::object params_obj, py::object grad_obj, py::object X_obj,
                          py::object Y_obj, py::object sw_obj, double alpha,
                          py::object dropout_seed, bool training) {
             auto [params, p] = split(h, params_obj, false);
             auto grad = require<T>(grad_obj, "grad");
             check_size(grad.size(), h.net->n_params(), "grad");
             auto X = input(h, X_obj);
             auto Y = require<T>(Y_obj, "Y");
             check_size(Y.size(), X.m.n * h.net->output_size(), "Y");
             Array<T> sw_keep;
             const T* sw = optional_weights<T>(sw_obj, sw_keep, X.m.n);
             T* g = writable(grad, "grad");
             const uint64_t seed = dropout_seed.is_none() ? 0 : dropout_seed.cast<uint64_t>();
             // Dropout needs a seed: without one a training pass keeps every unit.
             const bool train = training;
             bool interrupted = false;
             double loss;
             {
               py::gil_scoped_release release;
               SignalCheck check;
               loss = h.net->loss_grad(p, p + h.net->n_params(), g, X.m, Y.data(), sw, nullptr,
                                       X.m.n, alpha, train, seed, std::ref(check), &interrupted);
             }
             if (interrupted) throw py::error_already_set();
             return loss;
           },
           py::arg("params"), py::arg("grad"), py::arg("X"), py::arg("Y"),
           py::arg("sample_weight"), py::arg("alpha"), py::arg("dropout_seed") = py::none(),
           py::arg("training") = true)
      .def("train_epoch",
           [split, input](H& h, py::object params_obj, py::object state_a_obj,
                          py::object state_b_obj, int64_t adam_t, const std::string& solver,
                          double lr, double momentum, bool nesterov, double beta_1,
                          double beta_2, double epsilon, py::object X_obj, py::object Y_obj,
                          py::object sw_obj, py::object order_obj, int64_t batch_size,
                          double alpha, int64_t step, const std::string& schedule,
                          int64_t warmup_steps, int64_t total_steps, double max_grad_norm,
                          uint64_t dropout_seed, py::object commit_obj) {
             auto [params, p] = split(h, params_obj, true);
             const int64_t np_ = h.net->n_params();
             const OptimizerConfig opt =
                 make_optimizer(solver, lr, momentum, nesterov, beta_1, beta_2, epsilon,
                                schedule, warmup_steps, total_steps, max_grad_norm);
             auto state_a = require<T>(state_a_obj, "optimizer state");
             auto state_b = require<T>(state_b_obj, "optimizer state");
             FASTMLP_CHECK(state_a.size() >= np_ && (opt.solver == Solver::sgd || state_b.size() >= np_),
                           "the optimizer state needs at least n_params values");
             FASTMLP_CHECK(step >= 0, "step must be >= 0");
             auto X = input(h, X_obj);
             auto Y = require<T>(Y_obj, "Y");
             check_size(Y.size(), X.m.n * h.net->output_size(), "Y");
             Array<T> sw_keep;
             const T* sw = optional_weights<T>(sw_obj, sw_keep, X.m.n);
             Array<int64_t> order_keep;
             const int64_t* order = optional_order(order_obj, order_keep, X.m.n);
             T* a = writable(state_a, "optimizer state");
             T* b = opt.solver != Solver::sgd ? writable(state_b, "optimizer state") : nullptr;
             const Commit<T> commit = check_commit<T>(
                 commit_obj, {{p, params.size()}, {a, state_a.size()}, {b, state_b.size()}});
             bool interrupted = false;
             double loss;
             {
               py::gil_scoped_release release;
               copy_commit(commit);
               SignalCheck check;
               loss = h.net->train_epoch(p, p + np_, a, b, adam_t, opt, X.m, Y.data(), sw, order,
                                         X.m.n, batch_size, alpha, step, dropout_seed,
                                         std::ref(check), &interrupted);
             }
             if (interrupted) throw py::error_already_set();
             return py::make_tuple(loss, adam_t);
           },
           py::arg("params"), py::arg("state_a"), py::arg("state_b"), py::arg("adam_t"),
           py::arg("solver"), py::arg("learning_rate"), py::arg("momentum"),
           py::arg("nesterov"), py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"),
           py::arg("X"), py::arg("Y"), py::arg("sample_weight"), py::arg("order"),
           py::arg("batch_size"), py::arg("alpha"), py::arg("step") = 0,
           py::arg("schedule") = "constant", py::arg("warmup_steps") = 0,
           py::arg("total_steps") = 0, py::arg("max_grad_norm") = 0.0,
           py::arg("dropout_seed") = 0, py::arg("commit") = py::none())
      .def("mean_loss",
           [split, input](H& h, py::object params_obj, py::object X_obj, py::object Y_obj,
                          py::object sw_obj) {
             auto [params, p] = split(h, params_obj, false);
             auto X = input(h, X_obj);
             auto Y = require<T>(Y_obj, "Y");
             check_size(Y.size(), X.m.n * h.net->output_size(), "Y");
             Array<T> sw_keep;
             const T* sw = optional_weights<T>(sw_obj, sw_keep, X.m.n);
             bool interrupted = false;
             double loss;
             {
               py::gil_scoped_release release;
               SignalCheck check;
               loss = h.net->mean_loss(p, p + h.net->n_params(), X.m, Y.data(), sw,
                                       std::ref(check), &interrupted);
             }
             if (interrupted) throw py::error_already_set();
             return loss;
           },
           py::arg("params"), py::arg("X"), py::arg("Y"), py::arg("sample_weight"))
      .def("predict",
           [split, input](H& h, py::object params_obj, py::object X_obj, py::object out_obj) {
             auto [params, p] = split(h, params_obj, false);
             auto X = input(h, X_obj);
             auto out = require<T>(out_obj, "out");
             check_size(out.size(), X.m.n * h.net->output_size(), "out");
             T* o = writable(out, "out");
             bool interrupted = false;
             {
               py::gil_scoped_release release;
               SignalCheck check;
               h.net->predict(p, p + h.net->n_params(), X.m, o, std::ref(check), &interrupted);
             }
             if (interrupted) throw py::error_already_set();
           },
           py::arg("params"), py::arg("X"), py::arg("out"))
      .def("forward",
           [split](H& h, py::object params_obj, py::object x_obj, bool training,
                   bool update_state, uint64_t seed, int64_t first) {
             auto [params, p] = split(h, params_obj, update_state);
             auto x = require<T>(x_obj, "x");
             FASTMLP_CHECK(x.ndim() >= 1 && x.shape(0) > 0 && x.shape(0) <= h.net->chunk_rows(),
                           "x needs between 1 and chunk_rows rows");
             const int64_t n = x.shape(0);
             check_size(x.size(), n * h.net->input_size(), "x");
             Array<T> out({n, h.net->output_size()});
             T* o = out.mutable_data();
             Context ctx;
             ctx.training = training;
             ctx.update_state = update_state;
             ctx.seed = seed;
             ctx.first = first;
             {
               py::gil_scoped_release release;
               const T* y = h.net->forward(p, p + h.net->n_params(), x.data(), n, ctx);
               std::memcpy(o, y, sizeof(T) * size_t(n * h.net->output_size()));
             }
             h.last_x = x;
             return out;
           },
           py::arg("params"), py::arg("x"), py::arg("training") = false,
           py::arg("update_state") = false, py::arg("seed") = 0, py::arg("first") = 0,
           "The network's output (n, output_size) for x (n, input_size), n <= chunk_rows.")
      .def("backward",
           [split](H& h, py::object params_obj, py::object grad_obj, py::object dout_obj,
                   bool input_grad, bool accumulate) -> py::object {
             FASTMLP_CHECK(h.last_x, "backward needs a forward pass first");
             auto [params, p] = split(h, params_obj, false);
             auto x = py::reinterpret_borrow<Array<T>>(h.last_x);
             const int64_t n = x.shape(0);
             auto grad = require<T>(grad_obj, "grad");
             check_size(grad.size(), h.net->n_params(), "grad");
             auto dout_in = require<T>(dout_obj, "dout");
             check_size(dout_in.size(), n * h.net->output_size(), "dout");
             Array<T> dout({n, h.net->output_size()});  // the engine overwrites its dout
             std::memcpy(dout.mutable_data(), dout_in.data(), sizeof(T) * size_t(dout.size()));
             T* g = writable(grad, "grad");
             py::object dx_obj = py::none();
             T* dx = nullptr;
             if (input_grad) {
               Array<T> dx_arr({n, h.net->input_size()});
               dx = dx_arr.mutable_data();
               dx_obj = dx_arr;
             }
             Context ctx;
             ctx.accumulate = accumulate;
             {
               py::gil_scoped_release release;
               h.net->backward(p, g, dx, dout.mutable_data(), n, ctx);
             }
             return dx_obj;
           },
           py::arg("params"), py::arg("grad"), py::arg("dout"), py::arg("input_grad") = false,
           py::arg("accumulate") = false,
           "After forward(x): the parameter gradients into grad from dout = d loss / d (the\n"
           "last layer's output, before the output activation); returns d loss / d x when\n"
           "input_grad, else None.");
}

// ---- generative models: the GAN trainer (generative/gan.h) and its latent noise.
template <typename T>
void bind_gan(py::module_& m, const char* name) {
  using G = Gan<T>;
  auto specs_of = [](py::list layers) {
    std::vector<LayerSpec> specs;
    for (auto l : layers) specs.push_back(as_layer_spec(l));
    return specs;
  };
  // A network's parameters followed by its state, as the estimator keeps them.
  auto weights = [](py::object obj, Sequential<T>& net, const char* what, bool write) {
    auto a = require<T>(obj, what);
    check_size(a.size(), net.n_params() + net.n_state(), what);
    T* p = write ? writable(a, what) : const_cast<T*>(a.data());
    return std::make_pair(a, p);
  };
  auto labels = [](G& gan, py::object onehot_obj, int64_t n, Array<T>& keep) -> const T* {
    const int64_t classes = gan.generator().input_size() - gan.latent_dim();
    if (classes == 0) {
      FASTMLP_CHECK(onehot_obj.is_none(), "this GAN is not conditional: onehot must be None");
      return nullptr;
    }
    keep = require<T>(onehot_obj, "onehot");
    check_size(keep.size(), n * classes, "onehot");
    return keep.data();
  };
  auto rows_of = [](py::object X_obj, int64_t features) {
    auto X = require<T>(X_obj, "X");
    FASTMLP_CHECK(X.ndim() == 2 && X.shape(1) == features,
                  "X must be 2-D with " + std::to_string(features) + " features");
    return X;
  };
  py::class_<G>(m, name, "A GAN's two networks and its epoch loop; parameters stay in numpy.")
      .def(py::init([specs_of](py::list generator, py::list discriminator, int64_t latent_dim,
                               int64_t n_features, int64_t n_classes, int64_t pack,
                               int64_t batch_size, const std::string& precision) {
             return new G(specs_of(generator), specs_of(discriminator), latent_dim, n_features,
                          n_classes, pack, batch_size, parse_precision(precision));
           }),
           py::arg("generator"), py::arg("discriminator"), py::arg("latent_dim"),
           py::arg("n_features"), py::arg("n_classes"), py::arg("pack"), py::arg("batch_size"),
           py::arg("precision") = "native")
      .def_property_readonly("generator_sizes", [](G& g) {
        return py::make_tuple(g.generator().n_params(), g.generator().n_state());
      })
      .def_property_readonly("discriminator_sizes", [](G& g) {
        return py::make_tuple(g.discriminator().n_params(), g.discriminator().n_state());
      })
      .def_property_readonly("batch_size", &G::batch_size)
      .def("train_epoch",
           [weights, labels, rows_of](
               G& gan, py::object g_obj, py::object d_obj, py::object g_m_obj,
               py::object g_v_obj, py::object d_m_obj, py::object d_v_obj, int64_t g_t,
               int64_t d_t, const std::string& solver, double lr_g, double lr_d, double beta_1,
               double beta_2, double epsilon, double alpha, py::object X_obj,
               py::object onehot_obj, py::object order_obj, uint64_t seed, int64_t step,
               const std::string& schedule, int64_t warmup_steps, int64_t total_steps,
               double max_grad_norm, int64_t discriminator_steps) {
             FASTMLP_CHECK(solver == "adam" || solver == "adamw", "solver must be 'adam' or 'adamw'");
             auto [ga, g] = weights(g_obj, gan.generator(), "generator weights", true);
             auto [da, d] = weights(d_obj, gan.discriminator(), "discriminator weights", true);
             T* moments[4];
             py::object objs[4] = {g_m_obj, g_v_obj, d_m_obj, d_v_obj};
             Array<T> keep[4];
             for (int i = 0; i < 4; ++i) {
               keep[i] = require<T>(objs[i], "optimizer state");
               const int64_t want = i < 2 ? gan.generator().n_params() : gan.discriminator().n_params();
               check_size(keep[i].size(), want, "optimizer state");
               moments[i] = writable(keep[i], "optimizer state");
             }
             auto X = rows_of(X_obj, gan.generator().output_size());
             const int64_t m = X.shape(0);
             FASTMLP_CHECK(m >= gan.batch_size(), "X has fewer rows than batch_size");
             Array<T> onehot_keep;
             const T* onehot = labels(gan, onehot_obj, m, onehot_keep);
             Array<int64_t> order_keep;
             const int64_t* order = optional_order(order_obj, order_keep, m);
             FASTMLP_CHECK(step >= 0 && discriminator_steps >= 1,
                           "step must be >= 0 and discriminator_steps >= 1");
             const OptimizerConfig g_cfg = make_optimizer(solver, lr_g, 0.0, false, beta_1, beta_2,
                                                          epsilon, schedule, warmup_steps,
                                                          total_steps, max_grad_norm);
             OptimizerConfig d_cfg = g_cfg;
             d_cfg.learning_rate = lr_d;
             AdamState<T> g_opt{moments[0], moments[1], g_t}, d_opt{moments[2], moments[3], d_t};
             bool interrupted = false;
             GanLosses losses;
             {
               py::gil_scoped_release release;
               SignalCheck check;
               losses = gan.train_epoch(g, d, g_opt, d_opt, g_cfg, d_cfg, alpha, X.data(), onehot,
                                        order, m, seed, step, discriminator_steps,
                                        std::ref(check), &interrupted);
             }
             if (interrupted) throw py::error_already_set();
             return py::make_tuple(losses.discriminator, losses.generator, g_opt.t, d_opt.t);
           },
           py::arg("generator"), py::arg("discriminator"), py::arg("g_m"), py::arg("g_v"),
           py::arg("d_m"), py::arg("d_v"), py::arg("g_t"), py::arg("d_t"), py::arg("solver"),
           py::arg("lr_generator"), py::arg("lr_discriminator"), py::arg("beta_1"),
           py::arg("beta_2"), py::arg("epsilon"), py::arg("alpha"), py::arg("X"),
           py::arg("onehot"), py::arg("order"), py::arg("seed"), py::arg("step") = 0,
           py::arg("schedule") = "constant", py::arg("warmup_steps") = 0,
           py::arg("total_steps") = 0, py::arg("max_grad_norm") = 0.0,
           py::arg("discriminator_steps") = 1,
           "One epoch; returns (discriminator loss, generator loss, g_t, d_t).")
      .def("discriminator_loss_grad",
           [weights, labels, rows_of](G& gan, py::object g_obj, py::object d_obj,
                                      py::object grad_obj, py::object X_obj,
                                      py::object onehot_obj, uint64_t seed) {
             auto [ga, g] = weights(g_obj, gan.generator(), "generator weights", false);
             auto [da, d] = weights(d_obj, gan.discriminator(), "discriminator weights", false);
             auto grad = require<T>(grad_obj, "grad");
             check_size(grad.size(), gan.discriminator().n_params(), "grad");
             auto X = rows_of(X_obj, gan.generator().output_size());
             Array<T> onehot_keep;
             const T* onehot = labels(gan, onehot_obj, X.shape(0), onehot_keep);
             T* gr = writable(grad, "grad");
             py::gil_scoped_release release;
             return gan.discriminator_loss_grad(g, d, gr, X.data(), onehot, X.shape(0), seed);
           },
           py::arg("generator"), py::arg("discriminator"), py::arg("grad"), py::arg("X"),
           py::arg("onehot"), py::arg("seed"),
           "L_D of one batch (the rows of X, the noise of seed) and d L_D / d D's parameters.")
      .def("generator_loss_grad",
           [weights, labels](G& gan, py::object g_obj, py::object d_obj, py::object grad_obj,
                             int64_t n, py::object onehot_obj, uint64_t seed) {
             auto [ga, g] = weights(g_obj, gan.generator(), "generator weights", false);
             auto [da, d] = weights(d_obj, gan.discriminator(), "discriminator weights", false);
             auto grad = require<T>(grad_obj, "grad");
             check_size(grad.size(), gan.generator().n_params(), "grad");
             Array<T> onehot_keep;
             const T* onehot = labels(gan, onehot_obj, n, onehot_keep);
             T* gr = writable(grad, "grad");
             py::gil_scoped_release release;
             return gan.generator_loss_grad(g, d, gr, onehot, n, seed);
           },
           py::arg("generator"), py::arg("discriminator"), py::arg("grad"), py::arg("n"),
           py::arg("onehot"), py::arg("seed"),
           "L_G of n fakes (the noise of seed) through D and d L_G / d G's parameters.");
}

template <typename T>
Array<T> latent_noise(uint64_t seed, int64_t n, int64_t dim) {
  FASTMLP_CHECK(n >= 0 && dim > 0, "latent_noise needs n >= 0 and dim > 0");
  Array<T> out({n, dim});
  T* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    fill_generator_noise(o, n, dim, seed);
  }
  return out;
}

#ifdef FASTMLP_HAS_CUDA
// The device network keeps raw pointers to the data and parameter arrays between calls:
// this holder keeps those arrays alive with it.
struct CudaNetworkHolder {
  std::unique_ptr<cuda::DeviceNetwork> net;
  py::object keep[6];
};

void bind_cuda(py::module_& m) {
  py::class_<CudaNetworkHolder>(m, "CudaNetwork32",
                                "A float32 network trained on the GPU; data copied once, "
                                "parameters kept on the device.")
      .def(py::init([](std::vector<int64_t> sizes, const std::string& hidden,
                       const std::string& output, const std::string& loss, int64_t batch_rows,
                       const std::string& precision, std::vector<double> dropout) {
             NetworkSpec spec;
             spec.sizes = sizes;
             spec.hidden = parse_activation(hidden);
             spec.output = parse_activation(output);
             spec.loss = parse_loss(loss);
             spec.validate();
             FASTMLP_CHECK(dropout.empty() || int64_t(dropout.size()) == spec.n_layers() - 1,
                           "dropout needs one rate per hidden layer (" +
                               std::to_string(spec.n_layers() - 1) + "), got " +
                               std::to_string(dropout.size()));
             for (double p : dropout)
               FASTMLP_CHECK(p >= 0.0 && p < 1.0,
                             "dropout rates must be in [0, 1), got " + std::to_string(p));
             FASTMLP_CHECK(cuda::available(), "no usable CUDA device: " + cuda::device_description());
             auto h = new CudaNetworkHolder;
             h->net.reset(new cuda::DeviceNetwork(std::move(sizes), spec.hidden, spec.output,
                                                  spec.loss, batch_rows,
                                                  cuda::parse_gemm_precision(precision),
                                                  std::move(dropout)));
             return h;
           }),
           py::arg("sizes"), py::arg("hidden_activation"), py::arg("output_activation"),
           py::arg("loss"), py::arg("batch_rows"), py::arg("precision") = "float32",
           py::arg("dropout") = std::vector<double>())
      .def_property_readonly("n_params", [](const CudaNetworkHolder& h) { return h.net->n_params(); })
      .def_property_readonly("data_resident",
                             [](const CudaNetworkHolder& h) { return h.net->data_resident(); })
      .def("set_data",
           [](CudaNetworkHolder& h, py::object X_obj, py::object Y_obj, py::object sw_obj,
              int64_t n_features, int64_t n_outputs) {
             auto X = require<float>(X_obj, "X");
             FASTMLP_CHECK(X.ndim() == 2 && X.shape(1) == n_features && X.shape(0) > 0,
                           "X must be a non-empty 2-D array with the network's features");
             auto Y = require<float>(Y_obj, "Y");
             check_size(Y.size(), X.shape(0) * n_outputs, "Y");
             Array<float> sw_keep;
             const float* sw = optional_weights<float>(sw_obj, sw_keep, X.shape(0));
             {
               py::gil_scoped_release release;
               h.net->set_data(X.data(), Y.data(), sw, X.shape(0));
             }
             h.keep[0] = X;
             h.keep[1] = Y;
             h.keep[2] = sw_keep;
           },
           py::arg("X"), py::arg("Y"), py::arg("sample_weight"), py::arg("n_features"),
           py::arg("n_outputs"))
      .def("set_params",
           [](CudaNetworkHolder& h, py::object p_obj, py::object a_obj, py::object b_obj) {
             auto p = require<float>(p_obj, "params");
             auto a = require<float>(a_obj, "optimizer state");
             const int64_t np_ = h.net->n_params();
             check_size(p.size(), np_, "params");
             check_size(a.size(), np_, "optimizer state");
             float* bp = nullptr;
             if (!b_obj.is_none() && !b_obj.is(a_obj)) {
               auto b = require<float>(b_obj, "optimizer state");
               check_size(b.size(), np_, "optimizer state");
               bp = writable(b, "optimizer state");
               h.keep[5] = b;
             }
             h.net->set_params(writable(p, "params"), writable(a, "optimizer state"), bp);
             h.keep[3] = p;
             h.keep[4] = a;
           },
           py::arg("params"), py::arg("state_a"), py::arg("state_b"))
      .def("train_epoch",
           [](CudaNetworkHolder& h, int64_t adam_t, const std::string& solver, double lr,
              double momentum, bool nesterov, double beta_1, double beta_2, double epsilon,
              py::object order_obj, int64_t batch_size, double alpha, int64_t step,
              const std::string& schedule, int64_t warmup_steps, int64_t total_steps,
              double max_grad_norm, uint64_t dropout_seed) {
             const OptimizerConfig opt =
                 make_optimizer(solver, lr, momentum, nesterov, beta_1, beta_2, epsilon,
                                schedule, warmup_steps, total_steps, max_grad_norm);
             FASTMLP_CHECK(step >= 0, "step must be >= 0");
             FASTMLP_CHECK(h.keep[0] && h.keep[3], "set_data and set_params come first");
             const int64_t n = py::reinterpret_borrow<Array<float>>(h.keep[0]).shape(0);
             Array<int64_t> order_keep;
             const int64_t* order = optional_order(order_obj, order_keep, n);
             double loss;
             {
               py::gil_scoped_release release;
               loss = h.net->train_epoch(adam_t, opt, order, batch_size, alpha, step,
                                         dropout_seed);
             }
             return py::make_tuple(loss, adam_t);
           },
           py::arg("adam_t"), py::arg("solver"), py::arg("learning_rate"), py::arg("momentum"),
           py::arg("nesterov"), py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"),
           py::arg("order"), py::arg("batch_size"), py::arg("alpha"), py::arg("step") = 0,
           py::arg("schedule") = "constant", py::arg("warmup_steps") = 0,
           py::arg("total_steps") = 0, py::arg("max_grad_norm") = 0.0,
           py::arg("dropout_seed") = 0)
      .def("predict",
           [](CudaNetworkHolder& h, py::object p_obj, py::object X_obj, py::object out_obj,
              int64_t n_features, int64_t n_outputs) {
             auto p = require<float>(p_obj, "params");
             check_size(p.size(), h.net->n_params(), "params");
             auto X = require<float>(X_obj, "X");
             FASTMLP_CHECK(X.ndim() == 2 && X.shape(1) == n_features,
                           "X must be 2-D with the network's features");
             auto out = require<float>(out_obj, "out");
             check_size(out.size(), X.shape(0) * n_outputs, "out");
             float* o = writable(out, "out");
             py::gil_scoped_release release;
             h.net->predict(p.data(), X.data(), X.shape(0), o);
           },
           py::arg("params"), py::arg("X"), py::arg("out"), py::arg("n_features"),
           py::arg("n_outputs"));

  py::module_ k = m.def_submodule("cuda_kernels", "float32 device kernels on host arrays, for tests");
  k.def("gemm", [](py::object a_obj, py::object b_obj, bool ta, bool tb, const std::string& prec,
                   double alpha, double beta, py::object out) {
    auto a = require<float>(a_obj, "a");
    auto b = require<float>(b_obj, "b");
    FASTMLP_CHECK(a.ndim() == 2 && b.ndim() == 2, "gemm takes 2-D arrays");
    const int64_t M = ta ? a.shape(1) : a.shape(0), K = ta ? a.shape(0) : a.shape(1);
    const int64_t Kb = tb ? b.shape(1) : b.shape(0), N = tb ? b.shape(0) : b.shape(1);
    FASTMLP_CHECK(K == Kb, "gemm: inner dimensions differ");
    auto c = require<float>(out, "out");
    FASTMLP_CHECK(c.ndim() == 2 && c.shape(0) == M && c.shape(1) == N, "gemm: out has the wrong shape");
    float* cp = writable(c, "out");
    const auto p = cuda::parse_gemm_precision(prec);
    py::gil_scoped_release release;
    cuda::gemm_host(ta, tb, M, N, K, float(alpha), a.data(), a.shape(1), b.data(), b.shape(1),
                    float(beta), cp, N, p);
  }, py::arg("a"), py::arg("b"), py::arg("trans_a"), py::arg("trans_b"), py::arg("precision"),
     py::arg("alpha"), py::arg("beta"), py::arg("out"));
  k.def("gemm_time_ms", [](int64_t M, int64_t N, int64_t K, const std::string& prec, int repeats) {
    const auto p = cuda::parse_gemm_precision(prec);
    FASTMLP_CHECK(M > 0 && N > 0 && K > 0 && repeats > 0, "sizes and repeats must be > 0");
    py::gil_scoped_release release;
    return cuda::gemm_time_ms(M, N, K, p, repeats);
  }, py::arg("M"), py::arg("N"), py::arg("K"), py::arg("precision"), py::arg("repeats"));
  k.def("bias_activation_forward", [](const std::string& name, py::object a_obj, py::object b_obj) {
    auto a = require<float>(a_obj, "a");
    FASTMLP_CHECK(a.ndim() == 2, "a must be 2-D");
    Array<float> b_keep;
    const float* b = nullptr;
    if (!b_obj.is_none()) {
      b_keep = require<float>(b_obj, "bias");
      check_size(b_keep.size(), a.shape(1), "bias");
      b = b_keep.data();
    }
    const Activation f = parse_activation(name);
    float* p = writable(a, "a");
    py::gil_scoped_release release;
    cuda::bias_activation_forward_host(f, p, b, a.shape(0), a.shape(1));
  });
  def_activation_backward<float>(k, [](Activation f, float* d, const float* a, const float* z,
                                       int64_t n, int64_t width) {
    cuda::activation_backward_host(f, d, a, z, n, width);
  });
  k.def("loss_forward_backward", [](const std::string& name, py::object d_obj, py::object p_obj,
                                    py::object y_obj, py::object sw_obj) {
    auto d = require<float>(d_obj, "delta");
    auto p = require<float>(p_obj, "p");
    auto y = require<float>(y_obj, "y");
    FASTMLP_CHECK(p.ndim() == 2 && y.ndim() == 2 && d.ndim() == 2 && p.shape(0) == y.shape(0) &&
                      p.shape(1) == y.shape(1) && d.shape(0) == p.shape(0) &&
                      d.shape(1) == p.shape(1), "delta, p and y must be 2-D of the same shape");
    Array<float> sw_keep;
    const float* sw = optional_weights<float>(sw_obj, sw_keep, p.shape(0));
    const Loss loss = parse_loss(name);
    float* dp = writable(d, "delta");
    py::gil_scoped_release release;
    return cuda::loss_forward_backward_host(loss, dp, p.data(), y.data(), sw, p.shape(0), p.shape(1));
  });
  k.def("bias_grad", [](py::object d_obj) {
    auto d = require<float>(d_obj, "delta");
    FASTMLP_CHECK(d.ndim() == 2, "delta must be 2-D");
    Array<float> out(d.shape(1));
    float* o = out.mutable_data();
    {
      py::gil_scoped_release release;
      cuda::bias_grad_host(o, d.data(), d.shape(0), d.shape(1));
    }
    return out;
  });
  k.def("gather_rows", [](py::object src_obj, py::object rows_obj) {
    auto src = require<float>(src_obj, "src");
    FASTMLP_CHECK(src.ndim() == 2, "src must be 2-D");
    FASTMLP_CHECK(py::isinstance<Array<int64_t>>(rows_obj), "rows must be a C-contiguous int64 array");
    auto rows = py::reinterpret_borrow<Array<int64_t>>(rows_obj);
    for (int64_t i = 0; i < rows.size(); ++i)
      FASTMLP_CHECK(rows.data()[i] >= 0 && rows.data()[i] < src.shape(0), "rows out of range");
    Array<float> out({int64_t(rows.size()), int64_t(src.shape(1))});
    float* o = out.mutable_data();
    {
      py::gil_scoped_release release;
      cuda::gather_rows_host(o, src.data(), rows.data(), rows.size(), src.shape(0), src.shape(1));
    }
    return out;
  });
  def_dropout_forward<float>(k, [](float* y, float* mask, const float* a, const int64_t* rows,
                                   int64_t n, int64_t width, double p, uint64_t seed,
                                   int64_t layer) {
    cuda::dropout_forward_host(y, mask, a, rows, n, width, p, seed, layer);
  });
  k.def("penalized_update", [](const std::string& solver, int64_t t, py::object w_obj,
                               py::object a_obj, py::object b_obj, py::object g_obj,
                               int64_t n_coefs, double lr, double momentum, bool nesterov,
                               double beta_1, double beta_2, double epsilon, double alpha,
                               double scale, double max_grad_norm) {
    const OptimizerConfig opt = make_optimizer(solver, lr, momentum, nesterov, beta_1, beta_2,
                                               epsilon, "constant", 0, 0, max_grad_norm);
    const StepArrays<float> s = step_arrays<float>(w_obj, a_obj, b_obj, g_obj, n_coefs, t);
    py::gil_scoped_release release;
    return cuda::penalized_update_host(opt, t, s.w, s.a, s.b, s.g, s.n, n_coefs, alpha, scale);
  }, py::arg("solver"), py::arg("t"), py::arg("w"), py::arg("state_a"), py::arg("state_b"),
     py::arg("grad"), py::arg("n_coefs"), py::arg("lr"), py::arg("momentum"), py::arg("nesterov"),
     py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"), py::arg("alpha"), py::arg("scale"),
     py::arg("max_grad_norm") = 0.0);
}
#endif

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastmlp's C++ core: GEMM, layer kernels, losses, optimizers, training loop.";
#ifdef FASTMLP_VERSION
  m.attr("__version__") = FASTMLP_VERSION;
#else
  m.attr("__version__") = "0+unknown";
#endif
#ifdef _OPENMP
  m.attr("has_openmp") = true;
#else
  m.attr("has_openmp") = false;
#endif
#ifdef FASTMLP_HAS_CUDA
  m.attr("has_cuda") = true;
  m.def("cuda_available", [] { return cuda::available(); },
        "True when this build has CUDA and a usable GPU is present (never raises).");
  m.def("cuda_device", [] { return cuda::device_description(); },
        "The GPU that device='cuda' uses, or why none is usable.");
  bind_cuda(m);
#else
  m.attr("has_cuda") = false;
  m.def("cuda_available", [] { return false; },
        "True when this build has CUDA and a usable GPU is present (never raises).");
  m.def("cuda_device", [] { return std::string("fastmlp was built without CUDA"); },
        "The GPU that device='cuda' uses, or why none is usable.");
#endif
  m.def("max_threads", [] { return max_threads(); },
        "Threads a parallel call of the core uses now: OpenMP's thread count (follows "
        "threadpoolctl and OMP_NUM_THREADS), 1 in builds without OpenMP.");
  m.def("cosine_learning_rate", [](double base, int64_t step, int64_t warmup_steps,
                                   int64_t total_steps) {
          FASTMLP_CHECK(warmup_steps >= 0 && warmup_steps < total_steps && step >= 0,
                        "need 0 <= warmup_steps < total_steps and step >= 0");
          return cosine_learning_rate(base, step, warmup_steps, total_steps);
        }, py::arg("base"), py::arg("step"), py::arg("warmup_steps"), py::arg("total_steps"),
        "The cosine schedule's learning rate for a 0-based step (after linear warmup).");
  m.def("available_gemm_kernels", &available_gemm_kernels,
        "GEMM micro-kernels this CPU can run, e.g. ['scalar', 'avx2', 'avx512'].");
  m.def("gemm_kernel", [](const std::string& name) {
          return std::string(gemm_kernel_name(resolve_gemm_kernel(parse_gemm_kernel(name))));
        }, py::arg("kernel") = "auto",
        "The micro-kernel a GEMM call would use (FASTMLP_GEMM_KERNEL forces one).");
  m.def("bf16_available", [] { return cpu_has_avx512_bf16(); },
        "True when this CPU runs the bfloat16 GEMM (AVX-512 BF16) and FASTMLP_BF16 is not 0.");
  m.def("available_bf16_kernels", &available_bf16_kernels,
        "Kernels precision='bfloat16' can use here, e.g. ['avx512', 'amx', 'float32'].");
  m.def("bf16_kernel", [](const std::string& name) {
          return std::string(bf16_kernel_name(resolve_bf16_kernel(parse_bf16_kernel(name))));
        }, py::arg("kernel") = "auto",
        "The products precision='bfloat16' runs now: 'avx512', 'amx' or 'float32' (bf16 not\n"
        "faster than float32 here). FASTMLP_BF16_KERNEL forces one; ValueError without\n"
        "AVX-512 BF16.");
  m.def("bf16_calibration", [] {
          const Bf16Calibration& cal = bf16_calibration();
          py::dict d;
          d["float32_s"] = cal.float32_s;
          d["avx512_s"] = cal.avx512_s;
          d["amx_s"] = cal.amx_s;
          d["elapsed_s"] = cal.elapsed_s;
          d["min_speedup"] = kBf16MinSpeedup;
          d["measured_kernel"] = std::string(bf16_kernel_name(measured_bf16_kernel()));
          return d;
        },
        "The once-per-process timing behind bf16_kernel(): seconds per round of the\n"
        "calibration products for each kernel (0: not measured), the calibration's own time\n"
        "and the kernel it picks.");
  m.def("gemm",
        [](py::array a, py::array b, bool trans_a, bool trans_b, const std::string& kernel,
           double alpha, double beta, py::object out, const std::string& precision) {
          const Precision p = parse_precision(precision);
          if (py::isinstance<Array<float>>(a))
            return gemm_typed<float>(a, b, trans_a, trans_b, kernel, alpha, beta, out, p);
          return gemm_typed<double>(a, b, trans_a, trans_b, kernel, alpha, beta, out, p);
        },
        py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
        py::arg("kernel") = "auto", py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        py::arg("out") = py::none(), py::arg("precision") = "native",
        "alpha * op(a) @ op(b) + beta * out: a new C-contiguous array, or `out` updated in\n"
        "place (float32 or float64, never converted). kernel forces a micro-kernel.\n"
        "precision='bfloat16' (float32 only, AVX-512 BF16 CPUs) rounds a and b to bfloat16\n"
        "and sums in float32.");
  py::module_ k32 = m.def_submodule("f32", "float32 kernels, for tests");
  py::module_ k64 = m.def_submodule("f64", "float64 kernels, for tests");
  bind_kernels<float>(k32);
  bind_kernels<double>(k64);
  bind_network<float>(m, "Network32");
  bind_network<double>(m, "Network64");
  bind_sequential<float>(m, "Sequential32");
  bind_sequential<double>(m, "Sequential64");
  bind_gan<float>(m, "Gan32");
  bind_gan<double>(m, "Gan64");
  m.def("sliced_chunk_rows", &sliced_chunk_rows, py::arg("macs_per_row"),
        "The rows per chunk at which a network with this many multiply-adds per row\n"
        "computes its full-batch gradient on the row slices (0: never; see train_loop.h).");
  m.def("legacy_shuffle",
        [](py::object order_obj, py::object state_obj) {
          FASTMLP_CHECK(py::isinstance<Array<int64_t>>(order_obj),
                        "order must be a C-contiguous int64 numpy array");
          FASTMLP_CHECK(py::isinstance<Array<uint32_t>>(state_obj),
                        "state must be a C-contiguous uint32 numpy array");
          auto order = py::reinterpret_borrow<Array<int64_t>>(order_obj);
          auto state = py::reinterpret_borrow<Array<uint32_t>>(state_obj);
          FASTMLP_CHECK(order.ndim() == 1, "order must be 1-D");
          check_size(state.size(), LegacyMt19937::kN + 1, "state");
          FASTMLP_CHECK(state.data()[LegacyMt19937::kN] <= uint32_t(LegacyMt19937::kN),
                        "state's position must be in [0, 624]");
          int64_t* x = writable(order, "order");
          uint32_t* st = writable(state, "state");
          legacy_shuffle(x, order.size(), st);
        },
        py::arg("order"), py::arg("state"),
        "Shuffle order in place as numpy.random.RandomState.shuffle(order) would, draw for\n"
        "draw, from the MT19937 state (uint32[625]: RandomState.get_state()'s 624 key words,\n"
        "then its position), which advances in place as the RandomState's would.");
  m.def("log",
        [](py::object x_obj) {
          FASTMLP_CHECK(py::isinstance<Array<double>>(x_obj),
                        "x must be a C-contiguous float64 numpy array");
          auto x = py::reinterpret_borrow<Array<double>>(x_obj);
          Array<double> out(x.size());
          const double* in = x.data();
          double* o = out.mutable_data();
          for (py::ssize_t i = 0; i < x.size(); ++i) o[i] = fast_log(in[i]);
          return out;
        },
        py::arg("x"),
        "The natural log that the CPU losses take (nn/log_math.h), element by element of a\n"
        "float64 array, flattened: for tests.");
  m.def("latent_noise",
        [](uint64_t seed, int64_t n, int64_t dim, const std::string& dtype) -> py::array {
          FASTMLP_CHECK(dtype == "float32" || dtype == "float64", "dtype must be float32 or float64");
          if (dtype == "float32") return latent_noise<float>(seed, n, dim);
          return latent_noise<double>(seed, n, dim);
        },
        py::arg("seed"), py::arg("n"), py::arg("dim"), py::arg("dtype") = "float64",
        "(n, dim) standard normals: the latent noise Gan's training draws for rows 0..n-1\n"
        "of an epoch with this seed (counter-based: row i's values depend on (seed, i) only).");
}
