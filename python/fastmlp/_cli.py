"""The ``fastmlp`` command's subcommands: train, predict, dataset, bench.

``fastmlp`` (or ``python -m fastmlp``) with no subcommand runs the digits main job in
__main__.py. Data files: CSV with a header row (read with the csv module), .npy (a 2-D
array, the target given as a column index), .npz (arrays ``X`` and ``y``, or the array
named by ``--target``), and Parquet when pandas is installed. A bad file, a missing column
or a model that does not load is one line on stderr and exit code 2, never a traceback.

Tested by tests/test_cli.py.
"""

import argparse
import csv
import difflib
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

COMMANDS = ("train", "predict", "dataset", "bench")
_MODEL_FORMAT = 1

# The choices of `train` and of the main job (__main__.py): every solver and activation.
SOLVERS = ("adam", "adamw", "sgd", "lbfgs")
ACTIVATIONS = ("relu", "tanh", "logistic", "identity", "leaky_relu", "gelu", "silu", "elu",
               "softplus")

# Datasets that ship with scikit-learn (no download): name -> (sklearn.datasets loader,
# task). The main job trains on the classification ones; `fastmlp dataset` writes any.
DATASETS = {
    "digits": ("load_digits", "classification"),
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}


def load_dataset(name):
    """scikit-learn's Bunch of a DATASETS entry."""
    from sklearn import datasets

    return getattr(datasets, DATASETS[name][0])()


def prog_name():
    """How the user started us, for usage lines: `python -m fastmlp` or `fastmlp`."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "fastmlp"
    if Path(argv0).name == "__main__.py":
        return "python -m fastmlp"
    return Path(argv0).name


def _unknown_name(kind, name, known):
    """`no column 'x'` with up to three close matches and the count, never the full list
    (a wide file has hundreds of columns)."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=3)
    if close:
        hint = f"did you mean {' or '.join(map(repr, close))}?"
    else:
        hint = ", ".join(map(repr, known[:3])) + (", ..." if len(known) > 3 else "")
    return f"no {kind} {name!r} ({len(known)} {kind}s: {hint})"


class CLIError(Exception):
    """A problem with the user's input: reported as one line, exit code 2."""


# ---------------------------------------------------------------------- data files
def _number(text):
    text = text.strip()
    return math.nan if text in ("", "nan", "NaN", "NA") else float(text)


def _read_csv(path):
    """Header and columns (lists of strings) of a CSV file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise CLIError(f"{path}: not a text CSV file")
    rows = [r for r in rows if r]
    if len(rows) < 2:
        raise CLIError(f"{path}: expected a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CLIError(
                f"{path}: line {i} has {len(row)} fields, the header has {len(header)}"
            )
    return header, [list(col) for col in zip(*rows[1:])]


def _numeric(path, name, values):
    try:
        return np.array([_number(v) for v in values], dtype=np.float64)
    except ValueError:
        bad = next(v for v in values if not _is_number(v))
        raise CLIError(f"{path}: column {name!r} is not numeric (value {bad!r})")


def _is_number(text):
    try:
        _number(text)
        return True
    except ValueError:
        return False


def _labels(values):
    """Class labels: integers or floats when they all parse so, else the strings."""
    values = [v.strip() for v in values]
    try:
        floats = np.array([float(v) for v in values])
    except ValueError:
        return np.array(values, dtype=object).astype(str)
    if np.all(np.isfinite(floats)) and np.all(floats == np.round(floats)):
        return floats.astype(np.int64)
    return floats


def load_table(path, target=None, features=None, regression=False):
    """Read a data file into (X, y, feature_names, target_name).

    `target` names the target column (an index for .npy, an array name for .npz); when
    None, no target is read (prediction). `features` restricts and orders the feature
    columns (prediction: the columns the model was trained on).
    """
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        return _load_numpy(path, target, features)
    if suffix in (".parquet", ".pq"):
        try:
            import pandas as pd
        except ImportError:
            raise CLIError(f"{path}: reading Parquet needs pandas and pyarrow")
        try:
            frame = pd.read_parquet(path)
        except ImportError as e:
            raise CLIError(f"{path}: reading Parquet needs pyarrow or fastparquet ({e})")
        except Exception as e:
            raise CLIError(f"{path}: not a readable Parquet file ({type(e).__name__})")
        header = [str(c) for c in frame.columns]
        columns = {str(c): frame[c].to_numpy() for c in frame.columns}
        return _select(path, header, columns, target, features, regression, parsed=True)
    header, cols = _read_csv(path)
    columns = dict(zip(header, cols))
    return _select(path, header, columns, target, features, regression, parsed=False)


def _select(path, header, columns, target, features, regression, parsed):
    if len(set(header)) != len(header):
        raise CLIError(f"{path}: duplicate column names in the header")
    if target is not None and target not in columns:
        raise CLIError(f"{path}: {_unknown_name('column', target, header)}")
    if features is None:
        features = [h for h in header if h != target]
    missing = [f for f in features if f not in columns]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CLIError(
            f"{path}: missing column(s) {', '.join(map(repr, missing[:3]))}{more} of the "
            f"{len(features)} the model was trained on"
        )
    if not features:
        raise CLIError(f"{path}: no feature columns")
    if parsed:
        try:
            X = np.column_stack([np.asarray(columns[f], dtype=np.float64) for f in features])
        except (TypeError, ValueError):
            bad = next(f for f in features if not np.issubdtype(columns[f].dtype, np.number))
            raise CLIError(f"{path}: column {bad!r} is not numeric")
        y = None if target is None else np.asarray(columns[target])
        if y is not None and regression:
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError):
                raise CLIError(f"{path}: target column {target!r} is not numeric")
    else:
        X = np.column_stack([_numeric(path, f, columns[f]) for f in features])
        y = None
        if target is not None:
            y = _numeric(path, target, columns[target]) if regression else _labels(
                columns[target]
            )
    return X, y, list(features), target


def _load_numpy(path, target, features):
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:
        raise CLIError(f"{path}: not a readable numpy file ({type(e).__name__})")
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if "X" not in data.files:
                raise CLIError(f"{path}: {_unknown_name('array', 'X', data.files)}")
            X = data["X"]
            key = "y" if target in (None, "y") else target
            if target is not None and key not in data.files:
                raise CLIError(f"{path}: {_unknown_name('array', key, data.files)}")
            y = data[key] if target is not None else None
        names = [f"x{i}" for i in range(X.shape[1])] if X.ndim == 2 else []
    else:
        X, y = data, None
        if X.ndim != 2:
            raise CLIError(f"{path}: expected a 2-D array, got shape {X.shape}")
        names = [f"x{i}" for i in range(X.shape[1])]
        if target is not None:
            try:
                col = int(target)
            except ValueError:
                raise CLIError(f"{path}: --target must be a column index for .npy files")
            if not -X.shape[1] <= col < X.shape[1]:
                raise CLIError(f"{path}: no column {col} (the array has {X.shape[1]})")
            col %= X.shape[1]
            y = X[:, col]
            X = np.delete(X, col, axis=1)
            names = [f"x{i}" for i in range(X.shape[1])]
            target = f"column {col}"
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise CLIError(f"{path}: X must be a 2-D numeric array, got {X.dtype} {X.shape}")
    if features is not None and len(features) != X.shape[1]:
        raise CLIError(
            f"{path}: {X.shape[1]} feature columns, the model was trained on {len(features)}"
        )
    return X.astype(np.float64, copy=False), y, names, target


# ---------------------------------------------------------------------- commands
def hidden_sizes(text):
    """argparse type of --hidden: "256,128" -> (256, 128)."""
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError("layer sizes must be positive")
    return sizes


def _train(args):
    import joblib
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.metrics import accuracy_score, mean_squared_error, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from . import MLPClassifier, MLPRegressor, __version__

    X, y, features, target = load_table(args.data, args.target, regression=args.regression)
    if not np.all(np.isfinite(X)):
        raise CLIError(f"{args.data}: the feature columns have missing or infinite values")
    if args.regression and not np.all(np.isfinite(y)):
        raise CLIError(f"{args.data}: the target column has missing or infinite values")
    if args.test_size > 0:
        stratify = None
        if not args.regression and np.unique(y, return_counts=True)[1].min() >= 2:
            stratify = y
        try:
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=args.test_size, random_state=args.random_state,
                stratify=stratify,
            )
        except ValueError as e:
            raise CLIError(f"cannot hold out a test set: {e}")
    else:
        X_train, y_train, X_test, y_test = X, y, None, None

    if not args.regression and y.dtype.kind == "f" and np.all(y == np.round(y)):
        y_train = y_train.astype(np.int64)  # class labels read as floats (.npy, Parquet)
        y_test = None if y_test is None else y_test.astype(np.int64)
    cls = MLPRegressor if args.regression else MLPClassifier
    extras = {}
    if args.class_weight:
        if args.regression:
            raise CLIError("--class-weight applies to classification only")
        extras["class_weight"] = args.class_weight
    if args.cosine:
        extras.update(learning_rate="cosine", warmup_iters=args.warmup_iters)
    elif args.warmup_iters:
        raise CLIError("--warmup-iters needs --cosine")
    mlp = cls(
        hidden_layer_sizes=args.hidden, solver=args.solver, activation=args.activation,
        alpha=args.alpha, learning_rate_init=args.learning_rate_init,
        max_iter=args.max_iter, random_state=args.random_state, verbose=not args.quiet,
        batch_size="auto" if args.batch_size is None else args.batch_size,
        early_stopping=args.early_stopping, dropout=args.dropout,
        max_grad_norm=args.max_grad_norm, **extras,
    )
    if args.regression:
        # A network fits a target of unit scale: the target is standardized as the
        # features are, and the saved pipeline's predict() unscales.
        mlp = TransformedTargetRegressor(regressor=mlp, transformer=StandardScaler())
    model = make_pipeline(StandardScaler(), mlp)
    task = "regression" if args.regression else "classification"
    print(
        f"fastmlp {__version__}: {task} of {target!r} from {len(features)} features, "
        f"{X_train.shape[0]} training rows, hidden={args.hidden}, solver={args.solver}"
    )
    start = time.perf_counter()
    try:
        model.fit(X_train, y_train)
    except ValueError as e:
        raise CLIError(f"training failed: {e}")
    fit_time = time.perf_counter() - start
    fitted = model[-1].regressor_ if args.regression else model[-1]
    print(f"epochs/iterations: {fitted.n_iter_}, fit time: {fit_time:.3f} s")
    splits = [("train", X_train, y_train)]
    if X_test is not None:
        splits.append(("test", X_test, y_test))
    for name, Xs, ys in splits:
        pred = model.predict(Xs)
        if args.regression:
            print(f"{name} r2: {r2_score(ys, pred):.4f}, "
                  f"{name} rmse: {math.sqrt(mean_squared_error(ys, pred)):.6g}")
        else:
            print(f"{name} accuracy: {accuracy_score(ys, pred):.4f}")
    bundle = {
        "fastmlp_cli_format": _MODEL_FORMAT, "fastmlp_version": __version__,
        "model": model, "features": features, "target": target, "task": task,
    }
    try:
        joblib.dump(bundle, args.out)
    except OSError as e:
        raise CLIError(f"{args.out}: cannot write the model ({e.strerror})")
    print(f"model saved to {args.out}")
    return 0


def load_model(path):
    """The bundle that `fastmlp train` saved."""
    import joblib

    if not Path(path).is_file():
        raise CLIError(f"{path}: no such file")
    try:
        bundle = joblib.load(path)
    except Exception as e:
        raise CLIError(f"{path}: not a fastmlp model file ({type(e).__name__})")
    if not isinstance(bundle, dict) or "fastmlp_cli_format" not in bundle:
        raise CLIError(f"{path}: not a model saved by 'fastmlp train'")
    if bundle["fastmlp_cli_format"] > _MODEL_FORMAT:
        raise CLIError(f"{path}: saved by a newer fastmlp; upgrade fastmlp to load it")
    return bundle


def _predict(args):
    bundle = load_model(args.model)
    X, _, _, _ = load_table(args.data, features=bundle["features"])
    if not np.all(np.isfinite(X)):
        raise CLIError(f"{args.data}: the feature columns have missing or infinite values")
    pred = bundle["model"].predict(X)
    name = bundle["target"] if isinstance(bundle["target"], str) else "prediction"
    # One column per output (multi-output regression, multilabel classification).
    header = [name] if pred.ndim == 1 else [f"{name}_{i}" for i in range(pred.shape[1])]
    rows = pred.reshape(len(pred), -1)
    fmt = (lambda v: repr(float(v))) if bundle["task"] == "regression" else (lambda v: v)
    try:
        out = open(args.out, "w", newline="") if args.out else sys.stdout
    except OSError as e:
        raise CLIError(f"{args.out}: cannot write the predictions ({e.strerror})")
    try:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([fmt(v) for v in row])
    finally:
        if args.out:
            out.close()
    if args.out:
        print(f"{len(pred)} predictions written to {args.out}", file=sys.stderr)
    return 0


def _dataset(args):
    bunch = load_dataset(args.name)
    header = [str(f) for f in bunch.feature_names] + [args.target]
    if args.target in header[:-1]:
        raise CLIError(f"--target {args.target!r} is also a feature name; choose another")
    task = DATASETS[args.name][1]
    try:
        with open(args.out, "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            for row, target in zip(bunch.data, bunch.target):
                writer.writerow([repr(float(v)) for v in row] + [
                    repr(float(target)) if task == "regression" else int(target)])
    except OSError as e:
        raise CLIError(f"{args.out}: cannot write the dataset ({e.strerror})")
    print(f"{args.out}: {args.name}, {len(bunch.data)} rows, {len(header) - 1} features and "
          f"the {task} target {args.target!r}")
    return 0


def find_compare_script():
    """benchmarks/compare.py of a source checkout: the working directory's, or the one
    next to this package when it runs from its source tree."""
    here = Path(__file__).resolve().parent
    for root in (Path.cwd(), here.parent.parent):
        script = root / "benchmarks" / "compare.py"
        if script.is_file():
            return script
    return None


def _bench(bench_args):
    script = find_compare_script()
    if script is None:
        if "-h" in bench_args or "--help" in bench_args:
            _parser().parse_args(["bench", "--help"])  # prints the help, exits 0
        raise CLIError(
            f"benchmarks/compare.py not found: run '{prog_name()} bench' from a fastmlp "
            "source checkout (it is not part of the installed package)"
        )
    return subprocess.call([sys.executable, str(script), *bench_args])


def _parser():
    prog = prog_name()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train, apply and benchmark fastmlp MLPs. With no subcommand: "
        f"the digits main job (see '{prog} --help').",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train an MLP on a data file and save it")
    train.add_argument("data", help="CSV (with a header), .npy, .npz or Parquet file")
    train.add_argument("--target", required=True,
                       help="target column (an index for .npy, an array name for .npz)")
    train.add_argument("--out", required=True, help="where to save the model (joblib)")
    train.add_argument("--regression", action="store_true",
                       help="MLPRegressor, on the standardized target (default: "
                       "MLPClassifier)")
    add_network_options(train)
    train.add_argument("--dropout", type=float, default=0.0,
                       help="dropout rate of the hidden layers (default: 0)")
    train.add_argument("--max-grad-norm", type=float, default=None,
                       help="clip each mini-batch gradient to this L2 norm")
    train.add_argument("--cosine", action="store_true",
                       help="cosine learning-rate schedule (learning_rate='cosine')")
    train.add_argument("--warmup-iters", type=int, default=0,
                       help="epochs of linear warmup, with --cosine")
    train.add_argument("--class-weight", choices=["balanced"], default=None,
                       help="weigh classes inversely to their frequency")
    train.add_argument("--max-iter", type=int, default=200)
    train.add_argument("--batch-size", type=int, default=None)
    train.add_argument("--early-stopping", action="store_true")
    train.add_argument("--test-size", type=float, default=0.2,
                       help="fraction held out for the test metrics; 0 trains on all rows")
    train.add_argument("--random-state", type=int, default=0)
    train.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    train.set_defaults(run=_train)

    predict = sub.add_parser("predict", help="predict with a saved model, as CSV")
    predict.add_argument("model", help="a model saved by 'fastmlp train'")
    predict.add_argument("data", help="CSV, .npy, .npz or Parquet file with the features")
    predict.add_argument("--out", help="CSV file for the predictions (default: stdout)")
    predict.set_defaults(run=_predict)

    dataset = sub.add_parser(
        "dataset", help="write a dataset that ships with scikit-learn as CSV",
        description="Write one of scikit-learn's bundled datasets (no download) as a CSV "
        "file with a header row: its feature names, then the target column.",
    )
    dataset.add_argument("name", choices=list(DATASETS),
                         help="diabetes is a regression, the others classifications")
    dataset.add_argument("--out", required=True, help="the CSV file to write")
    dataset.add_argument("--target", default="target",
                         help="name of the target column (default: target)")
    dataset.set_defaults(run=_dataset)

    # Run by main(): everything after 'bench' goes to compare.py as it is; this parser
    # only documents it, and prints the help where there is no checkout.
    bench = sub.add_parser(
        "bench", help="run benchmarks/compare.py of a source checkout",
        description="Run benchmarks/compare.py of a fastmlp source checkout (the working "
        "directory's, or the one this fastmlp runs from) with the remaining arguments: "
        "fastmlp against scikit-learn and PyTorch, side by side. It is not part of the "
        f"installed package. Inside a checkout, '{prog} bench --help' shows compare.py's "
        "own options.",
    )
    bench.add_argument("args", nargs=argparse.REMAINDER,
                       help="arguments for compare.py, e.g. --repeats 3")
    return parser


def add_network_options(parser):
    """The network and solver options that `train` and the main job share."""
    parser.add_argument("--hidden", type=hidden_sizes, default=(100,), metavar="N[,N...]",
                        help="hidden layer sizes, e.g. 256,128 (default: 100)")
    parser.add_argument("--solver", choices=SOLVERS, default="adam")
    parser.add_argument("--activation", choices=ACTIVATIONS, default="relu")
    parser.add_argument("--learning-rate-init", type=float, default=0.001,
                        help="sgd, adam and adamw (default: 0.001)")
    parser.add_argument("--alpha", type=float, default=0.0001,
                        help="L2 penalty (adamw: decoupled weight decay; default: 0.0001)")


def main(argv):
    """Run a subcommand (argv[0] in COMMANDS); returns the exit code."""
    if argv and argv[0] == "bench":
        command, run = "bench", lambda: _bench(argv[1:])
    else:
        args = _parser().parse_args(argv)
        command, run = args.command, lambda: args.run(args)
    try:
        return run()
    except CLIError as e:
        print(f"{prog_name()} {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog_name()} {command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into a reader that stopped early (| head): as Python's docs advise,
        # point stdout at devnull so the interpreter's final flush does not fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
