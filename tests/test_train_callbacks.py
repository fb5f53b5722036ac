"""The trainer's callbacks against hand-written loops, its shared compiled loops, and its seeds."""

import dataclasses
import random

import numpy as np
import pytest

from conftest import build_tiny
from hw1.lab import data, models, train, train_step


def hand_sgd(seed, x, y, lr, batch, epochs, stop_loss=None):
    """Mini-batch SGD on the 1-5-4-1 MLP in numpy (hw1's batch order, recomputed), evaluated after each epoch:
    the epoch it first reaches ``stop_loss`` (or None), its weights then, and its loss at every epoch."""
    import tensorflow as tf

    w = [v.astype(np.float64) for v in train.initial_weights(build_tiny, seed)]

    def loss_grad(w, xb, yb):
        w1, b1, w2, b2, w3, b3 = w
        z1 = xb @ w1 + b1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ w2 + b2
        h2 = np.maximum(z2, 0)
        r = h2 @ w3 + b3 - yb
        d = 2 * r / r.size
        g3, gb3 = h2.T @ d, d.sum(0)
        d2 = (d @ w3.T) * (z2 > 0)
        g2, gb2 = h1.T @ d2, d2.sum(0)
        d1 = (d2 @ w2.T) * (z1 > 0)
        return float(np.mean(r ** 2)), [xb.T @ d1, d1.sum(0), g2, gb2, g3, gb3]

    losses = [loss_grad(w, x, y)[0]]
    for epoch in range(epochs):
        if stop_loss is not None and losses[-1] <= stop_loss:
            return epoch, w, losses
        order = tf.argsort(tf.random.stateless_uniform([len(x)], tf.constant([seed, epoch], tf.int64))).numpy()
        for s in range(0, len(x), batch):
            _, g = loss_grad(w, x[order[s:s + batch]], y[order[s:s + batch]])
            w = [a - lr * b for a, b in zip(w, g)]
        losses.append(loss_grad(w, x, y)[0])
    reached = stop_loss is not None and losses[-1] <= stop_loss
    return (epochs if reached else None), w, losses


def test_stop_at_loss_freezes_each_run_where_a_hand_loop_stops(tiny):
    x, y = tiny.x_train.astype(np.float64), tiny.y_train.astype(np.float64)
    config = train.TrainConfig(epochs=30, learning_rate=0.05, optimizer="sgd", batch_size=8, loss="mse")
    free = [hand_sgd(s, x, y, 0.05, 8, 30) for s in (4, 5, 6)]
    # reached at different epochs, or never (a hair above one run's loss: float rounding cannot move its epoch)
    target = float(np.median([losses[10] for _, _, losses in free])) * (1 + 1e-7)
    hand = [hand_sgd(s, x, y, 0.05, 8, 30, stop_loss=target) for s in (4, 5, 6)]
    assert len({epoch for epoch, _, _ in hand}) > 1, "the target should split the runs"
    result = train.train(build_tiny, tiny, config, seeds=[4, 5, 6], callbacks=[train.StopAt(train_loss=target)])
    assert result.stopped == [epoch for epoch, _, _ in hand]
    for r, (epoch, weights, losses) in enumerate(hand):
        mine = result.history[result.history["run"] == r]
        last = 30 if epoch is None else epoch
        assert mine["epoch"].tolist() == list(range(last + 1))
        np.testing.assert_allclose(mine["train_loss"], losses[:last + 1], rtol=1e-9)
        for a, b in zip(result.weights[r], weights):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_stop_at_grad_norm_ends_when_every_run_is_below(tiny):
    config = train.TrainConfig(epochs=400, learning_rate=1e-2, loss="mse")
    free = train.train(build_tiny, tiny, config, seeds=[0, 1], eval_every=20, eval_grad_norm=True).history
    norms = free.pivot(index="epoch", columns="run", values="grad_norm")
    tol = float(norms.max(axis=1).iloc[len(norms) // 2])
    expected = int(norms.index[(norms <= tol).all(axis=1)][0])
    stopped = train.train(build_tiny, tiny, config, seeds=[0, 1], eval_every=20,
                          callbacks=[train.StopAtGradNorm(tol)])
    assert stopped.history["epoch"].max() == expected and stopped.stopped == [None, None]
    np.testing.assert_allclose(stopped.history["grad_norm"], free[free["epoch"] <= expected]["grad_norm"], rtol=1e-9)


def test_snapshots_are_the_weights_a_shorter_training_ends_with(tiny):
    config = train.TrainConfig(epochs=10, learning_rate=0.05, optimizer="sgd", batch_size=8, loss="mse")
    snaps = train.Snapshots(every=4)
    result = train.train(build_tiny, tiny, config, seeds=[2, 3], eval_every=3, callbacks=[snaps])
    assert [(r, e) for r, e, _ in result.snapshots] == [(r, e) for e in (0, 4, 8) for r in (0, 1)]
    assert result.snapshots is snaps.snapshots and result.history["epoch"].unique().tolist() == [0, 3, 6, 9, 10]
    short = train.train(build_tiny, tiny, train.TrainConfig(epochs=8, learning_rate=0.05, optimizer="sgd",
                                                            batch_size=8, loss="mse"), seeds=[2, 3])
    for r in (0, 1):
        for a, b in zip(dict(((run, e), w) for run, e, w in result.snapshots)[(r, 8)], short.weights[r]):
            np.testing.assert_array_equal(a, b)


def test_step_records_are_the_batch_losses_and_end_where_a_run_stops(tiny):
    x, y = tiny.x_train.astype(np.float64), tiny.y_train.astype(np.float64)
    config = train.TrainConfig(epochs=6, learning_rate=0.05, optimizer="sgd", batch_size=16, loss="mse")
    result = train.train(build_tiny, tiny, config, seeds=[4], callbacks=[train.StepRecords()])
    steps = result.steps
    assert steps["step"].tolist() == list(range(1, 13)) and not steps["diverged"].any()
    # step 1's batch loss: the first 16 points of epoch 0's order at the initial weights
    import tensorflow as tf

    order = tf.argsort(tf.random.stateless_uniform([32], tf.constant([4, 0], tf.int64))).numpy()[:16]
    model = build_tiny()
    model.set_weights(train.initial_weights(build_tiny, 4))
    first = float(np.mean((model(x[order]).numpy() - y[order]) ** 2))
    assert steps["loss"].iloc[0] == pytest.approx(first, rel=1e-12)
    target = float(result.history["train_loss"].iloc[3])  # reached at epoch 3 (or sooner)
    stopped = train.train(build_tiny, tiny, config, seeds=[4],
                          callbacks=[train.StepRecords(), train.StopAt(train_loss=target)])
    epoch = stopped.stopped[0]
    assert epoch is not None and epoch <= 3
    assert stopped.steps["loss"].iloc[:2 * epoch].notna().all() and stopped.steps["loss"].iloc[2 * epoch:].isna().all()


def test_a_callback_can_end_the_training(tiny):
    class StopAfter(train.Callback):
        every = 1

        def on_epoch_end(self, loop, epoch, logs):
            if epoch == 3:
                loop.stop_training = True

    result = train.train(build_tiny, tiny, train.TrainConfig(epochs=10, loss="mse"), seeds=[0], eval_every=2,
                         callbacks=[StopAfter()])
    assert result.history["epoch"].tolist() == [0, 2]  # epoch 3 is no evaluation; the run ends there
    alone = train.train(build_tiny, tiny, train.TrainConfig(epochs=3, loss="mse"), seeds=[0], eval_every=2)
    for a, b in zip(result.weights[0], alone.weights[0]):
        np.testing.assert_array_equal(a, b)


def test_one_compiled_loop_serves_trainings_of_one_shape(tiny):
    """A second training of the same shape with another rate, length, seeds and labels runs the loop already
    traced, and gives exactly what a freshly traced loop gives; another batch size (the step's static shape)
    traces the same loop once more, and only once."""
    build = lambda: models.fc_net([6], dtype="float64")  # noqa: E731
    first = train.TrainConfig(epochs=4, learning_rate=0.05, batch_size=8, loss="mse")
    second = train.TrainConfig(epochs=5, learning_rate=0.01, batch_size=4, loss="mse")
    other = data.Dataset("other", tiny.x_train, -tiny.y_train, tiny.x_test, tiny.y_test, None)
    train_step.release_compiled()
    train.train(build, tiny, first, seeds=[0, 1])
    loop = next(iter(train_step._LOOPS.values()))
    traces = loop._run.experimental_get_tracing_count()
    train.train(build, tiny, dataclasses.replace(second, batch_size=8), seeds=[3, 4])
    assert list(train_step._LOOPS.values()) == [loop] and loop._run.experimental_get_tracing_count() == traces
    train.train(build, tiny, dataclasses.replace(first, batch_size=4), seeds=[0, 1])
    assert loop._run.experimental_get_tracing_count() == traces + 1
    shared = train.train(build, other, second, seeds=[7, 8])
    assert list(train_step._LOOPS.values()) == [loop] and loop._run.experimental_get_tracing_count() == traces + 1
    train_step.release_compiled()
    fresh = train.train(build, other, second, seeds=[7, 8])
    assert next(iter(train_step._LOOPS.values())) is not loop
    np.testing.assert_array_equal(shared.history.to_numpy(), fresh.history.to_numpy())
    for a, b in zip(shared.weights, fresh.weights):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)


def test_a_training_inside_a_training_of_the_same_shape_leaves_it_alone(tiny):
    """A callback that trains a model of the same shape mid-training gets a loop of its own."""
    config = train.TrainConfig(epochs=6, learning_rate=0.05, batch_size=8, loss="mse")

    class Inner(train.Callback):
        def on_epoch_end(self, loop, epoch, logs):
            if epoch == 3:
                self.inner = train.train(build_tiny, tiny, config, seeds=[9])

    inner = Inner()
    nested = train.train(build_tiny, tiny, config, seeds=[4], callbacks=[inner])
    plain = train.train(build_tiny, tiny, config, seeds=[4])
    alone = train.train(build_tiny, tiny, config, seeds=[9])
    for result, reference in ((nested, plain), (inner.inner, alone)):
        np.testing.assert_array_equal(result.history.to_numpy(), reference.history.to_numpy())


def test_models_of_other_shapes_or_kinds_get_their_own_loop(tiny):
    train_step.release_compiled()
    config = train.TrainConfig(epochs=1, loss="mse")
    train.train(lambda: models.fc_net([6], dtype="float64"), tiny, config, seeds=[0])
    train.train(lambda: models.fc_net([7], dtype="float64"), tiny, config, seeds=[0])  # another width
    train.train(lambda: models.fc_net([6], dtype="float64"), tiny, config, seeds=[0, 1])  # another run count
    train.train(lambda: models.fc_net([6], dtype="float64"), tiny, train.TrainConfig(epochs=1, loss="mse",
                                                                                     optimizer="sgd"), seeds=[0])
    assert len(train_step._LOOPS) == train_step.SHARED_LOOPS == 4
    train.train(lambda: models.fc_net([6], activation="tanh", dtype="float64"), tiny, config, seeds=[0])
    assert len(train_step._LOOPS) == 4  # the oldest went out
    train_step.release_compiled()
    assert not train_step._LOOPS


@pytest.mark.parametrize("name", ["fc", "cnn", "rnn"])
def test_initial_weights_are_keras_seeded_weights_without_a_global_reseed(name):
    """The weights Keras draws after keras.utils.set_random_seed(seed), and the global generators untouched."""
    import keras

    build = {"fc": lambda: models.fc_net([16, 8]), "cnn": lambda: models.cnn((28, 28, 1)),
             "rnn": lambda: models.rnn((28, 28, 1))}[name]
    saved = random.getstate(), np.random.get_state()
    try:
        ours = train.initial_weights(build, 2001)
        assert random.getstate() == saved[0] and np.array_equal(np.random.get_state()[1], saved[1][1])
        keras.utils.set_random_seed(2001)
        theirs = [v.numpy() for v in build().trainable_variables]
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(ours[0], train.initial_weights(build, 2002)[0])


def test_training_leaves_the_global_generators_alone(tiny):
    saved = random.getstate(), np.random.get_state()[1].copy()
    train.train(build_tiny, tiny, train.TrainConfig(epochs=2, batch_size=8, loss="mse"), seeds=[0, 1])
    assert random.getstate() == saved[0] and np.array_equal(np.random.get_state()[1], saved[1])


@pytest.mark.parametrize("make, message", [
    (lambda: train.StopAt(), "needs train_loss or train_acc"), (lambda: train.Snapshots(every=0), "every=0"),
])
def test_callback_validation(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_an_accuracy_rule_needs_a_classifier(tiny):
    with pytest.raises(ValueError, match="needs a classifier"):
        train.train(build_tiny, tiny, train.TrainConfig(epochs=1, loss="mse"), seeds=[0],
                    callbacks=[train.StopAt(train_acc=0.9)])


def test_eval_every_is_validated(tiny):
    with pytest.raises(ValueError, match="eval_every=0"):
        train.train(build_tiny, tiny, train.TrainConfig(epochs=1, loss="mse"), seeds=[0], eval_every=0)
