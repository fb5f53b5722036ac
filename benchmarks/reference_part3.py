"""The "usual way" of the HW1-3 protocols, timed, for ``benchmarks/run.py``.

Each reference replays one experiment's protocol as homework notebooks write it: one
Keras model at a time, ``model.fit(epochs=1)`` per epoch, ``model.evaluate`` for every
metric, Python loops over α points, ascent steps and power iterations with eager
``GradientTape``. Same data, architectures, optimizer, batch sizes, epochs and stopping
rules as the experiment's settings.json.

``REFERENCES = {experiment: fn(settings, budget_seconds) -> dict}``, with ``settings`` the
"settings" block of the experiment's settings.json; see ``reference_common.Jobs`` for how
a part of the protocol is run and the rest extrapolated (returned: ``seconds``, the
estimated whole protocol; ``measured_seconds``; ``fraction``; ``note``). Two stopping rules
are extrapolated from trends, and say so: the random-label training (epochs to the target,
from the training-accuracy slope) and the power iteration (to its iteration cap: an upper
bound, since hw1 stops it at a relative change of 1e-4).
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

from hw1 import analysis, data, models  # noqa: E402
from reference_common import Jobs  # noqa: E402


def _dataset(settings: dict) -> data.Dataset:
    return data.load(settings["dataset"]["name"], limit=settings.get("train_limit"), seed=0)


def _compiled(widths: list[int], dataset: data.Dataset, learning_rate: float) -> keras.Model:
    model = models.fc_net(widths, dataset.input_shape, dataset.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _epoch(model: keras.Model, dataset: data.Dataset, batch_size: int) -> None:
    model.fit(dataset.x_train, dataset.y_train, batch_size=batch_size, epochs=1, verbose=0)


def _evaluate(model: keras.Model, dataset: data.Dataset) -> list[float]:
    """[train loss, train acc, test loss, test acc] by ``model.evaluate``."""
    return [*model.evaluate(dataset.x_train, dataset.y_train, verbose=0),
            *model.evaluate(dataset.x_test, dataset.y_test, verbose=0)]


def _train_job(jobs: Jobs, name: str, widths: list[int], dataset: data.Dataset, learning_rate: float,
               batch_size: int, epochs: int) -> keras.Model:
    """Train one model by ``fit`` per epoch, then evaluate it; returns the model."""
    holder: dict[str, keras.Model] = {}

    def setup() -> None:
        keras.utils.set_random_seed(0)
        holder["model"] = _compiled(widths, dataset, learning_rate)

    jobs.run(name, epochs, lambda: _epoch(holder["model"], dataset, batch_size), setup)
    jobs.run(f"{name} evaluation", 1, lambda: _evaluate(holder["model"], dataset) and None)
    return holder["model"]


# ---------------------------------------------------------------- the four protocols

def random_labels(settings: dict, budget_seconds: float) -> dict[str, object]:
    dataset = _dataset(settings)
    noisy = analysis.random_label_dataset(dataset, seed=settings["label_seed"])
    jobs = Jobs(budget_seconds, 1)
    holder: dict[str, keras.Model] = {}
    accuracy: list[float] = []
    target = settings["target_train_acc"]

    def setup() -> None:
        keras.utils.set_random_seed(0)
        holder["model"] = _compiled(settings["widths"], noisy, settings["learning_rate"])

    def epoch() -> bool:  # fit one epoch, evaluate both sets, stop at the target training accuracy
        _epoch(holder["model"], noisy, settings["batch_size"])
        accuracy.append(_evaluate(holder["model"], noisy)[1])
        return accuracy[-1] >= target

    def epochs_left(done: int) -> int:  # from the training-accuracy trend of the last epochs (the cap if flat)
        slope = (accuracy[-1] - accuracy[max(0, done - 4)]) / min(3, done - 1) if done > 1 else 0.0
        needed = int(np.ceil((target - accuracy[-1]) / slope)) if slope > 0 else settings["epochs"]
        return min(settings["epochs"] - done, needed)

    jobs.run("random-label training (epochs to the target, from the accuracy trend)", settings["epochs"], epoch,
             setup, left=epochs_left)
    return jobs.result("fit per epoch + evaluate train and test each epoch, until the target accuracy")


def params_vs_generalization(settings: dict, budget_seconds: float) -> dict[str, object]:
    dataset = _dataset(settings)
    jobs = Jobs(budget_seconds, 2 * len(settings["widths"]))
    for width in sorted(settings["widths"]):
        _train_job(jobs, f"width {width}", [width], dataset, settings["learning_rate"], settings["batch_size"],
                   settings["epochs"])
    return jobs.result(f"{len(settings['widths'])} models, one at a time, fit per epoch, evaluate at the end")


def interpolation(settings: dict, budget_seconds: float) -> dict[str, object]:
    dataset = _dataset(settings)
    (bs1, bs2), (lr1, lr2) = settings["batch_sizes"], settings["learning_rates"]
    alphas = np.unique(np.round(np.concatenate([np.linspace(settings["alpha_min"], settings["alpha_max"],
                                                            settings["alpha_points"]), [0.0, 1.0]]), 10))
    jobs = Jobs(budget_seconds, 3 * 2 + 2)
    trained = {spec: [v.numpy() for v in _train_job(jobs, f"batch {spec[0]}, lr {spec[1]:g}", settings["widths"],
                                                    dataset, spec[1], spec[0], settings["epochs"]).weights]
               for spec in ((bs1, lr1), (bs2, lr1), (bs1, lr2))}
    probe = _compiled(settings["widths"], dataset, lr1)
    for pair, (first, second) in {"batch_size": ((bs1, lr1), (bs2, lr1)),
                                  "learning_rate": ((bs1, lr1), (bs1, lr2))}.items():
        points = iter(alphas)

        def point(w1=trained[first], w2=trained[second], points=points) -> None:
            alpha = next(points)
            probe.set_weights([(1 - alpha) * a + alpha * b for a, b in zip(w1, w2)])
            _evaluate(probe, dataset)

        jobs.run(f"pair {pair}: α points", len(alphas), point)
    return jobs.result("3 distinct endpoints trained by fit per epoch; each α: set_weights + evaluate train and test")


def sensitivity(settings: dict, budget_seconds: float) -> dict[str, object]:
    dataset = _dataset(settings)
    sizes = settings["batch_sizes"]
    jobs = Jobs(budget_seconds, 5 * len(sizes))
    x_train, y_train = tf.constant(dataset.x_train), tf.constant(dataset.y_train)
    loss_of = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for bs in sizes:
        model = _train_job(jobs, f"batch {bs}", settings["widths"], dataset, settings["learning_rate"], bs,
                           settings["epochs_by_batch"][str(bs)])
        theta = [v.numpy() for v in model.trainable_variables]

        batches = iter(range(0, len(dataset.x_test), 100))

        def jacobian_batch(batches=batches) -> None:  # eager batch_jacobian of softmax w.r.t. the input
            start = next(batches)
            x = tf.constant(dataset.x_test[start:start + 100])
            with tf.GradientTape() as tape:
                tape.watch(x)
                p = tf.nn.softmax(model(x))
            tf.norm(tf.reshape(tape.batch_jacobian(p, x), [len(x), -1]), axis=1).numpy()

        jobs.run(f"batch {bs} sensitivity", -(-len(dataset.x_test) // 100), jacobian_batch)

        bound = [settings["epsilon"] * (np.abs(t) + 1) for t in theta]
        delta = [np.zeros_like(t) for t in theta]

        def ascent_step(delta=delta, bound=bound, theta=theta) -> None:  # eager full-set loss and gradient
            for v, t, d in zip(model.trainable_variables, theta, delta):
                v.assign(t + d)
            with tf.GradientTape() as tape:
                value = loss_of(y_train, model(x_train))
            for d, b, g in zip(delta, bound, tape.gradient(value, model.trainable_variables)):
                d[:] = np.clip(d + b * np.sign(g.numpy()), -b, b)

        jobs.run(f"batch {bs} sharpness", (settings["sharpness_steps"] + 1) * settings["sharpness_starts"],
                 ascent_step)
        for v, t in zip(model.trainable_variables, theta):
            v.assign(t)
        state = {"v": [tf.constant(np.random.default_rng(0).standard_normal(t.shape), tf.float32) for t in theta],
                 "eig": np.nan}

        def power_iteration() -> bool:  # eager Hessian-vector product by nested tapes
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    value = loss_of(y_train, model(x_train))
                grads = inner.gradient(value, model.trainable_variables)
                dot = tf.add_n([tf.reduce_sum(g * v) for g, v in zip(grads, state["v"])])
            hv = outer.gradient(dot, model.trainable_variables)
            norm = float(tf.sqrt(tf.add_n([tf.reduce_sum(h * h) for h in hv])))
            eig = float(tf.add_n([tf.reduce_sum(h * v) for h, v in zip(hv, state["v"])]))
            previous, state["eig"] = state["eig"], eig
            state["v"] = [h / norm for h in hv]
            return abs(eig - previous) <= 1e-4 * abs(eig)

        state["v"] = [v / float(tf.sqrt(tf.add_n([tf.reduce_sum(u * u) for u in state["v"]]))) for v in state["v"]]
        jobs.run(f"batch {bs} λmax (to the iteration cap: an upper bound)", settings["hessian_iterations"],
                 power_iteration)
    return jobs.result(f"{len(sizes)} models by fit per epoch; eager Jacobians, ascent steps and Hessian-vector "
                       "products")


REFERENCES = {"part3_random_labels": random_labels, "part3_params_vs_generalization": params_vs_generalization,
              "part3_interpolation": interpolation, "part3_sensitivity": sensitivity}
