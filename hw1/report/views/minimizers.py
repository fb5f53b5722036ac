"""How the minimizers of 1-3d are read: the table of models of two sweeps (batch size, learning rate), the claims
of the literature, and the verdicts under the report's rule (:mod:`hw1.report.evidence`);
:mod:`hw1.report.views.part3_sensitivity` draws and writes them. Seed k starts every condition from the same
weights, so trends are paired (Page's test).
"""

from __future__ import annotations

import pandas as pd

from hw1.report import evidence as ev
from hw1.report.document import Note, Table
from hw1.report.evidence import Evidence
from hw1.report.prose import binomial_se, mean_sd, pct
from hw1.results import ResultsFolder
from hw1.report.views.common import live

SWEEPS = {"batch_size": "batch size", "learning_rate": "learning rate"}
PRIMARY = "test_error"  # the generalization metric of every claim: 1 − test accuracy on the whole test set
# margins, fixed before the run: (smallest median change from the first to the last condition, relative?)
MARGINS = {"test_error": (0.002, False), "test_loss": (0.05, True), "loss_gap": (0.05, True),
           "sensitivity": (0.10, True), "sensitivity_median": (0.10, True), "sharpness": (0.10, True),
           "top_hessian_eigenvalue": (0.10, True)}
TAU = 0.3  # smallest |Kendall τ| for two measures to "go together" across the minimizers
KESKAR = ("Keskar et al. (2017) trained six networks (fully connected and convolutional; MNIST, TIMIT, CIFAR-10, "
          "CIFAR-100) with Adam at a small batch (256) and a large one (10% of the training set), both to ~100% "
          "training accuracy, and found the large-batch minimizers sharper (larger ε-sharpness, ε = 1e-3 and 5e-4) "
          "and worse on the test set (lower test accuracy)")
NOVAK = ("Novak et al. (2018) measured thousands of trained fully connected networks (architectures, optimizers, "
         "batch sizes, learning rates varied; four image datasets) and found that the test-set mean of the "
         "input-output Jacobian norm ‖∂softmax/∂x‖_F correlates with the generalization gap across models; "
         "full-batch training, which generalized worse, gave larger Jacobian norms than mini-batch training")
JASTRZEBSKI = ("Jastrzębski et al. (2018) argue, for SGD, that a larger ratio of learning rate to batch size leads "
               "to flatter minima that generalize better; the optimizer here is Adam, to which their argument "
               "(SGD noise ∝ learning rate / batch size) applies only loosely")
CURVATURE = ("For cross-entropy, curvature scales with the loss: near a minimizer the Hessian is about the "
             "Gauss-Newton term Jᵀ(diag p − ppᵀ)J, whose weights p(1 − p) vanish as the predicted probabilities "
             "saturate, so a model trained longer, to a lower loss, looks flatter whatever its batch size; "
             "minimizers at unmatched losses (as with equal epochs for every batch size) confound sharpness with "
             "training length. Here sharpness is compared only between models stopped at the same training loss")

# ---------------------------------------------------------------- the table, its summaries and the verdicts

def read_models(run: ResultsFolder) -> pd.DataFrame:
    frame = run.csv("models.csv")
    return frame.assign(reached_target=frame["reached_target"].astype(bool), diverged=frame["diverged"].astype(bool),
                        loss_gap=frame["test_loss"] - frame["train_loss"],
                        acc_gap=100 * (frame["train_acc"] - frame["test_acc"]), test_error=1 - frame["test_acc"])


def minimizers(frame: pd.DataFrame) -> pd.DataFrame:
    """The models compared: trained to the target (not capped, not diverged)."""
    return live(frame)[lambda f: f["reached_target"]]


def sweep_of(frame: pd.DataFrame, sweep: str) -> pd.DataFrame:
    return frame[frame["sweep"] == sweep].sort_values([sweep, "seed"])


def unique_models(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trained model (the condition the sweeps share is listed in both)."""
    return frame.drop_duplicates(["batch_size", "learning_rate", "seed"])


def x_label(sweep: str, value: float) -> str:
    if sweep == "batch_size":
        return f"{int(value):,}"
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def sweep_trend(frame: pd.DataFrame, sweep: str, column: str) -> Evidence:
    margin, relative = MARGINS[column]
    return ev.trend(sweep_of(minimizers(frame), sweep), sweep, column, paired=True, margin=margin, relative=relative)


def goes_with_error(frame: pd.DataFrame, column: str) -> Evidence:
    """Whether ``column`` and the test error rise together across every minimizer of both sweeps."""
    return ev.association(unique_models(minimizers(frame)), column, PRIMARY, margin=TAU)


def moves_text(trend: Evidence, what: str, sweep: str) -> str:
    if trend.resolved:
        return f"{what} {'rises' if trend.direction > 0 else 'falls'} with the {SWEEPS[sweep]} ({trend.reason})"
    return f"{what} shows no trend with the {SWEEPS[sweep]} that the rule carries ({trend.reason})"


def condition_name(sweep: str):
    return lambda v: f"{SWEEPS[sweep]} {x_label(sweep, v)}"


def finding(evidence: Evidence, who: str, claim: str, expected: int, what: str, sweep: str | None = None) -> Note:
    """``who``'s claim tested by one piece of evidence: agrees / contradicts only when the rule carries it."""
    if sweep is None:
        here = (f"{what} and the test error {'rise together' if evidence.direction > 0 else 'move oppositely'} "
                f"across the minimizers ({evidence.reason})" if evidence.resolved else
                f"{what} and the test error: no association that the rule carries ({evidence.reason})")
        steps = ""
    else:
        here = moves_text(evidence, what, sweep)
        steps = ev.reversal_text(evidence, condition_name(sweep))
    lead = "Here" if evidence.resolved else "Not resolved by this run:"
    return Note(f"{who}: {claim}. {lead} {here}.{steps}", ev.kind(evidence, expected))


def rule_note(frame: pd.DataFrame, s: dict, claims: str) -> Note:
    acc, n_test = minimizers(frame)["test_acc"].mean(), s["dataset"]["test_size"]
    margins = ", ".join(f"{c.replace('_', ' ')} {100 * m:g}{'%' if rel else ' points'}"
                        for c, (m, rel) in MARGINS.items() if c != "loss_gap")
    return Note(f"{claims} The metric of every generalization claim, fixed before the run: the test error (1 − test "
                f"accuracy) of the minimizers, all at the same training loss, on all {n_test:,} test images (one "
                f"accuracy near {pct(acc)} has a binomial standard error of "
                f"{100 * binomial_se(acc, n_test):.2f} points there); the loss gap is shown but draws no verdict. "
                f"The rule ({ev.RULE}): here seed k starts every condition from the same weights, so a sweep is "
                f"read by Page's trend test over the seeds, Holm-corrected over this section's findings; "
                f"margins on the median change from the first to the last condition: {margins}; two measures go "
                f"together across the minimizers when Kendall's |τ| > {TAU}.")


def tested_notes(frame: pd.DataFrame, claims: list[tuple]) -> list[Note]:
    """Each claim ``(evidence, who, claim, expected, what, sweep)`` as a note, after Holm over all of them."""
    adjusted = ev.holm([c[0] for c in claims])
    return [finding(e, *c[1:]) for e, c in zip(adjusted, claims)]


def condition_table(frame: pd.DataFrame, sweep: str, columns: dict[str, tuple[str, object]], title: str,
                    rows_of=minimizers) -> Table:
    """One row per value of the sweep: how many seeds reached the target, then mean ± sd of ``columns``."""
    rows = [[x_label(sweep, value), f"{int(part['reached_target'].sum())}/{len(part)}",
             *(mean_sd(rows_of(part)[c], fmt) for c, (_, fmt) in columns.items())]
            for value, part in sweep_of(frame, sweep).groupby(sweep, sort=True)]
    return Table([SWEEPS[sweep].capitalize(), "at target", *(h for h, _ in columns.values())], rows,
                 f"{title} by {SWEEPS[sweep]}: mean ± standard deviation over seeds")
