"""View of HW1-2b, gradient norm during training: one figure and the report section."""

from __future__ import annotations

from collections import deque

import pandas as pd

from hw1.report.document import Note, Table
from hw1.report.prose import num, pct, rho_text, spearman, times
from hw1.results import ResultsFolder
from hw1.report.views import Plot, Task, View
from hw1.report.views.common import architecture_text, settings_table, training_rows



def _history(run: ResultsFolder):
    return run.csv("history.csv")


def plots(run: ResultsFolder) -> list[Plot]:
    s, h = run.settings, _history(run)
    live = h[~h["diverged"].astype(bool)]
    diverged = len(live) < len(h)

    def draw(fig) -> None:
        top, bottom = fig.subplots(2, 1, sharex=True)
        top.plot(live["step"], live["grad_norm"], color="C3", lw=0.9)
        top.set(yscale="log", ylabel="gradient norm ‖∇L‖₂", title="Gradient norm and loss per iteration")
        bottom.plot(live["step"], live["train_loss"], color="C0", lw=0.9)
        bottom.set(yscale="log", xlabel="iteration (full-batch step)", ylabel="training loss (MSE)")
        if diverged:
            for ax in (top, bottom):
                ax.axvline(live["step"].max() + 1, color="0.3", ls=":", lw=1)

    caption = (f"{architecture_text(s)}, fitted to y = {s['function_label']} on {s['samples']} points of (0, 1]; "
               f"{s['optimizer'].capitalize()}, learning rate {s['learning_rate']:g}, full batch. Both values are "
               "those of the full training set at each step (L2 norm over all parameters); log scales."
               + (f" The run diverged at step {int(live['step'].max()) + 1} (dotted line); nothing after it is drawn."
                  if diverged else ""))
    return [Plot("gradient_norm.png", "Gradient norm and loss per iteration", caption, draw, size=(7.0, 5.8))]


PLATEAU_CHANGE, PLATEAU_SHARE = 0.05, 0.10  # a plateau: ≥ 10% of the steps within which the loss moves < 5%


def plateau(loss: pd.Series) -> tuple[int, int] | None:
    """The longest stretch of steps (first and last position) over which the loss stays within a factor
    1 + :data:`PLATEAU_CHANGE` of its smallest value there, if it covers at least :data:`PLATEAU_SHARE` of the
    steps; else None.

    Example:
        >>> plateau(pd.Series([1.0, 0.5, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]))
        (3, 9)
    """
    values = loss.to_numpy(float)
    high, low = deque(), deque()  # positions of the window's running max and min
    best, start = (0, -1), 0
    for end, v in enumerate(values):
        while high and values[high[-1]] <= v:
            high.pop()
        while low and values[low[-1]] >= v:
            low.pop()
        high.append(end)
        low.append(end)
        while values[high[0]] > (1 + PLATEAU_CHANGE) * values[low[0]]:
            start += 1
            if high[0] < start:
                high.popleft()
            if low[0] < start:
                low.popleft()
        if end - start > best[1] - best[0]:
            best = (start, end)
    return best if best[1] - best[0] + 1 >= PLATEAU_SHARE * len(values) and len(values) > 1 else None


def _plateau_words(live: pd.DataFrame) -> str:
    found = plateau(live["train_loss"])
    if found is None:
        return ""
    a, b = live.iloc[found[0]], live.iloc[found[1]]
    norms = live["grad_norm"].iloc[found[0]:found[1] + 1]
    return (f"From step {num(int(a['step']))} to {num(int(b['step']))} ({pct((found[1] - found[0] + 1) / len(live))} "
            f"of the steps) the loss sits on a plateau: it moves by less than {pct(PLATEAU_CHANGE, 0)} "
            f"({num(a['train_loss'])} → {num(b['train_loss'])}) while ‖∇L‖ ranges from {num(norms.min())} to "
            f"{num(norms.max())}. The fit has stalled there, not reached zero loss.")


def describe(run: ResultsFolder) -> list[Table]:
    s = run.settings
    rows = [("Architecture", architecture_text(s)),
            ("Training data", f"{s['samples']} points of y = {s['function']} on (0, 1]"),
            *training_rows(s, epochs=f"{s['steps']:,} full-batch steps", batch="full"),
            ("Recorded", "loss and ‖∇L‖₂ (L2 norm over all parameters) of the full training set at every step")]
    return [settings_table(run, rows)]


def comment(run: ResultsFolder) -> list[Note]:
    h = _history(run)
    live = h[~h["diverged"].astype(bool)]
    if live.empty:
        return [Note("The run diverged at its first step: there is no trend to read.", "warning")]
    notes = []
    if len(live) < len(h):
        notes.append(Note(f"The run diverged at step {num(int(live['step'].max()) + 1)} (the loss became NaN or "
                          "infinite); only the steps before it are read below.", "warning"))
    first, last = live.iloc[0], live.iloc[-1]
    peak = live.loc[live["grad_norm"].idxmax()]
    notes.append(Note(f"Over {num(int(last['step']))} steps the loss falls from {num(first['train_loss'])} to "
                      f"{num(last['train_loss'])} ({times(first['train_loss'], last['train_loss'])} lower), while "
                      f"‖∇L‖ goes from {num(first['grad_norm'])} to {num(last['grad_norm'])} "
                      f"({times(first['grad_norm'], last['grad_norm'])} lower); its largest value, "
                      f"{num(peak['grad_norm'])}, is at step {num(int(peak['step']))}."))
    rises = (live["grad_norm"].diff().iloc[1:] > 0).mean()
    loss_rises = (live["train_loss"].diff().iloc[1:] > 0).mean()
    rho = spearman(live["train_loss"], live["grad_norm"])
    notes.append(Note(f"The gradient norm rises in {pct(rises)} of the steps, the loss in {pct(loss_rises)}: "
                      f"{'the gradient norm is far from monotone' if rises > 0.1 else 'both fall almost steadily'}. "
                      f"Ranked over the steps, loss and gradient norm have {rho_text(rho, len(live))}."))
    if _plateau_words(live):
        notes.append(Note(_plateau_words(live)))
    notes.append(Note("A small gradient alone does not tell a minimum from a saddle point; 1-2c measures the "
                      "curvature where ‖∇L‖ ≈ 0."))
    return notes


def conclusion(run: ResultsFolder) -> tuple[str, Plot]:
    (figure,) = plots(run)
    h = _history(run)
    live = h[~h["diverged"].astype(bool)]
    if live.empty:
        return "The run diverged at once; nothing to conclude.", figure
    first, last = live.iloc[0], live.iloc[-1]
    rises = (live["grad_norm"].diff().iloc[1:] > 0).mean()
    shape = ("The gradient norm does not fall steadily with the loss: it rises in "
             f"{pct(rises)} of the steps, in bursts, while the loss falls" if rises > 0.1 else
             "Gradient norm and loss fall together, almost step for step")
    return (f"{shape}; over {num(int(last['step']))} full-batch steps the loss drops "
            f"{times(first['train_loss'], last['train_loss'])} and ‖∇L‖ {times(first['grad_norm'], last['grad_norm'])}."
            + (f" {_plateau_words(live)}" if _plateau_words(live) else "")
            + (" The run diverged before the end." if len(live) < len(h) else ""), figure)


VIEW = View("part2_gradient_norm", position=4, plots=plots, tasks=(
    Task("1-2b", "Gradient norm during training", "How does the gradient norm behave while the loss falls?",
         describe, comment, conclusion),))
