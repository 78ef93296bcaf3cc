"""The main job: ``python -m fastmlp`` trains an MLPClassifier on a dataset that ships
with scikit-learn and prints per-epoch progress, test accuracy and the fit time.
``--model cnn`` trains a convolutional NeuralNetClassifier instead: on the 8x8 digits, or
on MNIST-1D (``--dataset mnist1d``, the paper's CNN; needs ``pip install mnist1d``, the
data is built with its make_dataset, never downloaded).

``fastmlp`` (the console script) is the same command; ``fastmlp train|predict|dataset|bench
...`` runs a subcommand (_cli.py).
"""

import argparse
import sys
import time

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from . import MLPClassifier, NeuralNetClassifier, __version__, _cli, _core
from .layers import Conv1D, Conv2D, Dense, Dropout, Flatten, MaxPooling2D

CLASSIFICATION = [name for name, (_, task) in _cli.DATASETS.items()
                  if task == "classification"]
SIGNALS = ("digits", "mnist1d")  # the datasets --model cnn takes


def load_mnist1d():
    """MNIST-1D (Greydanus 2020): 4000 train and 1000 test series of length 40, built by
    the mnist1d package's make_dataset with its default arguments (never downloaded)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise SystemExit("--dataset mnist1d needs the mnist1d package: pip install mnist1d")
    data = make_dataset(get_dataset_args())
    return data["x"], data["x_test"], data["y"], data["y_test"]


def cnn_layers(dataset):
    """The convolutional network of --model cnn (the output layer is added by the
    estimator): a small Conv2D network for the 8x8 digits, the MNIST-1D paper's CNN."""
    if dataset == "digits":
        return [Conv2D(16, 3, activation="relu"), MaxPooling2D(2), Flatten(),
                Dense(64, activation="relu")], (8, 8, 1)
    conv = dict(strides=2, padding=1, activation="relu")
    return [Conv1D(25, 5, **conv), Conv1D(25, 3, **conv), Conv1D(25, 3, **conv), Flatten(),
            Dropout(0.2)], (40, 1)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in _cli.COMMANDS:
        return _cli.main(argv)
    prog = _cli.prog_name()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train fastmlp's MLPClassifier (or, with --model cnn, a convolutional "
        "NeuralNetClassifier) on a dataset bundled with scikit-learn.",
        epilog=f"Subcommands: '{prog} train DATA --target COL --out MODEL', "
        f"'{prog} predict MODEL DATA [--out CSV]', '{prog} dataset NAME --out CSV', "
        f"'{prog} bench [ARGS]'; '{prog} train --help' and so on for their options.",
    )
    parser.add_argument("--dataset", choices=CLASSIFICATION + ["mnist1d"], default="digits")
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp",
                        help="mlp: MLPClassifier with --hidden (default); cnn: a "
                        "convolutional NeuralNetClassifier (--dataset digits or mnist1d)")
    _cli.add_network_options(parser)
    parser.add_argument("--max-iter", type=int, default=None,
                        help="epochs (default: 200; 150 for --model cnn --dataset mnist1d, "
                        "its 6000 steps)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--float32", action="store_true", help="train in float32")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args(argv)
    if args.max_iter is None:
        args.max_iter = 150 if (args.model, args.dataset) == ("cnn", "mnist1d") else 200

    if args.model == "cnn" and args.dataset not in SIGNALS:
        parser.error(f"--model cnn needs images or signals: --dataset {' or '.join(SIGNALS)}, "
                     f"not {args.dataset}")
    if args.dataset == "mnist1d":
        X_train, X_test, y_train, y_test = load_mnist1d()
    else:
        bunch = _cli.load_dataset(args.dataset)
        X, y = bunch.data, bunch.target
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=args.random_state
        )
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    dtype = np.float32 if args.float32 else np.float64
    X_train, X_test = X_train.astype(dtype), X_test.astype(dtype)

    common = dict(
        solver=args.solver,
        alpha=args.alpha,
        learning_rate_init=args.learning_rate_init,
        max_iter=args.max_iter,
        batch_size="auto" if args.batch_size is None else args.batch_size,
        random_state=args.random_state,
        verbose=not args.quiet,
    )
    if args.model == "cnn":
        if args.solver == "lbfgs":
            parser.error("--model cnn trains with --solver adam or sgd")
        layers, input_shape = cnn_layers(args.dataset)
        if args.dataset == "mnist1d":  # the README's recipe (examples/cnn_mnist1d.py)
            # Its rate and alpha, unless given otherwise than the MLP's defaults.
            if args.learning_rate_init == parser.get_default("learning_rate_init"):
                common["learning_rate_init"] = 2e-2
            if args.alpha == parser.get_default("alpha"):
                common["alpha"] = 0.0
            common.update(learning_rate="cosine",
                          warmup_iters=min(5, args.max_iter - 1), shuffle=False,
                          n_iter_no_change=np.inf,
                          batch_size=100 if args.batch_size is None else args.batch_size)
        clf = NeuralNetClassifier(layers, input_shape=input_shape, **common)
        network = "cnn"
    else:
        clf = MLPClassifier(hidden_layer_sizes=args.hidden, activation=args.activation,
                            **common)
        network = f"hidden={args.hidden}"
    print(
        f"fastmlp {__version__}: {args.dataset} ({X_train.shape[0]} train, "
        f"{X_test.shape[0]} test, {X_train.shape[1]} features), {network}, "
        f"solver={args.solver}, {np.dtype(dtype).name}, threads={_core.max_threads()}"
    )
    start = time.perf_counter()
    try:
        clf.fit(X_train, y_train)
    except ValueError as e:  # a bad --alpha, --max-iter ...: one line, as the subcommands
        parser.exit(2, f"{prog}: error: {e}\n")
    fit_time = time.perf_counter() - start
    accuracy = clf.score(X_test, y_test)
    print(f"epochs/iterations: {clf.n_iter_}")
    print(f"test accuracy: {accuracy:.4f}")
    print(f"fit time: {fit_time:.3f} s")
    if args.model == "cnn" and not args.quiet:
        clf.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
