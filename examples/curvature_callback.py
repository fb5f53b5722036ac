"""Track curvature during model.fit: λmax, tr(H) and sharpness per epoch with hw1.CurvatureCallback.

A plain Keras MLP trained on hw1's bundled MNIST (offline); at the end of every epoch the callback
measures the Hessian of the full training loss at the current weights (inference mode) and adds the
values to the History that model.fit returns. The figure shows λmax per epoch (the "edge of
stability" picture: with Adam's step it rises as the loss falls).

    python examples/curvature_callback.py                 # about a minute on 2 CPU cores
    python examples/curvature_callback.py --quick         # a few seconds (fewer images and epochs)
"""

import argparse

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import hw1  # noqa: E402
from hw1.lab.data import load  # noqa: E402

# ---------------------------------------------------------------- Setup
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="500 images, 3 epochs")
parser.add_argument("--figure", default="curvature_per_epoch.png", help="where to save the λmax figure (PNG)")
parser.add_argument("--log-dir", default=None, help="also write TensorBoard scalars here")
args = parser.parse_args()
keras.utils.set_random_seed(0)

# ---------------------------------------------------------------- Prepare the data
mnist = load("mnist_bundled")
n = 500 if args.quick else len(mnist.x_train)
train = (mnist.x_train[:n], mnist.y_train[:n])

# ---------------------------------------------------------------- Build the model (plain Keras)
model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                          keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])

# ---------------------------------------------------------------- Train, measuring every epoch
callback = hw1.CurvatureCallback(train, every=1, measures=("top_eigenvalue", "trace", "sharpness"),
                                 log_dir=args.log_dir, probes=12 if args.quick else 30)
history = model.fit(*train, epochs=3 if args.quick else 8, batch_size=64, verbose=0, callbacks=[callback])

# ---------------------------------------------------------------- Report and plot
for epoch, (loss, top, trace, sharp) in enumerate(zip(history.history["loss"], history.history["top_eigenvalue"],
                                                      history.history["trace"], history.history["sharpness"]), 1):
    print(f"epoch {epoch}: loss {loss:.4f}  λmax {top:.3f}  tr(H) {trace:.1f}  sharpness {sharp:.3f} %")
fig, ax = plt.subplots(figsize=(5, 3.5))
epochs = range(1, len(history.history["top_eigenvalue"]) + 1)
ax.plot(epochs, history.history["top_eigenvalue"], "o-")
ax.set_xlabel("epoch")
ax.set_ylabel("λmax of the Hessian (training loss)")
ax.set_title("Curvature during model.fit")
fig.tight_layout()
fig.savefig(args.figure, dpi=120)
print("figure:", args.figure)
