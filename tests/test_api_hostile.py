"""The public measurements (hw1.measure) on hostile arguments: every function × every class of bad argument gives
one ValueError (or TypeError) line naming the value; the valid cases these checks must not refuse (integer inputs,
numpy scalars, frozen or uncompiled models for sensitivity, datasets of unknown size) give numbers checked against
an independent computation: the exact Hessian of a linear model under MSE, H = kron(2·X̃ᵀX̃/(N·K), I_K), and
numpy finite differences."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import hw1
from hw1.measure import adapt

RNG = np.random.default_rng(7)
N, D, K = 40, 4, 3
X = RNG.standard_normal((N, D))
Y = RNG.integers(0, K, N).astype(np.int32)
TARGETS = RNG.standard_normal((N, 2))
CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def mlp(name: str = "mlp", compiled: bool = True, softmax: bool = False) -> keras.Sequential:
    model = keras.Sequential([keras.Input((D,), dtype="float64"),
                              keras.layers.Dense(5, activation="tanh", dtype="float64", name="hidden"),
                              keras.layers.Dense(K, activation="softmax" if softmax else None, dtype="float64",
                                                 name="out")], name=name)
    if compiled:
        model.compile(loss="sparse_categorical_crossentropy" if softmax else CE)
    return model


def linear(name: str = "linear", outputs: int = 2) -> keras.Sequential:
    model = keras.Sequential([keras.Input((D,), dtype="float64"), keras.layers.Dense(outputs, dtype="float64")],
                             name=name)
    model.compile(loss="mse")
    return model


def embedding_net(input_dtype: str = "int32") -> keras.Sequential:
    model = keras.Sequential([keras.Input((3,), dtype=input_dtype), keras.layers.Embedding(5, 2, dtype="float64"),
                              keras.layers.Flatten(dtype="float64"), keras.layers.Dense(K, dtype="float64")],
                             name=f"embedding_{input_dtype}")
    model.compile(loss=CE)
    return model


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(3)
    nan = mlp("nan_weights")
    kernel = nan.layers[0].kernel.numpy()
    kernel[2, 1] = np.nan
    nan.layers[0].kernel.assign(kernel)
    frozen = mlp("frozen", softmax=True)
    frozen.trainable = False
    return {"good": mlp("good"), "nan": nan, "frozen": frozen, "unbuilt": keras.Sequential([keras.layers.Dense(3)])}


# ---------------------------------------------------------------- every public function, called one way

def call(function: str, model, data, **kwargs):
    """``hw1.<function>`` on ``model`` and ``data`` (inputs only for sensitivity; model → model for interpolate)."""
    fn = getattr(hw1, function)
    if function == "sensitivity":
        if isinstance(data, tuple):
            data = data[0]
        return fn(model, data, **kwargs)
    if function == "interpolate":
        return fn(model, model, data, **kwargs)
    small = {"hessian_trace": {"probes": 2}, "hessian_density": {"steps": 3, "grid_points": 10},
             "sharpness": {"steps": 1}, "loss_surface": {"dims": 1, "points": 2}}.get(function, {})
    return fn(model, data, **{**small, **kwargs})


FUNCTIONS = ["evaluate", "gradient_norm", "hessian_eigenvalues", "hessian_trace", "hessian_density", "exact_hessian",
             "minimal_ratio", "sensitivity", "sharpness", "interpolate", "loss_surface"]
LABELLED = [f for f in FUNCTIONS if f != "sensitivity"]
WITH_WEIGHTS = [f for f in FUNCTIONS if f != "interpolate"]


def unknown_size(x: np.ndarray, y: np.ndarray | None = None, keep: int = 10 ** 9) -> tf.data.Dataset:
    """A finite dataset whose cardinality tf.data cannot know (a filter), batches of 8."""
    data = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y)).enumerate()
    return data.filter(lambda i, _: i < keep).map(lambda _, item: item).batch(8)


def endless(batch: int = 8) -> tf.data.Dataset:
    """An infinite dataset of unknown cardinality (from_generator never ends)."""
    def batches():
        while True:
            yield X[:batch], Y[:batch]

    spec = (tf.TensorSpec((None, D), tf.float64), tf.TensorSpec((None,), tf.int32))
    return tf.data.Dataset.from_generator(batches, output_signature=spec)


def data_cases(models) -> list[tuple[str, object, object, type, str]]:
    """(class, model, data, exception, fragment of the message): every class on the model and data side."""
    x_nan = X.copy()
    x_nan[13, 2] = np.nan
    strings = np.array([["a"] * D] * N)
    return [
        ("not a model", "model", (X, Y), TypeError, "is a str"),
        ("unbuilt", models["unbuilt"], (X, Y), ValueError, "never built"),
        ("nan weights", models["nan"], (X, Y), ValueError, "'nan_weights/hidden/kernel' holds nan at [2, 1]"),
        ("nan in x", models["good"], (x_nan, Y), ValueError, "x is not finite: sample 13 holds nan at [2]"),
        ("nan in a dataset batch", models["good"], tf.data.Dataset.from_tensor_slices((x_nan, Y)).batch(8),
         ValueError, "sample 13 holds nan"),
        ("string x", models["good"], (strings, Y), ValueError, "dtype <U1"),
        ("x of the wrong shape", models["good"], (X[:, :3], Y), ValueError, "shape (40, 3)"),
        ("empty dataset", models["good"], tf.data.Dataset.from_tensor_slices((X, Y)).take(0).batch(4), ValueError,
         "empty tf.data.Dataset (cardinality 0)"),
        ("empty dataset of unknown size", models["good"], unknown_size(X, Y, keep=0), ValueError,
         "empty tf.data.Dataset (no samples"),
        ("infinite dataset", models["good"], tf.data.Dataset.from_tensor_slices((X, Y)).batch(8).repeat(),
         ValueError, "infinite"),
        ("a dataset longer than it says", models["good"],
         unknown_size(X, Y).unbatch().apply(tf.data.experimental.assert_cardinality(2)).batch(8), ValueError,
         "reading the tf.data.Dataset failed after 0 samples: Input dataset was expected to contain 2 elements"),
        ("dict data", models["good"], {"x": X}, TypeError, "dict"),
        ("sample weights", models["good"], tf.data.Dataset.from_tensor_slices((X, Y, np.ones(N))).batch(8),
         ValueError, "3-element"),
        ("unknown loss", models["good"], (X, Y), ValueError, "loss='hinge'"),
        ("bad dtype", models["good"], (X, Y), ValueError, "dtype='float16'"),
    ]


EXTRA = {"unknown loss": {"loss": "hinge"}, "bad dtype": {"dtype": "float16"}}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_refuses_bad_models_and_data_in_one_line_naming_the_value(function, models):
    for name, model, data, kind, fragment in data_cases(models):
        if function == "sensitivity" and name in ("sample weights",):
            continue  # sensitivity takes x or (x, y) batches: a third element is not its concern
        with pytest.raises(kind) as error:
            call(function, model, data, **EXTRA.get(name, {}))
        message = str(error.value)
        assert fragment in message and "\n" not in message, (function, name, message)


def label_cases(models) -> list[tuple[str, object, object, str]]:
    y_inf = TARGETS.copy()
    y_inf[5, 1] = np.inf
    return [
        ("no labels", models["good"], (X, None), "data=(x, None)"),
        ("labels out of range", models["good"], (X, Y + 1), "labels range over [1, 3]; the model has 3 classes"),
        ("labels of another length", models["good"], (X, Y[:-1]), "y has 39"),
        ("inf in regression targets", linear(), (X, y_inf), "y is not finite: sample 5 holds inf at [1]"),
        ("string labels", models["good"], (X, np.array(["a"] * N)), "dtype <U1"),
        ("frozen model", models["frozen"], (X, Y), "'frozen' has no trainable weights"),
        ("uncompiled model", mlp("bare", compiled=False), (X, Y), "'bare' is not compiled; pass loss="),
    ]


@pytest.mark.parametrize("function", LABELLED)
def test_every_loss_measurement_refuses_bad_labels_and_models_without_a_loss_or_trainable_weights(function, models):
    for name, model, data, fragment in label_cases(models):
        with pytest.raises(ValueError) as error:
            call(function, model, data)
        message = str(error.value)
        assert fragment in message and "\n" not in message, (function, name, message)


@pytest.mark.parametrize("function", WITH_WEIGHTS)
def test_weights_of_the_wrong_shape_or_not_finite_are_refused(function, models):
    good = models["good"].get_weights()
    nan = [w.copy() for w in good]
    nan[2][4, 0] = np.inf
    cases = [([np.zeros(3)], "weights have shapes"), (nan, "weights[2] 'good/out/kernel' holds inf at [4, 0]"),
             ([w.astype(str) for w in good], "weights[0] (good/hidden/kernel) has dtype <U"),
             (X, "weights is a ndarray")]
    for weights, fragment in cases:
        with pytest.raises(ValueError) as error:
            call(function, models["good"], (X, Y), weights=weights)
        assert fragment in str(error.value) and "\n" not in str(error.value), (function, str(error.value))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_dataset_of_unknown_size_is_read_up_to_the_stated_cap(function, models, monkeypatch):
    monkeypatch.setattr(adapt, "MAX_UNKNOWN_SAMPLES", 24)
    with pytest.raises(ValueError) as error:
        call(function, models["good"], endless())
    assert "more than 24 samples in one pass" in str(error.value) and "assert_cardinality" in str(error.value)


def test_the_cap_itself_on_an_endless_repeat_filter_dataset():
    model = mlp("capped")
    endless_filtered = tf.data.Dataset.from_tensor_slices((X, Y)).repeat().filter(lambda x, y: y >= 0).batch(5000)
    assert int(endless_filtered.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    for function in ("evaluate", "gradient_norm"):
        with pytest.raises(ValueError, match=r"more than 100,000 samples in one pass"):
            getattr(hw1, function)(model, endless_filtered)


# ---------------------------------------------------------------- the arguments of each function

ARGUMENTS = [
    ("hessian_eigenvalues", {"k": 0}, "k=0"), ("hessian_eigenvalues", {"k": True}, "k=True"),
    ("hessian_eigenvalues", {"k": 1.5}, "k=1.5"), ("hessian_eigenvalues", {"k": "2"}, "k='2'"),
    ("hessian_eigenvalues", {"k": 44}, "k=44; the model has only 43 parameters"),
    ("hessian_eigenvalues", {"which": "middle"}, "which='middle'"), ("hessian_eigenvalues", {"which": 1}, "which=1"),
    ("hessian_eigenvalues", {"rtol": 2.0}, "rtol=2.0"), ("hessian_eigenvalues", {"rtol": 0}, "rtol=0"),
    ("hessian_eigenvalues", {"rtol": float("nan")}, "rtol=nan"), ("hessian_eigenvalues", {"rtol": True}, "rtol=True"),
    ("hessian_eigenvalues", {"rtol": "1e-3"}, "rtol='1e-3'"),
    ("hessian_eigenvalues", {"max_iterations": 0}, "max_iterations=0"),
    ("hessian_eigenvalues", {"max_iterations": 10 ** 6}, "max_iterations=1000000"),
    ("hessian_eigenvalues", {"seed": -1}, "seed=-1"), ("hessian_eigenvalues", {"seed": True}, "seed=True"),
    ("hessian_trace", {"probes": 1}, "probes=1"), ("hessian_trace", {"probes": True}, "probes=True"),
    ("hessian_trace", {"probes": 10 ** 9}, "probes=1000000000"), ("hessian_trace", {"seed": 0.5}, "seed=0.5"),
    ("hessian_density", {"probes": 0}, "probes=0"), ("hessian_density", {"steps": 1}, "steps=1"),
    ("hessian_density", {"steps": np.True_}, "steps=np.True_"), ("hessian_density", {"sigma": 0}, "sigma=0"),
    ("hessian_density", {"sigma": float("inf")}, "sigma=inf"), ("hessian_density", {"sigma": "a"}, "sigma='a'"),
    ("hessian_density", {"grid_points": 9}, "grid_points=9"),
    ("hessian_density", {"grid_points": 10 ** 7}, "grid_points=10000000"),
    ("exact_hessian", {"max_params": 10}, "max_params=10: model 'good' has 43 parameters"),
    ("exact_hessian", {"max_params": True}, "max_params=True"),
    ("minimal_ratio", {"tol": -1.0}, "tol=-1.0"), ("minimal_ratio", {"tol": float("nan")}, "tol=nan"),
    ("minimal_ratio", {"tol": True}, "tol=True"),
    ("sensitivity", {"per_sample": "yes"}, "per_sample='yes'"),
    ("sharpness", {"epsilon": -1.0}, "epsilon=-1.0"),
    ("sharpness", {"epsilon": 1e300}, "epsilon=1e+300; epsilon must be a real number in [0, 1]"),
    ("sharpness", {"epsilon": float("nan")}, "epsilon=nan"), ("sharpness", {"epsilon": True}, "epsilon=True"),
    ("sharpness", {"epsilon": "1e-3"}, "epsilon='1e-3'"), ("sharpness", {"steps": -1}, "steps=-1"),
    ("sharpness", {"starts": 0}, "starts=0"), ("sharpness", {"starts": True}, "starts=True"),
    ("interpolate", {"alphas": []}, "alphas=[]"), ("interpolate", {"alphas": [0.0, float("nan")]}, "alphas=[0.0, nan]"),
    ("interpolate", {"alphas": "abc"}, "alphas='abc'"),
    ("interpolate", {"alphas": np.zeros(10_001)}, "alphas=<10,001 values>; alphas must be 1 to 10,000"),
    ("loss_surface", {"dims": 3}, "dims=3"), ("loss_surface", {"dims": True}, "dims=True"),
    ("loss_surface", {"dims": 1.0}, "dims=1.0"), ("loss_surface", {"points": 1}, "points=1"),
    ("loss_surface", {"points": True}, "points=True"),
    ("loss_surface", {"points": 10 ** 6}, "points=1000000 with dims=1 makes 1,000,000 grid points; hw1 evaluates at "
                                          "most 10,000"),
    ("loss_surface", {"points": 101, "dims": 2}, "(points <= 100 for dims=2)"),
    ("loss_surface", {"extent": 0}, "extent=0"), ("loss_surface", {"extent": float("inf")}, "extent=inf"),
    ("loss_surface", {"extent": (1.0, 0.0), "dims": 2}, "extent[1]=0.0"),
    ("loss_surface", {"extent": (1.0,), "dims": 2}, "extent=(1.0,); a pair"),
    ("loss_surface", {"extent": (1.0, 2.0), "dims": 1}, "extent=(1.0, 2.0); a pair (extent_a, extent_b) is for dims=2"),
    ("loss_surface", {"directions": "pca"}, "directions='pca'"),
    ("loss_surface", {"directions": 3}, "directions is a int"),
    ("loss_surface", {"directions": [[np.zeros(2)]]}, "1 directions of shapes [[(2,)]]"),
]


def test_every_bad_argument_is_refused_in_one_line_naming_it(models):
    for function, kwargs, fragment in ARGUMENTS:
        with pytest.raises(ValueError) as error:
            call(function, models["good"], (X, Y), **kwargs)
        message = str(error.value)
        assert fragment in message and "\n" not in message, (function, kwargs, message)
    d = [np.full(w.shape, np.nan) for w in models["good"].get_weights()]
    with pytest.raises(ValueError, match=r"directions\[0\]\[0\] is not finite"):
        hw1.loss_surface(models["good"], (X, Y), [d], dims=1, points=2)
    other = keras.Sequential([keras.Input((D,), dtype="float64"), keras.layers.Dense(K, dtype="float64")])
    with pytest.raises(ValueError, match="same architecture"):
        hw1.interpolate(models["good"], other, (X, Y))
    with pytest.raises(ValueError, match="'nan_weights/hidden/kernel' holds nan"):
        hw1.interpolate(models["good"], models["nan"], (X, Y))


def test_numpy_scalars_are_accepted_wherever_python_numbers_are(models):
    model, data = models["good"], (X, Y)
    assert hw1.hessian_eigenvalues(model, data, k=np.int64(2), rtol=np.float32(1e-3), max_iterations=np.int32(40),
                                   seed=np.uint8(1)) == pytest.approx(
        hw1.hessian_eigenvalues(model, data, k=2, rtol=1e-3, max_iterations=40, seed=1), rel=1e-12)
    assert hw1.hessian_trace(model, data, probes=np.int32(5), seed=np.int64(2)) == pytest.approx(
        hw1.hessian_trace(model, data, probes=5, seed=2), rel=1e-12)
    assert hw1.sharpness(model, data, np.float32(1e-2), steps=np.int16(2), starts=np.int64(2)) == pytest.approx(
        hw1.sharpness(model, data, float(np.float32(1e-2)), steps=2, starts=2), rel=1e-12)
    assert hw1.minimal_ratio(model, data, tol=np.float64(1e-8)) == hw1.minimal_ratio(model, data, tol=1e-8)
    np.testing.assert_allclose(hw1.loss_surface(model, data, dims=np.int64(1), points=np.int32(3),
                                                extent=np.float32(0.5)).loss,
                               hw1.loss_surface(model, data, dims=1, points=3, extent=0.5).loss, rtol=1e-12)
    density = hw1.hessian_density(model, data, probes=np.int64(1), steps=np.int32(5), sigma=np.float32(0.1),
                                  grid_points=np.int64(20))
    assert len(density.grid) == 20 and density.sigma == pytest.approx(0.1, rel=1e-7)
    assert hw1.sensitivity(model, X, per_sample=np.bool_(True)).shape == (N,)


# ---------------------------------------------------------------- numbers: a linear model under MSE, exactly

def test_linear_model_under_mse_matches_the_exact_hessian_and_closed_forms():
    model = linear()
    W, b = model.get_weights()
    Xt = np.hstack([X, np.ones((N, 1))])  # θ = (W raveled in C order, b): row i of [W; b] holds output k at i·K + k
    outputs = TARGETS.shape[1]
    H = np.kron(2 * Xt.T @ Xt / (N * outputs), np.eye(outputs))  # hw1's MSE: mean over outputs, then samples
    residual = X @ W + b - TARGETS
    data = (X, TARGETS)
    np.testing.assert_allclose(hw1.exact_hessian(model, data), H, atol=1e-12)
    assert hw1.evaluate(model, data) == pytest.approx({"loss": np.mean(residual ** 2)}, rel=1e-12)
    gradient = (2 * Xt.T @ residual / (N * outputs)).ravel()
    assert hw1.gradient_norm(model, data) == pytest.approx(np.linalg.norm(gradient), rel=1e-10)
    eigenvalues = np.linalg.eigvalsh(H)
    # one output: H = 2·X̃ᵀX̃/N, whose eigenvalues are distinct (kron(·, I_K) repeats each K times, and one Krylov
    # space holds one copy of each: see the report)
    single = linear("single", outputs=1)
    distinct = np.linalg.eigvalsh(2 * Xt.T @ Xt / N)
    assert hw1.hessian_eigenvalues(single, (X, TARGETS[:, 0]), k=3, rtol=1e-10) == pytest.approx(
        distinct[::-1][:3], rel=1e-8)
    assert hw1.hessian_eigenvalues(model, data, which="smallest", rtol=1e-10)[0] == pytest.approx(eigenvalues[0],
                                                                                                   rel=1e-8)
    trace, stderr, probes = hw1.hessian_trace(model, data, probes=200, seed=4)
    expected_stderr = np.sqrt(2 * (np.sum(H ** 2) - np.sum(np.diag(H) ** 2)) / probes)  # Rademacher: exact variance
    assert 0.75 * expected_stderr < stderr < 1.25 * expected_stderr and abs(trace - np.trace(H)) < 4 * stderr
    assert hw1.minimal_ratio(model, data) == 1.0  # X̃ has full column rank: H is positive definite
    density = hw1.hessian_density(model, data, probes=2, steps=H.shape[0], seed=2)
    assert density.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.min(np.abs(density.nodes[:, None] - eigenvalues[None, :]), axis=1) < 1e-8 * eigenvalues[-1])
    # a quadratic is exact along any line: L(θ + a·d) = L + a·gᵀd + a²/2·dᵀHd
    d = [RNG.standard_normal(W.shape), RNG.standard_normal(b.shape)]
    flat = np.concatenate([a.ravel() for a in d])
    line = hw1.loss_surface(model, data, [d], dims=1, points=5, extent=2.0)
    a = np.linspace(-2.0, 2.0, 5)
    quadratic = np.mean(residual ** 2) + a * (gradient @ flat) + a ** 2 / 2 * (flat @ H @ flat)
    np.testing.assert_allclose(line.loss, quadratic, rtol=1e-10)
    assert line.accuracy.isna().all()
    # and on a plane with an extent per axis: a over [-2, 2], b over [-0.5, 0.5], the centre exactly θ
    e = [RNG.standard_normal(W.shape), RNG.standard_normal(b.shape)]
    other_flat = np.concatenate([a.ravel() for a in e])
    plane = hw1.loss_surface(model, data, [d, e], points=5, extent=(2.0, 0.5))
    a, c = np.meshgrid(np.linspace(-2.0, 2.0, 5), np.linspace(-0.5, 0.5, 5))
    step = a.ravel()[:, None] * flat + c.ravel()[:, None] * other_flat
    quadratic = np.mean(residual ** 2) + step @ gradient + 0.5 * np.einsum("ij,jk,ik->i", step, H, step)
    np.testing.assert_allclose(plane.loss, quadratic, rtol=1e-10)
    assert (plane.a.to_numpy() == a.ravel()).all() and (plane.b.to_numpy() == c.ravel()).all()
    assert plane.loss[(plane.a == 0) & (plane.b == 0)].item() == hw1.evaluate(model, data)["loss"]
    other = linear("other")
    W2, b2 = other.get_weights()
    path = hw1.interpolate(model, other, data, [0.0, 0.25, 1.0, 3.0])
    for alpha, value in zip(path.alpha, path.loss):
        moved = X @ ((1 - alpha) * W + alpha * W2) + (1 - alpha) * b + alpha * b2 - TARGETS
        assert value == pytest.approx(np.mean(moved ** 2), rel=1e-10)


def test_a_dataset_of_unknown_but_finite_size_gives_the_numbers_of_the_arrays():
    model = linear("unknown")
    data = unknown_size(X, TARGETS)
    assert int(data.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    assert hw1.evaluate(model, data) == pytest.approx(hw1.evaluate(model, (X, TARGETS)), rel=1e-12)
    assert hw1.hessian_trace(model, data, probes=3) == pytest.approx(hw1.hessian_trace(model, (X, TARGETS),
                                                                                       probes=3), rel=1e-10)
    assert hw1.sensitivity(model, unknown_size(X)) == pytest.approx(hw1.sensitivity(model, X), rel=1e-12)


# ---------------------------------------------------------------- numbers: integer inputs, by finite differences

def numpy_loss(theta: np.ndarray, ids: np.ndarray, y: np.ndarray) -> float:
    """Mean softmax cross-entropy of Embedding(5, 2) → Flatten → Dense(3) on token ids (independent of hw1)."""
    table, kernel, bias = theta[:10].reshape(5, 2), theta[10:28].reshape(6, K), theta[28:]
    logits = table[ids].reshape(len(ids), -1) @ kernel + bias
    logits = logits - logits.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(len(y)), y]))


def test_integer_inputs_are_measured_with_respect_to_the_parameters_and_refused_by_sensitivity():
    keras.utils.set_random_seed(5)
    model = embedding_net()
    ids = RNG.integers(0, 5, (30, 3)).astype(np.int32)
    y = RNG.integers(0, K, 30)
    theta = np.concatenate([w.ravel() for w in model.get_weights()])
    assert theta.size == 31
    step = 1e-4
    basis = np.eye(theta.size) * step
    gradient = np.array([(numpy_loss(theta + e, ids, y) - numpy_loss(theta - e, ids, y)) / (2 * step) for e in basis])
    hessian = np.array([[(numpy_loss(theta + e + f, ids, y) - numpy_loss(theta + e - f, ids, y)
                          - numpy_loss(theta - e + f, ids, y) + numpy_loss(theta - e - f, ids, y)) / (4 * step ** 2)
                         for f in basis] for e in basis])
    data = (ids, y)
    assert hw1.evaluate(model, data)["loss"] == pytest.approx(numpy_loss(theta, ids, y), rel=1e-12)
    assert hw1.gradient_norm(model, data) == pytest.approx(np.linalg.norm(gradient), rel=1e-7)
    np.testing.assert_allclose(hw1.exact_hessian(model, data), hessian, atol=1e-6)
    assert hw1.hessian_eigenvalues(model, data, k=2, rtol=1e-9) == pytest.approx(
        np.linalg.eigvalsh(hessian)[::-1][:2], rel=1e-5)
    with pytest.raises(ValueError, match=r"^x has dtype int32; sensitivity differentiates"):
        hw1.sensitivity(model, ids)
    with pytest.raises(ValueError, match=r"model 'embedding_int32' takes int32 inputs"):
        hw1.sensitivity(model, ids.astype(np.float64))
    float_ids = embedding_net("float64")  # the same lookup behind a float Input: no input gradient either
    with pytest.raises(ValueError, match=r"outputs do not depend differentiably on its inputs"):
        hw1.sensitivity(float_ids, ids.astype(np.float64))


# ---------------------------------------------------------------- sensitivity needs no loss and no trainable weights

def numeric_sensitivity(function, x: np.ndarray, step: float = 1e-6) -> np.ndarray:
    columns = [(function(x + step * e) - function(x - step * e)) / (2 * step) for e in np.eye(x.shape[1])]
    return np.sqrt(sum(np.sum(c ** 2, axis=1) for c in columns))


def test_sensitivity_of_frozen_and_uncompiled_models_equals_finite_differences(models):
    frozen = models["frozen"]  # ends in softmax, trainable = False
    expected = numeric_sensitivity(lambda z: frozen(z, training=False).numpy(), X[:8])
    np.testing.assert_allclose(hw1.sensitivity(frozen, X[:8], per_sample=True), expected, rtol=1e-6)
    bare = mlp("uncompiled", compiled=False)  # no loss: the outputs as they are
    raw = numeric_sensitivity(lambda z: bare(z, training=False).numpy(), X[:8])
    np.testing.assert_allclose(hw1.sensitivity(bare, X[:8], per_sample=True), raw, rtol=1e-6)
    told = numeric_sensitivity(lambda z: tf.nn.softmax(bare(z, training=False)).numpy(), X[:8])
    np.testing.assert_allclose(hw1.sensitivity(bare, X[:8], loss=CE, per_sample=True), told, rtol=1e-6)
    assert not np.allclose(raw, told)


# ---------------------------------------------------------------- overflow: no accuracy next to a NaN loss

def test_a_loss_that_overflows_comes_with_no_accuracy_and_stops_the_curvature_in_one_line():
    model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(K)], name="huge")
    model.compile(loss=CE)
    model.set_weights([np.full((D, K), 3e38, np.float32), np.zeros(K, np.float32)])  # finite, but x·W overflows
    x = np.abs(X).astype(np.float32) + 1.0
    result = hw1.evaluate(model, (x, Y))
    assert not np.isfinite(result["loss"]) and np.isnan(result["accuracy"])
    with pytest.raises(ValueError, match=r"^a Hessian-vector product is not finite \(an overflow in float32\)"):
        hw1.hessian_eigenvalues(model, (x, Y))
    with pytest.raises(ValueError, match=r"^the loss is not finite inside the box epsilon=0.001"):
        hw1.sharpness(model, (x, Y))
    with np.errstate(over="ignore"):  # the directions, scaled like the weights, overflow float32 too
        surface = hw1.loss_surface(model, (x, Y), dims=1, points=3)
    assert surface.accuracy.isna().all()
