"""The "usual way" of the HW1-1 protocols, timed, for ``benchmarks/run.py``.

One Keras model at a time, ``model.fit(epochs=1)`` per epoch (so that the loss of every
epoch can be recorded, as homework notebooks do), ``model.evaluate`` for the per-epoch
train and test metrics. Same functions, architectures, seeds (every seed of every model),
optimizer, batch size and epochs as the experiment's settings.json; see
``reference_common.Jobs`` for how a part of the protocol is run and the rest extrapolated.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402

from hw1.lab import data, models  # noqa: E402
from reference_common import Jobs  # noqa: E402


def simulate_function(settings: dict, budget_seconds: float, folder: Path | None = None) -> dict[str, object]:
    """Per (function, depth, seed): full-batch fit per epoch (the loss of every epoch is in its history),
    then the fitted curve at the training inputs (``model.predict``, as predictions.csv has for every run)."""
    functions, depths, seeds = settings["functions"], settings["depths"], settings["seeds"]
    jobs = Jobs(budget_seconds, 2 * len(functions) * len(depths) * len(seeds))
    for fname, expr in functions.items():
        dataset = data.function_data(expr, settings["samples"], name=fname)
        for depth in depths:
            widths = models.widths_for_params(depth, settings["target_params"])
            for seed in seeds:
                holder: dict[str, keras.Model] = {}

                def setup(widths=widths, seed=seed) -> None:
                    keras.utils.set_random_seed(seed)
                    holder["model"] = models.fc_net(widths)
                    if "kink_domain" in settings:  # the first layer's kinks spread over the inputs, as hw1 starts
                        low, high = settings["kink_domain"]
                        holder["model"].set_weights(models.spread_kinks(holder["model"].get_weights(), low, high,
                                                                        seed=seed))
                    holder["model"].compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]), loss="mse")

                def epoch(dataset=dataset) -> None:
                    holder["model"].fit(dataset.x_train, dataset.y_train, batch_size=len(dataset.x_train),
                                        epochs=1, verbose=0)

                def predict(dataset=dataset) -> None:
                    holder["model"].predict(dataset.x_train, batch_size=len(dataset.x_train), verbose=0)

                jobs.run(f"{fname}, depth{depth}, seed {seed}", settings["epochs"], epoch, setup)
                jobs.run(f"{fname}, depth{depth}, seed {seed} predictions", 1, predict)
    count = len(functions) * len(depths) * len(seeds)
    return jobs.result(f"{count} models ({len(functions)} functions × {len(depths)} depths × {len(seeds)} seeds) one "
                       f"at a time, full-batch fit per epoch ({settings['epochs']} epochs), predict at the end")


def actual_task(settings: dict, budget_seconds: float, folder: Path | None = None) -> dict[str, object]:
    """Per (model, seed): the train and test metrics at epoch 0, then per epoch fit + evaluate both sets; the
    deeper fully connected nets of deep vs shallow (``depth_family``) too, when the run had them."""
    dataset = data.load(settings["dataset"]["name"], limit=settings.get("train_limit"), seed=0)
    builders = models.image_classifiers(dataset.input_shape, dataset.num_classes, settings["dnn_width"],
                                        settings["cnn_filters"], settings["cnn_dense"], settings["rnn_units"])
    family = settings.get("depth_family", {})
    for name, widths in zip(family.get("models", []), family.get("widths", [])):
        if name not in builders:
            builders[name] = lambda ws=widths: models.fc_net(ws, dataset.input_shape, dataset.num_classes)
    seeds = settings["seeds"]
    jobs = Jobs(budget_seconds, len(builders) * len(seeds))
    for name, build in builders.items():
        for seed in seeds:
            holder: dict[str, keras.Model] = {}

            def evaluate() -> None:
                holder["model"].evaluate(dataset.x_train, dataset.y_train, verbose=0)
                holder["model"].evaluate(dataset.x_test, dataset.y_test, verbose=0)

            def setup(build=build, seed=seed, evaluate=evaluate) -> None:
                keras.utils.set_random_seed(seed)
                holder["model"] = build()
                holder["model"].compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]),
                                        metrics=["accuracy"],
                                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
                evaluate()  # the epoch-0 row of the history

            def epoch(evaluate=evaluate) -> None:  # train one epoch, then the full-set metrics of the epoch
                holder["model"].fit(dataset.x_train, dataset.y_train, batch_size=settings["batch_size"], epochs=1,
                                    verbose=0)
                evaluate()

            jobs.run(f"{name}, seed {seed}", settings["epochs"], epoch, setup)
    return jobs.result(f"{len(builders)} models × {len(seeds)} seeds one at a time, fit per epoch + evaluate train "
                       "and test each epoch")


REFERENCES = {"part1_simulate_function": simulate_function, "part1_actual_task": actual_task}
