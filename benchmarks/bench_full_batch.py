"""Benchmark: one full-batch Adam step of 1-1a's stacked runs, in several formulations.

Experiment 1-1a (``experiments/part1_simulate_function.py``) trains, per function and depth, R = 10 seeds
of a 1-input, 1-output ReLU MLP on the full training set for 8000 steps. This measures the milliseconds of
ONE optimizer step of all R runs (so "10 runs one after another" is the per-step time of one run × 10)
at the full profile's shapes (``PROFILE``: target parameter count, samples, runs) for:

- ``vmap``: hw1's trainer as it was: one :class:`~hw1.lab.train_step.CompiledLoop` of R runs, the model's
  ``stateless_call`` mapped over the run axis with ``tf.vectorized_map`` (a ``[R, n, width]`` activation);
- ``vmap_g{g}``: the same compiled loop for ``g`` runs, called R / g times (runs in groups of g);
- ``bmm`` / ``bmm_g{g}``: an explicit stacked forward, ``x [R, n, in] @ W [R, in, out]`` (one
  ``BatchMatMulV2`` per layer, no ``vectorized_map``), all R runs or groups of g;
- ``blockdiag``: the R runs side by side as one wide net, activations ``[n, R·width]``, each layer one
  plain 2-D ``MatMul`` by a block-diagonal ``[R·in, R·out]`` matrix built from the stacked kernels;
- ``trainer``: :func:`hw1.lab.train.train` as it is now (its own grouping, :func:`hw1.lab.train.run_groups`),
  per step of a 200-epoch training including its two evaluations and its set-up (building every run's
  initial weights: up to about 1.5 s per call for the 7-layer net on a loaded machine), so above the
  formulation it picks by that fixed cost spread over 200 steps (over 1-1a's 8,000 steps it is ~1 %).

With ``--one-layer 500,350,200,100,50`` the nets are instead one-hidden-layer nets of those widths (at the
same samples and runs): where, as the stacked activations grow, stacking stops paying.

Each row is the best of ``REPEATS`` timings of a ``STEPS``-step compiled chunk (after a warm-up call that
traces), all formulations of one shape interleaved in each repeat, so a change of machine load hits them all.
The optimizer is hw1's fused Adam (:class:`~hw1.lab.train_step._Optimizer`) in every formulation.

TensorFlow's op determinism is on, as in every experiment (``hw1.lab.experiment.start``), unless
``--no-determinism``.

Run: ``.venv/bin/python benchmarks/bench_full_batch.py [--samples N] [--target-params P] [--depths 1,7]
[--only vmap,vmap_g1] [--one-layer W,...] [--out CSV]``. Prints a table and writes ``--out`` (with the
machine's 1-minute load average at the start and end). Committed: ``benchmarks/results_full_batch.csv`` (the
default arguments) and ``benchmarks/results_full_batch_widths.csv`` (``--one-layer 500,350,200,100,50 --only
vmap,vmap_g1,vmap_g2,vmap_g5,bmm --repeats 3``).
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from hw1 import results  # noqa: E402
from hw1.lab import data, experiment, models, train  # noqa: E402
from hw1.lab.train_step import CompiledLoop, _Optimizer  # noqa: E402

PROFILE = dict(target_params=1500, samples=1000, runs=10)  # 1-1a's full profile
DEPTHS = (1, 2, 4, 7)
GROUPS = (1, 2, 5)
STEPS, REPEATS = 200, 5
CONFIG = train.TrainConfig(epochs=STEPS, learning_rate=3e-3, loss="mse")


def stacked_weights(widths: list[int], runs: int) -> list[np.ndarray]:
    build = lambda: models.fc_net(widths)  # noqa: E731
    return train.stack([train.initial_weights(build, s) for s in range(runs)])


def vmap_chunk(widths: list[int], runs: int, dataset: data.Dataset):
    """hw1's compiled loop of ``runs`` runs (the vectorized_map forward): a function running STEPS steps."""
    model = models.fc_net(widths)
    loop = CompiledLoop(model, CONFIG, runs, full_batch=True, record=False)
    build = lambda: models.fc_net(widths)  # noqa: E731
    loop.start(CONFIG, [train.initial_weights(build, s) for s in range(runs)], list(range(runs)),
               dataset.x_train, dataset.y_train)
    return lambda: loop.epochs(0, STEPS)


def _dense_forward(kind: str, variables: list[tf.Variable], x: tf.Tensor, runs: int) -> tf.Tensor:
    """Per-run outputs of a stacked ReLU MLP: ``[R, n, 1]`` (bmm) or ``[n, R]`` (blockdiag)."""
    layers = len(variables) // 2
    if kind == "bmm":
        h = tf.broadcast_to(x, [runs, *x.shape])
        for i in range(layers):
            h = tf.matmul(h, variables[2 * i]) + variables[2 * i + 1][:, None, :]
            if i < layers - 1:
                h = tf.nn.relu(h)
        return h
    eye = tf.eye(runs, dtype=x.dtype)
    h = x  # [n, in]: the first layer's input is shared by all runs
    for i in range(layers):
        kernel, bias = variables[2 * i], variables[2 * i + 1]
        r, a, b = kernel.shape
        if i == 0:  # x @ [in, R·out]: the runs' first kernels side by side
            w = tf.reshape(tf.transpose(kernel, [1, 0, 2]), [a, r * b])
        else:  # block diagonal [R·in, R·out]
            w = tf.reshape(tf.einsum("rio,rs->riso", kernel, eye), [r * a, r * b])
        h = tf.matmul(h, w) + tf.reshape(bias, [r * b])
        if i < layers - 1:
            h = tf.nn.relu(h)
    return h  # [n, R] (output width 1)


def explicit_chunk(kind: str, widths: list[int], runs: int, dataset: data.Dataset):
    """An explicit stacked forward (``bmm`` or ``blockdiag``) + MSE + hw1's fused Adam, STEPS steps in a graph."""
    variables = [tf.Variable(w) for w in stacked_weights(widths, runs)]
    optimizer = _Optimizer(CONFIG, variables)
    optimizer.reset(CONFIG, 1)
    x, y = tf.constant(dataset.x_train), tf.constant(dataset.y_train)

    @tf.function
    def chunk():
        for _ in tf.range(STEPS):
            with tf.GradientTape() as tape:
                out = _dense_forward(kind, variables, x, runs)
                if kind == "bmm":
                    per_run = tf.reduce_mean(tf.square(out - y), axis=[1, 2])
                else:
                    per_run = tf.reduce_mean(tf.square(out - y), axis=0)
                total = tf.reduce_sum(per_run)
            optimizer.apply(tape.gradient(total, variables), variables)
        return total

    return chunk


def trainer_chunk(widths: list[int], runs: int, dataset: data.Dataset):
    """hw1's ``train.train`` as it is: STEPS epochs (the evaluations at 0 and STEPS included)."""
    build = lambda: models.fc_net(widths)  # noqa: E731
    return lambda: train.train(build, dataset, CONFIG, seeds=list(range(runs)), eval_every=STEPS)


def best_seconds(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        out = fn()
    if isinstance(out, tf.Tensor):
        out.numpy()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=PROFILE["samples"])
    parser.add_argument("--target-params", type=int, default=PROFILE["target_params"])
    parser.add_argument("--runs", type=int, default=PROFILE["runs"])
    parser.add_argument("--depths", default=",".join(map(str, DEPTHS)))
    parser.add_argument("--one-layer", help="instead of the depths: one-hidden-layer nets of these widths, e.g. "
                        "50,200,500 (where stacking stops paying)")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--only", help="comma-separated formulations to time (default: all)")
    parser.add_argument("--no-determinism", dest="determinism", action="store_false",
                        help="leave TensorFlow's op determinism off (the experiments turn it on)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results_full_batch.csv"))
    args = parser.parse_args()
    if args.determinism:
        tf.config.experimental.enable_op_determinism()  # as hw1.lab.experiment.start does for every experiment
    runs, n = args.runs, args.samples
    load_start = os.getloadavg()[0]
    dataset = data.function_data(data.FUNCTIONS[next(iter(data.FUNCTIONS))], n, name="bench")
    rows = []
    nets = ([[int(w)] for w in args.one_layer.split(",")] if args.one_layer else
            [models.widths_for_params(int(d), args.target_params) for d in args.depths.split(",")])
    for widths in nets:
        depth = len(widths)
        cases = {"vmap": (vmap_chunk(widths, runs, dataset), 1)}
        for g in GROUPS:
            if g < runs and runs % g == 0:
                cases[f"vmap_g{g}"] = (vmap_chunk(widths, g, dataset), runs // g)
        cases["bmm"] = (explicit_chunk("bmm", widths, runs, dataset), 1)
        for g in GROUPS:
            if 1 < g < runs and runs % g == 0:
                cases[f"bmm_g{g}"] = (explicit_chunk("bmm", widths, g, dataset), runs // g)
        cases["blockdiag"] = (explicit_chunk("blockdiag", widths, runs, dataset), 1)
        cases["trainer"] = (trainer_chunk(widths, runs, dataset), 1)
        if args.only:
            cases = {name: case for name, case in cases.items() if name in args.only.split(",")}
        for fn, _ in cases.values():  # trace and warm up
            fn()
        best = {name: np.inf for name in cases}
        for _ in range(args.repeats):
            for name, (fn, calls) in cases.items():
                best[name] = min(best[name], best_seconds(fn, calls))
        for name, seconds in best.items():
            rows.append({"depth": depth, "widths": "-".join(map(str, widths)), "samples": n, "runs": runs,
                         "formulation": name, "ms_per_step": seconds / STEPS * 1e3})
            print(f"[bench] widths {'-'.join(map(str, widths))} {name}: {seconds / STEPS * 1e3:.2f} ms/step",
                  file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    table["vs_vmap"] = table["ms_per_step"] / table.groupby("widths")["ms_per_step"].transform("first")
    table["determinism"] = args.determinism
    table["load_start"], table["load_end"] = load_start, os.getloadavg()[0]
    table = table.round(3)
    print(f"machine: {experiment.machine()}")
    print(table.to_string(index=False))
    results.write_csv(Path(args.out), table)


if __name__ == "__main__":
    main()
