"""Model builders: parameter counts solved from a target agree with Keras."""

import pytest

from hw1.lab import models


@pytest.mark.parametrize("target", [120, 600, 1500, 5000])
@pytest.mark.parametrize("depth", [1, 2, 4, 5, 7])
def test_widths_reach_target_within_two_percent(depth, target):
    widths = models.widths_for_params(depth, target)
    model = models.fc_net(widths)
    assert len(widths) == depth
    assert model.count_params() == models.fc_param_count(widths)
    assert abs(model.count_params() - target) <= 0.02 * target


def test_fc_param_count_by_hand():
    # 1-20-20-1: (1+1)*20 + (20+1)*20 + (20+1)*1 = 40 + 420 + 21
    assert models.fc_param_count([20, 20]) == 481
    assert models.fc_net([20, 20]).count_params() == 481
    # 784-32-10 on images
    assert models.fc_net([32], (28, 28, 1), 10).count_params() == 785 * 32 + 33 * 10


def test_impossible_target_is_an_error():
    with pytest.raises(ValueError, match="within"):
        models.widths_for_params(7, 20)


def test_cnn_and_rnn_counts_by_hand():
    cnn = models.cnn((28, 28, 1), 10, filters=(8, 16), dense=32)
    conv = (3 * 3 * 1 + 1) * 8 + (3 * 3 * 8 + 1) * 16
    dense = (7 * 7 * 16 + 1) * 32 + (32 + 1) * 10
    assert cnn.count_params() == conv + dense
    rnn = models.rnn((28, 28, 1), 10, units=64)
    lstm = 4 * (64 * (28 + 64) + 64)
    assert rnn.count_params() == lstm + (64 + 1) * 10


def test_describe():
    assert models.describe(models.fc_net([20, 20])) == "Dense(20) → Dense(20) → Dense(1)"


def test_fc_settings_describes_the_built_net_as_keras_counts_it():
    model = models.fc_net([128, 64], (28, 28, 1), 10, activation="tanh")
    assert models.fc_settings(model) == {"architecture": "MLP 784-128-64-10", "activation": "tanh",
                                         "params": model.count_params()}
    assert model.count_params() == models.fc_param_count([128, 64], 784, 10) == 109_386


def test_fc_classifier_fits_its_dataset_and_builds_fresh_nets():
    import numpy as np

    from hw1.lab.validate import Dataset

    images, labels = np.zeros((6, 7, 5, 3), np.float32), np.arange(6, dtype=np.int32) % 4
    model, build = models.fc_classifier((9,), Dataset("toy", images, labels, images[:2], labels[:2], 4))
    assert model.input_shape == (None, 7, 5, 3) and model.output_shape == (None, 4)
    assert model.count_params() == models.fc_param_count([9], 7 * 5 * 3, 4) == (105 + 1) * 9 + (9 + 1) * 4
    fresh = build()
    assert fresh is not model and models.fc_settings(fresh) == models.fc_settings(model)
    assert [v.name for v in fresh.trainable_variables] == [v.name for v in model.trainable_variables]
