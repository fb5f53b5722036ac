"""Krylov estimators on the device: Lanczos, Hutchinson, Hutch++ and SLQ for an operator ``v ↦ A·v`` of TF tensors.

Every n-vector stays a tensor in the operator's dtype on the device that computes the
products: the Lanczos basis is kept in blocks of :data:`BLOCK` rows (tf.Variables written in
place), so m steps hold m·n numbers of the dtype (float32: 4·m·n bytes), never m × n float64
on the host. Only the tridiagonal matrix (2m numbers) comes back to the host.

- :func:`lanczos`: m steps with full (twice-applied, block-wise) reorthogonalization;
- :func:`eigenpairs`: the k largest or smallest Ritz pairs, with residuals and per-value convergence;
- :func:`hutchinson` and :func:`hutch_plus_plus` (Meyer et al. 2021): tr(A) with a standard error, from
  blocks of independent products (``matmat``: rows vᵢ ↦ rows A·vᵢ);
- :func:`slq`: stochastic Lanczos quadrature nodes and weights; :func:`gaussian_density` smooths them onto a grid.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

__all__ = ["BLOCK", "Basis", "Ritz", "lanczos", "eigenpairs", "hutchinson", "hutch_plus_plus", "slq",
           "gaussian_density"]

BLOCK = 32  # basis rows per device block: one projection call per block, memory grows by 32·n numbers at a time
DeviceMatVec = Callable[[tf.Tensor], tf.Tensor]
DeviceMatMat = Callable[[tf.Tensor], tf.Tensor]  # (P, n) rows vᵢ ↦ (P, n) rows A·vᵢ


@functools.cache
def _project_out(dtype: tf.DType) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """``w − Qᵀ(Q·w)`` for a (rows, n) block Q, compiled once per dtype (unfilled rows are zeros: no effect)."""
    @tf.function(input_signature=[tf.TensorSpec([None], dtype), tf.TensorSpec([None, None], dtype)])
    def project(w: tf.Tensor, block: tf.Tensor) -> tf.Tensor:
        return w - tf.linalg.matvec(block, tf.linalg.matvec(block, w), transpose_a=True)

    return project


class Basis:
    """Orthonormal n-vectors kept on the device in blocks of :data:`BLOCK` rows of ``dtype``."""

    def __init__(self, n: int, dtype: tf.DType) -> None:
        self.n, self.dtype, self.count = int(n), dtype, 0
        self.blocks: list[tf.Variable] = []

    def append(self, q: tf.Tensor) -> None:
        if self.count % BLOCK == 0:
            self.blocks.append(tf.Variable(tf.zeros([BLOCK, self.n], self.dtype), trainable=False))
        self.blocks[-1].scatter_update(tf.IndexedSlices(q[None], tf.constant([self.count % BLOCK])))  # in place
        self.count += 1

    def orthogonalize(self, w: tf.Tensor) -> tf.Tensor:
        """``w`` minus its projection on the basis, applied twice (enough in floating point: Kahan, Parlett)."""
        project = _project_out(self.dtype)
        for _ in range(2):
            for block in self.blocks:
                w = project(w, block)
        return w

    def combine(self, coefficients: np.ndarray) -> tf.Tensor:
        """``Cᵀ·Q`` for a (count, k) coefficient matrix C: k vectors (k, n) on the device."""
        k = coefficients.shape[1]
        padded = np.zeros((len(self.blocks) * BLOCK, k))
        padded[:self.count] = coefficients
        result = tf.zeros([k, self.n], self.dtype)
        for b, block in enumerate(self.blocks):
            part = tf.constant(padded[b * BLOCK:(b + 1) * BLOCK].T, self.dtype)
            result += tf.matmul(part, block)
        return result


def _random_orthogonal(basis: Basis, rng: np.random.Generator) -> tf.Tensor:
    w = basis.orthogonalize(tf.constant(rng.standard_normal(basis.n), basis.dtype))
    return w / tf.norm(w)


def lanczos(matvec: DeviceMatVec, start: tf.Tensor, steps: int, *, seed: int = 0,
            stop: Callable[[np.ndarray, np.ndarray], bool] | None = None) -> tuple[np.ndarray, np.ndarray, Basis]:
    """Up to ``steps`` Lanczos steps from ``start`` (full reorthogonalization, on the device).

    On breakdown (β ≈ 0: an invariant subspace) the run goes on from a random vector orthogonal
    to the basis (β = 0 there), so repeated eigenvalues are found too. ``stop(alpha, beta)`` is
    called after every step; True ends the run.

    Returns:
        ``(alpha, beta, basis)``: T's diagonal and off-diagonal (float64; β[m−1] is the last
        residual norm) and the m orthonormal Lanczos vectors.
    """
    n = int(start.shape[0])
    steps = min(int(steps), n)
    rng = np.random.default_rng(seed)
    basis = Basis(n, start.dtype)
    alpha, beta = np.zeros(steps), np.zeros(steps)
    q = start / tf.norm(start)
    scale = 0.0
    for j in range(steps):
        basis.append(q)
        w = matvec(q)
        alpha[j] = float(tf.tensordot(q, w, 1))
        w = basis.orthogonalize(w)
        beta[j] = float(tf.norm(w))
        scale = max(scale, abs(alpha[j]), beta[j])
        if (stop is not None and stop(alpha[:j + 1], beta[:j + 1])) or j + 1 == steps:
            return alpha[:j + 1], beta[:j + 1], basis
        if beta[j] <= 1e-10 * max(scale, 1e-300) or not np.isfinite(beta[j]):  # invariant subspace
            beta[j] = 0.0
            q = _random_orthogonal(basis, rng)
        else:
            q = w / beta[j]
    return alpha, beta, basis


def _tridiagonal_eigh(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = len(alpha)
    T = np.diag(alpha) + np.diag(beta[:m - 1], 1) + np.diag(beta[:m - 1], -1)
    return np.linalg.eigh(T)


class Ritz(NamedTuple):
    """Ritz pairs of a Lanczos run: values, unit vectors (k, n) or None, residual norms, flags, products used."""

    values: np.ndarray
    vectors: tf.Tensor | None
    residuals: np.ndarray
    converged: np.ndarray
    iterations: int


def eigenpairs(matvec: DeviceMatVec, start: tf.Tensor, k: int, *, which: str = "largest", rtol: float = 1e-3,
               max_iterations: int = 300, seed: int = 0, vectors: bool = False) -> Ritz:
    """The ``k`` largest (most positive first) or smallest Ritz pairs, stopped when each has residual ≤ rtol·|θ|.

    A Ritz value θ with residual ‖A·y − θ·y‖ ≤ rtol·|θ| has an eigenvalue of A within that distance.
    Not converged within ``max_iterations`` products: the current pairs, with ``converged`` False
    where the bound does not hold (the caller warns).
    """
    n = int(start.shape[0])

    def pick(values: np.ndarray) -> np.ndarray:
        return values[::-1][:k] if which == "largest" else values[:k]

    def flags(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        theta, s = _tridiagonal_eigh(alpha, beta)
        residual = np.abs(beta[-1] * s[-1])
        ok = pick(residual) <= rtol * np.abs(pick(theta))
        if len(alpha) == n:  # the whole space: the Ritz values are the eigenvalues
            ok = np.ones_like(ok)
        return theta, s, residual, ok

    def done(alpha: np.ndarray, beta: np.ndarray) -> bool:
        return len(alpha) >= k and bool(np.all(flags(alpha, beta)[3]))

    alpha, beta, basis = lanczos(matvec, start, max_iterations, seed=seed + 1, stop=done)
    theta, s, residual, ok = flags(alpha, beta)
    order = np.arange(len(theta))
    chosen = pick(order)
    found = None
    if vectors:
        found = basis.combine(s[:, chosen])
        found = found / tf.norm(found, axis=1, keepdims=True)
    return Ritz(theta[chosen], found, residual[chosen], ok, len(alpha))


def _rademacher(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice([-1.0, 1.0], size=n)


def _probes(rng: np.random.Generator, n: int, count: int, dtype: tf.DType) -> tf.Tensor:
    """``count`` Rademacher probes as a (count, n) block, drawn one after another (as one at a time)."""
    return tf.constant(np.stack([_rademacher(rng, n) for _ in range(count)]).reshape(count, n), dtype)


def hutchinson(matmat: DeviceMatMat, n: int, probes: int, dtype: tf.DType, *, seed: int = 0) -> tuple[float, float]:
    """tr(A) as the mean of ``vᵀA·v`` over Rademacher probes, and its standard error (std / √probes).

    The probes are independent: they go to ``matmat`` as one (probes, n) block.
    """
    rng = np.random.default_rng(seed)
    V = _probes(rng, n, int(probes), dtype)
    values = tf.reduce_sum(V * matmat(V), axis=1).numpy().astype(np.float64)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def hutch_plus_plus(matmat: DeviceMatMat, n: int, products: int, dtype: tf.DType, *,
                    seed: int = 0) -> tuple[float, float]:
    """tr(A) by Hutch++ (Meyer, Musco, Musco, Woodruff 2021) with ``products`` matrix-vector products.

    s = products // 3 products sketch A's range (Q = orth(A·S)); tr(QᵀAQ) takes s more, exactly;
    the remaining products − 2s Rademacher probes, projected off Q, estimate the trace of the rest
    (tr A = tr(QᵀAQ) + tr((I−QQᵀ)A(I−QQᵀ)) exactly). The standard error is that of the probes' mean,
    given Q: the only random part of the estimate once Q is fixed. Each of the three phases is one
    block of independent products for ``matmat``.
    """
    sketch = int(products) // 3
    rest = int(products) - 2 * sketch
    rng = np.random.default_rng(seed)
    q, _ = tf.linalg.qr(tf.transpose(matmat(_probes(rng, n, sketch, dtype))))  # (n, s), orthonormal columns
    low_rank = float(tf.reduce_sum(tf.transpose(q) * matmat(tf.transpose(q))))
    V = _probes(rng, n, rest, dtype)
    V = V - tf.matmul(tf.matmul(V, q), q, transpose_b=True)  # off Q
    values = tf.reduce_sum(V * matmat(V), axis=1).numpy().astype(np.float64)
    return low_rank + float(values.mean()), float(values.std(ddof=1) / np.sqrt(rest))


def slq(matvec: DeviceMatVec, n: int, probes: int, steps: int, dtype: tf.DType, *,
        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stochastic Lanczos quadrature (Ubaru et al. 2017): nodes and weights summing to 1.

    Per probe v (Rademacher), ``steps`` Lanczos steps give the Gauss quadrature ``Σⱼ τⱼ g(θⱼ) = v̂ᵀ g(A) v̂``,
    exact for polynomials g of degree ≤ 2·steps − 1, whose expectation over probes is ``tr g(A) / n``.
    """
    rng = np.random.default_rng(seed)
    nodes, weights = [], []
    for i in range(int(probes)):
        v = tf.constant(_rademacher(rng, n), dtype)
        alpha, beta, _ = lanczos(matvec, v, steps, seed=seed + 1000 + i)
        theta, s = _tridiagonal_eigh(alpha, beta)
        nodes.append(theta)
        weights.append(s[0] ** 2 / int(probes))
    return np.concatenate(nodes), np.concatenate(weights)


def gaussian_density(nodes: np.ndarray, weights: np.ndarray, grid: np.ndarray, sigma: float) -> np.ndarray:
    """Σⱼ wⱼ · N(λ; θⱼ, σ²) on ``grid``: a smooth density whose integral is Σ w (1 for :func:`slq` weights)."""
    grid = np.asarray(grid, np.float64)
    z = (grid[:, None] - np.asarray(nodes)[None, :]) / sigma
    return (np.exp(-0.5 * z * z) / (sigma * np.sqrt(2.0 * np.pi))) @ np.asarray(weights)
