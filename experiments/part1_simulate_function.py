"""HW1-1a Deep vs shallow: simulate a function.

Fully connected nets of different depth but the SAME number of parameters (the
widths are solved from a target count, all within 2 %) are fitted to
single-input non-linear functions on (0, 1]. Which depth fits which function
better, and how fast?

Writes ``models.csv`` (function, model, hidden_layers, widths, params),
``history.csv`` (function, model, epoch, loss), ``predictions.csv``
(function, model or ground_truth, x, y), settings.json and, per function, a
training-loss chart (log y) and a chart of the predicted curves.
"""

import _path  # noqa: F401  (puts the repository root on sys.path)

from hw1 import cli

cli.quiet_tensorflow()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hw1 import data, models, plots, results, train  # noqa: E402

EXPERIMENT = "part1_simulate_function"
PROFILES = {
    "smoke": dict(target_params=120, depths=[1, 2, 5], samples=64, epochs=60, learning_rate=3e-3, eval_every=20),
    "default": dict(target_params=600, depths=[1, 2, 4, 7], samples=1000, epochs=20000, learning_rate=1e-3,
                    eval_every=100),
    "full": dict(target_params=1500, depths=[1, 2, 4, 7], samples=2000, epochs=50000, learning_rate=1e-3,
                 eval_every=100),
}
PREDICTION_POINTS = 500


@cli.main_guard
def main() -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES)
    parser.add_argument("--function", action="append", default=[], metavar="NAME=EXPR",
                        help="add a function: a numpy expression of x, e.g. 'cube=x**3' (repeatable)")
    parser.add_argument("--epochs", type=cli.positive_int, help="override the profile's epochs (full-batch steps)")
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
    model_rows, histories, predictions = [], [], []
    for fname, expr in functions.items():
        dataset = data.function_data(expr, settings["samples"], name=fname)
        predictions.append(pd.DataFrame({"function": fname, "model": "ground_truth", "x": grid[:, 0],
                                         "y": data.evaluate_function(expr, grid[:, 0].astype(np.float64))}))
        for depth, ws in widths.items():
            name = f"{depth}_hidden"
            build = lambda ws=ws: models.fc_net(ws)  # noqa: E731

            def fit() -> tuple[dict[str, pd.DataFrame], dict]:
                train.set_seed(args.seed)
                run = train.train(build, dataset, config, seeds=[args.seed], progress=progress,
                                  label=f"{fname}, {depth} hidden")
                model = build()
                model.set_weights(run.weights[0])
                history = run.history.rename(columns={"train_loss": "loss"})[["epoch", "loss"]]
                history["diverged"] = run.diverged[0]
                return {"history": history,
                        "predictions": pd.DataFrame({"x": grid[:, 0], "y": model(grid).numpy()[:, 0]})}, {}

            tables, _ = cache.fetch(f"{fname}_{name}", fit)
            model_rows.append({"function": fname, "model": name, "hidden_layers": depth,
                               "widths": "-".join(map(str, ws)), "params": models.fc_param_count(ws),
                               "final_loss": tables["history"]["loss"].iloc[-1],
                               "diverged": bool(tables["history"]["diverged"].iloc[-1])})
            histories.append(tables["history"].drop(columns="diverged").assign(function=fname, model=name))
            predictions.append(tables["predictions"].assign(function=fname, model=name))

    # ---------------------------------------------------------------- Write CSVs and figures
    columns = {"history": ["function", "model", "epoch", "loss"], "predictions": ["function", "model", "x", "y"]}
    results.write_csv(folder / "models.csv", pd.DataFrame(model_rows))
    results.write_csv(folder / "history.csv", pd.concat(histories)[columns["history"]])
    results.write_csv(folder / "predictions.csv", pd.concat(predictions)[columns["predictions"]])
    results.write_settings(folder, EXPERIMENT, args.profile, args.seed, settings,
                           seconds=round(progress.elapsed, 1), peak_memory_mb=round(results.peak_memory_mb()))
    figures = plots.draw(EXPERIMENT, folder)
    cache.clear()
    progress(f"wrote {len(figures)} figures and 3 CSVs to {folder}")


if __name__ == "__main__":
    main()
