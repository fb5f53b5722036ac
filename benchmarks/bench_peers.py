"""Benchmark: hw1 beside PyHessian and hessian-eigenthings on the same weights (issue 21).

Protocol: two Keras models ending in logits, trained with ``model.fit`` (3 epochs, batch 64,
Adam 1e-3) on the 4,000 bundled MNIST training images: the MLP 784-128-10 and a small CNN
(conv 8×3×3 ReLU, 2×2 max-pool, conv 16×3×3 ReLU, 2×2 max-pool, dense 10). Their weights and
the images go to PyTorch through a temporary .npz; a subprocess in the peers' own venv rebuilds
the same nets (loss and a Hessian-vector product agree with hw1's, reported). On all 4,000
images, full-batch, float32:

- top-1 and top-5 Hessian eigenvalues: hw1 ``c.eigenvalues(k)`` (Lanczos, rtol 1e-3), PyHessian
  ``eigenvalues(top_n=k)`` (its defaults: power iteration, tol 1e-3, up to 100 products per
  value), hessian-eigenthings ``lanczos(op, k=k)`` twice: its default (max_iter = 2k steps) and at
  EQUAL WORK (max_iter = the products hw1 took, full reorthogonalization); errors against ARPACK
  (scipy ``eigsh``, tol 1e-8) on hw1's float64 Hessian-vector product; products counted per tool;
- the trace at EQUAL WORK: every tool spends exactly ``--trace-products`` products (default
  100): hw1 Hutch++, PyHessian ``trace(maxIter=P, tol=0)`` (Hutchinson; its default tol 1e-3
  stops after a few probes), hessian-eigenthings ``trace(num_matvecs=P)`` (Hutch++); with
  standard errors;
- the SLQ density, 1 probe × ``--density-steps`` (default 80; 0 skips it): hw1 ``c.density()``,
  PyHessian ``density(iter=...)`` (with a shim: it calls ``torch.eig``, removed from torch),
  hessian-eigenthings ``spectral_density(num_runs=1)``.

Times are wall clock of one call: hw1's after one warm-up call that traces its graphs, the
peers' after one loss, gradient and HVP (torch traces nothing), on the same 2 shared CPU cores;
each row's note gives the 1-minute load average when it was measured. Writes
``benchmarks/results_peers.csv`` (model, images, tool, quantity, value, error_vs_arpack, seconds,
note). ``--skip cnn:pyhessian_top5`` leaves a peer run out for time (the row says "not run");
``--quantities trace`` measures only those rows (hw1's trace also one product a call, as before
``c.matmat``, in the same run).

The peers are never a dependency of hw1. Make their venv once (torch 2.13.0 CPU wheel):

    python3 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install torch==2.13.0 pyhessian hessian-eigenthings \
        --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple

Run: ``python benchmarks/bench_peers.py [--peers-python PY] [--quick] [--trace-products P]
[--density-steps S] [--skip MODEL:TOOL_QUANTITY ...] [--models mlp cnn] [--quantities top1 top5 trace density]``.
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
QUANTITIES = ("top1", "top5", "trace", "density")
HOW = ("python3 -m venv /work/peers-venv && /work/peers-venv/bin/pip install torch==2.13.0 pyhessian "
       "hessian-eigenthings --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple")


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


def peers(folder: str, kind: str, plan: dict) -> None:
    """Child process: PyHessian and hessian-eigenthings on the saved weights; one JSON line on stdout.

    ``plan``: hw1's Lanczos steps for top-1 and top-5 (hessian-eigenthings runs its default AND
    that many steps), the trace's products (all three tools spend exactly that many), the density's
    steps (0: skipped) and the quantities to skip (time budget).
    """
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

    pyhessian_module = sys.modules["pyhessian.hessian"]  # the module (the package's `hessian` is the class)

    products = [0]  # PyHessian's Hessian-vector products, counted
    hv_product = pyhessian_module.hessian_vector_product

    def counted(*args, **kwargs):
        products[0] += 1
        return hv_product(*args, **kwargs)

    pyhessian_module.hessian_vector_product = counted
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
    hvps = torch.autograd.grad(flat @ v, list(net.parameters()))  # back to Keras's layout, to compare
    hv = torch.cat([(h.permute(2, 3, 1, 0) if h.ndim == 4 else h.T if h.ndim == 2 else h).reshape(-1)
                    for h in hvps])
    out = {"loss": float(loss), "grad_norm": float(flat.norm()),
           "hvp": hv.numpy().astype(float).tolist()}
    py = pyhessian(net, criterion, data=(x, y), cuda=False)
    operator = he.HessianOperator(net, [(x, y)], he.supervised_loss(criterion))

    def timed(fn):  # torch traces nothing: the loss, gradient and HVP above were its warm-up
        products[0] = 0
        start = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - start

    for k in [k for k in (1, 5) if f"top{k}" in plan["quantities"]]:
        if f"pyhessian_top{k}" not in plan["skip"]:
            values, seconds = timed(lambda: py.eigenvalues(top_n=k)[0])
            out[f"pyhessian_top{k}"] = ([float(a) for a in values], seconds, products[0])
        result, seconds = timed(lambda: he.lanczos(operator, k=k, which="LA", seed=0))
        out[f"eigenthings_top{k}"] = ([float(a) for a in result.eigenvalues], seconds, int(result.iterations))
        steps = int(plan[f"top{k}"])  # equal work: as many Lanczos steps as hw1 took, fully reorthogonalized
        result, seconds = timed(lambda: he.lanczos(operator, k=k, which="LA", seed=0, max_iter=steps,
                                                   reorthogonalize=True))
        out[f"eigenthings_top{k}_equal"] = ([float(a) for a in result.eigenvalues], seconds,
                                              int(result.iterations))
    budget = int(plan["trace"]) if "trace" in plan["quantities"] else 0
    # tol 0: exactly `budget` products
    trace, seconds = timed(lambda: py.trace(maxIter=budget, tol=0.0)) if budget else ([0.0, 0.0], 0.0)
    out["pyhessian_trace"] = (float(np.mean(trace)), float(np.std(trace, ddof=1) / np.sqrt(len(trace))), len(trace),
                              seconds)
    if budget:
        result, seconds = timed(lambda: he.trace(operator, num_matvecs=budget, seed=0))
        out["eigenthings_trace"] = (float(result.estimate), float(result.stderr), budget, seconds)
    if plan["density"]:
        try:
            density, seconds = timed(lambda: py.density(iter=plan["density"], n_v=1))
            out["pyhessian_density"] = (len(density[0][0]), seconds)
        except Exception as error:  # noqa: BLE001 (reported in the table)
            out["pyhessian_density"] = (f"{type(error).__name__}: {error}", 0.0)
        result, seconds = timed(lambda: he.spectral_density(operator, num_runs=1, lanczos_steps=plan["density"],
                                                            seed=0))
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

    values = eigsh(LinearOperator((c.n, c.n), matvec=matvec, dtype=np.float64), k=k, which="LA", tol=1e-8,
                   v0=np.random.default_rng(0).standard_normal(c.n), return_eigenvectors=False)
    return np.sort(values)[::-1], count[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers-python", default=os.environ.get("HW1_PEERS_PYTHON", DEFAULT_PEERS))
    parser.add_argument("--quick", action="store_true", help="500 images, 1 epoch (a smoke test)")
    parser.add_argument("--images", type=int, default=4000, help="training images used (default: all 4,000)")
    parser.add_argument("--epochs", type=int, default=3, help="model.fit epochs (default: 3)")
    parser.add_argument("--trace-products", type=int, default=100,
                        help="products every tool spends on the trace (default: 100)")
    parser.add_argument("--density-steps", type=int, default=80, help="SLQ density steps, 0 to skip (default: 80)")
    parser.add_argument("--skip", nargs="*", default=[], metavar="MODEL:TOOL_QUANTITY",
                        help="peer runs to skip for time, e.g. cnn:pyhessian_top5 (the table says so)")
    parser.add_argument("--models", nargs="*", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    parser.add_argument("--quantities", nargs="*", default=list(QUANTITIES), choices=QUANTITIES,
                        help="rows to measure (default: all; the ARPACK reference and the loss/HVP check always run)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results_peers.csv"))
    args = parser.parse_args()
    check = subprocess.run([args.peers_python, "-c", "import torch, pyhessian, hessian_eigenthings"],
                           capture_output=True, text=True) if Path(args.peers_python).exists() else None
    if check is None or check.returncode != 0:
        print(f"bench_peers: the peers' venv is not there ({args.peers_python} cannot import torch, pyhessian and "
              f"hessian_eigenthings). Make it with:\n    {HOW}\nthen run again (or pass --peers-python).")
        return 0
    if args.trace_products < 4 or args.density_steps < 0:
        print("bench_peers: --trace-products must be >= 4 and --density-steps >= 0", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))
    import keras
    import numpy as np
    import pandas as pd

    import tensorflow as tf

    import hw1
    from hw1.lab import data
    from hw1.measure import krylov
    from hw1.results import atomic_path

    mnist = data.load("mnist_bundled")
    n = 500 if args.quick else min(max(args.images, 10), len(mnist.x_train))
    x, y = mnist.x_train[:n], mnist.y_train[:n]
    budget = args.trace_products
    rows = []

    def add(model, tool, quantity, value, error=float("nan"), seconds=float("nan"), note=""):
        load = os.getloadavg()[0]
        note = f"{note}; load {load:.1f}" if np.isfinite(seconds) else note
        rows.append({"model": model, "images": n, "tool": tool, "quantity": quantity, "value": value,
                     "error_vs_arpack": error, "seconds": seconds, "note": note})
        print(f"{model:4s} {tool:20s} {quantity:14s} {str(value)[:40]:40s} err {error:9.2g}  {seconds:8.3f} s  {note}",
              flush=True)

    def timed(fn):  # hw1's graphs were traced by the warm-up call below
        start = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - start

    def error_of(found, truth):
        return float(np.max(np.abs(np.sort(np.array(found))[::-1] - truth) / np.abs(truth)))

    with tempfile.TemporaryDirectory() as folder:
        for kind in args.models:
            keras.utils.set_random_seed(0)
            model = keras_net(kind)
            model.compile(optimizer=keras.optimizers.Adam(1e-3),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            model.fit(x, y, epochs=1 if args.quick else args.epochs, batch_size=64, verbose=0)
            c = hw1.curvature(model, (x, y))
            v = np.random.default_rng(1).standard_normal(c.n).astype(np.float32)
            np.savez(Path(folder) / f"{kind}.npz", x=x, y=y, v=v,
                     **{f"w{i}": w for i, w in enumerate(model.get_weights())})
            reference, products = arpack(model, (x, y))
            add(kind, "ARPACK (float64)", "top5", np.round(reference, 6).tolist(), 0.0,
                note=f"{products} products, tol 1e-8")
            c.eigenvalues(1, rtol=0.5)  # warm-up: traces the product and projection graphs once
            density = args.density_steps if "density" in args.quantities else 0
            plan = {"trace": budget, "density": density, "quantities": args.quantities,
                    "skip": [s.split(":", 1)[1] for s in args.skip if s.startswith(kind + ":")]}
            hw1_rows, single = [], None
            for k in [k for k in (1, 5) if f"top{k}" in args.quantities]:
                values, seconds = timed(lambda: c.eigenvalues(k))
                plan[f"top{k}"] = c.iterations
                hw1_rows.append((f"top{k}", np.round(values, 6).tolist(), error_of(values, reference[:k]), seconds,
                                 f"Lanczos rtol 1e-3, {c.iterations} products"))
            if "trace" in args.quantities:
                sketch, block = budget // 3, c.probe_block  # warm-up: the block graphs the trace uses, one per size
                for size in sorted({min(block, sketch), sketch % block, (budget - 2 * sketch) % block} - {0}):
                    c.matmat(np.ones((size, c.n)))
                estimate, seconds = timed(lambda: c.trace(budget))
                hw1_rows.append(("trace", round(estimate.trace, 4), float("nan"), seconds,
                                 f"Hutch++ {budget} products in blocks of {c.probe_block}, "
                                 f"stderr {estimate.stderr:.3g}"))
                one_at_a_time = lambda V: tf.stack([c.matvec(v) for v in V])  # noqa: E731 (hw1 before blocks)
                (value, stderr), seconds = timed(
                    lambda: krylov.hutch_plus_plus(one_at_a_time, c.n, budget, c.dtype))
                single = {"model": kind, "images": n, "tool": "hw1, one product a call", "quantity": "trace",
                          "value": round(value, 4), "error_vs_arpack": float("nan"), "seconds": seconds,
                          "note": f"Hutch++ {budget} products (matvec), stderr {stderr:.3g}; "
                                  f"load {os.getloadavg()[0]:.1f}"}
            if density:
                _, seconds = timed(lambda: c.density(steps=args.density_steps))
                hw1_rows.append(("density", f"1 × {args.density_steps} steps", float("nan"), seconds, ""))
            load_hw1 = os.getloadavg()[0]
            done = subprocess.run([args.peers_python, __file__, "--peer", folder, kind, json.dumps(plan)],
                                  capture_output=True, text=True, timeout=7200)
            lines = [line for line in done.stdout.splitlines() if line.startswith("PEERS ")]
            if not lines:
                raise RuntimeError(f"the peers' run failed: {done.stderr[-3000:]}")
            peer = json.loads(lines[0][6:])
            value, _ = c.value_and_gradient()
            add(kind, "hw1 vs torch", "loss", value, abs(value - peer["loss"]) / peer["loss"], note="relative")
            hvp = c.hvp(v)
            add(kind, "hw1 vs torch", "hvp", float(np.linalg.norm(hvp)),
                float(np.linalg.norm(hvp - np.array(peer["hvp"])) / np.linalg.norm(hvp)), note="relative, float32")
            for quantity, value, error, seconds, note in hw1_rows:
                rows.append({"model": kind, "images": n, "tool": "hw1", "quantity": quantity, "value": value,
                             "error_vs_arpack": error, "seconds": seconds, "note": f"{note}; load {load_hw1:.1f}"})
                print(f"{kind:4s} hw1 {quantity:10s} {str(value)[:40]:40s} err {error:9.2g} {seconds:8.3f} s {note}")
                if quantity.startswith("top"):
                    k = int(quantity[3:])
                    truth = reference[:k]
                    if f"pyhessian_top{k}" in peer:
                        found, seconds, used = peer[f"pyhessian_top{k}"]
                        add(kind, "pyhessian", quantity, np.round(np.sort(found)[::-1], 6).tolist(),
                            error_of(found, truth), seconds, f"power iteration, default tol 1e-3, {used} products")
                    else:
                        add(kind, "pyhessian", quantity, "not run", note="skipped at this size for time (see README)")
                    found, seconds, used = peer[f"eigenthings_top{k}"]
                    add(kind, "eigenthings", quantity, np.round(np.sort(found)[::-1], 6).tolist(),
                        error_of(found, truth), seconds, f"Lanczos, default max_iter = 2k: {used} products")
                    found, seconds, used = peer[f"eigenthings_top{k}_equal"]
                    add(kind, "eigenthings", quantity, np.round(np.sort(found)[::-1], 6).tolist(),
                        error_of(found, truth), seconds, f"Lanczos, max_iter = hw1's: {used} products (equal work)")
                elif quantity == "trace":
                    rows.append(single)
                    for tool, name in (("pyhessian", "Hutchinson"), ("eigenthings", "Hutch++")):
                        mean, stderr, used, seconds = peer[f"{tool}_trace"]
                        add(kind, tool, "trace", round(mean, 4), seconds=seconds,
                            note=f"{name} {used} products (equal work), stderr {stderr:.3g}")
                else:
                    for tool in ("pyhessian", "eigenthings"):
                        result, seconds = peer[f"{tool}_density"]
                        add(kind, tool, "density", value if not isinstance(result, str) else "failed",
                            seconds=seconds, note=("torch.eig shim " + (result if isinstance(result, str) else ""))
                            if tool == "pyhessian" else "")
    with atomic_path(args.out) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--peer":
        peers(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
    else:
        sys.exit(main())
