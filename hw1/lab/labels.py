"""HW1-3a's data: the same images with uniformly random training labels (numpy only)."""

from __future__ import annotations

import dataclasses

import numpy as np

from hw1.lab.validate import Dataset

__all__ = ["random_labels", "random_label_dataset"]


def random_labels(y: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
    """Labels drawn uniformly at random from ``0..num_classes-1`` with a fixed seed (same length as ``y``)."""
    return np.random.default_rng(seed).integers(0, num_classes, size=len(y)).astype(np.int32)


def random_label_dataset(dataset: Dataset, seed: int) -> Dataset:
    """``dataset`` with every TRAINING label replaced by one drawn uniformly from its classes.

    The images and the test set (labels included) are untouched, so test accuracy measures
    what the memorized labels say about real digits: chance, ``1 / num_classes``.
    About ``1 − 1/num_classes`` of the training labels change.

    Raises:
        ValueError: ``dataset`` is a regression set (no classes).
    """
    if not dataset.num_classes:
        raise ValueError(f"dataset {dataset.name!r} has no classes; random labels need a classification set")
    labels = random_labels(dataset.y_train, dataset.num_classes, seed)
    return dataclasses.replace(dataset, y_train=labels,
                               source=f"{dataset.source}; training labels uniformly random (seed {seed})")
