"""HW1-1a Deep vs shallow: simulate a function.

Fully connected nets of different depth but the SAME number of parameters (the widths are
solved from a target count, all within 2 %) are fitted to single-input non-linear functions
on (0, 1] with full-batch Adam. Which depth fits which function better? Every (function,
depth) is trained from several seeds at once, so a difference between depths can be weighed
against the spread between seeds.

Writes ``models.csv`` (function, model, hidden_layers, widths, params, run, seed, final
train_loss, median, diverged: one row per function, depth and seed), ``history.csv``
(function, model, run, seed, epoch, train_loss, diverged), ``predictions.csv`` (function,
model, run, seed, x, y_true, y_pred: every run's fitted curve at the training inputs),
settings.json, outcome.json, ``final_loss.png`` (final loss against depth, every seed) and,
per function, a training-loss chart (log y) and a chart of the predicted curves.
"""

from hw1 import cli, experiment

EXPERIMENT = "part1_simulate_function"
PROFILES = {
    "smoke": dict(target_params=120, depths=[1, 2, 5], runs=2, samples=64, epochs=60, learning_rate=3e-3,
                  eval_every=20),
    "default": dict(target_params=600, depths=[1, 2, 4, 7], runs=5, samples=256, epochs=8000,
                    learning_rate=3e-3, eval_every=100),
    "full": dict(target_params=1500, depths=[1, 2, 4, 7], runs=9, samples=1000, epochs=8000,
                 learning_rate=3e-3, eval_every=100),
}


@cli.main_guard
def main(argv: list[str] | None = None) -> None:
    # ---------------------------------------------------------------- Setup
    from hw1 import data  # no TensorFlow: --function is parsed and checked before it loads

    parser = cli.parser(__doc__, PROFILES)
    parser.add_argument("--function", action="append", default=[], type=data.parse_function, metavar="NAME=EXPR",
                        help=getattr(data, "FUNCTION_HELP", "add a function of x, e.g. 'cube=x**3' (repeatable)"))
    parser.add_argument("--depths", type=cli.int_list, help="override the profile's hidden-layer counts, e.g. 1,2,4")
    cli.add_overrides(parser, "epochs", "learning_rate", "runs")
    parser.add_argument("--target-params", dest="target_params", type=cli.positive_int,
                        help="override the profile's parameter count")
    run = experiment.start(EXPERIMENT, parser, PROFILES, argv)
    import pandas as pd

    from hw1 import models, train

    # ---------------------------------------------------------------- The functions and the models
    settings = run.settings
    try:
        widths = {f"depth{d}": models.widths_for_params(d, settings["target_params"]) for d in settings["depths"]}
    except ValueError as err:
        raise cli.UsageError(f"--target-params {settings['target_params']} with --depths {settings['depths']}: {err}")
    functions = {**data.FUNCTIONS, **dict(run.args.function)}
    seeds = train.run_seeds(run.seed, settings["runs"])
    labels = {f: data.FUNCTION_LABELS.get(f, e) if data.FUNCTIONS.get(f) == e else e for f, e in functions.items()}
    settings.update(functions=functions, function_labels=labels, optimizer="adam", loss="mse", batch_size="full",
                    activation="relu", seeds=seeds)
    config = train.TrainConfig(epochs=settings["epochs"], learning_rate=settings["learning_rate"], loss="mse",
                               eval_every=settings["eval_every"])

    # ---------------------------------------------------------------- Train: the seeds of one depth together
    def fit(dataset, ws: list[int], label: str) -> dict:
        build = lambda: models.fc_net(ws)  # noqa: E731
        result = train.train(build, dataset, config, seeds, progress=run.progress, label=label)
        model, curves = build(), []
        for weights in result.weights:  # each run's fitted curve at the training inputs
            model.set_weights(weights)
            curves.append(model(dataset.x_train).numpy()[:, 0])
        return {"history": result.history, "curves": curves, "median": train.median_run(result)}

    tables: dict[str, list] = {"models": [], "history": [], "predictions": []}
    for fname, expr in functions.items():
        dataset = data.function_data(expr, settings["samples"], name=fname)
        for model, ws in widths.items():
            fitted = run.step(f"{fname}_{model}", lambda: fit(dataset, ws, f"{fname}, {model}"))
            key = dict(function=fname, model=model)
            history = fitted["history"].sort_values(["run", "epoch"], kind="stable")
            history = history.assign(**key, seed=history["run"].map(dict(enumerate(seeds))),
                                     diverged=history["train_loss"].isna())  # NaN from the divergence on
            final = history.groupby("run").tail(1)
            tables["history"].append(history)
            tables["models"].append(final.assign(hidden_layers=len(ws), widths="-".join(map(str, ws)),
                                                 params=models.fc_param_count(ws),
                                                 median=final["run"] == fitted["median"]))
            tables["predictions"] += [pd.DataFrame({**key, "run": r, "seed": seed, "x": dataset.x_train[:, 0],
                                                    "y_true": dataset.y_train[:, 0], "y_pred": fitted["curves"][r]})
                                      for r, seed in enumerate(seeds)]

    # ---------------------------------------------------------------- Write CSVs, outcome, figures
    columns = {"models": ["function", "model", "hidden_layers", "widths", "params", "run", "seed", "train_loss",
                          "median", "diverged"],
               "history": ["function", "model", "run", "seed", "epoch", "train_loss", "diverged"],
               "predictions": ["function", "model", "run", "seed", "x", "y_true", "y_pred"]}
    frames = {name: pd.concat(parts, ignore_index=True)[columns[name]] for name, parts in tables.items()}
    final = frames["models"]
    medians = final[final["median"] & ~final["diverged"]].groupby("function", sort=False)
    run.finish({f"{name}.csv": frame for name, frame in frames.items()}, outcome={
        "median_final_loss": {f: dict(zip(part["model"], part["train_loss"])) for f, part in medians},
        "diverged_runs": final.loc[final["diverged"], ["function", "model", "seed"]].to_dict("records")})


if __name__ == "__main__":
    main()
