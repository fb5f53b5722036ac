"""The "usual way" of the HW1-1 protocols, timed, for ``benchmarks/run.py``.

One Keras model at a time, ``model.fit(epochs=1)`` per epoch (so that the loss of every
epoch can be recorded, as homework notebooks do), ``model.evaluate`` for the per-epoch
train and test metrics. Same functions, architectures, seeds per model, optimizer,
batch size and epochs as the experiment's settings.json; see ``reference_common.Jobs``
for how a part of the protocol is run and the rest extrapolated.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402

from hw1 import data, models  # noqa: E402
from reference_common import Jobs  # noqa: E402


def simulate_function(settings: dict, budget_seconds: float) -> dict[str, object]:
    functions, depths, runs = settings["functions"], settings["depths"], settings["runs"]
    jobs = Jobs(budget_seconds, len(functions) * len(depths) * runs)
    for expr in functions.values():
        dataset = data.function_data(expr, settings["samples"])
        for depth in depths:
            widths = models.widths_for_params(depth, settings["target_params"])
            for seed in range(runs):
                holder: dict[str, keras.Model] = {}

                def setup(widths=widths, seed=seed) -> None:
                    keras.utils.set_random_seed(seed)
                    holder["model"] = models.fc_net(widths)
                    holder["model"].compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]), loss="mse")

                def epoch(dataset=dataset) -> None:
                    holder["model"].fit(dataset.x_train, dataset.y_train, batch_size=len(dataset.x_train),
                                        epochs=1, verbose=0)

                jobs.run(f"{depth} hidden, seed {seed}", settings["epochs"], epoch, setup)
    return jobs.result(f"{len(functions) * len(depths) * runs} models one at a time, full-batch fit per epoch")


def actual_task(settings: dict, budget_seconds: float) -> dict[str, object]:
    dataset = data.load(settings["dataset"]["name"], limit=settings.get("train_limit"), seed=0)
    shape, classes = dataset.input_shape, dataset.num_classes
    builders = {"dnn": lambda: models.fc_net([settings["dnn_width"]], shape, classes),
                "cnn": lambda: models.cnn(shape, classes, settings["cnn_filters"], settings["cnn_dense"]),
                "rnn": lambda: models.rnn(shape, classes, settings["rnn_units"])}
    jobs = Jobs(budget_seconds, len(builders))
    for name, build in builders.items():
        holder: dict[str, keras.Model] = {}

        def setup(build=build) -> None:
            keras.utils.set_random_seed(0)
            holder["model"] = build()
            holder["model"].compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]), metrics=["accuracy"],
                                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

        def epoch() -> None:  # train one epoch, then the full-set metrics of the epoch
            model = holder["model"]
            model.fit(dataset.x_train, dataset.y_train, batch_size=settings["batch_size"], epochs=1, verbose=0)
            model.evaluate(dataset.x_train, dataset.y_train, verbose=0)
            model.evaluate(dataset.x_test, dataset.y_test, verbose=0)

        jobs.run(name, settings["epochs"], epoch, setup)
    return jobs.result("3 models one at a time, fit per epoch + evaluate train and test each epoch")


REFERENCES = {"part1_simulate_function": simulate_function, "part1_actual_task": actual_task}
