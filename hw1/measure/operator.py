"""A reusable curvature operator of your Keras model: Hessian, Gauss–Newton or Fisher, whole or a block.

``c = hw1.curvature(model, data)`` validates the model, loss and data once, compiles its graphs
once, and then answers any number of questions about the curvature matrix C of the FULL-DATA
MEAN LOSS at the model's weights (inference mode, as every hw1 measurement):

- ``curvature="hessian"``: C = ∇²L, by double back-propagation;
- ``curvature="ggn"``: the generalized Gauss–Newton C = mean Jᵀ·H_out·J (J: Jacobian of the
  network's outputs z in θ; H_out: the Hessian of the loss in z: diag(p) − ppᵀ for softmax
  cross-entropy, 2/K·I for MSE over K outputs). Positive semi-definite; one forward-mode
  Jacobian-vector product and one backward pass per product, no second derivative of the net;
- ``curvature="fisher"``: the empirical Fisher C = mean gᵢgᵢᵀ of per-sample gradients gᵢ, as
  Jᵀ·(rrᵀ)·J with r = ∂ℓ/∂z (no per-sample gradients are formed).

``variables=`` (model variables or layer names) restricts θ to those parameters: C is then the
block of those rows and columns, the other weights held fixed. Vectors are flat, in the order
of the (chosen) ``model.trainable_weights``, each variable raveled in C order; :meth:`Curvature.unflatten`
turns one back into per-variable arrays. Units: loss per squared parameter unit.

Example:
    >>> c = hw1.curvature(model, (x_train, y_train))                    # doctest: +SKIP
    >>> values, vectors = c.eigenvalues(3, return_vectors=True)          # doctest: +SKIP
    >>> c.trace(probes=99)                                               # doctest: +SKIP
    TraceEstimate(trace=46.1, stderr=0.31, probes=99)
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from hw1.measure import constants, krylov
from hw1.measure.adapt import make_problem, resolve_loss
from hw1.measure.checks import DTYPES, check_argument, check_backend, check_count
from hw1.measure.core import labels_as
from hw1.measure.graphs import graphs as _graphs, probe_block
from hw1.measure.hessian import array_batches, in_dtype

__all__ = ["Curvature", "curvature", "CURVATURES", "TRACE_METHODS", "check_backend"]

CURVATURES = ("hessian", "ggn", "fisher")
TRACE_METHODS = ("hutch++", "hutchinson")


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    layers = []
    for layer in model.layers:
        layers.append(layer)
        if isinstance(layer, keras.Model):
            layers.extend(_all_layers(layer))
    return layers


def _block(model: keras.Model, variables: Sequence[Any] | None) -> list[int]:
    """Indices into ``model.trainable_variables`` of the chosen variables (all of them for None)."""
    trainable = model.trainable_variables
    if variables is None:
        return list(range(len(trainable)))
    if isinstance(variables, (str, keras.Variable)):
        variables = [variables]
    layers = {layer.name: layer for layer in _all_layers(model)}
    positions = {id(v): i for i, v in enumerate(trainable)}
    chosen: list[int] = []
    for item in variables:
        if isinstance(item, str):
            if item not in layers:
                raise ValueError(f"variables: model {model.name!r} has no layer named {item!r}; its layers are "
                                 f"{sorted(layers)}")
            found = [positions[id(v)] for v in layers[item].trainable_variables if id(v) in positions]
            if not found:
                raise ValueError(f"variables: layer {item!r} has no trainable weights")
        elif id(item) in positions:
            found = [positions[id(item)]]
        else:
            raise ValueError(f"variables: {getattr(item, 'path', item)!r} is not a trainable variable of model "
                             f"{model.name!r}; pass its variables (model.trainable_weights) or layer names")
        chosen.extend(i for i in found if i not in chosen)
    if not chosen:
        raise ValueError("variables=[] chooses no parameters; pass None (all) or some variables or layer names")
    return sorted(chosen)


def _check_splittable(model: keras.Model, loss: Any, kind: str) -> None:
    try:
        resolve_loss(model, loss)
    except ValueError as error:
        raise ValueError(f"curvature={kind!r} splits the loss into the network's outputs and a loss of them, "
                         f"which hw1 does for softmax cross-entropy and MSE only ({error})") from None


class Curvature:
    """The curvature operator of one model on one data set (see the module docstring); make it with :func:`curvature`.

    Attributes:
        n: the number of parameters θ (the size of the matrix).
        kind: "hessian", "ggn" or "fisher".
        probe_block: probes per compiled call of :meth:`matmat` (:func:`hw1.measure.graphs.probe_block`
            of n and the largest chunk).
        converged, residuals, iterations: of the last :meth:`eigenvalues` call (per value).
    """

    def __init__(self, model: keras.Model, data: Any, loss: Any = None, curvature: str = "hessian",
                 variables: Sequence[Any] | None = None, batch_size: int | None = None, dtype: str | None = "float32",
                 strategy: tf.distribute.Strategy | None = None, weights: Sequence[Any] | None = None) -> None:
        check_backend()
        check_argument("curvature", curvature, curvature in CURVATURES, f"choose one of {CURVATURES}")
        batch_size = check_count("batch_size", constants.EVAL_CHUNK if batch_size is None else batch_size, 1)
        check_argument("dtype", dtype, dtype in DTYPES, "choose None (the model's), 'float32' or 'float64'")
        check_argument("strategy", strategy, strategy is None or isinstance(strategy, tf.distribute.Strategy),
                       "pass None or a tf.distribute.Strategy, e.g. tf.distribute.MirroredStrategy()")
        if curvature != "hessian":
            _check_splittable(model, loss, curvature)
        self.model, self.kind, self.strategy, self._dtype_name = model, curvature, strategy, dtype
        self.problem = make_problem(model, data, loss, weights, dtype)
        self.index = _block(model, variables)
        view = self.problem.view
        self.dtype = view.trainable_variables[0].dtype
        self.shapes = [tuple(view.trainable_variables[i].shape) for i in self.index]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.n = int(sum(self.sizes))
        arrays = self.problem.data.arrays
        self._batches = (array_batches(*arrays, size=int(batch_size)) if arrays is not None
                         else self.problem.batches)  # a dataset goes in its own batches
        self.total = sum(int(x.shape[0]) for x, _ in self._batches())
        if self.total == 0:
            raise ValueError("the data have no samples")
        self._set_point(self.problem.weights)
        self._build()
        self.converged = self.residuals = None
        self.iterations = 0

    # ------------------------------------------------------------ the point and the compiled graphs

    def _set_point(self, weights: Sequence[Any]) -> None:
        block = set(self.index)
        self._theta = tf.constant(np.concatenate([np.asarray(weights[i]).reshape(-1) for i in self.index]),
                                  self.dtype)
        self._rest = [tf.constant(np.asarray(w), self.dtype) for i, w in enumerate(weights) if i not in block]

    def set_weights(self, weights: Sequence[Any] | None = None) -> None:
        """Measure at the model's current weights from now on (or at ``weights``), keeping the compiled graphs.

        Args:
            weights: trainable weights in ``model.trainable_variables`` order; None reads the model's.
        """
        current = [np.asarray(v.numpy()) for v in self.model.trainable_variables]
        if weights is not None:
            weights = [np.asarray(w) for w in weights]
            if [w.shape for w in weights] != [w.shape for w in current]:
                raise ValueError(f"weights have shapes {[w.shape for w in weights]}; the model's trainable "
                                 f"variables have {[w.shape for w in current]}")
        in_dtype(self.model, self._dtype_name)  # a float twin's non-trainable state follows the model's
        self._set_point(current if weights is None else weights)

    def _build(self) -> None:
        first_x, first_y = next(iter(self._batches()))
        graphs = _graphs(self.problem.view, self.problem.loss, self.kind, tuple(self.index),
                         tuple(first_x.shape[1:]), tuple(np.shape(first_y)[1:]))
        self._graphs, self._block_products = graphs, {}
        self.probe_block = probe_block(self.n, int(first_x.shape[0]), tf.as_dtype(self.dtype).size)
        if self.strategy is None:  # compiled once per (model view, loss, kind, block, input shape), kept on the view
            self._product, self._gradient = graphs.compiled_product, graphs.compiled_gradient
        else:
            self._product, self._gradient = self._distributed(graphs.product), self._distributed(graphs.gradient_sum)

    def _block_product(self, probes: int) -> Any:
        if probes not in self._block_products:
            self._block_products[probes] = (self._graphs.compiled_block_product(probes) if self.strategy is None
                                            else self._distributed(self._graphs.block_product(probes)))
        return self._block_products[probes]

    def _distributed(self, fn: Any) -> Any:
        """``fn(*args, x, y)`` with each chunk split across the strategy's replicas and the sums reduced."""
        strategy = self.strategy
        replicas = strategy.num_replicas_in_sync

        @tf.function(reduce_retracing=True)
        def step(*args):
            return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(fn, args=args), axis=None)

        def call(*args):
            *head, x, y = args
            count = int(x.shape[0])
            sizes = [count // replicas + (r < count % replicas) for r in range(replicas)]
            xs, ys = tf.split(x, sizes), tf.split(y, sizes)
            dx = strategy.experimental_distribute_values_from_function(lambda ctx: xs[ctx.replica_id_in_sync_group])
            dy = strategy.experimental_distribute_values_from_function(lambda ctx: ys[ctx.replica_id_in_sync_group])
            return step(*head, dx, dy)

        return call

    # ------------------------------------------------------------ full-set operations

    def _chunks(self):
        compute = self.problem.view.compute_dtype
        for x, y in self._batches():
            if int(x.shape[0]):
                yield tf.cast(x, compute), labels_as(y, self.problem.loss, self.dtype)

    def matvec(self, v: tf.Tensor) -> tf.Tensor:
        """C·v for a device tensor v of shape (n,) in :attr:`dtype`: the chunks' sums over all samples, / samples."""
        return self._finite(self._mean(self._product, v))

    def _mean(self, product: Any, vectors: tf.Tensor) -> tf.Tensor:
        """``product``'s chunk sums for ``vectors`` (one vector or a block), summed over the chunks, / samples."""
        total = tf.zeros_like(vectors)
        for x, y in self._chunks():
            total += product(self._theta, vectors, self._rest, x, y)
        return total / self.total

    def _finite(self, products: tf.Tensor) -> tf.Tensor:
        if not bool(tf.reduce_all(tf.math.is_finite(products))):  # an overflow: say so before an estimator sees it
            raise ValueError(f"a Hessian-vector product is not finite (an overflow in {tf.as_dtype(self.dtype).name}); measure "
                             "with dtype='float64', or at smaller weights")
        return products

    def matmat(self, V: Any) -> tf.Tensor:
        """C·vᵢ for each row vᵢ of a (P, n) block: equal, to float round-off, to P calls of :meth:`matvec`.

        The rows go :attr:`probe_block` at a time through one compiled call per chunk: for the
        Hessian, the chunk's forward and first backward pass are shared by the rows of a block
        (P second backward passes follow), so a row costs less than a :meth:`matvec`.

        Args:
            V: a (P, n) tensor or array (P ≥ 1) in the order of the (chosen) flattened trainable weights.

        Returns:
            a (P, n) device tensor in :attr:`dtype`: row i is C·vᵢ.
        """
        V = tf.cast(tf.convert_to_tensor(V), self.dtype)
        check_argument("V", f"<shape {tuple(V.shape)}>", V.shape.rank == 2 and V.shape[0] >= 1 and V.shape[1] == self.n,
                       f"pass a (P, {self.n}) block of P >= 1 vectors of c.n numbers")
        check_argument("V", "<block with NaN or inf>", bool(tf.reduce_all(tf.math.is_finite(V))), "pass finite numbers")
        blocks = []
        for start in range(0, int(V.shape[0]), self.probe_block):
            block = V[start:start + self.probe_block]
            blocks.append(self._mean(self._block_product(int(block.shape[0])), block))
        return self._finite(tf.concat(blocks, 0))

    def hvp(self, v: Any) -> np.ndarray:
        """C·v: the curvature matrix times a flat vector (for "hessian", the Hessian-vector product).

        Args:
            v: n numbers, in the order of the (chosen) flattened ``model.trainable_weights``.

        Returns:
            C·v as a float64 numpy vector (loss per squared parameter unit, times v's units).
        """
        v = np.asarray(v, np.float64).reshape(-1) if not isinstance(v, tf.Tensor) else v.numpy().reshape(-1)
        check_argument("v", f"<{v.size} numbers>", v.size == self.n, f"pass {self.n} numbers (c.n)")
        check_argument("v", "<vector with NaN or inf>", bool(np.all(np.isfinite(v))), "pass finite numbers")
        return self.matvec(tf.constant(v, self.dtype)).numpy().astype(np.float64)

    def value_and_gradient(self) -> tuple[float, np.ndarray]:
        """The full-set mean loss and its gradient in θ (flat float64, the chosen parameters)."""
        value, grad = 0.0, tf.zeros([self.n], self.dtype)
        for x, y in self._chunks():
            chunk_value, chunk_grad = self._gradient(self._theta, self._rest, x, y)
            value, grad = value + float(chunk_value), grad + chunk_grad
        return value / self.total, (grad / self.total).numpy().astype(np.float64)

    def unflatten(self, vector: Any) -> list[np.ndarray]:
        """A flat n-vector (e.g. an eigenvector) as arrays shaped like the chosen trainable variables, in order."""
        vector = np.asarray(vector).reshape(-1)
        check_argument("vector", f"<{vector.size} numbers>", vector.size == self.n, f"pass {self.n} numbers (c.n)")
        return [p.reshape(s) for p, s in zip(np.split(vector, np.cumsum(self.sizes)[:-1]), self.shapes)]

    # ------------------------------------------------------------ spectrum, trace, density

    def eigenvalues(self, k: int = 1, which: str = "largest", rtol: float = 1e-3, return_vectors: bool = False, *,
                    max_iterations: int = 300, seed: int = 0) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The ``k`` largest (or smallest) eigenvalues of C, by Lanczos with full reorthogonalization.

        Each returned Ritz value θ has residual ‖C·u − θ·u‖ ≤ ``rtol``·|θ| (so an eigenvalue of C lies
        within ``rtol``, relative, of it). If ``max_iterations`` products do not get there, the values
        found are returned with a RuntimeWarning; :attr:`converged` says which ones hold the bound.

        Args:
            k: how many eigenvalues (1 ≤ k ≤ n).
            which: "largest" (most positive first) or "smallest" (most negative first).
            rtol: relative residual tolerance, in (0, 1).
            return_vectors: also return the unit eigenvectors.
            max_iterations: at most this many products (and basis vectors, kept on the device in the dtype).
            seed: seeds the start vector.

        Returns:
            float64 array of k values (loss per squared parameter unit); with ``return_vectors``,
            ``(values, vectors)``, vectors a (k, n) float64 array, row i for value i.
        """
        check_argument("k", k, isinstance(k, (int, np.integer)) and k >= 1, "k must be a positive integer")
        check_argument("k", k, k <= self.n, f"the model has only {self.n} parameters")
        check_argument("which", which, which in ("largest", "smallest"), "choose 'largest' or 'smallest'")
        check_argument("rtol", rtol, isinstance(rtol, (int, float)) and 0 < rtol < 1, "rtol must be in (0, 1)")
        check_argument("max_iterations", max_iterations,
                       isinstance(max_iterations, (int, np.integer)) and max_iterations >= 1,
                       "max_iterations must be a positive integer")
        start = tf.constant(np.random.default_rng(seed).standard_normal(self.n), self.dtype)
        ritz = krylov.eigenpairs(self.matvec, start, int(k), which=which, rtol=float(rtol),
                                 max_iterations=int(max_iterations), seed=seed, vectors=return_vectors)
        self.converged, self.residuals, self.iterations = ritz.converged, ritz.residuals, ritz.iterations
        if not np.all(ritz.converged):
            relative = ritz.residuals / np.maximum(np.abs(ritz.values), 1e-300)
            warnings.warn(f"Lanczos did not converge to rtol={rtol:g} in max_iterations={max_iterations}: values "
                          f"{np.round(ritz.values, 6).tolist()} with relative residuals "
                          f"{[float(f'{r:.2g}') for r in relative]}, converged {ritz.converged.tolist()}; "
                          "raise max_iterations or rtol", RuntimeWarning, stacklevel=2)
        values = np.asarray(ritz.values, np.float64)
        return (values, ritz.vectors.numpy().astype(np.float64)) if return_vectors else values

    def trace(self, probes: int = 100, method: str = "hutch++", *, seed: int = 0) -> Any:
        """tr(C) with its standard error, from ``probes`` products.

        Args:
            probes: matrix-vector products spent (hutch++: ≥ 4; hutchinson: ≥ 2).
            method: "hutch++" (Meyer et al. 2021: a third of the products find the dominant
                subspace, whose trace is exact; Rademacher probes estimate the rest) or
                "hutchinson" (the mean of vᵀCv over Rademacher probes).
            seed: seeds the probes.

        Returns:
            :class:`hw1.TraceEstimate` ``(trace, stderr, probes)``, in loss per squared parameter unit.
        """
        from hw1.measure.api import TraceEstimate

        check_argument("method", method, method in TRACE_METHODS, f"choose one of {TRACE_METHODS}")
        least = 4 if method == "hutch++" else 2
        check_argument("probes", probes, isinstance(probes, (int, np.integer)) and probes >= least,
                       f"probes must be an integer >= {least}")
        estimator = krylov.hutch_plus_plus if method == "hutch++" else krylov.hutchinson
        trace, stderr = estimator(self.matmat, self.n, int(probes), self.dtype, seed=seed)  # blocks of probes
        return TraceEstimate(trace, stderr, int(probes))

    def density(self, probes: int = 1, steps: int = 80, sigma: float | None = None, grid_points: int = 1000, *,
                seed: int = 0) -> Any:
        """C's eigenvalue density by stochastic Lanczos quadrature (see :func:`hw1.hessian_density`).

        Returns:
            :class:`hw1.SpectralDensity` (grid, density per unit λ per parameter, nodes, weights, sigma).
        """
        from hw1.measure.api import SpectralDensity

        check_argument("probes", probes, isinstance(probes, (int, np.integer)) and probes >= 1,
                       "probes must be an integer >= 1")
        check_argument("steps", steps, isinstance(steps, (int, np.integer)) and steps >= 2,
                       "steps must be an integer >= 2")
        check_argument("sigma", sigma, sigma is None or (np.isfinite(sigma) and sigma > 0),
                       "sigma must be positive or None")
        check_argument("grid_points", grid_points, isinstance(grid_points, (int, np.integer)) and grid_points >= 10,
                       "grid_points must be an integer >= 10")
        nodes, weights = krylov.slq(self.matvec, self.n, int(probes), int(steps), self.dtype, seed=seed)
        if sigma is None:
            sigma = 0.01 * max(float(np.ptp(nodes)), 1e-12 * max(1.0, float(np.abs(nodes).max())))
        grid = np.linspace(nodes.min() - 5 * sigma, nodes.max() + 5 * sigma, int(grid_points))
        return SpectralDensity(grid, krylov.gaussian_density(nodes, weights, grid, sigma), nodes, weights,
                               float(sigma))


def curvature(model: keras.Model, data: Any, loss: Any = None, curvature: str = "hessian",
              variables: Sequence[Any] | None = None, batch_size: int | None = None, dtype: str | None = "float32",
              strategy: tf.distribute.Strategy | None = None, *, weights: Sequence[Any] | None = None) -> Curvature:
    """The reusable curvature operator of ``model`` on ``data`` (validated once, graphs compiled once).

    Args:
        model: a built Keras model (its current weights, unless ``weights``).
        data: ``(x, y)`` arrays or a finite tf.data.Dataset of ``(x, y)`` batches.
        loss: None (the compiled loss), a loss name or a Keras loss object.
        curvature: "hessian", "ggn" (generalized Gauss–Newton JᵀH_outJ) or "fisher" (empirical Fisher).
        variables: None (all trainable weights), or model variables / layer names: the block of those.
        batch_size: samples per chunk for arrays (a tf.data.Dataset goes in its own batches); memory
            is one chunk's, the results are full-set means whatever the chunk; None:
            :data:`hw1.measure.constants.EVAL_CHUNK`, read when the operator is made.
        dtype: "float32", "float64" (a float64 copy of the model) or None (the model's).
        strategy: a tf.distribute.Strategy: every chunk is split across its replicas and the sums reduced.
        weights: trainable weights to measure at, in ``model.trainable_variables`` order.

    Returns:
        a :class:`Curvature` with ``.hvp``, ``.eigenvalues``, ``.trace``, ``.density``, ``.n``, ``.unflatten``.

    Example:
        >>> c = hw1.curvature(model, (x, y), curvature="ggn")     # doctest: +SKIP
        >>> c.eigenvalues(2)                                      # doctest: +SKIP
        array([12.6, 7.9])
    """
    return Curvature(model, data, loss, curvature, variables, batch_size, dtype, strategy, weights)
