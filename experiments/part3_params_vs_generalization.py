"""HW1-3b Generalization: number of parameters vs generalization.

One family of models, fully connected nets with one hidden layer of width
w = 1, 2, 4, …, 1024 (784-w-10 on MNIST: about 800 to 800,000 parameters, three
decades), each trained from a fresh initialization with the SAME budget (optimizer,
learning rate, batch size, epochs). How do training and test loss and accuracy move
with the number of parameters? Where does the gap between them open?

Writes ``models.csv`` (model, i.e. the layer sizes, params, train_loss, train_acc, test_loss,
test_acc, diverged; full sets, inference mode, after the last epoch), settings.json
and two figures against the number of parameters (log x): training and test loss;
training and test accuracy.
"""

import _path  # noqa: F401  (puts the repository root on sys.path)

from hw1 import cli

cli.quiet_tensorflow()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hw1 import data, models, results, train  # noqa: E402

EXPERIMENT = "part3_params_vs_generalization"
PROFILES = {
    "smoke": dict(dataset="mnist_bundled", train_limit=256, widths=[2, 16, 128], epochs=3, batch_size=64,
                  learning_rate=1e-3),
    "default": dict(dataset="mnist_bundled", train_limit=None, widths=[2 ** k for k in range(11)], epochs=20,
                    batch_size=128, learning_rate=1e-3),
    "full": dict(dataset="mnist", train_limit=None, widths=[2 ** k for k in range(11)], epochs=20,
                 batch_size=128, learning_rate=1e-3),
}
METRICS = ["train_loss", "train_acc", "test_loss", "test_acc"]


@cli.main_guard
def main() -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES, dataset=True)
    parser.add_argument("--widths", type=cli.int_list, help="hidden widths, one model each, e.g. 1,4,16,64,256")
    parser.add_argument("--epochs", type=cli.positive_int, help="epochs per model (the same for all)")
    parser.add_argument("--batch-size", dest="batch_size", type=cli.positive_int, help="samples per Adam step")
    args = parser.parse_args()
    settings = cli.settings(PROFILES, args)
    if len(set(settings["widths"])) != len(settings["widths"]):
        raise cli.UsageError(f"--widths {settings['widths']} repeats a width; give each width once")
    folder = cli.output_dir(args.out, EXPERIMENT)
    progress = results.Progress(EXPERIMENT)

    # ---------------------------------------------------------------- Prepare the data
    dataset = data.load(settings["dataset"], args.data_dir, limit=settings["train_limit"], seed=args.seed)
    settings.update(dataset=dataset.describe(), family="fc 1 hidden layer (relu)", optimizer="adam",
                    loss="sparse_ce")
    cache = results.RunCache(folder, {"settings": settings, "seed": args.seed}, fresh=args.fresh)

    # ---------------------------------------------------------------- Build the models
    inputs = int(np.prod(dataset.input_shape))
    builders = {f"{inputs}-{w}-{dataset.num_classes}": lambda w=w: models.fc_net([w], dataset.input_shape,
                                                                                  dataset.num_classes)
                for w in sorted(settings["widths"])}
    config = train.TrainConfig(epochs=settings["epochs"], batch_size=settings["batch_size"],
                               learning_rate=settings["learning_rate"], eval_every=settings["epochs"])

    # ---------------------------------------------------------------- Train (one fresh model per width)
    rows = []
    for name, build in builders.items():
        def fit(build=build, name=name) -> tuple[dict, dict]:
            train.set_seed(args.seed)
            run = train.train(build, dataset, config, seeds=[args.seed], label=name)
            return {"final": run.final[METRICS].assign(diverged=run.diverged[0])}, {}

        final = cache.fetch(name, fit)[0]["final"].iloc[0]
        params = build().count_params()
        rows.append({"model": name, "params": params, **{k: final[k] for k in METRICS},
                     "diverged": bool(final["diverged"])})
        progress(f"{name}: {params:,} params, train acc {final['train_acc']:.3f}, test acc {final['test_acc']:.3f}")

    # ---------------------------------------------------------------- Write CSVs and figures
    results.write_csv(folder / "models.csv", pd.DataFrame(rows))
    figures = results.finish(folder, EXPERIMENT, args, settings, progress, cache)
    progress(f"wrote models.csv and {len(figures)} figures to {folder}")


if __name__ == "__main__":
    main()
