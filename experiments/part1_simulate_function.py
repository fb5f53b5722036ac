"""HW1-1a Deep vs shallow: simulate a function.

Fully connected nets of different depth but the SAME number of parameters (the widths are
solved from a target count, all within 2 %) are fitted to single-input non-linear functions
on (0, 1] with full-batch Adam. Which depth fits which function better? Every (function,
depth) is trained from ten seeds at once, so a difference between depths can be weighed
against the spread between seeds.

Initialization: Keras's default (Glorot-uniform kernels, zero biases), except that the first
layer's biases place each first-layer ReLU kink −b/w uniformly at random on [0, 1]
(``models.spread_kinks``): with zero biases every kink would sit at x = 0, outside the data,
and every net would start as one straight line. A run "escapes the plateaus" when its final
loss is at most ESCAPE (0.1 %) of the best constant fit's (the variance of y): it explains at
least 99.9 % of the target's variance. The plateaus the seeds share lie above that line (e.g.
sinc: runs of three depths stop at 3.7e-4 to 4.3e-4, about 0.45 % of the variance).

Writes ``models.csv`` (function, model, hidden_layers, widths, params, run, seed, final
train_loss, escaped, median, diverged: one row per function, depth and seed), ``history.csv``
(function, model, run, seed, epoch, train_loss, diverged), ``predictions.csv`` (function,
model, run, seed, x, y_true, y_pred: every run's fitted curve at the training inputs),
settings.json, outcome.json, ``final_loss.png`` (final loss against depth, every seed) and,
per function, a training-loss chart (log y) and a chart of the predicted curves.
"""

from hw1.lab import cli, experiment, models
from hw1.results.schema import tables

EXPERIMENT = "part1_simulate_function"
PROFILES = {
    "smoke": dict(target_params=120, depths=[1, 2, 5], runs=2, samples=64, epochs=60, learning_rate=3e-3,
                  eval_every=20),
    "default": dict(target_params=600, depths=[1, 2, 4, 7], runs=10, samples=256, epochs=8000,
                    learning_rate=3e-3, eval_every=100),
    "full": dict(target_params=1500, depths=[1, 2, 4, 7], runs=10, samples=1000, epochs=8000,
                 learning_rate=3e-3, eval_every=100),
}
DOMAIN = (0.0, 1.0)  # the first layer's kinks are spread uniformly over the inputs' range
ESCAPE = 0.001  # escaped the plateaus: final MSE <= 0.1 % of the best constant fit's MSE (R² >= 0.999)
INITIALIZATION = ("Keras defaults (Glorot-uniform kernels, zero biases), except the first layer's biases: "
                  "b_j = -w_j·c_j with c_j uniform on [0, 1], so that the first layer's ReLU kinks -b/w are spread "
                  "uniformly over the input domain")


def check(s: dict) -> list[cli.Need]:
    depths, runs, epochs = s["depths"], s["runs"], s["epochs"]
    if len(set(depths)) < len(depths):
        raise cli.UsageError(f"--depths {','.join(map(str, depths))} repeats a depth; give each once")
    try:
        widest = max((models.widths_for_params(d, s["target_params"]) for d in depths), key=sum)
    except ValueError as err:
        raise cli.UsageError(f"--target-params {s['target_params']} with --depths {depths}: {err}") from None
    rows = len(depths) * runs * (epochs // s["eval_every"] + 1)  # per function, kept to the end
    return [cli.training_need(f"--runs {runs} with --target-params {s['target_params']}", runs,
                              models.fc_param_count(widest), sum(widest) + 1, s["samples"], 1, s["samples"]),
            cli.history_need(f"--epochs {epochs} with --runs {runs}", rows),
            cli.history_need(f"--runs {runs}", len(depths) * runs * s["samples"])]  # the fitted curves, per function


@cli.main_guard
def main(argv: list[str] | None = None) -> None:
    # ---------------------------------------------------------------- Setup
    from hw1.lab import data  # no TensorFlow: --function is parsed and checked before it loads

    parser = cli.parser(__doc__, PROFILES)
    parser.add_argument("--function", action=cli.AppendUnique, default=[], type=data.parse_function,
                        metavar="NAME=EXPR",
                        help=getattr(data, "FUNCTION_HELP", "add a function of x, e.g. 'cube=x**3' (repeatable)"))
    parser.add_argument("--depths", type=cli.int_list, help="override the profile's hidden-layer counts, e.g. 1,2,4")
    cli.add_overrides(parser, "epochs", "learning_rate", "runs")
    parser.add_argument("--target-params", dest="target_params", type=cli.positive_int,
                        help="override the profile's parameter count")
    run = experiment.start(EXPERIMENT, parser, PROFILES, argv, check=check)
    import pandas as pd

    from hw1.lab import train

    # ---------------------------------------------------------------- The functions and the models
    settings = run.settings
    widths = {f"depth{d}": models.widths_for_params(d, settings["target_params"]) for d in settings["depths"]}
    functions = {**data.FUNCTIONS, **dict(run.args.function)}
    seeds = train.run_seeds(run.seed, settings["runs"])
    labels = {f: data.FUNCTION_LABELS.get(f, e) if data.FUNCTIONS.get(f) == e else e for f, e in functions.items()}
    settings.update(functions=functions, function_labels=labels, optimizer="adam", loss="mse", batch_size="full",
                    activation="relu", seeds=seeds, initialization=INITIALIZATION, kink_domain=list(DOMAIN),
                    escape_fraction=ESCAPE)
    config = train.TrainConfig(epochs=settings["epochs"], learning_rate=settings["learning_rate"], loss="mse")

    # ---------------------------------------------------------------- Train: the seeds of one depth together
    def fit(dataset, ws: list[int], label: str) -> dict:
        build = lambda: models.fc_net(ws)  # noqa: E731
        init = [models.spread_kinks(train.initial_weights(build, s), *DOMAIN, seed=s) for s in seeds]
        result = train.train(build, dataset, config, seeds, init=init, eval_every=settings["eval_every"],
                             progress=run.progress, label=label)
        model, curves = build(), []
        for weights in result.weights:  # each run's fitted curve at the training inputs
            model.set_weights(weights)
            curves.append(model(dataset.x_train).numpy()[:, 0])
        return {"history": result.history, "curves": curves, "median": train.median_run(result)}

    rows: dict[str, list] = {"models": [], "history": [], "predictions": []}
    constant_fit = {}  # the MSE of the best constant, the variance of y: the plateau's yardstick
    for fname, expr in functions.items():
        dataset = data.function_data(expr, settings["samples"], name=fname)
        constant_fit[fname] = float(dataset.y_train.astype(float).var())
        for model, ws in widths.items():
            fitted = run.step(f"{fname}_{model}", lambda: fit(dataset, ws, f"{fname}, {model}"))
            key = dict(function=fname, model=model)
            history = fitted["history"].sort_values(["run", "epoch"], kind="stable")
            history = history.assign(**key, seed=history["run"].map(dict(enumerate(seeds))),
                                     diverged=history["train_loss"].isna())  # NaN from the divergence on
            final = history.groupby("run").tail(1)
            rows["history"].append(history)
            rows["models"].append(final.assign(hidden_layers=len(ws), widths="-".join(map(str, ws)),
                                               params=models.fc_param_count(ws),
                                               escaped=final["train_loss"] <= ESCAPE * constant_fit[fname],
                                               median=final["run"] == fitted["median"]))
            rows["predictions"] += [pd.DataFrame({**key, "run": r, "seed": seed, "x": dataset.x_train[:, 0],
                                                  "y_true": dataset.y_train[:, 0], "y_pred": fitted["curves"][r]})
                                    for r, seed in enumerate(seeds)]

    # ---------------------------------------------------------------- Write CSVs, outcome, figures
    schema = tables(EXPERIMENT)
    frames = {name: schema[f"{name}.csv"].select(pd.concat(parts, ignore_index=True)) for name, parts in rows.items()}
    final = frames["models"]
    medians = final[final["median"] & ~final["diverged"]].groupby("function", sort=False)
    run.finish({f"{name}.csv": frame for name, frame in frames.items()}, outcome={
        "median_final_loss": {f: dict(zip(part["model"], part["train_loss"])) for f, part in medians},
        "constant_fit_mse": constant_fit,
        "escape_share": {f: part.groupby("model", sort=False)["escaped"].mean().to_dict()
                         for f, part in final.groupby("function", sort=False)},
        "diverged_runs": final.loc[final["diverged"], ["function", "model", "seed"]].to_dict("records")})


if __name__ == "__main__":
    main()
