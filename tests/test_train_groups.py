"""The trainer's run groups: which runs train stacked together, and that grouping does not change a run."""

import numpy as np
import pytest

from conftest import build_tiny
from hw1.lab import data, models, train


def test_activation_units_are_the_layers_output_sizes():
    assert train.activation_units(models.fc_net([5, 4])) == 5 + 4 + 1
    cnn = models.cnn((28, 28, 1), 10, filters=(8, 16), dense=32)
    # conv 28·28·8, pool 14·14·8, conv 14·14·16, pool 7·7·16, flatten 784, dense 32, logits 10
    assert train.activation_units(cnn) == 6272 + 1568 + 3136 + 784 + 784 + 32 + 10


@pytest.mark.parametrize("budget, sizes", [
    (2560 * 10, [10]),              # all ten runs' activations fit: one stacked group
    (2560 * 10 - 1, [1] * 10),      # one byte short: one run at a time
    (100, [1] * 10),
])
def test_group_sizes_follow_the_activation_budget(tiny, monkeypatch, budget, sizes):
    # a float64 1-5-4-1 net on 32 samples: 32 samples × 10 activations × 8 bytes = 2560 bytes per run's step
    monkeypatch.setattr(train, "GROUP_BYTES", budget)
    config = train.TrainConfig(epochs=1, loss="mse")
    assert train.run_groups(build_tiny(), tiny, config, 10) == sizes
    assert train.run_groups(build_tiny(), tiny, config, 10, [train.StopAt(train_loss=1e-3)]) == sizes


def test_mini_batch_steps_and_cross_run_callbacks_keep_the_runs_stacked(tiny, monkeypatch):
    monkeypatch.setattr(train, "GROUP_BYTES", 100)
    full = train.TrainConfig(epochs=1, loss="mse")
    assert train.run_groups(build_tiny(), tiny, train.TrainConfig(epochs=1, batch_size=8, loss="mse"), 10) == [10]
    assert train.run_groups(build_tiny(), tiny, train.TrainConfig(epochs=1, batch_size=32, loss="mse"), 10) == [1] * 10
    # StopAtGradNorm stops all runs when every run is below the tolerance: a run's end depends on the others
    assert train.run_groups(build_tiny(), tiny, full, 10, [train.StopAtGradNorm(1e-3)]) == [10]
    assert train.run_groups(build_tiny(), tiny, full, 10, [train.Snapshots(every=5)]) == [10]
    assert train.run_groups(build_tiny(), tiny, full, 1) == [1]


def test_convolutions_and_recurrences_train_one_run_at_a_time_at_any_batch_size():
    """1-1b's CNN and LSTM do not vectorize over runs: split at mini-batch as at full batch; its MLPs stay stacked,
    and a callback that couples the runs keeps even a CNN's runs together."""
    ds = data.subset(data.load("mnist_bundled"), 64, 16, seed=0)
    build = models.image_classifiers(ds.input_shape, 10, 8, [2, 4], 8, 4)
    mini = train.TrainConfig(epochs=1, batch_size=16)
    assert [train.unstackable(b()) for b in build.values()] == [False, True, True]
    assert train.run_groups(build["cnn"](), ds, mini, 3) == train.run_groups(build["rnn"](), ds, mini, 3) == [1] * 3
    assert train.run_groups(build["dnn"](), ds, mini, 3) == [3]
    assert train.run_groups(build["cnn"](), ds, mini, 3, [train.Snapshots(every=1)]) == [3]


def test_a_cnn_trained_one_run_at_a_time_equals_its_stacked_training(monkeypatch):
    """The same runs, stacked (the rule switched off) and one at a time: the same losses and weights up to float32
    round-off, every row in the same place."""
    ds = data.subset(data.load("mnist_bundled"), 96, 32, seed=0)
    build = models.image_classifiers(ds.input_shape, 10, 8, [2, 4], 8, 4)["cnn"]
    config = train.TrainConfig(epochs=2, batch_size=32)
    alone = train.train(build, ds, config, seeds=[1, 2, 3])
    monkeypatch.setattr(train, "unstackable", lambda model: False)
    assert train.run_groups(build(), ds, config, 3) == [3]
    stacked = train.train(build, ds, config, seeds=[1, 2, 3])
    assert alone.history[["run", "epoch"]].equals(stacked.history[["run", "epoch"]])
    for column in ("train_loss", "train_acc", "test_loss", "test_acc"):
        np.testing.assert_allclose(alone.history[column], stacked.history[column], rtol=2e-4, atol=1e-6)
    for ours, theirs in zip(alone.weights, stacked.weights):
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    assert not np.allclose(alone.weights[0][0], alone.weights[1][0])


def test_a_model_of_unknown_activations_keeps_its_runs_stacked(tiny, monkeypatch):
    import keras

    class Subclassed(keras.Model):  # its layers never see a symbolic input: their outputs are unknown
        def __init__(self):
            super().__init__()
            self.hidden, self.out = keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)

        def call(self, x):
            return self.out(self.hidden(x))

    model = Subclassed()
    model(np.zeros((1, 1), np.float32))
    assert train.activation_units(model) is None
    monkeypatch.setattr(train, "GROUP_BYTES", 100)
    assert train.run_groups(model, tiny, train.TrainConfig(epochs=1, loss="mse"), 10) == [10]


def test_part1_simulate_function_shapes():
    """1-1a's shapes (10 runs, full batch): at full size (1,000 samples) the 1-500-1 net's ten stacked activations
    (10 × 1000 × 501 × 4 B = 20 MB) are split into runs one at a time; the deeper, narrower nets (2: 3.0 MB, 7:
    4.3 MB) and the default profile's (256 samples; depth 1: 2.1 MB) stay stacked."""
    config = train.TrainConfig(epochs=1, loss="mse")
    for samples, target, depth, sizes in [(1000, 1500, 1, [1] * 10), (1000, 1500, 2, [10]), (1000, 1500, 7, [10]),
                                          (256, 600, 1, [10]), (256, 600, 7, [10])]:
        widths = models.widths_for_params(depth, target)
        dataset = data.function_data(data.FUNCTIONS["sinc"], samples)
        assert train.run_groups(models.fc_net(widths), dataset, config, 10) == sizes, (samples, widths)


def _train_five(tiny, monkeypatch, budget):
    monkeypatch.setattr(train, "GROUP_BYTES", budget)
    seeds = [3, 4, 5, 6, 7]
    init = [train.initial_weights(build_tiny, s) for s in seeds]
    init[3] = [w * 1e150 for w in init[3]]  # this run diverges (its loss overflows to inf)
    config = train.TrainConfig(epochs=60, learning_rate=1e-2, loss="mse")
    return train.train(build_tiny, tiny, config, seeds, init=init, eval_every=10,
                       callbacks=[train.StopAt(train_loss=0.045)])


def test_grouped_training_equals_stacked_training(tiny, monkeypatch):
    stacked = _train_five(tiny, monkeypatch, 10**9)
    grouped = _train_five(tiny, monkeypatch, 100)  # one at a time
    assert train.run_groups(build_tiny(), tiny, train.TrainConfig(epochs=1, loss="mse"), 5) == [1] * 5
    assert stacked.diverged == grouped.diverged == [False, False, False, True, False]
    assert stacked.stopped == grouped.stopped == [None, 60, None, None, 40]
    assert any(s is not None for s in stacked.stopped) and any(s is None for s in stacked.stopped)
    assert list(grouped.history.columns) == list(stacked.history.columns)
    assert grouped.history[["run", "epoch"]].equals(stacked.history[["run", "epoch"]])  # same rows, same order
    np.testing.assert_allclose(grouped.history["train_loss"], stacked.history["train_loss"], rtol=1e-9)
    for run, (ours, theirs) in enumerate(zip(grouped.weights, stacked.weights)):
        if run != 3:  # a diverged run's weights are what the masked steps left: they mean nothing
            for a, b in zip(ours, theirs):
                np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert not np.allclose(grouped.weights[0][0], grouped.weights[1][0])  # the runs are different models


def test_grouped_training_is_deterministic(tiny, monkeypatch):
    first, again = _train_five(tiny, monkeypatch, 100), _train_five(tiny, monkeypatch, 100)
    assert first.history.equals(again.history)
    for ours, theirs in zip(first.weights, again.weights):
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)
