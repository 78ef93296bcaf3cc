"""class_weight='balanced' and early stopping on a validation set's loss (fastmlp extras).

An imbalanced binary problem (5% positives): class_weight='balanced' trades some accuracy
for the minority class's recall. Then a deliberately over-fitting network is trained with
fit(..., validation_data=(X_val, y_val)) and early_stopping_metric='loss': it stops once
the validation loss stops falling and keeps the weights of its best epoch.
Run: python examples/validation_early_stopping.py (a few seconds).
"""

import warnings

import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_classification(n_samples=3000, n_features=20, n_informative=5, weights=[0.95],
                           flip_y=0.03, class_sep=0.7, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
X_train, X_val, y_train, y_val = train_test_split(X_train, y_train, stratify=y_train,
                                                  test_size=0.25, random_state=0)

print("class_weight        minority recall  balanced accuracy")
for class_weight in (None, "balanced"):
    clf = MLPClassifier((16,), alpha=1e-2, max_iter=100, random_state=0,
                        class_weight=class_weight)
    clf.fit(X_train, y_train)
    pred = clf.predict(X_test)
    print(f"{class_weight!s:<18}  {recall_score(y_test, pred):15.3f}  "
          f"{balanced_accuracy_score(y_test, pred):17.3f}")

# Wide, unregularised, fast: it over-fits after a few epochs.
clf = MLPClassifier((256,), alpha=0.0, learning_rate_init=0.01, max_iter=300,
                    early_stopping=True, early_stopping_metric="loss", n_iter_no_change=10,
                    class_weight="balanced", random_state=0)
clf.fit(X_train, y_train, validation_data=(X_val, y_val))
curve = np.array(clf.validation_loss_curve_)
best = int(curve.argmin())
print(f"\nstopped after {clf.n_iter_} epochs; best validation loss {clf.best_validation_loss_:.4f}"
      f" at epoch {best + 1} (weights restored)")
for epoch in sorted({0, best // 2, best, clf.n_iter_ - 1}):
    print(f"  epoch {epoch + 1:3d}: train loss {clf.loss_curve_[epoch]:.4f}  "
          f"validation loss {curve[epoch]:.4f}")
print(f"test balanced accuracy: {balanced_accuracy_score(y_test, clf.predict(X_test)):.3f}")
