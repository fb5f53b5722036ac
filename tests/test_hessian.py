"""hw1.measure.hessian: each measurement recomputed another way (finite differences, a hand-solved case)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import hw1
from hw1.measure import core, hessian
from hw1.measure.critical_points import spectrum_counts
from hw1.lab import models, train

X_REG = np.linspace(-1.0, 1.0, 12).reshape(-1, 1)
Y_REG = np.sin(3.0 * X_REG)
X_CLS = np.random.default_rng(1).standard_normal((10, 2))
Y_CLS = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 1])
LOGITS_CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # fc_net ends in logits


def _tiny(loss: str) -> tuple:
    """A float64 tanh net (smooth, so finite differences are accurate), its weights and data."""
    if loss == "mse":
        build = lambda: models.fc_net([3, 2], activation="tanh", dtype="float64")  # noqa: E731
        x, y = X_REG, Y_REG
    else:
        build = lambda: models.fc_net([3], input_shape=(2,), output_dim=3, activation="tanh",  # noqa: E731
                                      dtype="float64")
        x, y = X_CLS, Y_CLS
    return build(), train.initial_weights(build, 3), x, y


def _gradient(model, theta: np.ndarray, x, y, loss: str) -> np.ndarray:
    """∇L by one plain GradientTape (independent of hw1.measure.hessian's compiled functions)."""
    f = core.loss_fn(model, loss)
    weights = [tf.constant(w) for w in hessian.unflatten(theta, model)]
    yt = tf.constant(y, tf.float64) if loss == "mse" else tf.constant(y, tf.int32)
    with tf.GradientTape() as tape:
        tape.watch(weights)
        value = f(weights, tf.constant(x, tf.float64), yt)
    return hessian.flatten([g.numpy() for g in tape.gradient(value, weights)])


def test_flatten_round_trip_is_exact():
    model = models.fc_net([4, 3], input_shape=(2,), output_dim=2)
    weights = [np.random.default_rng(i).standard_normal(v.shape).astype(np.float32)
               for i, v in enumerate(model.trainable_variables)]
    flat = hessian.flatten(weights)
    assert flat.shape == (hessian.n_params(model),) == (model.count_params(),)
    back = hessian.unflatten(flat, model)
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(weights, back))
    hessian.set_flat(model, flat)
    assert np.array_equal(hessian.get_flat(model), flat)
    assert np.array_equal(hessian.flatten(model.get_weights()), flat)  # same order as Keras
    with pytest.raises(ValueError, match="parameters"):
        hessian.unflatten(flat[:-1], model)


@pytest.mark.parametrize("loss", ["mse", "sparse_ce"])
def test_exact_hessian_equals_finite_differences_of_the_gradient(loss):
    model, weights, x, y = _tiny(loss)
    theta = hessian.flatten(weights)
    value, grad, H = hessian.loss_gradient_hessian(model, weights, x, y, loss)
    step = 1e-5
    fd = np.stack([(_gradient(model, theta + step * e, x, y, loss) - _gradient(model, theta - step * e, x, y, loss))
                   / (2 * step) for e in np.eye(theta.size)])
    assert np.allclose(grad, _gradient(model, theta, x, y, loss), rtol=0, atol=1e-14)
    assert np.abs(H - fd).max() < 1e-8 * max(1.0, np.abs(H).max())
    assert np.abs(H - H.T).max() < 1e-13 * np.abs(H).max()
    assert H.shape == (theta.size, theta.size) and np.abs(H).max() > 1e-3


def test_hand_solved_saddle_has_known_spectrum_and_minimal_ratio():
    # f(x) = v·(w·x + a) + c (one linear hidden unit) at θ = 0, MSE on x = (0, 2), y = (3, 0).
    # Order (w, a, v, c): H = [[0,0,-2·mean(xy),0], [0,0,-2·mean(y),0], [.., .., 0, 0], [0,0,0,2]]
    # = [[0,0,0,0],[0,0,-3,0],[0,-3,0,0],[0,0,0,2]]: eigenvalues -3, 0, 2, 3.
    model = models.fc_net([1], activation="linear", dtype="float64")
    zero = [np.zeros(v.shape) for v in model.trainable_variables]
    x, y = np.array([[0.0], [2.0]]), np.array([[3.0], [0.0]])
    H = hessian.loss_gradient_hessian(model, zero, x, y, "mse")[2]
    assert np.allclose(H, [[0, 0, 0, 0], [0, 0, -3, 0], [0, -3, 0, 0], [0, 0, 0, 2]], atol=1e-14)
    eigenvalues = hessian.symmetric_eigenvalues(H)
    assert np.allclose(eigenvalues, [-3, 0, 2, 3], atol=1e-14)
    summary = hessian.spectrum_summary(eigenvalues, tol=1e-9)
    assert summary == {"minimal_ratio": 0.5, "n_positive": 2, "n_negative": 1, "n_flat": 1,
                       "positive_share": pytest.approx(2 / 3), "min_eig": pytest.approx(-3), "max_eig": pytest.approx(3)}
    assert spectrum_counts(eigenvalues, tol=2.5)["minimal_ratio"] == 0.25


@pytest.mark.parametrize("loss", ["mse", "sparse_ce"])
def test_hessian_vector_product_equals_hessian_times_vector(loss):
    model, weights, x, y = _tiny(loss)
    H = hessian.loss_gradient_hessian(model, weights, x, y, loss)[2]
    for seed in range(3):
        v = np.random.default_rng(seed).standard_normal(H.shape[0])
        hv = hessian.hessian_vector_product(model, weights, x, y, loss, v)
        assert np.allclose(hv, H @ v, rtol=1e-12, atol=1e-12 * np.abs(H @ v).max())
    ops = hessian._curvature(model, loss)
    assert ops.hvp.experimental_get_tracing_count() == 1  # compiled once, not per call
    assert ops.hessian.experimental_get_tracing_count() == 1


def test_lanczos_finds_the_largest_eigenvalue_also_when_a_negative_one_dominates():
    model, weights, x, y = _tiny("mse")
    points = {"trained-ish": weights, "scaled": [3.0 * w for w in weights]}
    negative_dominant = 0
    for name, point in points.items():
        eigenvalues = hessian.symmetric_eigenvalues(hessian.loss_gradient_hessian(model, point, x, y, "mse")[2])
        negative_dominant += abs(eigenvalues[0]) > eigenvalues[-1]
        top = hw1.hessian_eigenvalues(model, (x, y), loss="mse", weights=point, max_iterations=2000, rtol=1e-10)[0]
        assert top == pytest.approx(eigenvalues[-1], rel=1e-4), name
    assert negative_dominant >= 1  # the largest in magnitude is negative at one point at least


def test_gradient_norm_minimization_lowers_the_gradient_by_orders_of_magnitude():
    # least squares y = 2x - 1 + noise with a Dense(1) model: ∇L vanishes only at the normal-equation solution
    from hw1.lab.data import Dataset
    x = np.linspace(-1.0, 1.0, 40).reshape(-1, 1)
    y = 2.0 * x - 1.0 + 0.1 * np.random.default_rng(0).standard_normal(x.shape)
    data = Dataset("line", x.astype(np.float32), y.astype(np.float32), x[:0], y[:0], None)
    build = lambda: models.fc_net([], dtype="float64")  # noqa: E731
    config = train.TrainConfig(epochs=1500, learning_rate=1e-2, loss="mse", objective="grad_norm_sq")
    walked = train.train(build, data, config, seeds=[0], eval_every=1500, eval_grad_norm=True)
    start, end = walked.history["grad_norm"].to_numpy()
    assert end < 1e-4 * start
    assert end == pytest.approx(np.linalg.norm(_gradient(build(), hessian.flatten(walked.weights[0]),
                                                         data.x_train, data.y_train, "mse")), rel=1e-6)
    design = np.hstack([data.x_train, np.ones_like(data.x_train)]).astype(np.float64)
    solution = np.linalg.lstsq(design, data.y_train.astype(np.float64), rcond=None)[0].ravel()
    assert np.allclose(hessian.flatten(walked.weights[0]), solution, atol=1e-5)


# ---------------------------------------------------------------- Lanczos, chunks, float64 (issue 13)

def _close_pair_problem():
    """A float32 linear model, MSE, whose Hessian 2/N·AᵀA (A = [X 1]) has eigenvalues 10, 9.99, 4, 1, 2.

    The top two differ by 0.1 %: power iteration would need thousands of products to separate them.
    """
    n_samples = 16
    q, _ = np.linalg.qr(np.hstack([np.ones((n_samples, 1)), np.random.default_rng(0).standard_normal((n_samples, 4))]))
    q[:, 0] = np.abs(q[:, 0])  # the ones column, normalized: the bias direction (eigenvalue 2)
    wanted = np.array([10.0, 9.99, 4.0, 1.0])
    x = q[:, 1:] * np.sqrt(wanted * n_samples / 2.0)
    y = np.random.default_rng(1).standard_normal((n_samples, 1))
    model = models.fc_net([], input_shape=(4,), output_dim=1)  # float32
    weights = [np.random.default_rng(2).standard_normal(v.shape).astype(np.float32) for v in model.trainable_variables]
    return model, weights, x, y, np.sort(np.r_[wanted, 2.0])[::-1]


def _eigsh_top(model64, weights, x, y, loss, k=2):
    """Top-k eigenvalues by ARPACK on a LinearOperator of float64 Hessian-vector products."""
    from scipy.sparse.linalg import LinearOperator, eigsh
    n = hessian.n_params(model64)
    op = LinearOperator((n, n), matvec=lambda v: hessian.hessian_vector_product(model64, weights, x, y, loss, v),
                        dtype=np.float64)
    return np.sort(eigsh(op, k=k, which="LA", tol=1e-12, ncv=n)[0])[::-1]


def test_top_eigenvalue_separates_a_close_pair_like_scipy_eigsh():
    model, weights, x, y, exact = _close_pair_problem()
    model64 = models.fc_net([], input_shape=(4,), output_dim=1, dtype="float64")
    reference = _eigsh_top(model64, [w.astype(np.float64) for w in weights], x, y, "mse")
    assert reference == pytest.approx(exact[:2], rel=1e-10)  # eigsh agrees with the construction
    top = hw1.hessian_eigenvalues(model, (x, y), loss="mse", weights=weights, rtol=1e-3, dtype="float64")[0]
    assert abs(top - reference[0]) <= 1e-3 * reference[0]
    assert abs(top - reference[0]) < abs(reference[1] - reference[0])  # the top one, not its neighbour
    # float32 HVPs converge too, to float32 accuracy
    assert hw1.hessian_eigenvalues(model, (x, y), loss="mse", weights=weights, dtype="float32")[0] == pytest.approx(
        reference[0], rel=1e-3)


def test_top_eigenvalue_of_a_float32_net_in_float64_matches_eigsh_and_chunking_changes_nothing(monkeypatch):
    # a float32 tanh classifier measured through its float64 twin vs eigsh on a model BUILT in float64
    build32 = lambda: models.fc_net([5], input_shape=(2,), output_dim=3, activation="tanh")  # noqa: E731
    model = build32()
    weights = [w.astype(np.float32) for w in train.initial_weights(build32, 4)]
    model64 = models.fc_net([5], input_shape=(2,), output_dim=3, activation="tanh", dtype="float64")
    reference = _eigsh_top(model64, [w.astype(np.float64) for w in weights], X_CLS, Y_CLS, "sparse_ce")
    top = hw1.hessian_eigenvalues(model, (X_CLS, Y_CLS), rtol=1e-6, loss=LOGITS_CE, weights=weights,
                                  dtype="float64")[0]
    assert top == pytest.approx(reference[0], rel=1e-6)
    # products summed over chunks of 3 samples (the last one short) give the same value
    chunked = hw1.hessian_eigenvalues(model, (X_CLS, Y_CLS), rtol=1e-6, loss=LOGITS_CE, weights=weights,
                                      dtype="float64", batch_size=3)[0]
    assert chunked == pytest.approx(top, rel=1e-10)


def test_top_eigenvalue_warns_when_not_converged():
    model, weights, x, y, _ = _close_pair_problem()
    with pytest.warns(RuntimeWarning, match="did not converge to rtol=1e-12 in max_iterations=2"):
        hw1.hessian_eigenvalues(model, (x, y), loss="mse", weights=weights, rtol=1e-12, max_iterations=2)
