"""Benchmark: what one small mini-batch step of hw1's compiled loop costs, piece by piece.

Experiments 1-3d (``part3_sensitivity``, full profile: MLP 784-128-10, 3 seeds stacked, a 10,000-image
training subset, batch 16 … 10,000) and 1-3c (``part3_interpolation``, full profile: MLP 784-256-10, one run,
60,000 images, batch 64 and 1024) take hundreds of thousands of steps whose matrix products are tiny: the
step's fixed cost is what they pay. For each shape this times, per optimizer step, in ONE process with the
ways interleaved (round robin, best of ``ROUNDS``), each as whole epochs (about ``STEPS`` steps) of
``tf.range`` loops in one ``tf.function`` on random images and labels (op determinism on, as in every experiment):

- ``forward``: the stacked runs' batch losses (``map_runs`` of ``forward`` + cross-entropy) on one fixed batch;
- ``forward_backward``: + the ``GradientTape`` gradient of their sum;
- ``optimizer``: + hw1's fused Adam (``_Optimizer.apply``);
- ``gather_shuffle``: + a fresh permutation per epoch (``stateless_uniform`` + ``argsort``) and the
  ``tf.gather`` of each run's batch: everything but the divergence masks;
- ``hw1_before``: ``CompiledLoop.epochs`` as it was before issue 22 (the above + the masks and the
  ``diverged`` update, the batch size a tensor: a dynamic batch dimension), as ``train`` runs it (its
  evaluations between chunks not counted);
- ``hw1``: ``CompiledLoop.epochs`` now (static batch shapes; ``speedup`` = ``hw1_before_ms / hw1_ms``);
- ``xla_epochs``: the ``gather_shuffle`` loop compiled by XLA (``jit_compile=True``; full batches only, a
  static slice; only on 1-3d's 10,000 images, too slow to time at 60,000; XLA on the step alone, called
  from the graph loop, spent minutes constant-folding the batch);
- ``batched_matmul``: the ``gather_shuffle`` step with the MLP written as ``tf.matmul`` of the stacked
  weights (no ``vectorized_map``; ``map_runs``/``forward`` are another engineer's: measured, not adopted).

``check``: the evaluations ``train`` runs between chunks (training and test set, every run) per step between
two of them (1-3d checks its loss target every epoch or 20 steps; 1-3c evaluates once, after its 30 epochs).

``floor`` is the step's matrix-product FLOPs at the best GEMM rate of this machine (``floor.training_flops``).

Run: ``python benchmarks/bench_small_batch.py`` (about 5 minutes on 2 cores; ``uptime`` before and after: the
load is printed and kept in the CSV). Prints a table and writes ``benchmarks/results_small_batch.csv``.
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from floor import gemm_gflops, training_flops  # noqa: E402
from hw1 import results  # noqa: E402
from hw1.lab import experiment, models  # noqa: E402
from hw1.lab.train_step import CompiledLoop, TrainConfig, _Optimizer  # noqa: E402
from hw1.measure.core import evaluator, forward, map_runs, per_sample_loss  # noqa: E402

SHAPE, CLASSES = (28, 28, 1), 10
STEPS, ROUNDS = 400, 5  # about this many steps (whole epochs) per timed call; interleaved rounds (best of)

XLA_MAX_N = 10_000  # xla_epochs only on sets up to this size (it is slower than the graph loop there already)
N_TEST, CHECK_STEPS, INTERPOLATION_EPOCHS = 10_000, 20, 30  # the full profiles' test set, 1-3d's check, 1-3c's epochs

# protocol, hidden widths, stacked runs, batch size, training-set size, epochs between evaluations (train's
# eval_every: 1-3d checks its target every epoch or CHECK_STEPS steps, 1-3c evaluates at the end)
CASES = [("part3_sensitivity", [128], 3, b, 10_000, max(1, -(-CHECK_STEPS // -(-10_000 // b))))
         for b in (16, 64, 256)] + \
        [("part3_interpolation", [256], 1, b, 60_000, INTERPOLATION_EPOCHS) for b in (64, 1024)]


class LoopBefore(CompiledLoop):
    """hw1's compiled mini-batch loop as it was before issue 22: the batch size a tensor argument (one trace for
    every batch size), so each step ran with a dynamic batch dimension."""

    def epochs(self, first_epoch, count):
        losses, norms = self._run(self.x, self.y, self.seeds, tf.constant(first_epoch), tf.constant(count),
                                  tf.constant(self.batch), tf.constant(self.steps_per_epoch))
        return losses.numpy(), norms.numpy()

    def _epochs(self, x, y, seeds, first_epoch, count, batch, steps_per_epoch):
        n = x.shape[0]
        losses = tf.TensorArray(self.dtype, size=0, dynamic_size=True, element_shape=[self.runs])
        norms = tf.TensorArray(self.dtype, size=0, dynamic_size=True, element_shape=[self.runs])
        i = tf.constant(0)
        for e in tf.range(count):
            epoch = tf.cast(first_epoch + e, tf.int64)
            order = tf.stack([tf.argsort(tf.random.stateless_uniform([n], tf.stack([seeds[r], epoch])))
                              for r in range(self.runs)])
            for s in tf.range(steps_per_epoch):
                idx = order[:, s * batch:tf.minimum((s + 1) * batch, n)]
                out = self._step(tf.gather(x, idx), tf.gather(y, idx), shared=False)
                if self.record:
                    losses, norms, i = losses.write(i, out[0]), norms.write(i, out[1]), i + 1
        return losses.stack(), norms.stack()


def _weights(widths: list[int], runs: int) -> list[np.ndarray]:
    model = models.fc_net(widths, SHAPE, CLASSES)
    rng = np.random.default_rng(0)
    return [rng.normal(0, 0.05, (runs, *v.shape)).astype(np.float32) for v in model.trainable_variables]


class Ways:
    """The ways of one case, each a function of (number of epochs) that trains for that many epochs."""

    def __init__(self, widths: list[int], runs: int, batch: int, n: int) -> None:
        rng = np.random.default_rng(1)
        self.model = models.fc_net(widths, SHAPE, CLASSES)
        self.x = tf.constant(rng.random((n, *SHAPE), dtype=np.float32))
        self.y = tf.constant(rng.integers(0, CLASSES, n).astype(np.int32))
        self.runs, self.batch, self.n, self.init = runs, batch, n, _weights(widths, runs)
        self.config = TrainConfig(epochs=10 ** 6, batch_size=batch, learning_rate=1e-4)
        self.variables = [tf.Variable(w) for w in self.init]
        self.optimizer = _Optimizer(self.config, self.variables)
        self.optimizer.reset(self.config, -(-n // batch))
        self.seeds = tf.constant(list(range(runs)), tf.int64)
        fixed = tf.reshape(tf.range(runs * batch) % n, [runs, batch])
        self.fixed_x, self.fixed_y = tf.gather(self.x, fixed), tf.gather(self.y, fixed)
        self.ways = {"forward": tf.function(lambda k: self._loop(k, backward=False, apply=False, shuffle=False)),
                     "forward_backward": tf.function(lambda k: self._loop(k, backward=True, apply=False,
                                                                          shuffle=False)),
                     "optimizer": tf.function(lambda k: self._loop(k, backward=True, apply=True, shuffle=False)),
                     "gather_shuffle": tf.function(lambda k: self._loop(k, backward=True, apply=True, shuffle=True)),
                     "batched_matmul": tf.function(lambda k: self._loop(k, True, True, True, matmul=True))}
        if n <= XLA_MAX_N:
            self.ways["xla_epochs"] = tf.function(lambda k: self._loop(k, True, True, True, full_only=True),
                                                  jit_compile=True)
        for name, kind in (("hw1_before", LoopBefore), ("hw1", CompiledLoop)):
            self.ways[name] = self._hw1(kind)

    def _losses(self, weights: list[tf.Tensor], x: tf.Tensor, y: tf.Tensor, matmul: bool) -> tf.Tensor:
        if not matmul:
            return map_runs(lambda w, xs, ys: tf.reduce_mean(per_sample_loss(forward(self.model, w, xs), ys,
                                                                             "sparse_ce")), weights, x, y)
        h = tf.reshape(x, [self.runs, -1, int(np.prod(SHAPE))])
        for i in range(0, len(weights), 2):
            h = tf.matmul(h, weights[i]) + weights[i + 1][:, None, :]
            h = tf.nn.relu(h) if i + 2 < len(weights) else h
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=h), axis=1)

    def _loop(self, epochs: tf.Tensor, backward: bool, apply: bool, shuffle: bool, matmul: bool = False,
              full_only: bool = False) -> tf.Tensor:
        total, steps_per_epoch = tf.constant(0.0), self.n // self.batch if full_only else -(-self.n // self.batch)
        for e in tf.range(epochs):
            order = tf.zeros([self.runs, self.n], tf.int32)
            if shuffle:
                order = tf.stack([tf.argsort(tf.random.stateless_uniform([self.n], tf.stack([self.seeds[r],
                                  tf.cast(e, tf.int64)]))) for r in range(self.runs)])
            for j in tf.range(steps_per_epoch):
                if shuffle:
                    idx = tf.slice(order, [0, j * self.batch], [self.runs, self.batch]) if full_only else \
                        order[:, j * self.batch:tf.minimum((j + 1) * self.batch, self.n)]
                    x, y = tf.gather(self.x, idx), tf.gather(self.y, idx)
                else:
                    x, y = self.fixed_x, self.fixed_y
                with tf.GradientTape() as tape:
                    losses = self._losses([v.value() for v in self.variables] if matmul else self.variables, x, y,
                                          matmul)
                    loss = tf.reduce_sum(losses)
                if backward:
                    grads = tape.gradient(loss, self.variables)
                    if apply:
                        self.optimizer.apply(grads, self.variables)
                    else:
                        loss += tf.add_n([g[0, 0] if len(g.shape) == 2 else g[0, 0, 0] for g in grads]) * 0.0
                total += loss
        return total

    def _hw1(self, kind: type):
        loop = kind(self.model, self.config, self.runs, full_batch=False, record=False)
        loop.start(self.config, [[w[r] for w in self.init] for r in range(self.runs)], list(range(self.runs)),
                   self.x.numpy(), self.y.numpy())
        return lambda epochs: loop.epochs(0, int(epochs))


class Checks:
    """What ``train`` evaluates at each boundary (the training and the test set, every run: ``Loop._evaluate``),
    per optimizer step between two of them."""

    def __init__(self, ways: Ways, eval_every: int) -> None:
        rng = np.random.default_rng(2)
        self.ev, self.weights = evaluator(ways.model, "sparse_ce"), [tf.constant(w) for w in ways.init]
        self.x, self.y = ways.x, ways.y
        self.x_test = tf.constant(rng.random((N_TEST, *SHAPE), dtype=np.float32))
        self.y_test = tf.constant(rng.integers(0, CLASSES, N_TEST).astype(np.int32))
        self.steps = eval_every * -(-ways.n // ways.batch)

    def __call__(self) -> None:
        self.ev(self.weights, self.x, self.y)
        self.ev(self.weights, self.x_test, self.y_test)


def main() -> None:
    load = os.getloadavg()[0]
    rate = gemm_gflops()  # its random matrices are unseeded: before determinism is on
    tf.config.experimental.enable_op_determinism()
    print(f"best float32 GEMM rate here: {rate:.0f} GFLOP/s; load {load:.2f}", file=sys.stderr)
    rows = []
    for protocol, widths, runs, batch, n, eval_every in CASES:
        ways = Ways(widths, runs, batch, n)
        checks = Checks(ways, eval_every)
        per_epoch = -(-n // batch)
        epochs = max(1, round(STEPS / per_epoch))
        count, steps = tf.constant(epochs), epochs * per_epoch
        best = {}
        for name, fn in ways.ways.items():  # warm up (trace, compile) outside the clock
            fn(count)
        checks()
        for _ in range(ROUNDS):
            start = time.perf_counter()
            checks()
            best["check"] = min(best.get("check", np.inf), (time.perf_counter() - start) / checks.steps * 1e3)
            for name, fn in ways.ways.items():
                start = time.perf_counter()
                fn(count)
                done = epochs * (n // batch) if name == "xla_epochs" else steps
                best[name] = min(best.get(name, np.inf), (time.perf_counter() - start) / done * 1e3)
        floor = runs * batch * training_flops(ways.model) / (rate * 1e9) * 1e3
        row = {"protocol": protocol, "widths": "-".join(map(str, widths)), "runs": runs, "batch_size": batch,
               "n_train": n, "floor_ms": floor, **{f"{k}_ms": v for k, v in best.items()}}
        row["hw1_over_floor"], row["speedup"] = best["hw1"] / floor, best["hw1_before"] / best["hw1"]
        print(f"[bench] {protocol} batch {batch}: " + ", ".join(f"{k} {v:.3f}" for k, v in best.items()) + " ms",
              file=sys.stderr, flush=True)
        rows.append(row)
    table = pd.DataFrame(rows).round(4).assign(load_before=round(load, 2), load_after=round(os.getloadavg()[0], 2))
    print(f"machine: {experiment.machine()}; GEMM rate {rate:.0f} GFLOP/s")
    print(table.to_string(index=False))
    results.write_csv(ROOT / "benchmarks" / "results_small_batch.csv", table)


if __name__ == "__main__":
    main()
