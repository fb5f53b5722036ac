"""Benchmark: where the time of one optimizer step goes in the full-size mini-batch protocols.

``benchmarks/floor.py`` prices a protocol's matrix products at the best float32 GEMM rate this
machine reaches (large square-ish matrices). A mini-batch step multiplies small matrices (a
batch of 16 to 128 rows) and then updates every weight with Adam. For each full-size protocol
this measures, per optimizer step:

- ``floor_ms``: the step's matrix-product FLOPs (``floor.training_flops``) at the best GEMM rate;
- ``gemm_ms``: the same matrix products at the step's own shapes (forward, weight gradients,
  input gradients, for all stacked runs), alone in a graph loop (MLPs only);
- ``adam_ms``: the Adam update of all the step's weights, alone in a graph loop;
- ``hw1_ms``: hw1's whole training step: ``train.train`` for ``1 + EPOCHS`` epochs minus for 1
  epoch (tracing and the evaluations cancel; a first call pays the one-time costs untimed), on
  random images, ``STEPS`` batches of them (a step costs the same whatever the size of the set
  it is drawn from).

``hw1_ms / floor_ms`` is the protocol's training part of ``hw1 ÷ floor``; ``(gemm_ms + adam_ms)
/ floor_ms`` is what the step's own matrix shapes and the optimizer cost before any overhead of
hw1's: an implementation doing nothing else per step could not go below it.

Run: ``python benchmarks/bench_step.py``. Prints a table and writes
``benchmarks/results_step.csv``.
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from floor import gemm_gflops, training_flops  # noqa: E402
from hw1.lab import experiment, models, train  # noqa: E402
from hw1 import results  # noqa: E402
from hw1.lab.validate import Dataset  # noqa: E402

LOOP = 200  # steps per timed graph loop
SHAPE, CLASSES = (28, 28, 1), 10
STEPS, EPOCHS = 200, 5  # hw1's step is timed over STEPS * EPOCHS steps

# protocol, builder, batch size, stacked runs (seeds trained together)
CASES = [
    ("part3_random_labels: 784-512-512-10", lambda: models.fc_net([512, 512], SHAPE, CLASSES), 128, 1),
    ("part3_params_vs_generalization: width 2048", lambda: models.fc_net([2048], SHAPE, CLASSES), 128, 3),
    ("part3_params_vs_generalization: width 64", lambda: models.fc_net([64], SHAPE, CLASSES), 128, 3),
    ("part2_visualize_optimization: 784-128-128-10", lambda: models.fc_net([128, 128], SHAPE, CLASSES), 128, 8),
    ("part3_sensitivity: 784-128-10, batch 64", lambda: models.fc_net([128], SHAPE, CLASSES), 64, 3),
    ("part3_sensitivity: 784-128-10, batch 16", lambda: models.fc_net([128], SHAPE, CLASSES), 16, 3),
    ("part1_actual_task: CNN", lambda: models.image_classifiers(SHAPE, CLASSES, 32, [8, 16], 32, 64)["cnn"](), 128, 3),
    ("part1_actual_task: LSTM", lambda: models.image_classifiers(SHAPE, CLASSES, 32, [8, 16], 32, 64)["rnn"](), 128, 3),
]


def _timed(fn, *args) -> float:
    """Seconds per call of a compiled ``fn`` (best of 3, after a warm-up call)."""
    fn(*args)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def gemm_ms(model: keras.Model, batch: int, runs: int) -> float:
    """Milliseconds of one step's matrix products at its own shapes, for ``runs`` stacked MLPs."""
    kernels = [layer.kernel.shape for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    acts = [tf.random.normal([runs, batch, k[0]]) for k in kernels]
    deltas = [tf.random.normal([runs, batch, k[1]]) for k in kernels]
    weights = [tf.random.normal([runs, *k]) for k in kernels]

    @tf.function
    def loop(acts, deltas, weights):
        total = tf.constant(0.0)
        for _ in tf.range(LOOP):
            for i, (a, d, w) in enumerate(zip(acts, deltas, weights)):
                a = a + total * 0.0  # depends on the loop, so nothing is hoisted out of it
                total += tf.reduce_sum(tf.matmul(a, w)[:, :1, :1])                  # forward
                total += tf.reduce_sum(tf.matmul(a, d, transpose_a=True)[:, :1, :1])  # weight gradient
                if i:
                    total += tf.reduce_sum(tf.matmul(d, w, transpose_b=True)[:, :1, :1])  # input gradient
        return total

    return _timed(loop, acts, deltas, weights) / LOOP * 1e3


def adam_ms(model: keras.Model, runs: int) -> float:
    """Milliseconds of one Adam update of ``runs`` stacked copies of ``model``'s weights."""
    variables = [tf.Variable(tf.zeros([runs, *w.shape])) for w in model.weights]
    m = [tf.Variable(tf.zeros_like(v)) for v in variables]
    v2 = [tf.Variable(tf.zeros_like(v)) for v in variables]
    grads = [tf.random.normal(v.shape) for v in variables]

    @tf.function
    def loop(grads):
        for _ in tf.range(LOOP):
            for var, a, b, g in zip(variables, m, v2, grads):
                tf.raw_ops.ResourceApplyAdam(var=var.handle, m=a.handle, v=b.handle, beta1_power=0.9, beta2_power=0.999,
                                             lr=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-7, grad=g)
        return tf.constant(0)

    return _timed(loop, grads) / LOOP * 1e3


def hw1_ms(build, batch: int, runs: int) -> float:
    """Milliseconds of one step of hw1's training loop: ((1 + EPOCHS) epochs − 1 epoch) / (EPOCHS · STEPS)."""
    rng, n_train = np.random.default_rng(0), batch * STEPS
    data = Dataset("random", rng.random((n_train, *SHAPE), dtype=np.float32), rng.integers(0, CLASSES, n_train),
                   np.zeros((0, *SHAPE), np.float32), np.zeros(0, np.int64), CLASSES)
    seconds = {}
    for epochs in (1, 1, 1 + EPOCHS):  # the first call warms up
        start = time.perf_counter()
        train.train(build, data, train.TrainConfig(epochs=epochs, batch_size=batch),
                    seeds=list(range(runs)), eval_every=epochs)
        seconds[epochs] = time.perf_counter() - start
    return (seconds[1 + EPOCHS] - seconds[1]) / (EPOCHS * STEPS) * 1e3


def main() -> None:
    rate = gemm_gflops()
    print(f"best float32 GEMM rate here: {rate:.0f} GFLOP/s", file=sys.stderr)
    rows = []
    for name, build, batch, runs in CASES:
        model = build()
        floor = runs * batch * training_flops(model) / (rate * 1e9) * 1e3
        mlp = all(isinstance(layer, keras.layers.Dense) for layer in model.layers if layer.weights)
        row = {"protocol": name, "batch_size": batch, "runs": runs, "floor_ms": floor,
               "gemm_ms": gemm_ms(model, batch, runs) if mlp else np.nan, "adam_ms": adam_ms(model, runs),
               "hw1_ms": hw1_ms(build, batch, runs)}
        row["hw1_over_floor"] = row["hw1_ms"] / floor
        row["gemm_adam_over_floor"] = (row["gemm_ms"] + row["adam_ms"]) / floor
        print(f"[bench] {name}: {row['hw1_ms']:.2f} ms per step, {row['hw1_over_floor']:.1f}x the floor",
              file=sys.stderr, flush=True)
        rows.append(row)
    table = pd.DataFrame(rows).round(3)
    print(f"machine: {experiment.machine()}; GEMM rate {rate:.0f} GFLOP/s")
    print(table.to_string(index=False))
    results.write_csv(ROOT / "benchmarks" / "results_step.csv", table)


if __name__ == "__main__":
    main()
