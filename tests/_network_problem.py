"""Random inputs for the core's Network tests (shared by test_gradcheck and test_properties)."""

import numpy as np
import scipy.sparse as sp


def network_inputs(rng, n, sizes, make_y, sparse, weighted):
    """X as the core takes it (dense, or a CSR tuple with half the entries zero), Y and sw."""
    X = rng.normal(size=(n, sizes[0]))
    if sparse:
        X[rng.uniform(size=X.shape) < 0.5] = 0.0
        Xs = sp.csr_matrix(X)
        Xc = (Xs.data, Xs.indices.astype(np.int64), Xs.indptr.astype(np.int64), sizes[0])
    else:
        Xc = X
    Y = np.ascontiguousarray(make_y(rng, n, sizes[-1]))
    sw = rng.uniform(0.5, 2.0, n) if weighted else None
    return Xc, Y, sw
