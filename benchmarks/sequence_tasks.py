"""Token-sequence tasks for the attention layers, with fixed seeds, and the same models in
fastmlp and in PyTorch: imported by benchmarks/compare.py, examples/transformer_indexing.py
and the tests.

- indexing: 40 value tokens uniform in 0-9, then one position token 10 + p (p in 0-39);
  the label is the value at position p (10 classes). 41 tokens, vocabulary 50.
- associative recall (H3/Hyena's in-context task): the 20 keys 0-19 in a random order,
  each followed by a value token 20-29, then one of the keys again as the query; the
  label is the query's value (0-9). 41 tokens, vocabulary 30.

Training sets come from seed 0, test sets from seed 1 (`split`).
"""

import math
import time

import numpy as np

INDEXING = {"steps": 41, "vocabulary": 50, "classes": 10}
RECALL = {"steps": 41, "vocabulary": 30, "classes": 10}
SEEDS = {"train": 0, "test": 1}


def indexing(n, seed):
    """(X (n, 41) int64 tokens, y (n,) int64 labels) of the indexing task."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 10, size=(n, 40))
    p = rng.integers(0, 40, size=n)
    X = np.concatenate([values, (10 + p)[:, None]], axis=1)
    return X.astype(np.int64), values[np.arange(n), p].astype(np.int64)


def associative_recall(n, seed, keys=20, values=10):
    """(X (n, 2 keys + 1) int64 tokens, y (n,) int64 labels) of associative recall."""
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((n, keys)), axis=1)  # a random permutation per row
    vals = rng.integers(0, values, size=(n, keys))
    X = np.empty((n, 2 * keys + 1), dtype=np.int64)
    X[:, 0 : 2 * keys : 2] = order
    X[:, 1 : 2 * keys : 2] = keys + vals
    q = rng.integers(0, keys, size=n)
    X[:, -1] = order[np.arange(n), q]
    return X, vals[np.arange(n), q].astype(np.int64)


def split(task, n_train, n_test):
    """(X_train, y_train, X_test, y_test) of `task` ('indexing' or 'recall')."""
    make = indexing if task == "indexing" else associative_recall
    return make(n_train, SEEDS["train"]) + make(n_test, SEEDS["test"])


def last_step_readout(steps):
    """Layers that read out the last step of (steps, features): fastmlp.layers.LastStep
    where it exists, else Cropping1D((steps - 1, 0)) + Flatten() (the same function)."""
    from fastmlp import layers as L

    if hasattr(L, "LastStep"):
        return [L.LastStep()]
    return [L.Cropping1D((steps - 1, 0)), L.Flatten()]


def transformer_layers(vocabulary, steps, width=64, heads=2, blocks=2, ff_dim=128,
                       activation="relu", norm_first=True, dropout=0.0):
    """Embedding + PositionEmbedding + `blocks` TransformerEncoder blocks + the last step."""
    from fastmlp import layers as L

    return ([L.Embedding(vocabulary, width), L.PositionEmbedding(steps)]
            + [L.TransformerEncoder(heads, width // heads, ff_dim, dropout=dropout,
                                    norm_first=norm_first, activation=activation)
               for _ in range(blocks)]
            + last_step_readout(steps))


def fastmlp_transformer(vocabulary, steps, epochs, ff_dim=128, batch_size=64,
                        learning_rate=1e-3, warmup_epochs=2, weight_decay=0.01,
                        random_state=0, **model):
    """The transformer as a NeuralNetClassifier: AdamW, warmup then cosine, per step."""
    from fastmlp import NeuralNetClassifier

    return NeuralNetClassifier(
        transformer_layers(vocabulary, steps, ff_dim=ff_dim, **model), solver="adamw",
        alpha=weight_decay, learning_rate="cosine", learning_rate_init=learning_rate,
        warmup_iters=warmup_epochs, max_iter=epochs, batch_size=batch_size,
        random_state=random_state, tol=0.0, n_iter_no_change=10**9)


def fastmlp_gru(vocabulary, steps, epochs, units=128, batch_size=64, learning_rate=1e-3,
                random_state=0):
    """A GRU of about the transformer's size (Embedding(vocabulary, 64) + GRU(128) + the
    output layer: 78,000 parameters against the transformer's 73,000 with ff_dim 128),
    trained with Adam."""
    from fastmlp import NeuralNetClassifier
    from fastmlp import layers as L

    return NeuralNetClassifier(
        [L.Embedding(vocabulary, 64), L.GRU(units)], solver="adam",
        learning_rate_init=learning_rate, max_iter=epochs, batch_size=batch_size,
        random_state=random_state, tol=0.0, n_iter_no_change=10**9)


def torch_transformer(vocabulary, steps, classes, width=64, heads=2, blocks=2, ff_dim=128,
                      activation="relu", norm_first=True, dropout=0.0):
    """PyTorch's nn.TransformerEncoder of the same shape: token and learned position
    embeddings, `blocks` pre-norm layers (gelu: the tanh approximation, as fastmlp's), the
    last step, a linear head."""
    import torch
    from torch import nn

    act = (lambda x: nn.functional.gelu(x, approximate="tanh")) if activation == "gelu" else "relu"

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens = nn.Embedding(vocabulary, width)
            self.positions = nn.Parameter(torch.randn(steps, width) * 0.02)
            layer = nn.TransformerEncoderLayer(
                width, heads, dim_feedforward=ff_dim, dropout=dropout, activation=act,
                layer_norm_eps=1e-5, batch_first=True, norm_first=norm_first)
            self.encoder = nn.TransformerEncoder(layer, blocks, enable_nested_tensor=False)
            self.head = nn.Linear(width, classes)

        def forward(self, x):
            h = self.encoder(self.tokens(x) + self.positions)
            return self.head(h[:, -1])

    return Model()


def torch_fit(X, y, X_test, y_test, epochs, threads, batch_size=64, learning_rate=1e-3,
              warmup_epochs=2, weight_decay=0.01, seed=0, **model):
    """Train the PyTorch model as fastmlp_transformer trains its own: AdamW (decay on the
    weight matrices and embeddings only, as fastmlp's), linear warmup then cosine per
    step, shuffled batches. Returns (seconds per epoch, test accuracy, loss curve)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    vocabulary = int(max(X.max(), X_test.max())) + 1
    net = torch_transformer(vocabulary, X.shape[1], int(y.max()) + 1, **model)
    decay = [p for n, p in net.named_parameters() if p.ndim >= 2 or n == "positions"]
    rest = [p for n, p in net.named_parameters() if not (p.ndim >= 2 or n == "positions")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=learning_rate)
    n = len(X)
    per_epoch = math.ceil(n / batch_size)
    total, warm = epochs * per_epoch, warmup_epochs * per_epoch

    def factor(step):  # fastmlp's cosine_learning_rate
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()
    curve = []
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n)
        total_loss = 0.0
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * len(idx)
        curve.append(total_loss / n)
    per_epoch_s = (time.perf_counter() - start) / epochs
    net.eval()
    with torch.no_grad():
        acc = (net(torch.from_numpy(X_test)).argmax(1).numpy() == y_test).mean()
    return per_epoch_s, float(acc), curve
