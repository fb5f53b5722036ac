"""The report (hw1.report): built from results folders, numbers checked against the CSVs they come from.

Most tests use a synthetic results folder written here (the CSV columns and settings.json keys the
experiment scripts write, with hand-chosen numbers whose answers are known); one test builds the
report from real smoke runs of two scripts.
"""

from __future__ import annotations

import html.parser
import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import ROOT, run_script
from hw1 import report

DATASET = {"name": "mnist_bundled", "source": "synthetic test data", "train_size": 4000, "test_size": 1000,
           "input_shape": [28, 28, 1], "num_classes": 10}
META = {"seed": 0, "profile": "default", "seconds": 12.5, "peak_memory_mb": 900,
        "versions": {"python": "3.11.7", "numpy": "2.4.6"},
        "machine": {"platform": "Linux-test", "processor": "x86_64", "cpu_count": 2, "gpus": []}}
ALPHAS = np.round(np.linspace(-1, 2, 31), 10)
BATCHES = [16, 64, 256, 1024, 4000]
SENSITIVITY = [3.0, 2.5, 2.8, 2.0, 1.0]  # falls with batch size: contradicts the textbook


def png() -> bytes:
    """A valid 1×1 white PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff")) + chunk(b"IEND", b""))


def write(root: Path, experiment: str, settings: dict, tables: dict[str, pd.DataFrame], figures: list[str],
          **extra) -> None:
    folder = root / experiment
    folder.mkdir(parents=True)
    (folder / "settings.json").write_text(json.dumps({"experiment": experiment, "settings": settings, **META,
                                                       **extra}))
    for name, frame in tables.items():
        frame.to_csv(folder / name, index=False)
    for name in figures:
        (folder / name).write_bytes(png())


def interpolation_curves() -> pd.DataFrame:
    """Pair batch_size: both endpoints are minima of the line, θ2 the sharper, a low barrier, test best at 0.3.
    Pair learning_rate: training loss falls all along the line; test loss lowest at α = 1.5."""
    a = ALPHAS
    batch = pd.DataFrame({"pair": "batch_size", "alpha": a, "train_acc": 0.9, "test_acc": 0.8,
                          "train_loss": 0.1 + 0.05 * a + a**2 * (a - 1)**2 * (1 + 3 * a**2),
                          "test_loss": 0.3 + 0.2 * (a - 0.3)**2})
    rate = pd.DataFrame({"pair": "learning_rate", "alpha": a, "train_loss": np.exp(-a), "train_acc": 0.9,
                         "test_loss": 0.5 + (a - 1.5)**2, "test_acc": 0.8})
    return pd.concat([batch, rate], ignore_index=True)


def write_results(root: Path) -> Path:
    """A results folder with every experiment, each with the columns its script writes."""
    fns = {"sinc": "np.sinc(5 * x)", "sign": "np.sign(np.sin(5 * np.pi * x))"}
    losses = {"sinc": [0.02, 0.01, 0.004], "sign": [0.05, 0.08, 0.2]}  # sinc: deeper is better; sign: the opposite
    write(root, "part1_simulate_function",
          dict(functions=fns, samples=300, loss="mse", optimizer="adam", learning_rate=3e-3, epochs=1000, runs=3,
               target_params=600, depths=[1, 2, 4], batch="full"),
          {"models.csv": pd.DataFrame([{"function": f, "model": f"{d}_hidden", "hidden_layers": d, "widths": "w",
                                        "params": 600 + d, "runs": 3, "median_run": 0, "final_loss": loss,
                                        "final_loss_min": loss * 0.9, "final_loss_max": loss * 1.1, "diverged_runs": 0}
                                       for f in fns for d, loss in zip([1, 2, 4], losses[f])])},
          [f"{kind}_{f}.png" for f in fns for kind in ("loss", "predictions")])
    write(root, "part1_actual_task",
          dict(dataset=DATASET, epochs=20, batch_size=64, learning_rate=1e-3, optimizer="adam", loss="sparse_ce"),
          {"models.csv": pd.DataFrame({"model": ["dnn", "cnn", "rnn"], "description": ["Dense(32)", "Conv", "LSTM"],
                                       "params": [25450, 25000, 26000], "train_loss": [0.1, 0.02, 0.05],
                                       "train_acc": [0.97, 0.99, 0.98], "test_loss": [0.3, 0.1, 0.2],
                                       "test_acc": [0.92, 0.97, 0.94], "diverged": False})},
          ["loss.png", "acc.png"])
    snaps = pd.DataFrame([{"run": r, "epoch": e, "scope": s, "pc1": r + e, "pc2": -r, "loss": 2.0 / (1 + e) + r / 100,
                           "accuracy": 0.5} for s in ("whole", "dense_2") for r in range(3) for e in (0, 3, 6)])
    write(root, "part2_visualize_optimization",
          dict(architecture="Dense(16) → Dense(10)", params=13002, layer="dense_2", layer_params=272, dataset=DATASET,
               optimizer="adam", loss="sparse_ce", learning_rate=1e-3, batch_size=64, epochs=6, runs=3, seeds=[0, 1, 2],
               snapshot_every=3, reduction="PCA (scikit-learn), 2 components", diverged_runs=[]),
          {"snapshots.csv": snaps,
           "pca.csv": pd.DataFrame({"scope": ["whole", "whole", "dense_2", "dense_2"], "component": [1, 2, 1, 2],
                                    "explained_variance_ratio": [0.5, 0.2, 0.3, 0.1]})},
          ["trajectory_layer.png", "trajectory_whole.png"])
    steps = np.arange(1, 101)
    write(root, "part2_gradient_norm",
          dict(architecture="Dense(8) → Dense(1)", activation="relu", params=97, samples=64, function=fns["sinc"],
               loss="mse", optimizer="adam", learning_rate=1e-3, steps=100, diverged=False),
          {"history.csv": pd.DataFrame({"step": steps, "loss": 1.0 / steps, "grad_norm": 1 + np.sin(steps)})},
          ["gradient_norm.png", "gradient_norm_zoom.png"])  # the second is named by no section
    runs = pd.DataFrame({"run": range(6), "loss": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06],
                         "grad_norm": [1e-5, 2e-5, 3e-5, 4e-5, 5e-3, 6e-3],
                         "minimal_ratio": [0.6, 0.5, 0.55, 0.3, 0.2, 0.1], "n_params": 60,
                         "n_near_zero": [10, 12, 14, 16, 18, 20], "min_eig": [0, -1, 0, 0, 0, 0], "max_eig": 5.0,
                         "converged": [True] * 4 + [False] * 2, "diverged": False})
    stages = pd.concat([runs.assign(stage="loss", steps=10), runs.assign(stage="grad_norm", steps=5)])
    write(root, "part2_minimal_ratio",
          dict(architecture="MLP 1-6-6-1", activation="relu", n_params=60, samples=32, function=fns["sinc"],
               loss_learning_rate=1e-2, loss_steps=10, grad_learning_rate=3e-4, grad_steps=5, grad_tol=1e-4,
               eig_tol=1e-4, runs=6, seeds=list(range(6))),
          {"runs.csv": runs, "stages.csv": stages[["run", "stage", "steps", "loss", "grad_norm"]]},
          ["minimal_ratio.png", "spectra.png"])
    a, b = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    grid = pd.concat([pd.DataFrame({"directions": d, "alpha": a.ravel(), "beta": b.ravel(),
                                    "loss": 0.5 + a.ravel()**2 + b.ravel()**2, "accuracy": 0.9})
                      for d in ("pca", "filter_normalized")])
    write(root, "part2_error_surface",
          dict(architecture="MLP 784-8-10 (ReLU)", params=6370, dataset=DATASET, optimizer="adam", loss="sparse_ce",
               learning_rate=1e-3, batch_size=64, epochs=2, grid_points=5, margin=0.3, random_span=1.0,
               direction_seed=0, final_loss=0.5),
          {"grid.csv": grid,
           "directions.csv": pd.DataFrame({"directions": ["pca", "pca", "filter_normalized", "filter_normalized"],
                                           "axis": [1, 2, 1, 2], "explained_variance_ratio": [0.9, 0.08, None, None]}),
           "trajectory.csv": pd.DataFrame({"epoch": [0, 1, 2], "alpha": [-1, -0.5, 0], "beta": [0, 0.1, 0],
                                           "loss": [2.3, 1.0, 0.5], "accuracy": [0.1, 0.7, 0.9]})},
          ["surface_pca.png", "surface_filter_normalized.png"])
    epochs = np.arange(0, 31)
    train_acc = np.minimum(0.1 + epochs * 0.04, 1.0)  # first reaches 0.99 at epoch 23
    write(root, "part3_random_labels",
          dict(dataset=DATASET, widths=[512, 512], label_seed=0, labels_changed=0.9, optimizer="adam",
               loss="sparse_ce", learning_rate=1e-3, batch_size=128, epochs=200, target_train_acc=0.99),
          {"history.csv": pd.DataFrame({"epoch": epochs, "train_loss": 2.3 - epochs * 0.07, "train_acc": train_acc,
                                        "test_loss": 2.3 + epochs * 0.05, "test_acc": 0.1})},
          ["random_labels.png"], summary={"params": 669706, "epochs_run": 30, "diverged": False,
                                          "epochs_to_target": 23})
    widths = [2 ** k for k in range(11)]
    params = [785 * w + 11 * w + 10 for w in widths]
    write(root, "part3_params_vs_generalization",
          dict(dataset=DATASET, widths=widths, family="fc 1 hidden layer (relu)", optimizer="adam", loss="sparse_ce",
               learning_rate=1e-3, batch_size=128, epochs=20),
          {"models.csv": pd.DataFrame({"model": [f"784-{w}-10" for w in widths], "params": params,
                                       "train_loss": [1.0 / (k + 1) for k in range(11)], "train_acc": 0.9,
                                       "test_loss": [abs(k - 6) * 0.1 + 0.2 for k in range(11)], "test_acc": 0.85,
                                       "diverged": False})},
          ["params_loss.png", "params_accuracy.png"])
    curves = interpolation_curves()
    ends = curves[curves["alpha"].isin([0.0, 1.0])].copy()
    ends["batch_size"] = np.where((ends["pair"] == "batch_size") & (ends["alpha"] == 1), 1024, 64)
    ends["learning_rate"] = np.where((ends["pair"] == "learning_rate") & (ends["alpha"] == 1), 1e-2, 1e-3)
    write(root, "part3_interpolation",
          dict(dataset=DATASET, widths=[128], epochs=30, batch_sizes=[64, 1024], learning_rates=[1e-3, 1e-2],
               alpha_min=-1.0, alpha_max=2.0, alpha_points=31, init="shared", optimizer="adam", loss="sparse_ce"),
          {"interpolation.csv": curves,
           "endpoints.csv": ends.assign(init_seed=0, diverged=False)[
               ["pair", "alpha", "batch_size", "learning_rate", "init_seed", "train_loss", "train_acc", "test_loss",
                "test_acc", "diverged"]]},
          ["interpolation_batch_size.png", "interpolation_learning_rate.png"])
    write(root, "part3_sensitivity",
          dict(dataset=DATASET, widths=[128], batch_sizes=BATCHES, same="epochs", epochs=100, steps=1000,
               epochs_by_batch={str(b): 100 for b in BATCHES},
               steps_by_batch={str(b): 100 * -(-4000 // b) for b in BATCHES}, learning_rate=1e-3, epsilon=1e-3,
               sharpness_steps=20, sharpness_starts=2, hessian_iterations=100, optimizer="adam", loss="sparse_ce"),
          {"models.csv": pd.DataFrame({"batch_size": BATCHES, "train_loss": [0.01, 0.02, 0.04, 0.08, 0.16],
                                       "train_acc": 0.99, "test_loss": [0.2, 0.21, 0.25, 0.3, 0.4],
                                       "test_acc": [0.95, 0.94, 0.93, 0.92, 0.9], "sensitivity": SENSITIVITY,
                                       "sharpness": [1.0, 2.0, 3.0, 4.0, 5.0],
                                       "top_hessian_eigenvalue": [5.0, 9.0, 7.0, 20.0, 30.0], "diverged": False})},
          ["loss_sensitivity.png", "accuracy_sensitivity.png", "flatness.png"])
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The synthetic folder and its report: (root, sections, REPORT.md text, report.html text)."""
    root = write_results(tmp_path_factory.mktemp("results"))
    md, page, sections = report.write_report(root)
    return root, {s.task.key: s for s in sections}, md.read_text(), page.read_text()


def comments(section: report.Section) -> str:
    return "\n".join(n.text for n in section.notes if isinstance(n, report.Note))


def verdicts(section: report.Section) -> list[tuple[str, str]]:
    return [(n.verdict, n.text) for n in section.notes if isinstance(n, report.Note) and n.verdict]


class Tags(html.parser.HTMLParser):
    """Collects every src/href and checks that tags nest."""
    VOID = {"meta", "img", "br", "link", "hr", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack, self.links, self.ids = [], [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[k] for k in ("src", "href") if k in attrs]
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    tags.close()
    assert tags.stack == [], f"unclosed tags: {tags.stack}"
    return tags


# ---------------------------------------------------------------- structure

def test_every_task_has_a_section_in_the_assignments_order(built):
    _, sections, md, _ = built
    keys = ["1-1a", "1-1b", "1-2a", "1-2b", "1-2c", "1-2 bonus", "1-3a", "1-3b", "1-3c", "1-3d", "1-3 bonus"]
    assert list(sections) == keys
    assert all(not s.error for s in sections.values()), {k: s.error for k, s in sections.items() if s.error}
    positions = [md.index(f"\n## {s.task.key} {s.task.title}\n") for s in sections.values()]
    assert positions == sorted(positions)
    for s in sections.values():
        assert s.tables and s.figures and s.notes, s.task.key
        settings = dict(s.tables[0].rows)
        assert settings["Seed"] == "0" and settings["Profile"] == "default"


def test_header_has_profile_machine_versions_and_wall_time(built):
    _, _, md, _ = built
    assert "Profile: default." in md
    assert "2 CPU cores, no GPU seen by TensorFlow" in md
    assert "numpy 2.4.6" in md and "python 3.11.7" in md
    assert "| part3_sensitivity | default | mnist_bundled (4,000 / 1,000) | 12.5 s | 900 MiB |" in md
    assert f"| total |  |  | {report.duration(12.5 * 10)} |" in md


def test_every_referenced_figure_exists_and_unnamed_pngs_are_shown(built):
    root, sections, md, _ = built
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(linked) == 22 and len(set(linked)) == 22
    assert all((root / path).is_file() for path in linked)
    assert "![Other figure: gradient_norm_zoom.png](part2_gradient_norm/gradient_norm_zoom.png)" in md
    assert all(f.exists for s in sections.values() for f in s.figures)


def test_html_parses_is_self_contained_and_links_resolve(built):
    root, sections, _, page = built
    tags = parse(page)
    assert "http://" not in page and "https://" not in page and "@import" not in page
    images = [link for link in tags.links if not link.startswith("#")]
    assert len(images) == 22 and all(link.startswith("data:image/png;base64,") for link in images)
    anchors = {link[1:] for link in tags.links if link.startswith("#")}
    assert anchors <= tags.ids and {s.task.anchor for s in sections.values()} <= anchors


def test_linked_figures_use_relative_paths_that_exist(built, tmp_path):
    root = write_results(tmp_path / "r")
    assert report.main([str(root), "--link-figures"]) == 0
    tags = parse((root / "report.html").read_text())
    images = [link for link in tags.links if not link.startswith("#")]
    assert len(images) == 22 and all((root / link).is_file() and not Path(link).is_absolute() for link in images)


# ---------------------------------------------------------------- numbers in the comments equal the CSVs'

def test_deep_vs_shallow_names_the_lowest_final_loss_and_says_when_depth_does_not_help(built):
    root, sections, _, _ = built
    models = pd.read_csv(root / "part1_simulate_function" / "models.csv")
    text = comments(sections["1-1a"])
    for function, group in models.groupby("function"):
        best, worst = group.loc[group["final_loss"].idxmin()], group.loc[group["final_loss"].idxmax()]
        factor = report.num(worst["final_loss"] / best["final_loss"])
        assert f"{report.layers_text(best['hidden_layers'])} ({best['params']} parameters): " \
               f"{report.num(best['final_loss'])}, {factor}× lower" in text
    found = dict((v, t) for v, t in verdicts(sections["1-1a"]))
    assert "sin(5πx) / (5πx)" in found["agrees"] and "sgn(sin(5πx))" in found["contradicts"]


def test_interpolation_reports_the_alpha_of_the_lowest_test_loss_the_barrier_and_the_sharper_end(built):
    root, sections, _, _ = built
    curves = pd.read_csv(root / "part3_interpolation" / "interpolation.csv")
    text = comments(sections["1-3c"])
    for pair, curve in curves.groupby("pair"):
        low = curve.loc[curve["test_loss"].idxmin()]
        assert f"the test loss is lowest at α = {low['alpha']:g} ({report.num(low['test_loss'])}" in text
    batch = curves[curves["pair"] == "batch_size"].set_index("alpha")["train_loss"]
    peak, higher = batch.loc[0:1].max(), max(batch[0.0], batch[1.0])
    assert f"a low loss barrier: the training loss reaches {report.num(peak)} " \
           f"at α = {batch.loc[0:1].idxmax():g}, {report.times(peak, higher)} the higher endpoint's" in text
    assert [v for v, _ in verdicts(sections["1-3c"])] == ["agrees"]  # θ2, the large batch, is the sharper end
    assert "θ2 (batch size 1,024) sits in the sharper valley" in text
    assert "neither trained model is at the bottom of a valley" in text  # the learning-rate pair


def test_sensitivity_rank_correlation_equals_scipys_and_the_contradiction_is_said(built):
    root, sections, md, _ = built
    models = pd.read_csv(root / "part3_sensitivity" / "models.csv")
    rho = stats.spearmanr(models["batch_size"], models["sensitivity"]).statistic
    text = comments(sections["1-3d"])
    assert f"Sensitivity falls consistently as the batch size grows: 3 at batch 16, 1 at batch 4,000 " \
           f"(Spearman ρ = {rho:.2f} over 5 points)" in text
    contradiction = [t for v, t in verdicts(sections["1-3d"]) if v == "contradicts"]
    assert len(contradiction) == 1 and contradiction[0].startswith("Sensitivity")
    assert f"Spearman ρ = {rho:.2f}" in md.split("## 1-1a")[0]  # listed at the top
    assert "confounded" in text  # same epochs, and the training loss rises with batch size
    rho_gen = stats.spearmanr(models["sensitivity"], models["test_loss"]).statistic
    assert f"sensitivity has ρ = {rho_gen:.2f} with test loss" in text


def test_sharpness_and_top_eigenvalue_correlations_equal_scipys(built):
    root, sections, _, _ = built
    models = pd.read_csv(root / "part3_sensitivity" / "models.csv")
    text = comments(sections["1-3 bonus"])
    for column in ("sharpness", "top_hessian_eigenvalue"):
        rho = stats.spearmanr(models["batch_size"], models[column]).statistic
        assert f"as the batch size grows: {report.num(models[column].iloc[0])} at batch 16, " \
               f"{report.num(models[column].iloc[-1])} at batch 4,000 (Spearman ρ = {rho:.2f} over 5 points)" in text
    assert [v for v, _ in verdicts(sections["1-3 bonus"])] == ["agrees", "agrees"]


def test_minimal_ratio_share_converged_range_and_correlation_with_loss(built):
    root, sections, _, _ = built
    runs = pd.read_csv(root / "part2_minimal_ratio" / "runs.csv")
    done = runs[runs["converged"]]
    text = comments(sections["1-2c"])
    assert f"{len(done)} of {len(runs)} runs ({100 * len(done) / len(runs):.1f}%) reached ‖∇L‖ < 0.0001" in text
    assert f"ranges from {report.num(runs['minimal_ratio'].min())} to {report.num(runs['minimal_ratio'].max())}" in text
    rho = stats.spearmanr(done["minimal_ratio"], done["loss"]).statistic
    assert f"Over the {len(done)} converged runs, the loss" in text and f"Spearman ρ = {rho:.2f} over 4 points" in text
    assert "(negative curvature: a saddle, not a minimum): 1 of 6" in text


def test_random_labels_epochs_to_memorize_and_test_accuracy_at_chance(built):
    root, sections, _, _ = built
    history = pd.read_csv(root / "part3_random_labels" / "history.csv")
    first = int(history.loc[history["train_acc"] >= 0.99, "epoch"].iloc[0])
    text = comments(sections["1-3a"])
    assert f"Training accuracy reaches 99% at epoch {first}:" in text
    assert [v for v, _ in verdicts(sections["1-3a"])] == ["agrees"] * 3


def test_params_names_the_model_with_the_lowest_test_loss(built):
    root, sections, _, _ = built
    models = pd.read_csv(root / "part3_params_vs_generalization" / "models.csv")
    best = models.loc[models["test_loss"].idxmin()]
    text = comments(sections["1-3b"])
    assert f"The lowest test loss, {report.num(best['test_loss'])}, is reached by {best['model']} " \
           f"({report.num(int(best['params']))} parameters); beyond it the test loss rises" in text
    assert "Only" not in text  # 11 models over three decades: no shortfall to report


def test_spearman_handles_ties_like_scipy():
    x, y = [1, 2, 2, 3, 5, 5, 5], [3, 1, 4, 1, 5, 9, 2]
    assert report.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert np.isnan(report.spearman([1, 2], [2, 1])) and np.isnan(report.spearman([1, 1, 1], [1, 2, 3]))


# ---------------------------------------------------------------- missing and broken results

def test_a_missing_experiment_is_reported_as_not_run(tmp_path):
    root = write_results(tmp_path)
    shutil.rmtree(root / "part2_error_surface")
    (root / "part3_interpolation" / "interpolation_batch_size.png").unlink()
    assert report.main([str(root)]) == 0
    md = (root / "REPORT.md").read_text()
    section = md.split("\n## 1-2 bonus Error surface\n")[1].split("\n## ")[0]
    assert "**Not run.**" in section and "![" not in section
    assert "[1-2 bonus Error surface](#1-2-bonus-error-surface) — not run" in md
    assert "| 1-2 bonus | part2_error_surface | not run |" in md
    assert "(figure file `part3_interpolation/interpolation_batch_size.png` missing)" in md
    parse((root / "report.html").read_text())


def test_an_unreadable_section_is_reported_and_the_others_still_build(tmp_path):
    root = write_results(tmp_path)
    pd.DataFrame({"wrong": [1]}).to_csv(root / "part3_random_labels" / "history.csv", index=False)
    (root / "part2_gradient_norm" / "settings.json").write_text("{")  # a run killed mid-write by hand
    assert report.main([str(root)]) == 1
    md = (root / "REPORT.md").read_text()
    assert md.count("could not be built from the files found") == 2 and md.count("### Comment") == 9
    assert "**Not run.**" not in md and "| 1-2b | part2_gradient_norm | error |" in md


def test_a_folder_that_does_not_exist_is_a_usage_error(tmp_path, capsys):
    assert report.main([str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_the_command_imports_no_tensorflow(tmp_path):
    root = write_results(tmp_path)
    code = ("import sys, runpy; sys.argv = ['hw1.report', sys.argv[1]]\n"
            "try:\n    runpy.run_module('hw1.report', run_name='__main__')\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'")
    proc = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert (root / "REPORT.md").is_file() and (root / "report.html").is_file()


# ---------------------------------------------------------------- real smoke results

def test_report_from_smoke_runs_matches_their_csvs(tmp_path):
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(pool.map(lambda name: run_script(name, "--profile", "smoke", "--out", str(tmp_path)),
                              ["part3_random_labels", "part3_interpolation"]))
    for proc in procs:
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert report.main([str(tmp_path)]) == 0
    sections = {s.task.key: s for s in report.build(tmp_path)}
    assert {k for k, s in sections.items() if s.run is not None} == {"1-3a", "1-3c"}
    assert all(f.exists for s in sections.values() for f in s.figures)
    curves = pd.read_csv(tmp_path / "part3_interpolation" / "interpolation.csv")
    text = comments(sections["1-3c"])
    for pair, curve in curves.groupby("pair"):
        low = curve.loc[curve["test_loss"].idxmin()]
        assert f"lowest at α = {low['alpha']:g} ({report.num(low['test_loss'])}" in text
    summary = json.loads((tmp_path / "part3_random_labels" / "settings.json").read_text())["summary"]
    if summary["epochs_to_target"] is not None:
        assert f"at epoch {summary['epochs_to_target']}:" in comments(sections["1-3a"])
    md = (tmp_path / "REPORT.md").read_text()
    assert md.count("**Not run.**") == 9
    parse((tmp_path / "report.html").read_text())
