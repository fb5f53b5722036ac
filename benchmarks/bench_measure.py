"""Benchmark: hw1's public measurements on a user's model (issue 13 and issue 21 targets).

Protocol: the 784-128-10 ReLU MLP (101,770 parameters) ending in softmax, compiled with
"sparse_categorical_crossentropy" and trained with ``model.fit`` (5 epochs, batch 64, Adam) on
the 4,000 bundled MNIST training images (``hw1.lab.data.load("mnist_bundled")``); then, on those
4,000 images, in float32 unless said otherwise:

- one full-set gradient vs one full-set Hessian-vector product of a ``hw1.curvature`` object
  (target: HVP ≤ 1.5× gradient);
- ``c.eigenvalues(1)`` called again on the same object: no graph traced, time within 10 % of
  the steady state (median of calls 2-4); Hutch++ vs Hutchinson at 100 products;
- the top Hessian eigenvalue to rtol 1e-3 by Lanczos (target ≤ 2 s; float64 too);
- the Hessian trace by Hutchinson, 100 probes (target ≤ 15 s); the SLQ density, defaults (≤ 15 s);
- peak memory (resident set, each case in a fresh process) of the top eigenvalue + 10 trace
  probes on 4,000 images as arrays vs 60,000 images (the 4,000 tiled 15×) as a tf.data.Dataset
  (target: 60,000 no more than 4,000), and on 60,000 images as numpy arrays;
- a 1.59 M-parameter MLP (784-2000-10): peak memory of λmax on 1,000 images, the Lanczos
  steps taken, and the basis size they imply (steps × n × 4 bytes on the device) beside the host
  float64 basis hw1 kept before (steps × n × 8 bytes; 300 steps: 3.8 GB).

Times are wall-clock medians of 3 runs after one warm-up call (which traces the graphs; the
first call's time is reported too). Run: ``python benchmarks/bench_measure.py``; writes
``benchmarks/results_measure.csv`` (metric, value, unit, target).

Blocks of products (issue 21; ``python benchmarks/bench_measure.py --blocks`` runs only these and
writes ``benchmarks/results_blocks.csv``, as the full run does too): the MLP and the CNN of
``bench_peers.py`` (logits, trained 3 epochs, batch 64, Adam 1e-3) on the 4,000 images, float32,
one chunk. Per model, in one process, interleaved round by round (5 rounds; medians, and minima as the
least-disturbed times on a shared machine): a full-set
gradient, one ``c.matvec``, and ``c.matmat`` of a P-probe block with ``c.probe_block = P`` (one
compiled call) for P = 1, 2, 4, 8; the cost per product is the block's time / P. A least-squares
line time(P) = shared + P · per_probe splits a block into the pass its probes share (forward and
first backward) and what each probe adds (its second backward pass): per_probe / gradient is the
floor of the cost per product of this formulation, however large the block. The 1-minute load
average is recorded with each model.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # bench_peers' models

import numpy as np  # noqa: E402


def build():
    import keras
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])


def rss_mb(field: str) -> float:
    """VmRSS (current) or VmHWM (peak) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_case(weights_file: str, case: str) -> None:
    """Child process: one measurement on one data layout; prints peak and baseline RSS and the values."""
    import tensorflow as tf

    import hw1
    from hw1.lab import data
    mnist = data.load("mnist_bundled")
    x, y = mnist.x_train, mnist.y_train
    model = build()
    model.compile(loss="sparse_categorical_crossentropy")
    with np.load(weights_file) as saved:
        model.set_weights([saved[f"w{i}"] for i in range(len(saved.files))])
    if case == "4000 arrays":
        source = (x, y)
    elif case == "60000 tf.data (4000 tiled)":
        source = tf.data.Dataset.from_tensors((x, y)).repeat(15)  # 15 batches of 4,000: 60,000 samples
    else:  # 60000 arrays
        source = (np.tile(x, (15, 1, 1, 1)), np.tile(y, 15))
    baseline = rss_mb("VmRSS")
    top = hw1.hessian_eigenvalues(model, source, rtol=1e-3)[0]
    trace = hw1.hessian_trace(model, source, probes=10).trace
    print(f"RESULT {rss_mb('VmHWM'):.1f} {baseline:.1f} {top:.10g} {trace:.10g}")


def timed(fn, repeats: int = 3) -> tuple[float, float, object]:
    """(first call seconds, median of the next ``repeats`` calls, last result)."""
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times), result


BLOCK_SIZES = (1, 2, 4, 8)


def block_costs(add) -> None:
    """Cost per product of P-probe blocks against one gradient, on bench_peers' MLP and CNN (see the docstring)."""
    import keras
    import tensorflow as tf

    import hw1
    from bench_peers import keras_net
    from hw1.lab import data
    mnist = data.load("mnist_bundled")
    x, y = mnist.x_train, mnist.y_train
    for kind in ("mlp", "cnn"):
        keras.utils.set_random_seed(0)
        model = keras_net(kind)
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, epochs=3, batch_size=64, verbose=0)
        c = hw1.curvature(model, (x, y))
        V = tf.constant(np.random.default_rng(0).choice([-1.0, 1.0], size=(max(BLOCK_SIZES), c.n)), c.dtype)

        def block(p):
            def run():
                c.probe_block = p
                return c.matmat(V[:p]).numpy()
            return run

        cases = {"gradient": lambda: c.value_and_gradient(), "matvec": lambda: c.matvec(V[0]).numpy(),
                 **{p: block(p) for p in BLOCK_SIZES}}
        results = {name: fn() for name, fn in cases.items()}  # warm-up: traces every graph
        load = os.getloadavg()[0]
        times = {name: [] for name in cases}
        for _ in range(5):
            for name, fn in cases.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        median = {name: statistics.median(t) for name, t in times.items()}
        least = {name: min(t) for name, t in times.items()}
        gradient = median["gradient"]
        separate = np.stack([c.matvec(V[i]).numpy() for i in range(max(BLOCK_SIZES))])
        add(f"{kind}: parameters", c.n, "count")
        add(f"{kind}: 1-minute load average (2 cores) before", load, "")
        add(f"{kind}: 1-minute load average after", os.getloadavg()[0], "")
        add(f"{kind}: full-set gradient", gradient, "s")
        add(f"{kind}: one matvec / gradient", median["matvec"] / gradient, "ratio", "<= 1.5")
        add(f"{kind}: one matvec / gradient, minima", least["matvec"] / least["gradient"], "ratio", "<= 1.5")
        for p in BLOCK_SIZES:
            add(f"{kind}: {p}-probe block, per product / gradient", median[p] / p / gradient, "ratio", "<= 1.5")
            add(f"{kind}: {p}-probe block, per product / gradient, minima", least[p] / p / least["gradient"], "ratio",
                "<= 1.5")
            add(f"{kind}: {p}-probe block vs {p} matvecs, max relative difference",
                float(np.abs(results[p] - separate[:p]).max() / np.abs(separate[:p]).max()), "")
        sizes = np.array(BLOCK_SIZES, float)
        per_probe, shared = np.polyfit(sizes, [median[p] for p in BLOCK_SIZES], 1)
        add(f"{kind}: block time = shared + P · per_probe: shared / gradient", shared / gradient, "ratio")
        add(f"{kind}: per_probe / gradient (the floor per product)", per_probe / gradient, "ratio")
        per_probe, shared = np.polyfit(sizes, [least[p] for p in BLOCK_SIZES], 1)
        add(f"{kind}: the same fit to the minima: shared / gradient", shared / least["gradient"], "ratio")
        add(f"{kind}: the same fit to the minima: per_probe / gradient", per_probe / least["gradient"], "ratio")
        add(f"{kind}: probe_block chosen by the rule", float(hw1.curvature(model, (x, y)).probe_block), "count")


def main() -> None:
    import keras
    import pandas as pd
    import tensorflow as tf

    import hw1
    from hw1.lab import data
    from hw1.measure import hessian
    keras.utils.set_random_seed(0)
    mnist = data.load("mnist_bundled")
    x, y = mnist.x_train, mnist.y_train
    model = build()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=5, batch_size=64, verbose=0)
    rows = []

    def add(metric, value, unit, target=""):
        rows.append({"metric": metric, "value": value, "unit": unit, "target": target})
        print(f"{metric:55s} {value:12.4g} {unit:8s} {target}")

    add("parameters", hessian.n_params(model), "count")
    for dtype in ("float32", "float64"):
        c = hw1.curvature(model, (x, y), dtype=dtype)
        v = tf.constant(np.random.default_rng(0).standard_normal(c.n), c.dtype)
        _, gradient, _ = timed(lambda: c.value_and_gradient(), repeats=5)
        _, product, _ = timed(lambda: c.matvec(v).numpy(), repeats=5)
        add(f"full-set gradient ({dtype})", gradient, "s")
        add(f"full-set Hessian-vector product ({dtype})", product, "s")
        add(f"HVP / gradient ({dtype})", product / gradient, "ratio", "<= 1.5")
    c = hw1.curvature(model, (x, y))
    first, steady, _ = timed(lambda: c.eigenvalues(1), repeats=3)  # median of calls 2-4
    traces = c._product.experimental_get_tracing_count()
    start = time.perf_counter()
    c.eigenvalues(1)
    second = time.perf_counter() - start
    add("c.eigenvalues(1): first call on a new object (traces)", first, "s")
    add("c.eigenvalues(1): steady state (median of calls 2-4)", steady, "s")
    add("c.eigenvalues(1): one more call", second, "s")
    add("c.eigenvalues(1): one more call / steady state", second / steady, "ratio", "<= 1.1")
    add("graphs traced by the later calls", c._product.experimental_get_tracing_count() - traces, "count", "0")
    for method in ("hutch++", "hutchinson"):
        _, seconds, estimate = timed(lambda: c.trace(100, method), repeats=1)
        add(f"trace, 100 products, {method}", seconds, "s")
        add(f"trace value, {method}", estimate.trace, "loss/θ²")
        add(f"trace standard error, {method}", estimate.stderr, "loss/θ²")
    for dtype in ("float32", "float64"):
        first, warm, top = timed(lambda: hw1.hessian_eigenvalues(model, (x, y), rtol=1e-3, dtype=dtype))
        add(f"top eigenvalue, rtol 1e-3 ({dtype}), first call", first, "s")
        add(f"top eigenvalue, rtol 1e-3 ({dtype})", warm, "s", "<= 2" if dtype == "float32" else "")
        add(f"top eigenvalue value ({dtype})", float(top[0]), "loss/θ²")
    _, warm, (trace, stderr, _) = timed(lambda: hw1.hessian_trace(model, (x, y), probes=100), repeats=1)
    add("trace, 100 Hutchinson probes", warm, "s", "<= 15")
    add("trace value", trace, "loss/θ²")
    add("trace standard error", stderr, "loss/θ²")
    _, warm, density = timed(lambda: hw1.hessian_density(model, (x, y)), repeats=1)
    add("SLQ density (1 probe, 80 steps)", warm, "s", "<= 15")
    add("SLQ density integral", float(np.trapezoid(density.density, density.grid)), "")

    with tempfile.TemporaryDirectory() as folder:
        weights_file = str(Path(folder) / "weights.npz")
        np.savez(weights_file, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
        for case in ("4000 arrays", "60000 tf.data (4000 tiled)", "60000 arrays"):
            done = subprocess.run([sys.executable, __file__, "--memory-case", weights_file, case],
                                  capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
            line = [row for row in done.stdout.splitlines() if row.startswith("RESULT")]
            if not line:
                raise RuntimeError(f"memory case {case!r} failed: {done.stderr[-2000:]}")
            peak, baseline, top, trace = map(float, line[0].split()[1:])
            add(f"peak RSS, λmax + 10 trace probes, {case}", peak, "MB",
                "<= the 4000 case" if "tf.data" in case else "")
            add(f"RSS added by the measurement, {case}", peak - baseline, "MB")
            add(f"top eigenvalue value, {case}", top, "loss/θ²")
    done = subprocess.run([sys.executable, __file__, "--large-case"], capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    line = [row for row in done.stdout.splitlines() if row.startswith("RESULT")]
    if not line:
        raise RuntimeError(f"large case failed: {done.stderr[-2000:]}")
    n, peak, baseline, steps, seconds, top = map(float, line[0].split()[1:])
    add("large model (784-2000-10): parameters", n, "count")
    add("large model: peak RSS, λmax to rtol 1e-3, 1000 images, float32", peak, "MB")
    add("large model: RSS added by the measurement", peak - baseline, "MB")
    add("large model: Lanczos steps (products)", steps, "count")
    add("large model: device basis, steps × n float32", steps * n * 4 / 1e6, "MB")
    add("large model: a host float64 basis of the same steps", steps * n * 8 / 1e6, "MB")
    add("large model: device basis at the 300-step cap, float32", 300 * n * 4 / 1e6, "MB")
    add("large model: host float64 basis at the 300-step cap (before)", 300 * n * 8 / 1e6, "MB")
    add("large model: λmax seconds (first call)", seconds, "s")
    add("large model: λmax", top, "loss/θ²")
    pd.DataFrame(rows).to_csv(ROOT / "benchmarks" / "results_measure.csv", index=False)
    print("wrote", ROOT / "benchmarks" / "results_measure.csv")
    blocks_only()


def blocks_only() -> None:
    import pandas as pd
    rows = []

    def add(metric, value, unit, target=""):
        rows.append({"metric": metric, "value": value, "unit": unit, "target": target})
        print(f"{metric:55s} {value:12.4g} {unit:8s} {target}", flush=True)

    block_costs(add)
    pd.DataFrame(rows).to_csv(ROOT / "benchmarks" / "results_blocks.csv", index=False)
    print("wrote", ROOT / "benchmarks" / "results_blocks.csv")


def large_case() -> None:
    """Child process: λmax of a 1.59 M-parameter MLP (784-2000-10, untrained) on 1,000 images; peak RSS."""
    import keras

    import hw1
    from hw1.lab import data
    mnist = data.load("mnist_bundled")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2000, activation="relu"), keras.layers.Dense(10)])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    baseline = rss_mb("VmRSS")
    start = time.perf_counter()
    c = hw1.curvature(model, (mnist.x_train[:1000], mnist.y_train[:1000]))
    top = c.eigenvalues(1)[0]
    seconds = time.perf_counter() - start
    print(f"RESULT {c.n} {rss_mb('VmHWM'):.1f} {baseline:.1f} {c.iterations} {seconds:.2f} {top:.10g}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--memory-case":
        memory_case(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2 and sys.argv[1] == "--large-case":
        large_case()
    elif len(sys.argv) == 2 and sys.argv[1] == "--blocks":
        blocks_only()
    else:
        main()
