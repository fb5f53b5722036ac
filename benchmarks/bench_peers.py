"""Benchmark: hw1 beside PyHessian and hessian-eigenthings on the same weights (issue 21).

Protocol: two Keras models ending in logits, trained with ``model.fit`` (3 epochs, batch 64,
Adam 1e-3) on the 4,000 bundled MNIST training images: the MLP 784-128-10 and a small CNN
(conv 8×3×3 ReLU, 2×2 max-pool, conv 16×3×3 ReLU, 2×2 max-pool, dense 10). Their weights and
the images go to PyTorch through a temporary .npz; a subprocess in the peers' own venv rebuilds
the same nets (loss, gradient and a Hessian-vector product agree with hw1's, reported). On all
4,000 images, full-batch, float32, each tool with its DEFAULTS:

- top-1 and top-5 Hessian eigenvalues: hw1 ``c.eigenvalues(k)`` (Lanczos, rtol 1e-3), PyHessian
  ``eigenvalues(top_n=k)`` (power iteration, tol 1e-3), hessian-eigenthings ``lanczos(op, k=k)``;
  errors against ARPACK (scipy ``eigsh``, tol 1e-10) on hw1's float64 Hessian-vector product;
- the trace with 100 products: hw1 Hutch++, PyHessian ``trace()`` (Hutchinson, up to 100),
  hessian-eigenthings ``trace()`` (Hutch++, 100); with standard errors;
- the SLQ density, 1 probe × 80 steps: hw1 ``c.density()``, PyHessian ``density(iter=80)`` (with a
  shim: it calls ``torch.eig``, removed from torch), hessian-eigenthings ``spectral_density(num_runs=1)``.

Times are wall clock of one call: hw1's after a warm-up call that traces its graphs, the peers'
after one loss, gradient and HVP (torch traces nothing), on the same 2 shared CPU cores. Writes ``benchmarks/results_peers.csv``
(model, tool, quantity, value, error_vs_arpack, seconds, note).

The peers are never a dependency of hw1. Make their venv once (torch 2.13.0 CPU is on this machine):

    python3 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install torch==2.13.0 pyhessian hessian-eigenthings

Run: ``python benchmarks/bench_peers.py [--peers-python /work/peers-venv/bin/python] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PEERS = "/work/peers-venv/bin/python"
HOW = ("python3 -m venv /work/peers-venv && /work/peers-venv/bin/pip install torch==2.13.0 pyhessian "
       "hessian-eigenthings")


# ---------------------------------------------------------------- the peers' side (runs in the peers' venv)

def torch_net(kind: str, weights: dict):
    """The Keras net in torch: channels-last flatten, Keras kernels transposed."""
    import torch
    from torch import nn

    class ChannelsLastFlatten(nn.Module):
        def forward(self, x):
            return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)

    if kind == "mlp":
        net = nn.Sequential(ChannelsLastFlatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        layers = [net[1], net[3]]
    else:
        net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
                            nn.MaxPool2d(2), ChannelsLastFlatten(), nn.Linear(400, 10))
        layers = [net[0], net[3], net[7]]
    with torch.no_grad():
        for i, layer in enumerate(layers):
            kernel = torch.tensor(weights[f"w{2 * i}"])
            kernel = kernel.permute(3, 2, 0, 1) if kernel.ndim == 4 else kernel.T
            layer.weight.copy_(kernel)
            layer.bias.copy_(torch.tensor(weights[f"w{2 * i + 1}"]))
    return net.eval()


def peers(folder: str, kind: str, quick: bool) -> None:
    """Child process: PyHessian and hessian-eigenthings on the saved weights; one JSON line on stdout."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(2)
    def eig(matrix, eigenvectors=True):  # PyHessian's density calls torch.eig, removed from torch: the same by eigh
        values, vectors = torch.linalg.eigh(matrix)
        return torch.stack([values, torch.zeros_like(values)], 1), vectors

    torch.eig = eig
    import hessian_eigenthings as he
    from pyhessian import hessian as pyhessian

    saved = np.load(Path(folder) / f"{kind}.npz")
    net = torch_net(kind, saved)
    x = torch.tensor(saved["x"]).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor(saved["y"]).long()
    criterion = torch.nn.CrossEntropyLoss()
    loss = criterion(net(x), y)
    grads = torch.autograd.grad(loss, list(net.parameters()), create_graph=True)
    flat = torch.cat([g.reshape(-1) for g in grads])
    keras_shapes = [saved[f"w{i}"].shape for i in range(len(list(net.parameters())))]
    pieces = np.split(saved["v"], np.cumsum([int(np.prod(shape)) for shape in keras_shapes])[:-1])
    to_torch = [torch.tensor(p.reshape(shape)) for p, shape in zip(pieces, keras_shapes)]
    to_torch = [t.permute(3, 2, 0, 1) if t.ndim == 4 else t.T if t.ndim == 2 else t for t in to_torch]
    v = torch.cat([t.reshape(-1) for t in to_torch])
    products = torch.autograd.grad(flat @ v, list(net.parameters()))  # back to Keras's layout, to compare
    hv = torch.cat([(h.permute(2, 3, 1, 0) if h.ndim == 4 else h.T if h.ndim == 2 else h).reshape(-1)
                    for h in products])
    out = {"loss": float(loss), "grad_norm": float(flat.norm()),
           "hvp": hv.numpy().astype(float).tolist()}
    py = pyhessian(net, criterion, data=(x, y), cuda=False)
    operator = he.HessianOperator(net, [(x, y)], he.supervised_loss(criterion))

    def timed(fn):  # torch traces nothing: the loss, gradient and HVP above were its warm-up
        start = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - start

    for k in (1, 5):
        values, seconds = timed(lambda: py.eigenvalues(top_n=k)[0])
        out[f"pyhessian_top{k}"] = ([float(a) for a in values], seconds)
        result, seconds = timed(lambda: he.lanczos(operator, k=k, which="LA", seed=0))
        out[f"eigenthings_top{k}"] = ([float(a) for a in result.eigenvalues], seconds)
    trace, seconds = timed(lambda: py.trace())
    out["pyhessian_trace"] = (float(np.mean(trace)), float(np.std(trace, ddof=1) / np.sqrt(len(trace))), len(trace),
                              seconds)
    result, seconds = timed(lambda: he.trace(operator, num_matvecs=100, seed=0))
    out["eigenthings_trace"] = (float(result.estimate), float(result.stderr), 100, seconds)
    try:
        density, seconds = timed(lambda: py.density(iter=80, n_v=1))
        out["pyhessian_density"] = (len(density[0][0]), seconds)
    except Exception as error:  # noqa: BLE001 (reported in the table)
        out["pyhessian_density"] = (f"{type(error).__name__}: {error}", 0.0)
    result, seconds = timed(lambda: he.spectral_density(operator, num_runs=1, lanczos_steps=80, seed=0))
    out["eigenthings_density"] = (0, seconds)
    print("PEERS " + json.dumps(out))


# ---------------------------------------------------------------- hw1's side

def keras_net(kind: str):
    import keras
    layers = [keras.Input((28, 28, 1))]
    if kind == "mlp":
        layers += [keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)]
    else:
        layers += [keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                   keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                   keras.layers.Flatten(), keras.layers.Dense(10)]
    return keras.Sequential(layers, name=kind)


def arpack(model, data, k: int = 5):
    """Top-k eigenvalues by scipy's ARPACK on hw1's float64 Hessian-vector product, and the products used."""
    import numpy as np
    from scipy.sparse.linalg import LinearOperator, eigsh

    c = __import__("hw1").curvature(model, data, dtype="float64")
    count = [0]

    def matvec(v):
        count[0] += 1
        return c.hvp(np.asarray(v).reshape(-1))

    values = eigsh(LinearOperator((c.n, c.n), matvec=matvec, dtype=np.float64), k=k, which="LA", tol=1e-10,
                   v0=np.random.default_rng(0).standard_normal(c.n), return_eigenvectors=False)
    return np.sort(values)[::-1], count[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers-python", default=os.environ.get("HW1_PEERS_PYTHON", DEFAULT_PEERS))
    parser.add_argument("--quick", action="store_true", help="500 images, 1 epoch (a smoke test)")
    parser.add_argument("--images", type=int, default=4000, help="training images used (default: all 4,000)")
    parser.add_argument("--epochs", type=int, default=3, help="model.fit epochs (default: 3)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results_peers.csv"))
    args = parser.parse_args()
    check = subprocess.run([args.peers_python, "-c", "import torch, pyhessian, hessian_eigenthings"],
                           capture_output=True, text=True) if Path(args.peers_python).exists() else None
    if check is None or check.returncode != 0:
        print(f"bench_peers: the peers' venv is not there ({args.peers_python} cannot import torch, pyhessian and "
              f"hessian_eigenthings). Make it with:\n    {HOW}\nthen run again (or pass --peers-python).")
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))
    import keras
    import numpy as np
    import pandas as pd

    import hw1
    from hw1.lab import data
    from hw1.results import atomic_path

    mnist = data.load("mnist_bundled")
    n = 500 if args.quick else min(max(args.images, 10), len(mnist.x_train))
    x, y = mnist.x_train[:n], mnist.y_train[:n]
    rows = []

    def add(model, tool, quantity, value, error=float("nan"), seconds=float("nan"), note=""):
        rows.append({"model": model, "images": n, "tool": tool, "quantity": quantity, "value": value, "error_vs_arpack": error,
                     "seconds": seconds, "note": note})
        print(f"{model:4s} {tool:20s} {quantity:14s} {str(value)[:40]:40s} err {error:9.2g}  {seconds:8.3f} s  {note}")

    def timed(fn):
        fn()  # warm-up: traces hw1's graphs
        start = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - start

    with tempfile.TemporaryDirectory() as folder:
        for kind in ("mlp", "cnn"):
            keras.utils.set_random_seed(0)
            model = keras_net(kind)
            model.compile(optimizer=keras.optimizers.Adam(1e-3),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            model.fit(x, y, epochs=1 if args.quick else args.epochs, batch_size=64, verbose=0)
            v = np.random.default_rng(1).standard_normal(hw1.curvature(model, (x, y)).n).astype(np.float32)
            np.savez(Path(folder) / f"{kind}.npz", x=x, y=y, v=v,
                     **{f"w{i}": w for i, w in enumerate(model.get_weights())})
            done = subprocess.run([args.peers_python, __file__, "--peer", folder, kind] + (["--quick"] * args.quick),
                                  capture_output=True, text=True, timeout=3600)
            lines = [line for line in done.stdout.splitlines() if line.startswith("PEERS ")]
            if not lines:
                raise RuntimeError(f"the peers' run failed: {done.stderr[-3000:]}")
            peer = json.loads(lines[0][6:])
            reference, products = arpack(model, (x, y))
            add(kind, "ARPACK (float64)", "top5", np.round(reference, 6).tolist(), 0.0, note=f"{products} products")
            c = hw1.curvature(model, (x, y))
            value, gradient = c.value_and_gradient()
            add(kind, "hw1 vs torch", "loss", value, abs(value - peer["loss"]) / peer["loss"], note="relative")
            hvp = c.hvp(v)
            add(kind, "hw1 vs torch", "hvp", float(np.linalg.norm(hvp)),
                float(np.linalg.norm(hvp - np.array(peer["hvp"])) / np.linalg.norm(hvp)), note="relative, float32")
            for k in (1, 5):
                values, seconds = timed(lambda: c.eigenvalues(k))
                truth = reference[:k]
                error = float(np.max(np.abs(values - truth) / np.abs(truth)))
                add(kind, "hw1", f"top{k}", np.round(values, 6).tolist(), error, seconds, f"{c.iterations} products")
                for tool in ("pyhessian", "eigenthings"):
                    found, seconds = peer[f"{tool}_top{k}"]
                    found = np.sort(np.array(found))[::-1]
                    error = float(np.max(np.abs(found - truth) / np.abs(truth)))
                    add(kind, tool, f"top{k}", np.round(found, 6).tolist(), error, seconds,
                        "power iteration, tol 1e-3" if tool == "pyhessian" else "Lanczos, default max_iter = 2k")
            estimate, seconds = timed(lambda: c.trace(100))
            add(kind, "hw1", "trace", round(estimate.trace, 4), seconds=seconds,
                note=f"Hutch++ 100 products, stderr {estimate.stderr:.3g}")
            for tool, name in (("pyhessian", "Hutchinson"), ("eigenthings", "Hutch++")):
                mean, stderr, used, seconds = peer[f"{tool}_trace"]
                add(kind, tool, "trace", round(mean, 4), seconds=seconds,
                    note=f"{name} {used} products, stderr {stderr:.3g}")
            _, seconds = timed(lambda: c.density(steps=80))
            add(kind, "hw1", "density", "1 × 80 steps", seconds=seconds)
            for tool in ("pyhessian", "eigenthings"):
                result, seconds = peer[f"{tool}_density"]
                add(kind, tool, "density", "1 × 80 steps" if not isinstance(result, str) else "failed",
                    seconds=seconds, note=("torch.eig shim " + (result if isinstance(result, str) else ""))
                    if tool == "pyhessian" else "")
    with atomic_path(args.out) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--peer":
        peers(sys.argv[2], sys.argv[3], "--quick" in sys.argv)
    else:
        sys.exit(main())
