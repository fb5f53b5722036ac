"""What several views share: settings rows, metric tables, labels of models and runs."""

from __future__ import annotations

from typing import Callable, Sequence

import pandas as pd

from hw1.report.document import Note, Table
from hw1.report.prose import LOSS_NAMES, num, pct
from hw1.results import ResultsFolder


def cell(value: object) -> str:
    """A table cell: text as is, numbers through :func:`hw1.report.prose.num`."""
    return value if isinstance(value, str) else num(value)


def settings_table(run: ResultsFolder, rows: Sequence[tuple[str, object]]) -> Table:
    """Setting | value, ending with the seed and the profile of the run."""
    rows = [*rows, ("Seed", run.seed), ("Profile", run.profile)]
    return Table(["Setting", "Value"], [[name, cell(value)] for name, value in rows], "Settings")


def dataset_rows(settings: dict) -> list[tuple[str, object]]:
    data = settings["dataset"]
    shape = "×".join(map(str, data["input_shape"]))
    return [("Dataset", f"{data['name']}: {data['train_size']:,} training / {data['test_size']:,} test samples, "
                        f"input {shape}, {data['num_classes']} classes"),
            ("Dataset source", data.get("source", ""))]


def training_rows(settings: dict, epochs: object = None, batch: object = None,
                  learning_rate: str | None = None) -> list[tuple[str, object]]:
    """Loss, optimizer, learning rate, batch size, epochs (each overridable by a ready-made text)."""
    batch = settings.get("batch_size") if batch is None else batch
    return [("Loss", LOSS_NAMES.get(settings.get("loss", ""), settings.get("loss", "n/a"))),
            ("Optimizer", str(settings.get("optimizer", "n/a")).capitalize()),
            ("Learning rate", learning_rate or f"{settings['learning_rate']:g}"),
            ("Batch size", "full batch" if batch in (None, "full") else batch),
            ("Epochs", settings.get("epochs") if epochs is None else epochs)]


def subset_text(s: dict) -> str:
    """``On a random 10,000-image subset of the training set, scored on all 10,000 test images: `` when the
    script trained on a subset (its ``train_limit``), else nothing: a subset is titled as such."""
    data = s["dataset"]
    return (f"On a random {data['train_size']:,}-image subset of the training set, scored on all {data['test_size']:,} "
            "test images: " if s.get("train_limit") else "")


def schedule_text(s: dict) -> str:
    """``Adam, learning rate 0.0001 annealed to 0 along a cosine over the 150-epoch cap`` (from settings; a
    folder without a schedule trained at a constant rate)."""
    name = "SGD with momentum " + f"{s['momentum']:g}" if s.get("momentum") else str(s.get("optimizer", "adam"))
    name = {"adam": "Adam", "sgd": "SGD"}.get(name, name)
    lr, kind = s["learning_rate"], s.get("schedule", "constant")
    if kind == "step":
        return (f"{name}, learning rate {lr:g}, multiplied by {s['decay_factor']:g} at epochs "
                f"{', '.join(map(str, s['decay_epochs']))}")
    if kind == "cosine":
        return (f"{name}, learning rate {lr:g} annealed to {lr * s['decay_factor']:g} along a cosine over the "
                f"{s['epochs']}-epoch cap")
    return f"{name}, constant learning rate {lr:g}"


def architecture_text(settings: dict) -> str:
    """``MLP 1-20-20-1 (relu), 481 parameters``, from what the script recorded (counted by Keras)."""
    activation = f" ({settings['activation']})" if settings.get("activation") else ""
    return f"{settings['architecture']}{activation}, {settings['params']:,} parameters"


def metrics_table(frame: pd.DataFrame, key: str, label: str, extra: Sequence[str] = ()) -> Table:
    """Final metrics per model: key column, extra columns, train/test loss and accuracy."""
    header = [label, *extra, "train loss", "train acc", "test loss", "test acc"]
    rows = [[cell(r[key]), *(cell(r[c]) for c in extra), num(r["train_loss"]), pct(r["train_acc"]),
             num(r["test_loss"]), pct(r["test_acc"])] for _, r in frame.iterrows()]
    return Table(header, rows, "Final metrics (full sets, inference mode)")


def live(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows that did not diverge (all rows if there is no ``diverged`` column)."""
    return frame[~frame["diverged"].astype(bool)] if "diverged" in frame else frame


def diverged_note(frame: pd.DataFrame, what: Callable[[pd.Series], str]) -> list[Note]:
    """A note naming the diverged rows (none if nothing diverged)."""
    if "diverged" not in frame or not frame["diverged"].astype(bool).any():
        return []
    names = ", ".join(what(r) for _, r in frame[frame["diverged"].astype(bool)].iterrows())
    return [Note(f"Diverged (the loss became NaN or infinite) and left out of every number below: {names}.")]
