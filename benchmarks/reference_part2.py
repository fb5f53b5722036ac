"""The "usual way" of the HW1-2 protocols, timed, for ``benchmarks/run.py``.

Each reference replays one experiment's protocol as homework notebooks write it: one
Keras model at a time, ``model.fit(epochs=1)`` per epoch, eager ``GradientTape`` loops
(with the per-step ``.numpy()`` read-backs that recording needs), an eager Hessian
(``tape.jacobian``), ``model.evaluate`` at every grid point. Same data, architectures,
seeds, optimizers, steps and stopping rules as the experiment's settings.json.

``REFERENCES = {experiment: fn(settings, budget_seconds) -> dict}`` with ``seconds`` (the
estimated whole protocol), ``measured_seconds``, ``fraction`` (measured share) and ``note``;
see ``reference_common.Jobs`` for how part of a protocol runs and the rest is extrapolated.
The minimal-ratio reference runs only the first few of its 100 runs and scales by the
number of runs (the runs are identical in cost: same architecture, data and step caps).
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

from hw1 import data, models  # noqa: E402
from reference_common import Jobs  # noqa: E402

MINIMAL_RATIO_RUNS = 5  # runs actually replayed by the minimal-ratio reference


def _mnist(settings: dict) -> data.Dataset:
    return data.load(settings["dataset"]["name"], limit=settings.get("train_limit"), seed=0)


def _classifier(widths: list[int], dataset: data.Dataset, learning_rate: float, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = models.fc_net(widths, dataset.input_shape, dataset.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def visualize_optimization(settings: dict, budget_seconds: float) -> dict[str, object]:
    dataset = _mnist(settings)
    jobs = Jobs(budget_seconds, settings["runs"])
    for seed in settings["seeds"]:
        holder: dict = {}

        def setup(seed=seed) -> None:
            holder["model"] = _classifier(settings["widths"], dataset, settings["learning_rate"], seed)
            holder["snapshots"] = [holder["model"].get_weights()]
            holder["model"].evaluate(dataset.x_train, dataset.y_train, verbose=0)
            holder["epoch"] = 0

        def epoch() -> None:  # one epoch; every snapshot_every epochs: the weights and the full-set metrics
            model = holder["model"]
            model.fit(dataset.x_train, dataset.y_train, batch_size=settings["batch_size"], epochs=1, verbose=0)
            holder["epoch"] += 1
            if holder["epoch"] % settings["snapshot_every"] == 0:
                holder["snapshots"].append(model.get_weights())
                model.evaluate(dataset.x_train, dataset.y_train, verbose=0)

        jobs.run(f"seed {seed}", settings["epochs"], epoch, setup)
    return jobs.result(f"{settings['runs']} models one at a time, fit per epoch, get_weights + evaluate "
                       f"every {settings['snapshot_every']} epochs (PCA not timed: well under a second)")


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


def gradient_norm(settings: dict, budget_seconds: float) -> dict[str, object]:
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


def minimal_ratio(settings: dict, budget_seconds: float) -> dict[str, object]:
    dataset = data.function_data(settings["function"], settings["samples"])
    x, y = tf.constant(dataset.x_train), tf.constant(dataset.y_train)
    replayed = settings["seeds"][:MINIMAL_RATIO_RUNS]
    jobs = Jobs(budget_seconds, 3 * len(replayed))
    for seed in replayed:
        holder: dict = {}

        def setup_loss(seed=seed) -> None:
            keras.utils.set_random_seed(seed)
            holder["model"] = models.fc_net(settings["widths"])
            holder["model"].compile(optimizer=keras.optimizers.Adam(settings["loss_learning_rate"]), loss="mse")

        def setup_grad() -> None:
            holder["step"] = _eager_steps(holder["model"], x, y, settings["grad_learning_rate"], "grad_norm_sq")

        def hessian() -> None:  # eager nested tapes + jacobian in float64, then eigvalsh
            model64 = models.fc_net(settings["widths"], dtype="float64")
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

        jobs.run(f"seed {seed} loss", settings["loss_steps"], loss_epoch, setup_loss)
        jobs.run(f"seed {seed} ‖∇L‖²", settings["grad_steps"],
                 lambda: holder["step"]() < settings["grad_tol"], setup_grad)
        jobs.run(f"seed {seed} Hessian", 1, hessian)
    found = jobs.result(f"{len(replayed)} of {settings['runs']} runs replayed one at a time (fit per epoch on the "
                        "loss, eager double-backprop loop on ‖∇L‖² stopping at the tolerance, eager float64 "
                        f"Hessian + eigvalsh), scaled ×{settings['runs'] / len(replayed):g} to all runs")
    scale = settings["runs"] / len(replayed)
    found["seconds"] = round(found["seconds"] * scale, 2)
    found["fraction"] = round(found["measured_seconds"] / found["seconds"], 4)
    return found


def error_surface(settings: dict, budget_seconds: float) -> dict[str, object]:
    dataset = _mnist(settings)
    jobs, holder = Jobs(budget_seconds, 3), {}

    def setup() -> None:
        holder["model"] = _classifier(settings["widths"], dataset, settings["learning_rate"], settings["direction_seed"])
        holder["path"] = [holder["model"].get_weights()]

    def epoch() -> None:
        holder["model"].fit(dataset.x_train, dataset.y_train, batch_size=settings["batch_size"], epochs=1, verbose=0)
        holder["path"].append(holder["model"].get_weights())
        holder["model"].evaluate(dataset.x_train, dataset.y_train, verbose=0)

    jobs.run("training", settings["epochs"], epoch, setup)
    rng = np.random.default_rng(0)
    for name in ("pca", "filter_normalized"):
        def point() -> None:  # one grid point: write the perturbed weights into the model, evaluate the full set
            center = holder["path"][-1]
            holder["model"].set_weights([w + rng.standard_normal(w.shape).astype(w.dtype) * 1e-3 for w in center])
            holder["model"].evaluate(dataset.x_train, dataset.y_train, verbose=0)

        jobs.run(f"{name} grid", settings["grid_points"] ** 2, point)
    return jobs.result("one model, fit per epoch; then set_weights + evaluate at each grid point of two grids")


REFERENCES = {"part2_visualize_optimization": visualize_optimization, "part2_gradient_norm": gradient_norm,
              "part2_minimal_ratio": minimal_ratio, "part2_error_surface": error_surface}
