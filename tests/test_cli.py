"""The fastmlp command line, run in a subprocess as a user runs it."""

import csv
import os
import shutil
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning


def fastmlp(*args, cwd=None, check=True):
    (proc,) = fastmlp_many([args], cwd=cwd)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def fastmlp_many(commands, cwd=None):
    """Run `python -m fastmlp ARGS` for each ARGS at once (each start imports
    scikit-learn, about a second); the completed processes, in order."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "fastmlp", *map(str, args)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, cwd=cwd,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        for args in commands
    ]
    done = []
    for proc, args in zip(procs, commands):
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return done


def assert_clean_error(proc, *fragments):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def iris_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("iris")
    X, y = load_iris(return_X_y=True)
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    species = np.array(["setosa", "versicolor", "virginica"])[y]
    with open(d / "iris.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names + ["species"])
        w.writerows(list(row) + [s] for row, s in zip(X, species))
    np.save(d / "features.npy", X)
    np.savez(d / "iris.npz", X=X, y=X[:, 0] * 2.0 + X[:, 3])
    np.savez(d / "two_targets.npz", X=X[:, :2], y=X[:, 2:])
    return d


def test_train_and_predict_csv(iris_files, tmp_path):
    model = tmp_path / "model.joblib"
    out = fastmlp("train", iris_files / "iris.csv", "--target", "species", "--hidden", "16,8",
                  "--solver", "lbfgs", "--max-iter", "300", "--out", model).stdout
    assert "test accuracy:" in out and "train accuracy:" in out
    assert model.is_file()

    preds = tmp_path / "preds.csv"
    fastmlp("predict", model, iris_files / "iris.csv", "--out", preds)
    with open(preds) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["species"] and len(rows) == 151
    bundle = joblib.load(model)
    X = load_iris().data
    assert [r[0] for r in rows[1:]] == list(bundle["model"].predict(X))
    assert np.mean([r[0] == s for r, s in zip(rows[1:], np.repeat(
        ["setosa", "versicolor", "virginica"], 50))]) > 0.9


def test_train_progress_lines_and_predict_to_stdout(iris_files, tmp_path):
    model = tmp_path / "reg.joblib"
    out = fastmlp("train", iris_files / "iris.npz", "--target", "y", "--regression",
                  "--max-iter", "3", "--out", model).stdout
    assert "Iteration 3, loss" in out and "test r2:" in out
    # The .npy holds the same four features, without names: matched by position.
    proc = fastmlp("predict", model, iris_files / "features.npy")
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "y" and len(lines) == 151
    float(lines[1])
    # Two targets: one column each.
    fastmlp("train", iris_files / "two_targets.npz", "--target", "y", "--regression",
            "--quiet", "--max-iter", "3", "--out", model)
    lines = fastmlp("predict", model, iris_files / "two_targets.npz").stdout.splitlines()
    assert lines[0] == "y_0,y_1" and len(lines) == 151
    np.testing.assert_allclose(np.array([r.split(",") for r in lines[1:]], dtype=float),
                               joblib.load(model)["model"].predict(load_iris().data[:, :2]))


def test_train_with_the_features_beyond_sklearn(iris_files, tmp_path):
    model = tmp_path / "m.joblib"
    out = fastmlp("train", iris_files / "iris.csv", "--target", "species", "--quiet",
                  "--solver", "adamw", "--activation", "gelu", "--dropout", "0.1",
                  "--max-grad-norm", "5", "--cosine", "--warmup-iters", "2",
                  "--class-weight", "balanced", "--max-iter", "20", "--out", model).stdout
    assert "test accuracy:" in out
    mlp = joblib.load(model)["model"][-1]
    assert (mlp.solver, mlp.activation, mlp.dropout, mlp.max_grad_norm) == (
        "adamw", "gelu", 0.1, 5.0)
    assert (mlp.learning_rate, mlp.warmup_iters, mlp.class_weight) == ("cosine", 2, "balanced")
    out = ["--out", tmp_path / "unused.joblib"]
    cases = [
        (("train", iris_files / "iris.npz", "--target", "y", "--regression",
          "--class-weight", "balanced", *out), "--class-weight applies to classification"),
        (("train", iris_files / "iris.csv", "--target", "species", "--warmup-iters", "2",
          *out), "--warmup-iters needs --cosine"),
        (("train", iris_files / "iris.csv", "--target", "species", "--solver", "lbfgs",
          "--dropout", "0.5", *out), "training failed: dropout"),
    ]
    for proc, (_, message) in zip(fastmlp_many([c for c, _ in cases]), cases):
        assert_clean_error(proc, message)


def _metric(out, name):
    """The value of `name: value` in train's output."""
    (line,) = [line for line in out.splitlines() if line.startswith(f"{name}:")]
    return float(line[len(name) + 1 :].split(",")[0])


def test_regression_on_diabetes_scales_the_target_and_matches_sklearn(tmp_path):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = tmp_path / "diabetes.csv"
    fastmlp("dataset", "diabetes", "--out", data)
    X, y = load_diabetes(return_X_y=True)
    with open(data) as f:
        rows = list(csv.reader(f))
    assert rows[0] == load_diabetes().feature_names + ["target"]
    np.testing.assert_array_equal(np.array(rows[1:], dtype=float), np.column_stack([X, y]))

    model, tuned = tmp_path / "reg.joblib", tmp_path / "tuned.joblib"
    proc, tuned_proc = fastmlp_many([
        ("train", data, "--target", "target", "--regression", "--quiet",
         "--random-state", "42", "--out", model),
        ("train", data, "--target", "target", "--regression", "--quiet", "--max-iter", "3",
         "--alpha", "0.5", "--learning-rate-init", "0.01", "--out", tuned),
    ])
    assert proc.returncode == 0 and tuned_proc.returncode == 0, proc.stderr + tuned_proc.stderr
    # scikit-learn's MLPRegressor on the same split, in the same pipeline
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    reference = make_pipeline(StandardScaler(), TransformedTargetRegressor(
        MLPRegressor(random_state=42), transformer=StandardScaler()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk_r2 = reference.fit(X_train, y_train).score(X_test, y_test)
    r2 = _metric(proc.stdout, "test r2")
    assert sk_r2 > 0.45 and abs(r2 - sk_r2) < 0.01, (r2, sk_r2)
    # predict unscales: predictions in the target's units
    pipeline = joblib.load(model)["model"]
    out = fastmlp("predict", model, data).stdout.splitlines()
    assert out[0] == "target"
    np.testing.assert_allclose(np.array(out[1:], dtype=float), pipeline.predict(X))
    assert 100 < np.mean(np.array(out[1:], dtype=float)) < 200  # y's mean is 152
    regressor = joblib.load(tuned)["model"][-1].regressor_
    assert (regressor.alpha, regressor.learning_rate_init) == (0.5, 0.01)


def test_dataset_command_writes_the_bundled_data(tmp_path):
    out = tmp_path / "iris.csv"
    assert "150 rows, 4 features" in fastmlp("dataset", "iris", "--out", out).stdout
    with open(out) as f:
        rows = list(csv.reader(f))
    assert rows[0][-1] == "target" and len(rows) == 151
    np.testing.assert_array_equal([int(r[-1]) for r in rows[1:]], load_iris().target)


def test_parquet(iris_files, tmp_path):
    pd = pytest.importorskip("pandas", reason="Parquet needs pandas")
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow")
    frame = pd.read_csv(iris_files / "iris.csv")
    frame.to_parquet(tmp_path / "iris.parquet")
    model = tmp_path / "m.joblib"
    fastmlp("train", tmp_path / "iris.parquet", "--target", "species", "--quiet",
            "--solver", "lbfgs", "--out", model)
    proc = fastmlp("predict", model, tmp_path / "iris.parquet")
    assert proc.stdout.splitlines()[1] == "setosa"


def test_bad_input_is_one_line_and_exit_2(iris_files, tmp_path):
    csv_path = iris_files / "iris.csv"
    model = tmp_path / "m.joblib"
    fastmlp("train", csv_path, "--target", "species", "--quiet", "--max-iter", "2",
            "--out", model)
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"a,b\n1,2,3\n")
    text = tmp_path / "text.csv"
    text.write_text("x,species\nhello,a\n1,b\n")
    bad_npy = tmp_path / "bad.npy"
    bad_npy.write_bytes(b"\x00not numpy")
    partial = tmp_path / "partial.csv"
    partial.write_text("sepal_length,sepal_width,petal_length\n1,2,3\n")
    out = ["--out", tmp_path / "unused.joblib"]
    cases = [
        (("train", csv_path, "--target", "colour", *out), "no column 'colour'"),
        (("train", tmp_path / "absent.csv", "--target", "y", *out), "no such file"),
        (("train", garbage, "--target", "a", *out), "line 2 has 3 fields"),
        (("train", text, "--target", "species", *out), "column 'x' is not numeric"),
        (("train", bad_npy, "--target", "0", *out), "not a readable numpy file"),
        (("predict", csv_path, csv_path), "not a fastmlp model file"),
        (("predict", model, partial), "missing column(s) 'petal_width'"),
    ]
    for proc, (_, message) in zip(fastmlp_many([c for c, _ in cases]), cases):
        assert_clean_error(proc, message)


def test_unknown_column_names_a_few_close_matches_not_all_columns(tmp_path):
    wide = tmp_path / "wide.csv"
    names = [f"feature_{i}" for i in range(64)] + ["colour"]
    wide.write_text(",".join(names) + "\n" + ",".join(["1"] * 65) + "\n")
    out = ["--out", tmp_path / "unused.joblib"]
    close, far = fastmlp_many([("train", wide, "--target", "color", *out),
                               ("train", wide, "--target", "label", *out)])
    assert_clean_error(close, "no column 'color' (65 columns: did you mean 'colour'?)")
    assert_clean_error(far, "no column 'label' (65 columns: 'feature_0', 'feature_1', "
                       "'feature_2', ...)")
    assert "feature_10" not in close.stderr + far.stderr


def test_bench_runs_compare_py_of_a_checkout(tmp_path):
    assert_clean_error(fastmlp("bench", "--repeats", "1", cwd=tmp_path, check=False),
                       "benchmarks/compare.py not found")
    for flag in ("--help", "-h"):  # without a checkout: bench's own help
        proc = fastmlp("bench", flag, cwd=tmp_path)
        assert proc.stdout.startswith("usage: python -m fastmlp bench") and not proc.stderr
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "compare.py").write_text(
        "import sys\nprint('compare', sys.argv[1:])\nsys.exit(3)\n"
    )
    proc = fastmlp("bench", "--repeats", "1", cwd=tmp_path, check=False)
    assert proc.returncode == 3
    assert "compare ['--repeats', '1']" in proc.stdout


def test_no_subcommand_is_still_the_main_job():
    main_job, adamw, bad, help_ = fastmlp_many([
        ("--dataset", "iris", "--max-iter", "5", "--quiet"),
        ("--dataset", "iris", "--max-iter", "5", "--quiet", "--solver", "adamw",
         "--activation", "gelu", "--alpha", "0.01", "--learning-rate-init", "0.01"),
        ("--dataset", "iris", "--alpha", "-1"),
        ("--help",),
    ])
    out = main_job.stdout
    assert out.startswith("fastmlp ") and "iris (112 train, 38 test, 4 features)" in out
    assert "test accuracy:" in out and "fit time:" in out
    assert adamw.returncode == 0 and "solver=adamw" in adamw.stdout, adamw.stderr
    assert_clean_error(bad, "The 'alpha' parameter of MLPClassifier must be")
    # run as `python -m fastmlp`: its usage says so; the same choices as `train`
    assert help_.stdout.startswith("usage: python -m fastmlp [-h]")
    assert "python -m fastmlp train" in help_.stdout
    assert "{adam,adamw,sgd,lbfgs}" in help_.stdout
    assert "{relu,tanh,logistic,identity,leaky_relu,gelu,silu,elu,softplus}" in help_.stdout


def test_console_script_installed():
    exe = shutil.which("fastmlp", path=os.path.dirname(sys.executable)) or shutil.which(
        "fastmlp"
    )
    if exe is None:
        pytest.skip("the fastmlp console script is not on PATH (package not pip-installed)")
    proc = subprocess.run([exe, "train", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--target" in proc.stdout
    assert proc.stdout.startswith("usage: fastmlp train")
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("usage: fastmlp [-h]") and "fastmlp dataset" in proc.stdout
