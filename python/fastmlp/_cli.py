"""The ``fastmlp`` command's subcommands: train, predict, bench.

``fastmlp`` (or ``python -m fastmlp``) with no subcommand runs the digits main job in
__main__.py. Data files: CSV with a header row (read with the csv module), .npy (a 2-D
array, the target given as a column index), .npz (arrays ``X`` and ``y``, or the array
named by ``--target``), and Parquet when pandas is installed. A bad file, a missing column
or a model that does not load is one line on stderr and exit code 2, never a traceback.

Tested by tests/test_cli.py.
"""

import argparse
import csv
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

COMMANDS = ("train", "predict", "bench")
_MODEL_FORMAT = 1


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
        raise CLIError(f"{path}: no column {target!r} (columns: {', '.join(header)})")
    if features is None:
        features = [h for h in header if h != target]
    missing = [f for f in features if f not in columns]
    if missing:
        raise CLIError(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
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
                raise CLIError(f"{path}: no array 'X' (arrays: {', '.join(data.files)})")
            X = data["X"]
            key = "y" if target in (None, "y") else target
            if target is not None and key not in data.files:
                raise CLIError(f"{path}: no array {key!r} (arrays: {', '.join(data.files)})")
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
def _hidden(text):
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError("layer sizes must be positive")
    return sizes


def _train(args):
    import joblib
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
        max_iter=args.max_iter, random_state=args.random_state, verbose=not args.quiet,
        batch_size="auto" if args.batch_size is None else args.batch_size,
        early_stopping=args.early_stopping, dropout=args.dropout,
        max_grad_norm=args.max_grad_norm, **extras,
    )
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
    print(f"epochs/iterations: {mlp.n_iter_}, fit time: {fit_time:.3f} s")
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
    try:
        out = open(args.out, "w", newline="") if args.out else sys.stdout
    except OSError as e:
        raise CLIError(f"{args.out}: cannot write the predictions ({e.strerror})")
    try:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([name])
        for value in pred:
            writer.writerow([repr(float(value)) if bundle["task"] == "regression" else value])
    finally:
        if args.out:
            out.close()
    if args.out:
        print(f"{len(pred)} predictions written to {args.out}", file=sys.stderr)
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
        raise CLIError(
            "benchmarks/compare.py not found: run 'fastmlp bench' from a fastmlp source "
            "checkout (it is not part of the installed package)"
        )
    return subprocess.call([sys.executable, str(script), *bench_args])


def _parser():
    parser = argparse.ArgumentParser(
        prog="fastmlp",
        description="Train, apply and benchmark fastmlp MLPs. With no subcommand: "
        "the digits main job (see 'fastmlp --help').",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train an MLP on a data file and save it")
    train.add_argument("data", help="CSV (with a header), .npy, .npz or Parquet file")
    train.add_argument("--target", required=True,
                       help="target column (an index for .npy, an array name for .npz)")
    train.add_argument("--out", required=True, help="where to save the model (joblib)")
    train.add_argument("--regression", action="store_true",
                       help="MLPRegressor (default: MLPClassifier)")
    train.add_argument("--hidden", type=_hidden, default=(100,), metavar="N[,N...]",
                       help="hidden layer sizes, e.g. 256,128 (default: 100)")
    train.add_argument("--solver", choices=["adam", "adamw", "sgd", "lbfgs"], default="adam")
    train.add_argument("--activation", default="relu",
                       choices=["relu", "tanh", "logistic", "identity", "leaky_relu", "gelu",
                                "silu", "elu", "softplus"])
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

    # Parsed in main(): everything after 'bench' goes to compare.py as it is.
    sub.add_parser("bench", help="run benchmarks/compare.py of a source checkout with the "
                   "remaining arguments ('fastmlp bench --help' shows its options)")
    return parser


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
        print(f"fastmlp {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fastmlp {command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into a reader that stopped early (| head): as Python's docs advise,
        # point stdout at devnull so the interpreter's final flush does not fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
