"""View of HW1-1a, simulate a function: final loss by depth, loss curves, fitted curves, and the report section."""

from __future__ import annotations

import pandas as pd

from hw1.document import Note, Table
from hw1.plots import legend_under
from hw1.prose import RULE, num, ranges_apart, seed_trend, times, value_range
from hw1.results import ResultsFolder
from hw1.views import Plot, Task, View
from hw1.views.common import diverged_note, live, settings_table, training_rows

MODEL_COLUMNS = ["function", "model", "hidden_layers", "widths", "params", "run", "seed", "train_loss", "median",
                 "diverged"]
HISTORY_COLUMNS = ["function", "model", "run", "seed", "epoch", "train_loss", "diverged"]
PREDICTION_COLUMNS = ["function", "model", "run", "seed", "x", "y_true", "y_pred"]
RTOL = 0.10  # two seed ranges of final losses count as apart only when they are more than 10 % apart
CLAIM = ("The claim from the literature is about representation: some functions are computed by deep ReLU nets "
         "with far fewer units than any shallow net needs to approximate them. Telgarsky (2016), on [0, 1]: the tent "
         "map composed k³ times (a sawtooth with 2^(k³) linear pieces) is computed by a net of O(k³) layers of O(1) "
         "units, and a net of O(k) layers needs Ω(2^k) units to approximate it to a constant error. Eldan & Shamir "
         "(2016), on R^d: a radial function computed by a net with two hidden layers of width polynomial in d needs "
         "width exponential in d with one hidden layer. Both say what the best weights of a given size can do, not "
         "what Adam finds in a fixed number of steps; this run measures the latter (the final training loss at "
         "equal size), so it can be consistent with the claim or not, but cannot prove it.")


def _models(run: ResultsFolder) -> pd.DataFrame:
    return run.csv("models.csv", MODEL_COLUMNS)


def label(settings: dict, function: str) -> str:
    return settings["function_labels"].get(function, settings["functions"][function])


def layers(n: int) -> str:
    return f"{n} hidden layer{'s' if n != 1 else ''}"


def plots(run: ResultsFolder) -> list[Plot]:
    s, models = run.settings, _models(run)
    history = live(run.csv("history.csv", HISTORY_COLUMNS))
    predictions = run.csv("predictions.csv", PREDICTION_COLUMNS)
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
        ax.set(yscale="log", xlabel="hidden layers (same number of parameters)", ylabel="final training loss (MSE)",
               xticks=sorted(models["hidden_layers"].unique()), title="Final training loss against depth")
        legend_under(ax, below=0.16)

    def draw_loss(function: str):
        def draw(fig) -> None:
            ax = fig.subplots()
            part = history[history["function"] == function]
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
            part = predictions[predictions["function"] == function]
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
                f"median; the functions are shifted apart slightly on x; {training}.", draw_final)]
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
            ("Target parameter count", target)]
    architectures = Table(["Model", "Hidden layers", "Widths", "Parameters", "vs target"],
                          [[r.model, num(int(r.hidden_layers)), r.widths, num(int(r.params)),
                            f"{100 * (r.params - target) / target:+.1f}%"] for r in first.itertuples()],
                          "Architectures (fully connected, ReLU, one input, one output)")
    return [settings_table(run, rows), architectures]


def apart(a: pd.Series, b: pd.Series) -> int:
    """:func:`hw1.prose.ranges_apart` of two sets of positive losses, with the margin :data:`RTOL`: +1 if every
    value of ``a`` exceeds every value of ``b`` by more than RTOL (relative), -1 the reverse, else 0."""
    side = ranges_apart(a, b)
    low, high = (b.max(), a.min()) if side > 0 else (a.max(), b.min())
    return side if side and high > low * (1 + RTOL) else 0


def _ranking(part: pd.DataFrame) -> tuple[pd.Series, str, list[str]]:
    """Median final loss per model (lowest first), the best model, and the models it is not apart from."""
    median = part.groupby("model", sort=False)["train_loss"].median().sort_values()
    best = median.index[0]
    losses = {m: part.loc[part["model"] == m, "train_loss"] for m in median.index}
    return median, best, [m for m in median.index[1:] if apart(losses[best], losses[m]) != -1]


def depth_trend(part: pd.DataFrame) -> tuple[int, str]:
    """Whether the final loss falls (-1) or rises (+1) with depth over the seeds, or 0; and why.

    :func:`hw1.prose.seed_trend` over the number of hidden layers, and the seed ranges at the shallowest and
    the deepest net apart by more than :data:`RTOL` (seeds resting on one plateau differ by far less).
    """
    trend = seed_trend(part, "hidden_layers", "train_loss", "seed")
    if not trend.resolved:
        return 0, trend.reason
    low, high = (max(trend.high), min(trend.low)) if trend.direction < 0 else (max(trend.low), min(trend.high))
    if high <= low * (1 + RTOL):
        return 0, (f"every seed's ρ has the same sign, but the seed ranges at the shallowest and the deepest net are "
                   f"apart by only {100 * (high / low - 1):.2g}% ({num(low)} vs {num(high)}), not the {RTOL:.0%} this "
                   "report asks of a difference")
    return trend.direction, trend.reason


def verdict(part: pd.DataFrame, what: str) -> Note:
    """The depth trend of one function's final loss as a verdict note."""
    direction, reason = depth_trend(part)
    if direction < 0:
        return Note(f"{what}: the final loss falls with depth — {reason}. At equal size the deeper nets reached "
                    "the lower training loss, the direction the claim leads one to expect (here through what Adam "
                    "finds, not through what the shallow nets could represent).", "agrees")
    if direction > 0:
        return Note(f"{what}: the final loss rises with depth — {reason}. At equal size the shallower nets "
                    "reached the lower training loss, against the claim's direction.", "contradicts")
    return Note(f"{what}: not resolved by this run: {reason}.", "unresolved")


def comment(run: ResultsFolder) -> list[Note | Table]:
    s, all_models = run.settings, _models(run)
    models = live(all_models)
    notes: list[Note | Table] = [Table(
        ["Function", "Model", "Parameters", "median final loss", "seed range", "seeds"],
        [[f"y = {label(s, f)}", m, num(int(part["params"].iloc[0])), num(part["train_loss"].median()),
          value_range(part["train_loss"]), num(len(part))]
         for (f, m), part in models.groupby(["function", "model"], sort=False)],
        "Final training loss (MSE) per model, over seeds")]
    notes += diverged_note(all_models, lambda r: f"{r['function']} {r['model']} seed {int(r['seed'])}")
    notes.append(Note(CLAIM))
    notes.append(Note("Representation does not limit these fits: a one-hidden-layer ReLU net represents any "
                      "piecewise-linear curve with one unit per kink, so even the widest-and-shallowest net here "
                      "has units to spare for either function on this grid (a jump of sgn(sin 5πx) needs two). A "
                      "depth difference below measures what Adam reaches in "
                      f"{s['epochs']:,} steps from these initializations."))
    best_losses = {}
    for f, part in models.groupby("function", sort=False):
        what = f"y = {label(s, f)}"
        median, best, overlap = _ranking(part)
        best_losses[f] = median.iloc[0]
        order = " < ".join(f"{m} {num(v)}" for m, v in median.items())
        worst, mine = median.index[-1], part["model"] == best
        lead = (f"it is lowest in every seed: its worst seed ({num(part.loc[mine, 'train_loss'].max())}) is more than "
                f"{RTOL:.0%} below every other model's best ({num(part.loc[~mine, 'train_loss'].min())})"
                if not overlap else f"but its seeds are not apart from those of {', '.join(overlap)}, so "
                f"{len(s['seeds'])} seeds do not settle which depth fits best")
        notes.append(Note(f"{what}: median final loss {order}; the lowest is {best}'s, "
                          f"{times(median[worst], median[best])} below {worst}'s, {lead}."))
        notes.append(verdict(part, what))
    notes.append(Note(f"The verdicts follow one rule: {RULE} (here: Spearman ρ of the final loss against the number "
                      f"of hidden layers, within each seed), and the two ranges must be more than {RTOL:.0%} apart "
                      "(relative), so that seeds resting on the same plateau do not count as a difference."))
    if len(best_losses) > 1:
        easy, hard = min(best_losses, key=best_losses.get), max(best_losses, key=best_losses.get)
        notes.append(Note(f"y = {label(s, hard)} is the harder target: its best median final loss "
                          f"({num(best_losses[hard])}) is {times(best_losses[hard], best_losses[easy])} that of "
                          f"y = {label(s, easy)} ({num(best_losses[easy])})."))
    return notes


def conclusion(run: ResultsFolder) -> tuple[str, str]:
    s, models = run.settings, live(_models(run))
    if models.empty:
        return "Every run diverged; nothing to conclude.", "final_loss.png"
    parts = []
    for f, part in models.groupby("function", sort=False):
        median = part.groupby("hidden_layers")["train_loss"].median()
        direction, _ = depth_trend(part)
        ends = (f"median final loss {num(median.iloc[0])} with {layers(int(median.index[0]))}, "
                f"{num(median.iloc[-1])} with {int(median.index[-1])}")
        if direction:
            parts.append(f"for y = {label(s, f)} the {'deeper' if direction < 0 else 'shallower'} nets fit "
                         f"better in every seed ({ends})")
        else:
            parts.append(f"for y = {label(s, f)} the run does not resolve an effect of depth ({ends}, but the "
                         "seeds of the shallowest and the deepest net are not apart)")
    return (f"At about {s['target_params']} parameters each and after {s['epochs']:,} full-batch Adam steps over "
            f"{len(s['seeds'])} seeds, " + "; ".join(parts) + ". That is what Adam found in this budget, not a limit "
                                                              "of what the shallow nets can represent.",
            "final_loss.png")


VIEW = View("part1_simulate_function", position=1, plots=plots, tasks=(
    Task("1-1a", "Simulate a function",
         "Do deeper nets fit a non-linear function better than shallow ones with the same number of parameters?",
         describe, comment, conclusion),))
