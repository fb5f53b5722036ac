"""The public API (hw1.measure) on models as users have them, each number checked against an independent
computation: model.evaluate, a plain-TensorFlow Hessian of Keras's own loss, numpy finite differences,
a batch-normalization model folded by hand, and known properties of the estimators."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import hw1
from conftest import ROOT
from hw1.measure import analysis, hessian, krylov

RNG = np.random.default_rng(0)
X = RNG.standard_normal((40, 4))
Y = np.argmax(X[:, :3] + 0.5 * X[:, 3:], axis=1).astype(np.int32)
X_TEST = RNG.standard_normal((12, 4))


def mlp(softmax: bool, dtype: str = "float64", name: str | None = None) -> keras.Sequential:
    return keras.Sequential([keras.Input((4,), dtype=dtype), keras.layers.Dense(5, activation="tanh", dtype=dtype),
                             keras.layers.Dense(3, activation="softmax" if softmax else None, dtype=dtype)],
                            name=name)


@pytest.fixture(scope="module")
def pair():
    """The same trained network twice: ending in softmax (compiled the usual way) and in logits."""
    keras.utils.set_random_seed(0)
    soft = mlp(True)
    soft.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    soft.fit(X, Y, epochs=5, batch_size=8, verbose=0)
    logit = mlp(False)
    logit.set_weights(soft.get_weights())
    logit.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return soft, logit


LOGIT_CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float64")
MSE = keras.losses.MeanSquaredError(dtype="float64")  # Keras losses compute in float32 unless told


def keras_hessian(model: keras.Model, loss: keras.losses.Loss, x, y) -> np.ndarray:
    """∂²/∂θ² of Keras's own loss of ``model(x)`` by nested plain GradientTapes (no hw1 code)."""
    variables = model.trainable_variables
    with tf.GradientTape(persistent=True) as outer:
        with tf.GradientTape() as inner:
            value = loss(y, model(x, training=False))
        grad = tf.concat([tf.reshape(g, [-1]) for g in inner.gradient(value, variables)], 0)
    blocks = outer.jacobian(grad, variables)
    return np.concatenate([tf.reshape(b, [grad.shape[0], -1]).numpy() for b in blocks], axis=1)


def numeric_sensitivity(probabilities, x: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """‖∂p/∂x‖_F per sample by central differences of a probability function (numpy)."""
    columns = [(probabilities(x + step * e) - probabilities(x - step * e)) / (2 * step) for e in np.eye(x.shape[1])]
    return np.sqrt(sum(np.sum(c ** 2, axis=1) for c in columns))


# ---------------------------------------------------------------- softmax outputs, labels, losses

def test_softmax_and_logit_outputs_agree_with_model_evaluate_and_each_other(pair):
    soft, logit = pair
    keras_loss = soft.evaluate(X, Y, verbose=0)
    assert hw1.evaluate(soft, (X, Y))["loss"] == pytest.approx(keras_loss, rel=1e-6)  # Keras reports float32
    assert hw1.evaluate(logit, (X, Y))["loss"] == pytest.approx(logit.evaluate(X, Y, verbose=0), rel=1e-6)
    assert keras_loss == pytest.approx(logit.evaluate(X, Y, verbose=0), rel=1e-6)
    # λmax: both equal the top eigenvalue of the Hessian of Keras's own loss
    exact = np.linalg.eigvalsh(keras_hessian(logit, LOGIT_CE, X, Y))
    for model in pair:
        assert hw1.hessian_eigenvalues(model, (X, Y), rtol=1e-9)[0] == pytest.approx(exact[-1], rel=1e-8)
    # sensitivity: the Jacobian of the probabilities themselves, never of softmax(softmax(·))
    expected = numeric_sensitivity(lambda z: soft(z, training=False).numpy(), X_TEST)
    for model in pair:
        np.testing.assert_allclose(hw1.sensitivity(model, X_TEST, per_sample=True), expected, rtol=1e-6)


def test_one_hot_and_sparse_labels_and_every_loss_spelling_agree(pair):
    soft, logit = pair
    one_hot = keras.utils.to_categorical(Y, 3)
    categorical = mlp(True)
    categorical.set_weights(soft.get_weights())
    categorical.compile(loss="categorical_crossentropy")
    reference = hw1.evaluate(soft, (X, Y))
    assert categorical.evaluate(X, one_hot, verbose=0) == pytest.approx(reference["loss"], rel=1e-6)
    assert hw1.evaluate(categorical, (X, one_hot)) == pytest.approx(reference, rel=1e-12)
    assert hw1.evaluate(categorical, (X, Y)) == pytest.approx(reference, rel=1e-12)
    for loss in ("sparse_categorical_crossentropy", keras.losses.CategoricalCrossentropy(),
                 keras.losses.SparseCategoricalCrossentropy(from_logits=True), keras.losses.categorical_crossentropy):
        assert hw1.evaluate(soft, (X, one_hot), loss=loss)["loss"] == pytest.approx(reference["loss"], rel=1e-12)
    assert hw1.evaluate(logit, (X, one_hot), loss=keras.losses.CategoricalCrossentropy(from_logits=True)) == \
        pytest.approx(reference, rel=1e-12)
    assert hw1.gradient_norm(categorical, (X, one_hot)) == pytest.approx(hw1.gradient_norm(soft, (X, Y)), rel=1e-12)
    assert hw1.hessian_eigenvalues(categorical, (X, one_hot), k=2, rtol=1e-9) == pytest.approx(
        hw1.hessian_eigenvalues(soft, (X, Y), k=2, rtol=1e-9), rel=1e-8)


def test_mse_loss_and_gradient_equal_keras_on_a_regression_model():
    model = keras.Sequential([keras.Input((4,), dtype="float64"), keras.layers.Dense(3, activation="tanh",
                                                                                     dtype="float64"),
                              keras.layers.Dense(1, dtype="float64")])
    model.compile(loss="mse")
    target = np.sin(X[:, :1])
    assert hw1.evaluate(model, (X, target.ravel()))["loss"] == pytest.approx(model.evaluate(X, target, verbose=0),
                                                                              rel=1e-6)
    with tf.GradientTape() as tape:
        value = MSE(target, model(X))
    grad = np.concatenate([g.numpy().ravel() for g in tape.gradient(value, model.trainable_variables)])
    assert hw1.gradient_norm(model, (X, target)) == pytest.approx(np.linalg.norm(grad), rel=1e-12)
    exact = np.linalg.eigvalsh(keras_hessian(model, MSE, X, target))
    assert hw1.hessian_eigenvalues(model, (X, target), k=2, rtol=1e-9) == pytest.approx(exact[::-1][:2], rel=1e-8)
    # sensitivity of a regression model: its raw outputs' Jacobian
    expected = numeric_sensitivity(lambda z: model(z, training=False).numpy(), X_TEST)
    np.testing.assert_allclose(hw1.sensitivity(model, X_TEST, per_sample=True), expected, rtol=1e-6)


# ---------------------------------------------------------------- batch normalization, dropout, nesting

def test_batch_normalization_model_equals_its_folded_inference_twin():
    keras.utils.set_random_seed(1)
    bn = keras.Sequential([keras.Input((4,), dtype="float64"), keras.layers.Dense(5, dtype="float64"),
                           keras.layers.BatchNormalization(dtype="float64"),
                           keras.layers.Activation("tanh", dtype="float64"), keras.layers.Dense(3, dtype="float64")])
    bn.compile(optimizer=keras.optimizers.Adam(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    bn.fit(X, Y, epochs=3, batch_size=8, verbose=0)  # moving statistics move away from (0, 1)
    (w1, b1), layer, (w2, b2) = bn.layers[0].get_weights(), bn.layers[1], bn.layers[3].get_weights()
    gamma, beta, mean, var = layer.get_weights()
    scale = gamma / np.sqrt(var + layer.epsilon)
    folded = mlp(False)
    folded.set_weights([w1 * scale, (b1 - mean) * scale + beta, w2, b2])
    folded.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert not np.allclose(mean, 0) and not np.allclose(var, 1)
    assert hw1.evaluate(bn, (X, Y)) == pytest.approx(hw1.evaluate(folded, (X, Y)), rel=1e-12)
    assert hw1.evaluate(bn, (X, Y))["loss"] == pytest.approx(bn.evaluate(X, Y, verbose=0), rel=1e-6)
    assert hw1.sensitivity(bn, X_TEST) == pytest.approx(hw1.sensitivity(folded, X_TEST), rel=1e-10)
    # curvature over (W1, b1, W2, b2) with the normalization frozen: θ_folded = D·θ, so H = D·H_folded·D
    layer.trainable = False
    d = np.concatenate([np.tile(scale, 4), scale, np.ones(w2.size + b2.size)])
    h_folded = keras_hessian(folded, LOGIT_CE, X, Y)
    expected = np.linalg.eigvalsh(d[:, None] * h_folded * d[None, :])[::-1]
    assert hw1.hessian_eigenvalues(bn, (X, Y), k=3, rtol=1e-9) == pytest.approx(expected[:3], rel=1e-8)
    np.testing.assert_allclose(hw1.exact_hessian(bn, (X, Y)), d[:, None] * h_folded * d[None, :], atol=1e-12)
    layer.trainable = True
    assert len(bn.trainable_variables) == 6 and hw1.gradient_norm(bn, (X, Y)) > 0  # γ, β measured again


def test_dropout_inside_a_nested_model_is_measured_in_inference_mode(pair):
    soft, _ = pair
    inner = keras.Sequential([keras.Input((4,), dtype="float64"), keras.layers.Dense(5, activation="tanh",
                                                                                      dtype="float64"),
                              keras.layers.Dropout(0.5, dtype="float64")])
    outer_input = keras.Input((4,), dtype="float64")
    nested = keras.Model(outer_input, keras.layers.Dense(3, activation="softmax", dtype="float64")(inner(outer_input)))
    nested.set_weights(soft.get_weights())
    nested.compile(loss="sparse_categorical_crossentropy")
    assert hw1.evaluate(nested, (X, Y))["loss"] == pytest.approx(nested.evaluate(X, Y, verbose=0), rel=1e-6)
    assert hw1.evaluate(nested, (X, Y)) == pytest.approx(hw1.evaluate(soft, (X, Y)), rel=1e-12)
    assert hw1.hessian_eigenvalues(nested, (X, Y), rtol=1e-9) == pytest.approx(
        hw1.hessian_eigenvalues(soft, (X, Y), rtol=1e-9), rel=1e-9)
    assert hw1.sensitivity(nested, X_TEST) == pytest.approx(hw1.sensitivity(soft, X_TEST), rel=1e-12)


# ---------------------------------------------------------------- tf.data and chunks

def test_tf_data_and_arrays_agree(pair):
    soft, logit = pair
    arrays = (X, Y)
    batched = tf.data.Dataset.from_tensor_slices((X, Y)).batch(7)  # uneven last batch
    unbatched = tf.data.Dataset.from_tensor_slices((X, keras.utils.to_categorical(Y, 3)))
    for data in (batched, unbatched):
        assert hw1.evaluate(soft, data) == pytest.approx(hw1.evaluate(soft, arrays), rel=1e-12)
        assert hw1.gradient_norm(soft, data) == pytest.approx(hw1.gradient_norm(soft, arrays), rel=1e-12)
    assert hw1.hessian_eigenvalues(logit, batched, k=2) == pytest.approx(hw1.hessian_eigenvalues(logit, arrays, k=2),
                                                                         rel=1e-10)
    assert hw1.hessian_trace(logit, batched, probes=5) == pytest.approx(hw1.hessian_trace(logit, arrays, probes=5),
                                                                        rel=1e-10)
    assert hw1.sharpness(soft, batched, steps=3) == pytest.approx(hw1.sharpness(soft, arrays, steps=3), rel=1e-9)
    assert hw1.sensitivity(soft, tf.data.Dataset.from_tensor_slices(X_TEST).batch(5)) == pytest.approx(
        hw1.sensitivity(soft, X_TEST), rel=1e-12)
    surface = hw1.loss_surface(logit, batched, dims=1, points=3)
    np.testing.assert_allclose(surface["loss"], hw1.loss_surface(logit, arrays, dims=1, points=3)["loss"], rtol=1e-12)


def test_float64_on_request_equals_a_model_built_in_float64(pair):
    soft, _ = pair
    single = mlp(True, dtype="float32")
    single.set_weights([w.astype(np.float32) for w in soft.get_weights()])
    single.compile(loss="sparse_categorical_crossentropy")
    weights = [w.astype(np.float64) for w in single.get_weights()]
    reference = mlp(True)
    reference.set_weights(weights)
    reference.compile(loss="sparse_categorical_crossentropy")
    assert hw1.hessian_eigenvalues(single, (X, Y), k=2, rtol=1e-9, dtype="float64") == pytest.approx(
        hw1.hessian_eigenvalues(reference, (X, Y), k=2, rtol=1e-9), rel=1e-10)
    assert hw1.evaluate(single, (X, Y), dtype="float64")["loss"] == pytest.approx(
        hw1.evaluate(reference, (X, Y))["loss"], rel=1e-12)
    assert hw1.evaluate(single, (X, Y))["loss"] == pytest.approx(hw1.evaluate(reference, (X, Y))["loss"], rel=1e-5)


# ---------------------------------------------------------------- Lanczos, Hutchinson, SLQ against the exact Hessian

def test_top_k_smallest_and_trace_agree_with_the_exact_hessian(pair):
    _, logit = pair
    H = keras_hessian(logit, LOGIT_CE, X, Y)
    eigenvalues = np.linalg.eigvalsh(H)
    np.testing.assert_allclose(hw1.exact_hessian(logit, (X, Y)), H, atol=1e-13 * np.abs(H).max())
    assert hw1.hessian_eigenvalues(logit, (X, Y), k=4, rtol=1e-9) == pytest.approx(eigenvalues[::-1][:4], rel=1e-8)
    assert hw1.hessian_eigenvalues(logit, (X, Y), k=1, which="smallest", rtol=1e-9)[0] == pytest.approx(
        eigenvalues[0], rel=1e-8)
    top = hw1.hessian_eigenvalues(logit, (X, Y), rtol=1e-3)[0]
    assert abs(top - eigenvalues[-1]) <= 1e-3 * eigenvalues[-1]  # the stated tolerance holds
    trace, stderr, probes = hw1.hessian_trace(logit, (X, Y), probes=300, seed=3)
    # Rademacher probes: Var(vᵀHv) = 2 Σ_{i≠j} H_ij², so the standard error is known exactly
    expected_stderr = np.sqrt(2 * (np.sum(H ** 2) - np.sum(np.diag(H) ** 2)) / probes)
    assert 0.8 * expected_stderr < stderr < 1.2 * expected_stderr
    assert abs(trace - np.trace(H)) < 4 * stderr
    assert hw1.minimal_ratio(logit, (X, Y), tol=1e-8) == np.mean(eigenvalues > 1e-8)


def test_density_integrates_to_one_and_its_moments_match_the_exact_spectrum(pair):
    _, logit = pair
    H = keras_hessian(logit, LOGIT_CE, X, Y)
    eigenvalues = np.linalg.eigvalsh(H)
    n, probes = len(eigenvalues), 40
    density = hw1.hessian_density(logit, (X, Y), probes=probes, steps=n, seed=1)
    assert density.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.trapezoid(density.density, density.grid) == pytest.approx(1.0, abs=1e-4)
    assert density.nodes.min() >= eigenvalues[0] - 1e-9 and density.nodes.max() <= eigenvalues[-1] + 1e-9
    for power in (1, 2):
        a = np.linalg.matrix_power(H, power)
        moment = np.sum(density.weights * density.nodes ** power)
        # each probe's quadrature is exact: v̂ᵀAv̂, whose variance over Rademacher probes is 2 Σ_{i≠j} A_ij² / n²
        stderr = np.sqrt(2 * (np.sum(a ** 2) - np.sum(np.diag(a) ** 2)) / n ** 2 / probes)
        assert abs(moment - np.mean(eigenvalues ** power)) < 4 * stderr


def test_lanczos_quadrature_is_exact_to_degree_2m_minus_1_and_finds_repeated_eigenvalues():
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    values = np.r_[7.0, 7.0, 5.0, np.linspace(-2, 3, 27)]
    A = (q * values) @ q.T
    v = rng.standard_normal(30)
    m = 4
    matvec = lambda u: tf.linalg.matvec(tf.constant(A), u)  # noqa: E731  (the device code hw1.curvature runs)
    alpha, beta, _ = krylov.lanczos(matvec, tf.constant(v), m)
    T = np.diag(alpha) + np.diag(beta[:-1], 1) + np.diag(beta[:-1], -1)
    theta, s = np.linalg.eigh(T)
    u = v / np.linalg.norm(v)
    for p in range(2 * m):
        assert np.sum(s[0] ** 2 * theta ** p) == pytest.approx(u @ np.linalg.matrix_power(A, p) @ u, rel=1e-10)
    assert abs(np.sum(s[0] ** 2 * theta ** (2 * m)) - u @ np.linalg.matrix_power(A, 2 * m) @ u) > 1e-6
    top = krylov.eigenpairs(matvec, tf.constant(rng.standard_normal(30)), 3, rtol=1e-10)
    assert top.values == pytest.approx([7.0, 7.0, 5.0], rel=1e-9) and top.converged.all()  # both 7s: the restart


# ---------------------------------------------------------------- interpolation, surfaces, sharpness

def test_interpolation_endpoints_and_surface_centre_equal_the_models(pair):
    soft, logit = pair
    other = mlp(True)
    other.set_weights([w + 0.3 * RNG.standard_normal(w.shape) for w in soft.get_weights()])
    other.compile(loss="sparse_categorical_crossentropy")
    line = hw1.interpolate(soft, other, (X, Y), [-1.0, 0.0, 0.5, 1.0, 2.0])
    assert list(line.columns) == ["alpha", "loss", "accuracy"]
    assert line.loss[1] == pytest.approx(soft.evaluate(X, Y, verbose=0), rel=1e-6)
    assert line.loss[3] == pytest.approx(other.evaluate(X, Y, verbose=0), rel=1e-6)
    middle = mlp(True)
    middle.set_weights([0.5 * (a + b) for a, b in zip(soft.get_weights(), other.get_weights())])
    middle.compile(loss="sparse_categorical_crossentropy")
    assert line.loss[2] == pytest.approx(middle.evaluate(X, Y, verbose=0), rel=1e-6)
    # a user direction: L(θ + a·d) equals model.evaluate of a model holding θ + a·d
    d = [RNG.standard_normal(w.shape) for w in logit.get_weights()]
    surface = hw1.loss_surface(logit, (X, Y), [d], dims=1, extent=0.5, points=3)
    moved = mlp(False)
    moved.set_weights([w + 0.5 * e for w, e in zip(logit.get_weights(), d)])
    moved.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert surface.loss.iloc[2] == pytest.approx(moved.evaluate(X, Y, verbose=0), rel=1e-6)
    assert surface.loss.iloc[1] == pytest.approx(logit.evaluate(X, Y, verbose=0), rel=1e-6)
    plane = hw1.loss_surface(logit, (X, Y), points=5)
    assert len(plane) == 25 and plane.loss[(plane.a == 0) & (plane.b == 0)].item() == pytest.approx(surface.loss[1])


def test_sharpness_is_that_of_the_logits_whatever_the_output(pair):
    soft, logit = pair
    found = hw1.sharpness(soft, (X, Y), epsilon=1e-2, steps=5)
    assert found == pytest.approx(hw1.sharpness(logit, (X, Y), epsilon=1e-2, steps=5), rel=1e-6)
    engine = analysis.sharpness_on_batches(logit, logit.get_weights(), hessian.array_batches(X, Y), epsilon=1e-2,
                                           steps=5)  # the ascent on the raw logit model, without hw1's adapters
    assert found == pytest.approx(engine, rel=1e-12)
    assert found > 0 and hw1.sharpness(soft, (X, Y), epsilon=0.0) == 0.0


# ---------------------------------------------------------------- inputs hw1 cannot measure: one clear line

class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3)

    def call(self, x):
        return self.dense(x)


def _bad_inputs(pair):
    soft, logit = pair
    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    linear_probs = mlp(False)
    linear_probs.compile(loss="sparse_categorical_crossentropy")  # says probabilities; outputs are logits
    two_outputs = keras.Model(soft.inputs, [soft.outputs[0], soft.outputs[0]])
    subclassed = Subclassed()
    subclassed(X[:1])
    subclassed.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    infinite = tf.data.Dataset.from_tensor_slices((X, Y)).batch(8).repeat()
    triples = tf.data.Dataset.from_tensor_slices((X, Y, np.ones(len(Y)))).batch(8)
    return [
        (lambda: hw1.evaluate("model", (X, Y)), TypeError, "str"),
        (lambda: hw1.evaluate(unbuilt, (X, Y), loss="mse"), ValueError, "no weights yet"),
        (lambda: hw1.evaluate(mlp(False), (X, Y)), ValueError, "not compiled"),
        (lambda: hw1.evaluate(soft, (X, Y), loss="hinge"), ValueError, "'hinge'"),
        (lambda: hw1.evaluate(soft, (X, Y), loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1)),
         ValueError, "label_smoothing"),
        (lambda: hw1.evaluate(soft, (X, Y), loss=keras.losses.SparseCategoricalCrossentropy(reduction="sum")),
         ValueError, "'sum'"),
        (lambda: hw1.evaluate(soft, (X, np.full((40, 3), 1 / 3)), loss="categorical_crossentropy"), ValueError,
         "soft labels"),
        (lambda: hw1.evaluate(soft, (X, Y + 1)), ValueError, "3 classes"),
        (lambda: hw1.evaluate(soft, (X[:, :3], Y)), ValueError, "shape (40, 3)"),
        (lambda: hw1.evaluate(soft, (X, Y[:-1])), ValueError, "39"),
        (lambda: hw1.evaluate(soft, infinite), ValueError, "infinite"),
        (lambda: hw1.evaluate(soft, triples), ValueError, "3-element"),
        (lambda: hw1.evaluate(soft, {"x": X}), TypeError, "dict"),
        (lambda: hw1.evaluate(linear_probs, (X, Y)), ValueError, "from_logits=False"),
        (lambda: hw1.evaluate(two_outputs, (X, Y), loss="mse"), ValueError, "2 outputs"),
        (lambda: hw1.evaluate(soft, (X, Y), dtype="float16"), ValueError, "'float16'"),
        (lambda: hw1.evaluate(subclassed, (X, Y), dtype="float64"), ValueError, "cannot be rebuilt in float64"),
        (lambda: hw1.gradient_norm(mlp(False), (X, Y)), ValueError, "not compiled"),  # sensitivity needs no loss
        (lambda: hw1.hessian_eigenvalues(soft, (X, Y), k=0), ValueError, "k=0"),
        (lambda: hw1.hessian_eigenvalues(soft, (X, Y), k=99), ValueError, "only 43 parameters"),
        (lambda: hw1.hessian_eigenvalues(soft, (X, Y), which="middle"), ValueError, "'middle'"),
        (lambda: hw1.hessian_eigenvalues(soft, (X, Y), rtol=2.0), ValueError, "rtol=2.0"),
        (lambda: hw1.hessian_trace(soft, (X, Y), probes=1), ValueError, "probes=1"),
        (lambda: hw1.hessian_density(soft, (X, Y), steps=1), ValueError, "steps=1"),
        (lambda: hw1.exact_hessian(soft, (X, Y), max_params=10), ValueError, "43 parameters"),
        (lambda: hw1.sharpness(soft, (X, Y), epsilon=-1.0), ValueError, "epsilon=-1.0"),
        (lambda: hw1.loss_surface(soft, (X, Y), dims=3), ValueError, "dims=3"),
        (lambda: hw1.loss_surface(soft, (X, Y), directions="pca"), ValueError, "'pca'"),
        (lambda: hw1.interpolate(soft, keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]), (X, Y)),
         ValueError, "same architecture"),
        (lambda: hw1.evaluate(soft, (X, Y), weights=[np.zeros(3)]), ValueError, "shapes"),
    ]


def test_every_input_hw1_cannot_measure_gets_one_clear_line(pair):
    for call, kind, fragment in _bad_inputs(pair):
        with pytest.raises(kind) as error:
            call()
        message = str(error.value)
        assert fragment in message and "\n" not in message, message


# ---------------------------------------------------------------- the README example

def test_the_own_model_example_runs_and_agrees_with_model_evaluate():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", HW1_NO_NETWORK="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "offline"), str(ROOT)]))
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "own_model.py"), "--quick"], capture_output=True,
                          text=True, timeout=600, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    keras_loss = float(lines["model.evaluate loss"])
    hw1_loss = float(lines["hw1.evaluate"].split("'loss':")[1].split(",")[0])
    assert hw1_loss == pytest.approx(keras_loss, abs=1e-4)
    assert "integrates to 1.0" in done.stdout
