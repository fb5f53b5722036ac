"""The weight-vector core: a model evaluated at parameter vectors it does not hold, chunked over runs and samples."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from hw1.measure import constants, core
from hw1.lab import models


def test_evaluator_over_many_runs_and_chunks_equals_keras_one_model_at_a_time():
    rng = np.random.default_rng(0)
    x = rng.random((23, 4)).astype(np.float32)
    y = rng.integers(0, 3, 23)
    model = models.fc_net([5], (4,), 3)
    runs = []
    for seed in range(constants.RUN_CHUNK + 3):  # two run groups, the second one short
        keras.utils.set_random_seed(seed)
        runs.append([v.numpy() for v in models.fc_net([5], (4,), 3).trainable_variables])
    losses, accs = core.Evaluator(model, "sparse_ce")(core.stack(runs), x, y, batch_size=7)  # the last chunk short
    for weights, loss, acc in zip(runs, losses, accs):
        model.set_weights(weights)
        logits = model(x).numpy().astype(np.float64)
        log_p = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) \
            - logits.max(1, keepdims=True)
        assert loss == pytest.approx(-log_p[np.arange(23), y].mean(), rel=1e-5)
        assert acc == pytest.approx(np.mean(logits.argmax(1) == y))


def test_chunk_means_reduce_sums_once_over_every_chunk():
    x = np.arange(10.0)[:, None]
    chunks = core.slices(x, 2 * x[:, 0], 4)  # chunks of 4, 4 and 2 samples
    mean_x, mean_y, mean_pair = core.chunk_means(lambda a, b: [a.sum(), b.sum(), np.array([len(a), 1.0])], chunks)
    assert (mean_x, mean_y) == (4.5, 9.0) and mean_pair.tolist() == [10 / 10, 3 / 10]
    with pytest.raises(ValueError, match="no samples"):
        core.chunk_means(lambda a, b: [a.sum()], iter([]))


def test_a_changed_chunk_constant_reaches_every_chunked_reduction(monkeypatch):
    """The chunk sizes are read when a reduction runs, not captured as defaults when a module is imported."""
    from hw1.measure import adapt, hessian

    rng = np.random.default_rng(1)
    x, y = rng.random((10, 4)).astype(np.float32), rng.integers(0, 3, 10)
    model = models.fc_net([5], (4,), 3)
    stacked = core.stack([[v.numpy() for v in model.trainable_variables]])
    whole = core.Evaluator(model, "sparse_ce")(stacked, x, y, batch_size=10)
    monkeypatch.setattr(constants, "EVAL_CHUNK", 4)
    sizes = lambda chunks: [len(a) for a, _ in chunks]  # noqa: E731
    assert sizes(core.slices(x, y)) == sizes(hessian.array_batches(x, y)()) == [4, 4, 2]
    assert sizes(adapt.make_problem(model, (x, y), keras.losses.SparseCategoricalCrossentropy(from_logits=True), None,
                                    None).batches()) \
        == [4, 4, 2]
    seen = []
    evaluator = core.Evaluator(model, "sparse_ce")
    real = evaluator.sums
    monkeypatch.setattr(evaluator, "sums", lambda w, xs, ys: seen.append(len(xs)) or real(w, xs, ys))
    chunked = evaluator(stacked, x, y)
    assert seen == [4, 4, 2] and np.allclose(chunked, whole, rtol=1e-6)
    import hw1  # the public functions' batch_size=None: the constant as it is when they are called

    operator = hw1.curvature(model, (x, y), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert sizes(operator._batches()) == [4, 4, 2]
    from hw1.measure import trajectory  # grid points: 7 of them in chunks of 3 (the last one padded)

    monkeypatch.setattr(constants, "GRID_CHUNK", 3)
    runs, center = [], [v.numpy() for v in model.trainable_variables]
    fake = lambda w, xs, ys: runs.append(len(w[0])) or (np.zeros(len(w[0])), np.zeros(len(w[0])))  # noqa: E731
    trajectory.loss_grid(fake, center, center, center, np.arange(7.0), np.zeros(1), x, y)
    assert runs == [3, 3, 3]


def test_no_public_function_binds_a_chunk_size_at_import():
    """A default argument is evaluated once, at import: every public batch_size= defaults to None instead."""
    import inspect

    import hw1

    defaults = {name: inspect.signature(getattr(hw1, name)).parameters["batch_size"].default for name in hw1.__all__
                if callable(getattr(hw1, name)) and "batch_size" in inspect.signature(getattr(hw1, name)).parameters}
    assert {"evaluate", "curvature", "hessian_eigenvalues", "sensitivity", "CurvatureCallback"} <= set(defaults)
    assert set(defaults.values()) == {None}, defaults


def test_flatten_unflatten_and_stack_unstack_are_inverse():
    w = [np.arange(6.0).reshape(2, 3), np.ones(3, np.float32)]
    back = core.unflatten(core.flatten(w), w)
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(w, back))
    pair = core.unstack(core.stack([w, [2 * a for a in w]]))
    assert np.array_equal(pair[1][0], 2 * w[0])
    with pytest.raises(ValueError, match="5 entries; the model has 9 parameters"):
        core.unflatten(np.zeros(5), w)


def test_compiled_graphs_are_kept_with_their_model_and_die_with_it():
    import gc
    import weakref

    from hw1.measure import analysis, hessian

    model = models.fc_net([3], (2,), 2)
    weights = [v.numpy() for v in model.trainable_variables]
    x, y = np.ones((4, 2), np.float32), np.array([0, 1, 0, 1])
    analysis.input_jacobian_norms(model, weights, x)
    hessian.loss_gradient_hessian(model, weights, x, y, "sparse_ce")
    assert core.evaluator(model, "sparse_ce") is core.evaluator(model, "sparse_ce")  # compiled once per model
    assert len(model.__dict__["_hw1_compiled"]) >= 3
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None, "a module-level cache still holds the model"
