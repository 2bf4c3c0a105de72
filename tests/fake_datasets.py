"""Small datasets written in the real on-disk formats (CIFAR python pickles, CIFAR-10.1 .npy files,
an ImageFolder tree of PNGs), so the real loaders are exercised without the network."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def _rows(rng: np.random.Generator, n: int) -> np.ndarray:
    # CIFAR's row layout: 1024 red, then 1024 green, then 1024 blue values per image.
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)


def _dump(path: Path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def write_cifar10(root: Path, per_batch: int = 4, test: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    """cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = [], []
    for i in range(1, 6):
        x, y = _rows(rng, per_batch), rng.integers(0, 10, per_batch).tolist()
        _dump(folder / f"data_batch_{i}", {"batch_label": f"training batch {i} of 5", "data": x, "labels": y,
                                           "filenames": [f"img{i}_{j}.png" for j in range(per_batch)]})
        train_x.append(x)
        train_y += y
    x, y = _rows(rng, test), rng.integers(0, 10, test).tolist()
    _dump(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "data": x, "labels": y})
    _dump(folder / "batches.meta", {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                    "horse", "ship", "truck"], "num_cases_per_batch": per_batch,
                                    "num_vis": 3072})
    return {"train_x": np.concatenate(train_x), "train_y": np.array(train_y), "test_x": x, "test_y": np.array(y)}


def write_cifar100(root: Path, train: int = 10, test: int = 5, seed: int = 1) -> dict[str, np.ndarray]:
    """cifar-100-python/{train, test, meta}."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", train), ("test", test)):
        x, fine = _rows(rng, n), rng.integers(0, 100, n).tolist()
        _dump(folder / split, {"data": x, "fine_labels": fine, "coarse_labels": [f // 5 for f in fine]})
        out[f"{split}_x"], out[f"{split}_y"] = x, np.array(fine)
    _dump(folder / "meta", {"fine_label_names": [f"class{i}" for i in range(100)],
                            "coarse_label_names": [f"super{i}" for i in range(20)]})
    return out


def write_cifar101(root: Path, version: str = "v6", n: int = 7, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, n).astype(np.int64)
    Path(root).mkdir(parents=True, exist_ok=True)
    np.save(Path(root) / f"cifar10.1_{version}_data.npy", x)
    np.save(Path(root) / f"cifar10.1_{version}_labels.npy", y)
    return x, y


def write_image_folder(root: Path, classes=("ant", "bee", "cat"), per_class: int = 2, size: int = 12,
                       seed: int = 3) -> Path:
    """ROOT/{train,val}/CLASS/*.png."""
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for c in classes:
            d = Path(root) / split / c
            d.mkdir(parents=True, exist_ok=True)
            for j in range(per_class):
                Image.fromarray(rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)).save(d / f"{j}.png")
    return Path(root)


def cifar_image(rows: np.ndarray, i: int) -> np.ndarray:
    """Image i of CIFAR rows as H x W x 3."""
    return rows[i].reshape(3, 32, 32).transpose(1, 2, 0)
