"""Every script in examples/ runs to completion (in a subprocess, in a scratch folder).

Scripts whose full run takes minutes (the generative models') run a short version by
default and the README's with --full; the test runs the default."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# What each example needs beyond fastmlp's own dependencies.
NEEDS = {
    "dask_incremental.py": ["dask", "distributed", "dask_ml"],
    "onnx_export.py": ["skl2onnx", "onnxruntime"],
    "progress_and_plot.py": ["matplotlib"],
    "threads.py": [],
    "autoencoder_digits.py": [],
    "activations_and_losses.py": [],
    "validation_early_stopping.py": [],
    "regularised_training.py": [],
    "bf16_training.py": [],  # prints a note and exits 0 on CPUs without AVX-512 BF16
    "cnn_mnist1d.py": ["mnist1d"],
    "gru_mnist1d.py": ["mnist1d"],  # default run short; --full gives the README's figures
    "lstm_sine.py": [],  # likewise
    "transformer_indexing.py": [],
    "gan_ring_grid.py": [],
    "gan_digits_conditional.py": [],
    "vae_digits.py": [],
}


def test_every_example_is_listed():
    if not EXAMPLES.is_dir():
        pytest.skip("examples/ is not here (tests run outside a source checkout)")
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(NEEDS)


@pytest.mark.slow  # whole scripts, each in its own interpreter
@pytest.mark.parametrize("name", sorted(NEEDS))
def test_example_runs(name, tmp_path):
    script = EXAMPLES / name
    if not script.is_file():
        pytest.skip("examples/ is not here (tests run outside a source checkout)")
    missing = [m for m in NEEDS[name] if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)}")
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
        timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    if name == "progress_and_plot.py":
        assert (tmp_path / "loss_curve.png").stat().st_size > 1000
    if name == "onnx_export.py":
        assert "same labels: True" in proc.stdout
