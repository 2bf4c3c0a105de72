"""Datasets and their transforms: CIFAR-10/100, CIFAR-10.1, ImageNet (ImageFolder) and sklearn's digits.

    info = dataset_info("cifar10")                        # classes, input size, mean/std, model family
    train = load_dataset("cifar10", "train", "data", transform=build_transform("cifar10", True, cutout=16))

Every loader yields `(float tensor CxHxW, int label)`; without a `transform` it applies the
dataset's evaluation transform. A dataset that is missing, corrupt or inconsistent raises
`DataError` with one line: what, where it looked, how to fix it. Nothing is downloaded unless
`download=True` (the CLI's `--download`).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from timm.data import create_transform
from torchvision import datasets
from torchvision import transforms as T
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import default_loader
from torchvision.datasets.utils import download_url

from .errors import DataError, closest
from .network import CIFAR_MEAN, CIFAR_STD
from .runtime import first_line

DATASETS = ("cifar10", "cifar100", "cifar10.1", "imagenet", "digits")
# Accepted besides DATASETS: CIFAR-10.1 by version.
ALIASES = {"cifar10.1-v6": ("cifar10.1", "v6"), "cifar10.1-v4": ("cifar10.1", "v4")}
DATA_ENV = "DARTS_ZOO_DATA"

CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
# Mean/std of the upsampled digits training split, in [0, 1] (test_data checks them against the data).
DIGITS_MEAN = (0.3054,) * 3
DIGITS_STD = (0.3237,) * 3
DIGITS_TEST_FRACTION = 0.2
DIGITS_SEED = 0
CIFAR101_URL = "https://github.com/modestyachts/CIFAR-10.1/raw/master/datasets/"
PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    family: str  # the network stem it is trained with: "cifar" or "imagenet"


_INFO = {
    "cifar10": DatasetInfo("cifar10", 10, (3, 32, 32), CIFAR_MEAN, CIFAR_STD, "cifar"),
    "cifar100": DatasetInfo("cifar100", 100, (3, 32, 32), CIFAR100_MEAN, CIFAR100_STD, "cifar"),
    # A test set for CIFAR-10 models: CIFAR-10's classes and normalization.
    "cifar10.1": DatasetInfo("cifar10.1", 10, (3, 32, 32), CIFAR_MEAN, CIFAR_STD, "cifar"),
    "imagenet": DatasetInfo("imagenet", 1000, (3, 224, 224), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                            "imagenet"),
    "digits": DatasetInfo("digits", 10, (3, 32, 32), DIGITS_MEAN, DIGITS_STD, "cifar"),
}


def _canonical(name: str) -> tuple[str, Optional[str]]:
    """(dataset name, CIFAR-10.1 version or None)."""
    key = str(name).lower()
    if key in ALIASES:
        return ALIASES[key]
    if key not in _INFO:
        raise DataError(f"unknown dataset {name!r}: {closest(key, DATASETS + tuple(ALIASES))}")
    return key, None


def dataset_info(name: str) -> DatasetInfo:
    return _INFO[_canonical(name)[0]]


def default_root(name: str) -> Path:
    """Where a dataset is looked for without --data-dir: $DARTS_ZOO_DATA or ./data (ImageNet: .../imagenet)."""
    base = Path(os.environ.get(DATA_ENV) or "data")
    return base / "imagenet" if _canonical(name)[0] == "imagenet" else base


# --------------------------------------------------------------------------- transforms
def _cutout(length: int, size: int):
    """DARTS' cutout (a length x length square zeroed after normalization) as torchvision's
    RandomErasing. DARTS lets the square's centre fall anywhere and clips it at the border;
    RandomErasing keeps the whole square inside the image."""
    return T.RandomErasing(p=1.0, scale=((length / size) ** 2,) * 2, ratio=(1.0, 1.0), value=0)


def crop_flip(name: str) -> tuple[int, bool]:
    """A CIFAR-sized dataset's random crop padding and whether it flips: DARTS' 4 px and flips, or
    2 px and no flip for digits (flipping a digit changes what it is). zoo.device_data augments on
    the device with the same."""
    return (2, False) if _canonical(name)[0] == "digits" else (4, True)


def build_transform(name: str, train: bool, cutout: int = 0, autoaugment: bool = False, *,
                    input_size: Optional[int] = None) -> Callable:
    """The dataset's transform: DARTS' CIFAR augmentation (random crop with 4 px padding, flip,
    optionally AutoAugment's CIFAR-10 policy and cutout), timm's ImageNet pipeline, or a shift-only
    augmentation for digits (flipping a digit changes what it is). `input_size` overrides the
    ImageNet crop (224)."""
    key, _ = _canonical(name)
    info = _INFO[key]
    if key == "imagenet":
        size = input_size or info.input_size[-1]
        tf = create_transform(size, is_training=train, auto_augment="original" if (train and autoaugment) else None,
                              interpolation="bicubic", mean=info.mean, std=info.std, crop_pct=0.875)
        if train and cutout:
            tf = T.Compose([tf, _cutout(cutout, size)])
        return tf
    size = info.input_size[-1]
    steps: list = []
    if train:
        padding, flip = crop_flip(key)
        steps.append(T.RandomCrop(size, padding=padding))
        if flip:
            steps.append(T.RandomHorizontalFlip())
        if autoaugment and key != "digits":
            steps.append(T.AutoAugment(T.AutoAugmentPolicy.CIFAR10))
    steps += [T.ToTensor(), T.Normalize(info.mean, info.std)]
    if train and cutout:
        steps.append(_cutout(cutout, size))
    return T.Compose(steps)


# --------------------------------------------------------------------------- datasets
def _split(split: str) -> bool:
    """True for the training split; 'test' and 'val' both name the held-out split."""
    if split == "train":
        return True
    if split in ("test", "val"):
        return False
    raise DataError(f"unknown split {split!r}: use 'train' or 'test'")


def _first_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {first_line(e)}" if str(e).strip() else type(e).__name__


class ArrayImages(Dataset):
    """uint8 images (N x H x W x 3, or N x H x W grey) and int labels, served as PIL images
    through a transform, the way torchvision's CIFAR datasets do."""

    def __init__(self, images: np.ndarray, targets, transform: Optional[Callable] = None):
        self.data = images
        self.targets = [int(t) for t in targets]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        img = Image.fromarray(self.data[index])
        if img.mode != "RGB":
            img = img.convert("RGB")
        return (self.transform(img) if self.transform is not None else img), self.targets[index]


def _check_labels(name: str, where: Path, n_images: int, targets, num_classes: int, fix: str) -> None:
    targets = np.asarray(targets)
    if len(targets) != n_images:
        raise DataError(f"{name}: {where} holds {n_images} images but {len(targets)} labels; {fix}")
    if len(targets) and (targets.min() < 0 or targets.max() >= num_classes):
        raise DataError(f"{name}: {where} has labels outside 0..{num_classes - 1}; {fix}")


class Cifar10(datasets.CIFAR10):
    # Existence only: torchvision's md5 check would hash 170 MB on every start and rejects any
    # file but the original archive's; the structure is checked after loading instead.
    train_list = [[f, None] for f, _ in datasets.CIFAR10.train_list]
    test_list = [[f, None] for f, _ in datasets.CIFAR10.test_list]
    meta = {**datasets.CIFAR10.meta, "md5": None}


class Cifar100(datasets.CIFAR100):
    train_list = [[f, None] for f, _ in datasets.CIFAR100.train_list]
    test_list = [[f, None] for f, _ in datasets.CIFAR100.test_list]
    meta = {**datasets.CIFAR100.meta, "md5": None}


def _cifar(key: str, root: Path, train: bool, transform, download: bool) -> Dataset:
    Cifar = Cifar10 if key == "cifar10" else Cifar100
    folder = root / Cifar.base_folder
    fix = f"delete {folder} and rerun with --download, or pass --data-dir DIR holding a good {Cifar.base_folder}/"
    if download:
        try:
            Cifar(str(root), train=train, download=True)
        except (OSError, RuntimeError) as e:
            raise DataError(f"{key}: download to {root} failed ({_first_line(e)}); check the network "
                            "or download the python version from cs.toronto.edu/~kriz/cifar.html") from None
    files = [f for f, _ in Cifar.train_list + Cifar.test_list] + [Cifar.meta["filename"]]
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        what = "no" if len(missing) == len(files) else f"incomplete ({missing[0]} missing)"
        raise DataError(f"{key}: {what} {key.upper().replace('CIFAR', 'CIFAR-')} python batches in {folder}; "
                        f"pass --data-dir DIR holding {Cifar.base_folder}/, or add --download to fetch it")
    try:
        ds = Cifar(str(root), train=train, transform=transform)
    except Exception as e:  # a truncated or foreign pickle fails in many ways
        raise DataError(f"{key}: cannot read {folder} ({_first_line(e)}); {fix}") from None
    _check_labels(key, folder, len(ds.data), ds.targets, _INFO[key].num_classes, fix)
    return ds


def _cifar101(version: str, root: Path, train: bool, transform, download: bool) -> Dataset:
    if train:
        raise DataError("cifar10.1: has a test split only (it is a new test set for CIFAR-10 models); "
                        "train on cifar10 and evaluate on cifar10.1")
    data_path = root / f"cifar10.1_{version}_data.npy"
    label_path = root / f"cifar10.1_{version}_labels.npy"
    fix = f"replace them with the files from github.com/modestyachts/CIFAR-10.1 (datasets/)"
    if download:
        for path in (data_path, label_path):
            if not path.is_file():
                try:
                    download_url(CIFAR101_URL + path.name, str(root), path.name)
                except (OSError, RuntimeError) as e:
                    raise DataError(f"cifar10.1: download of {path.name} to {root} failed ({_first_line(e)}); "
                                    f"check the network or fetch it by hand from {CIFAR101_URL}") from None
    for path in (data_path, label_path):
        if not path.is_file():
            raise DataError(f"cifar10.1: {path} not found; pass --data-dir DIR holding {data_path.name} and "
                            f"{label_path.name}, or add --download to fetch them")
    try:
        images = np.load(data_path, allow_pickle=False)
        labels = np.load(label_path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"cifar10.1: cannot read {data_path.parent} ({_first_line(e)}); {fix}") from None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise DataError(f"cifar10.1: {data_path} holds {images.dtype} {tuple(images.shape)}, expected uint8 "
                        f"N x 32 x 32 x 3; {fix}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"cifar10.1: {label_path} holds {labels.dtype} {tuple(labels.shape)}, expected N "
                        f"integer labels; {fix}")
    _check_labels("cifar10.1", label_path, len(images), labels, 10, fix)
    return ArrayImages(images, labels, transform)


def _image_loader(path: str):
    try:
        return default_loader(path)
    except (OSError, ValueError) as e:
        raise DataError(f"imagenet: cannot read image {path} ({_first_line(e)}); replace or delete the file") from None


def _imagenet(root: Path, train: bool, transform) -> Dataset:
    folders = {"train": root / "train", "val": root / "val"}
    fix = f"pass --data-dir DIR holding train/ and val/ with one folder of images per class (ImageFolder layout)"
    folder = folders["train" if train else "val"]
    if not folder.is_dir():
        raise DataError(f"imagenet: {folder} not found; {fix} (ImageNet cannot be downloaded automatically)")
    try:
        ds = ImageFolder(str(folder), transform=transform, loader=_image_loader)
    except (FileNotFoundError, OSError) as e:
        raise DataError(f"imagenet: {folder} has no class folders with images ({_first_line(e)}); {fix}") from None
    other = folders["val" if train else "train"]
    if other.is_dir():
        other_classes = sorted(d.name for d in os.scandir(other) if d.is_dir())
        if other_classes and other_classes != ds.classes:
            raise DataError(f"imagenet: {folders['train']} and {folders['val']} have different class folders "
                            f"({len(ds.classes if train else other_classes)} vs "
                            f"{len(other_classes if train else ds.classes)}); both need the same classes")
    return ds


class Digits(ArrayImages):
    """sklearn's 8x8 digits, upsampled (bilinear) to 32x32 grey images."""


@functools.lru_cache(maxsize=2)
def _digits_arrays(train: bool) -> tuple[np.ndarray, np.ndarray]:
    # sklearn takes about a second to import and only the digits dataset needs it.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=DIGITS_TEST_FRACTION,
                                           random_state=DIGITS_SEED, stratify=y)
    idx = idx_train if train else idx_test
    size = _INFO["digits"].input_size[-1]
    small = torch.from_numpy(x[idx].reshape(-1, 1, 8, 8) / 16.0).float()
    big = torch.nn.functional.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    images = (big.clamp(0, 1) * 255).round().to(torch.uint8).squeeze(1).numpy()
    images.setflags(write=False)  # shared by every Digits built from the cache
    return images, y[idx]


def _digits(train: bool, transform) -> Dataset:
    return Digits(*_digits_arrays(train), transform)


def load_dataset(name: str, split: str = "train", root: Optional[PathLike] = None,
                 transform: Optional[Callable] = None, download: bool = False, *,
                 version: Optional[str] = None) -> Dataset:
    """A dataset split yielding `(tensor CxHxW, label)`; `transform=None` means the evaluation
    transform. `version` picks CIFAR-10.1 v4 or v6 (default v6; also by name 'cifar10.1-v4')."""
    key, alias_version = _canonical(name)
    train = _split(split)
    if transform is None:
        transform = build_transform(key, train=False)
    root = Path(root) if root is not None else default_root(key)
    if key in ("cifar10", "cifar100"):
        return _cifar(key, root, train, transform, download)
    if key == "cifar10.1":
        version = version or alias_version or "v6"
        if version not in ("v4", "v6"):
            raise DataError(f"cifar10.1: unknown version {version!r}; use 'v6' (default) or 'v4'")
        return _cifar101(version, root, train, transform, download)
    if key == "imagenet":
        return _imagenet(root, train, transform)
    return _digits(train, transform)
