"""Spectra of a symmetric operator known only through its products ``v ↦ A·v``.

Pure numpy (float64), no TensorFlow: the operator is any callable, typically a
Hessian-vector product (:meth:`hw1.Curvature.matvec` runs the same estimators on the device,
:mod:`hw1.measure.krylov`). Three estimators, as in
PyHessian (Yao et al. 2020), each with its accuracy stated:

- :func:`lanczos_eigenvalues`: the k largest (or smallest) eigenvalues by Lanczos with
  full reorthogonalization, stopped when every wanted Ritz value has a residual
  ``‖A·y − θ·y‖ ≤ rtol·|θ|`` (ARPACK's criterion; there is an eigenvalue within that
  distance of θ).
- :func:`hutchinson_trace`: tr(A) ≈ mean of ``vᵀA·v`` over Rademacher probes, with its
  standard error.
- :func:`slq_density`: the spectral density by stochastic Lanczos quadrature (Ubaru et al.
  2017): per probe, the nodes and weights of an m-step Gauss quadrature, exact for every
  moment of degree ≤ 2m − 1 of the probe's spectral measure; :func:`gaussian_density`
  smooths them onto a grid.
"""

from __future__ import annotations

import warnings
from typing import Callable, NamedTuple

import numpy as np

MatVec = Callable[[np.ndarray], np.ndarray]


class Tridiagonal(NamedTuple):
    """The Lanczos relation ``A·Q = Q·T + β·q·eₘᵀ`` of an m-step run: T's diagonal and off-diagonal."""

    alpha: np.ndarray  # (m,) diagonal of T
    beta: np.ndarray   # (m,) β[i] couples step i and i+1; β[m-1] is the residual norm of the last step
    basis: np.ndarray | None  # (m, n) orthonormal Lanczos vectors, if kept


def _start_vector(n: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(n)
    return v / np.linalg.norm(v)


def lanczos(matvec: MatVec, start: np.ndarray, steps: int, *, seed: int = 0, keep_basis: bool = False,
            stop: Callable[[np.ndarray, np.ndarray], bool] | None = None) -> Tridiagonal:
    """Up to ``steps`` Lanczos steps from ``start``, with full (twice-applied) reorthogonalization.

    On breakdown (an invariant subspace found, β ≈ 0) the run continues from a random vector
    orthogonal to all previous ones (β = 0 there), so repeated eigenvalues are found too.
    ``stop(alpha, beta)`` is called after every step; True ends the run.
    """
    n = start.size
    steps = min(int(steps), n)
    rng = np.random.default_rng(seed)
    basis = np.zeros((steps, n))
    alpha, beta = np.zeros(steps), np.zeros(steps)
    q = np.asarray(start, np.float64) / np.linalg.norm(start)
    scale = 0.0
    for j in range(steps):
        basis[j] = q
        w = np.asarray(matvec(q), np.float64).reshape(-1)
        alpha[j] = q @ w
        for _ in range(2):  # full reorthogonalization, twice is enough (Kahan / Parlett)
            w -= basis[:j + 1].T @ (basis[:j + 1] @ w)
        beta[j] = np.linalg.norm(w)
        scale = max(scale, abs(alpha[j]), beta[j])
        if stop is not None and stop(alpha[:j + 1], beta[:j + 1]):
            steps = j + 1
            break
        if j + 1 == steps:
            break
        if beta[j] <= 1e-10 * max(scale, 1e-300):  # invariant subspace: restart orthogonally
            beta[j] = 0.0
            w = rng.standard_normal(n)
            for _ in range(2):
                w -= basis[:j + 1].T @ (basis[:j + 1] @ w)
            q = w / np.linalg.norm(w)
        else:
            q = w / beta[j]
    return Tridiagonal(alpha[:steps], beta[:steps], basis[:steps] if keep_basis else None)


def _ritz(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) of T and the residual bound |β_m · s_m,i| of each Ritz pair."""
    m = len(alpha)
    T = np.diag(alpha) + np.diag(beta[:m - 1], 1) + np.diag(beta[:m - 1], -1)
    theta, s = np.linalg.eigh(T)
    return theta, np.abs(beta[m - 1] * s[m - 1])


def lanczos_eigenvalues(matvec: MatVec, n: int, k: int = 1, *, which: str = "largest", rtol: float = 1e-3,
                        max_iterations: int = 300, seed: int = 0,
                        strict: bool = True) -> tuple[np.ndarray, np.ndarray, int]:
    """The ``k`` largest (or smallest) eigenvalues of a symmetric n×n operator, by Lanczos.

    Converged when each of the ``k`` Ritz values θ has residual ``‖A·y − θ·y‖ ≤ rtol·|θ|``
    (an eigenvalue of A lies within that distance of θ; the error of θ itself is typically
    ~residual²/gap, far smaller).

    Returns:
        ``(eigenvalues, residuals, iterations)``: the k values (largest first for "largest",
        smallest first for "smallest"), their residual norms and the number of products used.

    Raises:
        RuntimeError: not converged within ``max_iterations`` products (with ``strict=False``,
            a warning instead, and the current Ritz values are returned).
    """
    if which not in ("largest", "smallest"):
        raise ValueError(f"which={which!r}; choose 'largest' or 'smallest'")
    k = int(k)
    if not 1 <= k <= n:
        raise ValueError(f"k={k!r} must be between 1 and the number of parameters ({n})")

    def pick(values: np.ndarray) -> np.ndarray:
        return values[::-1][:k] if which == "largest" else values[:k]

    def converged(alpha: np.ndarray, beta: np.ndarray) -> bool:
        if len(alpha) < k:
            return False
        theta, residual = _ritz(alpha, beta)
        return bool(np.all(pick(residual) <= rtol * np.abs(pick(theta))) or len(alpha) == n)

    start = _start_vector(n, np.random.default_rng(seed))
    run = lanczos(matvec, start, max_iterations, seed=seed + 1, stop=converged)
    theta, residual = _ritz(run.alpha, run.beta)
    if not converged(run.alpha, run.beta):
        worst = float(np.max(pick(residual) / np.maximum(np.abs(pick(theta)), 1e-300)))
        message = (f"Lanczos did not converge to rtol={rtol:g} in max_iterations={max_iterations} "
                   f"(relative residual {worst:.2g}); raise max_iterations or rtol")
        if strict:
            raise RuntimeError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return pick(theta), pick(residual), len(run.alpha)


def hutchinson_trace(matvec: MatVec, n: int, probes: int = 100, *, seed: int = 0) -> tuple[float, float]:
    """tr(A) by Hutchinson's estimator: the mean of ``vᵀA·v`` over Rademacher vectors v (±1 entries).

    Returns:
        ``(trace, standard_error)``; the standard error is the sample standard deviation of the
        probe values over √probes.
    """
    if int(probes) < 2:
        raise ValueError(f"probes={probes!r}; at least 2 are needed for a standard error")
    rng = np.random.default_rng(seed)
    values = np.empty(int(probes))
    for i in range(int(probes)):
        v = rng.choice([-1.0, 1.0], size=n)
        values[i] = v @ np.asarray(matvec(v), np.float64).reshape(-1)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def slq_density(matvec: MatVec, n: int, probes: int = 1, steps: int = 80, *,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stochastic Lanczos quadrature: nodes and weights of the spectral density of A.

    For each probe v (Rademacher, normalized), ``steps`` Lanczos steps give the Gauss quadrature
    ``Σⱼ τⱼ g(θⱼ) = v̂ᵀ g(A) v̂`` exact for polynomials g of degree ≤ 2·steps − 1, whose expectation
    over probes is ``tr g(A) / n``. Weights are divided by the number of probes, so they sum to 1.

    Returns:
        ``(nodes, weights)``: flat arrays of all probes' Ritz values and quadrature weights.
    """
    if int(probes) < 1 or int(steps) < 1:
        raise ValueError(f"probes={probes!r} and steps={steps!r} must be >= 1")
    rng = np.random.default_rng(seed)
    nodes, weights = [], []
    for i in range(int(probes)):
        v = rng.choice([-1.0, 1.0], size=n)
        run = lanczos(matvec, v, steps, seed=seed + 1000 + i)
        m = len(run.alpha)
        T = np.diag(run.alpha) + np.diag(run.beta[:m - 1], 1) + np.diag(run.beta[:m - 1], -1)
        theta, s = np.linalg.eigh(T)
        nodes.append(theta)
        weights.append(s[0] ** 2 / int(probes))
    return np.concatenate(nodes), np.concatenate(weights)


def gaussian_density(nodes: np.ndarray, weights: np.ndarray, grid: np.ndarray, sigma: float) -> np.ndarray:
    """Σⱼ wⱼ · N(λ; θⱼ, σ²) on ``grid``: a smooth density whose integral is Σ w (1 for SLQ weights)."""
    grid = np.asarray(grid, np.float64)
    z = (grid[:, None] - np.asarray(nodes)[None, :]) / sigma
    return (np.exp(-0.5 * z * z) / (sigma * np.sqrt(2.0 * np.pi))) @ np.asarray(weights)
