"""The "usual way" of the HW1-3 protocols, timed, for ``benchmarks/run.py``.

Each reference replays one experiment's protocol as homework notebooks write it: one
Keras model at a time, ``model.fit(epochs=1)`` per epoch, ``model.evaluate`` for every
metric, Python loops over α points, ascent steps and power iterations with eager
``GradientTape``. Same data, architectures, optimizer, batch sizes, epochs and stopping
rules as the experiment's settings.json.

``REFERENCES = {experiment: fn(settings, budget_seconds, folder) -> dict}``, with ``settings``
the "settings" block of the experiment's settings.json and ``folder`` hw1's run of it; see
``reference_common.Jobs`` for how a part of the protocol is run and the rest extrapolated
(returned: ``seconds``, the estimated whole protocol; ``measured_seconds``; ``fraction``;
``note``). Where the protocol's length depends on the data (epochs to memorize random labels,
steps of each sensitivity model to the loss target), the reference replays the length hw1's
run had (history.csv, models.csv), so that both do the same work. One stopping rule is
extrapolated from a trend, and says so: the power iteration for λmax (iterations to a relative
change of ``hessian_rtol``, from the geometric decay of the changes measured; at most
``POWER_ITERATIONS``).
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

from hw1.lab import data, labels, models  # noqa: E402
from reference_common import Jobs, read_csv, sensitivity_models  # noqa: E402

POWER_ITERATIONS = 300  # the power iteration's cap: hw1's Lanczos cap (hw1.hessian_eigenvalues's max_iterations)
POWER_MIN_ITERATIONS = 6  # always run, so that the decay of the changes can be extrapolated
JACOBIAN_BATCH = 100  # test images per eager batch_jacobian call


def _dataset(settings: dict) -> data.Dataset:
    return data.load(settings["dataset"]["name"], limit=settings.get("train_limit"), seed=0)


def _optimizer(learning_rate: float, settings: dict | None = None,
               steps_per_epoch: int = 1) -> keras.optimizers.Optimizer:
    """The optimizer and learning-rate schedule a settings block names (Adam at a constant rate by default), as
    ``keras.optimizers`` and ``keras.optimizers.schedules`` objects."""
    s = settings or {}
    rate: object = learning_rate
    if s.get("schedule") == "step":
        rate = keras.optimizers.schedules.PiecewiseConstantDecay(  # hw1 decays at the first step of each epoch
            [e * steps_per_epoch - 1 for e in s["decay_epochs"]],
            [learning_rate * s["decay_factor"] ** i for i in range(len(s["decay_epochs"]) + 1)])
    elif s.get("schedule") == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(learning_rate, s["epochs"] * steps_per_epoch,
                                                      alpha=s["decay_factor"])
    if s.get("optimizer", "adam") == "sgd":
        return keras.optimizers.SGD(rate, momentum=float(s.get("momentum", 0.0)))
    return keras.optimizers.Adam(rate)


def _compiled(widths: list[int], dataset: data.Dataset, learning_rate: float, seed: int = 0,
              settings: dict | None = None) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = models.fc_net(widths, dataset.input_shape, dataset.num_classes)
    steps = -(-len(dataset.x_train) // settings["batch_size"]) if settings else 1
    model.compile(optimizer=_optimizer(learning_rate, settings, steps), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _epoch(model: keras.Model, dataset: data.Dataset, batch_size: int) -> None:
    model.fit(dataset.x_train, dataset.y_train, batch_size=batch_size, epochs=1, verbose=0)


def _evaluate(model: keras.Model, dataset: data.Dataset) -> list[float]:
    """[train loss, train acc, test loss, test acc] by ``model.evaluate``."""
    return [*model.evaluate(dataset.x_train, dataset.y_train, verbose=0),
            *model.evaluate(dataset.x_test, dataset.y_test, verbose=0)]


def _train_job(jobs: Jobs, name: str, widths: list[int], dataset: data.Dataset, learning_rate: float,
               batch_size: int, epochs: int, seed: int = 0) -> keras.Model:
    """Train one model by ``fit`` per epoch, then evaluate it; returns the model."""
    holder: dict[str, keras.Model] = {}

    def setup() -> None:
        holder["model"] = _compiled(widths, dataset, learning_rate, seed)

    jobs.run(name, epochs, lambda: _epoch(holder["model"], dataset, batch_size), setup)
    jobs.run(f"{name} evaluation", 1, lambda: _evaluate(holder["model"], dataset) and None)
    return holder["model"]


# ---------------------------------------------------------------- the four protocols

def random_labels(settings: dict, budget_seconds: float, folder: Path | None = None) -> dict[str, object]:
    """Per label set (random, then the true-label twin): the metrics at epoch 0, then per epoch fit + evaluate
    both sets, for the epochs hw1's run took to reach the target training accuracy (or the cap): history.csv."""
    dataset = _dataset(settings)
    noisy = labels.random_label_dataset(dataset, seed=settings["label_seed"])
    history = read_csv(folder, "history.csv")
    jobs = Jobs(budget_seconds, 2)
    lengths = []
    for kind, ds in (("random", noisy), ("original", dataset)):
        epochs = int(history.loc[history["labels"] == kind, "epoch"].max())
        lengths.append(epochs)
        holder: dict[str, keras.Model] = {}

        def setup(ds=ds, holder=holder) -> None:
            holder["model"] = _compiled(settings["widths"], ds, settings["learning_rate"], settings["label_seed"],
                                        settings)
            _evaluate(holder["model"], ds)

        def epoch(ds=ds, holder=holder) -> None:  # fit one epoch, evaluate both sets, test the target accuracy
            _epoch(holder["model"], ds, settings["batch_size"])
            holder["reached"] = _evaluate(holder["model"], ds)[1] >= settings["target_train_acc"]  # the length
            # replayed is hw1's

        jobs.run(f"{kind}-label training", epochs, epoch, setup)
    return jobs.result(f"fit per epoch + evaluate train and test each epoch, for the {lengths[0]} (random labels) "
                       f"and {lengths[1]} (true labels) epochs hw1's runs took to "
                       f"{settings['target_train_acc']:.0%} training accuracy")


def params_vs_generalization(settings: dict, budget_seconds: float, folder: Path | None = None) -> dict[str, object]:
    """Per width and seed: fit per epoch + evaluate the training set (the criterion's check), for the epochs
    hw1's run of that model took (models.csv: to the loss target, or the cap), then evaluate both sets."""
    dataset = _dataset(settings)
    table = read_csv(folder, "models.csv")
    jobs = Jobs(budget_seconds, 2 * len(table))
    for row in table.sort_values(["width", "seed"]).itertuples():
        holder: dict[str, keras.Model] = {}

        def setup(width=int(row.width), seed=int(row.seed), holder=holder) -> None:
            holder["model"] = _compiled([width], dataset, settings["learning_rate"], seed)

        def epoch(holder=holder) -> bool:
            _epoch(holder["model"], dataset, settings["batch_size"])
            return False  # the length replayed is hw1's; the check below is the work it does

        def check(holder=holder) -> None:
            epoch(holder)
            holder["model"].evaluate(dataset.x_train, dataset.y_train, verbose=0)

        jobs.run(f"width {row.width}, seed {row.seed}", int(row.epochs), check, setup)
        jobs.run(f"width {row.width}, seed {row.seed} evaluation", 1, lambda h=holder: _evaluate(h["model"], dataset)
                 and None)
    return jobs.result(f"{len(table)} models, one at a time, fit per epoch + a training-set check of the criterion "
                       f"({criterion(settings)}) each epoch, for the {int(table['epochs'].sum()):,} epochs "
                       "hw1's models took (to the criterion or the cap), then evaluate both sets")


def criterion(settings: dict) -> str:
    """1-3b's stopping criterion in words: a loss target, an accuracy target, or both (the first met stops).

    Example:
        >>> criterion({"target_loss": None, "target_acc": 0.99})
        'training accuracy ≥ 0.99'
    """
    parts = ([f"training loss ≤ {settings['target_loss']:g}"] if settings.get("target_loss") is not None else []) + \
        ([f"training accuracy ≥ {settings['target_acc']:g}"] if settings.get("target_acc") is not None else [])
    return " or ".join(parts)


def interpolation(settings: dict, budget_seconds: float, folder: Path | None = None) -> dict[str, object]:
    dataset = _dataset(settings)
    (bs1, bs2), (lr1, lr2) = settings["batch_sizes"], settings["learning_rates"]
    alphas = np.unique(np.round(np.concatenate([np.linspace(settings["alpha_min"], settings["alpha_max"],
                                                            settings["alpha_points"]), [0.0, 1.0]]), 10))
    seed2 = 1 if settings.get("init") == "independent" else 0  # shared: every endpoint from the same weights
    jobs = Jobs(budget_seconds, 3 * 2 + 2)
    trained = {spec: [v.numpy() for v in _train_job(jobs, f"batch {spec[0]}, lr {spec[1]:g}", settings["widths"],
                                                    dataset, spec[1], spec[0], settings["epochs"], seed).weights]
               for spec, seed in (((bs1, lr1), 0), ((bs2, lr1), seed2), ((bs1, lr2), seed2))}
    probe = _compiled(settings["widths"], dataset, lr1)
    for pair, (first, second) in {"batch_size": ((bs1, lr1), (bs2, lr1)),
                                  "learning_rate": ((bs1, lr1), (bs1, lr2))}.items():
        points = iter(alphas)

        def point(w1=trained[first], w2=trained[second], points=points) -> None:
            alpha = next(points)
            probe.set_weights([(1 - alpha) * a + alpha * b for a, b in zip(w1, w2)])
            _evaluate(probe, dataset)

        jobs.run(f"pair {pair}: α points", len(alphas), point)
    return jobs.result(f"3 distinct endpoints trained by fit per epoch; each of {len(alphas)} α per pair: set_weights "
                       "+ evaluate train and test")


def _power_iterations_left(changes: list[float], rtol: float, cap: int):
    """``left(done)`` for the power iteration: iterations until the relative change of the Rayleigh quotient
    falls to ``rtol``, from the geometric decay of the last (up to five) changes; the cap when they do not decay."""
    def left(done: int) -> int:
        seen = np.log([c for c in changes if np.isfinite(c) and c > 0][-5:])
        if len(seen) >= 3:
            slope = np.polyfit(np.arange(len(seen)), seen, 1)[0]
            if slope < 0:
                return int(np.clip(np.ceil((np.log(rtol) - seen[-1]) / slope), 1, cap - done))
        return cap - done
    return left


def sensitivity(settings: dict, budget_seconds: float, folder: Path | None = None) -> dict[str, object]:
    """Every (condition, seed) of both sweeps (the shared condition once), one Keras model at a time:

    * training: ``model.fit`` one epoch at a time (or ``every`` epochs, the check interval, when an epoch has
      fewer than ``check_steps`` steps), ``model.evaluate`` on the full training set after each to test the
      loss target, for the number of checks hw1's model took (models.csv: its epochs and steps); then the
      test metrics;
    * sensitivity: eager ``batch_jacobian`` of softmax(f(x)) w.r.t. x over the test images, 100 at a time;
    * ε-sharpness: eager projected sign-gradient ascent, the full-set loss and gradient per step, ``steps + 1``
      evaluations from each of ``starts`` starting points;
    * λmax: power iteration with eager Hessian-vector products (nested ``GradientTape``) of the full-set loss,
      until the eigenvalue estimate changes by at most ``hessian_rtol`` (relative) from one iteration to the
      next, as PyHessian's ``eigenvalues(tol=1e-3)`` does (extrapolated from the decay of the changes when cut
      short). A weaker stopping rule than hw1's Lanczos residual test, so fewer products: it favours the
      reference.
    """
    dataset = _dataset(settings)
    runs = sensitivity_models(settings, folder)
    jobs = Jobs(budget_seconds, 5 * len(runs))
    x_train, y_train = tf.constant(dataset.x_train), tf.constant(dataset.y_train)
    loss_of = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    rtol, target = settings["hessian_rtol"], settings["target_loss"]
    for run in runs.itertuples():
        name = f"batch {run.batch_size}, lr {run.learning_rate:g}, seed {run.seed}"
        holder: dict = {"epochs": 0}

        def setup(run=run) -> None:
            holder["model"] = _compiled(settings["widths"], dataset, run.learning_rate, int(run.seed))

        def interval(run=run) -> None:  # fit to the next check, then the full-set training loss against the target
            count = min(run.every, run.epochs - holder["epochs"])
            holder["model"].fit(dataset.x_train, dataset.y_train, batch_size=int(run.batch_size), epochs=int(count),
                                verbose=0)
            holder["epochs"] += count
            holder["reached"] = holder["model"].evaluate(dataset.x_train, dataset.y_train, verbose=0)[0] <= target

        jobs.run(f"{name} training", int(run.checks), interval, setup)
        jobs.run(f"{name} test metrics", 1, lambda: holder["model"].evaluate(dataset.x_test, dataset.y_test,
                                                                             verbose=0) and None)
        model, live = holder["model"], not bool(run.diverged)
        theta = [v.numpy() for v in model.trainable_variables]

        batches = iter(range(0, len(dataset.x_test), JACOBIAN_BATCH))

        def jacobian_batch(batches=batches, model=model) -> None:  # eager batch_jacobian of softmax w.r.t. the input
            start = next(batches)
            x = tf.constant(dataset.x_test[start:start + JACOBIAN_BATCH])
            with tf.GradientTape() as tape:
                tape.watch(x)
                p = tf.nn.softmax(model(x))
            tf.norm(tf.reshape(tape.batch_jacobian(p, x), [len(x), -1]), axis=1).numpy()

        jobs.run(f"{name} sensitivity", live * -(-len(dataset.x_test) // JACOBIAN_BATCH), jacobian_batch)

        rng = np.random.default_rng(int(run.seed))
        bound = [settings["epsilon"] * (np.abs(t) + 1) for t in theta]
        starts = [[np.zeros_like(b) for b in bound]] + [[rng.uniform(-b, b).astype(np.float32) for b in bound]
                                                        for _ in range(settings["sharpness_starts"] - 1)]
        ascent = {"start": 0, "step": 0, "delta": starts[0]}

        def ascent_step(model=model, theta=theta, bound=bound, starts=starts, ascent=ascent) -> None:
            """One evaluation of the full-set loss and gradient at θ + Δ, then Δ's projected sign step."""
            if ascent["step"] > settings["sharpness_steps"]:  # next start
                ascent.update(start=ascent["start"] + 1, step=0, delta=starts[ascent["start"] + 1])
            for v, t, d in zip(model.trainable_variables, theta, ascent["delta"]):
                v.assign(t + d)
            with tf.GradientTape() as tape:
                value = loss_of(y_train, model(x_train))
            float(value)
            grads = tape.gradient(value, model.trainable_variables)
            ascent["delta"] = [np.clip(d + b * np.sign(g.numpy()), -b, b)
                               for d, b, g in zip(ascent["delta"], bound, grads)]
            ascent["step"] += 1

        jobs.run(f"{name} sharpness", live * (settings["sharpness_steps"] + 1) * settings["sharpness_starts"],
                 ascent_step)
        for v, t in zip(model.trainable_variables, theta):
            v.assign(t)
        start = [np.random.default_rng(int(run.seed)).standard_normal(t.shape).astype(np.float32) for t in theta]
        norm = float(np.sqrt(sum(float(np.sum(s * s)) for s in start)))
        power = {"v": [tf.constant(s / norm) for s in start], "eig": np.nan}
        changes: list[float] = []

        def power_iteration(model=model, power=power, changes=changes) -> bool:  # an eager HVP by nested tapes
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    value = loss_of(y_train, model(x_train))
                grads = inner.gradient(value, model.trainable_variables)
                dot = tf.add_n([tf.reduce_sum(g * v) for g, v in zip(grads, power["v"])])
            hv = outer.gradient(dot, model.trainable_variables)
            norm = float(tf.sqrt(tf.add_n([tf.reduce_sum(h * h) for h in hv])))
            eig = float(tf.add_n([tf.reduce_sum(h * v) for h, v in zip(hv, power["v"])]))
            previous, power["eig"] = power["eig"], eig
            power["v"] = [h / norm for h in hv]
            changes.append(abs(eig - previous) / max(abs(eig), 1e-30))
            return changes[-1] <= rtol

        jobs.run(f"{name} λmax", live * POWER_ITERATIONS, power_iteration,
                 left=_power_iterations_left(changes, rtol, POWER_ITERATIONS), min_units=POWER_MIN_ITERATIONS)
    conditions = runs.drop_duplicates(["batch_size", "learning_rate"])
    return jobs.result(f"{len(runs)} models ({len(conditions)} conditions × {runs['seed'].nunique()} seeds) one at a "
                       f"time, fit to each check + evaluate the training set, for the {int(runs['steps'].sum()):,} "
                       "steps hw1's models took (models.csv); eager batch_jacobian, eager projected ascent, power "
                       "iteration with eager HVPs (iterations past those run: from the decay of the changes)")


REFERENCES = {"part3_random_labels": random_labels, "part3_params_vs_generalization": params_vs_generalization,
              "part3_interpolation": interpolation, "part3_sensitivity": sensitivity}
