"""Benchmark: what bounds a training step of 1-1b's CNN and LSTM (batch 128), per run.

1-1b trains its seeds stacked (``tf.vectorized_map`` over the runs' weights). A convolution with
per-run kernels and an LSTM's recurrence do not vectorize into one large kernel: TensorFlow
runs them per run inside the stacked step. This measures, per run and optimizer step:

- ``floor_ms``: the step's matrix-product FLOPs (``floor.training_flops``) at the best GEMM rate;
- ``hw1_stacked_ms``: hw1's step with ``RUNS`` runs stacked, divided by ``RUNS``;
- ``hw1_one_ms``: hw1's step with one run (what training the runs one after another costs);
- ``keras_ms``: the plainest fast single-model step there is: the Keras model called on a
  batch under a ``GradientTape``, ``keras.optimizers.Adam.apply``, ``LOOP`` steps in one
  ``tf.function`` loop (no evaluation, no masks, no per-run bookkeeping): what TensorFlow's own
  kernels cost at these shapes, the bound for any implementation built on them;
- CNN only, ``grouped_conv_ms``: the two convolutions' (and poolings') forward and backward
  pass for ``RUNS`` runs as ONE grouped ``tf.nn.conv2d`` (``groups = RUNS``, the runs' channels
  side by side), per run, beside ``separate_conv_ms``, the same for the runs one after another:
  whether the grouped formulation the issue proposes would pay.

hw1's steps are timed as in ``bench_step.py``: ``train.train`` for ``1 + EPOCHS`` epochs minus
for 1 epoch, on random images (tracing and the evaluations cancel).

Run: ``python benchmarks/bench_image_step.py``. Prints a table and writes
``benchmarks/results_image_step.csv`` (with the machine's load before and after).
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

from bench_step import SHAPE, CLASSES, _timed, hw1_ms  # noqa: E402
from floor import gemm_gflops, training_flops  # noqa: E402
from hw1.lab import experiment, models  # noqa: E402
from hw1 import results  # noqa: E402

BATCH, RUNS, LOOP = 128, 3, 100
BUILDERS = models.image_classifiers(SHAPE, CLASSES, 32, [8, 16], 32, 64)  # 1-1b's full-size CNN and LSTM


def keras_ms(build) -> float:
    """Milliseconds of one plain single-model step: forward, backward, Keras Adam, in a compiled loop."""
    model, optimizer = build(), keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((LOOP * BATCH, *SHAPE), dtype=np.float32))
    y = tf.constant(rng.integers(0, CLASSES, LOOP * BATCH))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def loop(x, y):
        for i in tf.range(LOOP):
            xb, yb = x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]
            with tf.GradientTape() as tape:
                value = loss(yb, model(xb, training=True))
            optimizer.apply(tape.gradient(value, model.trainable_variables), model.trainable_variables)
        return tf.constant(0)

    return _timed(loop, x, y) / LOOP * 1e3


def conv_ms(grouped: bool) -> float:
    """Milliseconds per run of the CNN's two conv + pool layers, forward and backward, for RUNS runs: one grouped
    convolution per layer (the runs' channels side by side) or RUNS separate ones."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((BATCH, 28, 28, 1), dtype=np.float32))
    shapes = [(3, 3, 1, 8), (3, 3, 8, 16)]
    kernels = [tf.constant(rng.normal(size=(RUNS, *s)).astype(np.float32)) for s in shapes]

    def separate(kernels):
        out = 0.0
        for r in range(RUNS):
            h = x
            for k in kernels:
                h = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(h, k[r], 1, "SAME")), 2, 2, "VALID")
            out += tf.reduce_sum(h)
        return out

    def together(kernels):
        h = tf.tile(x, [1, 1, 1, RUNS])  # run r reads channel r
        for k in kernels:  # [RUNS, 3, 3, cin, cout] -> [3, 3, cin, RUNS * cout], groups = RUNS
            h = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(h, tf.concat(tf.unstack(k), axis=-1), 1, "SAME")), 2, 2,
                                 "VALID")
        return tf.reduce_sum(h)

    forward = together if grouped else separate

    @tf.function
    def loop(kernels):
        total = tf.constant(0.0)
        for _ in tf.range(LOOP):
            ks = [k + total * 0.0 for k in kernels]  # depends on the loop: nothing hoisted
            with tf.GradientTape() as tape:
                tape.watch(ks)
                value = forward(ks)
            total += tf.add_n([tf.reduce_sum(g[:1]) for g in tape.gradient(value, ks)])
        return total

    return _timed(loop, kernels) / LOOP / RUNS * 1e3


def main() -> None:
    load_before = os.getloadavg()[0]
    rate = gemm_gflops()
    print(f"best float32 GEMM rate here: {rate:.0f} GFLOP/s", file=sys.stderr)
    rows = []
    for name in ("cnn", "rnn"):
        build = BUILDERS[name]
        row = {"model": name, "batch_size": BATCH, "runs": RUNS,
               "floor_ms": BATCH * training_flops(build()) / (rate * 1e9) * 1e3,
               "hw1_stacked_ms": hw1_ms(build, BATCH, RUNS) / RUNS, "hw1_one_ms": hw1_ms(build, BATCH, 1),
               "keras_ms": keras_ms(build)}
        if name == "cnn":
            row.update(separate_conv_ms=conv_ms(False), grouped_conv_ms=conv_ms(True))
        for key in ("hw1_stacked_ms", "hw1_one_ms", "keras_ms"):
            row[key.replace("_ms", "_over_floor")] = row[key] / row["floor_ms"]
        print(f"[bench] {name}: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items() if k.endswith("_ms")),
              file=sys.stderr, flush=True)
        rows.append(row)
    table = pd.DataFrame(rows).assign(load_before=load_before, load_after=os.getloadavg()[0]).round(3)
    print(f"machine: {experiment.machine()}; GEMM rate {rate:.0f} GFLOP/s")
    print(table.to_string(index=False))
    results.write_csv(ROOT / "benchmarks" / "results_image_step.csv", table)


if __name__ == "__main__":
    main()
