"""The benchmark's compute floor counts FLOPs the way TensorFlow's own op statistics do, every seed and every
step a protocol took; the references replay the protocols of the current experiments."""

import inspect
import sys

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops

from conftest import ROOT
from hw1.measure import core
from hw1.lab import models

sys.path.insert(0, str(ROOT / "benchmarks"))
import floor  # noqa: E402
import reference_common  # noqa: E402
import reference_part3  # noqa: E402

MNIST = {"input_shape": [28, 28, 1], "num_classes": 10, "train_size": 100, "test_size": 20}


def tensorflow_flops(model, input_shape):
    """FLOPs of the MatMul/Conv2D ops in the traced forward graph of one sample, by TF's registered statistics."""
    weights = [v.value for v in model.trainable_variables]
    graph = tf.function(lambda x: core.forward(model, weights, x)).get_concrete_function(
        tf.TensorSpec([1, *input_shape])).graph
    return [tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value
            for op in graph.get_operations() if op.type in ("MatMul", "Conv2D")]


@pytest.mark.parametrize("build", [lambda: models.fc_net([64, 32], (28, 28, 1), 10),
                                   lambda: models.cnn((28, 28, 1), 10, [8, 16], 32),
                                   models.image_classifiers((28, 28, 1), 10, 32, [8, 16], 32, 64)["dnn"],
                                   models.image_classifiers((28, 28, 1), 10, 32, [8, 16], 32, 64)["cnn"]])
def test_forward_flops_equal_tensorflow_statistics(build):
    model = build()
    assert floor.layer_flops(model) == tensorflow_flops(model, (28, 28, 1))


def test_lstm_and_training_flops():
    lstm = models.rnn((28, 28, 1), 10, units=8)
    # 28 steps of x(28)·W(28×32) + h(8)·U(8×32), then 8 → 10
    assert floor.layer_flops(lstm) == [2 * 28 * (28 * 32 + 8 * 32), 2 * 8 * 10]
    mlp = models.fc_net([64], (28, 28, 1), 10)
    first, second = 2 * 784 * 64, 2 * 64 * 10
    assert floor.training_flops(mlp) == 3 * (first + second) - first


def test_params_floor_counts_each_models_own_epochs(tmp_path):
    """1-3b: per model its own epochs to the criterion (models.csv), a training-set check at epoch 0 and after each
    epoch, one test-set pass at the end."""
    rows = [(4, 0, 3), (4, 1, 5), (8, 0, 2), (8, 1, 2)]
    pd.DataFrame(rows, columns=["width", "seed", "epochs"]).to_csv(tmp_path / "models.csv", index=False)
    flops, note = floor.params_vs_generalization({"dataset": MNIST, "epochs": 9, "widths": [4, 8], "runs": 2},
                                                 tmp_path)
    net = {w: models.fc_net([w], (28, 28, 1), 10) for w in (4, 8)}
    expected = sum(e * 100 * floor.training_flops(net[w]) + ((e + 1) * 100 + 20) * floor.forward_flops(net[w])
                   for w, _, e in rows)
    assert flops == expected and note.startswith("2 widths × 2 seeds") and "12 epochs" in note


def test_interpolation_floor_counts_the_endpoints_and_every_alpha_point():
    settings = {"dataset": MNIST, "epochs": 3, "widths": [4], "alpha_points": 7}
    flops, note = floor.interpolation(settings, ROOT)
    net = models.fc_net([4], (28, 28, 1), 10)
    # 3 endpoints: 3 epochs of 100 samples and one evaluation of both sets; 2 pairs × 7 α on both sets
    expected = 3 * (3 * 100 * floor.training_flops(net) + 120 * floor.forward_flops(net)) \
        + 2 * 7 * 120 * floor.forward_flops(net)
    assert flops == expected and "7 α points" in note


def test_actual_task_floor_counts_every_model_and_seed():
    settings = {"dataset": MNIST, "epochs": 2, "runs": 3, "dnn_width": 8, "cnn_filters": [4, 8], "cnn_dense": 8,
                "rnn_units": 8}
    flops, note = floor.actual_task(settings, ROOT)
    built = [b() for b in models.image_classifiers((28, 28, 1), 10, 8, [4, 8], 8, 8).values()]
    # per model and seed: 2 epochs of 100 samples, train + test metrics at epoch 0 and after each epoch
    expected = 3 * sum(2 * 100 * floor.training_flops(m) + 3 * 120 * floor.forward_flops(m) for m in built)
    assert flops == expected and "3 seeds" in note


def _sensitivity_run(tmp_path):
    """A models.csv as part3_sensitivity writes it: the shared condition (batch 16, lr 1e-3) listed twice."""
    rows = [("batch_size", 16, 1e-3, 0, 9, 63), ("batch_size", 100, 1e-3, 0, 40, 40),
            ("learning_rate", 16, 1e-3, 0, 9, 63), ("learning_rate", 50, 1e-2, 0, 25, 50)]
    table = pd.DataFrame(rows, columns=["sweep", "batch_size", "learning_rate", "seed", "epochs", "steps"])
    table.assign(diverged=False).to_csv(tmp_path / "models.csv", index=False)
    return {"dataset": MNIST, "widths": [4], "check_steps": 20}


def test_sensitivity_models_replay_the_steps_and_checks_taken(tmp_path):
    runs = reference_common.sensitivity_models(_sensitivity_run(tmp_path), tmp_path)
    # batch 16: 7 steps per epoch, a check every 3 epochs; full batch: 1 step, every 20; batch 50: 2 steps, every 10
    assert runs[["batch_size", "per_epoch", "every", "checks"]].values.tolist() == [[16, 7, 3, 3], [100, 1, 20, 2],
                                                                                   [50, 2, 10, 3]]


def test_sensitivity_floor_counts_the_epochs_and_checks_of_every_model(tmp_path):
    settings = _sensitivity_run(tmp_path)
    flops, note = floor.sensitivity(settings, tmp_path)
    model = models.fc_net([4], (28, 28, 1), 10)
    expected = (9 + 40 + 25) * 100 * floor.training_flops(model) + \
        ((3 + 2 + 3) * 100 + 3 * 20) * floor.forward_flops(model)
    assert flops == expected and note.startswith("3 models")


def test_sensitivity_models_refuse_a_different_protocol(tmp_path):
    settings = _sensitivity_run(tmp_path)
    table = pd.read_csv(tmp_path / "models.csv")
    table.loc[0, "steps"] = 60  # not 9 epochs × 7 steps
    table.to_csv(tmp_path / "models.csv", index=False)
    with pytest.raises(ValueError, match="steps"):
        reference_common.sensitivity_models(settings, tmp_path)


def test_minimal_ratio_replays_the_steps_each_run_took(tmp_path):
    import reference_part2

    stages = pd.DataFrame({"activation": ["relu"] * 4 + ["tanh"] * 2, "run": [0, 0, 1, 1, 0, 0],
                           "stage": ["loss", "grad_norm"] * 3, "steps": [300, 100, 300, 200, 300, 0],
                           "grad_norm": [1e-2, 5e-5, 1e-2, 3e-4, 1e-2, 5e-5]})
    stages.to_csv(tmp_path / "stages.csv", index=False)
    steps = reference_part2.minimal_ratio_grad_steps({"grad_tol": 1e-4, "grad_steps": 500}, tmp_path)
    assert steps == {"relu": [100, 500], "tanh": [0]}  # run 1 never reached the tolerance: the whole cap


def test_jobs_extrapolate_from_the_steady_units(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(reference_common.time, "perf_counter", lambda: clock[0])

    def unit(seconds=1.0):
        clock[0] += seconds

    jobs = reference_common.Jobs(budget=0.0, jobs=3)
    assert jobs.run("ten units", 10, unit) == 10.0  # two measured, eight extrapolated at 1 s
    assert jobs.run("nothing", 0, unit) == 0.0
    assert jobs.run("six at least", 10, unit, min_units=6, left=lambda done: 2) == 8.0
    found = jobs.result("test")
    assert found["seconds"] == 18.0 and found["measured_seconds"] == 8.0 and "ran 2 of 10" in found["note"]


def test_power_iteration_extrapolates_the_geometric_decay():
    import reference_part3

    changes = [np.nan] + [0.1 * 0.5 ** k for k in range(5)]  # last 0.1/16; 1e-3 needs ceil(log2(6.25)) = 3 more
    assert reference_part3._power_iterations_left(changes, 1e-3, 300)(6) == 3
    assert reference_part3._power_iterations_left([np.nan, 0.1, 0.2, 0.3], 1e-3, 300)(4) == 296  # not decaying


def test_every_experiment_has_a_reference_that_reads_hw1s_run():
    import reference_part1
    import reference_part2
    import reference_part3

    found = {**reference_part1.REFERENCES, **reference_part2.REFERENCES, **reference_part3.REFERENCES}
    assert set(found) == {p.stem for p in (ROOT / "experiments").glob("part*.py")}
    assert all(list(inspect.signature(fn).parameters) == ["settings", "budget_seconds", "folder"]
               for fn in found.values())


@pytest.mark.parametrize("targets, words", [((None, 0.99), "training accuracy ≥ 0.99"),
                                            ((0.01, None), "training loss ≤ 0.01"),
                                            ((0.05, 0.9), "training loss ≤ 0.05 or training accuracy ≥ 0.9")])
def test_the_params_reference_words_either_criterion(targets, words):
    """The full profile's 1-3b stops on accuracy (target_loss None): its reference once crashed formatting None."""
    assert reference_part3.criterion(dict(zip(("target_loss", "target_acc"), targets))) == words
