"""The training loop: gradient norms, optimizer steps, batching, determinism, divergence."""

import numpy as np
import pandas as pd
import pytest

from conftest import build_tiny
from hw1.lab import data, models, train


def numpy_loss(weights, x, y):
    """Independent forward pass of the 1-5-4-1 relu MLP and its MSE, in numpy."""
    w1, b1, w2, b2, w3, b3 = weights
    h = np.maximum(x @ w1 + b1, 0)
    h = np.maximum(h @ w2 + b2, 0)
    return np.mean((h @ w3 + b3 - y) ** 2)


def finite_difference_gradient(weights, x, y, eps=1e-6):
    grads = []
    for i, w in enumerate(weights):
        g = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            plus = [v.copy() for v in weights]
            minus = [v.copy() for v in weights]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            g[idx] = (numpy_loss(plus, x, y) - numpy_loss(minus, x, y)) / (2 * eps)
        grads.append(g)
    return grads


def test_recorded_gradient_norm_equals_finite_differences(tiny):
    w0 = train.initial_weights(build_tiny, seed=3)
    x, y = tiny.x_train.astype(np.float64), tiny.y_train.astype(np.float64)
    fd_norm = np.sqrt(sum(np.sum(g ** 2) for g in finite_difference_gradient(w0, x, y)))
    config = train.TrainConfig(epochs=1, learning_rate=0.05, optimizer="sgd", loss="mse")
    result = train.train(build_tiny, tiny, config, seeds=[3], callbacks=[train.StepRecords()], eval_grad_norm=True)
    assert result.history["train_loss"].iloc[0] == pytest.approx(numpy_loss(w0, x, y), rel=1e-10)
    assert result.history["grad_norm"].iloc[0] == pytest.approx(fd_norm, rel=1e-6)
    assert result.steps["grad_norm"].iloc[0] == pytest.approx(fd_norm, rel=1e-6)
    # one plain SGD step: θ1 = θ0 − lr ∇L(θ0)
    fd = finite_difference_gradient(w0, x, y)
    for after, before, g in zip(result.weights[0], w0, fd):
        np.testing.assert_allclose(after, before - 0.05 * g, atol=1e-8)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_optimizer_steps_equal_keras_optimizers(tiny, optimizer):
    """hw1's fused Adam/SGD kernels take the steps keras.optimizers.Adam/SGD take (defaults)."""
    import keras
    import tensorflow as tf

    steps, lr = 7, 2.0 ** -6  # exact in float32, where Keras keeps its learning rate
    result = train.train(build_tiny, tiny, train.TrainConfig(epochs=steps, learning_rate=lr, optimizer=optimizer,
                                                             loss="mse"), seeds=[4])
    model = build_tiny()
    model.set_weights(train.initial_weights(build_tiny, 4))
    # β as float64 tensors: given as Python floats, Keras rounds them to float32 before casting
    betas = {"beta_1": tf.constant(0.9, tf.float64), "beta_2": tf.constant(0.999, tf.float64)}
    keras_optimizer = keras.optimizers.Adam(lr, **betas) if optimizer == "adam" else keras.optimizers.SGD(lr)
    x, y = tf.constant(tiny.x_train, tf.float64), tf.constant(tiny.y_train, tf.float64)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(tf.square(model(x) - y))
        keras_optimizer.apply(tape.gradient(value, model.trainable_variables), model.trainable_variables)
    for ours, theirs in zip(result.weights[0], model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)  # float64 round-off
    assert not np.allclose(result.weights[0][0], train.initial_weights(build_tiny, 4)[0])


def test_loop_lowers_the_loss():
    line = data.function_data("2 * x - 1", 32, n_test=8)
    config = train.TrainConfig(epochs=300, learning_rate=1e-2, loss="mse")
    history = train.train(lambda: models.fc_net([16, 16]), line, config, seeds=[0], eval_every=100).history
    assert history["train_loss"].iloc[-1] < 0.01 * history["train_loss"].iloc[0]
    assert history["epoch"].tolist() == [0, 100, 200, 300]
    assert "test_loss" in history and "train_acc" not in history


def mnist_small():
    return data.subset(data.load("mnist_bundled"), 256, 64, seed=0)


def test_same_seed_same_history_and_batched_equals_single():
    ds = mnist_small()
    build = lambda: models.fc_net([16], ds.input_shape, 10)  # noqa: E731
    config = train.TrainConfig(epochs=2, batch_size=50, learning_rate=1e-3)
    batched = train.train(build, ds, config, seeds=[5, 6, 7])
    again = train.train(build, ds, config, seeds=[5, 6, 7])
    assert batched.history.equals(again.history)
    single = train.train(build, ds, config, seeds=[6])
    run1 = batched.history[batched.history["run"] == 1].drop(columns="run").reset_index(drop=True)
    alone = single.history.drop(columns="run").reset_index(drop=True)
    np.testing.assert_allclose(run1.to_numpy(), alone.to_numpy(), rtol=2e-5, atol=1e-6)
    for a, b in zip(batched.weights[1], single.weights[0]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # different seeds are different models
    assert not np.allclose(batched.weights[0][0], batched.weights[1][0])


def test_accuracy_is_the_full_set_accuracy():
    ds = mnist_small()
    build = lambda: models.fc_net([16], ds.input_shape, 10)  # noqa: E731
    result = train.train(build, ds, train.TrainConfig(epochs=1, batch_size=32), seeds=[0])
    model = build()
    model.set_weights(result.weights[0])
    logits = model.predict_on_batch(ds.x_test)
    last = result.final.iloc[0]
    assert last["test_acc"] == pytest.approx(np.mean(logits.argmax(-1) == ds.y_test))
    shifted = logits - logits.max(-1, keepdims=True)
    ce = -(shifted[np.arange(len(ds.y_test)), ds.y_test] - np.log(np.exp(shifted).sum(-1)))
    assert last["test_loss"] == pytest.approx(ce.mean(), rel=1e-5)


def test_divergence_is_recorded_not_raised(tiny):
    config = train.TrainConfig(epochs=50, learning_rate=1e4, optimizer="sgd", loss="mse")
    result = train.train(lambda: models.fc_net([5, 4]), tiny, config, seeds=[0, 1], eval_every=10)
    assert result.diverged == [True, True]
    assert result.history["train_loss"].iloc[-1] != result.history["train_loss"].iloc[-1]  # NaN
    assert result.history["epoch"].max() < 50  # stopped early: nothing left to train


def test_a_diverged_run_does_not_touch_its_neighbours(tiny):
    build = lambda: models.fc_net([5, 4])  # noqa: E731  (float32: huge weights overflow to inf)
    config = train.TrainConfig(epochs=20, learning_rate=0.05, optimizer="sgd", loss="mse")
    w_ok = train.initial_weights(build, 0)
    w_bad = [w * 1e8 for w in w_ok]
    both = train.train(build, tiny, config, seeds=[0, 1], init=[w_ok, w_bad], eval_every=20)
    alone = train.train(build, tiny, config, seeds=[0], init=[w_ok], eval_every=20)
    assert both.diverged == [False, True]
    np.testing.assert_allclose(both.weights[0][0], alone.weights[0][0], rtol=1e-5)
    assert np.isfinite(both.final["train_loss"].iloc[0]) and np.isnan(both.final["train_loss"].iloc[1])


def test_snapshots_and_stop_at_train_accuracy():
    ds = mnist_small()
    build = lambda: models.fc_net([32], ds.input_shape, 10)  # noqa: E731
    config = train.TrainConfig(epochs=7, batch_size=32)
    result = train.train(build, ds, config, seeds=[0, 1], callbacks=[train.Snapshots(every=3)])
    assert [(r, e) for r, e, _ in result.snapshots] == [(0, 0), (1, 0), (0, 3), (1, 3), (0, 6), (1, 6)]
    np.testing.assert_array_equal(result.snapshots[0][2][0], train.initial_weights(build, 0)[0])
    stop = train.TrainConfig(epochs=100, batch_size=32)
    stopped = train.train(build, ds, stop, seeds=[0], callbacks=[train.StopAt(train_acc=0.9)])
    assert stopped.final["train_acc"].iloc[0] >= 0.9 and stopped.final["epoch"].iloc[0] < 100


def test_grad_norm_objective_lowers_the_gradient(tiny):
    fitted = train.train(build_tiny, tiny, train.TrainConfig(epochs=500, learning_rate=1e-2, loss="mse"), seeds=[0],
                         eval_grad_norm=True)
    config = train.TrainConfig(epochs=500, learning_rate=1e-3, loss="mse", objective="grad_norm_sq")
    walked = train.train(build_tiny, tiny, config, seeds=[0], init=fitted.weights, eval_every=500, eval_grad_norm=True)
    assert walked.final["grad_norm"].iloc[0] < 0.1 * fitted.final["grad_norm"].iloc[0]


def test_grad_norm_is_measured_only_when_asked_for(tiny):
    plain = train.train(build_tiny, tiny, train.TrainConfig(epochs=3, loss="mse"), seeds=[0, 1])
    assert "grad_norm" not in plain.history.columns and plain.steps.empty
    measured = train.train(build_tiny, tiny, train.TrainConfig(epochs=3, loss="mse"), seeds=[0, 1],
                           callbacks=[train.StopAtGradNorm(1e-12)])
    assert measured.history["grad_norm"].notna().all()
    pd.testing.assert_frame_equal(plain.history, measured.history.drop(columns="grad_norm"))


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=-1), "epochs=-1"), (dict(epochs=1, loss="hinge"), "loss='hinge'"),
    (dict(epochs=1, batch_size=0), "batch_size=0"), (dict(epochs=1, learning_rate=float("nan")), "learning_rate"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train.TrainConfig(**kwargs)


def test_progress_is_reported_as_data_and_worded_by_the_harness(tiny):
    """Progress arrives as TrainProgress data (the mean loss of the evaluated runs, the time left); the
    experiment harness words it."""
    from hw1.lab.experiment import describe_training

    reports = []
    result = train.train(build_tiny, tiny, train.TrainConfig(epochs=6, loss="mse"), seeds=[0, 1], eval_every=2,
                         progress=reports.append, label="fit")
    assert len(reports) == 1  # quiet until the end (a line every 20 s at most)
    last = reports[0]
    assert (last.label, last.epoch, last.epochs, last.runs, last.seconds_left, last.capped) == ("fit", 6, 6, 2, 0.0,
                                                                                                False)
    assert last.train_loss == pytest.approx(result.final["train_loss"].mean()) and last.train_acc is None
    assert describe_training(last) == f"fit: epoch 6/6 train loss {last.train_loss:.4g} (mean of 2 runs), 0.0 s left"
    reports = []
    every = train.ReportProgress(reports.append, "fit", every_seconds=0.0)  # a report at every evaluation
    train.train(build_tiny, tiny, train.TrainConfig(epochs=6, loss="mse"), seeds=[0], eval_every=2,
                callbacks=[train.StopAt(train_loss=1e-12), every])
    assert [r.epoch for r in reports] == [2, 4, 6]
    assert [r.capped for r in reports] == [True, True, False]  # a stopping rule may end it sooner
    assert reports[0].seconds_left > 0 and reports[2].seconds_left == 0
    assert ", at most " in describe_training(reports[0]) and describe_training(reports[2]).endswith(", 0.0 s left")



def keras_schedule(config, steps_per_epoch):
    """The Keras schedule of a TrainConfig's (float64 rates, computed by Keras)."""
    import keras
    import tensorflow as tf

    lr = tf.constant(config.learning_rate, tf.float64)
    if config.schedule == "constant":
        return config.learning_rate  # Keras keeps it in float32: the tests use rates exact there
    if config.schedule == "step":
        # Keras's PiecewiseConstantDecay keeps values[i] while step <= boundaries[i]: a decay at the first step of
        # epoch e is a boundary at step e·steps_per_epoch − 1
        values = [tf.constant(config.learning_rate * config.decay_factor ** i, tf.float64)
                  for i in range(len(config.decay_epochs) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [e * steps_per_epoch - 1 for e in config.decay_epochs], values)
    return keras.optimizers.schedules.CosineDecay(lr, config.epochs * steps_per_epoch, alpha=config.decay_factor)


SCHEDULED = [
    # momenta exact in float32: Keras casts a Python float momentum through float32 (tf.cast(0.9, float64) is
    # 0.8999999761…), hw1 keeps it in float64
    dict(optimizer="sgd", momentum=0.875, learning_rate=2.0 ** -5),
    dict(optimizer="sgd", momentum=0.875, learning_rate=0.05, schedule="step", decay_epochs=(2, 4), decay_factor=0.1),
    dict(optimizer="sgd", momentum=0.5, learning_rate=0.05, schedule="cosine", decay_factor=0.0),
    dict(optimizer="sgd", learning_rate=0.05, schedule="cosine", decay_factor=0.2),
    dict(optimizer="adam", learning_rate=0.01, schedule="step", decay_epochs=(3,), decay_factor=0.3),
    dict(optimizer="adam", learning_rate=0.01, schedule="cosine", decay_factor=0.0),
]


@pytest.mark.parametrize("settings", SCHEDULED, ids=lambda s: "-".join(f"{v}" for v in s.values()))
def test_momentum_and_schedules_take_the_steps_keras_takes(tiny, settings):
    """Mini-batch SGD with momentum / Adam under a step or cosine schedule, float64, step for step against
    keras.optimizers.SGD(momentum=…) / Adam given the keras.optimizers.schedules schedule, on the same batches."""
    import keras
    import tensorflow as tf

    epochs, batch = 6, 8  # 32 points: 4 steps per epoch, 24 steps in all
    config = train.TrainConfig(epochs=epochs, batch_size=batch, loss="mse", **settings)
    result = train.train(build_tiny, tiny, config, seeds=[4], eval_every=epochs)
    model = build_tiny()
    model.set_weights(train.initial_weights(build_tiny, 4))
    rate = keras_schedule(config, 4)
    if config.optimizer == "adam":
        opt = keras.optimizers.Adam(rate, beta_1=tf.constant(0.9, tf.float64), beta_2=tf.constant(0.999, tf.float64))
    else:
        opt = keras.optimizers.SGD(rate, momentum=float(config.momentum))  # cast to float64 by Keras
    x, y = tiny.x_train.astype(np.float64), tiny.y_train.astype(np.float64)
    for epoch in range(epochs):
        # hw1's mini-batch order: a stateless permutation of (run seed, epoch), recomputed here
        order = tf.argsort(tf.random.stateless_uniform([32], tf.constant([4, epoch], tf.int64))).numpy()
        for s in range(4):
            idx = order[s * batch:(s + 1) * batch]
            with tf.GradientTape() as tape:
                value = tf.reduce_mean(tf.square(model(x[idx]) - y[idx]))
            opt.apply(tape.gradient(value, model.trainable_variables), model.trainable_variables)
    for ours, theirs in zip(result.weights[0], model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert not np.allclose(result.weights[0][0], train.initial_weights(build_tiny, 4)[0])


@pytest.mark.parametrize("settings, steps, expected", [
    (dict(schedule="step", decay_epochs=(3, 5), decay_factor=0.1),
     [0, 29, 30, 31, 49, 50, 99], [0.2, 0.2, 0.02, 0.02, 0.02, 0.002, 0.002]),
    (dict(schedule="cosine", decay_factor=0.0), [0, 50, 100, 150], [0.2, 0.1, 0.0, 0.0]),
    (dict(schedule="cosine", decay_factor=0.5), [0, 25, 50, 100], [0.2, 0.15 + 0.05 / 2 ** 0.5, 0.15, 0.1]),
    (dict(), [0, 77], [0.2, 0.2]),
])
def test_the_schedule_rate_at_chosen_steps(settings, steps, expected):
    """η(k) by hand (10 steps per epoch, cap 10 epochs = 100 steps) and by Keras's own schedule objects."""
    config = train.TrainConfig(epochs=10, learning_rate=0.2, optimizer="sgd", **settings)
    rates = train.learning_rate_at(config, np.array(steps), 10)
    np.testing.assert_allclose(rates, expected, rtol=1e-12, atol=1e-15)
    schedule = keras_schedule(config, 10)
    if callable(schedule):
        np.testing.assert_allclose([float(schedule(k)) for k in steps], rates, rtol=1e-12, atol=1e-15)
    assert train.learning_rate_at(config, steps[1], 10) == pytest.approx(expected[1], abs=1e-15)


def test_each_run_stops_at_its_first_evaluation_at_the_target_accuracy():
    """Per-run stopping on training accuracy: each run is frozen at its first evaluation ≥ the target (its
    history ends there, its weights are those of that evaluation); the others train on, unchanged by it."""
    import keras

    ds = mnist_small()
    build = lambda: models.fc_net([32], ds.input_shape, 10)  # noqa: E731
    free = train.train(build, ds, train.TrainConfig(epochs=12, batch_size=32), seeds=[0, 1, 2],
                       callbacks=[train.Snapshots(every=1)])
    acc = free.history.pivot(index="epoch", columns="run", values="train_acc")
    target = float(np.median(acc.loc[4]))  # a target the runs reach at different epochs
    first = [int(acc.index[acc[r] >= target][0]) for r in range(3)]
    assert len(set(first)) > 1, "the target should split the runs"
    stopping = train.train(build, ds, train.TrainConfig(epochs=12, batch_size=32), seeds=[0, 1, 2],
                           callbacks=[train.StopAt(train_acc=target)])
    assert stopping.stopped == first
    for r in range(3):
        mine = stopping.history[stopping.history["run"] == r]
        assert mine["epoch"].max() == first[r] and (mine["train_acc"].iloc[:-1] < target).all()
        snapshot = next(w for run, e, w in free.snapshots if run == r and e == first[r])
        for a, b in zip(stopping.weights[r], snapshot):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
        model = build()
        model.set_weights(stopping.weights[r])
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        assert model.evaluate(ds.x_train, ds.y_train, verbose=0)[1] == pytest.approx(mine["train_acc"].iloc[-1])


def test_test_set_scored_only_in_each_runs_last_row_gives_the_same_final_rows():
    """``test="end"``: each run's last row (its stop, or the cap) holds the same numbers as with the test set scored
    at every evaluation, bit for bit, and the test metrics Keras computes for the final weights; earlier rows
    have NaN test columns. With a stopping rule that splits the runs, and without one."""
    import keras

    ds = mnist_small()
    build = lambda: models.fc_net([32], ds.input_shape, 10)  # noqa: E731
    config = train.TrainConfig(epochs=8, batch_size=32)
    each = train.train(build, ds, config, seeds=[0, 1, 2])
    target = float(np.median(each.history.pivot(index="epoch", columns="run", values="train_acc").loc[3]))
    for callbacks in ([], [train.StopAt(train_acc=target)]):
        each = train.train(build, ds, config, seeds=[0, 1, 2], callbacks=callbacks)
        end = train.train(build, ds, config, seeds=[0, 1, 2], callbacks=callbacks, test="end")
        assert end.stopped == each.stopped and (not callbacks or len(set(end.stopped)) > 1)
        pd.testing.assert_frame_equal(end.final, each.final, check_exact=True)
        earlier = end.history.drop(end.history.groupby("run").tail(1).index)
        assert len(earlier) and earlier[["test_loss", "test_acc"]].isna().all().all()
        assert earlier[["train_loss", "train_acc"]].notna().all().all()
        for r, weights in enumerate(end.weights):
            model = build()
            model.set_weights(weights)
            model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
            loss, acc = model.evaluate(ds.x_test, ds.y_test, verbose=0)
            assert end.final.loc[r, "test_loss"] == pytest.approx(loss, rel=1e-5)
            assert end.final.loc[r, "test_acc"] == pytest.approx(acc)
    with pytest.raises(ValueError, match="test='last' is not one of 'each', 'end'"):
        train.train(build, ds, config, seeds=[0], test="last")


@pytest.mark.parametrize("kwargs, message", [
    (dict(momentum=0.9), "momentum=0.9 is SGD's"), (dict(optimizer="sgd", momentum=1.0), "momentum=1.0"),
    (dict(schedule="linear"), "schedule='linear'"), (dict(schedule="step"), "decay_epochs=()"),
    (dict(schedule="step", decay_epochs=(5, 3)), "decay_epochs=(5, 3)"),
    (dict(schedule="step", decay_epochs=(3,), decay_factor=0.0), "decay_factor=0.0"),
    (dict(schedule="cosine", decay_factor=1.5), "decay_factor=1.5"),
    (dict(decay_epochs=(3,)), "is for schedule='step'"),
])
def test_schedule_and_momentum_validation(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train.TrainConfig(epochs=10, **kwargs)


def test_stacked_classifier_runs_take_keras_adam_steps_on_their_own_batches():
    """Three stacked classifier runs, mini-batch (the last batch shorter), cross-entropy: each run, float64, step
    for step against keras.optimizers.Adam on keras's sparse cross-entropy of its own shuffled batches (the step
    computes the runs' logits vectorized and their losses in one op: this pins that to one model at a time)."""
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(7)
    n, batch, epochs, seeds = 20, 8, 3, [4, 5, 6]  # 3 steps per epoch: 8, 8, 4 samples
    x, y = rng.normal(size=(n, 3)), rng.integers(0, 4, n)
    dataset = data.Dataset("blobs", x, y, x[:0], y[:0], 4)
    build = lambda: models.fc_net([6], (3,), 4, dtype="float64")  # noqa: E731
    config = train.TrainConfig(epochs=epochs, batch_size=batch, learning_rate=2.0 ** -4)  # exact in float32
    result = train.train(build, dataset, config, seeds=seeds, eval_every=epochs)
    for r, seed in enumerate(seeds):
        model = build()
        model.set_weights(train.initial_weights(build, seed))
        opt = keras.optimizers.Adam(2.0 ** -4, beta_1=tf.constant(0.9, tf.float64),
                                    beta_2=tf.constant(0.999, tf.float64))
        for epoch in range(epochs):
            order = tf.argsort(tf.random.stateless_uniform([n], tf.constant([seed, epoch], tf.int64))).numpy()
            for s in range(3):
                idx = order[s * batch:(s + 1) * batch]
                with tf.GradientTape() as tape:
                    value = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y[idx], model(x[idx]),
                                                                                        from_logits=True))
                opt.apply(tape.gradient(value, model.trainable_variables), model.trainable_variables)
        for ours, theirs in zip(result.weights[r], model.get_weights()):
            np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
        assert not np.allclose(result.weights[r][0], train.initial_weights(build, seed)[0])
