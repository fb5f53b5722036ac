"""HW1-2 figures: weight trajectories (PCA), gradient norm, minimal ratio, error surface."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from hw1.plots import caption, save, settings
from hw1.results import read_csv


def _train_text(config: dict) -> str:
    batch = "full batch" if config.get("batch_size") in (None, "full") else f"batch size {config['batch_size']}"
    return f"{config['optimizer'].capitalize()}, learning rate {config['learning_rate']:g}, {batch}"


# ---------------------------------------------------------------- 1-2a weight trajectories

def visualize_optimization(folder: Path) -> list[Path]:
    """Per scope (whole model, one layer): every run's snapshots in the joint 2-D PCA plane."""
    snaps = read_csv(folder / "snapshots.csv")
    pca = read_csv(folder / "pca.csv")
    config = settings(folder)
    diverged = set(config.get("diverged_runs", []))
    snaps = snaps[~snaps["run"].isin(diverged)]
    loss_min, loss_max = np.log(snaps["loss"].min()), np.log(snaps["loss"].max())
    out = []
    for scope in ("whole", config["layer"]):
        part = snaps[snaps["scope"] == scope]
        ratio = pca[pca["scope"] == scope].set_index("component")["explained_variance_ratio"]
        fig, ax = plt.subplots(figsize=(7.0, 5.6))
        for i, (run, points) in enumerate(part.groupby("run", sort=True)):
            color = f"C{i % 10}"
            size = 12 + 110 * (np.log(points["loss"]) - loss_min) / max(loss_max - loss_min, 1e-12)
            ax.plot(points["pc1"], points["pc2"], color=color, lw=0.8, alpha=0.6)
            ax.scatter(points["pc1"], points["pc2"], s=size, color=color, alpha=0.85, edgecolor="white", lw=0.4,
                       label=f"run {run} (seed {config['seeds'][run]})")
            ax.scatter(points["pc1"].iloc[:1], points["pc2"].iloc[:1], s=size.iloc[:1], facecolor="none",
                       edgecolor="black", lw=0.8)
            # the final loss, written just beyond the run's last point, along its last step
            end = ax.transData.transform(points[["pc1", "pc2"]].to_numpy()[-2:])
            step = end[1] - end[0]
            step = 12 * step / max(np.linalg.norm(step), 1e-9)
            ax.annotate(f"{points['loss'].iloc[-1]:.4f}", points[["pc1", "pc2"]].iloc[-1], fontsize=7, color=color,
                        xytext=step, textcoords="offset pixels", ha="left" if step[0] >= 0 else "right",
                        va="bottom" if step[1] >= 0 else "top")
        what = "whole model" if scope == "whole" else f"layer {scope!r}"
        params = config["params"] if scope == "whole" else config["layer_params"]
        ax.set(xlabel=f"PC1 ({ratio[1]:.1%} of variance)", ylabel=f"PC2 ({ratio[2]:.1%} of variance)",
               title=f"Weights of the {what} ({params:,} parameters), {len(set(part['run']))} runs")
        ax.margins(0.08)
        ax.legend(loc="best", ncol=2, title="marker area ∝ log training loss;\nblack ring: epoch 0")
        caption(fig, f"{config['architecture']} on {config['dataset']['name']} "
                     f"({config['dataset']['train_size']:,} training images), {_train_text(config)}; weights "
                     f"recorded every {config['snapshot_every']} epochs and at epoch 0, {config['epochs']} epochs; "
                     "PCA (scikit-learn) fitted jointly on all runs' snapshots. Numbers: final training loss."
                     + (f" Diverged runs left out: {sorted(diverged)}." if diverged else ""))
        out.append(save(fig, folder / f"trajectory_{'whole' if scope == 'whole' else 'layer'}.png"))
    return out


# ---------------------------------------------------------------- 1-2b gradient norm

def gradient_norm(folder: Path) -> list[Path]:
    """Gradient norm and loss per iteration, two panels sharing the iteration axis (log y)."""
    history = read_csv(folder / "history.csv")
    config = settings(folder)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.0, 5.6), sharex=True)
    top.plot(history["step"], history["grad_norm"], color="C3", lw=0.9)
    top.set(yscale="log", ylabel="gradient norm ‖∇L‖₂", title="Gradient norm and loss per iteration")
    bottom.plot(history["step"], history["loss"], color="C0", lw=0.9)
    bottom.set(yscale="log", xlabel="iteration (full-batch step)", ylabel="training loss (MSE)")
    caption(fig, f"{config['architecture']} ({config['activation']}), {config['params']} parameters, fitted to "
                 f"y = {config['function_label']} on {config['samples']} points of (0, 1]; {_train_text(config)}. "
                 "Both values are those of the full training set at each step (L2 norm over all parameters)."
                 + (" This run diverged." if config.get("diverged") else ""))
    return [save(fig, folder / "gradient_norm.png")]


# ---------------------------------------------------------------- 1-2c minimal ratio

def minimal_ratio(folder: Path) -> list[Path]:
    """Minimal ratio against final loss (scatter), and the pooled Hessian spectra with the tolerance."""
    runs = read_csv(folder / "runs.csv")
    config = settings(folder)
    diverged = runs[runs["diverged"]]
    live = runs[~runs["diverged"]]
    converged = live[live["converged"]]
    stalled = live[~live["converged"]]
    grad_tol, eig_tol = config["grad_tol"], config["eig_tol"]
    setup = (f"{config['architecture']} ({config['n_params']} parameters, {config['activation']}) on "
             f"{config['samples']} points of y = {config['function_label']}. Loss phase: Adam lr "
             f"{config['loss_learning_rate']:g}, "
             f"{config['loss_steps']} full-batch steps; then ‖∇L‖² (double backprop, full set): Adam lr "
             f"{config['grad_learning_rate']:g}, ≤ {config['grad_steps']} steps")
    out = []

    fig, ax = plt.subplots(figsize=(7.0, 4.8))
    ax.scatter(converged["loss"], converged["minimal_ratio"], s=22, color="C0", alpha=0.8,
               label=f"‖∇L‖ < {grad_tol:g}: {len(converged)} runs")
    ax.scatter(stalled["loss"], stalled["minimal_ratio"], s=22, facecolor="none", edgecolor="C3", alpha=0.9,
               label=f"stopped with ‖∇L‖ ≥ {grad_tol:g}: {len(stalled)} runs")
    stacks = live.groupby([live["loss"].map(lambda v: f"{v:.4g}"), "minimal_ratio"]).agg(
        loss=("loss", "median"), count=("run", "size"))
    for (_, ratio), row in stacks[stacks["count"] > 2].iterrows():
        ax.annotate(f"×{int(row['count'])}", (row["loss"], ratio), fontsize=7, color="0.25", xytext=(5, -3),
                    textcoords="offset points")
    ax.set(xscale="log", xlabel="training loss (MSE) at the end of ‖∇L‖² minimization",
           ylabel=f"minimal ratio (share of eigenvalues > {eig_tol:g})",
           title=f"Minimal ratio vs loss, {len(live)} runs")
    ax.legend(loc="best")
    caption(fig, f"{setup}. Exact float64 Hessian of the full-data loss, all parameters; a run "
                 f"converged when ‖∇L‖ < {grad_tol:g}. Tolerance for a zero eigenvalue: |λ| ≤ {eig_tol:g}. "
                 f"Median ‖∇L‖ reached: {live['grad_norm'].median():.2g}. ×k: k runs at the same point."
                 + (f" Diverged runs left out: {len(diverged)}." if len(diverged) else ""))
    out.append(save(fig, folder / "minimal_ratio.png"))

    spectra = read_csv(folder / "spectra.csv")
    values = spectra[spectra["run"].isin(live["run"])]["eigenvalue"].to_numpy()
    floor = 1e-17
    edges = np.logspace(np.log10(floor), np.log10(max(np.abs(values).max(), 10 * eig_tol)) + 0.01, 61)
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    for sign, color, name in ((1, "C0", "λ > 0"), (-1, "C3", "λ < 0")):
        part = np.clip(sign * values[sign * values > 0], floor, None)
        ax.hist(part, bins=edges, color=color, alpha=0.6, label=f"{name}: {len(part):,}")
    if np.any(values == 0):
        ax.hist(np.full(int(np.sum(values == 0)), floor), bins=edges, color="0.3", label=f"λ = 0 exactly: "
                f"{int(np.sum(values == 0)):,}")
    near = int(np.sum(np.abs(values) <= eig_tol))
    ax.axvspan(floor, eig_tol, color="0.85", zorder=0, label=f"|λ| ≤ {eig_tol:g}, counted as zero: {near:,}")
    ax.axvline(eig_tol, color="black", ls="--", lw=1)
    ax.set(xscale="log", yscale="log", xlabel=f"|λ|, Hessian eigenvalue magnitude (exact zeros drawn at {floor:g})",
           ylabel="count (all runs pooled)", title=f"Hessian spectra of {len(live)} runs ({len(values):,} eigenvalues)")
    ax.legend(loc="upper center")
    rounding = config["n_params"] * np.abs(values).max()
    caption(fig, f"{setup}. Rounding bound n·ε·max|λ| of an eigenvalue: {rounding * 2.2e-16:.0e} in float64 "
                 f"(used), {rounding * 6e-8:.0e} had it been float32. Tolerance {eig_tol:g} ≥ gradient-norm "
                 f"tolerance {grad_tol:g}: a residual gradient g bends flat directions by ~‖g‖.")
    out.append(save(fig, folder / "spectra.png"))
    return out


# ---------------------------------------------------------------- 1-2 bonus error surface

def error_surface(folder: Path) -> list[Path]:
    """Contour of the training loss on each pair of directions; the trajectory drawn on the PCA plane."""
    grid = read_csv(folder / "grid.csv")
    directions = read_csv(folder / "directions.csv")
    trajectory = read_csv(folder / "trajectory.csv")
    config = settings(folder)
    titles = {"pca": "PCA directions of the training trajectory",
              "filter_normalized": "filter-normalized random directions (Li et al. 2018)"}
    out = []
    for name in dict.fromkeys(grid["directions"]):
        part = grid[grid["directions"] == name]
        surface = part.pivot(index="beta", columns="alpha", values="loss")
        fig, ax = plt.subplots(figsize=(6.6, 5.4))
        levels = np.geomspace(surface.values.min(), surface.values.max(), 30)
        filled = ax.contourf(surface.columns, surface.index, surface.values, levels=levels, norm=LogNorm(),
                             cmap="viridis")
        ax.contour(surface.columns, surface.index, surface.values, levels=levels[::3], colors="white",
                   linewidths=0.4, alpha=0.6)
        bar = fig.colorbar(filled, ax=ax, label="training loss (cross-entropy, log scale)")
        bar.set_ticks(np.geomspace(levels[0], levels[-1], 6), labels=[f"{t:.3g}" for t in
                                                                   np.geomspace(levels[0], levels[-1], 6)])
        bar.minorticks_off()
        info = directions[directions["directions"] == name].set_index("axis")
        if name == "pca":
            ax.plot(trajectory["alpha"], trajectory["beta"], "-o", color="white", ms=3.5, lw=1.2,
                    markeredgecolor="black", markeredgewidth=0.4, label="training trajectory (one dot per epoch)")
            ax.annotate("epoch 0", (trajectory["alpha"].iloc[0], trajectory["beta"].iloc[0]), color="white",
                        fontsize=8, xytext=(5, 5), textcoords="offset points")
            xlabel = f"direction 1 ({info.loc[1, 'explained_variance_ratio']:.1%} of trajectory variance)"
            ylabel = f"direction 2 ({info.loc[2, 'explained_variance_ratio']:.1%})"
            units = "coordinates in parameter units (unit-norm directions)"
        else:
            xlabel, ylabel = "α (direction 1)", "β (direction 2)"
            units = (f"α = 1 moves each filter by its own norm; biases fixed; direction seed "
                     f"{config['direction_seed']}")
        ax.plot([0], [0], marker="*", color="red", ms=13, markeredgecolor="white", ls="none",
                label=f"trained model (loss {config['final_loss']:.3f})")
        ax.set(xlabel=xlabel, ylabel=ylabel, title=f"Loss surface along {titles.get(name, name)}")
        ax.legend(loc="upper right", fontsize=8)
        caption(fig, f"{config['architecture']} ({config['params']:,} parameters) on {config['dataset']['name']} "
                     f"({config['dataset']['train_size']:,} training images), {_train_text(config)}, "
                     f"{config['epochs']} epochs; loss on the full training set at "
                     f"{config['grid_points']}×{config['grid_points']} points; {units}.")
        out.append(save(fig, folder / f"surface_{name}.png"))
    return out


FIGURES = {"part2_visualize_optimization": visualize_optimization, "part2_gradient_norm": gradient_norm,
           "part2_minimal_ratio": minimal_ratio, "part2_error_surface": error_surface}
