"""Our GEMM against numpy in float64: every micro-kernel this CPU can run, both dtypes,
all four transpose cases, odd and tall-skinny shapes, alpha/beta, beta=0 on NaN."""

import numpy as np
import pytest

from fastmlp import _core

KERNELS = _core.available_gemm_kernels()
SIZES = [1, 2, 7, 8, 9, 15, 16, 17, 33, 257]
SHAPES = sorted({(m, n, k) for m in SIZES for n in (1, 7, 33, 257) for k in (1, 9, 257)})[::3]
SHAPES += [(200, 256, 784), (784, 256, 200), (200, 784, 256), (1000, 10, 3), (3, 1000, 5)]


def _operands(m, n, k, dtype, ta, tb, rng):
    a = rng.standard_normal((k, m) if ta else (m, k))
    b = rng.standard_normal((n, k) if tb else (k, n))
    return a, b, a.astype(dtype), b.astype(dtype)


def _check(got, want, k, dtype):
    scale = np.sqrt(k) * max(np.abs(want).max(), 1.0)
    tol = 2e-6 if dtype == np.float32 else 1e-14
    assert np.abs(got - want).max() <= tol * scale * 10


def test_scalar_kernel_is_always_available():
    assert "scalar" in KERNELS


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_gemm_matches_numpy(m, n, k, ta, tb, dtype, kernel):
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    a, b, a_t, b_t = _operands(m, n, k, dtype, ta, tb, rng)
    want = (a.T if ta else a) @ (b.T if tb else b)
    got = _core.gemm(a_t, b_t, trans_a=ta, trans_b=tb, kernel=kernel)
    assert got.dtype == dtype and got.shape == (m, n) and got.flags.c_contiguous
    _check(got, want, k, dtype)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_alpha_beta_and_nan_output(kernel, dtype):
    rng = np.random.default_rng(0)
    for m, n, k in [(7, 33, 9), (257, 17, 33), (1, 1, 1)]:
        a, b, a_t, b_t = _operands(m, n, k, dtype, False, True, rng)
        c = rng.standard_normal((m, n))
        out = c.astype(dtype)
        _core.gemm(a_t, b_t, trans_b=True, kernel=kernel, alpha=-0.5, beta=2.0, out=out)
        _check(out, -0.5 * a @ b.T + 2.0 * c, k, dtype)
        nan_out = np.full((m, n), np.nan, dtype=dtype)  # beta = 0 must not read C
        _core.gemm(a_t, b_t, trans_b=True, kernel=kernel, alpha=1.0, beta=0.0, out=nan_out)
        _check(nan_out, a @ b.T, k, dtype)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, True)])
def test_several_k_blocks(kernel, dtype, ta, tb):
    # K = 1100 runs as three k blocks (kc <= 512): the later ones add onto C, through the
    # kernels' C += acc store when alpha = beta = 1.
    rng = np.random.default_rng(3)
    m, n, k = 37, 70, 1100
    a, b, a_in, b_in = _operands(m, n, k, dtype, ta, tb, rng)
    want = (a.T if ta else a) @ (b.T if tb else b)
    _check(_core.gemm(a_in, b_in, trans_a=ta, trans_b=tb, kernel=kernel), want, k, dtype)
    for alpha, beta in [(1.0, 1.0), (-0.5, 2.0)]:
        c = rng.standard_normal((m, n))
        out = c.astype(dtype)
        _core.gemm(a_in, b_in, trans_a=ta, trans_b=tb, kernel=kernel, alpha=alpha, beta=beta,
                   out=out)
        _check(out, alpha * want + beta * c, k, dtype)


def test_empty_inner_dimension_gives_zeros():
    out = _core.gemm(np.ones((3, 0)), np.ones((0, 4)))
    np.testing.assert_array_equal(out, np.zeros((3, 4)))


def test_gemm_errors():
    with pytest.raises(ValueError, match="inner dimensions"):
        _core.gemm(np.ones((3, 4)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="C-contiguous float64"):
        _core.gemm(np.ones((3, 4)), np.ones((4, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.gemm(np.ones((4, 3)).T, np.ones((4, 2)))
    with pytest.raises(ValueError):
        _core.gemm(np.ones((2, 2)), np.ones((2, 2)), kernel="sse9")


def test_environment_variable_forces_a_kernel(monkeypatch):
    for k in KERNELS:
        monkeypatch.setenv("FASTMLP_GEMM_KERNEL", k)
        assert _core.gemm_kernel() == k
    monkeypatch.setenv("FASTMLP_GEMM_KERNEL", "bogus")
    with pytest.raises(ValueError):
        _core.gemm_kernel()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,n,k,ta,tb", [(200, 256, 784, False, False),
                                         (784, 256, 200, True, False),
                                         (200, 784, 256, False, True),
                                         (257, 1031, 33, True, True)])
def test_results_do_not_depend_on_thread_count(m, n, k, ta, tb, dtype):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(7)
    _, _, a, b = _operands(m, n, k, dtype, ta, tb, rng)
    results = []
    for threads in (1, 2, 3):
        with threadpoolctl.threadpool_limits(threads, user_api="openmp"):
            results.append(_core.gemm(a, b, trans_a=ta, trans_b=tb))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,n,k,ta,tb", [(37, 70, 1100, True, False), (100, 100, 64, False, False),
                                         (64, 100, 200, True, False), (257, 33, 9, True, True),
                                         (25, 512, 100, False, False), (25, 512, 300, True, False),
                                         (100, 10, 100, False, False), (100, 10, 100, True, False),
                                         (33, 21, 50, False, False), (9, 7, 257, True, False)])
def test_operands_read_in_place_give_the_bits_of_packed_panels(m, n, k, ta, tb, dtype, kernel,
                                                               monkeypatch):
    # Full panels of A^T and of B are read where they lie when they fit in the L2 (rows 4096
    # bytes apart, as B of (25, 512, 300) in float64, are packed anyway), and with the
    # AVX-512 kernel B's last, narrower panel too (masked loads: n = 10, 21, 7); the same
    # FMAs run in the same order either way. FASTMLP_GEMM_PACK=all packs everything.
    rng = np.random.default_rng(11)
    a, b, a_in, b_in = _operands(m, n, k, dtype, ta, tb, rng)
    got = _core.gemm(a_in, b_in, trans_a=ta, trans_b=tb, kernel=kernel)
    _check(got, (a.T if ta else a) @ (b.T if tb else b), k, dtype)
    monkeypatch.setenv("FASTMLP_GEMM_PACK", "all")
    np.testing.assert_array_equal(_core.gemm(a_in, b_in, trans_a=ta, trans_b=tb, kernel=kernel), got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k", [(1, 1), (7, 9), (8, 33), (9, 257), (130, 256)])
def test_two_column_products_sum_each_row_in_k_order(m, k, dtype):
    # C of two columns, B read down a strided column: rows run as independent chains in k
    # order, which is what the A^T path (axpys over k) computes, bit for bit.
    rng = np.random.default_rng(m * 1000 + k)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, 2)).astype(dtype)
    by_rows = _core.gemm(a, b)
    np.testing.assert_array_equal(by_rows, _core.gemm(np.ascontiguousarray(a.T), b, trans_a=True))
    _check(by_rows, a.astype(np.float64) @ b.astype(np.float64), k, dtype)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta", [False, True])
def test_a_row_of_c_does_not_depend_on_the_rows_around_it(kernel, dtype, ta):
    # The last panel of M rows may run a kernel of fewer rows (4 or 8 of 12): every row of
    # C must keep the bits it has in a product of full panels.
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((37, 257)).astype(dtype), rng.standard_normal((257, 70)).astype(dtype)
    full = _core.gemm(a, b, kernel=kernel)
    for m in (1, 3, 4, 5, 8, 9, 12, 13, 16, 25):
        top = np.ascontiguousarray(a[:m].T) if ta else a[:m]
        np.testing.assert_array_equal(_core.gemm(top, b, trans_a=ta, kernel=kernel), full[:m])
