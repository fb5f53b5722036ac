"""hw1.curvature against independent computations: the exact Hessian of a small net (nested plain tapes),
JᵀH_out·J and per-sample gradients built explicitly with tf.GradientTape.jacobian, exact traces and sub-matrices."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import hw1
from conftest import ROOT

RNG = np.random.default_rng(0)
X = RNG.standard_normal((40, 4))
Y = np.argmax(X[:, :3] + 0.5 * X[:, 3:], axis=1).astype(np.int32)
TARGET = np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1)


def mlp(outputs: int = 3, softmax: bool = False) -> keras.Sequential:
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((4,), dtype="float64"),
                             keras.layers.Dense(5, activation="tanh", dtype="float64", name="hidden"),
                             keras.layers.Dense(outputs, activation="softmax" if softmax else None, dtype="float64",
                                                name="out")])


def plain_weights(model):
    return [tf.constant(v.numpy()) for v in model.trainable_variables]


def outputs_at(model, weights, x):
    outputs, _ = model.stateless_call(list(weights), [], tf.constant(x))
    return outputs


def exact_hessian(model, per_sample_loss, x, y) -> np.ndarray:
    """∂²/∂θ² of the mean of ``per_sample_loss(z, y)`` by nested plain GradientTapes (no hw1 code)."""
    weights = plain_weights(model)
    with tf.GradientTape(persistent=True) as outer:
        outer.watch(weights)
        with tf.GradientTape() as inner:
            inner.watch(weights)
            value = tf.reduce_mean(per_sample_loss(outputs_at(model, weights, x), y))
        grad = tf.concat([tf.reshape(g, [-1]) for g in inner.gradient(value, weights)], 0)
    blocks = outer.jacobian(grad, weights)
    return np.concatenate([tf.reshape(b, [grad.shape[0], -1]).numpy() for b in blocks], axis=1)


def output_jacobians(model, x) -> tuple[np.ndarray, np.ndarray]:
    """The outputs z (samples, K) and ∂z/∂θ (samples, K, n) by tf.GradientTape.jacobian."""
    weights = plain_weights(model)
    with tf.GradientTape() as tape:
        tape.watch(weights)
        z = outputs_at(model, weights, x)
    blocks = tape.jacobian(z, weights)
    return z.numpy(), np.concatenate([np.reshape(b.numpy(), (*z.shape, -1)) for b in blocks], axis=2)


def softmax_ce(z, y):
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z)


def mse(z, y):
    return tf.reduce_mean(tf.square(z - y), axis=-1)


@pytest.fixture(scope="module")
def logit_net():
    model = mlp()
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, exact_hessian(model, softmax_ce, X, Y)


# ---------------------------------------------------------------- Hessian: values, vectors, block, trace

def test_eigenvectors_satisfy_hv_equals_lambda_v_for_the_exact_hessian(logit_net):
    model, H = logit_net
    c = hw1.curvature(model, (X, Y), dtype=None)
    assert c.n == H.shape[0] == 43
    values, vectors = c.eigenvalues(3, rtol=1e-6, return_vectors=True)
    exact = np.linalg.eigvalsh(H)
    assert values == pytest.approx(exact[::-1][:3], rel=1e-9)
    assert vectors.shape == (3, 43) and np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-12)
    for value, vector in zip(values, vectors):
        assert np.linalg.norm(H @ vector - value * vector) <= 1e-6 * abs(value)
    assert bool(np.all(c.converged)) and c.iterations >= 3
    smallest, low = c.eigenvalues(1, which="smallest", rtol=1e-6, return_vectors=True)
    assert smallest[0] == pytest.approx(exact[0], rel=1e-6, abs=1e-9)
    assert np.linalg.norm(H @ low[0] - smallest[0] * low[0]) <= 1e-6 * abs(smallest[0])
    parts = c.unflatten(vectors[0])  # the flattened model.trainable_weights order
    assert [p.shape for p in parts] == [tuple(v.shape) for v in model.trainable_weights]
    assert np.concatenate([p.ravel() for p in parts]) == pytest.approx(vectors[0])
    v = RNG.standard_normal(43)
    assert c.hvp(v) == pytest.approx(H @ v, rel=1e-10, abs=1e-12)


def test_float32_lanczos_on_the_device_matches_float64(logit_net):
    model, H = logit_net
    values, vectors = hw1.curvature(model, (X, Y)).eigenvalues(2, rtol=1e-3, return_vectors=True)  # float32 twin
    assert values == pytest.approx(np.linalg.eigvalsh(H)[::-1][:2], rel=1e-5)
    for value, vector in zip(values, vectors):
        assert np.linalg.norm(H @ vector - value * vector) <= 1e-3 * abs(value)


def test_a_block_has_the_eigenvalues_of_the_exact_hessians_sub_matrix(logit_net):
    model, H = logit_net
    by_name = hw1.curvature(model, (X, Y), variables=["out"], dtype=None)
    assert by_name.n == 5 * 3 + 3
    block = H[25:, 25:]
    assert by_name.eigenvalues(3, rtol=1e-8) == pytest.approx(np.linalg.eigvalsh(block)[::-1][:3], rel=1e-9)
    kernel, bias = model.get_layer("hidden").kernel, model.get_layer("out").bias
    mixed = hw1.curvature(model, (X, Y), variables=[kernel, bias], dtype=None)
    rows = np.r_[0:20, 40:43]
    sub = H[np.ix_(rows, rows)]
    assert mixed.eigenvalues(2, rtol=1e-8) == pytest.approx(np.linalg.eigvalsh(sub)[::-1][:2], rel=1e-9)
    v = RNG.standard_normal(23)
    assert mixed.hvp(v) == pytest.approx(sub @ v, rel=1e-10, abs=1e-12)
    assert [p.shape for p in mixed.unflatten(v)] == [(4, 5), (3,)]


def test_hutch_plus_plus_is_within_3_standard_errors_and_beats_hutchinson_with_a_dominant_eigenvalue():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,), dtype="float64"), keras.layers.Dense(5, "relu", dtype="float64"),
                              keras.layers.Dense(1, dtype="float64")])
    scaled, target = X * np.array([8.0, 1.0, 1.0, 1.0]), TARGET[:, :1]  # one input direction dominates
    H = exact_hessian(model, mse, scaled, target)
    magnitudes = np.sort(np.abs(np.linalg.eigvalsh(H)))
    assert magnitudes[-1] > 3 * magnitudes[-2]  # the net has a dominant eigenvalue
    c = hw1.curvature(model, (scaled, target), loss="mse", dtype=None)
    for seed in range(5):
        plus = c.trace(30, "hutch++", seed=seed)
        plain = c.trace(30, "hutchinson", seed=seed)
        assert abs(plus.trace - np.trace(H)) <= 3 * plus.stderr
        assert abs(plain.trace - np.trace(H)) <= 4 * plain.stderr
        assert plus.stderr < plain.stderr / 3 and plus.probes == plain.probes == 30


# ---------------------------------------------------------------- Gauss–Newton and Fisher, built explicitly

@pytest.mark.parametrize("softmax", [False, True])
def test_ggn_top_eigenvalue_and_trace_match_jt_hout_j(softmax):
    model = mlp(softmax=softmax)
    model.compile(loss="sparse_categorical_crossentropy" if softmax else
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    z, J = output_jacobians(model, X)
    if softmax:  # measured from the probabilities p = outputs: the split is at log p, H_out the same diag(p) − ppᵀ
        p = z / z.sum(axis=1, keepdims=True)
    else:
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        G = np.mean([J[i].T @ (np.diag(p[i]) - np.outer(p[i], p[i])) @ J[i] for i in range(len(X))], axis=0)
    if softmax:  # J of log p = (I − 1pᵀ)·J of p / p
        jl = [(np.eye(3) - np.outer(np.ones(3), p[i])) @ (J[i] / z[i][:, None]) for i in range(len(X))]
        G = np.mean([jl[i].T @ (np.diag(p[i]) - np.outer(p[i], p[i])) @ jl[i] for i in range(len(X))], axis=0)
    c = hw1.curvature(model, (X, Y), curvature="ggn", dtype=None)
    exact = np.linalg.eigvalsh(G)
    assert exact[0] > -1e-12  # positive semi-definite
    assert c.eigenvalues(2, rtol=1e-8) == pytest.approx(exact[::-1][:2], rel=1e-8)
    assert c.eigenvalues(1, which="smallest", rtol=0.5)[0] > -1e-10
    v = RNG.standard_normal(c.n)
    assert c.hvp(v) == pytest.approx(G @ v, rel=1e-8, abs=1e-12)
    estimate = c.trace(99, seed=2)
    assert abs(estimate.trace - np.trace(G)) <= 3 * estimate.stderr + 1e-10
    assert hw1.hessian_eigenvalues(model, (X, Y), k=2, rtol=1e-8, curvature="ggn") == pytest.approx(
        exact[::-1][:2], rel=1e-8)


def test_ggn_of_mse_and_empirical_fisher_match_explicit_matrices():
    model = mlp(outputs=2)
    z, J = output_jacobians(model, X)
    G = np.mean([J[i].T @ J[i] for i in range(len(X))], axis=0)  # H_out = 2/K·I with K = 2
    c = hw1.curvature(model, (X, TARGET), loss="mse", curvature="ggn", dtype=None)
    v = RNG.standard_normal(c.n)
    assert c.hvp(v) == pytest.approx(G @ v, rel=1e-10, abs=1e-13)
    residual = (z - TARGET)  # ∂ℓ/∂z = 2/K·(z − y) = z − y
    grads = np.einsum("ik,ikn->in", residual, J)  # per-sample gradients gᵢ
    fisher = hw1.curvature(model, (X, TARGET), loss="mse", curvature="fisher", dtype=None)
    assert fisher.hvp(v) == pytest.approx(grads.T @ grads @ v / len(X), rel=1e-10, abs=1e-13)
    logits = mlp()
    zc, Jc = output_jacobians(logits, X)
    p = np.exp(zc) / np.exp(zc).sum(axis=1, keepdims=True)
    grads = np.einsum("ik,ikn->in", p - np.eye(3)[Y], Jc)
    ce = hw1.curvature(logits, (X, Y), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       curvature="fisher", dtype=None)
    F = grads.T @ grads / len(X)
    assert ce.eigenvalues(1, rtol=1e-8)[0] == pytest.approx(np.linalg.eigvalsh(F)[-1], rel=1e-8)


# ---------------------------------------------------------------- reuse, chunks, non-convergence

def test_a_second_call_does_not_retrace_and_chunks_do_not_change_values(logit_net, caplog):
    model, H = logit_net
    c = hw1.curvature(model, (X, Y), batch_size=16, dtype=None)  # 3 chunks: 16, 16, 8
    first = c.eigenvalues(1, rtol=1e-8)
    traces = c._product.experimental_get_tracing_count()
    with caplog.at_level("WARNING"):
        second = c.eigenvalues(1, rtol=1e-8)
        c.trace(10)
    assert traces == 1 and c._product.experimental_get_tracing_count() == 1
    assert "retracing" not in caplog.text.lower()
    assert first == pytest.approx(second, rel=1e-12) and first[0] == pytest.approx(np.linalg.eigvalsh(H)[-1],
                                                                                   rel=1e-9)
    dataset = tf.data.Dataset.from_tensor_slices((X, Y)).batch(7)
    assert hw1.curvature(model, dataset, dtype=None).eigenvalues(1, rtol=1e-8) == pytest.approx(first, rel=1e-10)


def test_set_weights_moves_the_point_without_new_graphs(logit_net):
    model, H = logit_net
    c = hw1.curvature(model, (X, Y), dtype=None)
    c.eigenvalues(1, rtol=1e-6)
    other = [w * 0.5 for w in model.get_weights()]
    moved = mlp()
    moved.set_weights(other)
    c.set_weights(other)
    expected = np.linalg.eigvalsh(exact_hessian(moved, softmax_ce, X, Y))[-1]
    assert c.eigenvalues(1, rtol=1e-8)[0] == pytest.approx(expected, rel=1e-9)
    assert c._product.experimental_get_tracing_count() == 1


def test_not_converged_returns_the_values_found_with_flags_and_a_warning(logit_net):
    model, _ = logit_net
    c = hw1.curvature(model, (X, Y), dtype=None)
    with pytest.warns(RuntimeWarning, match=r"did not converge to rtol=1e-09 in max_iterations=4.*converged"):
        values = c.eigenvalues(2, rtol=1e-9, max_iterations=4)
    assert values.shape == (2,) and c.converged.dtype == bool and not c.converged.all()
    assert c.iterations == 4


# ---------------------------------------------------------------- several devices

TWO_CPUS = textwrap.dedent("""
    import os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    import hw1
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((203, 6)), rng.integers(0, 3, 203)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
""")


def two_cpu_rows(body: str) -> list[list[str]]:
    """Run ``body`` in a fresh process after :data:`TWO_CPUS` (a small classifier ``model`` on ``(x, y)``, a
    two-replica ``strategy`` over two logical CPUs, ``rng``); the printed rows of its "hessian" and "ggn" lines."""
    script = TWO_CPUS + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split() for line in done.stdout.splitlines() if line.split()[0] in ("hessian", "ggn")]
    assert len(rows) == 2
    return rows


def test_two_logical_devices_give_the_values_of_one():
    rows = two_cpu_rows("""
        v = rng.standard_normal(hw1.curvature(model, (x, y)).n)
        for kind in ("hessian", "ggn"):
            one = hw1.curvature(model, (x, y), curvature=kind, batch_size=64)
            two = hw1.curvature(model, (x, y), curvature=kind, batch_size=64, strategy=strategy)
            print(kind, np.abs(one.hvp(v) - two.hvp(v)).max() / np.abs(one.hvp(v)).max(),
                  abs(one.value_and_gradient()[0] - two.value_and_gradient()[0]),
                  np.abs(one.value_and_gradient()[1] - two.value_and_gradient()[1]).max(),
                  one.eigenvalues(2)[0], two.eigenvalues(2)[0])
    """)
    for _, hvp_error, loss_error, grad_error, one, two in rows:
        assert float(hvp_error) < 1e-5 and float(loss_error) < 1e-6 and float(grad_error) < 1e-6
        assert float(one) == pytest.approx(float(two), rel=1e-4)


# ---------------------------------------------------------------- clear errors

def test_clear_errors(logit_net, monkeypatch):
    model, _ = logit_net
    cases = [
        (lambda: hw1.curvature(model, (X, Y), curvature="newton"), "curvature='newton'"),
        (lambda: hw1.curvature(model, (X, Y), variables=["nope"]), "no layer named 'nope'"),
        (lambda: hw1.curvature(model, (X, Y), variables=[]), "variables=[]"),
        (lambda: hw1.curvature(model, (X, Y), batch_size=0), "batch_size=0"),
        (lambda: hw1.curvature(model, (X, Y), batch_size=True), "batch_size=True"),
        (lambda: hw1.curvature(model, (X, Y), strategy="mirrored"), "strategy='mirrored'"),
        (lambda: hw1.curvature(model, (X, Y), curvature="ggn", loss="hinge"), "curvature='ggn' splits the loss"),
        (lambda: hw1.curvature(model, (X, Y), dtype=None).hvp(np.ones(3)), "pass 43 numbers"),
        (lambda: hw1.curvature(model, (X, Y), dtype=None).trace(3), "probes=3"),
        (lambda: hw1.curvature(model, (X, Y), dtype=None).trace(10, "exact"), "method='exact'"),
        (lambda: hw1.sensitivity(model, (X, Y)), "pass x, not (x, y)"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError) as error:
            call()
        assert message in str(error.value) and "\n" not in str(error.value)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(ValueError, match="'jax' backend.*KERAS_BACKEND=tensorflow"):
        hw1.curvature(model, (X, Y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="'jax' backend"):
            hw1.evaluate(model, (X, Y))
