"""HW1-3 measurements, each checked against an independent computation (numpy, keras, finite differences)."""

import itertools

import keras
import numpy as np
import pytest

import hw1
from hw1.measure import analysis
from hw1.lab import data, labels, models, train


@pytest.fixture(scope="module")
def bundled():
    return data.load("mnist_bundled")


def tiny_classification(n=64, seed=0):
    """Six features, three classes, labels from a fixed linear rule (learnable)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = np.argmax(x[:, :3] + 0.3 * x[:, 3:], axis=1).astype(np.int32)
    return data.Dataset("tiny", x[:48], y[:48], x[48:], y[48:], 3)


def numpy_logits(weights, x):
    """Independent forward pass of a relu MLP (kernel, bias pairs; no activation on the last)."""
    h = np.asarray(x, np.float64).reshape(len(x), -1)
    pairs = list(zip(weights[::2], weights[1::2]))
    for i, (w, b) in enumerate(pairs):
        h = h @ np.asarray(w, np.float64) + np.asarray(b, np.float64)
        if i < len(pairs) - 1:
            h = np.maximum(h, 0)
    return h


def numpy_metrics(weights, x, y):
    """Mean softmax cross-entropy (nats) and accuracy, in float64 numpy."""
    z = numpy_logits(weights, x)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean(), np.mean(np.argmax(z, axis=1) == y)


# ---------------------------------------------------------------- random labels

def test_random_labels_change_about_90_percent_and_leave_the_test_set_alone(bundled):
    noisy = labels.random_label_dataset(bundled, seed=5)
    changed = np.mean(noisy.y_train != bundled.y_train)
    assert 0.87 < changed < 0.93
    assert np.bincount(noisy.y_train, minlength=10).min() > 300  # uniform over the 10 classes, not one class
    np.testing.assert_array_equal(noisy.y_test, bundled.y_test)
    np.testing.assert_array_equal(noisy.x_test, bundled.x_test)
    np.testing.assert_array_equal(noisy.x_train, bundled.x_train)


def test_random_labels_are_reproducible_by_seed(bundled):
    first = labels.random_label_dataset(bundled, seed=5).y_train
    np.testing.assert_array_equal(first, labels.random_label_dataset(bundled, seed=5).y_train)
    assert np.mean(first != labels.random_label_dataset(bundled, seed=6).y_train) > 0.8


def test_random_labels_need_classes():
    with pytest.raises(ValueError, match="no classes"):
        labels.random_label_dataset(data.function_data("x", 8), seed=0)


# ---------------------------------------------------------------- interpolation

@pytest.fixture(scope="module")
def two_trained():
    """Two models of one architecture trained differently (batch 8 vs full batch)."""
    ds = tiny_classification()
    build = lambda: models.fc_net([8], (6,), 3)  # noqa: E731
    runs = [train.train(build, ds, train.TrainConfig(epochs=15, batch_size=bs, learning_rate=1e-2), seeds=[0])
            for bs in (8, None)]
    return ds, build, [r.weights[0] for r in runs], [r.final.iloc[0] for r in runs]


def _models(build, *weights):
    """One model of the architecture per list of trained weights (what hw1.interpolate takes)."""
    out = []
    for w in weights:
        model = build()
        model.set_weights(w)
        out.append(model)
    return out


def test_interpolation_endpoints_are_the_trained_models(two_trained):
    ds, build, (w1, w2), finals = two_trained
    ends = _models(build, w1, w2)
    curves = {split: hw1.interpolate(*ends, (x, y), [-1.0, 0.0, 0.5, 1.0, 2.0], loss="sparse_ce")
              for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test))}
    for alpha, weights, final in ((0.0, w1, finals[0]), (1.0, w2, finals[1])):
        model = build()
        model.set_weights(weights)
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
            row = curves[split][curves[split]["alpha"] == alpha].iloc[0]
            loss, acc = model.evaluate(x, y, batch_size=len(x), verbose=0)  # keras' own evaluation
            assert row["loss"] == pytest.approx(loss, rel=1e-5)
            assert row["accuracy"] == pytest.approx(acc)
            assert row["loss"] == pytest.approx(final[f"{split}_loss"], rel=1e-5)  # the training's record
    assert curves["train"].loc[0, "loss"] != pytest.approx(curves["train"].loc[1, "loss"], rel=1e-3)


def test_interpolation_mixes_every_parameter_including_extrapolation(two_trained):
    ds, build, (w1, w2), _ = two_trained
    curve = hw1.interpolate(*_models(build, w1, w2), (ds.x_test, ds.y_test), [-1.0, 0.25, 2.0], loss="sparse_ce",
                            batch_size=3)  # several chunks: the same value
    for row in curve.itertuples():
        mixed = [(1 - row.alpha) * a.astype(np.float64) + row.alpha * b.astype(np.float64) for a, b in zip(w1, w2)]
        loss, acc = numpy_metrics(mixed, ds.x_test, ds.y_test)
        assert row.loss == pytest.approx(loss, rel=1e-4)
        assert row.accuracy == pytest.approx(acc)


def test_interpolation_rejects_different_architectures(two_trained):
    ds, build, (w1, _), _ = two_trained
    with pytest.raises(ValueError, match="same architecture"):
        hw1.interpolate(*_models(build, w1), models.fc_net([9], (6,), 3), (ds.x_test, ds.y_test), [0.0],
                        loss="sparse_ce")


# ---------------------------------------------------------------- sensitivity

def softmax_np(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_input_jacobian_norm_equals_finite_differences():
    keras.utils.set_random_seed(3)
    model = models.fc_net([7], (3, 2, 1), 4, activation="tanh", dtype="float64")  # image-shaped input, flattened
    weights = [v.numpy() for v in model.trainable_variables]
    x = np.random.default_rng(0).uniform(0, 1, (5, 3, 2, 1))

    def probabilities(x_):
        h = np.tanh(x_.reshape(len(x_), -1) @ weights[0] + weights[1])
        return softmax_np(h @ weights[2] + weights[3])

    eps = 1e-6
    expected = []
    for sample in x:
        columns = []
        for idx in np.ndindex(sample.shape):
            plus, minus = sample.copy(), sample.copy()
            plus[idx] += eps
            minus[idx] -= eps
            columns.append((probabilities(plus[None]) - probabilities(minus[None]))[0] / (2 * eps))
        expected.append(np.linalg.norm(np.array(columns)))  # Frobenius norm of the 4 x 6 Jacobian
    np.testing.assert_allclose(analysis.input_jacobian_norms(model, weights, x), expected, rtol=1e-6)
    assert hw1.sensitivity(model, x, loss="sparse_ce", weights=weights) == pytest.approx(np.mean(expected), rel=1e-6)


def test_input_jacobian_norm_of_a_linear_softmax_model_by_hand():
    # p = softmax(W^T x + b): dp/dx = (diag(p) - p p^T) W^T, whatever the label
    model = models.fc_net([], (2,), 3, dtype="float64")
    w, b = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]), np.array([0.1, 0.0, -0.2])
    x = np.array([[0.3, -0.7], [1.0, 2.0]])
    norms = []
    for row in x:
        p = softmax_np((row @ w + b)[None])[0]
        norms.append(np.linalg.norm((np.diag(p) - np.outer(p, p)) @ w.T))
    np.testing.assert_allclose(analysis.input_jacobian_norms(model, [w, b], x), norms, rtol=1e-10)
    constant = hw1.sensitivity(model, x, loss="sparse_ce", weights=[np.zeros_like(w), b])  # output ignores the input
    assert constant == 0.0


# ---------------------------------------------------------------- sharpness

def test_sharpness_is_zero_at_zero_epsilon_and_grows_with_epsilon(two_trained):
    ds, build, (w1, _), _ = two_trained
    model = build()
    values = [hw1.sharpness(model, (ds.x_train, ds.y_train), e, steps=5, starts=3, loss="sparse_ce", weights=w1)
              for e in (0.0, 1e-4, 1e-3, 1e-2)]
    assert values[0] == 0.0
    assert all(v > 0 for v in values[1:])
    assert values[1] < values[2] < values[3]


def test_sharpness_finds_the_exact_maximum_of_a_convex_loss():
    # a linear softmax classifier: the loss is convex in its 6 parameters, so the maximum over the
    # box is at one of its 2**6 corners; enumerate them all in numpy
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 1)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32) + (x[:, 0] > 1).astype(np.int32)
    model = models.fc_net([], (1,), 3, dtype="float64")
    weights = [np.array([[2.0, -1.0, 0.5]]), np.array([0.2, -0.1, 0.0])]
    epsilon = 0.05
    flat = np.concatenate([w.ravel() for w in weights])
    base = numpy_metrics(weights, x, y)[0]
    best = max(numpy_metrics([(flat + s * epsilon * (np.abs(flat) + 1))[:3].reshape(1, 3),
                              (flat + s * epsilon * (np.abs(flat) + 1))[3:]], x, y)[0]
               for s in map(np.array, itertools.product([-1.0, 1.0], repeat=6)))
    expected = 100 * (best - base) / (1 + base)
    found = hw1.sharpness(model, (x, y), epsilon, steps=5, starts=2, loss="sparse_ce", weights=weights)
    assert found == pytest.approx(expected, rel=1e-6)


def test_sharpness_arguments_are_checked(two_trained):
    ds, build, (w1, _), _ = two_trained
    with pytest.raises(ValueError, match="epsilon"):
        hw1.sharpness(build(), (ds.x_train, ds.y_train), -1.0, loss="sparse_ce", weights=w1)
    with pytest.raises(ValueError, match="starts"):
        hw1.sharpness(build(), (ds.x_train, ds.y_train), starts=0, loss="sparse_ce", weights=w1)
