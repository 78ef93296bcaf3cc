"""GAN: finite-difference gradients of both networks' losses, one training step against a
numpy transcription, the latent noise, sampling (units, classes), bad input, pickling,
threads, callbacks, plots and scikit-learn's estimator checks."""

import pickle
import warnings

import numpy as np
import pytest
from _layer_checks import numeric_gradient
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from fastmlp import GAN, _core
from fastmlp.layers import (Activation, BatchNormalization, Conv1D, Dense, Dropout,
                            GlobalAveragePooling1D)


def tiny(**kw):
    params = dict(
        latent_dim=3, generator_layers=[Dense(8, activation="relu")],
        discriminator_layers=[Dense(8, activation="leaky_relu")], pack=2, batch_size=16,
        max_iter=3, random_state=0,
    )
    return GAN(**{**params, **kw})


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3)) * [1.0, 2.0, 0.5] + [10.0, -3.0, 0.0]
    y = np.repeat(["a", "b"], 100)
    return X, y


# ------------------------------------------------------------------ the trainer
def trainer(pack=2, classes=0, features=3, latent=4, batch=12, disc_dropout=False):
    g = [Dense(7, activation="tanh")._core_spec(), Dense(features)._core_spec()]
    d = [Dense(6, activation="leaky_relu")._core_spec()]
    if disc_dropout:
        d.append(Dropout(0.3)._core_spec())
    d.append(Dense(1)._core_spec())
    return _core.Gan64(g, d, latent, features, classes, pack, batch)


def weights(gan, seed=0):
    rng = np.random.default_rng(seed)
    (ng, _), (nd, _) = gan.generator_sizes, gan.discriminator_sizes
    return rng.normal(scale=0.6, size=ng), rng.normal(scale=0.6, size=nd)


@pytest.mark.parametrize("pack,classes,dropout", [(1, 0, False), (2, 0, True), (3, 2, False)])
def test_discriminator_loss_gradient(pack, classes, dropout):
    gan = trainer(pack=pack, classes=classes, disc_dropout=dropout)
    g, d = weights(gan)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 3))
    onehot = np.eye(classes)[rng.integers(classes, size=12)] if classes else None
    grad = np.empty(d.size)
    gan.discriminator_loss_grad(g, d, grad, X, onehot, 7)
    scratch = np.empty(d.size)
    numeric = numeric_gradient(
        lambda: gan.discriminator_loss_grad(g, d, scratch, X, onehot, 7), d)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("pack,classes,dropout", [(1, 0, False), (2, 0, True), (3, 2, False)])
def test_generator_loss_gradient_through_the_discriminator(pack, classes, dropout):
    gan = trainer(pack=pack, classes=classes, disc_dropout=dropout)
    g, d = weights(gan)
    rng = np.random.default_rng(2)
    onehot = np.eye(classes)[rng.integers(classes, size=12)] if classes else None
    grad = np.empty(g.size)
    loss = gan.generator_loss_grad(g, d, grad, 12, onehot, 5)
    scratch = np.empty(g.size)
    numeric = numeric_gradient(
        lambda: gan.generator_loss_grad(g, d, scratch, 12, onehot, 5), g)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    assert loss > 0


def adam(w, g, m, v, t, lr, b1=0.5, b2=0.999, eps=1e-8):
    m[:] = b1 * m + (1 - b1) * g
    v[:] = b2 * v + (1 - b2) * g * g
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    return w - lr_t * m / (np.sqrt(v) + eps)


def test_one_step_is_a_discriminator_then_a_generator_adam_step():
    gan = trainer(pack=2, batch=12)
    g, d = weights(gan, 3)
    X = np.random.default_rng(4).normal(size=(12, 3))
    # By hand: D's Adam step on L_D, then G's on L_G through the updated D (same noise).
    grad_d, grad_g = np.empty(d.size), np.empty(g.size)
    gan.discriminator_loss_grad(g, d, grad_d, X, None, 9)
    d_new = adam(d, grad_d, np.zeros_like(d), np.zeros_like(d), 1, 1e-3)
    gan.generator_loss_grad(g, d_new, grad_g, 12, None, 9)
    g_new = adam(g, grad_g, np.zeros_like(g), np.zeros_like(g), 1, 2e-3)
    # The trainer: one epoch of one batch, rows in order.
    g_run, d_run = g.copy(), d.copy()
    moments = [np.zeros(n) for n in (g.size, g.size, d.size, d.size)]
    d_loss, g_loss, g_t, d_t = gan.train_epoch(
        g_run, d_run, *moments, 0, 0, "adam", 2e-3, 1e-3, 0.5, 0.999, 1e-8, 0.0, X, None,
        None, 9)
    assert (g_t, d_t) == (1, 1)
    np.testing.assert_allclose(d_run, d_new, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g_run, g_new, rtol=1e-12, atol=1e-14)


def test_latent_noise_is_standard_normal_and_counter_based():
    z = _core.latent_noise(3, 20000, 5)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert np.abs(np.corrcoef(z.T) - np.eye(5)).max() < 0.03
    # Row i depends on (seed, i) only.
    np.testing.assert_array_equal(_core.latent_noise(3, 7, 5), z[:7])
    assert _core.latent_noise(3, 7, 5, "float32").dtype == np.float32
    assert not np.array_equal(_core.latent_noise(4, 7, 5), z[:7])


# ------------------------------------------------------------------ the estimator
def test_fit_sample_shapes_units_and_curves(blobs):
    X, _ = blobs
    gan = tiny(max_iter=150, batch_size=32).fit(X)
    assert gan.loss_curve_.shape == (150, 2) and gan.n_iter_ == 150
    assert np.isfinite(gan.loss_curve_).all()
    S = gan.sample(500, random_state=0)
    assert S.shape == (500, 3) and S.dtype == np.float64
    # Samples come back in X's units (X's means are 10, -3, 0; scales 1, 2, 0.5).
    assert np.all(np.abs(S.mean(axis=0) - X.mean(axis=0)) < 0.5 * X.std(axis=0))
    np.testing.assert_allclose(gan.mean_, X.mean(axis=0))
    np.testing.assert_allclose(gan.scale_, X.std(axis=0))
    np.testing.assert_array_equal(S, gan.sample(500, random_state=0))
    assert not np.array_equal(S, gan.sample(500, random_state=1))
    assert gan.sample().shape == (1, 3)
    assert [f.name for f in gan.generator_layers_] == ["dense", "dense_1"]
    assert gan.discriminator_layers_[0].input_shape == (2 * 3,)


def test_float32_and_no_standardization(blobs):
    X, _ = blobs
    gan = tiny(standardize=False).fit(X.astype(np.float32))
    assert gan.sample(4, random_state=0).dtype == np.float32
    np.testing.assert_array_equal(gan.mean_, 0)
    np.testing.assert_array_equal(gan.scale_, 1)
    assert GAN(max_iter=1, precision="float32").fit(X).sample(2).dtype == np.float32


def test_conditional_gan_samples_given_classes(blobs):
    X, y = blobs
    gan = tiny(max_iter=60, batch_size=32).fit(X, y)
    assert list(gan.classes_) == ["a", "b"]
    np.testing.assert_allclose(gan.class_prior_, [0.5, 0.5])
    assert gan.discriminator_layers_[0].input_shape == (2 * (3 + 2),)
    assert gan.sample(5, y="b").shape == (5, 3)
    assert gan.sample(3, y=["a", "b", "a"], random_state=0).shape == (3, 3)
    assert gan.sample(10).shape == (10, 3)  # classes drawn from class_prior_
    with pytest.raises(ValueError, match=r"labels not seen at fit: \['c'\]"):
        gan.sample(2, y=["a", "c"])
    with pytest.raises(ValueError, match="one label per sample"):
        gan.sample(3, y=["a", "b"])
    with pytest.raises(ValueError, match="without labels"):
        tiny().fit(X).sample(2, y=["a", "a"])


@pytest.mark.parametrize("n", [0, -1, 2.5, True, "3"])
def test_sample_needs_a_positive_integer(blobs, n):
    gan = tiny(max_iter=1).fit(blobs[0])
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        gan.sample(n)


def test_bad_input_raises_before_training_and_keeps_the_previous_fit(blobs):
    X, y = blobs
    gan = tiny().fit(X)
    before = gan.sample(20, random_state=0)
    flat = gan._g_flat.copy()
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gan.fit(X_nan)
    with pytest.raises(ValueError, match=r"generator layers do not fit.*Conv1D"):
        gan.set_params(generator_layers=[Conv1D(4, 3)]).fit(X)
    with pytest.raises(ValueError, match=r"last discriminator layer outputs samples of shape"):
        gan.set_params(generator_layers=None, discriminator_layers=[_Reshape((2, 3))]).fit(X)
    with pytest.raises(ValueError, match=r"discriminator_layers\[0\] must be a layer"):
        gan.set_params(discriminator_layers=["dense"]).fit(X)
    with pytest.raises(ValueError, match="at least pack=4 samples"):
        GAN(pack=4).fit(X[:3])
    with pytest.raises(ValueError, match="Unknown label type"):
        tiny().fit(X, np.linspace(0, 1, 200))
    with pytest.raises(ValueError, match="device='cuda'"):
        tiny(device="cuda").fit(X)
    np.testing.assert_array_equal(gan._g_flat, flat)
    np.testing.assert_array_equal(gan.sample(20, random_state=0), before)


def test_discriminator_on_sequences_with_conv_layers():
    rng = np.random.RandomState(0)
    X = np.cumsum(rng.normal(size=(64, 10)), axis=1)
    gan = GAN(latent_dim=4, pack=1, max_iter=2, batch_size=16, random_state=0,
              generator_layers=[Dense(16, activation="relu")],
              discriminator_layers=[_Reshape((10, 1)), Conv1D(4, 3, activation="relu"),
                                    GlobalAveragePooling1D()]).fit(X)
    assert gan.sample(3).shape == (3, 10)


def _Reshape(shape):
    from fastmlp.layers import Reshape

    return Reshape(shape)


def test_auto_device_runs_on_the_cpu(blobs):
    assert tiny(device="auto").fit(blobs[0]).n_iter_ == 3


def test_pickle_roundtrip_and_edited_weights(blobs):
    X, y = blobs
    gan = tiny().fit(X, y)
    back = pickle.loads(pickle.dumps(gan))
    np.testing.assert_array_equal(back.sample(30, y="a", random_state=1),
                                  gan.sample(30, y="a", random_state=1))
    # The fitted layers are views of the weights again after loading.
    back.generator_layers_[-1].weights["bias"][:] += 1.0
    np.testing.assert_allclose(back.sample(30, y="a", random_state=1),
                               gan.sample(30, y="a", random_state=1) + gan.scale_)


# Default networks run each step as row slices; batch statistics (BatchNormalization) keep
# a step in one piece.
@pytest.mark.parametrize("discriminator", [None, "batch_norm"])
def test_same_bits_on_one_and_two_threads(blobs, discriminator):
    X, y = blobs
    layers = None
    if discriminator:
        layers = [Dense(32), BatchNormalization(), Activation("leaky_relu"), Dropout(0.2)]
    fits = []
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="openmp"):
            gan = GAN(latent_dim=4, max_iter=2, batch_size=64, discriminator_layers=layers,
                      random_state=0).fit(X, y)
        fits.append(gan)
    np.testing.assert_array_equal(fits[0]._g_flat, fits[1]._g_flat)
    np.testing.assert_array_equal(fits[0]._d_flat, fits[1]._d_flat)
    np.testing.assert_array_equal(fits[0].loss_curve_, fits[1].loss_curve_)


def test_verbose_prints_both_losses(blobs, capsys):
    tiny(verbose=True, max_iter=2).fit(blobs[0])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Iteration 1, discriminator loss = ")
    assert ", generator loss = " in lines[0]


def test_cosine_schedule_and_discriminator_steps(blobs):
    X, _ = blobs
    a = tiny(learning_rate="cosine", discriminator_steps=2, solver="adamw", alpha=1e-3,
             max_grad_norm=1.0).fit(X)
    assert np.isfinite(a.loss_curve_).all()
    assert not np.array_equal(a._g_flat, tiny().fit(X)._g_flat)


def test_callbacks_see_every_epoch_and_can_stop(blobs):
    pytest.importorskip("sklearn.callback", reason="needs scikit-learn's callbacks")

    class Recorder:
        def __init__(self):
            self.ends = []

        def setup(self, estimator, context):
            pass

        def teardown(self, estimator, context):
            pass

        def on_fit_task_begin(self, estimator, context, *, fitted_estimator=None):
            pass

        def on_fit_task_end(self, estimator, context, *, X=None, y=None,
                            fitted_estimator=None):
            if context.parent is None:
                return False
            self.ends.append(context.task_id)
            # A ready-to-sample copy with the weights as of this epoch.
            assert fitted_estimator.sample(2).shape == (2, 3)
            return context.task_id + 1 >= 2

    rec = Recorder()
    gan = tiny(max_iter=5).set_callbacks(rec).fit(blobs[0])
    assert rec.ends == [0, 1] and gan.n_iter_ == 2


def test_loss_curve_display_draws_both_losses(blobs):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from fastmlp.plot import LossCurveDisplay

    gan = tiny(max_iter=4).fit(blobs[0])
    disp = LossCurveDisplay.from_estimator(gan)
    assert len(disp.lines_) == 2
    assert [line.get_label() for line in disp.lines_] == [
        "GAN discriminator loss", "GAN generator loss"]
    np.testing.assert_array_equal(disp.lines_[1].get_ydata(), gan.loss_curve_[:, 1])


def test_ctrl_c_keeps_the_last_epoch(blobs, monkeypatch):
    X, _ = blobs
    calls = []
    real = _core.Gan64.train_epoch

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_core.Gan64, "train_epoch", interrupted)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        gan = tiny(max_iter=5).fit(X)
    assert gan.n_iter_ == 2 and gan.loss_curve_.shape == (2, 2)
    assert any("interrupted" in str(x.message) for x in w)


# The GAN is an unsupervised estimator with `sample` and no predict, transform or score:
# scikit-learn's checks of those methods do not apply to it and skip themselves; every
# other check runs and passes, none is an expected failure.
@parametrize_with_checks([GAN(max_iter=2, batch_size=16)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
