"""The CSVs of every experiment, declared once: the script writes them through this declaration
(:meth:`hw1.lab.experiment.Run.finish` keeps exactly these columns, in this order) and the view reads them
through it (:class:`hw1.results.ResultsFolder` checks each table against it), so a folder written by
another version of an experiment is recognized by its columns, not by a view failing on them.

This module imports neither TensorFlow nor matplotlib (the scripts import it before TensorFlow starts). Adding an
experiment adds its entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hw1.results.files import ResultsError

__all__ = ["Csv", "TABLES", "SETTINGS", "OUTCOME", "tables", "METRICS"]


@dataclass(frozen=True)
class Csv:
    """The declared columns of one CSV an experiment writes (the declarations are below).

    Attributes:
        name: its file name in the experiment's folder.
        columns: every column, in the order written.
        text: the columns that hold text; ``flags``: those that hold True/False; every other one holds numbers
            (empty where not measured, e.g. for a diverged run).
    """

    name: str
    columns: tuple[str, ...]
    text: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted({*self.text, *self.flags} - set(self.columns))
        if len(set(self.columns)) != len(self.columns) or unknown or set(self.text) & set(self.flags):
            raise ValueError(f"{self.name}: a column is declared twice, or a text/flag column {unknown} is not one")

    def select(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s declared columns in the declared order, for writing; a missing one is a bug of the script."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{self.name}: the table to write lacks the declared columns {missing}")
        return frame[list(self.columns)]

    def check(self, frame: pd.DataFrame, path: Path) -> None:
        """:class:`ResultsError` if ``frame`` (read from ``path``) does not have this schema (another version of
        the experiment, or files hw1 did not write): a column missing, numbers or flags that are not."""
        for c in (c for c in self.columns if c in frame.columns and c not in self.text):
            values = frame[c].dropna()
            if c in self.flags and not all(isinstance(v, (bool, np.bool_)) for v in values):
                raise ResultsError(f"{path}: the column {c!r} holds values that are not True/False; not written "
                                   "by hw1")
            if c not in self.flags and not pd.api.types.is_numeric_dtype(values):
                raise ResultsError(f"{path}: the column {c!r} holds values that are not numbers; not written by hw1")
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ResultsError(f"{path} lacks the columns {missing}; has {list(frame.columns)}")


METRICS = ["train_loss", "train_acc", "test_loss", "test_acc"]  # full sets, inference mode (a list: frame[METRICS])

TABLES: dict[str, tuple[Csv, ...]] = {
    "part1_simulate_function": (
        Csv("models.csv", ("function", "model", "hidden_layers", "widths", "params", "run", "seed", "train_loss",
                           "escaped", "median", "diverged"),
            text=("function", "model", "widths"), flags=("escaped", "median", "diverged")),
        Csv("history.csv", ("function", "model", "run", "seed", "epoch", "train_loss", "diverged"),
            text=("function", "model"), flags=("diverged",)),
        Csv("predictions.csv", ("function", "model", "run", "seed", "x", "y_true", "y_pred"),
            text=("function", "model"))),
    "part1_actual_task": (
        Csv("models.csv", ("model", "run", "seed", "params", *METRICS, "diverged"), text=("model",),
            flags=("diverged",)),
        Csv("history.csv", ("model", "run", "seed", "epoch", *METRICS, "diverged"), text=("model",),
            flags=("diverged",))),
    "part2_visualize_optimization": (
        Csv("snapshots.csv", ("run", "seed", "epoch", "scope", "pc1", "pc2", *METRICS, "diverged"), text=("scope",),
            flags=("diverged",)),
        Csv("pca.csv", ("scope", "component", "explained_variance_ratio"), text=("scope",))),
    "part2_gradient_norm": (
        Csv("history.csv", ("step", "train_loss", "grad_norm", "diverged"), flags=("diverged",)),),
    "part2_minimal_ratio": (
        Csv("runs.csv", ("activation", "run", "seed", "train_loss", "grad_norm", "minimal_ratio", "n_positive",
                         "n_negative", "n_flat", "positive_share", "min_eig", "max_eig", "dead_units",
                         "switching_units", "affine_residual", "converged", "diverged"),
            text=("activation",), flags=("converged", "diverged")),
        Csv("spectra.csv", ("activation", "run", "index", "eigenvalue"), text=("activation",)),
        Csv("stages.csv", ("activation", "run", "stage", "steps", "train_loss", "grad_norm"),
            text=("activation", "stage"))),
    "part2_error_surface": (
        Csv("grid.csv", ("directions", "alpha", "beta", "train_loss", "train_acc"), text=("directions",)),
        Csv("trajectory.csv", ("epoch", "alpha", "beta", *METRICS, "diverged"), flags=("diverged",))),
    "part3_random_labels": (
        Csv("history.csv", ("labels", "epoch", *METRICS, "diverged"), text=("labels",), flags=("diverged",)),),
    "part3_params_vs_generalization": (
        Csv("models.csv", ("model", "width", "params", "seed", "epochs", "reached", *METRICS, "diverged"),
            text=("model",), flags=("reached", "diverged")),),
    "part3_interpolation": (
        Csv("interpolation.csv", ("pair", "alpha", *METRICS, "diverged"), text=("pair",), flags=("diverged",)),
        Csv("endpoints.csv", ("pair", "alpha", "batch_size", "learning_rate", "seed", *METRICS, "diverged"),
            text=("pair",), flags=("diverged",))),
    "part3_sensitivity": (
        Csv("models.csv", ("sweep", "batch_size", "learning_rate", "seed", "epochs", "steps", "reached_target",
                           *METRICS, "sensitivity", "sensitivity_median", "sharpness", "top_hessian_eigenvalue",
                           "diverged"),
            text=("sweep",), flags=("reached_target", "diverged")),),
}


# the keys of settings.json's "settings" (and of outcome.json) that the view reads: a folder without one of them was
# written by another version and is refused when opened; a key read but not declared is the view's own bug (KeyError)
_DATA = ("dataset",)  # its fields are checked for every experiment (hw1.results)
SETTINGS: dict[str, tuple[str, ...]] = {
    "part1_simulate_function": ("epochs", "escape_fraction", "function_labels", "functions", "learning_rate", "samples",
                                "seeds", "target_params"),
    "part1_actual_task": (*_DATA, "batch_size", "depth_family.target_params", "depth_family.widths", "epochs",
                          "learning_rate", "models", "seeds"),
    "part2_visualize_optimization": (*_DATA, "activation", "architecture", "batch_size", "epochs", "layer",
                                     "layer_params", "learning_rate", "params", "reduction", "runs", "seeds",
                                     "snapshot_every"),
    "part2_gradient_norm": ("activation", "architecture", "function", "function_label", "learning_rate", "optimizer",
                            "params", "samples", "steps"),
    "part2_minimal_ratio": ("activations", "architecture", "check_every", "eig_tol", "function", "function_label",
                            "grad_learning_rate", "grad_steps", "grad_tol", "loss_learning_rate", "loss_steps",
                            "params", "runs", "samples", "seeds", "widths"),
    "part2_error_surface": (*_DATA, "activation", "architecture", "batch_size", "direction_seeds", "epochs",
                            "grid_points", "learning_rate", "margin", "params", "random_span"),
    "part3_random_labels": (*_DATA, "activation", "architecture", "batch_size", "decay_factor", "epochs", "label_seed",
                            "labels_changed", "learning_rate", "params", "target_train_acc"),
    "part3_params_vs_generalization": (*_DATA, "architecture", "batch_size", "epochs", "learning_rate", "seeds",
                                       "target_loss"),
    "part3_interpolation": (*_DATA, "activation", "alpha_max", "alpha_min", "alpha_points", "architecture",
                            "batch_sizes", "epochs", "init", "learning_rates", "params"),
    "part3_sensitivity": (*_DATA, "activation", "architecture", "batch_size", "batch_sizes", "check_steps", "epsilon",
                          "hessian_rtol", "learning_rate", "learning_rates", "max_steps", "params", "seeds",
                          "sharpness_starts", "sharpness_steps", "target_loss"),
}
OUTCOME: dict[str, tuple[str, ...]] = {
    "part1_simulate_function": ("constant_fit_mse",),
    "part2_error_surface": ("center_train_loss", "diverged", "pca_explained_variance"),
    "part3_random_labels": ("diverged", "epochs_ratio", "epochs_run", "epochs_to_target", "final_train_acc",
                            "true_epochs_to_target"),
}


def tables(experiment: str) -> dict[str, Csv]:
    """The CSVs ``experiment`` writes, by file name; an experiment without a declaration is a bug (``KeyError``)."""
    if experiment not in TABLES:
        raise KeyError(f"no CSV schema for experiment {experiment!r}; declare its tables in hw1/results/schema.py")
    return {table.name: table for table in TABLES[experiment]}
