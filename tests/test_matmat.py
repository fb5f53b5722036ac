"""Curvature.matmat (a block of products in one compiled call per chunk) against P separate matvecs and the exact
Hessian, GGN and Fisher; the traces built on it against the same estimators written out in numpy on the exact
matrix, with the same probes; the probe-block rule; one device against two."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import hw1
from hw1.measure.graphs import probe_block
from test_curvature import TARGET, X, Y, exact_hessian, mlp, mse, output_jacobians, softmax_ce, two_cpu_rows


@pytest.fixture(scope="module")
def logit_net():
    model = mlp()
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, exact_hessian(model, softmax_ce, X, Y)


def block(c, rows: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, c.n))


@pytest.mark.parametrize("kind", ["hessian", "ggn", "fisher"])
def test_matmat_equals_separate_matvecs_in_blocks_and_chunks(logit_net, kind):
    model, _ = logit_net
    c = hw1.curvature(model, (X, Y), curvature=kind, batch_size=16, dtype=None)  # 3 chunks: 16, 16, 8
    c.probe_block = 3  # 7 rows: blocks of 3, 3 and 1
    V = block(c, 7)
    separate = np.stack([c.hvp(v) for v in V])
    assert c.matmat(V).numpy() == pytest.approx(separate, rel=1e-12, abs=1e-14)
    assert c.matmat(V[:1]).numpy() == pytest.approx(separate[:1], rel=1e-12, abs=1e-14)


def test_matmat_is_the_exact_hessian_times_the_block(logit_net):
    model, H = logit_net
    c = hw1.curvature(model, (X, Y), dtype=None)
    V = block(c, 5)
    assert c.matmat(V).numpy() == pytest.approx(V @ H.T, rel=1e-10, abs=1e-13)
    hidden = hw1.curvature(model, (X, Y), variables=["hidden"], dtype=None)  # the block's rows and columns
    Vb = block(hidden, 4)
    assert hidden.matmat(Vb).numpy() == pytest.approx(Vb @ H[:hidden.n, :hidden.n].T, rel=1e-10, abs=1e-13)
    low = hw1.curvature(model, (X, Y))  # float32: round-off of float32
    assert low.matmat(V).numpy() == pytest.approx(V @ H.T, rel=2e-5, abs=2e-5 * np.abs(H).max())


def test_ggn_and_fisher_blocks_match_explicit_matrices():
    model = mlp(outputs=2)
    z, J = output_jacobians(model, X)
    G = np.mean([J[i].T @ J[i] for i in range(len(X))], axis=0)  # MSE over K = 2 outputs: H_out = I
    grads = np.einsum("ik,ikn->in", z - TARGET, J)
    ggn = hw1.curvature(model, (X, TARGET), loss="mse", curvature="ggn", dtype=None)
    fisher = hw1.curvature(model, (X, TARGET), loss="mse", curvature="fisher", dtype=None)
    V = block(ggn, 6)
    assert ggn.matmat(V).numpy() == pytest.approx(V @ G, rel=1e-10, abs=1e-13)
    assert fisher.matmat(V).numpy() == pytest.approx(V @ (grads.T @ grads / len(X)), rel=1e-10, abs=1e-13)
    H = exact_hessian(model, mse, X, TARGET)
    assert hw1.curvature(model, (X, TARGET), loss="mse", dtype=None).matmat(V).numpy() == pytest.approx(
        V @ H, rel=1e-10, abs=1e-13)


def rademacher(rng, n, count):
    return np.stack([rng.choice([-1.0, 1.0], size=n) for _ in range(count)])


def test_traces_are_the_estimators_on_the_exact_hessian_with_the_same_probes(logit_net):
    model, H = logit_net
    c = hw1.curvature(model, (X, Y), batch_size=16, dtype=None)
    c.probe_block = 4
    for seed in (0, 5):
        rng = np.random.default_rng(seed)  # Hutchinson: the mean and standard error of vᵀHv
        values = np.einsum("in,nm,im->i", (V := rademacher(rng, c.n, 30)), H, V)
        plain = c.trace(30, "hutchinson", seed=seed)
        assert plain.trace == pytest.approx(values.mean(), rel=1e-10)
        assert plain.stderr == pytest.approx(values.std(ddof=1) / np.sqrt(30), rel=1e-8)
        rng = np.random.default_rng(seed)  # Hutch++ with 31 products: sketch 10, exact 10, 11 probes off Q
        q, _ = np.linalg.qr(H @ rademacher(rng, c.n, 10).T)
        W = rademacher(rng, c.n, 11)
        W = W - W @ q @ q.T
        rest = np.einsum("in,nm,im->i", W, H, W)
        plus = c.trace(31, "hutch++", seed=seed)
        assert plus.trace == pytest.approx(np.trace(q.T @ H @ q) + rest.mean(), rel=1e-9)
        assert plus.stderr == pytest.approx(rest.std(ddof=1) / np.sqrt(11), rel=1e-7)
        assert abs(plus.trace - np.trace(H)) <= 4 * plus.stderr


def test_block_graphs_are_traced_once_per_block_size(logit_net):
    model, _ = logit_net
    c = hw1.curvature(model, (X, Y), batch_size=16, dtype=None)
    c.trace(20, "hutchinson")
    counts = {p: f.experimental_get_tracing_count() for p, f in c._block_products.items()}
    c.trace(20, "hutchinson", seed=1)
    assert set(counts) == {c.probe_block, 20 % c.probe_block} - {0}
    assert all(count == 1 for count in counts.values())
    assert {p: f.experimental_get_tracing_count() for p, f in c._block_products.items()} == counts


def test_the_probe_block_rule():
    assert probe_block(101_770, 4000, 4) == 8  # 32768 // 4000 = 8
    assert probe_block(101_770, 8192, 4) == 4  # 32768 // 8192
    assert probe_block(1_590_010, 1000, 4) == 8  # 64 MiB // 6.4 MB = 10, capped at 8
    assert probe_block(16_000_000, 100, 4) == 1  # 64 MiB holds one 64 MB float32 probe
    assert probe_block(10, 100_000, 8) == 1  # a chunk beyond 32,768 samples: one probe a call
    c = hw1.curvature(mlp(), (X, Y), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      batch_size=16, dtype=None)
    assert c.probe_block == probe_block(c.n, 16, 8) == 8


def test_a_bad_block_is_one_line(logit_net):
    model, _ = logit_net
    c = hw1.curvature(model, (X, Y), dtype=None)
    for bad in (np.ones(c.n), np.ones((2, 3)), np.ones((0, c.n))):
        with pytest.raises(ValueError) as error:
            c.matmat(bad)
        assert f"pass a (P, {c.n}) block" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ValueError, match=r"^V='<block with NaN or inf>'; pass finite numbers$"):
        c.matmat(np.full((2, c.n), np.nan))
    V = block(c, 2)  # a float64 tensor into a float32 operator: cast, as arrays are
    low = hw1.curvature(model, (X, Y))
    assert low.matmat(tf.constant(V)).numpy() == pytest.approx(low.matmat(V).numpy(), rel=1e-6)


def test_two_logical_devices_give_the_block_of_one():
    rows = two_cpu_rows("""
        for kind in ("hessian", "ggn"):
            one = hw1.curvature(model, (x, y), curvature=kind, batch_size=64)
            two = hw1.curvature(model, (x, y), curvature=kind, batch_size=64, strategy=strategy)
            V = rng.standard_normal((5, one.n))
            a, b = one.matmat(V).numpy(), two.matmat(V).numpy()
            print(kind, np.abs(a - b).max() / np.abs(a).max(), one.trace(12).trace, two.trace(12).trace)
    """)
    for _, error, one, two in rows:
        assert float(error) < 1e-5 and float(one) == pytest.approx(float(two), rel=1e-5)
