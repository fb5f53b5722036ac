"""HW1-2b Gradient norm during training.

One fully connected net is fitted to sin(5πx)/(5πx) on (0, 1] with full-batch Adam.
At every iteration we record the training loss and the gradient norm ‖∇L‖₂ (L2
over all trainable parameters): how does the gradient norm behave while the loss
falls? (Full batch, so both are exact full-training-set values, not mini-batch noise.)

Writes ``history.csv`` (step, train_loss, grad_norm, diverged), settings.json and
``gradient_norm.png`` (gradient norm and loss per iteration, two panels, log y).
A run that diverges keeps its rows up to the divergence; later steps are NaN, marked ``diverged``.
"""

from hw1.lab import cli, experiment
from hw1.results.schema import tables

EXPERIMENT = "part2_gradient_norm"
PROFILES = {
    "smoke": dict(widths=[8, 8], samples=64, steps=200, learning_rate=3e-3),
    "default": dict(widths=[20, 20], samples=256, steps=5000, learning_rate=1e-3),
    "full": dict(widths=[20, 20], samples=1000, steps=20000, learning_rate=1e-3),
}


def check(settings: dict) -> list[cli.Need]:
    return [cli.history_need(f"--steps {settings['steps']}", settings["steps"])]  # one record per step


@cli.main_guard
def main(argv: list[str] | None = None) -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES)
    parser.add_argument("--steps", type=cli.positive_int, help="override the profile's number of iterations")
    cli.add_overrides(parser, "learning_rate")
    run = experiment.start(EXPERIMENT, parser, PROFILES, argv, check=check)
    from hw1.lab import data, models, train

    # ---------------------------------------------------------------- Data and model
    settings = run.settings
    dataset = data.function_data(data.FUNCTIONS["sinc"], settings["samples"], name="sinc")
    build = lambda: models.fc_net(settings["widths"])  # noqa: E731
    settings.update(function=data.FUNCTIONS["sinc"], function_label="sin(5πx)/(5πx)", loss="mse", optimizer="adam",
                    batch_size="full", **models.fc_settings(build()))
    config = train.TrainConfig(epochs=settings["steps"], learning_rate=settings["learning_rate"], loss="mse")

    # ---------------------------------------------------------------- Train, recording every step
    fitted = run.step("train", lambda: train.train(build, dataset, config, seeds=[run.seed],
                                                   eval_every=settings["steps"], callbacks=[train.StepRecords()],
                                                   progress=run.progress, label="training").steps)
    history = fitted[fitted["run"] == 0].rename(columns={"loss": "train_loss"})
    history = tables(EXPERIMENT)["history.csv"].select(history)

    # ---------------------------------------------------------------- Write CSV, figure, outcome
    last = history[~history["diverged"]].iloc[-1]
    run.finish({"history.csv": history}, outcome={"diverged": bool(history["diverged"].any()),
                                                  "final_train_loss": last["train_loss"],
                                                  "final_grad_norm": last["grad_norm"]})


if __name__ == "__main__":
    main()
