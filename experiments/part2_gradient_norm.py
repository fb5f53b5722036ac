"""HW1-2b Gradient norm during training.

One fully connected net is fitted to sin(5πx)/(5πx) on (0, 1] with full-batch Adam.
At every iteration we record the training loss and the gradient norm ‖∇L‖₂ (L2
over all trainable parameters): how does the gradient norm behave while the loss
falls? (Full batch, so both are exact full-training-set values, not mini-batch noise.)

Writes ``history.csv`` (step, loss, grad_norm), settings.json and ``gradient_norm.png``
(gradient norm and loss per iteration, two panels, log y).
"""

import _path  # noqa: F401  (puts the repository root on sys.path)

from hw1 import cli

cli.quiet_tensorflow()

import pandas as pd  # noqa: E402

from hw1 import data, models, results, train  # noqa: E402

EXPERIMENT = "part2_gradient_norm"
PROFILES = {
    "smoke": dict(widths=[8, 8], samples=64, steps=200, learning_rate=3e-3),
    "default": dict(widths=[20, 20], samples=256, steps=5000, learning_rate=1e-3),
    "full": dict(widths=[20, 20], samples=1000, steps=20000, learning_rate=1e-3),
}


@cli.main_guard
def main() -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES)
    parser.add_argument("--steps", type=cli.positive_int, help="override the profile's number of iterations")
    parser.add_argument("--learning-rate", dest="learning_rate", type=cli.positive_float,
                        help="override the profile's Adam learning rate")
    args = parser.parse_args()
    settings = cli.settings(PROFILES, args)
    folder = cli.output_dir(args.out, EXPERIMENT)
    progress = results.Progress(EXPERIMENT)
    cache = results.RunCache(folder, {"settings": settings, "seed": args.seed}, fresh=args.fresh)

    # ---------------------------------------------------------------- Data and model
    dataset = data.function_data(data.FUNCTIONS["sinc"], settings["samples"], name="sinc")
    build = lambda: models.fc_net(settings["widths"])  # noqa: E731
    model = build()
    settings.update(function=data.FUNCTIONS["sinc"], function_label="sin(5πx)/(5πx)", loss="mse", optimizer="adam",
                    batch="full", architecture="MLP 1-" + "-".join(map(str, settings["widths"])) + "-1",
                    activation="relu", params=model.count_params())
    config = train.TrainConfig(epochs=settings["steps"], learning_rate=settings["learning_rate"], loss="mse",
                               eval_every=settings["steps"], record_steps=True)

    # ---------------------------------------------------------------- Train, recording every step
    def fit() -> tuple[dict[str, pd.DataFrame], dict]:
        train.set_seed(args.seed)
        run = train.train(build, dataset, config, seeds=[args.seed], progress=progress, label="training")
        steps = run.steps[["step", "loss", "grad_norm"]].astype({"step": int})
        return {"history": steps.assign(diverged=run.diverged[0])}, {}

    tables, _ = cache.fetch("run", fit)
    history = tables["history"]
    settings["diverged"] = bool(history["diverged"].iloc[-1])

    # ---------------------------------------------------------------- Write CSVs and figures
    results.write_csv(folder / "history.csv", history[["step", "loss", "grad_norm"]])
    figures = results.finish(folder, EXPERIMENT, args, settings, progress, cache)
    last = history.iloc[-1]
    progress(f"final loss {last['loss']:.3g}, gradient norm {last['grad_norm']:.3g}; "
             f"wrote {len(figures)} figure and 1 CSV to {folder}")


if __name__ == "__main__":
    main()
