"""The report: every question of the homework answered from the measured numbers.

``python -m hw1.report [DIR] [--link-figures]`` reads ``DIR/<experiment>/settings.json``
and the CSVs beside it (nothing else: no TensorFlow, no training) and writes

- ``DIR/REPORT.md``: Markdown, figures linked by relative path;
- ``DIR/report.html``: one self-contained page (figures embedded as base64 PNG, CSS
  inline, no external URL), readable offline in any browser. ``--link-figures`` links
  the PNGs by relative path instead of embedding them.

One section per task of the assignment, in its order. Each has "Describe" (settings
tables from settings.json), the figures the assignment asks for, and "Comment":
sentences generated from the CSVs. A comment that tests a textbook expectation is
marked as agreeing or contradicting it; contradictions are also listed at the top.
An experiment whose folder has no settings.json is reported as not run. A quantity "tends to"
rise or fall when its Spearman rank correlation is at least 0.3 in size ("consistently": 0.8),
and a textbook expectation holds when the trend goes its way at least that clearly.

Exit status: 0 when every section that has results was built, 1 when one could not be (its
error is in the report and on stderr), 2 when DIR does not exist.
"""

from __future__ import annotations

import argparse
import base64
import html
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from hw1.data import FUNCTION_LABELS
from hw1.results import read_json, write_text

LOSS_NAMES = {"mse": "mean squared error", "sparse_ce": "cross-entropy (nats)"}
FEW = 5  # fewer points than this: a rank correlation is weak evidence, and the report says so
TREND, CONSISTENT = 0.3, 0.8  # |Spearman ρ| from which a quantity "tends to" / "consistently" rises or falls


# ---------------------------------------------------------------- numbers → text

def num(value: object, digits: int = 3) -> str:
    """A measured number for prose: 3 significant digits, thousands separators for large values."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    value = float(value)  # type: ignore[arg-type]
    if not math.isfinite(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def pct(fraction: float, digits: int = 1) -> str:
    """``0.9921875`` → ``99.2%``."""
    return "n/a" if not math.isfinite(fraction) else f"{100 * fraction:.{digits}f}%"


def signed_pct(fraction: float) -> str:
    """A relative change: ``-0.016`` → ``-1.6%``, ``2e-7`` → ``+2e-05%``."""
    return "n/a" if not math.isfinite(fraction) else f"{100 * fraction:+.2g}%"


def span(values: pd.Series, fmt: Callable[[float], str] = num) -> str:
    """``from 0.1 to 0.3``, or ``of 0.1 for all`` when both ends print the same."""
    low, high = fmt(values.min()), fmt(values.max())
    return f"of {low} for all" if low == high else f"from {low} to {high}"


def times(a: float, b: float) -> str:
    """How many times ``a`` is ``b``: ``3.2×``."""
    return "n/a" if b == 0 or not math.isfinite(a / b) else f"{a / b:.3g}×"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def spearman(x: Iterable[float], y: Iterable[float]) -> float:
    """Spearman rank correlation (Pearson correlation of average ranks); NaN with < 3 finite pairs."""
    a, b = np.asarray(list(x), dtype=float), np.asarray(list(y), dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3:
        return math.nan
    ra, rb = pd.Series(a[keep]).rank().to_numpy(), pd.Series(b[keep]).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def rho_text(rho: float, n: int) -> str:
    """``Spearman ρ = -1.00 over 3 points`` (with a caveat when there are few points)."""
    if not math.isfinite(rho):
        return f"no rank correlation computable from {n} point{'s' if n != 1 else ''}"
    caveat = ", too few for firm evidence" if n < FEW else ""
    return f"Spearman ρ = {rho:.2f} over {n:,} points{caveat}"


def rho_value(rho: float) -> str:
    """``ρ = -1.00`` (``ρ = n/a`` when it cannot be computed); for sentences giving several correlations."""
    return f"ρ = {rho:.2f}" if math.isfinite(rho) else "ρ = n/a"


def spearman_over(n: int) -> str:
    """The source of :func:`rho_value` numbers: ``Spearman, 5 models`` (with the few-points caveat)."""
    return f"Spearman, {n:,} models" + (", too few for firm evidence" if n < FEW else "")


def trend(rho: float, up: str = "rises", down: str = "falls") -> str:
    """Words for a rank correlation: ``falls consistently``, ``tends to rise``, ``shows no monotone trend``."""
    if not math.isfinite(rho):
        return "cannot be ranked"
    if rho >= CONSISTENT:
        return f"{up} consistently"
    if rises(rho):
        return f"tends to {up[:-1]}"
    if not falls(rho):
        return "shows no monotone trend"
    return f"tends to {down[:-1]}" if rho > -CONSISTENT else f"{down} consistently"


def rises(rho: float) -> bool:
    return rho >= TREND


def falls(rho: float) -> bool:
    return rho <= -TREND


def mlp_params(sizes: Sequence[int]) -> int:
    """Parameters of a fully connected net with layer sizes ``[inputs, hidden..., outputs]``."""
    return sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))


def mlp_sizes(config: dict, widths: Sequence[int] | None = None) -> list[int]:
    data = config["dataset"]
    return [math.prod(data["input_shape"]), *(config["widths"] if widths is None else widths), data["num_classes"]]


def mlp_text(config: dict, widths: Sequence[int] | None = None) -> str:
    """``MLP 784-128-10 (ReLU), 101,770 parameters``."""
    sizes = mlp_sizes(config, widths)
    return f"MLP {'-'.join(map(str, sizes))} (ReLU), {mlp_params(sizes):,} parameters"


def layers_text(depth: int) -> str:
    return f"{depth} hidden layer{'s' if depth != 1 else ''}"


def live(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows that did not diverge (all rows if there is no ``diverged`` column)."""
    return frame[~frame["diverged"].astype(bool)] if "diverged" in frame else frame


# ---------------------------------------------------------------- the document

@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    title: str = ""


@dataclass
class Figure:
    path: str          # relative to the report's folder, with forward slashes
    title: str
    caption: str
    exists: bool


@dataclass
class Note:
    """One generated comment; ``verdict``: "agrees" / "contradicts" (tests a textbook claim), "warning" (a
    consistency check of the data failed)."""
    text: str
    verdict: str = ""


def versus(observed: str, expected: str, holds: bool) -> Note:
    """A comment that checks a textbook expectation, saying plainly when the data contradicts it."""
    if holds:
        return Note(f"{observed}; as the textbook says, {expected}.", "agrees")
    return Note(f"{observed}, whereas the textbook says {expected}.", "contradicts")


class Run:
    """One experiment's results folder: settings.json, its CSVs (read once), its figures."""

    def __init__(self, root: Path, experiment: str) -> None:
        self.root, self.experiment = root, experiment
        self.folder = root / experiment
        self.meta = read_json(self.folder / "settings.json")
        self.config: dict = self.meta["settings"]
        self._tables: dict[str, pd.DataFrame] = {}

    def csv(self, name: str) -> pd.DataFrame:
        if name not in self._tables:
            self._tables[name] = pd.read_csv(self.folder / name)
        return self._tables[name]

    def figure(self, name: str, title: str, caption: str) -> Figure:
        return Figure(f"{self.experiment}/{name}", title, caption, (self.folder / name).is_file())


@dataclass(frozen=True)
class Task:
    """One section of the report: a task of the assignment and the functions that answer it."""
    key: str
    title: str
    experiment: str
    question: str
    describe: Callable[[Run], list[Table]]
    figures: Callable[[Run], list[Figure]]
    comment: Callable[[Run], list[Note | Table]]  # sentences, and tables of the measured values they cite

    @property
    def anchor(self) -> str:
        return slug(f"{self.key} {self.title}")


@dataclass
class Section:
    task: Task
    run: Run | None
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[Note | Table] = field(default_factory=list)
    error: str = ""

    @property
    def missing(self) -> bool:
        """Not run: no settings.json (an unreadable one is an error, not a missing run)."""
        return self.run is None and not self.error


def slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


# ---------------------------------------------------------------- shared describe rows

def cell(value: object) -> str:
    """A table cell: text as is, numbers through :func:`num`."""
    return value if isinstance(value, str) else num(value)


def settings_table(run: Run, rows: Sequence[tuple[str, object]]) -> Table:
    """Setting | value, ending with the seed and the profile of the run."""
    rows = [*rows, ("Seed", run.meta.get("seed")), ("Profile", run.meta.get("profile"))]
    return Table(["Setting", "Value"], [[name, cell(value)] for name, value in rows], "Settings")


def dataset_rows(config: dict) -> list[tuple[str, object]]:
    data = config["dataset"]
    shape = "×".join(map(str, data["input_shape"]))
    return [("Dataset", f"{data['name']}: {data['train_size']:,} training / {data['test_size']:,} test samples, "
                        f"input {shape}, {data['num_classes']} classes"),
            ("Dataset source", data.get("source", ""))]


def training_rows(config: dict, epochs: object = None, batch: object = None,
                  learning_rate: str | None = None) -> list[tuple[str, object]]:
    """Loss, optimizer, learning rate, batch size, epochs (each overridable by a ready-made text)."""
    batch = config.get("batch_size") if batch is None else batch
    return [("Loss", LOSS_NAMES.get(config.get("loss", ""), config.get("loss", "n/a"))),
            ("Optimizer", str(config.get("optimizer", "n/a")).capitalize()),
            ("Learning rate", learning_rate or f"{config['learning_rate']:g}"),
            ("Batch size", "full batch" if batch in (None, "full") else batch),
            ("Epochs", config.get("epochs") if epochs is None else epochs)]


def metrics_table(frame: pd.DataFrame, key: str, label: str, extra: Sequence[str] = ()) -> Table:
    """Final metrics per model: key column, extra columns, train/test loss and accuracy."""
    header = [label, *extra, "train loss", "train acc", "test loss", "test acc"]
    rows = [[cell(r[key]), *(cell(r[c]) for c in extra), num(r["train_loss"]), pct(r["train_acc"]),
             num(r["test_loss"]), pct(r["test_acc"])] for _, r in frame.iterrows()]
    return Table(header, rows, "Final metrics (full sets, inference mode)")


def diverged_note(frame: pd.DataFrame, what: Callable[[pd.Series], str]) -> list[Note]:
    if "diverged" not in frame or not frame["diverged"].astype(bool).any():
        return []
    names = ", ".join(what(r) for _, r in frame[frame["diverged"].astype(bool)].iterrows())
    return [Note(f"Diverged and left out of every number below: {names}.")]


def against_batch(models: pd.DataFrame, column: str, name: str,
                  fmt: Callable[[float], str] = num) -> tuple[float, str]:
    """Rank correlation of ``column`` with batch size and a sentence giving both ends."""
    first, last = models.iloc[0], models.iloc[-1]
    rho = spearman(models["batch_size"], models[column])
    text = (f"{name} {trend(rho)} as the batch size grows: {fmt(first[column])} at batch "
            f"{num(int(first['batch_size']))}, {fmt(last[column])} at batch {num(int(last['batch_size']))} "
            f"({rho_text(rho, len(models))})")
    return rho, text


# ---------------------------------------------------------------- 1-1a simulate a function

def _function_label(config: dict, function: str) -> str:
    return FUNCTION_LABELS.get(function, config["functions"].get(function, function))


def describe_simulate(run: Run) -> list[Table]:
    c = run.config
    models = run.csv("models.csv")
    functions = "; ".join(f"{name}: y = {_function_label(c, name)}" for name in c["functions"])
    first = models[models["function"] == models["function"].iloc[0]]
    target = c["target_params"]
    architectures = Table(["Model", "Hidden layers", "Widths", "Parameters", "vs target"],
                          [[r.model, num(r.hidden_layers), r.widths, num(r.params),
                            f"{100 * (r.params - target) / target:+.1f}%"] for r in first.itertuples()],
                          "Architectures (fully connected, ReLU, one input, one output)")
    rows = [("Functions", functions), ("Training points", f"{c['samples']} on (0, 1]"),
            *training_rows(c, epochs=f"{c['epochs']:,} full-batch steps", batch="full"),
            ("Seeds per model", f"{c['runs']} (figures show each model's median run by final loss)"),
            ("Target parameter count", target)]
    return [settings_table(run, rows), architectures]


def figures_simulate(run: Run) -> list[Figure]:
    out = []
    for name in run.config["functions"]:
        label = _function_label(run.config, name)
        out += [run.figure(f"loss_{name}.png", f"Training loss, y = {label}",
                           "Training loss (MSE, log scale) per full-batch step of every model; line: median "
                           "seed, band: range over seeds."),
                run.figure(f"predictions_{name}.png", f"Predicted curves, y = {label}",
                           "Each model's prediction (median seed) with the ground truth.")]
    return out


def comment_simulate(run: Run) -> list[Note]:
    c = run.config
    models = run.csv("models.csv")
    notes, best_by_function = [], {}
    for function, group in models.groupby("function", sort=False):
        label = _function_label(c, function)
        ranked = group.sort_values("final_loss")
        best, worst = ranked.iloc[0], ranked.iloc[-1]
        best_by_function[label] = best["final_loss"]
        order = " < ".join(f"{layers_text(r.hidden_layers)} {num(r.final_loss)}" for r in ranked.itertuples())
        notes.append(Note(
            f"y = {label}: the lowest final training loss (MSE, median of {c['runs']} seeds) is reached by the "
            f"model with {layers_text(best['hidden_layers'])} ({num(best['params'])} parameters): "
            f"{num(best['final_loss'])}, {times(worst['final_loss'], best['final_loss'])} lower than the model with "
            f"{layers_text(worst['hidden_layers'])} ({num(worst['final_loss'])}). Order: {order}."))
        rho = spearman(group["hidden_layers"], group["final_loss"])
        notes.append(versus(f"For y = {label} the final loss {trend(rho)} with depth ({rho_text(rho, len(group))})",
                            "deeper nets fit better than shallow ones of the same size", falls(rho)))
        others = ranked.iloc[1:]
        if len(others) and best["final_loss_max"] < others["final_loss_min"].min():
            notes.append(Note(f"y = {label}: the best model's lead holds for every seed: its worst seed "
                              f"({num(best['final_loss_max'])}) beats every other model's best seed "
                              f"(lowest {num(others['final_loss_min'].min())})."))
        elif len(others):
            notes.append(Note(f"y = {label}: the seed ranges overlap (best model's seeds "
                              f"{num(best['final_loss_min'])} to {num(best['final_loss_max'])}; another model's best "
                              f"seed reaches {num(others['final_loss_min'].min())}), so {c['runs']} seeds do not "
                              "settle the ranking."))
        if group["diverged_runs"].sum():
            notes.append(Note(f"y = {label}: {num(int(group['diverged_runs'].sum()))} run(s) diverged."))
    if len(best_by_function) > 1:
        easy, hard = min(best_by_function, key=best_by_function.get), max(best_by_function, key=best_by_function.get)
        low, high = best_by_function[easy], best_by_function[hard]
        notes.append(Note(f"y = {hard} is the harder target: its best final loss ({num(high)}) is "
                          f"{times(high, low)} that of y = {easy} ({num(low)})."))
    return notes


# ---------------------------------------------------------------- 1-1b actual task

def describe_actual(run: Run) -> list[Table]:
    models = run.csv("models.csv")
    architectures = Table(["Model", "Layers", "Parameters"],
                          [[r.model.upper(), r.description, num(r.params)] for r in models.itertuples()],
                          "Architectures")
    return [settings_table(run, [*dataset_rows(run.config), *training_rows(run.config)]), architectures]


def figures_actual(run: Run) -> list[Figure]:
    name = run.config["dataset"]["name"]
    return [run.figure("loss.png", f"Loss of every model on {name}",
                       "Training loss (solid) and test loss (dashed) per epoch, log scale."),
            run.figure("acc.png", f"Accuracy of every model on {name}",
                       "Training accuracy (solid) and test accuracy (dashed) per epoch.")]


def comment_actual(run: Run) -> list[Note | Table]:
    all_models = run.csv("models.csv")
    models = live(all_models)
    notes: list[Note | Table] = [metrics_table(all_models.assign(model=all_models["model"].str.upper()), "model",
                                               "Model", ["params"])]
    notes += diverged_note(all_models, lambda r: r["model"].upper())
    if models.empty:
        return notes
    best_train = models.loc[models["train_loss"].idxmin()]
    worst_train = models.loc[models["train_loss"].idxmax()]
    best_test = models.loc[models["test_acc"].idxmax()]
    notes.append(Note(f"After {run.config['epochs']} epochs the {best_train['model'].upper()} has the lowest training "
                      f"loss ({num(best_train['train_loss'])}), "
                      f"{times(worst_train['train_loss'], best_train['train_loss'])} lower than the "
                      f"{worst_train['model'].upper()} ({num(worst_train['train_loss'])})."))
    ranked = models.sort_values("test_acc", ascending=False)
    order = ", ".join(f"{r.model.upper()} {pct(r.test_acc)}" for r in ranked.itertuples())
    notes.append(Note(f"Test accuracy: {order}. Generalization gap (train − test accuracy): "
                      + ", ".join(f"{r.model.upper()} {100 * (r.train_acc - r.test_acc):+.1f} points"
                                  for r in ranked.itertuples()) + "."))
    low, high = models["params"].min(), models["params"].max()
    if high / low > 1.1:
        notes.append(Note(f"The parameter counts are not matched: they range from {num(low)} to {num(high)} "
                          f"({times(high, low)}), so part of any difference is size, not kind."))
    if "cnn" in set(models["model"]):
        notes.append(versus(f"The best test accuracy is the {best_test['model'].upper()}'s "
                            f"({pct(best_test['test_acc'])})", "a CNN, built for images, does best on them",
                            best_test["model"] == "cnn"))
    return notes


# ---------------------------------------------------------------- 1-2a visualize the optimization

def describe_visualize(run: Run) -> list[Table]:
    c = run.config
    rows = [("Architecture", f"{c['architecture']}, {c['params']:,} parameters"),
            ("Layer shown alone", f"{c['layer']} ({c['layer_params']:,} parameters)"),
            *dataset_rows(c), *training_rows(c),
            ("Runs", f"{c['runs']} (seeds {', '.join(map(str, c['seeds']))}), each a fresh model and optimizer"),
            ("Recording cycle", f"weights recorded at epoch 0 and every {c['snapshot_every']} epochs"),
            ("Reduction", f"{c['reduction']}, fitted jointly on all runs' snapshots")]
    return [settings_table(run, rows)]


def figures_visualize(run: Run) -> list[Figure]:
    layer = run.config["layer"]
    return [run.figure("trajectory_layer.png", f"Weights of layer {layer!r} in their 2-D PCA plane",
                       "One colour per run; each point a snapshot, its area growing with the log training loss."),
            run.figure("trajectory_whole.png", "Weights of the whole model in their 2-D PCA plane",
                       "One colour per run; each point a snapshot, its area growing with the log training loss.")]


def comment_visualize(run: Run) -> list[Note]:
    c = run.config
    snaps, pca = run.csv("snapshots.csv"), run.csv("pca.csv")
    diverged = set(c.get("diverged_runs", []))
    notes = [Note(f"Diverged and left out: runs {sorted(diverged)}.")] if diverged else []
    snaps = snaps[~snaps["run"].isin(diverged)]
    for scope, name in (("whole", "the whole model"), (c["layer"], f"layer {c['layer']!r}")):
        explained = pca[pca["scope"] == scope]["explained_variance_ratio"].sum()
        count = int((snaps["scope"] == scope).sum())
        rest = (", so the 2-D picture hides most of the motion" if explained < 0.5
                else f"; the remaining {pct(1 - explained)} is not shown")
        notes.append(Note(f"For {name}, PC1 and PC2 explain {pct(explained)} of the variance of all {count} "
                          f"snapshots{rest}."))
    whole = snaps[snaps["scope"] == "whole"]
    final = whole[whole["epoch"] == whole["epoch"].max()].sort_values("run")
    start = whole[whole["epoch"] == whole["epoch"].min()].set_index("run").loc[final["run"]]
    notes.append(Note(f"After {num(int(final['epoch'].max()))} epochs the {len(final)} runs reach training losses "
                      f"{span(final['loss'])} (training accuracy {span(final['accuracy'], pct)})."))
    if len(final) > 1:
        def spread(xy: np.ndarray) -> float:
            return float(np.mean([np.linalg.norm(a - b) for i, a in enumerate(xy) for b in xy[i + 1:]]))
        end, begin = final[["pc1", "pc2"]].to_numpy(), start[["pc1", "pc2"]].to_numpy()
        travel = float(np.linalg.norm(end - begin, axis=1).mean())
        where = ("so each run stays in its own region of weight space and the plane mostly shows how far apart "
                 "the initializations are" if travel < spread(end) else
                 "so the runs travel further than the distance between them")
        notes.append(Note(f"In the whole-model plane the runs start {num(spread(begin))} apart on average and end "
                          f"{num(spread(end))} apart, each travelling {num(travel)} (PCA units), {where}."))
    return notes


# ---------------------------------------------------------------- 1-2b gradient norm

def describe_gradient_norm(run: Run) -> list[Table]:
    c = run.config
    rows = [("Architecture", f"{c['architecture']} ({c['activation']}), {c['params']:,} parameters"),
            ("Training data", f"{c['samples']} points of y = {c['function']} on (0, 1]"),
            *training_rows(c, epochs=f"{c['steps']:,} full-batch steps", batch="full"),
            ("Recorded", "loss and ‖∇L‖₂ (L2 norm over all parameters) of the full training set at every step")]
    return [settings_table(run, rows)]


def figures_gradient_norm(run: Run) -> list[Figure]:
    return [run.figure("gradient_norm.png", "Gradient norm and loss per iteration",
                       "Top: ‖∇L‖₂ per full-batch step; bottom: training loss; both log scale.")]


def comment_gradient_norm(run: Run) -> list[Note]:
    h = run.csv("history.csv")
    notes = [Note("This run diverged.")] if run.config.get("diverged") else []
    first, last = h.iloc[0], h.iloc[-1]
    peak = h.loc[h["grad_norm"].idxmax()]
    notes.append(Note(f"Over {num(int(last['step']))} steps the loss falls from {num(first['loss'])} to "
                      f"{num(last['loss'])} ({times(first['loss'], last['loss'])} lower), while ‖∇L‖ goes from "
                      f"{num(first['grad_norm'])} to {num(last['grad_norm'])} "
                      f"({times(first['grad_norm'], last['grad_norm'])} lower); its largest value, "
                      f"{num(peak['grad_norm'])}, is at step {num(int(peak['step']))}."))
    rises = (h["grad_norm"].diff().iloc[1:] > 0).mean()
    loss_rises = (h["loss"].diff().iloc[1:] > 0).mean()
    rho = spearman(h["loss"], h["grad_norm"])
    notes.append(Note(f"The gradient norm rises in {pct(rises)} of the steps, the loss in {pct(loss_rises)}: "
                      f"{'the gradient norm is far from monotone' if rises > 0.1 else 'both fall almost steadily'}. "
                      f"Ranked over the steps, loss and gradient norm have {rho_text(rho, len(h))}."))
    notes.append(Note("A small gradient alone does not tell a minimum from a saddle point; 1-2c measures the "
                      "curvature where ‖∇L‖ ≈ 0."))
    return notes


# ---------------------------------------------------------------- 1-2c minimal ratio

def describe_minimal_ratio(run: Run) -> list[Table]:
    c = run.config
    rows = [("Architecture", f"{c['architecture']} ({c['activation']}), {c['n_params']:,} parameters"),
            ("Training data", f"{c['samples']} points of y = {c['function']} on (0, 1]"),
            ("Loss", LOSS_NAMES["mse"]),
            ("Phase 1: the loss", f"Adam, learning rate {c['loss_learning_rate']:g}, {c['loss_steps']:,} "
                                  "full-batch steps"),
            ("Phase 2: ‖∇L‖²", f"Adam, learning rate {c['grad_learning_rate']:g}, at most {c['grad_steps']:,} "
                               f"full-batch steps (double backprop), stops when ‖∇L‖ < {c['grad_tol']:g}"),
            ("Hessian", "exact, float64, full-data loss, all parameters; eigenvalues by eigvalsh"),
            ("Minimal ratio", f"share of eigenvalues > {c['eig_tol']:g}; |λ| ≤ {c['eig_tol']:g} counts as zero"),
            ("Runs", f"{c['runs']} independent runs (seeds {c['seeds'][0]} to {c['seeds'][-1]})")]
    return [settings_table(run, rows)]


def figures_minimal_ratio(run: Run) -> list[Figure]:
    return [run.figure("minimal_ratio.png", "Minimal ratio vs loss",
                       "One point per run at the end of ‖∇L‖² minimization; open circles: runs that stopped "
                       "above the gradient-norm tolerance."),
            run.figure("spectra.png", "Hessian spectra of all runs",
                       "All runs' eigenvalues pooled; the grey band is counted as zero.")]


def comment_minimal_ratio(run: Run) -> list[Note]:
    c = run.config
    all_runs = run.csv("runs.csv")
    runs = live(all_runs)
    notes = diverged_note(all_runs, lambda r: f"run {int(r['run'])}")
    if runs.empty:
        return notes
    done = runs[runs["converged"].astype(bool)]
    notes.append(Note(f"{len(done)} of {len(runs)} runs ({pct(len(done) / len(runs))}) reached ‖∇L‖ < "
                      f"{c['grad_tol']:g}; the final ‖∇L‖ ranges from {num(runs['grad_norm'].min())} to "
                      f"{num(runs['grad_norm'].max())} (median {num(runs['grad_norm'].median())})."))
    text = (f"The minimal ratio ranges from {num(runs['minimal_ratio'].min())} to {num(runs['minimal_ratio'].max())} "
            f"over all {len(runs)} runs (median {num(runs['minimal_ratio'].median())})")
    if len(done):
        text += (f"; over the {len(done)} converged runs from {num(done['minimal_ratio'].min())} to "
                 f"{num(done['minimal_ratio'].max())}")
    notes.append(Note(text + "."))
    zero = (runs["n_near_zero"] / runs["n_params"]).mean()
    negative = int((runs["min_eig"] < -c["eig_tol"]).sum())
    notes.append(Note(f"On average {pct(zero)} of the {num(int(runs['n_params'].iloc[0]))} eigenvalues lie within "
                      f"±{c['eig_tol']:g} of zero (flat directions), which bounds the minimal ratio; runs with an "
                      f"eigenvalue below −{c['eig_tol']:g} (negative curvature: a saddle, not a minimum): {negative} "
                      f"of {len(runs)}."))
    if (run.folder / "stages.csv").is_file():
        wide = run.csv("stages.csv").pivot(index="run", columns="stage", values="loss").loc[runs["run"]]
        change = wide["grad_norm"] / wide["loss"] - 1
        notes.append(Note(f"Minimizing ‖∇L‖² changes the loss by a median of {signed_pct(change.median())} "
                          f"(from {signed_pct(change.min())} to {signed_pct(change.max())}); it raises the loss in "
                          f"{int((change > 0).sum())} of {len(change)} runs."))
    sample = done if len(done) >= 3 else runs
    which = f"{len(done)} converged runs" if sample is done else f"{len(runs)} runs (too few converged)"
    rho = spearman(sample["minimal_ratio"], sample["loss"])
    notes.append(versus(f"Over the {which}, the loss {trend(rho)} as the minimal ratio grows "
                        f"({rho_text(rho, len(sample))})",
                        "points closer to a true minimum (higher minimal ratio) have lower loss", falls(rho)))
    return notes


# ---------------------------------------------------------------- 1-2 bonus error surface

def describe_surface(run: Run) -> list[Table]:
    c = run.config
    points = c["grid_points"]
    rows = [("Architecture", f"{c['architecture']}, {c['params']:,} parameters"), *dataset_rows(c),
            *training_rows(c), ("Trajectory", "weights recorded every epoch, projected on the PCA plane"),
            ("Directions", "top-2 PCA directions of the trajectory (unit norm); two filter-normalized random "
                           f"directions (Li et al. 2018, seed {c['direction_seed']})"),
            ("Grid", f"{points}×{points} points; PCA plane: the trajectory's extent + {pct(c['margin'], 0)}; "
                     f"random plane: ±{c['random_span']:g} filter norms"),
            ("Evaluated", "training loss on the full training set at every grid point")]
    return [settings_table(run, rows)]


SURFACES = {"pca": "PCA directions of the training trajectory",
            "filter_normalized": "filter-normalized random directions"}


def figures_surface(run: Run) -> list[Figure]:
    names = dict.fromkeys(run.csv("grid.csv")["directions"])
    return [run.figure(f"surface_{name}.png", f"Loss surface along {SURFACES.get(name, name)}",
                       "Contours of the training loss (log colour scale); red star: the trained model"
                       + ("; white: the training trajectory." if name == "pca" else ".")) for name in names]


def comment_surface(run: Run) -> list[Note]:
    grid, directions = run.csv("grid.csv"), run.csv("directions.csv")
    trained = run.config["final_loss"]
    notes = []
    for name, part in grid.groupby("directions", sort=False):
        low = part.loc[part["loss"].idxmin()]
        a, b = part["alpha"].abs(), part["beta"].abs()
        edge = part[(a == a.max()) | (b == b.max())]
        where = ("the trained model is the lowest point of the grid" if low["loss"] >= trained * (1 - 1e-6) else
                 f"the lowest grid point, at (α, β) = ({num(low['alpha'])}, {num(low['beta'])}), has loss "
                 f"{num(low['loss'])}, {times(trained, low['loss'])} lower than the trained model: training had not "
                 "reached the bottom of this plane")
        text = (f"Along the {SURFACES.get(name, name)} the training loss ranges from {num(part['loss'].min())} to "
                f"{num(part['loss'].max())} (trained model: {num(trained)}); the mean loss on the border is "
                f"{times(edge['loss'].mean(), trained)} the trained model's; {where}.")
        if name == "pca":
            ratio = directions[directions["directions"] == "pca"]["explained_variance_ratio"].to_numpy()
            text += f" The two directions explain {pct(ratio[0])} and {pct(ratio[1])} of the trajectory's variance."
        notes.append(Note(text))
    path = run.csv("trajectory.csv")
    falls = bool((path["loss"].diff().iloc[1:] <= 0).all())
    notes.append(Note(f"The trajectory runs from loss {num(path['loss'].iloc[0])} at epoch 0 to "
                      f"{num(path['loss'].iloc[-1])} at epoch {num(int(path['epoch'].iloc[-1]))}"
                      f"{', falling at every epoch' if falls else ', not falling at every epoch'}."))
    return notes


# ---------------------------------------------------------------- 1-3a random labels

def describe_random_labels(run: Run) -> list[Table]:
    c = run.config
    rows = [("Architecture", mlp_text(c)), *dataset_rows(c),
            ("Labels", f"every training label redrawn uniformly at random (seed {c['label_seed']}): "
                       f"{pct(c['labels_changed'])} changed; test labels true"),
            *training_rows(c, epochs=f"at most {c['epochs']} (stops at {pct(c['target_train_acc'], 0)} "
                                     "training accuracy)")]
    return [settings_table(run, rows)]


def figures_random_labels(run: Run) -> list[Figure]:
    return [run.figure("random_labels.png", "Training on random labels",
                       "Left: training (solid) and test (dashed) loss per epoch, log scale; right: accuracy, "
                       "with chance and the memorization target marked.")]


def comment_random_labels(run: Run) -> list[Note]:
    c, summary = run.config, run.meta["summary"]
    h = run.csv("history.csv")
    classes, n_test = c["dataset"]["num_classes"], c["dataset"]["test_size"]
    chance, target = 1 / classes, c["target_train_acc"]
    last = h.iloc[-1]
    notes = [Note("The run diverged.")] if summary.get("diverged") else []
    reached = h.loc[h["train_acc"] >= target, "epoch"]
    observed = (f"Training accuracy reaches {pct(target, 0)} at epoch {num(int(reached.iloc[0]))}: the "
                f"{num(summary['params'])}-parameter network memorizes {c['dataset']['train_size']:,} random labels"
                if len(reached) else
                f"Training accuracy does NOT reach {pct(target, 0)} in {num(int(last['epoch']))} epochs "
                f"(final {pct(last['train_acc'])})")
    notes.append(versus(observed, "a large enough network memorizes random labels (Zhang et al. 2017)",
                        bool(len(reached))))
    se = math.sqrt(chance * (1 - chance) / n_test)
    z = (last["test_acc"] - chance) / se
    notes.append(versus(f"Final test accuracy is {pct(last['test_acc'])} against a chance level of {pct(chance)} "
                        f"({z:+.1f} binomial standard errors on {n_test:,} test images; highest over the epochs "
                        f"{pct(h['test_acc'].max())})", "test accuracy stays at chance", abs(z) <= 3))
    low = h.loc[h["test_loss"].idxmin()]
    notes.append(versus(f"Test loss goes from {num(h['test_loss'].iloc[0])} at epoch 0 to {num(last['test_loss'])} "
                        f"at the end (lowest {num(low['test_loss'])} at epoch {num(int(low['epoch']))}), while "
                        f"training loss falls from {num(h['train_loss'].iloc[0])} to {num(last['train_loss'])}",
                        "test loss grows as the network memorizes", last["test_loss"] > h["test_loss"].iloc[0]))
    expected = 1 - 1 / classes
    notes.append(Note(f"{pct(c['labels_changed'])} of the training labels differ from the true ones; uniform "
                      f"redrawing keeps 1/{classes} of them by chance, so {pct(expected)} is expected."))
    return notes


# ---------------------------------------------------------------- 1-3b parameters vs generalization

def describe_params(run: Run) -> list[Table]:
    c = run.config
    models = run.csv("models.csv").sort_values("params")
    rows = [("Model family", f"{c.get('family', 'fully connected, one hidden layer')}: "
                             f"{'-'.join(map(str, mlp_sizes(c, ['w'])))}"),
            ("Hidden widths w", ", ".join(map(str, sorted(c["widths"])))),
            ("Parameters", f"{num(models['params'].min())} to {num(models['params'].max())} "
                           f"({math.log10(models['params'].max() / models['params'].min()):.1f} decades)"),
            *dataset_rows(c), *training_rows(c)]
    return [settings_table(run, rows), Table(["Model", "Parameters"], [[r.model, num(r.params)]
                                                                       for r in models.itertuples()], "Models")]


def figures_params(run: Run) -> list[Figure]:
    return [run.figure("params_loss.png", "Loss vs number of parameters",
                       "Training (solid) and test (dashed) loss after training, log-log axes; hidden width on top."),
            run.figure("params_accuracy.png", "Accuracy vs number of parameters",
                       "Training (solid) and test (dashed) accuracy after training, log x.")]


def comment_params(run: Run) -> list[Note | Table]:
    all_models = run.csv("models.csv").sort_values("params")
    models = live(all_models)
    notes: list[Note | Table] = [metrics_table(all_models, "model", "Model", ["params"])]
    notes += diverged_note(all_models, lambda r: r["model"])
    if models.empty:
        return notes
    decades = math.log10(models["params"].max() / models["params"].min())
    if len(models) < 10 or decades < 2:
        notes.append(Note(f"Only {len(models)} models spanning {decades:.1f} decades of parameter count (the "
                          "assignment asks for at least 10 spanning two decades)."))
    rho = spearman(models["params"], models["train_loss"])
    notes.append(versus(f"Training loss {trend(rho)} with the number of parameters "
                        f"({num(models['train_loss'].iloc[0])} to {num(models['train_loss'].iloc[-1])}; "
                        f"{rho_text(rho, len(models))})", "bigger models fit the training set better", falls(rho)))
    best = models.loc[models["test_loss"].idxmin()]
    largest = models.iloc[-1]
    tail = ("the largest model has the lowest test loss: no overfitting in the loss at these sizes"
            if best["model"] == largest["model"] else
            f"beyond it the test loss rises to {num(largest['test_loss'])} at {num(largest['params'])} parameters "
            f"({times(largest['test_loss'], best['test_loss'])})")
    notes.append(Note(f"The lowest test loss, {num(best['test_loss'])}, is reached by {best['model']} "
                      f"({num(best['params'])} parameters); {tail}."))
    top = models.loc[models["test_acc"].idxmax()]
    gap = models["train_acc"] - models["test_acc"]
    notes.append(Note(f"The best test accuracy is {pct(top['test_acc'])} ({top['model']}). The generalization gap "
                      f"(train − test accuracy) goes from {100 * gap.iloc[0]:+.1f} points for the smallest model to "
                      f"{100 * gap.iloc[-1]:+.1f} for the largest (widest {100 * gap.max():+.1f}, "
                      f"{models.loc[gap.idxmax(), 'model']})."))
    return notes


# ---------------------------------------------------------------- 1-3c interpolation

PAIRS = {"batch_size": ("batch size", lambda r: num(int(r["batch_size"]))),
         "learning_rate": ("learning rate", lambda r: f"{r['learning_rate']:g}")}


def _pair_names(ends: pd.DataFrame, pair: str) -> tuple[str, str, str]:
    what, value = PAIRS.get(pair, (pair, lambda r: str(r[pair])))
    first, second = ends.sort_values("alpha").iloc[0], ends.sort_values("alpha").iloc[1]
    return what, f"θ1 ({what} {value(first)})", f"θ2 ({what} {value(second)})"


def describe_interpolation(run: Run) -> list[Table]:
    c = run.config
    ends = run.csv("endpoints.csv")
    rows = [("Architecture", mlp_text(c)), *dataset_rows(c),
            *training_rows(c, batch=" vs ".join(map(str, c["batch_sizes"])) + " (pair 1; learning rate "
                                    f"{c['learning_rates'][0]:g})",
                           learning_rate=" vs ".join(f"{v:g}" for v in c["learning_rates"]) + " (pair 2; batch size "
                                                                                             f"{c['batch_sizes'][0]})"),
            ("Initial weights", "the same for both endpoints of a pair" if c["init"] == "shared"
             else "independent for the two endpoints"),
            ("Interpolation", f"θα = (1 − α)·θ1 + α·θ2, α from {c['alpha_min']:g} to {c['alpha_max']:g} "
                              f"({c['alpha_points']} points plus 0 and 1), no retraining")]
    return [settings_table(run, rows),
            metrics_table(ends.assign(endpoint=np.where(ends["alpha"] == 0, "θ1", "θ2")), "pair", "Pair",
                          ["endpoint", "batch_size", "learning_rate"])]


def figures_interpolation(run: Run) -> list[Figure]:
    ends = run.csv("endpoints.csv")
    out = []
    for pair in dict.fromkeys(ends["pair"]):
        what, first, second = _pair_names(ends[ends["pair"] == pair], pair)
        out.append(run.figure(f"interpolation_{pair}.png", f"Interpolation between {first} and {second}",
                              "Loss (log, left axis) and accuracy (right axis) along θα; training solid, test "
                              "dashed; dotted lines mark the trained models."))
    return out


def _curvature(curve: pd.DataFrame, alpha: float) -> tuple[float, bool]:
    """Second difference of the training loss at ``alpha`` along the line (units: ‖θ2 − θ1‖⁻²), and whether
    ``alpha`` is a minimum of the line (both neighbours higher)."""
    alphas, loss = curve["alpha"].to_numpy(), curve["train_loss"].to_numpy()
    i = int(np.argmin(np.abs(alphas - alpha)))
    if i == 0 or i == len(alphas) - 1:
        return math.nan, False
    (a0, a1, a2), (l0, l1, l2) = alphas[i - 1:i + 2], loss[i - 1:i + 2]
    return 2 * ((l2 - l1) / (a2 - a1) - (l1 - l0) / (a1 - a0)) / (a2 - a0), bool(l0 > l1 < l2)


def comment_interpolation(run: Run) -> list[Note]:
    curves, ends = run.csv("interpolation.csv"), run.csv("endpoints.csv")
    notes = []
    for pair, pair_ends in ends.groupby("pair", sort=False):
        what, first, second = _pair_names(pair_ends, pair)
        name = f"{first} vs {second}"
        curve = curves[curves["pair"] == pair].sort_values("alpha")
        e1, e2 = pair_ends.sort_values("alpha").iloc[0], pair_ends.sort_values("alpha").iloc[1]
        if curve.empty:
            notes.append(Note(f"{name}: an endpoint diverged, so there is no curve."))
            continue
        low = curve.loc[curve["test_loss"].idxmin()]
        place = ("between the two trained models" if 0 < low["alpha"] < 1 else
                 "at a trained model" if low["alpha"] in (0, 1) else "outside the segment (extrapolation)")
        better = " and lower than both" if low["test_loss"] < min(e1["test_loss"], e2["test_loss"]) else ""
        notes.append(Note(f"{name}: the test loss is lowest at α = {low['alpha']:g} ({num(low['test_loss'])}, test "
                          f"accuracy {pct(low['test_acc'])}), {place}{better}; the trained models have "
                          f"{num(e1['test_loss'])} (α = 0) and {num(e2['test_loss'])} (α = 1)."))
        inside = curve[(curve["alpha"] >= 0) & (curve["alpha"] <= 1)]
        peak = inside.loc[inside["train_loss"].idxmax()]
        higher = max(e1["train_loss"], e2["train_loss"])
        if peak["train_loss"] <= higher * (1 + 1e-6):
            notes.append(Note(f"{name}: no loss barrier between the endpoints: the training loss on the segment "
                              f"never exceeds the higher endpoint's ({num(higher)})."))
        else:
            size = "a high" if peak["train_loss"] > 2 * higher else "a low"
            notes.append(Note(f"{name}: {size} loss barrier: the training loss reaches {num(peak['train_loss'])} at "
                              f"α = {peak['alpha']:g}, {times(peak['train_loss'], higher)} the higher endpoint's "
                              f"(+{num(peak['train_loss'] - higher)} nats)."))
        (k1, min1), (k2, min2) = _curvature(curve, 0.0), _curvature(curve, 1.0)
        if min1 and min2:
            sharper = second if k2 > k1 else first
            observed = (f"{name}: along the line the training loss curves by {num(k1)} at θ1 and {num(k2)} at θ2 "
                        f"(second difference): {sharper} sits in the sharper valley")
            if pair == "batch_size":
                large = second if e2["batch_size"] > e1["batch_size"] else first
                notes.append(versus(observed, f"the large-batch model, here {large}, sits in the sharper valley "
                                              "(Keskar et al. 2017)", sharper == large))
            else:
                notes.append(Note(observed + "."))
        else:
            bottom = curve.loc[curve["train_loss"].idxmin()]
            off = "neither trained model is" if not (min1 or min2) else f"{second if min1 else first} is not"
            notes.append(Note(f"{name}: {off} at the bottom of a valley along this line (the training loss is "
                              f"lowest at α = {bottom['alpha']:g}: "
                              f"{num(bottom['train_loss'])}), so the line cannot compare the widths of their valleys."))
        at_ends = curve.set_index("alpha").reindex([0.0, 1.0])[["train_loss", "test_loss"]].to_numpy()
        own = np.array([[e1["train_loss"], e1["test_loss"]], [e2["train_loss"], e2["test_loss"]]])
        diff = float(np.nanmax(np.abs(at_ends - own) / np.maximum(np.abs(own), 1e-12)))
        if not diff <= 1e-4:
            notes.append(Note(f"{name}: at α = 0 and 1 the curve differs from the trained models' own losses by up "
                              f"to {pct(diff, 2)}; they should be equal.", "warning"))
    return notes


# ---------------------------------------------------------------- 1-3d sensitivity

def _batch_models(run: Run) -> pd.DataFrame:
    return live(run.csv("models.csv")).sort_values("batch_size").reset_index(drop=True)


def _batch_training_rows(c: dict) -> list[tuple[str, object]]:
    """Architecture, data and training of the models that differ only in batch size (1-3d and its bonus)."""
    budget = (f"the same {c['epochs']} epochs for every batch size" if c["same"] == "epochs"
              else f"about the same {c['steps']:,} optimizer steps for every batch size")
    return [("Architecture", mlp_text(c)), *dataset_rows(c),
            *training_rows(c, epochs=budget, batch=", ".join(map(str, c["batch_sizes"]))),
            ("Initial weights", "the same for every batch size; a fresh model and optimizer each")]


def describe_sensitivity(run: Run) -> list[Table]:
    c = run.config
    rows = [*_batch_training_rows(c),
            ("Sensitivity", "‖∂ softmax(f(x)) / ∂x‖_F per test sample, averaged over the test set")]
    budget_table = Table(["Batch size", "Epochs", "Optimizer steps"],
                         [[str(b), num(c["epochs_by_batch"][str(b)]), num(c["steps_by_batch"][str(b)])]
                          for b in c["batch_sizes"]], "Training budget per batch size")
    return [settings_table(run, rows), budget_table]


def figures_sensitivity(run: Run) -> list[Figure]:
    return [run.figure("loss_sensitivity.png", "Loss and sensitivity vs batch size",
                       "Training (solid) and test (dashed) loss, log scale, left axis; sensitivity, right axis."),
            run.figure("accuracy_sensitivity.png", "Accuracy and sensitivity vs batch size",
                       "Training (solid) and test (dashed) accuracy, left axis; sensitivity, right axis.")]


def comment_sensitivity(run: Run) -> list[Note | Table]:
    c, models = run.config, _batch_models(run)
    notes: list[Note | Table] = [Table(
        ["Batch size", "steps", "train loss", "train acc", "test loss", "test acc", "sensitivity"],
        [[num(int(r.batch_size)), num(c["steps_by_batch"][str(int(r.batch_size))]), num(r.train_loss),
          pct(r.train_acc), num(r.test_loss), pct(r.test_acc), num(r.sensitivity)] for r in models.itertuples()],
        "Measured values per batch size")]
    notes += diverged_note(run.csv("models.csv"), lambda r: f"batch {int(r['batch_size'])}")
    if len(models) < 2:
        return notes + [Note("Fewer than two models trained without diverging: nothing to compare.")]
    rho, text = against_batch(models, "sensitivity", "Sensitivity")
    notes.append(versus(text, "larger batches give more sensitive models (Novak et al. 2018)", rises(rho)))
    worse = "larger batches generalize worse (Keskar et al. 2017)"
    rho_loss, text = against_batch(models, "test_loss", "Test loss")
    notes.append(versus(text, worse, rises(rho_loss)))
    rho_acc, text = against_batch(models, "test_acc", "Test accuracy", pct)
    notes.append(versus(text, worse, falls(rho_acc)))
    if rises(rho_loss) != falls(rho_acc):
        notes.append(Note("Test loss and test accuracy disagree on which batch sizes generalize better: cross-entropy "
                          "also punishes confident mistakes, so a model can be more accurate and still have a higher "
                          "test loss."))
    notes += _confound(run, models)
    with_loss = rho_value(spearman(models["sensitivity"], models["test_loss"]))
    with_acc = rho_value(spearman(models["sensitivity"], models["test_acc"]))
    notes.append(Note(f"Ranked across models, sensitivity has {with_loss} with test loss and {with_acc} with test "
                      f"accuracy ({spearman_over(len(models))})."))
    return notes


def _confound(run: Run, models: pd.DataFrame) -> list[Note]:
    """With the same epochs, larger batches also train less: say so when the training loss shows it."""
    rho, text = against_batch(models, "train_loss", "Training loss")
    if run.config["same"] != "epochs" or not rises(rho):
        return [Note(text + ".")]
    steps = [num(run.config["steps_by_batch"][str(int(b))]) for b in models["batch_size"].iloc[[0, -1]]]
    return [Note(f"{text}. With the same epochs, larger batches take fewer optimizer steps ({steps[0]} vs "
                 f"{steps[1]}) and end less trained, so batch size and training length are confounded here "
                 "(`--same steps` separates them).")]


# ---------------------------------------------------------------- 1-3 bonus sharpness

def describe_sharpness(run: Run) -> list[Table]:
    c = run.config
    rows = [*_batch_training_rows(c),
            ("ε-sharpness", f"largest increase of the training loss in the box |Δθᵢ| ≤ ε(|θᵢ| + 1), "
                            f"ε = {c['epsilon']:g}, in % of (1 + L) (Keskar et al. 2017)"),
            ("Ascent", f"projected sign-gradient ascent, {c['sharpness_steps']} steps, "
                       f"{c['sharpness_starts']} start(s)"),
            ("Top Hessian eigenvalue", f"power iteration on Hessian-vector products of the full training loss, "
                                       f"{c['hessian_iterations']} iterations")]
    return [settings_table(run, rows)]


def figures_sharpness(run: Run) -> list[Figure]:
    return [run.figure("flatness.png", "Sensitivity, sharpness and top Hessian eigenvalue vs batch size",
                       "Three measures of flatness of the same models, side by side.")]


def comment_sharpness(run: Run) -> list[Note | Table]:
    models = _batch_models(run)
    if len(models) < 2:
        return [Note("Fewer than two models trained without diverging: nothing to compare.")]
    notes: list[Note | Table] = [Table(
        ["Batch size", "train loss", "test loss", "sensitivity", "ε-sharpness (%)", "λmax"],
        [[num(int(r.batch_size)), num(r.train_loss), num(r.test_loss), num(r.sensitivity), num(r.sharpness),
          num(r.top_hessian_eigenvalue)] for r in models.itertuples()], "Measured values per batch size")]
    loss_gap = models["test_loss"] - models["train_loss"]
    acc_gap = models["train_acc"] - models["test_acc"]
    for column, name in (("sharpness", "ε-sharpness"), ("top_hessian_eigenvalue", "the top Hessian eigenvalue")):
        rho, text = against_batch(models, column, name[0].upper() + name[1:] if name[0].isascii() else name)
        notes.append(versus(text, "larger batches find sharper minima (Keskar et al. 2017)", rises(rho)))
        with_loss = rho_value(spearman(models[column], loss_gap))
        with_acc = rho_value(spearman(models[column], acc_gap))
        notes.append(Note(f"Ranked across models, {name} has {with_loss} with the loss gap (test − training) and "
                          f"{with_acc} with the accuracy gap (training − test) ({spearman_over(len(models))})."))
    notes.append(Note(f"Ranking the models by ε-sharpness and by λmax gives "
                      f"{rho_value(spearman(models['sharpness'], models['top_hessian_eigenvalue']))}; by sensitivity "
                      f"and by ε-sharpness, {rho_value(spearman(models['sensitivity'], models['sharpness']))} "
                      f"({spearman_over(len(models))})."))
    return notes + [n for n in _confound(run, models) if "confounded" in n.text]


# ---------------------------------------------------------------- the tasks, in the assignment's order

TASKS = [
    Task("1-1a", "Simulate a function", "part1_simulate_function",
         "Do deeper nets fit a non-linear function better than shallow ones with the same number of parameters?",
         describe_simulate, figures_simulate, comment_simulate),
    Task("1-1b", "Train on an actual task", "part1_actual_task",
         "How do models of different kind (DNN, CNN, RNN) compare on real images?",
         describe_actual, figures_actual, comment_actual),
    Task("1-2a", "Visualize the optimization process", "part2_visualize_optimization",
         "Where do 8 runs of the same architecture go in weight space, seen through a joint 2-D PCA?",
         describe_visualize, figures_visualize, comment_visualize),
    Task("1-2b", "Gradient norm during training", "part2_gradient_norm",
         "How does the gradient norm behave while the loss falls?",
         describe_gradient_norm, figures_gradient_norm, comment_gradient_norm),
    Task("1-2c", "What happens when the gradient is almost zero", "part2_minimal_ratio",
         "Where ‖∇L‖ ≈ 0, how minimum-like is the Hessian (minimal ratio), and does it relate to the loss?",
         describe_minimal_ratio, figures_minimal_ratio, comment_minimal_ratio),
    Task("1-2 bonus", "Error surface", "part2_error_surface",
         "What does the loss surface around a trained model look like?",
         describe_surface, figures_surface, comment_surface),
    Task("1-3a", "Can the network fit random labels", "part3_random_labels",
         "Can a network memorize random training labels, and what happens to the test set?",
         describe_random_labels, figures_random_labels, comment_random_labels),
    Task("1-3b", "Number of parameters vs generalization", "part3_params_vs_generalization",
         "How do training and test loss and accuracy move with the number of parameters?",
         describe_params, figures_params, comment_params),
    Task("1-3c", "Flatness vs generalization: interpolation", "part3_interpolation",
         "What lies on the line between two models trained differently (batch size, learning rate)?",
         describe_interpolation, figures_interpolation, comment_interpolation),
    Task("1-3d", "Flatness vs generalization: sensitivity", "part3_sensitivity",
         "Does the sensitivity of the output to the input grow with batch size, and does it track generalization?",
         describe_sensitivity, figures_sensitivity, comment_sensitivity),
    Task("1-3 bonus", "Other measures of generalization: sharpness", "part3_sensitivity",
         "Do ε-sharpness and the top Hessian eigenvalue grow with batch size and track generalization?",
         describe_sharpness, figures_sharpness, comment_sharpness),
]


def build(root: str | Path) -> list[Section]:
    """Every section of the report from the results under ``root``; a failing section records its error."""
    root = Path(root)
    sections = []
    for task in TASKS:
        section = Section(task, None)
        if (root / task.experiment / "settings.json").is_file():
            try:
                section.run = Run(root, task.experiment)
                section.tables = task.describe(section.run)
                section.figures = task.figures(section.run)
                section.notes = task.comment(section.run)
            except Exception as err:  # an unreadable or incompatible results folder: say so, build the rest
                section.error = (f"{type(err).__name__}: {err} (files from another version of "
                                 f"experiments/{task.experiment}.py? re-running it rewrites them)")
        sections.append(section)
    _add_unnamed_figures(sections)
    return sections


def _add_unnamed_figures(sections: list[Section]) -> None:
    """PNGs in an experiment's folder that no section names go to its first section, so none is hidden."""
    first: dict[str, Section] = {}
    named: dict[str, set[str]] = {}
    for s in sections:
        if s.run is not None and not s.error:
            first.setdefault(s.task.experiment, s)
            named.setdefault(s.task.experiment, set()).update(f.path for f in s.figures)
    for experiment, section in first.items():
        for png in sorted(section.run.folder.glob("*.png")):
            path = f"{experiment}/{png.name}"
            if path not in named[experiment]:
                section.figures.append(Figure(path, f"Other figure: {png.name}",
                                              "Drawn by hw1.plots; not one of the figures this section names.", True))


# ---------------------------------------------------------------- the header

def run_table(sections: list[Section]) -> Table:
    rows, seen, total = [], set(), 0.0
    for s in sections:
        if s.task.experiment in seen:
            continue
        seen.add(s.task.experiment)
        keys = ", ".join(t.key for t in TASKS if t.experiment == s.task.experiment)
        if s.run is None:
            rows.append([keys, s.task.experiment, "not run" if s.missing else "error", "", "", ""])
            continue
        meta, config = s.run.meta, s.run.config
        data = config.get("dataset")
        dataset = (f"{data['name']} ({data['train_size']:,} / {data['test_size']:,})" if isinstance(data, dict)
                   else "generated function")
        total += meta.get("seconds") or 0.0
        memory = meta.get("peak_memory_mb")
        rows.append([keys, s.task.experiment, str(meta.get("profile")), dataset, duration(meta.get("seconds")),
                     f"{memory:,} MiB" if memory is not None else "n/a"])
    rows.append(["", "total", "", "", duration(total), ""])
    return Table(["Tasks", "Experiment", "Profile", "Dataset (train / test)", "Wall time", "Peak memory"], rows,
                 "Experiments")


def machine_text(runs: list[Run]) -> str:
    machines = {repr(r.meta.get("machine")): r.meta.get("machine") or {} for r in runs}
    parts = []
    for m in machines.values():
        gpus = m.get("gpus")
        accel = ("GPU: " + ", ".join(gpus)) if gpus else ("no GPU seen by TensorFlow (CPU only)" if gpus == []
                                                          else "GPUs not recorded")
        parts.append(f"{m.get('platform', 'unknown platform')}, {m.get('processor', '?')}, "
                     f"{m.get('cpu_count', '?')} CPU cores, {accel}")
    return "; ".join(parts) + (" (the experiments ran on different machines)" if len(parts) > 1 else "")


def versions_text(runs: list[Run]) -> str:
    """``python 3.11.7 · keras 3.15.1 · …``; a package whose version differs between experiments lists each."""
    found: dict[str, dict[str, list[str]]] = {}
    for r in runs:
        for package, version in (r.meta.get("versions") or {}).items():
            found.setdefault(package, {}).setdefault(version, []).append(r.experiment)
    return " · ".join(f"{package} " + (next(iter(by)) if len(by) == 1 else
                                       " / ".join(f"{v} ({', '.join(names)})" for v, names in by.items()))
                      for package, by in found.items())


def header(root: Path, sections: list[Section]) -> tuple[list[str], Table]:
    """Lines about the whole run (profile, machine, versions, what is missing) and the table of experiments."""
    runs = list({id(s.run): s.run for s in sections if s.run is not None}.values())
    profiles = sorted({str(r.meta.get("profile")) for r in runs})
    missing = sorted({s.task.experiment for s in sections if s.missing})
    lines = [f"Built by `python -m hw1.report {root}` from the CSVs and settings.json files in that folder alone: "
             "every number below is read from them or computed from them, none is typed by hand.",
             f"Profile: {', '.join(profiles) if profiles else 'n/a'}"
             + (" (mixed: the experiments ran with different profiles)" if len(profiles) > 1 else "") + ".",
             f"Machine: {machine_text(runs) if runs else 'n/a'}.",
             *(["The smoke profile uses tiny data and training budgets to test the code; its numbers do not answer "
                "the homework's questions (use the default profile for that)."] if "smoke" in profiles else []),
             f"Package versions: {versions_text(runs) if runs else 'n/a'}."]
    if missing:
        lines.append(f"Not run (no settings.json found): {', '.join(missing)}.")
    return lines, run_table(sections)


# ---------------------------------------------------------------- Markdown

def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(table: Table) -> str:
    out = [f"**{table.title}**", ""] if table.title else []
    out += ["| " + " | ".join(map(_md_cell, table.header)) + " |", "|" + "---|" * len(table.header)]
    out += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in table.rows]
    return "\n".join(out)


VERDICT_LABEL = {"agrees": "Agrees with the textbook.", "contradicts": "Contradicts the textbook.",
                 "warning": "Check failed."}


def md_note(note: Note) -> str:
    label = VERDICT_LABEL.get(note.verdict)
    return f"- **{label}** {note.text}" if label else f"- {note.text}"


def contradictions(sections: list[Section]) -> list[tuple[Section, Note]]:
    """The comments that contradict the textbook or fail a consistency check, listed at the top."""
    return [(s, n) for s in sections for n in s.notes if isinstance(n, Note) and n.verdict in ("contradicts",
                                                                                                "warning")]


def nowhere(sections: list[Section]) -> str:
    """What to say when no comment contradicts the textbook."""
    untested = sum(s.run is None or bool(s.error) for s in sections)
    return ("Nowhere: every textbook expectation tested below holds in these results"
            + (f" ({untested} of {len(sections)} sections were not run or could not be built, so they test nothing)."
               if untested else "."))


def flagged(note: Note) -> str:
    return f"Check failed: {note.text}" if note.verdict == "warning" else note.text


def status_text(section: Section) -> str:
    if section.error:
        return "error"
    if section.run is None:
        return "not run"
    return f"{section.run.meta.get('profile')} profile, {duration(section.run.meta.get('seconds'))}"


def markdown(root: Path, sections: list[Section]) -> str:
    lines, runs = header(root, sections)
    out = ["# HW1 report", "", *[f"{line}  " for line in lines], "", md_table(runs), ""]
    out += ["## Contents", ""]
    out += [f"{i}. [{s.task.key} {s.task.title}](#{s.task.anchor}) — {status_text(s)}"
            for i, s in enumerate(sections, 1)]
    out.append("")
    out += ["## Where the data disagrees with the textbook", ""]
    disagreements = contradictions(sections)
    out += [f"- [{s.task.key}](#{s.task.anchor}): {flagged(n)}" for s, n in disagreements] or \
        [f"- {nowhere(sections)}"]
    out.append("")
    number = 0
    for s in sections:
        out += [f"## {s.task.key} {s.task.title}", "", f"*Question:* {s.task.question}  ",
                f"*Experiment:* `experiments/{s.task.experiment}.py` — {status_text(s)}", ""]
        if s.missing:
            out += [f"**Not run.** No `{s.task.experiment}/settings.json` in this folder; run "
                    f"`bash run_all.sh --only {s.task.experiment}` to produce it.", ""]
            continue
        if s.error:
            out += [f"**This section could not be built from the files found:** `{s.error}`", ""]
            continue
        out += ["### Describe", ""] + [md_table(t) + "\n" for t in s.tables]
        out += ["### Figures", ""]
        for fig in s.figures:
            number += 1
            out += ([f"![{fig.title}]({fig.path})", ""] if fig.exists else [f"(figure file `{fig.path}` missing)", ""])
            out += [f"*Figure {number}. {fig.title}.* {fig.caption}", ""]
        out += ["### Comment", ""] + [f"\n{md_table(n)}\n" if isinstance(n, Table) else md_note(n) for n in s.notes]
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- HTML

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;
 max-width:980px;margin:0 auto;padding:24px 28px 80px;background:#fff}
h1{font-size:1.9em;margin:.2em 0 .4em}h2{font-size:1.4em;margin:2.2em 0 .3em;padding-top:.6em;
 border-top:2px solid #e4e4e4}h3{font-size:1.08em;margin:1.4em 0 .4em;color:#444}
code{font:.9em ui-monospace,Menlo,Consolas,monospace;background:#f3f3f3;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse;margin:.4em 0 1.2em;font-size:.9em}caption{text-align:left;font-weight:600;
 padding:4px 0;color:#333}th,td{border:1px solid #ddd;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f5f6f8}tr:nth-child(even) td{background:#fafafa}
.meta{color:#555;margin:.1em 0}.status{font-size:.8em;color:#666;font-weight:normal;margin-left:.5em}
.status.bad{color:#b3261e;font-weight:600}
nav ol{columns:2;padding-left:1.4em}nav li{margin:.15em 0}
.missing{background:#fff4e5;border-left:4px solid #f0a030;padding:8px 12px}
.error{background:#fdecea;border-left:4px solid #d93025;padding:8px 12px}
figure{margin:1.2em 0 1.8em;text-align:center}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.88em;color:#444;margin-top:.3em;text-align:left}
ul.notes{padding-left:1.2em}ul.notes li{margin:.35em 0}
.badge{display:inline-block;font-size:.78em;font-weight:600;padding:0 6px;border-radius:3px;margin-right:6px}
.agrees{background:#e6f4ea;color:#1e6b34}.contradicts{background:#fde7d9;color:#9a3b00}
.warning{background:#fdecea;color:#b3261e}
"""


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(str(text), quote=False))


def _status_class(section: Section) -> str:
    return " bad" if section.run is None or section.error else ""


def html_table(table: Table) -> str:
    head = "".join(f"<th>{_inline(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    title = f"<caption>{_inline(table.title)}</caption>" if table.title else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_note(note: Note) -> str:
    label = VERDICT_LABEL.get(note.verdict)
    badge = f'<span class="badge {note.verdict}">{html.escape(label)}</span>' if label else ""
    return f"<li>{badge}{_inline(note.text)}</li>"


def html_notes(notes: Sequence[Note | Table]) -> str:
    """Runs of sentences as bullet lists, tables between them."""
    out, items = [], []
    for item in [*notes, None]:
        if isinstance(item, Note):
            items.append(html_note(item))
            continue
        if items:
            out.append('<ul class="notes">' + "".join(items) + "</ul>")
            items = []
        if isinstance(item, Table):
            out.append(html_table(item))
    return "\n".join(out)


def html_figure(root: Path, fig: Figure, number: int, embed: bool) -> str:
    caption = f"<figcaption><b>Figure {number}. {_inline(fig.title)}.</b> {_inline(fig.caption)}</figcaption>"
    if not fig.exists:
        missing = f"Figure file <code>{html.escape(fig.path)}</code> is missing."
        return f'<figure><p class="error">{missing}</p>{caption}</figure>'
    src = ("data:image/png;base64," + base64.b64encode((root / fig.path).read_bytes()).decode("ascii")
           if embed else html.escape(fig.path, quote=True))
    return f'<figure><img src="{src}" alt="{html.escape(fig.title, quote=True)}">{caption}</figure>'


def html_page(root: Path, sections: list[Section], embed: bool = True) -> str:
    lines, runs = header(root, sections)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>HW1 report</title>", f"<style>{CSS}</style></head><body>", "<h1>HW1 report</h1>"]
    out += [f'<p class="meta">{_inline(line)}</p>' for line in lines]
    out.append(html_table(runs))
    out.append('<nav><h2 id="contents">Contents</h2><ol>')
    out += [f'<li><a href="#{s.task.anchor}">{_inline(s.task.key + " " + s.task.title)}</a> '
            f'<span class="status{_status_class(s)}">{_inline(status_text(s))}</span></li>' for s in sections]
    out.append("</ol></nav>")
    out.append('<h2 id="where-the-data-disagrees-with-the-textbook">Where the data disagrees with the textbook</h2>')
    disagreements = contradictions(sections)
    items = "".join(f'<li><a href="#{s.task.anchor}">{_inline(s.task.key)}</a>: {_inline(flagged(n))}</li>'
                    for s, n in disagreements)
    out.append(f'<ul class="notes">{items}</ul>' if disagreements else f"<p>{_inline(nowhere(sections))}</p>")
    number = 0
    for s in sections:
        out.append(f'<section><h2 id="{s.task.anchor}">{_inline(s.task.key + " " + s.task.title)}'
                   f'<span class="status{_status_class(s)}">{_inline(status_text(s))}</span></h2>')
        out.append(f'<p class="meta"><i>Question:</i> {_inline(s.task.question)}<br><i>Experiment:</i> '
                   f"<code>experiments/{html.escape(s.task.experiment)}.py</code></p>")
        if s.missing:
            out.append(f'<p class="missing"><b>Not run.</b> No <code>{html.escape(s.task.experiment)}/settings.json'
                       f"</code> in this folder; run <code>bash run_all.sh --only {html.escape(s.task.experiment)}"
                       "</code> to produce it.</p></section>")
            continue
        if s.error:
            out.append(f'<p class="error"><b>This section could not be built from the files found:</b> '
                       f"<code>{html.escape(s.error)}</code></p></section>")
            continue
        out += ["<h3>Describe</h3>", *[html_table(t) for t in s.tables], "<h3>Figures</h3>"]
        for fig in s.figures:
            number += 1
            out.append(html_figure(root, fig, number, embed))
        out += ["<h3>Comment</h3>", html_notes(s.notes), "</section>"]
    out.append("</body></html>")
    return "\n".join(out)


# ---------------------------------------------------------------- command line

def write_report(root: str | Path, embed: bool = True) -> tuple[Path, Path, list[Section]]:
    """Build the sections and write ``REPORT.md`` and ``report.html`` into ``root``."""
    root = Path(root)
    sections = build(root)
    md = write_text(root / "REPORT.md", markdown(root, sections))
    page = write_text(root / "report.html", html_page(root, sections, embed))
    return md, page, sections


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw1.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", nargs="?", default="results", help="results folder (default: results)")
    parser.add_argument("--link-figures", action="store_true",
                        help="link the PNGs from report.html by relative path instead of embedding them")
    args = parser.parse_args(argv)
    root = Path(args.dir)
    if not root.is_dir():
        print(f"hw1.report: error: results folder {str(root)!r} does not exist; run `bash run_all.sh` first "
              "or give the folder as the first argument", file=sys.stderr)
        return 2
    md, page, sections = write_report(root, embed=not args.link_figures)
    done = sum(not s.missing and not s.error for s in sections)
    print(f"hw1.report: {done} of {len(sections)} sections built; wrote {md} and {page}")
    for s in sections:
        if s.missing:
            print(f"  {s.task.key}: not run ({s.task.experiment})", file=sys.stderr)
        elif s.error:
            print(f"  {s.task.key}: ERROR {s.error}", file=sys.stderr)
        for fig in s.figures:
            if not fig.exists:
                print(f"  {s.task.key}: figure missing: {fig.path}", file=sys.stderr)
    return 1 if any(s.error for s in sections) else 0


if __name__ == "__main__":
    raise SystemExit(main())
