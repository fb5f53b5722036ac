"""View of the HW1-2 bonus, the error surface: one contour figure per plane and the report section."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hw1.report.document import Note, Table
from hw1.report.plots import legend_under
from hw1.report.prose import num, pct, times
from hw1.results import ResultsFolder, check_grid
from hw1.report.views import Plot, Task, View
from hw1.report.views.common import architecture_text, dataset_rows, settings_table, training_rows

PLANES = {"pca": "the PCA directions of the training trajectory",
          "filter_normalized": "filter-normalized random directions (Li et al. 2018)"}
LOWER = 1e-3    # a grid point is "lower" than the trained model when its loss is lower by more than 0.1 %
CENTRE = 1e-4   # the grid's centre must equal the trained model's loss to this relative tolerance (float32 sums)


def _grid(run: ResultsFolder) -> pd.DataFrame:
    return run.csv("grid.csv")


def _path(run: ResultsFolder) -> pd.DataFrame:
    return run.csv("trajectory.csv")


def _centre(run: ResultsFolder) -> tuple[str, float]:
    """What the grids are centred on (words) and its training loss."""
    o = run.outcome
    words = "the trained model" if not o["diverged"] else f"the last finite snapshot (epoch {o['center_epoch']})"
    return words, float(o["center_train_loss"])


def planes(run: ResultsFolder) -> dict[str, dict]:
    """Per plane in grid.csv: its rows, the lowest point, the border's mean loss, the centre's loss."""
    out = {}
    for name, part in _grid(run).groupby("directions", sort=False):
        check_grid(part, "beta", "alpha", f"{run.folder / 'grid.csv'} (plane {name!r})", complete=True)
        finite = part[np.isfinite(part["train_loss"])]
        a, b = part["alpha"].abs(), part["beta"].abs()
        centre = part[(part["alpha"] == 0) & (part["beta"] == 0)]["train_loss"]
        out[name] = {"rows": part, "low": finite.loc[finite["train_loss"].idxmin()] if len(finite) else None,
                     "border": part[(a == a.max()) | (b == b.max())]["train_loss"].mean(),
                     "centre": float(centre.iloc[0]) if len(centre) else float("nan"),
                     "non_finite": int(len(part) - len(finite))}
    return out


# ---------------------------------------------------------------- figures

def plots(run: ResultsFolder) -> list[Plot]:
    s, path, (centre_words, centre_loss) = run.settings, _path(run), _centre(run)
    ratio = run.outcome.get("pca_explained_variance")

    def plot(name: str, part: pd.DataFrame) -> Plot:
        from matplotlib.colors import LogNorm
        from matplotlib.patheffects import Normal, Stroke

        def draw(fig) -> None:
            ax = fig.subplots()
            surface = part.pivot(index="beta", columns="alpha", values="train_loss")
            values = np.ma.masked_invalid(surface.to_numpy())
            if values.count() == 0:
                ax.text(0.5, 0.5, "no finite loss on this grid", ha="center", transform=ax.transAxes)
                return
            levels = np.geomspace(values.min(), max(values.max(), values.min() * 1.001), 30)
            filled = ax.contourf(surface.columns, surface.index, values, levels=levels, norm=LogNorm(),
                                 cmap="viridis")
            ax.contour(surface.columns, surface.index, values, levels=levels[::3], colors="white", linewidths=0.4,
                       alpha=0.6)
            ticks = np.geomspace(levels[0], levels[-1], 6)
            bar = fig.colorbar(filled, ax=ax, label="training loss (cross-entropy, log scale)")
            bar.set_ticks(ticks, labels=[f"{t:.3g}" for t in ticks])
            bar.minorticks_off()
            if name == "pca":
                live = path[~path["diverged"].astype(bool)]
                ax.plot(live["alpha"], live["beta"], "-o", color="white", ms=3.5, lw=1.2, markeredgecolor="black",
                        markeredgewidth=0.4, path_effects=[Stroke(linewidth=2.4, foreground="black"), Normal()],
                        label="training trajectory (one dot per epoch)")
                start = live["alpha"].iloc[0], live["beta"].iloc[0]
                inward = -1 if start[0] > 0 else 1  # write the label on the side of the plot's centre
                ax.annotate("epoch 0", start, color="white", fontsize=9, xytext=(6 * inward, 6),
                            textcoords="offset points", ha="left" if inward > 0 else "right",
                            path_effects=[Stroke(linewidth=2, foreground="black"), Normal()])
                ax.set(xlabel=f"direction 1 ({pct(ratio[0])} of the trajectory's variance)",
                       ylabel=f"direction 2 ({pct(ratio[1])})")
            else:
                ax.set(xlabel="α (direction 1, in filter norms)", ylabel="β (direction 2, in filter norms)")
            ax.plot([0], [0], marker="*", color="red", ms=14, markeredgecolor="white", ls="none",
                    label=f"{'trained model' if not run.outcome['diverged'] else 'last finite snapshot'} "
                          f"(loss {num(centre_loss)})")
            ax.set_title(f"Loss surface along {PLANES.get(name, name).split(' (')[0]}", fontsize=11)
            legend_under(ax)

        units = ("coordinates in parameter units (unit-norm directions)" if name == "pca" else
                 "α = 1 moves each filter by its own norm, biases fixed; direction seeds "
                 f"{', '.join(map(str, s['direction_seeds']))}")
        caption = (f"{architecture_text(s)} on {s['dataset']['name']} ({s['dataset']['train_size']:,} training "
                   f"images), Adam, learning rate {s['learning_rate']:g}, batch size {s['batch_size']}, "
                   f"{s['epochs']} epochs; training loss on the full training set at {s['grid_points']}×"
                   f"{s['grid_points']} points around {centre_words}; {units}."
                   + (" White: the training trajectory." if name == "pca" else "")
                   + (f" Training diverged at epoch {run.outcome['diverged_at_epoch']} (loss NaN or infinite); nothing "
                      "after the last finite snapshot is drawn." if run.outcome["diverged"] else ""))
        return Plot(f"surface_{name}.png", f"Loss surface along {PLANES.get(name, name)}", caption, draw,
                    size=(7.0, 6.0))

    return [plot(name, plane["rows"]) for name, plane in planes(run).items()]


# ---------------------------------------------------------------- report section

def describe(run: ResultsFolder) -> list[Table]:
    s = run.settings
    points = s["grid_points"]
    rows = [("Architecture", architecture_text(s)), *dataset_rows(s), *training_rows(s),
            ("Trajectory", "weights recorded every epoch, projected on the PCA plane"),
            ("Directions", "top-2 PCA directions of the trajectory's offsets from the trained model (unit norm); two "
                           "filter-normalized random directions (Li et al. 2018; seeds "
                           f"{', '.join(map(str, s['direction_seeds']))}; biases not moved)"),
            ("Grid", f"{points}×{points} points; PCA plane: the trajectory's extent + {pct(s['margin'], 0)}; "
                     f"random plane: ±{s['random_span']:g} filter norms"),
            ("Evaluated", "training loss and accuracy on the full training set at every grid point")]
    return [settings_table(run, rows)]


def comment(run: ResultsFolder) -> list[Note]:
    s, o, path = run.settings, run.outcome, _path(run)
    words, trained = _centre(run)
    notes = []
    if o["diverged"]:
        notes.append(Note(f"Training diverged at epoch {o['diverged_at_epoch']} (learning rate "
                          f"{s['learning_rate']:g}): the training loss became NaN or infinite. That is the result of "
                          "this run; there is no trained model, so the grids below are centred on "
                          f"{words}, loss {num(trained)}"
                          + ("" if "pca" in planes(run) else "; the PCA plane needs at least three finite snapshots "
                             "and is not drawn") + "."))
    elif trained >= path["train_loss"].iloc[0]:
        notes.append(Note(f"Training did not lower the loss (epoch 0: {num(path['train_loss'].iloc[0])}, epoch "
                          f"{num(int(path['epoch'].iloc[-1]))}: {num(trained)}; learning rate {s['learning_rate']:g}): "
                          "the surfaces are around a model that did not learn."))
    for name, p in planes(run).items():
        if not np.isfinite(p["centre"]) or abs(p["centre"] - trained) > CENTRE * abs(trained):
            notes.append(Note(f"The centre of the {name} grid has loss {num(p['centre'], 6)}, not the "
                              f"{num(trained, 6)} of {words} (tolerance {CENTRE:g} relative).", "warning"))
        if p["low"] is None:
            notes.append(Note(f"No grid point along {PLANES.get(name, name)} has a finite loss."))
            continue
        low = p["low"]
        where = (f"{words} is the lowest point of the grid (no point is lower by more than {pct(LOWER)})"
                 if low["train_loss"] >= trained * (1 - LOWER) else
                 f"the lowest grid point, at (α, β) = ({num(low['alpha'])}, {num(low['beta'])}), has loss "
                 f"{num(low['train_loss'])}, {times(trained, low['train_loss'])} lower than {words}"
                 + ("" if o["diverged"] else ": training had not reached the bottom of this plane"))
        text = (f"Along {PLANES.get(name, name)} the training loss ranges from {num(low['train_loss'])} to "
                f"{num(p['rows']['train_loss'].max())} ({words}: {num(trained)}); the mean loss on the border is "
                f"{times(p['border'], trained)} that at the centre; {where}.")
        if p["non_finite"]:
            text += f" {p['non_finite']} grid points have a non-finite loss (left blank in the figure)."
        if name == "pca":
            ratio = o["pca_explained_variance"]
            text += f" The two directions explain {pct(ratio[0])} and {pct(ratio[1])} of the trajectory's variance."
        notes.append(Note(text))
    live = path[~path["diverged"].astype(bool)]
    falls = bool((live["train_loss"].diff().iloc[1:] <= 0).all())
    notes.append(Note(f"Only epoch 0 has a finite loss ({num(live['train_loss'].iloc[0])})." if len(live) < 2 else
                      f"The trajectory runs from loss {num(live['train_loss'].iloc[0])} at epoch 0 to "
                      f"{num(live['train_loss'].iloc[-1])} at epoch {num(int(live['epoch'].iloc[-1]))}"
                      f"{', falling at every epoch' if falls else ', not falling at every epoch'}"
                      + (" before diverging." if o["diverged"] else ".")))
    return notes


def conclusion(run: ResultsFolder) -> tuple[str, Plot | None]:
    s, o = run.settings, run.outcome
    words, trained = _centre(run)
    found = planes(run)
    shown = dict(zip(found, plots(run)))  # one figure per plane
    figure = shown.get("pca", shown.get("filter_normalized"))
    if o["diverged"]:
        return (f"Training diverged at epoch {o['diverged_at_epoch']} (learning rate {s['learning_rate']:g}), so "
                f"there is no trained model to look around; the surfaces show the neighbourhood of {words} "
                "instead.", figure)
    start = run.csv("trajectory.csv")["train_loss"].iloc[0]
    parts = [f"Training did not lower the loss ({num(start)} at epoch 0, {num(trained)} at the end; learning rate "
             f"{s['learning_rate']:g}), so this is the surface around a model that did not learn. "
             if trained >= start else "",
             f"Around the model trained for {s['epochs']} epochs (Adam, learning rate {s['learning_rate']:g}; "
             f"training loss {num(trained)})"]
    random = found.get("filter_normalized")
    if random is not None and random["low"] is not None:
        bottom = random["low"]["train_loss"] >= trained * (1 - LOWER)
        parts.append(f", the loss on the filter-normalized random plane rises to a border mean "
                     f"{times(random['border'], trained)} the trained loss at ±{s['random_span']:g} filter norms"
                     + (" and the trained model is its lowest point: a basin in random directions." if bottom else
                        f", but a point {times(trained, random['low']['train_loss'])} lower lies on it."))
    pca = found.get("pca")
    if pca is not None and pca["low"] is not None:
        ratio, low = o["pca_explained_variance"], pca["low"]
        start_alpha = run.csv("trajectory.csv")["alpha"].iloc[0]  # where epoch 0 lies on direction 1
        parts.append(f" In the plane of the trajectory's two PCA directions ({pct(ratio[0])} and {pct(ratio[1])} of "
                     "its variance), drawn with the trajectory, "
                     + (f"the lowest grid point has loss {num(low['train_loss'])}, "
                        f"{times(trained, low['train_loss'])} lower than the trained model"
                        + (", beyond it in the direction training was moving" if low["alpha"] * start_alpha < 0
                           else "") + ": training had not reached the bottom."
                        if low["train_loss"] < trained * (1 - LOWER) else
                        "the trained model is the lowest point: training ended at the bottom of this plane."))
    return "".join(parts), figure


VIEW = View("part2_error_surface", position=6, plots=plots, tasks=(
    Task("1-2 bonus", "Error surface", "What does the loss surface around a trained model look like?",
         describe, comment, conclusion),))
