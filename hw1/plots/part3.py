"""HW1-3 figures: random labels, parameters vs generalization, interpolation, sensitivity.

Drawn from each experiment's CSVs and settings.json alone. Training curves are solid,
test curves dashed; a second y-axis is coloured like its curves; diverged models are
left out and named in the caption.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import NullLocator
import pandas as pd

from hw1.plots import TEST_STYLE, TRAIN_STYLE, settings
from hw1.results import atomic_path, read_csv, read_json

LOSS_COLOR, ACC_COLOR, MEASURE_COLOR = "C0", "C3", "C2"
CAPTION_PT, LEGEND_PT = 7.5, 8.0
LOSS_LABEL = "cross-entropy loss (nats, log scale)"
# (column suffix, y label, colour, name) of the loss figure and the accuracy figure of a sweep
TRAIN_TEST_PANELS = (("loss", LOSS_LABEL, LOSS_COLOR, "loss"), ("acc", "accuracy", ACC_COLOR, "accuracy"))
SENSITIVITY_LABEL = "sensitivity ‖∂softmax/∂x‖_F (test mean)"


# ---------------------------------------------------------------- helpers

def _finish(fig: plt.Figure, path: Path, text: str, legend_from: Sequence[plt.Axes] = ()) -> Path:
    """Lay the axes out above an optional one-row legend and a wrapped caption; save as PNG; close.

    ``legend_from``: axes whose labelled lines go into one legend under the plot (for twin axes,
    where no spot inside the axes is free for both).
    """
    width, height = fig.get_size_inches()
    lines = textwrap.wrap(text, width=int(width * 15))
    bottom = (len(lines) * CAPTION_PT * 1.3 + 6) / (height * 72)
    fig.text(0.5, 0.01, "\n".join(lines), ha="center", va="bottom", fontsize=CAPTION_PT, color="0.3")
    if legend_from:
        handles, labels = [], []
        for ax in legend_from:
            h, lab = ax.get_legend_handles_labels()
            handles, labels = handles + h, labels + lab
        columns = min(len(handles), 5)
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, bottom), ncol=columns, frameon=False)
        bottom += (math.ceil(len(handles) / columns) * LEGEND_PT * 1.7 + 6) / (height * 72)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _architecture(config: dict, widths: Sequence[object] | None = None) -> str:
    """``784-128-10``: input size, hidden widths, classes."""
    data = config["dataset"]
    return "-".join(map(str, [math.prod(data["input_shape"]), *(widths or config["widths"]), data["num_classes"]]))


def _data_text(config: dict) -> str:
    data = config["dataset"]
    return f"{data['name']}: {data['train_size']:,} training / {data['test_size']:,} test images"


def _excluded(frame: pd.DataFrame, label: str) -> tuple[pd.DataFrame, str]:
    """The rows that did not diverge, and a caption note naming the ones left out."""
    bad = frame["diverged"].astype(bool)
    names = ", ".join(label.format(**r) for r in frame[bad].to_dict("records"))
    return frame[~bad], (f" Left out (diverged): {names}." if names else "")


def _train_test(ax: plt.Axes, frame: pd.DataFrame, x: str, metric: str, color: str, name: str, **style) -> None:
    ax.plot(frame[x], frame[f"train_{metric}"], color=color, label=f"train {name}", **TRAIN_STYLE, **style)
    ax.plot(frame[x], frame[f"test_{metric}"], color=color, label=f"test {name}", **TEST_STYLE, **style)


def _twin(ax: plt.Axes, color: str, label: str) -> plt.Axes:
    """A second y-axis on the right, coloured like its curves."""
    right = ax.twinx()
    right.spines["right"].set_visible(True)
    right.grid(False)
    right.tick_params(axis="y", colors=color)
    right.set_ylabel(label, color=color)
    return right


def _color_axis(ax: plt.Axes, color: str) -> None:
    ax.tick_params(axis="y", colors=color)
    ax.yaxis.label.set_color(color)


def _batch_axis(ax: plt.Axes, batch_sizes: Sequence[int]) -> None:
    ax.set_xscale("log")
    ax.set_xticks(list(batch_sizes), [str(b) for b in batch_sizes])
    ax.xaxis.set_minor_locator(NullLocator())  # x only: a log y axis under a decade needs its minor labels
    ax.set_xlabel("batch size (log scale)")


# ---------------------------------------------------------------- 1-3a random labels

def random_labels(folder: Path) -> list[Path]:
    """Training and test loss against epochs (left), accuracy (right), chance and target marked."""
    history = read_csv(folder / "history.csv")
    stored = read_json(folder / "settings.json")
    config, summary = stored["settings"], stored["summary"]
    chance, target = 1.0 / config["dataset"]["num_classes"], config["target_train_acc"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.4))
    _train_test(left, history, "epoch", "loss", LOSS_COLOR, "loss")
    left.set(yscale="log", xlabel="epoch", ylabel=LOSS_LABEL, title="Loss")
    left.legend()
    _train_test(right, history, "epoch", "acc", ACC_COLOR, "accuracy")
    right.axhline(chance, color="0.5", ls=":", lw=1, label=f"chance ({chance:.0%})")
    right.axhline(target, color="0.2", ls="-.", lw=0.8, label=f"target ({target:.0%} training accuracy)")
    right.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02), title="Accuracy")
    right.legend(loc="center right")
    when = (f"reached {target:.0%} training accuracy at epoch {summary['epochs_to_target']}"
            if summary["epochs_to_target"] is not None
            else f"did NOT reach {target:.0%} in {summary['epochs_run']} epochs")
    fig.suptitle(f"Random labels: MLP {_architecture(config)} ({summary['params']:,} parameters) {when}", fontsize=11)
    text = (f"{_data_text(config)}. {config['labels_changed']:.1%} of the training labels changed to uniformly random "
            f"ones (seed {config['label_seed']}); test labels true. Adam, learning rate {config['learning_rate']:g}, "
            f"batch size {config['batch_size']}; full-set metrics in inference mode after every epoch."
            + (" The run DIVERGED." if summary["diverged"] else ""))
    return [_finish(fig, folder / "random_labels.png", text)]


# ---------------------------------------------------------------- 1-3b parameters vs generalization

def params_vs_generalization(folder: Path) -> list[Path]:
    """Training and test loss against the number of parameters; accuracy likewise (log x, widths on top)."""
    models = read_csv(folder / "models.csv").sort_values("params")
    config = settings(folder)
    models, note = _excluded(models, "{model}")
    widths = sorted(config["widths"])
    text = (f"{len(models)} fully connected nets {_architecture(config, ['w'])} (one hidden relu layer of width "
            f"w = {widths[0]} … {widths[-1]}), each from a fresh initialization with the same budget: "
            f"{config['epochs']} epochs of Adam, learning rate {config['learning_rate']:g}, batch size "
            f"{config['batch_size']}. {_data_text(config)}; metrics on the full sets after training.{note}")
    out = []
    for metric, ylabel, color, name in TRAIN_TEST_PANELS:
        fig, ax = plt.subplots(figsize=(7, 4.8))
        _train_test(ax, models, "params", metric, color, name, marker="o", ms=4)
        ax.set(xscale="log", yscale="log" if metric == "loss" else "linear", ylabel=ylabel,
               xlabel="number of parameters (log scale)")
        ax.legend()
        top = ax.twiny()  # each model's hidden width above its parameter count
        top.set(xscale="log", xlim=ax.get_xlim(), xlabel="hidden width w")
        top.set_xticks(list(models["params"]), [m.split("-")[1] for m in models["model"]])
        top.xaxis.set_minor_locator(NullLocator())
        top.grid(False)
        ax.set_title(f"{name.capitalize()} vs number of parameters")
        out.append(_finish(fig, folder / f"params_{'loss' if metric == 'loss' else 'accuracy'}.png", text))
    return out


# ---------------------------------------------------------------- 1-3c interpolation

PAIR_TEXT = {"batch_size": ("batch size", "{batch_size}"), "learning_rate": ("learning rate", "{learning_rate:g}")}


def interpolation(folder: Path) -> list[Path]:
    """Per pair: loss (log, left axis) and accuracy (right axis) along θα; training solid, test dashed."""
    curves = read_csv(folder / "interpolation.csv")
    ends = read_csv(folder / "endpoints.csv")
    config = settings(folder)
    out = []
    for pair, pair_ends in ends.groupby("pair", sort=False):
        what, fmt = PAIR_TEXT.get(pair, (pair, "{" + pair + "}"))
        first, second = (fmt.format(**r) for r in pair_ends.sort_values("alpha").to_dict("records"))
        curve = curves[curves["pair"] == pair]
        fig, ax = plt.subplots(figsize=(7.6, 5))
        axes = [ax]
        if curve.empty:
            ax.text(0.5, 0.5, "an endpoint diverged: nothing to interpolate", ha="center", transform=ax.transAxes)
        else:
            _train_test(ax, curve, "alpha", "loss", LOSS_COLOR, "loss")
            ax.set_yscale("log")
            right = _twin(ax, ACC_COLOR, "accuracy")
            _train_test(right, curve, "alpha", "acc", ACC_COLOR, "accuracy")
            right.set_ylim(0, 1.02)
            axes.append(right)
        for alpha in (0, 1):
            ax.axvline(alpha, color="0.45", ls=":", lw=1)
        top = ax.secondary_xaxis("top")
        top.set_xticks([0, 1], [f"θ1: {what} {first}", f"θ2: {what} {second}"], fontsize=8)
        ax.set(xlabel="α   (θα = (1 − α)·θ1 + α·θ2)", ylabel=LOSS_LABEL,
               title=f"Interpolation between two trained models: {what} {first} vs {second}")
        _color_axis(ax, LOSS_COLOR)
        fixed = (f"batch size {config['batch_sizes'][0]}" if pair == "learning_rate"
                 else f"learning rate {config['learning_rates'][0]:g}")
        text = (f"MLP {_architecture(config)}, Adam, {fixed}, {config['epochs']} epochs per endpoint, "
                f"{config['init']} initial weights. Every θα is evaluated on the full sets without retraining. "
                f"{_data_text(config)}.")
        out.append(_finish(fig, folder / f"interpolation_{pair}.png", text, legend_from=axes))
    return out


# ---------------------------------------------------------------- 1-3d sensitivity, sharpness, curvature

def sensitivity(folder: Path) -> list[Path]:
    """Loss + sensitivity and accuracy + sensitivity on two y-axes; sensitivity, sharpness, λmax side by side."""
    models = read_csv(folder / "models.csv").sort_values("batch_size")
    config = settings(folder)
    models, note = _excluded(models, "batch {batch_size}")
    sizes = [int(b) for b in models["batch_size"]]
    steps = ", ".join(f"{config['steps_by_batch'][str(b)]:,}" for b in sizes)
    epochs = ", ".join(f"{config['epochs_by_batch'][str(b)]:,}" for b in sizes)
    budget = (f"the same {config['epochs']} epochs for every batch size ({steps} steps)" if config["same"] == "epochs"
              else f"about the same {config['steps']:,} steps for every batch size ({steps} steps; {epochs} epochs)")
    common = (f"MLP {_architecture(config)}, Adam, learning rate {config['learning_rate']:g}, {budget}, same "
              f"initial weights. {_data_text(config)}.{note}")
    out = []
    for metric, ylabel, color, name in TRAIN_TEST_PANELS:
        fig, ax = plt.subplots(figsize=(7.4, 4.8))
        _train_test(ax, models, "batch_size", metric, color, name, marker="o", ms=4)
        ax.set(yscale="log" if metric == "loss" else "linear", ylabel=ylabel,
               title=f"{name.capitalize()} and sensitivity vs batch size")
        _color_axis(ax, color)
        _batch_axis(ax, sizes)
        right = _twin(ax, MEASURE_COLOR, SENSITIVITY_LABEL)
        right.plot(models["batch_size"], models["sensitivity"], color=MEASURE_COLOR, marker="s", ms=5, lw=1.6,
                   label="sensitivity (right axis)")
        out.append(_finish(fig, folder / f"{'loss' if metric == 'loss' else 'accuracy'}_sensitivity.png", common,
                           legend_from=[ax, right]))

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
    panels = (("sensitivity", SENSITIVITY_LABEL, "Sensitivity (Novak et al. 2018)"),
              ("sharpness", f"ε-sharpness, % of (1 + L), ε = {config['epsilon']:g}",
               "Sharpness (Keskar et al. 2017)"),
              ("top_hessian_eigenvalue", "largest Hessian eigenvalue λmax", "Top Hessian eigenvalue"))
    for ax, (column, ylabel, title) in zip(axes, panels):
        ax.plot(models["batch_size"], models[column], color=MEASURE_COLOR, marker="o")
        if column != "sensitivity" and (models[column] > 0).all():
            ax.set_yscale("log")
            ylabel += " (log scale)"
        _batch_axis(ax, sizes)
        ax.set(ylabel=ylabel, title=title)
    losses = ", ".join(f"{v:.2g}" for v in models["train_loss"])
    text = (f"Sensitivity: mean over the test set. Sharpness (projected sign-gradient ascent, "
            f"{config['sharpness_steps']} steps, {config['sharpness_starts']} starts) and λmax (power iteration on "
            f"Hessian-vector products): of the full training loss, which itself is {losses} nats for these batch "
            f"sizes. {common}")
    out.append(_finish(fig, folder / "flatness.png", text))
    return out


FIGURES = {"part3_random_labels": random_labels, "part3_params_vs_generalization": params_vs_generalization,
           "part3_interpolation": interpolation, "part3_sensitivity": sensitivity}
