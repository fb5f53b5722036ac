"""View of HW1-1a, simulate a function: final loss by depth, loss curves, fitted curves, and the report section."""

from __future__ import annotations

import math

import pandas as pd

from hw1.report import evidence
from hw1.report.document import Note, Table
from hw1.report.plots import legend_under
from hw1.report.prose import num, times, value_range
from hw1.results import ResultsFolder
from hw1.report.views import Plot, Task, View
from hw1.report.views.common import diverged_note, live, settings_table, training_rows

MARGIN = 0.5  # a depth effect counts only if the median final loss changes by more than half, first to last depth
WHO = "Telgarsky (2016) and Eldan & Shamir (2016), read for what Adam reaches"
EXPECTED = ("at equal parameter count the deeper nets reach the lower final training loss (the final MSE falls with "
            "the number of hidden layers)")
CLAIM = ("The claim from the literature is about representation: some functions are computed by deep ReLU nets "
         "with far fewer units than any shallow net needs to approximate them. Telgarsky (2016), on [0, 1]: the tent "
         "map composed k³ times (a sawtooth with 2^(k³) linear pieces) is computed by a net of O(k³) layers of O(1) "
         "units, and a net of O(k) layers needs Ω(2^k) units to approximate it to a constant error. Eldan & Shamir "
         "(2016), on R^d: a radial function computed by a net with two hidden layers of width polynomial in d needs "
         "width exponential in d with one hidden layer. Both say what the best weights of a given size can do, not "
         "what Adam finds in a fixed number of steps; this run measures the latter (the final training loss at "
         "equal size), so it can be consistent with the claim or not, but cannot prove it.")


def _models(run: ResultsFolder) -> pd.DataFrame:
    return run.csv("models.csv")


def label(settings: dict, function: str) -> str:
    return settings["function_labels"].get(function, settings["functions"][function])


def layers(n: int) -> str:
    return f"{n} hidden layer{'s' if n != 1 else ''}"


def plots(run: ResultsFolder) -> list[Plot]:
    s, models = run.settings, _models(run)
    first = models.drop_duplicates("model")
    order = list(first["model"])
    colors = {m: f"C{i}" for i, m in enumerate(order)}
    names = {r.model: f"{layers(r.hidden_layers)} ({r.widths}), {num(int(r.params))} params"
             for r in first.itertuples()}
    seeds = len(s["seeds"])
    training = (f"full-batch Adam, learning rate {s['learning_rate']:g}, {s['epochs']:,} steps, {s['samples']} "
                f"points on (0, 1], about {s['target_params']} parameters per model")

    def draw_final(fig) -> None:
        ax = fig.subplots()
        functions = list(s["functions"])
        for i, f in enumerate(functions):
            part = live(models[models["function"] == f])
            shift = (i - (len(functions) - 1) / 2) * 0.12
            median = part.groupby("hidden_layers")["train_loss"].median()
            color = f"C{i + len(order)}"
            ax.plot(median.index + shift, median.to_numpy(), color=color, marker="o", lw=1.6,
                    label=f"y = {label(s, f)} (median)")
            ax.scatter(part["hidden_layers"] + shift, part["train_loss"], s=16, color=color, alpha=0.5, linewidths=0)
            if "escape_fraction" in s and f in run.outcome.get("constant_fit_mse", {}):
                ax.axhline(s["escape_fraction"] * constant_fit(run, f), color=color, ls=":", lw=1.0)
        if live(models)["train_loss"].gt(0).any():  # (nothing to put on a log scale if every run diverged)
            ax.set_yscale("log")
        ax.set(xlabel="hidden layers (same number of parameters)", ylabel="final training loss (MSE)",
               xticks=sorted(models["hidden_layers"].unique()), title="Final training loss against depth")
        legend_under(ax, below=0.16)

    def draw_loss(function: str):
        def draw(fig) -> None:
            ax = fig.subplots()
            part = live(run.csv("history.csv"))[lambda f: f["function"] == function]  # read when drawn
            for m in order:
                runs = part[part["model"] == m]
                median = models[(models["function"] == function) & (models["model"] == m) & models["median"]]
                for r, one in runs.groupby("run"):
                    thick = not median.empty and r == median["run"].iloc[0]
                    ax.plot(one["epoch"], one["train_loss"], color=colors[m], lw=1.6 if thick else 0.5,
                            alpha=1.0 if thick else 0.35, label=names[m] if thick else None, zorder=3 if thick else 2)
            ax.set(yscale="log", xlabel="epoch (full-batch Adam step)", ylabel="training loss (MSE)",
                   title=f"Training loss, y = {label(s, function)}")
            legend_under(ax, below=0.16)
        return draw

    def draw_predictions(function: str):
        def draw(fig) -> None:
            ax = fig.subplots()
            part = run.csv("predictions.csv")[lambda f: f["function"] == function]
            truth = part[part["run"] == part["run"].min()].drop_duplicates("x")
            ax.plot(truth["x"], truth["y_true"], color="black", lw=2.4, label="ground truth", zorder=1)
            for m in order:
                median = models[(models["function"] == function) & (models["model"] == m) & models["median"]]
                curve = part[(part["model"] == m) & (part["run"] == median["run"].iloc[0])]
                ax.plot(curve["x"], curve["y_pred"], color=colors[m], lw=1.3, label=names[m], zorder=2)
            ax.set(xlabel="x", ylabel="y", title=f"Fitted curves, y = {label(s, function)}")
            legend_under(ax, below=0.16)
        return draw

    out = [Plot("final_loss.png", "Final training loss against depth",
                f"Final training loss (MSE, log scale) of every model; dots: each of the {seeds} seeds, line: their "
                f"median; dotted: each function's plateau line, {100 * s.get('escape_fraction', math.nan):g}% of the "
                f"variance of y (a run below it escaped the plateaus); the functions are shifted apart slightly on x; "
                f"{training}.", draw_final)]
    for f in s["functions"]:
        out += [Plot(f"loss_{f}.png", f"Training loss, y = {label(s, f)}",
                     f"Training loss (MSE, log scale) per step; thick line: each model's median seed by final loss, "
                     f"thin lines: its other seeds ({seeds} in all); {training}.", draw_loss(f), size=(7.0, 5.0)),
                Plot(f"predictions_{f}.png", f"Fitted curves, y = {label(s, f)}",
                     f"Each model's fitted curve at the {s['samples']} training inputs (its median seed by final "
                     f"training loss), with the ground truth (black).", draw_predictions(f), size=(7.0, 5.0))]
    return out


def describe(run: ResultsFolder) -> list[Table]:
    s, models = run.settings, _models(run)
    first = models.drop_duplicates("model")
    target = s["target_params"]
    rows = [("Functions", "; ".join(f"{f}: y = {label(s, f)}" for f in s["functions"])),
            ("Training points", f"{s['samples']} on (0, 1] (evenly spaced)"),
            *training_rows(s, epochs=f"{s['epochs']:,} full-batch steps", batch="full"),
            ("Seeds per model", f"{len(s['seeds'])} ({', '.join(map(str, s['seeds']))}), trained together"),
            ("Initialization", s.get("initialization", "Keras defaults (Glorot-uniform kernels, zero biases)")),
            ("Escaped the plateaus", escape_definition(s)),
            ("Target parameter count", target)]
    architectures = Table(["Model", "Hidden layers", "Widths", "Parameters", "vs target"],
                          [[r.model, num(int(r.hidden_layers)), r.widths, num(int(r.params)),
                            f"{100 * (r.params - target) / target:+.1f}%"] for r in first.itertuples()],
                          "Architectures (fully connected, ReLU, one input, one output)")
    return [settings_table(run, rows), architectures]


def escape_definition(s: dict) -> str:
    """How the report decides that a run left the shared plateaus."""
    if "escape_fraction" not in s:
        return "not recorded by this run"
    return (f"final MSE at most {100 * s['escape_fraction']:g}% of the best constant fit's (the variance of y on the "
            f"training points), i.e. the fit explains at least {100 * (1 - s['escape_fraction']):g}% of the target's "
            "variance; the runs that stop above it rest on the plateaus the seeds share")


def findings(models: pd.DataFrame) -> dict[str, evidence.Evidence]:
    """Per function, the trend of the final loss over the number of hidden layers, Holm-corrected over the functions.

    The design is unpaired (seed k of one depth shares no weights with seed k of another), so the runs are pooled:
    Jonckheere–Terpstra (:func:`hw1.report.evidence.trend`), with the relative margin :data:`MARGIN`.
    """
    live_runs = live(models)
    names = list(dict.fromkeys(live_runs["function"]))
    raw = [evidence.trend(live_runs[live_runs["function"] == f], "hidden_layers", "train_loss", margin=MARGIN)
           for f in names]
    return dict(zip(names, evidence.holm(raw)))


def median_reversals(part: pd.DataFrame, sign: int) -> list[tuple[int, int]]:
    """Neighbouring depths whose MEDIAN final loss moves against ``sign`` (the overall direction) by more than
    :data:`MARGIN` (relative), whether or not their runs overlap (:attr:`hw1.report.evidence.Evidence.reversals` names the
    steps where they do not)."""
    median = part.groupby("hidden_layers")["train_loss"].median().sort_index()
    if sign == 0:
        return []
    steps = zip(median.index[:-1], median.index[1:], median.to_numpy()[:-1], median.to_numpy()[1:])
    return [(int(a), int(b)) for a, b, ma, mb in steps if (mb - ma) * sign < 0 and abs(mb / ma - 1) > MARGIN]


def verdict_note(part: pd.DataFrame, found: evidence.Evidence, what: str) -> Note:
    """The depth trend of one function's final loss as a verdict note (the words of :func:`hw1.report.evidence.verdict`)."""
    text = evidence.verdict(found, -1, f"for {what}, {EXPECTED}", WHO, name=layers)
    apart = set(found.reversals)
    loose = [step for step in median_reversals(part, found.sign) if step not in apart]
    if loose:
        text += (f" The median also goes the other way by more than {MARGIN:.0%} "
                 + "; ".join(f"from {layers(a)} to {b}" for a, b in loose)
                 + ", though the runs of the two depths overlap there.")
    kind = {-1: "agrees", 1: "contradicts"}.get(found.direction, "unresolved")
    return Note(text, kind)


def escape_text(part: pd.DataFrame) -> str:
    """``1 hidden layer 2 of 10, 2 hidden layers 0 of 10, …``: runs below the plateau line per depth."""
    counts = part.groupby("hidden_layers")["escaped"].agg(["sum", "size"])
    return ", ".join(f"{layers(int(d))} {int(r['sum'])} of {int(r['size'])}" for d, r in counts.iterrows())


def comment(run: ResultsFolder) -> list[Note | Table]:
    s, all_models = run.settings, _models(run)
    models = live(all_models)
    notes: list[Note | Table] = [Table(
        ["Function", "Model", "Parameters", "median final loss", "seed range", "escaped", "seeds"],
        [[f"y = {label(s, f)}", m, num(int(part["params"].iloc[0])), num(part["train_loss"].median()),
          value_range(part["train_loss"]), f"{int(part['escaped'].sum())} of {len(part)}", num(len(part))]
         for (f, m), part in models.groupby(["function", "model"], sort=False)],
        "Final training loss (MSE) per model, over seeds; escaped: runs below the plateau line (see Settings)")]
    notes += diverged_note(all_models, lambda r: f"{r['function']} {r['model']} seed {int(r['seed'])}")
    notes.append(Note(CLAIM))
    notes.append(Note("The initialization is part of the protocol. With Keras's zero biases every first-layer ReLU "
                      "kink starts at x = 0, outside the inputs (0, 1], so every net, shallow or deep, starts as one "
                      "straight line and must move its kinks into the data by training its biases; a shallow net, "
                      "which has all its kinks in that one layer, is hit hardest. Here the first layer's kinks start "
                      "spread uniformly over [0, 1] (see Settings), so a one-hidden-layer net starts with its units' "
                      "kinks already inside the data."))
    notes.append(Note("Representation does not limit these fits: a one-hidden-layer ReLU net represents any "
                      "piecewise-linear curve with one unit per kink, so even the widest-and-shallowest net here "
                      "has units to spare for either function on this grid (a jump of sgn(sin 5πx) needs two). A "
                      "depth difference below measures what Adam reaches in "
                      f"{s['epochs']:,} steps from these initializations."))
    found = findings(all_models)
    best_losses = {}
    for f, part in models.groupby("function", sort=False):
        what = f"y = {label(s, f)}"
        median = part.groupby("model", sort=False)["train_loss"].median().sort_values()
        best_losses[f] = median.iloc[0]
        order = " < ".join(f"{m} {num(v)}" for m, v in median.items())
        variance = constant_fit(run, f)
        notes.append(Note(f"{what}: median final loss {order}. Runs that escaped the plateaus (final MSE at most "
                          f"{100 * s['escape_fraction']:g}% of the constant fit's {num(variance)}, i.e. ≤ "
                          f"{num(s['escape_fraction'] * variance)}): {escape_text(part)}."))
        notes.append(verdict_note(part, found[f], what))
    notes.append(Note(f"The verdicts follow one rule ({evidence.__name__}): {evidence.RULE}. Here: the final loss "
                      "against the number of hidden layers, over every run pooled (Jonckheere–Terpstra; the depths "
                      "share no weights, so no pairing of seeds is used), Holm over the "
                      f"{len(found)} functions, and the median final loss must change by more than "
                      f"{MARGIN:.0%} from the shallowest to the deepest net."))
    if len(best_losses) > 1:
        easy, hard = min(best_losses, key=best_losses.get), max(best_losses, key=best_losses.get)
        notes.append(Note(f"y = {label(s, hard)} is the harder target: its best median final loss "
                          f"({num(best_losses[hard])}) is {times(best_losses[hard], best_losses[easy])} that of "
                          f"y = {label(s, easy)} ({num(best_losses[easy])})."))
    return notes


def constant_fit(run: ResultsFolder, function: str) -> float:
    """The MSE of the best constant fit to ``function`` on the training points (the variance of y), as recorded."""
    return float(run.outcome["constant_fit_mse"][function])


def conclusion(run: ResultsFolder) -> tuple[str, Plot]:
    final, *_ = plots(run)
    s, all_models = run.settings, _models(run)
    models = live(all_models)
    if models.empty:
        return "Every run diverged; nothing to conclude.", final
    found = findings(all_models)
    parts = []
    for f, part in models.groupby("function", sort=False):
        median = part.groupby("hidden_layers")["train_loss"].median()
        e = found[f]
        escaped = part.groupby("hidden_layers")["escaped"].agg(["sum", "size"])
        ends = (f"median final loss {num(median.iloc[0])} with {layers(int(median.index[0]))}, "
                f"{num(median.iloc[-1])} with {int(median.index[-1])}; runs escaping the plateaus "
                f"{int(escaped['sum'].iloc[0])} of {int(escaped['size'].iloc[0])} and "
                f"{int(escaped['sum'].iloc[-1])} of {int(escaped['size'].iloc[-1])}")
        if e.direction:
            steps = [f"{layers(a)} to {b}" for a, b in sorted(set(median_reversals(part, e.sign)) | set(e.reversals))]
            back = "rises" if e.direction < 0 else "falls"
            bump = f", though not at every step (the median {back} from {', '.join(steps)})" if steps else ""
            parts.append(f"for y = {label(s, f)} the {'deeper' if e.direction < 0 else 'shallower'} nets fit "
                         f"better{bump} ({ends}; {e.summary()})")
        else:
            parts.append(f"for y = {label(s, f)} an effect of depth is not resolved by this run ({ends}; "
                         f"{e.reason})")
    return (f"At about {s['target_params']} parameters each, with the first layer's kinks spread over the inputs, "
            f"after {s['epochs']:,} full-batch Adam steps over {len(s['seeds'])} seeds, " + "; ".join(parts)
            + ". That is what Adam found in this budget, not a limit of what the shallow nets can represent.",
            final)


VIEW = View("part1_simulate_function", position=1, plots=plots, tasks=(
    Task("1-1a", "Simulate a function",
         "Do deeper nets fit a non-linear function better than shallow ones with the same number of parameters?",
         describe, comment, conclusion),))
