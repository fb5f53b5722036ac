"""The compute floor of a protocol: how fast ANY implementation could run it on this machine.

A protocol's unavoidable work is counted as the floating-point operations of its matrix
products (Dense, Conv2D and LSTM kernels; a multiply-add is 2 FLOPs) and nothing else: per
trained sample, the forward pass, the weight gradients, and the input gradients of every
weighted layer but the first (``3·F − F_first``); per evaluated sample, one forward pass.
Only training and the full-set evaluations the protocol asks for (1-3c's α points among them)
are counted (not the Jacobians, sharpness ascents or Hessian-vector products that some
protocols add, nor element-wise ops, data movement, figures). Dividing by the best float32 GEMM rate this
machine reaches gives a time no implementation can beat; ``reference / floor`` is then the
largest speed-up over the reference that is possible at all.

``FLOORS = {experiment: fn(settings, results_folder) -> (flops, note)}`` for the experiments
whose mini-batch training on MNIST dominates; ``results_folder`` holds hw1's run of it
(read where the protocol has a data-dependent length: the epochs to memorize random labels,
the epochs each 1-3b model took to its criterion and each sensitivity model to its loss target). Every seed (run) of a protocol is
counted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from hw1.lab import models
from reference_common import sensitivity_models


def layer_flops(model: keras.Model) -> list[int]:
    """Forward FLOPs per sample of each weighted layer (Dense, Conv2D, LSTM), in order."""
    flops = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, _ = layer.output.shape
            flops.append(2 * int(np.prod(layer.kernel.shape)) * height * width)
        elif isinstance(layer, keras.layers.Dense):
            positions = int(np.prod(layer.output.shape[1:-1])) if len(layer.output.shape) > 2 else 1
            flops.append(2 * int(np.prod(layer.kernel.shape)) * positions)
        elif isinstance(layer, keras.layers.LSTM):
            steps = layer.input.shape[1]
            cell = layer.cell
            flops.append(2 * steps * (int(np.prod(cell.kernel.shape)) + int(np.prod(cell.recurrent_kernel.shape))))
    return flops


def forward_flops(model: keras.Model) -> int:
    """Matrix-product FLOPs of one sample's forward pass."""
    return sum(layer_flops(model))


def training_flops(model: keras.Model) -> int:
    """Matrix-product FLOPs of one sample's training step: forward, weight gradients, and input
    gradients of every weighted layer but the first."""
    per_layer = layer_flops(model)
    return 3 * sum(per_layer) - per_layer[0]


def gemm_gflops(repeats: int = 5) -> float:
    """The best float32 matrix-product rate (GFLOP/s) measured here, over a few large shapes."""
    best = 0.0
    for m, k, n in ((4000, 784, 512), (2048, 2048, 2048), (1024, 1024, 1024)):
        a, b = tf.random.normal([m, k]), tf.random.normal([k, n])
        product = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
        product(a, b).numpy()
        for _ in range(repeats):
            start = time.perf_counter()
            product(a, b).numpy()
            best = max(best, 2 * m * k * n / (time.perf_counter() - start) / 1e9)
    return best


# ---------------------------------------------------------------- protocols

def _shape(settings: dict) -> tuple[tuple[int, ...], int, int, int]:
    ds = settings["dataset"]
    return tuple(ds["input_shape"]), ds["num_classes"], ds["train_size"], ds["test_size"]


def _fc(widths: list[int], settings: dict) -> keras.Model:
    shape, classes, _, _ = _shape(settings)
    return models.fc_net(widths, shape, classes)


def _trained(model: keras.Model, epochs: int, evaluations: int, settings: dict) -> int:
    """FLOPs of ``epochs`` epochs of training and ``evaluations`` full train + test evaluations."""
    _, _, n_train, n_test = _shape(settings)
    return epochs * n_train * training_flops(model) + evaluations * (n_train + n_test) * forward_flops(model)


def actual_task(settings: dict, folder: Path) -> tuple[int, str]:
    shape, classes, _, _ = _shape(settings)
    builders = models.image_classifiers(shape, classes, settings["dnn_width"], settings["cnn_filters"],
                                        settings["cnn_dense"], settings["rnn_units"])
    built = [build() for build in builders.values()]
    epochs, runs = settings["epochs"], settings["runs"]
    return runs * sum(_trained(m, epochs, epochs + 1, settings) for m in built), \
        f"{len(built)} models × {runs} seeds × {epochs} epochs, train + test metrics at epoch 0 and every epoch"


def visualize_optimization(settings: dict, folder: Path) -> tuple[int, str]:
    epochs, every, runs = settings["epochs"], settings["snapshot_every"], settings["runs"]
    model = _fc(settings["widths"], settings)
    return runs * _trained(model, epochs, epochs // every + 1, settings), \
        f"{runs} runs × {epochs} epochs, metrics every {every}"


def random_labels(settings: dict, folder: Path) -> tuple[int, str]:
    epochs = int(pd.read_csv(folder / "history.csv")["epoch"].max())
    return _trained(_fc(settings["widths"], settings), epochs, epochs + 1, settings), \
        f"{epochs} epochs (hw1's run reached the target there), metrics every epoch"


def params_vs_generalization(settings: dict, folder: Path) -> tuple[int, str]:
    """Per model (models.csv): the epochs it trained (to the criterion, else the cap), a training-set check of
    the criterion at epoch 0 and after every epoch, one test-set evaluation at the end."""
    _, _, n_train, n_test = _shape(settings)
    runs = pd.read_csv(folder / "models.csv")
    nets = {w: _fc([int(w)], settings) for w in runs["width"].unique()}  # one model per width, not per seed
    flops = 0
    for width, epochs in zip(runs["width"], runs["epochs"]):
        model = nets[width]
        flops += int(epochs) * n_train * training_flops(model) + ((int(epochs) + 1) * n_train + n_test) \
            * forward_flops(model)
    return flops, (f"{runs['width'].nunique()} widths × {runs['seed'].nunique()} seeds to the criterion or the cap: "
                   f"{int(runs['epochs'].sum()):,} epochs in all, the criterion checked every epoch, test at the end")


def interpolation(settings: dict, folder: Path) -> tuple[int, str]:
    epochs, points, pairs = settings["epochs"], settings["alpha_points"], 2
    _, _, n_train, n_test = _shape(settings)
    model = _fc(settings["widths"], settings)
    alphas = pairs * points * (n_train + n_test) * forward_flops(model)
    return 3 * _trained(model, epochs, 1, settings) + alphas, \
        f"3 endpoints × {epochs} epochs, {pairs} pairs × {points} α points on the training and test sets"


def sensitivity(settings: dict, folder: Path) -> tuple[int, str]:
    """Per model (models.csv, the shared condition once): its epochs of training, a full training-set
    evaluation at each check of the loss target, one test-set evaluation at the end."""
    _, _, n_train, n_test = _shape(settings)
    model = _fc(settings["widths"], settings)
    runs = sensitivity_models(settings, folder)
    epochs, checks = int(runs["epochs"].sum()), int(runs["checks"].sum())
    flops = epochs * n_train * training_flops(model) + (checks * n_train + len(runs) * n_test) * forward_flops(model)
    return flops, (f"{len(runs)} models to the loss target: {epochs:,} epochs ({int(runs['steps'].sum()):,} steps), "
                   f"{checks:,} training-set checks (Jacobians, sharpness, λmax not counted)")


FLOORS: dict[str, Callable[[dict, Path], tuple[int, str]]] = {
    "part1_actual_task": actual_task, "part2_visualize_optimization": visualize_optimization,
    "part3_random_labels": random_labels, "part3_params_vs_generalization": params_vs_generalization,
    "part3_interpolation": interpolation, "part3_sensitivity": sensitivity,
}
