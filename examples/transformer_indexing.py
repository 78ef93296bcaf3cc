"""A small transformer on the indexing task (README, "Attention").

Each sequence is 40 value tokens (0-9) and one position token 10 + p; the label is the
value at position p. Embedding + PositionEmbedding + two pre-norm TransformerEncoder blocks
(2 heads, width 64, ff_dim 128) read out at the last step, trained with AdamW, 2 warmup
epochs then a cosine schedule, batches of 64, in float32.

    python examples/transformer_indexing.py          # a short run: 8,000 sequences, 4
                                                     # epochs at lr 3e-3 (1 warmup epoch)
    python examples/transformer_indexing.py --full   # the README's figure: 20,000
                                                     # sequences, 5 epochs at lr 1e-3
                                                     # (2 warmup epochs)

The data come from benchmarks/sequence_tasks.py (fixed seeds), which also holds the
PyTorch model that benchmarks/compare.py times against this one.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import sequence_tasks as tasks  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the README's recipe")
    args = parser.parse_args()
    n_train, epochs, lr, warmup = (20000, 5, 1e-3, 2) if args.full else (8000, 4, 3e-3, 1)
    X, y, X_test, y_test = tasks.split("indexing", n_train, 1000)

    clf = tasks.fastmlp_transformer(vocabulary=50, steps=41, epochs=epochs, ff_dim=128,
                                    learning_rate=lr, warmup_epochs=warmup)
    clf.set_params(precision="float32", verbose=True)
    start = time.perf_counter()
    clf.fit(X, y)
    seconds = time.perf_counter() - start
    clf.summary()
    print(f"{n_train} sequences, {epochs} epochs: {seconds / epochs:.2f} s per epoch, "
          f"test accuracy {clf.score(X_test, y_test):.4f}")


if __name__ == "__main__":
    main()
