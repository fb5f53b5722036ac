"""HW1-3d Flatness vs generalization, part 2: sensitivity, sharpness and curvature vs batch size.

Models of one architecture (an MLP 784-128-10 by default) that differ ONLY in batch
size (16, 64, 256, 1024, 4000 = the whole training set), each a fresh model with a
fresh Adam optimizer from the same initial weights. By default all are trained for the
SAME NUMBER OF EPOCHS (the protocol of Keskar et al. 2017): every model computes the
same number of per-sample gradients, so larger batches take fewer, less noisy steps and
end at a higher training loss. ``--same steps`` gives every model about the same number
of optimizer steps instead (then the large batches make many more passes over the data
and end at a lower training loss): the control that separates batch size from training length.
For each trained model:

- sensitivity (Novak et al. 2018): ‖∂ softmax(f(x)) / ∂x‖_F, the Jacobian of the
  OUTPUT probabilities w.r.t. the INPUT pixels, averaged over the test set;
- ε-sharpness (Keskar et al. 2017): the largest relative increase of the training
  loss in the box |Δθᵢ| ≤ ε(|θᵢ| + 1), in percent of (1 + L), by projected ascent;
- the largest eigenvalue of the Hessian of the training loss (power iteration on
  Hessian-vector products).

Writes ``models.csv`` (batch_size, train_loss, train_acc, test_loss, test_acc,
sensitivity, sharpness, top_hessian_eigenvalue, diverged), the trained models as
``models/bs_XXXX.keras``, settings.json and three figures against batch size (log x):
loss with sensitivity (second axis), accuracy with sensitivity, and sensitivity,
sharpness and top eigenvalue side by side.
"""

import _path  # noqa: F401  (puts the repository root on sys.path)

from hw1 import cli

cli.quiet_tensorflow()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hw1 import analysis, data, hessian, models, results, train  # noqa: E402

EXPERIMENT = "part3_sensitivity"
MEASURED = dict(learning_rate=1e-3, epsilon=1e-3, sharpness_steps=20, sharpness_starts=2, hessian_iterations=100)
PROFILES = {
    "smoke": dict(dataset="mnist_bundled", train_limit=256, widths=[32], batch_sizes=[16, 64, 128],
                  same="epochs", epochs=3, steps=30,
                  **{**MEASURED, "sharpness_steps": 3, "sharpness_starts": 1, "hessian_iterations": 10}),
    "default": dict(dataset="mnist_bundled", train_limit=None, widths=[128], batch_sizes=[16, 64, 256, 1024, 4000],
                    same="epochs", epochs=100, steps=1000, **MEASURED),
    "full": dict(dataset="mnist", train_limit=None, widths=[256], batch_sizes=[32, 128, 512, 2048, 8192],
                 same="epochs", epochs=30, steps=5000, **MEASURED),
}
METRICS = ["train_loss", "train_acc", "test_loss", "test_acc"]
MEASURES = ["sensitivity", "sharpness", "top_hessian_eigenvalue"]


@cli.main_guard
def main() -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES, dataset=True)
    parser.add_argument("--batch-sizes", dest="batch_sizes", type=cli.int_list, help="e.g. 16,64,256,1024,4000")
    parser.add_argument("--same", choices=["epochs", "steps"], help="what every batch size gets the same of")
    parser.add_argument("--epochs", type=cli.positive_int, help="epochs of every model (with --same epochs)")
    parser.add_argument("--steps", type=cli.positive_int, help="optimizer steps of every model (with --same steps)")
    parser.add_argument("--epsilon", type=cli.positive_float, help="relative box half-width of ε-sharpness")
    args = parser.parse_args()
    settings = cli.settings(PROFILES, args)
    if len(set(settings["batch_sizes"])) < len(settings["batch_sizes"]):
        raise cli.UsageError(f"--batch-sizes {settings['batch_sizes']} repeats a batch size; give each once")
    folder = cli.output_dir(args.out, EXPERIMENT)
    progress = results.Progress(EXPERIMENT)

    # ---------------------------------------------------------------- Prepare the data
    dataset = data.load(settings["dataset"], args.data_dir, limit=settings["train_limit"], seed=args.seed)
    per_epoch = {bs: -(-len(dataset.x_train) // bs) for bs in settings["batch_sizes"]}  # steps per epoch
    epochs = {bs: settings["epochs"] if settings["same"] == "epochs" else max(1, round(settings["steps"] / n))
              for bs, n in per_epoch.items()}
    settings.update(dataset=dataset.describe(), optimizer="adam", loss="sparse_ce", epochs_by_batch=epochs,
                    steps_by_batch={bs: epochs[bs] * n for bs, n in per_epoch.items()})
    cache = results.RunCache(folder, {"settings": settings, "seed": args.seed}, fresh=args.fresh)

    # ---------------------------------------------------------------- Build the model
    build = lambda: models.fc_net(settings["widths"], dataset.input_shape, dataset.num_classes)  # noqa: E731
    model = build()

    # ---------------------------------------------------------------- Train and measure each batch size
    def fit(batch_size: int) -> tuple[dict, dict]:
        train.set_seed(args.seed)
        config = train.TrainConfig(epochs=epochs[batch_size], batch_size=batch_size, eval_every=epochs[batch_size],
                                   learning_rate=settings["learning_rate"])
        run = train.train(build, dataset, config, seeds=[args.seed], progress=progress, label=f"batch {batch_size}")
        final, weights = run.final.iloc[0], run.weights[0]
        row = {**{k: final[k] for k in METRICS}, **dict.fromkeys(MEASURES, np.nan), "diverged": run.diverged[0]}
        if not run.diverged[0]:
            x, y = dataset.x_train, dataset.y_train
            row["sensitivity"] = analysis.input_jacobian_norm(model, weights, dataset.x_test)
            row["sharpness"] = analysis.sharpness(model, weights, x, y, epsilon=settings["epsilon"],
                                                  steps=settings["sharpness_steps"],
                                                  starts=settings["sharpness_starts"], seed=args.seed)
            row["top_hessian_eigenvalue"] = hessian.top_hessian_eigenvalue(
                model, weights, x, y, "sparse_ce", iterations=settings["hessian_iterations"], seed=args.seed)
            progress(f"batch {batch_size}: sensitivity {row['sensitivity']:.3g}, sharpness {row['sharpness']:.3g} %, "
                     f"top Hessian eigenvalue {row['top_hessian_eigenvalue']:.3g}")
        return {"row": pd.DataFrame([row])}, {f"w{i}": w for i, w in enumerate(weights)}

    rows = []
    (folder / "models").mkdir(exist_ok=True)
    for batch_size in settings["batch_sizes"]:
        tables, arrays = cache.fetch(f"bs{batch_size}", lambda: fit(batch_size))
        rows.append(tables["row"].assign(batch_size=batch_size))
        saved = build()
        saved.set_weights([arrays[f"w{i}"] for i in range(len(arrays))])
        saved.save(folder / "models" / f"bs_{batch_size:04d}.keras")

    # ---------------------------------------------------------------- Write CSVs and figures
    table = pd.concat(rows, ignore_index=True)[["batch_size", *METRICS, *MEASURES, "diverged"]]
    results.write_csv(folder / "models.csv", table.astype({"diverged": bool}))
    figures = results.finish(folder, EXPERIMENT, args, settings, progress, cache)
    progress(f"wrote models.csv, {len(rows)} models and {len(figures)} figures to {folder}")


if __name__ == "__main__":
    main()
