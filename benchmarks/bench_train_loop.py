"""Benchmark: hw1's training loop against the usual ``model.fit`` loop.

Protocol (the same for every way): a 1-20-20-1 ReLU MLP fitted full-batch to
sin(5πx)/(5πx) on 256 points with Adam (lr 1e-3), 2,000 optimizer steps.

- ``model.fit`` per epoch: the usual homework code, one ``fit(epochs=1)`` call per epoch
  so the loss can be recorded (timed on the first 200 steps and scaled: it is linear in steps);
- ``model.fit`` all epochs: one ``fit(epochs=2000)`` call, for fairness;
- hw1 ``train``, one model;
- hw1 ``train``, 100 independent models in one call (per-model time).

Run: ``python benchmarks/bench_train_loop.py``. Prints a table and writes
``benchmarks/results_train_loop.csv``.
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import pandas as pd  # noqa: E402

from hw1.lab import data, experiment, models, train  # noqa: E402
from hw1 import results  # noqa: E402

STEPS = 2000
FIT_PER_EPOCH_STEPS = 200


def build() -> keras.Model:
    return models.fc_net([20, 20])


def time_fit(dataset: data.Dataset, steps: int, per_epoch: bool) -> float:
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    n = len(dataset.x_train)
    model.fit(dataset.x_train, dataset.y_train, batch_size=n, epochs=1, verbose=0)  # compile outside the clock
    start = time.perf_counter()
    if per_epoch:
        for _ in range(steps):
            model.fit(dataset.x_train, dataset.y_train, batch_size=n, epochs=1, verbose=0)
    else:
        model.fit(dataset.x_train, dataset.y_train, batch_size=n, epochs=steps, verbose=0)
    return time.perf_counter() - start


def time_hw1(dataset: data.Dataset, runs: int) -> float:
    config = train.TrainConfig(epochs=STEPS, learning_rate=1e-3, loss="mse")
    train.train(build, dataset, train.TrainConfig(epochs=1, loss="mse"), seeds=list(range(runs)))  # warm-up
    start = time.perf_counter()
    train.train(build, dataset, config, seeds=list(range(runs)), eval_every=STEPS)
    return time.perf_counter() - start


def main() -> None:
    dataset = data.function_data(data.FUNCTIONS["sinc"], 256, name="sinc")
    rows = []
    fit_epoch = time_fit(dataset, FIT_PER_EPOCH_STEPS, per_epoch=True) * STEPS / FIT_PER_EPOCH_STEPS
    rows.append(("model.fit per epoch (usual; timed on 200 steps, scaled)", 1, fit_epoch))
    rows.append(("model.fit, one call for all epochs", 1, time_fit(dataset, STEPS, per_epoch=False)))
    rows.append(("hw1 train, one model", 1, time_hw1(dataset, 1)))
    rows.append(("hw1 train, 100 models in one call", 100, time_hw1(dataset, 100)))
    table = pd.DataFrame(rows, columns=["way", "models", "seconds"])
    table["ms_per_model_step"] = 1000 * table["seconds"] / (table["models"] * STEPS)
    table["speed-up vs fit per epoch"] = table["ms_per_model_step"].iloc[0] / table["ms_per_model_step"]
    print(f"{STEPS} full-batch Adam steps, 1-20-20-1 MLP, 256 points; machine: {experiment.machine()}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    results.write_csv(Path(__file__).with_name("results_train_loop.csv"), table)


if __name__ == "__main__":
    main()
