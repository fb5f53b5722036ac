"""Weight trajectories and loss surfaces: PCA of snapshots, 2-D directions, loss on a grid.

- :func:`snapshot_matrix`: weight snapshots (of the whole model or of one layer) as rows.
- :func:`pca_2d`: scikit-learn PCA to two components, fitted jointly on all rows.
- :func:`filter_normalized_direction`: a random direction scaled filter by filter to the
  weights' own norms (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets").
- :func:`trajectory_directions`: the top-2 PCA directions of a trajectory's offsets
  from its final point, and the trajectory's coordinates along them.
- :func:`loss_grid`: the loss at ``center + a·d1 + b·d2`` on a grid, many grid points per
  call of :class:`hw1.lab.train.Evaluator` (grid points are "runs" of one batched graph).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from sklearn.decomposition import PCA

from hw1.measure import constants
from hw1.measure.core import Evaluator, Weights, flatten, stack, unflatten



def layer_indices(model: keras.Model, layer: str) -> list[int]:
    """Positions, in ``model.trainable_variables``, of the variables of the layer named ``layer``.

    Raises:
        ValueError: the model has no layer of that name (the message lists those it has).
    """
    names = [lay.name for lay in model.layers if lay.trainable_variables]
    if layer not in names:
        raise ValueError(f"layer {layer!r} not in model {model.name!r}; choose one of {', '.join(names)}")
    wanted = {id(v) for v in model.get_layer(layer).trainable_variables}
    return [i for i, v in enumerate(model.trainable_variables) if id(v) in wanted]


def snapshot_matrix(snapshots: Sequence[Weights], indices: Sequence[int] | None = None) -> np.ndarray:
    """One row per snapshot: its weights (all, or those at ``indices``) flattened in order."""
    pick = (lambda w: w) if indices is None else (lambda w: [w[i] for i in indices])
    return np.stack([flatten(pick(w)) for w in snapshots]).astype(np.float64)


def pca_2d(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn PCA (centred, no whitening) to two components, fitted on all rows together.

    Returns:
        ``(coordinates, explained_variance_ratio)``: an (n_rows, 2) array and the share of
        the total variance carried by each of the two components.
    """
    pca = PCA(n_components=2, svd_solver="full")
    coords = pca.fit_transform(matrix)
    return coords, pca.explained_variance_ratio_


def filter_normalized_direction(weights: Weights, seed: int) -> list[np.ndarray]:
    """A Gaussian random direction, rescaled so each filter has the norm of that filter's weights.

    A filter is one output unit: a slice along the last axis of a kernel (a Dense column, a
    convolution's output channel). Biases (1-D weights) get a zero direction, as in Li et
    al.'s recommended setting, so the plot shows the effect of the weights' directions.
    """
    rng = np.random.default_rng(seed)
    direction = []
    for w in weights:
        w = np.asarray(w, dtype=np.float64)
        if w.ndim < 2:
            direction.append(np.zeros_like(w))
            continue
        d = rng.standard_normal(w.shape)
        axes = tuple(range(w.ndim - 1))
        d *= np.linalg.norm(w, axis=axes, keepdims=True) / np.maximum(np.linalg.norm(d, axis=axes, keepdims=True),
                                                                      1e-30)
        direction.append(d)
    return direction


def trajectory_directions(trajectory: Sequence[Weights]) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray,
                                                                    np.ndarray]:
    """Top-2 PCA directions of the offsets ``θ_t − θ_final`` of one trajectory (Li et al. 2018, §7).

    Returns:
        ``(d1, d2, coordinates, explained_variance_ratio)``: the two unit directions as weight
        lists, the (n_snapshots, 2) coordinates of every snapshot along them (the final point
        is at (0, 0)), and the variance share of each direction.
    """
    final = flatten(trajectory[-1]).astype(np.float64)
    offsets = snapshot_matrix(trajectory) - final
    pca = PCA(n_components=2, svd_solver="full").fit(offsets)
    # offsets are not centred in the projection: the final point must map to (0, 0) exactly
    coords = offsets @ pca.components_.T
    d1, d2 = (unflatten(c, [np.asarray(w, np.float64) for w in trajectory[-1]]) for c in pca.components_)
    return d1, d2, coords, pca.explained_variance_ratio_


def loss_grid(evaluator: Evaluator, center: Weights, d1: Sequence[np.ndarray], d2: Sequence[np.ndarray],
              alphas: np.ndarray, betas: np.ndarray, x: np.ndarray, y: np.ndarray,
              chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Full-set loss and accuracy at ``center + a·d1 + b·d2`` for every (a, b) of a grid.

    Grid points are evaluated ``chunk`` at a time (None: :data:`hw1.measure.constants.GRID_CHUNK`) as the "runs"
    of one compiled graph (the last chunk is padded, so the graph is traced once).

    Returns:
        ``(loss, accuracy)``, each of shape ``(len(betas), len(alphas))`` (row = b, column = a);
        accuracy is NaN for regression.
    """
    chunk = constants.GRID_CHUNK if chunk is None else chunk
    c, u, v = (flatten(w).astype(np.float64) for w in (center, d1, d2))
    aa, bb = np.meshgrid(np.asarray(alphas, np.float64), np.asarray(betas, np.float64))
    a, b = aa.reshape(-1, 1), bb.reshape(-1, 1)
    losses, accs = [], []
    for start in range(0, len(a), chunk):  # the points of one chunk at a time: memory is chunk × n, not grid × n
        part = c + a[start:start + chunk] * u + b[start:start + chunk] * v
        padded = np.concatenate([part, np.repeat(part[-1:], chunk - len(part), axis=0)]) if len(a) > chunk \
            else part
        loss, acc = evaluator(stack([unflatten(p, center) for p in padded]), x, y)
        losses.append(loss[:len(part)])
        accs.append(acc[:len(part)])
    return np.concatenate(losses).reshape(aa.shape), np.concatenate(accs).reshape(aa.shape)
