"""Benchmark: what sharing one compiled loop between trainings of one shape saves.

Protocol: the four endpoints of 1-3c's default profile (784-128-10 ReLU MLP, Adam, bundled MNIST's 4,000
training images; batch 64 / lr 1e-3, batch 1,024 / lr 1e-3, batch 64 / lr 1e-3, batch 64 / lr 1e-2),
each a separate ``train.train`` call, but of ``EPOCHS`` epochs instead of 30 so that the fixed cost per call
(tracing the loop and the evaluation graphs) is visible beside the arithmetic. Two ways, interleaved
(A B, then B A, …) because the machine is shared:

- ``shared``: hw1 as it is: the second and later calls of the shape run the loop already traced;
- ``fresh``: ``train_step.release_compiled()`` before every call, so each call traces its own loop (what
  every call did before the loops were shared).

Run: ``python benchmarks/bench_shared_traces.py [--repeats N]``. Prints a table and writes
``benchmarks/results_shared_traces.csv`` (one row per timed call).
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from hw1 import results  # noqa: E402
from hw1.lab import data, experiment, models, train, train_step  # noqa: E402

EPOCHS = 2
ENDPOINTS = [(64, 1e-3), (1024, 1e-3), (64, 1e-3), (64, 1e-2)]


def calls(dataset: data.Dataset, way: str) -> list[float]:
    """Seconds of each endpoint's ``train`` call, the first one included."""
    build = lambda: models.fc_net([128], dataset.input_shape, dataset.num_classes)  # noqa: E731
    seconds = []
    train_step.release_compiled()  # both ways start with nothing traced
    for batch, lr in ENDPOINTS:
        if way == "fresh":
            train_step.release_compiled()
        start = time.perf_counter()
        train.train(build, dataset, train.TrainConfig(epochs=EPOCHS, batch_size=batch, learning_rate=lr), [0],
                    eval_every=EPOCHS)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4, help="A/B pairs (default 4)")
    args = parser.parse_args()
    dataset = data.load("mnist_bundled", seed=0)
    calls(dataset, "shared")  # TensorFlow's own first-use costs, outside the clock
    rows = []
    for rep in range(args.repeats):
        for way in (("shared", "fresh") if rep % 2 == 0 else ("fresh", "shared")):
            for call, seconds in enumerate(calls(dataset, way)):
                rows.append((way, rep, call, *ENDPOINTS[call], seconds))
    table = pd.DataFrame(rows, columns=["way", "repeat", "call", "batch_size", "learning_rate", "seconds"])
    later = table[table["call"] > 0].groupby("way")["seconds"].median()
    first = table[table["call"] == 0].groupby("way")["seconds"].median()
    print(f"{len(ENDPOINTS)} train() calls of one shape ({EPOCHS} epochs each, 784-128-10, "
          f"{len(dataset.x_train)} images), {args.repeats} interleaved repeats; machine: {experiment.machine()}")
    print(f"median first call: shared {first['shared']:.2f} s, fresh {first['fresh']:.2f} s")
    print(f"median later call: shared {later['shared']:.2f} s, fresh {later['fresh']:.2f} s "
          f"(saving {later['fresh'] - later['shared']:.2f} s per call)")
    results.write_csv(Path(__file__).with_name("results_shared_traces.csv"), table)


if __name__ == "__main__":
    main()
