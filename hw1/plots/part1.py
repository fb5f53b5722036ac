"""HW1-1 figures: deep vs shallow on functions and on an actual task."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import pandas as pd

from hw1.data import FUNCTION_LABELS
from hw1.plots import TEST_STYLE, TRAIN_STYLE, caption, lines, save, settings
from hw1.results import read_csv


def _model_labels(models: pd.DataFrame) -> dict[str, str]:
    labels = {}
    for row in models.itertuples():
        if "hidden_layers" in models:
            layers = f"{row.hidden_layers} hidden layer{'s' if row.hidden_layers > 1 else ''}"
            labels[row.model] = f"{layers} ({row.widths}), {row.params:,} params"
            if row.diverged_runs:
                labels[row.model] += f"; {row.diverged_runs} of {row.runs} runs diverged, not drawn"
        else:
            labels[row.model] = f"{row.model.upper()}: {row.description}, {row.params:,} params"
            if row.diverged:
                labels[row.model] += " (diverged: loss became NaN/inf; not drawn)"
    return labels


def simulate_function(folder: Path) -> list[Path]:
    """Per function: all models' training loss (log y), and their predicted curves with the ground truth."""
    models = read_csv(folder / "models.csv")
    history = read_csv(folder / "history.csv")
    predictions = read_csv(folder / "predictions.csv")
    config = settings(folder)
    out = []
    for function, expr in config["functions"].items():
        expr = FUNCTION_LABELS.get(function, expr)
        labels = _model_labels(models[models["function"] == function])
        order = list(labels)

        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        part = history[history["function"] == function]
        median = part.merge(models[models["function"] == function][["model", "median_run"]], on="model")
        median = median[median["run"] == median["median_run"]]
        colors = lines(ax, median, "epoch", "loss", "model", labels, order, lw=1.3)
        spread = part.groupby(["model", "epoch"])["loss"].agg(["min", "max"]).reset_index()
        for model, color in colors.items():
            band = spread[spread["model"] == model]
            ax.fill_between(band["epoch"], band["min"], band["max"], color=color, alpha=0.12, lw=0)
        ax.set(yscale="log", xlabel="epoch (full-batch Adam step)", ylabel="training loss (MSE)",
               title=f"Training loss, {function}: y = {expr}")
        ax.legend()
        caption(fig, f"Line: median of {config['runs']} seeds per model (band: min to max over seeds). Adam, "
                     f"learning rate {config['learning_rate']:g}, {config['samples']} points on (0, 1], "
                     f"target {config['target_params']} parameters.")
        out.append(save(fig, folder / f"loss_{function}.png"))

        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        part = predictions[predictions["function"] == function]
        truth = part[part["model"] == "ground_truth"]
        ax.plot(truth["x"], truth["y"], color="black", lw=2.2, label="ground truth")
        lines(ax, part, "x", "y", "model", labels, order, lw=1.2)
        ax.set(xlabel="x", ylabel="y", title=f"Predictions vs ground truth, {function}: y = {expr}")
        ax.legend()
        caption(fig, f"Each model's median run of {config['runs']} seeds (by final training loss)")
        out.append(save(fig, folder / f"predictions_{function}.png"))
    return out


def actual_task(folder: Path) -> list[Path]:
    """All models' training loss in one chart; training accuracy in one chart (test dashed beside)."""
    models = read_csv(folder / "models.csv")
    history = read_csv(folder / "history.csv")
    config = settings(folder)
    labels = _model_labels(models)
    order = list(labels)
    out = []
    for metric, name in (("loss", "cross-entropy loss"), ("acc", "accuracy")):
        fig, ax = plt.subplots(figsize=(6.8, 4.4))
        colors = lines(ax, history, "epoch", f"train_{metric}", "model", labels, order, **TRAIN_STYLE)
        lines(ax, history, "epoch", f"test_{metric}", "model", {k: f"_{k}" for k in order}, order, colors,
              **TEST_STYLE)
        ax.plot([], [], color="0.4", **TRAIN_STYLE, label="train (solid)")
        ax.plot([], [], color="0.4", **TEST_STYLE, label="test (dashed)")
        if metric == "loss":
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="epoch", ylabel=name, title=f"{'Loss' if metric == 'loss' else 'Accuracy'} on "
                                                  f"{config['dataset']['name']}")
        ax.legend(loc="upper right" if metric == "loss" else "lower right")
        caption(fig, f"Adam, learning rate {config['learning_rate']:g}, batch size {config['batch_size']}, "
                     f"{config['dataset']['train_size']:,} training / {config['dataset']['test_size']:,} test images")
        out.append(save(fig, folder / f"{metric}.png"))
    return out


FIGURES = {"part1_simulate_function": simulate_function, "part1_actual_task": actual_task}
