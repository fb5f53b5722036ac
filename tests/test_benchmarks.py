"""The benchmark's compute floor counts FLOPs the way TensorFlow's own op statistics do."""

import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops

from conftest import ROOT
from hw1 import core, models

sys.path.insert(0, str(ROOT / "benchmarks"))
import floor  # noqa: E402


def tensorflow_flops(model, input_shape):
    """FLOPs of the MatMul/Conv2D ops in the traced forward graph of one sample, by TF's registered statistics."""
    weights = [v.value for v in model.trainable_variables]
    graph = tf.function(lambda x: core.forward(model, weights, x)).get_concrete_function(
        tf.TensorSpec([1, *input_shape])).graph
    return [tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value
            for op in graph.get_operations() if op.type in ("MatMul", "Conv2D")]


@pytest.mark.parametrize("build", [lambda: models.fc_net([64, 32], (28, 28, 1), 10),
                                   lambda: models.cnn((28, 28, 1), 10, [8, 16], 32)])
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


def test_protocol_flops_add_up_per_model():
    settings = {"dataset": {"input_shape": [28, 28, 1], "num_classes": 10, "train_size": 100, "test_size": 20},
                "epochs": 3, "widths": [4, 8]}
    flops, _ = floor.params_vs_generalization(settings, ROOT)
    expected = sum(3 * 100 * floor.training_flops(models.fc_net([w], (28, 28, 1), 10))
                   + 120 * floor.forward_flops(models.fc_net([w], (28, 28, 1), 10)) for w in (4, 8))
    assert flops == expected and np.isfinite(flops)
