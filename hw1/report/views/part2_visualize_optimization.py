"""View of HW1-2a, visualize the optimization process: two PCA figures and the report section."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hw1.report.document import Note, Table
from hw1.report.plots import legend_under
from hw1.report.prose import num, pct, span
from hw1.results import ResultsFolder
from hw1.report.views import Plot, Task, View
from hw1.report.views.common import architecture_text, dataset_rows, settings_table, training_rows

MOSTLY = 0.5  # share of the plane's spread between the runs' centres from which "mostly separates the runs"


def _snapshots(run: ResultsFolder) -> pd.DataFrame:
    """The snapshots of the runs that did not diverge."""
    snaps = run.csv("snapshots.csv")
    return snaps[~snaps["diverged"].astype(bool)]


def _explained(run: ResultsFolder, scope: str) -> np.ndarray:
    pca = run.csv("pca.csv")
    return pca[pca["scope"] == scope].sort_values("component")["explained_variance_ratio"].to_numpy()


def _scopes(run: ResultsFolder) -> list[tuple[str, str, str, int]]:
    """(scope, file, words, parameters) of the two PCA views: the whole model, then the named layer."""
    s = run.settings
    return [("whole", "trajectory_whole.png", "the whole model", s["params"]),
            (s["layer"], "trajectory_layer.png", f"layer {s['layer']!r}", s["layer_params"])]


def between_share(points: pd.DataFrame) -> float:
    """Share of the spread of the points in the PCA plane that lies between the runs' centres
    (between-run sum of squares / total sum of squares; 1 = every run a single point, 0 = same centre)."""
    xy = points[["pc1", "pc2"]].to_numpy()
    total = ((xy - xy.mean(axis=0)) ** 2).sum()
    centres = points.groupby("run")[["pc1", "pc2"]].transform("mean").to_numpy()
    return float(((centres - xy.mean(axis=0)) ** 2).sum() / total) if total > 0 else float("nan")


def _mean_distance(xy: np.ndarray) -> float:
    return float(np.mean([np.linalg.norm(a - b) for i, a in enumerate(xy) for b in xy[i + 1:]]))


def geometry(points: pd.DataFrame) -> dict[str, float]:
    """In the PCA plane: the mean distance between runs at the first and last snapshot, the mean
    distance each run travels from its first to its last snapshot, and :func:`between_share`."""
    ordered = points.sort_values(["run", "epoch"])
    first = ordered.groupby("run")[["pc1", "pc2"]].first().to_numpy()
    last = ordered.groupby("run")[["pc1", "pc2"]].last().to_numpy()
    return {"start": _mean_distance(first), "end": _mean_distance(last),
            "travel": float(np.linalg.norm(last - first, axis=1).mean()), "between": between_share(points)}


def spread_reading(g: dict[str, float], ratios: np.ndarray, runs: int) -> str:
    """What a joint PCA of independent runs shows, from the plane's geometry and the explained variance.

    R runs that each move in a direction of their own spread the variance of their snapshots over up to R − 1
    components about evenly (1/(R − 1) each); a path the runs share puts most of it in PC1.
    """
    even = 1 / max(runs - 1, 1)
    pcs = f"PC1 and PC2 explain {pct(ratios[0])} and {pct(ratios[1])}"
    if max(ratios[:2]) <= 1.5 * even:
        shape = (f"{pcs} of the variance, close to the {pct(even)} each that {runs} runs moving in directions of "
                 f"their own give (the variance spread evenly over {runs - 1} components): the plane shows two of "
                 "many equally large directions in which the runs part, not a path they share")
    else:
        shape = (f"{pcs} of the variance, more than the {pct(even)} each of {runs} runs moving in directions of "
                 "their own: part of the motion is shared by the runs")
    if g["end"] > 2 * g["start"]:
        motion = (f"the runs start {num(g['start'])} apart in the plane and end {num(g['end'])} apart, each travelling "
                  f"{num(g['travel'])} (PCA units): they move apart as they train, so the separation in the plane is "
                  "made mostly by training, not by the initializations")
    elif g["end"] > 1.25 * g["start"]:
        motion = (f"the runs start {num(g['start'])} apart in the plane and end {num(g['end'])} apart, each travelling "
                  f"{num(g['travel'])} (PCA units): they move apart as they train, from initializations already "
                  "apart in the plane")
    elif g["travel"] < g["end"]:
        motion = (f"the runs start {num(g['start'])} apart and end {num(g['end'])} apart, each travelling only "
                  f"{num(g['travel'])} (PCA units): each stays in its own region, and the plane mostly shows how far "
                  "apart the initializations are")
    else:
        motion = (f"the runs start {num(g['start'])} apart and end {num(g['end'])} apart, each travelling "
                  f"{num(g['travel'])} (PCA units), further than the distance between them")
    return f"{shape}; {motion}"


# ---------------------------------------------------------------- figures

def plots(run: ResultsFolder) -> list[Plot]:
    s, snaps = run.settings, _snapshots(run)
    log_loss = np.log(snaps["train_loss"].dropna())
    low, high = (log_loss.min(), log_loss.max()) if len(log_loss) else (0.0, 1.0)

    def area(loss: pd.Series | float) -> np.ndarray:
        return 12 + 100 * (np.log(loss) - low) / max(high - low, 1e-12)

    def plot(scope: str, file: str, words: str, params: int) -> Plot:
        part = snaps[snaps["scope"] == scope]
        ratio = _explained(run, scope)

        def draw(fig) -> None:
            ax = fig.subplots()
            if part.empty:
                ax.text(0.5, 0.5, "every run diverged: nothing to project", ha="center", transform=ax.transAxes)
                return
            for i, (r, points) in enumerate(part.sort_values("epoch").groupby("run", sort=True)):
                color = f"C{i % 10}"
                ax.plot(points["pc1"], points["pc2"], color=color, lw=0.8, alpha=0.6)
                ax.scatter(points["pc1"], points["pc2"], s=area(points["train_loss"]), color=color, alpha=0.85,
                           edgecolor="white", lw=0.4,
                           label=f"run {r} (seed {points['seed'].iloc[0]}): {points['train_loss'].iloc[-1]:.2g}")
                ax.scatter(points["pc1"].iloc[:1], points["pc2"].iloc[:1], s=area(points["train_loss"].iloc[:1]),
                           facecolor="none", edgecolor="black", lw=0.9)
            ax.scatter([], [], s=area(np.exp(high)), color="0.6", label=f"loss {np.exp(high):.2g}")
            ax.scatter([], [], s=area(np.exp(low)), color="0.6", label=f"loss {np.exp(low):.2g}")
            ax.scatter([], [], s=area(np.exp(high)), facecolor="none", edgecolor="black", lw=0.9, label="epoch 0")
            ax.set(xlabel=f"PC1 ({pct(ratio[0])} of variance)", ylabel=f"PC2 ({pct(ratio[1])} of variance)",
                   title=f"Weights of {words} ({params:,} parameters), {part['run'].nunique()} runs")
            ax.margins(0.06)
            legend_under(ax, ncol=4, below=0.13, columnspacing=1.0, handletextpad=0.3,
                         title="run (seed): final training loss; marker area grows with log loss")

        dropped = sorted(set(run.csv("snapshots.csv")["run"]) - set(snaps["run"]))
        caption = (f"{architecture_text(s)} on {s['dataset']['name']} ({s['dataset']['train_size']:,} training "
                   f"images), Adam, learning rate {s['learning_rate']:g}, batch size {s['batch_size']}, "
                   f"{s['epochs']} epochs; weights recorded at epoch 0 and every {s['snapshot_every']} epochs; PCA "
                   "(scikit-learn) fitted jointly on all runs' snapshots. One colour per run, one dot per snapshot "
                   "(black ring: epoch 0)." + (f" Diverged runs, left out: {dropped}." if dropped else ""))
        return Plot(file, f"Weights of {words} in their 2-D PCA plane", caption, draw, size=(7.0, 6.0))

    return [plot(*scope) for scope in _scopes(run)]


# ---------------------------------------------------------------- report section

def describe(run: ResultsFolder) -> list[Table]:
    s = run.settings
    rows = [("Architecture", architecture_text(s)),
            ("Layer shown alone", f"{s['layer']} ({s['layer_params']:,} parameters)"),
            *dataset_rows(s), *training_rows(s),
            ("Runs", f"{s['runs']} (seeds {', '.join(map(str, s['seeds']))}), each a fresh model and optimizer, "
                     "trained side by side in one batched graph"),
            ("Recording cycle", f"weights recorded at epoch 0 and every {s['snapshot_every']} epochs"),
            ("Reduction", f"{s['reduction']}, fitted jointly on all runs' snapshots (whole model; and the layer "
                          "alone)")]
    return [settings_table(run, rows)]


def comment(run: ResultsFolder) -> list[Note]:
    snaps, dropped = _snapshots(run), run.outcome.get("diverged_runs", [])
    notes = [Note(f"Runs {dropped} diverged (the loss became NaN or infinite); they are left out of the PCA and "
                  "of every number below.")] if dropped else []
    if snaps.empty:
        return notes
    for scope, _, words, _ in _scopes(run):
        explained = _explained(run, scope).sum()
        count = int((snaps["scope"] == scope).sum())
        rest = (", so the 2-D picture hides most of the motion" if explained < 0.5
                else f"; the remaining {pct(1 - explained)} is not shown")
        notes.append(Note(f"For {words}, PC1 and PC2 explain {pct(explained)} of the variance of all {count} "
                          f"snapshots{rest}."))
    whole = snaps[snaps["scope"] == "whole"]
    final = whole[whole["epoch"] == whole["epoch"].max()]
    notes.append(Note(f"After {num(int(final['epoch'].max()))} epochs the {len(final)} runs reach training losses "
                      f"{span(final['train_loss'])} (training accuracy {span(final['train_acc'], pct)}; test "
                      f"accuracy {span(final['test_acc'], pct)})."))
    if final["run"].nunique() > 1:
        g = geometry(whole)
        reading = spread_reading(g, _explained(run, "whole"), int(final["run"].nunique()))
        notes.append(Note(f"In the whole-model plane, {reading}."))
        shares = {words: between_share(snaps[snaps["scope"] == scope]) for scope, _, words, _ in _scopes(run)}
        (first, a), (second, b) = shares.items()
        notes.append(Note(f"In the plane, {pct(a)} of the snapshots' spread (sum of squares) lies between the runs' "
                          f"centres and {pct(1 - a)} along their paths for {first}; {pct(b)} and {pct(1 - b)} for "
                          f"{second}. The plane {'mostly' if min(a, b) > MOSTLY else 'does not mainly'} separate"
                          f"{'s' if min(a, b) > MOSTLY else ''} the runs (\"mostly\": more than {pct(MOSTLY, 0)} "
                          "between runs in both)."))
    return notes


def conclusion(run: ResultsFolder) -> tuple[str, Plot]:
    figure, *_ = plots(run)  # the whole model's trajectory
    s, snaps = run.settings, _snapshots(run)
    setup = (f"{s['runs']} runs of {s['architecture']}, trained with Adam (learning rate {s['learning_rate']:g}, "
             f"batch {s['batch_size']}, {s['epochs']} epochs) from seeds {s['seeds'][0]}–{s['seeds'][-1]}, had their "
             f"weights recorded at epoch 0 and every {s['snapshot_every']} epochs and reduced to 2-D by PCA fitted "
             "jointly on all runs' snapshots.")
    whole = snaps[snaps["scope"] == "whole"]
    if whole["run"].nunique() < 2:
        return setup + " Fewer than two runs finished without diverging: there is nothing to compare.", \
            figure
    final = whole[whole["epoch"] == whole["epoch"].max()]
    g = geometry(whole)
    explained, layer = _explained(run, "whole").sum(), _explained(run, s["layer"]).sum()
    dropped = run.outcome.get("diverged_runs") or []
    only = "only " if explained < 0.5 else ""
    return (f"{setup} The first two components explain {only}{pct(explained)} of the variance ({pct(layer)} for "
            f"layer {s['layer']}): {spread_reading(g, _explained(run, 'whole'), int(final['run'].nunique()))}. "
            f"{pct(g['between'])} of the spread in the plane lies between the runs' centres. The {len(final)} runs "
            f"reach training loss {span(final['train_loss'])} (training accuracy {span(final['train_acc'], pct)})."
            + (f" Runs {dropped} diverged and are left out." if dropped else ""), figure)


VIEW = View("part2_visualize_optimization", position=3, plots=plots, tasks=(
    Task("1-2a", "Visualize the optimization process",
         "Where do 8 runs of the same architecture go in weight space, seen through a joint 2-D PCA?",
         describe, comment, conclusion),))
