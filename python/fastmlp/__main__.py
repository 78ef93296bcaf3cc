"""The main job: ``python -m fastmlp`` trains an MLPClassifier on a dataset that ships
with scikit-learn and prints per-epoch progress, test accuracy and the fit time.

``fastmlp`` (the console script) is the same command; ``fastmlp train|predict|dataset|bench
...`` runs a subcommand (_cli.py).
"""

import argparse
import sys
import time

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from . import MLPClassifier, __version__, _cli, _core

CLASSIFICATION = [name for name, (_, task) in _cli.DATASETS.items()
                  if task == "classification"]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in _cli.COMMANDS:
        return _cli.main(argv)
    prog = _cli.prog_name()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train fastmlp's MLPClassifier on a dataset bundled with scikit-learn.",
        epilog=f"Subcommands: '{prog} train DATA --target COL --out MODEL', "
        f"'{prog} predict MODEL DATA [--out CSV]', '{prog} dataset NAME --out CSV', "
        f"'{prog} bench [ARGS]'; '{prog} train --help' and so on for their options.",
    )
    parser.add_argument("--dataset", choices=CLASSIFICATION, default="digits")
    _cli.add_network_options(parser)
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--float32", action="store_true", help="train in float32")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args(argv)

    bunch = _cli.load_dataset(args.dataset)
    X, y = bunch.data, bunch.target
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.random_state
    )
    scaler = StandardScaler().fit(X_train)
    dtype = np.float32 if args.float32 else np.float64
    X_train = scaler.transform(X_train).astype(dtype)
    X_test = scaler.transform(X_test).astype(dtype)

    clf = MLPClassifier(
        hidden_layer_sizes=args.hidden,
        solver=args.solver,
        activation=args.activation,
        alpha=args.alpha,
        learning_rate_init=args.learning_rate_init,
        max_iter=args.max_iter,
        batch_size="auto" if args.batch_size is None else args.batch_size,
        random_state=args.random_state,
        verbose=not args.quiet,
    )
    print(
        f"fastmlp {__version__}: {args.dataset} ({X_train.shape[0]} train, "
        f"{X_test.shape[0]} test, {X.shape[1]} features), hidden={args.hidden}, "
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
