"""HW1-1a Deep vs shallow: simulate a function.

Fully connected nets of different depth but the SAME number of parameters (the
widths are solved from a target count, all within 2 %) are fitted to
single-input non-linear functions on (0, 1]. Which depth fits which function
better, and how fast? Each model is trained from several seeds at once, and
the median run (by final loss) is the one drawn, so one lucky or unlucky
initialization does not decide the comparison.

Writes ``models.csv`` (function, model, hidden_layers, widths, params, final
losses), ``history.csv`` (function, model, run, epoch, loss),
``predictions.csv`` (function, model or ground_truth, x, y; the median run), settings.json and, per function, a
training-loss chart (log y) and a chart of the predicted curves.
"""

import _path  # noqa: F401  (puts the repository root on sys.path)

from hw1 import cli

cli.quiet_tensorflow()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hw1 import data, models, results, train  # noqa: E402

EXPERIMENT = "part1_simulate_function"
PROFILES = {
    "smoke": dict(target_params=120, depths=[1, 2, 5], runs=2, samples=64, epochs=60, learning_rate=3e-3,
                  eval_every=20),
    "default": dict(target_params=600, depths=[1, 2, 4, 7], runs=5, samples=256, epochs=8000,
                    learning_rate=3e-3, eval_every=100),
    "full": dict(target_params=1500, depths=[1, 2, 4, 7], runs=9, samples=1000, epochs=40000,
                 learning_rate=1e-3, eval_every=100),
}
PREDICTION_POINTS = 500


@cli.main_guard
def main() -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES)
    parser.add_argument("--function", action="append", default=[], metavar="NAME=EXPR",
                        help="add a function: a numpy expression of x, e.g. 'cube=x**3' (repeatable)")
    parser.add_argument("--epochs", type=cli.positive_int, help="override the profile's epochs (full-batch steps)")
    parser.add_argument("--learning-rate", dest="learning_rate", type=cli.positive_float,
                        help="override the profile's Adam learning rate")
    parser.add_argument("--runs", type=cli.positive_int, help="override the profile's seeds per model")
    parser.add_argument("--target-params", dest="target_params", type=cli.positive_int,
                        help="override the profile's parameter count")
    args = parser.parse_args()
    settings = cli.settings(PROFILES, args)
    functions = dict(data.FUNCTIONS)
    for spec in args.function:
        name, expr = data.parse_function(spec)
        functions[name] = expr
    settings.update(functions=functions, optimizer="adam", batch="full", loss="mse")
    folder = cli.output_dir(args.out, EXPERIMENT)
    progress = results.Progress(EXPERIMENT)
    cache = results.RunCache(folder, {"settings": settings, "seed": args.seed}, fresh=args.fresh)

    # ---------------------------------------------------------------- Build the models
    widths = {depth: models.widths_for_params(depth, settings["target_params"]) for depth in settings["depths"]}
    config = train.TrainConfig(epochs=settings["epochs"], learning_rate=settings["learning_rate"], loss="mse",
                               eval_every=settings["eval_every"])
    grid = np.linspace(1.0 / PREDICTION_POINTS, 1.0, PREDICTION_POINTS, dtype=np.float32).reshape(-1, 1)

    # ---------------------------------------------------------------- Train
    # every model is trained from `runs` seeds at once; the figures show the median run
    seeds = train.run_seeds(args.seed, settings["runs"])
    model_rows, histories, predictions = [], [], []
    for fname, expr in functions.items():
        dataset = data.function_data(expr, settings["samples"], name=fname)
        predictions.append(pd.DataFrame({"function": fname, "model": "ground_truth", "x": grid[:, 0],
                                         "y": data.evaluate_function(expr, grid[:, 0].astype(np.float64))}))
        for depth, ws in widths.items():
            name = f"{depth}_hidden"
            build = lambda ws=ws: models.fc_net(ws)  # noqa: E731

            def fit() -> tuple[dict[str, pd.DataFrame], dict]:
                result = train.train(build, dataset, config, seeds, progress=progress, label=f"{fname}, {name}")
                median = train.median_run(result)
                model = build()
                model.set_weights(result.weights[median])
                history = result.history.rename(columns={"train_loss": "loss"})[["run", "epoch", "loss"]]
                curve = pd.DataFrame({"x": grid[:, 0], "y": model(grid).numpy()[:, 0], "run": median})
                return {"history": history, "predictions": curve}, {"diverged": result.diverged}

            tables, arrays = cache.fetch(f"{fname}_{name}", fit)
            final = tables["history"].groupby("run").tail(1).set_index("run")["loss"]  # NaN if diverged
            median = int(tables["predictions"]["run"].iloc[0])
            model_rows.append({"function": fname, "model": name, "hidden_layers": depth,
                               "widths": "-".join(map(str, ws)), "params": models.fc_param_count(ws),
                               "runs": len(seeds), "median_run": median, "final_loss": final[median],
                               "final_loss_min": final.min(), "final_loss_max": final.max(),
                               "diverged_runs": int(arrays["diverged"].sum())})
            histories.append(tables["history"].assign(function=fname, model=name))
            predictions.append(tables["predictions"].assign(function=fname, model=name))

    # ---------------------------------------------------------------- Write CSVs and figures
    columns = {"history": ["function", "model", "run", "epoch", "loss"],
               "predictions": ["function", "model", "x", "y"]}
    results.write_csv(folder / "models.csv", pd.DataFrame(model_rows))
    results.write_csv(folder / "history.csv", pd.concat(histories)[columns["history"]])
    results.write_csv(folder / "predictions.csv", pd.concat(predictions)[columns["predictions"]])
    figures = results.finish(folder, EXPERIMENT, args, settings, progress, cache)
    progress(f"wrote {len(figures)} figures and 3 CSVs to {folder}")


if __name__ == "__main__":
    main()
