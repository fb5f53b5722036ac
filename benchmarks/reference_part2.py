"""The "usual way" of the HW1-2 protocols, timed, for ``benchmarks/run.py``.

Each reference replays one experiment's protocol as homework notebooks write it: one
Keras model at a time, ``model.fit(epochs=1)`` per epoch, eager ``GradientTape`` loops
(with the per-step ``.numpy()`` read-backs that recording needs), an eager Hessian
(``tape.jacobian``), ``model.evaluate`` at every grid point. Same data, architectures,
seeds, optimizers, steps and stopping rules as the experiment's settings.json.

``REFERENCES = {experiment: fn(settings, budget_seconds, folder) -> dict}`` with ``seconds``
(the estimated whole protocol), ``measured_seconds``, ``fraction`` (measured share) and
``note``; see ``reference_common.Jobs`` for how part of a protocol runs and the rest is
extrapolated. The minimal-ratio reference replays only the first few of the runs of each
activation and scales: the loss stage and the Hessian by the number of runs (identical in cost:
same architecture, data and steps), the ‖∇L‖² stage by the steps all of hw1's runs took
(stages.csv), at the measured time per step.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from hw1.lab import data, models  # noqa: E402
from reference_common import Jobs, read_csv  # noqa: E402

MINIMAL_RATIO_RUNS = 5  # runs of each activation actually replayed by the minimal-ratio reference


def _mnist(settings: dict) -> data.Dataset:
    return data.load(settings["dataset"]["name"], limit=settings.get("train_limit"), seed=0)


def _classifier(widths: list[int], dataset: data.Dataset, learning_rate: float, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = models.fc_net(widths, dataset.input_shape, dataset.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _evaluate(model: keras.Model, dataset: data.Dataset) -> None:
    """The full-set train and test metrics (hw1's history rows have both)."""
    model.evaluate(dataset.x_train, dataset.y_train, verbose=0)
    model.evaluate(dataset.x_test, dataset.y_test, verbose=0)


def visualize_optimization(settings: dict, budget_seconds: float, folder: Path | None = None) -> dict[str, object]:
    dataset = _mnist(settings)
    jobs = Jobs(budget_seconds, len(settings["seeds"]))
    for seed in settings["seeds"]:
        holder: dict = {}

        def setup(seed=seed) -> None:
            holder["model"] = _classifier(settings["widths"], dataset, settings["learning_rate"], seed)
            holder["snapshots"] = [holder["model"].get_weights()]
            _evaluate(holder["model"], dataset)
            holder["epoch"] = 0

        def epoch() -> None:  # one epoch; every snapshot_every epochs: the weights and the full-set metrics
            model = holder["model"]
            model.fit(dataset.x_train, dataset.y_train, batch_size=settings["batch_size"], epochs=1, verbose=0)
            holder["epoch"] += 1
            if holder["epoch"] % settings["snapshot_every"] == 0 or holder["epoch"] == settings["epochs"]:
                holder["snapshots"].append(model.get_weights())
                _evaluate(model, dataset)

        jobs.run(f"seed {seed}", settings["epochs"], epoch, setup)
    return jobs.result(f"{len(settings['seeds'])} models one at a time, fit per epoch, get_weights + evaluate train "
                       f"and test every {settings['snapshot_every']} epochs (PCA not timed: well under a second)")


def _eager_steps(model: keras.Model, x: tf.Tensor, y: tf.Tensor, learning_rate: float, objective: str):
    """One optimizer step of an eager GradientTape loop on the MSE loss or on ‖∇L‖²; returns ‖∇L‖."""
    optimizer = keras.optimizers.Adam(learning_rate)

    def step() -> float:
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                loss = tf.reduce_mean(tf.square(model(x) - y))
            grads = inner.gradient(loss, model.trainable_variables)
            grad_sq = tf.add_n([tf.reduce_sum(g * g) for g in grads])
        if objective == "loss":
            optimizer.apply(grads, model.trainable_variables)
        else:
            optimizer.apply(outer.gradient(grad_sq, model.trainable_variables), model.trainable_variables)
        float(loss.numpy())  # recorded every step, as a notebook does
        return float(np.sqrt(grad_sq.numpy()))

    return step


def gradient_norm(settings: dict, budget_seconds: float, folder: Path | None = None) -> dict[str, object]:
    dataset = data.function_data(settings["function"], settings["samples"])
    x, y = tf.constant(dataset.x_train), tf.constant(dataset.y_train)
    jobs, holder = Jobs(budget_seconds, 1), {}

    def setup() -> None:
        keras.utils.set_random_seed(0)
        holder["step"] = _eager_steps(models.fc_net(settings["widths"]), x, y, settings["learning_rate"], "loss")

    def step() -> None:  # no stopping rule: every step runs
        holder["step"]()

    jobs.run("training", settings["steps"], step, setup)
    return jobs.result("one model, eager GradientTape loop reading loss and ‖∇L‖ back every step")


def minimal_ratio_grad_steps(settings: dict, folder: Path | None) -> dict[str, list[int]]:
    """Per activation, in run order, the ‖∇L‖² steps hw1's run took: to the check where ‖∇L‖ fell below the
    tolerance (stages.csv), all ``grad_steps`` for a run that never did."""
    stages = read_csv(folder, "stages.csv")
    walked = stages[stages["stage"] == "grad_norm"].sort_values(["activation", "run"])
    return {act: [int(s) if g < settings["grad_tol"] else settings["grad_steps"]
                  for s, g in zip(part["steps"], part["grad_norm"])]
            for act, part in walked.groupby("activation", sort=False)}


def minimal_ratio(settings: dict, budget_seconds: float, folder: Path | None = None) -> dict[str, object]:
    dataset = data.function_data(settings["function"], settings["samples"])
    x, y = tf.constant(dataset.x_train), tf.constant(dataset.y_train)
    activations, seeds = settings["activations"], settings["seeds"]
    grad_steps = minimal_ratio_grad_steps(settings, folder)
    replayed = list(range(min(MINIMAL_RATIO_RUNS, len(seeds))))
    jobs = Jobs(budget_seconds, 3 * len(replayed) * len(activations))
    estimated = 0.0
    for act in activations:
        holder: dict = {}
        per_run = {"loss": 0.0, "hessian": 0.0, "grad": 0.0, "grad_units": 0}
        for r in replayed:
            def setup_loss(seed=seeds[r]) -> None:
                keras.utils.set_random_seed(seed)
                holder["model"] = models.fc_net(settings["widths"], activation=act)
                holder["model"].compile(optimizer=keras.optimizers.Adam(settings["loss_learning_rate"]), loss="mse")

            def setup_grad() -> None:
                holder["step"] = _eager_steps(holder["model"], x, y, settings["grad_learning_rate"], "grad_norm_sq")

            def hessian() -> None:  # eager nested tapes + jacobian in float64, then eigvalsh
                model64 = models.fc_net(settings["widths"], activation=act, dtype="float64")
                model64.set_weights([w.astype(np.float64) for w in holder["model"].get_weights()])
                x64, y64 = tf.cast(x, tf.float64), tf.cast(y, tf.float64)
                theta = tf.Variable(tf.concat([tf.reshape(v, [-1]) for v in model64.trainable_variables], 0))
                shapes = [v.shape for v in model64.trainable_variables]
                sizes = [int(np.prod(s)) for s in shapes]
                with tf.GradientTape() as outer:
                    with tf.GradientTape() as inner:
                        weights = [tf.reshape(p, s) for p, s in zip(tf.split(theta, sizes), shapes)]
                        logits, _ = model64.stateless_call(weights, [], x64)
                        loss = tf.reduce_mean(tf.square(logits - y64))
                    grad = inner.gradient(loss, theta)
                matrix = outer.jacobian(grad, theta).numpy()
                np.linalg.eigvalsh(0.5 * (matrix + matrix.T))

            def loss_epoch() -> None:
                holder["model"].fit(x, y, batch_size=settings["samples"], epochs=1, verbose=0)

            per_run["loss"] += jobs.run(f"{act} seed {seeds[r]} loss", settings["loss_steps"], loss_epoch, setup_loss)
            # the ‖∇L‖² steps hw1's run took (at least 2, for the time per step, when it took fewer)
            units = max(grad_steps[act][r], 2)
            per_run["grad"] += jobs.run(f"{act} seed {seeds[r]} ‖∇L‖²", units, lambda: holder["step"]() and None,
                                        setup_grad)
            per_run["grad_units"] += units
            per_run["hessian"] += jobs.run(f"{act} seed {seeds[r]} Hessian", 1, hessian)
        estimated += (per_run["loss"] + per_run["hessian"]) * len(seeds) / len(replayed)
        estimated += per_run["grad"] / per_run["grad_units"] * sum(grad_steps[act])  # seconds per step × all steps
    found = jobs.result(f"{len(replayed)} of {len(seeds)} runs of each of {len(activations)} activations "
                        f"({', '.join(activations)}) replayed one at a time: fit per epoch on the loss "
                        f"({settings['loss_steps']} epochs), the eager double-backprop loop on ‖∇L‖² for the "
                        "steps hw1's run took (stages.csv), eager float64 Hessian + eigvalsh; loss and Hessian scaled "
                        f"×{len(seeds) / len(replayed):g}, ‖∇L‖² by all runs' steps")
    found["seconds"] = round(estimated, 2)
    found["fraction"] = round(found["measured_seconds"] / estimated, 4)
    return found


def error_surface(settings: dict, budget_seconds: float, folder: Path | None = None) -> dict[str, object]:
    dataset = _mnist(settings)
    jobs, holder = Jobs(budget_seconds, 3), {}

    def setup() -> None:  # hw1 trains from its run seed, the first of the direction seeds
        holder["model"] = _classifier(settings["widths"], dataset, settings["learning_rate"],
                                      settings["direction_seeds"][0])
        holder["path"] = [holder["model"].get_weights()]
        _evaluate(holder["model"], dataset)

    def epoch() -> None:
        holder["model"].fit(dataset.x_train, dataset.y_train, batch_size=settings["batch_size"], epochs=1, verbose=0)
        holder["path"].append(holder["model"].get_weights())
        _evaluate(holder["model"], dataset)

    jobs.run("training", settings["epochs"], epoch, setup)
    rng = np.random.default_rng(0)
    for name in ("pca", "filter_normalized"):
        def point() -> None:  # one grid point: write the perturbed weights into the model, evaluate the full set
            center = holder["path"][-1]
            holder["model"].set_weights([w + rng.standard_normal(w.shape).astype(w.dtype) * 1e-3 for w in center])
            holder["model"].evaluate(dataset.x_train, dataset.y_train, verbose=0)

        jobs.run(f"{name} grid", settings["grid_points"] ** 2, point)
    return jobs.result("one model, fit per epoch + get_weights + evaluate train and test; then set_weights + "
                       f"evaluate at each point of two {settings['grid_points']}² grids")


REFERENCES = {"part2_visualize_optimization": visualize_optimization, "part2_gradient_norm": gradient_norm,
              "part2_minimal_ratio": minimal_ratio, "part2_error_surface": error_surface}
