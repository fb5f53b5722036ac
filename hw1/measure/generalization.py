"""hw1's generalization measures on your own Keras model: sensitivity, ε-sharpness, interpolation, loss surfaces.

They take the model, data, ``loss=``, ``weights=`` and ``dtype=`` as :mod:`hw1.measure.api` does (see there), and
measure the mean loss over all the data in inference mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from hw1.measure import analysis, constants, trajectory
from hw1.measure.adapt import (DataChunks, ends_in_softmax, make_problem, model_view, outputs_are_probabilities,
                               resolve_loss, trial_call)
from hw1.measure.api import ChunkedEvaluator
from hw1.measure.checks import (MAX_EPSILON, MAX_GRID_POINTS, MAX_STEPS, check_argument, check_bytes, check_choice,
                                check_count, check_differentiable_inputs, check_dtype, check_flag, check_model,
                                check_number, check_weights, n_trainable)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["sensitivity", "sharpness", "interpolate", "loss_surface"]


# ---------------------------------------------------------------- generalization measures

def sensitivity(model: keras.Model, x: Any, *, loss: Any = None, weights: Sequence[Any] | None = None,
                per_sample: bool = False, dtype: str | None = None,
                batch_size: int | None = None) -> float | np.ndarray:
    """Sensitivity (Novak et al. 2018): ‖∂p(x)/∂x‖_F, the Frobenius norm of the Jacobian of the model's
    OUTPUT probabilities with respect to its INPUT, averaged over the samples.

    p is the softmax of a logit model's outputs, or the outputs themselves of a model ending in
    softmax (never a second softmax); for an MSE model, its raw outputs. Labels play no part,
    and no loss is needed: without one (an uncompiled model, ``loss=None``) p is the model's
    outputs as they are, so an uncompiled logit model is measured on its logits unless
    ``loss=`` says they are logits. Units: probability (output) per unit of input.

    The inputs must be floating point (an Embedding on integer ids has no input gradient: refused,
    naming the dtype); the model needs no trainable weights (a frozen model is measured too).

    Args:
        model: a built Keras model. Whether its outputs are logits is read from its last layer
            (softmax) or its loss (compiled, or ``loss=``).
        x: inputs as a float array, or a tf.data.Dataset of x or (x, y) batches.
        loss: None (the compiled loss, if any), or a loss as in :func:`hw1.evaluate`: only read to
            tell logits from outputs to take as they are.
        weights, dtype, batch_size: as in :func:`hw1.evaluate`.
        per_sample: return one value per sample instead of the mean.

    Example:
        >>> hw1.sensitivity(model, x_test)      # doctest: +SKIP
        0.412
    """
    check_model(model, trainable=False)
    check_argument("x", f"<tuple of {len(x)}>" if isinstance(x, tuple) else "", not isinstance(x, tuple),
                   "sensitivity takes the inputs alone: pass x, not (x, y)")
    check_dtype(dtype)
    per_sample = check_flag("per_sample", per_sample)
    known = loss is not None or getattr(model, "loss", None) is not None
    resolved = resolve_loss(model, loss) if known else None
    theta = check_weights(model, weights)
    data = DataChunks(x if isinstance(x, tf.data.Dataset) else (x, None), model, None, need_labels=False,
                      batch_size=batch_size)
    check_differentiable_inputs(model, data.first_inputs()[:2])
    softmax = False  # a model ending in softmax, or no loss to say otherwise: the outputs as they are
    if not ends_in_softmax(model) and resolved is not None:
        softmax = resolved.kind == "ce" and not outputs_are_probabilities(model, data, resolved)
    view = model_view(model, False, dtype)
    trial_call(view, data)
    norms = np.concatenate([analysis.input_jacobian_norms(view, theta, np.asarray(chunk), softmax=softmax)
                            for chunk in data.inputs()])
    return norms if per_sample else float(np.mean(norms))


def sharpness(model: keras.Model, data: Any, epsilon: float = 1e-3, *, steps: int = 20, starts: int = 1,
              seed: int = 0, loss: Any = None, weights: Sequence[Any] | None = None,
              dtype: str | None = None, batch_size: int | None = None) -> float:
    """ε-sharpness (Keskar et al. 2017) of the full-data mean loss L at the model's weights, in percent:

        100 · (max over |Δθᵢ| ≤ ε(|θᵢ| + 1) of L(θ + Δθ) − L(θ)) / (1 + L(θ)),

    over all trainable parameters, the maximum searched by ``steps`` of projected sign-gradient
    ascent from Δθ = 0 (and ``starts − 1`` random points of the box); a lower bound of the true max.

    Args:
        model, data, loss, weights, dtype, batch_size: as in :func:`hw1.evaluate`.
        epsilon: the box's relative half-width, in [0, 1] (Keskar et al.: 1e-3 and 5e-4).
        steps, starts, seed: the ascent (see :func:`hw1.measure.analysis.sharpness_on_batches`): steps in [0, 100,000],
            starts in [1, 100,000] (starts copies of the weights, at most 2 GiB), seed >= 0.

    Example:
        >>> hw1.sharpness(model, (x_train, y_train), epsilon=1e-3)   # doctest: +SKIP
        1.87
    """
    check_model(model)
    epsilon = check_number("epsilon", epsilon, 0, MAX_EPSILON)
    steps = check_count("steps", steps, 0, MAX_STEPS)
    starts = check_count("starts", starts, 1, MAX_STEPS)
    seed = check_count("seed", seed, 0)
    check_bytes(f"starts={starts} ({starts} copies of {n_trainable(model):,} float64 weights)",
                8 * 3 * starts * n_trainable(model))  # the perturbations, their bounds and gradients
    problem = make_problem(model, data, loss, weights, dtype, batch_size)
    return analysis.sharpness_on_batches(problem.view, problem.weights, problem.batches, problem.loss,
                                         epsilon=epsilon, steps=steps, starts=starts, seed=seed)


def interpolate(model_a: keras.Model, model_b: keras.Model, data: Any,
                alphas: Sequence[float] = tuple(np.linspace(-1.0, 2.0, 31)), *, loss: Any = None,
                dtype: str | None = None, batch_size: int | None = None) -> pd.DataFrame:
    """Full-data loss and accuracy of θα = (1 − α)·θa + α·θb, on the line through two models' weights.

    Both models must have the same architecture (trainable variable shapes); α = 0 is model_a,
    α = 1 is model_b, α outside [0, 1] extrapolates. The loss is model_a's (compiled or ``loss=``).

    Args:
        model_a, model_b: built models of one architecture.
        data, loss, dtype, batch_size: as in :func:`hw1.evaluate`.
        alphas: 1 to 10,000 finite numbers.

    Returns:
        One row per α: ``alpha, loss, accuracy`` (accuracy NaN for MSE, and where the loss is not finite).

    Example:
        >>> hw1.interpolate(small_batch_model, large_batch_model, (x_test, y_test))   # doctest: +SKIP
    """
    check_model(model_a)
    check_model(model_b)
    alphas = _check_reals("alphas", alphas, MAX_GRID_POINTS)
    end = [np.asarray(v.numpy()) for v in model_b.trainable_variables]
    start = [np.asarray(v.numpy()) for v in model_a.trainable_variables]
    if [w.shape for w in end] != [w.shape for w in start]:
        raise ValueError(f"model_b {model_b.name!r} has trainable shapes {[w.shape for w in end]}; model_a "
                         f"{model_a.name!r} has {[w.shape for w in start]} (same architecture needed)")
    check_weights(model_b, None)
    problem = make_problem(model_a, data, loss, None, dtype, batch_size)
    evaluate_all = ChunkedEvaluator(problem)
    chunk = constants.GRID_CHUNK  # memory: this many copies of the weights at a time
    parts = [evaluate_all(analysis.interpolation_points(problem.weights, end, alphas[i:i + chunk]))
             for i in range(0, len(alphas), chunk)]
    import pandas as pd

    return pd.DataFrame({"alpha": alphas, "loss": np.concatenate([p[0] for p in parts]),
                         "accuracy": np.concatenate([p[1] for p in parts])})


def _check_reals(name: str, values: Any, most: int) -> np.ndarray:
    """1 to ``most`` finite real numbers (a scalar or any sequence) as a flat float64 array; else one ValueError."""
    array = None
    try:
        array = np.asarray(values)
        ok = array.dtype.kind in "iuf" and 1 <= array.size <= most
    except (TypeError, ValueError):  # ragged
        ok = False
    if ok:
        array = array.astype(np.float64).reshape(-1)
        ok = bool(np.all(np.isfinite(array)))
    if not ok:
        size = array.size if isinstance(array, np.ndarray) else 1
        shown = repr(values) if size <= 10 else f"<{size:,} values>"
        raise ValueError(f"{name}={shown}; {name} must be 1 to {most:,} finite real numbers")
    return array


def _check_directions(directions: Any, dims: int, shapes: list[tuple]) -> list[list[np.ndarray]]:
    """``dims`` directions, each finite real arrays shaped like the trainable weights; else one ValueError."""
    wanted = f"directions must be 'filter' or {dims} lists of finite arrays shaped like the trainable weights {shapes}"
    try:
        chosen = [[np.asarray(a) for a in d] for d in directions]
    except (TypeError, ValueError):
        raise ValueError(f"directions is a {type(directions).__name__}; {wanted}") from None
    if len(chosen) != dims or any([a.shape for a in d] != shapes for d in chosen):
        raise ValueError(f"{len(chosen)} directions of shapes {[[a.shape for a in d] for d in chosen]}; {wanted}")
    for i, d in enumerate(chosen):
        for j, a in enumerate(d):
            if a.dtype.kind not in "iuf" or not np.all(np.isfinite(a)):
                raise ValueError(f"directions[{i}][{j}] is not finite real numbers (dtype {a.dtype}); {wanted}")
    return [[a.astype(np.float64) for a in d] for d in chosen]


def symmetric_axis(points: int) -> np.ndarray:
    """``points`` values from −1 to 1, evenly spaced and exactly symmetric (x and −x both, bit for bit; 0 itself
    for an odd count): the right half by ``numpy.linspace``, mirrored."""
    odd = points % 2 == 1
    right = np.linspace(0.0 if odd else 1.0 / (points - 1), 1.0, (points + 1) // 2)
    return np.concatenate([-right[:0:-1] if odd else -right[::-1], right])


def _check_extents(extent: Any, dims: int) -> tuple[float, float]:
    """``extent`` as (extent_a, extent_b): one positive number for both axes, or with dims=2 a pair of them."""
    if isinstance(extent, (tuple, list, np.ndarray)) and not isinstance(extent, str):
        if dims != 2 or len(extent) != 2:
            raise ValueError(f"extent={extent!r}; a pair (extent_a, extent_b) is for dims=2, else give one number")
        return (check_number("extent[0]", extent[0], 0, low_open=True),
                check_number("extent[1]", extent[1], 0, low_open=True))
    extent = check_number("extent", extent, 0, low_open=True)
    return extent, extent


def loss_surface(model: keras.Model, data: Any, directions: Any = "filter", *, dims: int = 2, extent: float = 1.0,
                 points: int = 21, seed: int = 0, loss: Any = None, weights: Sequence[Any] | None = None,
                 dtype: str | None = None, batch_size: int | None = None) -> pd.DataFrame:
    """The full-data loss around the model's weights θ, on a 1-D line or a 2-D plane: L(θ + a·d1 + b·d2).

    Args:
        model, data, loss, weights, dtype, batch_size: as in :func:`hw1.evaluate`.
        directions: "filter": Gaussian random directions normalized filter by filter to the
            weights' norms, biases zero (Li et al. 2018); or a list of ``dims`` directions, each
            a list of arrays shaped like the trainable weights.
        dims: 1 (a line; b = 0) or 2 (a plane).
        extent: a and b range over [−extent, extent] (in units of the directions: 1 = the
            weights' own filter norms for "filter"); a positive number, or with dims=2 a pair of them
            ``(extent_a, extent_b)``, one per axis.
        points: grid points per axis, an integer >= 2 with points ** dims <= 10,000 (each point
            is one pass over the data; memory holds 128 points' weights at a time). Each axis is
            symmetric about 0 (an odd number of points has the model's own weights at its centre, exactly).
        seed: seeds the random directions (d2 uses seed + 1), an integer >= 0.

    Returns:
        One row per grid point: ``a, b, loss, accuracy`` (b = 0 for dims=1; accuracy NaN for MSE,
        and where the loss is not finite).

    Example:
        >>> surface = hw1.loss_surface(model, (x_train, y_train), points=31)   # doctest: +SKIP
        >>> surface.pivot(index="b", columns="a", values="loss")               # doctest: +SKIP
    """
    check_model(model)
    dims = check_count("dims", dims, 1, 2)
    points = check_count("points", points, 2)
    if points ** dims > MAX_GRID_POINTS:
        raise ValueError(f"points={points} with dims={dims} makes {points ** dims:,} grid points; hw1 evaluates at "
                         f"most {MAX_GRID_POINTS:,} (points <= {int(MAX_GRID_POINTS ** (1 / dims) + 1e-9):,} for "
                         f"dims={dims})")
    extents = _check_extents(extent, dims)
    seed = check_count("seed", seed, 0)
    if isinstance(directions, str):
        check_choice("directions", directions, ("filter",))
    problem = make_problem(model, data, loss, weights, dtype, batch_size)
    shapes = [w.shape for w in problem.weights]
    if isinstance(directions, str):
        chosen = [trajectory.filter_normalized_direction(problem.weights, seed + i) for i in range(dims)]
    else:
        chosen = _check_directions(directions, dims, shapes)
    d1 = chosen[0]
    d2 = chosen[1] if dims == 2 else [np.zeros(s) for s in shapes]
    unit = symmetric_axis(points)
    alphas, betas = unit * extents[0], (unit * extents[1] if dims == 2 else np.zeros(1))
    losses, accs = trajectory.loss_grid(ChunkedEvaluator(problem), problem.weights, d1, d2, alphas, betas, None, None)
    aa, bb = np.meshgrid(alphas, betas)
    import pandas as pd

    return pd.DataFrame({"a": aa.ravel(), "b": bb.ravel(), "loss": losses.ravel(), "accuracy": accs.ravel()})
