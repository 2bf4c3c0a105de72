"""zoo.data: the real loaders on small files written in the real formats."""

import pickle

import numpy as np
import pytest
import torch
from torchvision import transforms as T

from fake_datasets import cifar_image, write_cifar10, write_cifar100, write_cifar101, write_image_folder
from zoo.data import (DATASETS, DIGITS_MEAN, DIGITS_STD, build_transform, dataset_info,
                                 default_root, load_dataset)
from zoo.errors import DataError
from zoo.network import CIFAR_MEAN, CIFAR_STD


def _one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text
    return text


def test_dataset_info():
    assert DATASETS == ("cifar10", "cifar100", "cifar10.1", "imagenet", "digits")
    assert dataset_info("cifar10").num_classes == 10 and dataset_info("cifar10").family == "cifar"
    assert dataset_info("cifar100").num_classes == 100
    assert dataset_info("cifar10.1-v4").name == "cifar10.1"
    im = dataset_info("imagenet")
    assert (im.num_classes, im.input_size, im.family) == (1000, (3, 224, 224), "imagenet")
    d = dataset_info("digits")
    assert (d.num_classes, d.input_size, d.family) == (10, (3, 32, 32), "cifar")
    with pytest.raises(DataError) as e:
        dataset_info("cifar11")
    assert "unknown dataset 'cifar11'" in _one_line(e) and "cifar10" in str(e.value)


def test_cifar10_pickles(tmp_path):
    arrays = write_cifar10(tmp_path)
    train = load_dataset("cifar10", "train", tmp_path, transform=T.PILToTensor())
    test = load_dataset("cifar10", "test", tmp_path, transform=T.PILToTensor())
    assert (len(train), len(test)) == (20, 6)
    x, y = train[7]
    assert y == arrays["train_y"][7]
    assert torch.equal(x, torch.from_numpy(cifar_image(arrays["train_x"], 7)).permute(2, 0, 1))
    # Default transform: the evaluation transform, normalized with CIFAR-10's statistics.
    x, y = load_dataset("cifar10", "test", tmp_path)[2]
    raw = torch.from_numpy(cifar_image(arrays["test_x"], 2)).permute(2, 0, 1).float() / 255
    expect = (raw - torch.tensor(CIFAR_MEAN).view(3, 1, 1)) / torch.tensor(CIFAR_STD).view(3, 1, 1)
    assert x.dtype == torch.float32 and torch.allclose(x, expect, atol=1e-6)
    assert y == arrays["test_y"][2]


def test_cifar100_pickles(tmp_path):
    arrays = write_cifar100(tmp_path)
    train = load_dataset("cifar100", "train", tmp_path)
    test = load_dataset("cifar100", "test", tmp_path)
    assert (len(train), len(test)) == (10, 5)
    assert [test[i][1] for i in range(5)] == arrays["test_y"].tolist()
    assert train[0][0].shape == (3, 32, 32)


def test_missing_cifar_is_one_line(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", "train", tmp_path)
    msg = _one_line(e)
    assert msg == (f"cifar10: no CIFAR-10 python batches in {tmp_path / 'cifar-10-batches-py'}; pass --data-dir "
                   "DIR holding cifar-10-batches-py/, or add --download to fetch it")


def test_incomplete_corrupt_and_mislabelled_cifar(tmp_path):
    write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", "train", tmp_path)
    assert "incomplete (data_batch_3 missing)" in _one_line(e)

    write_cifar10(tmp_path)
    (folder / "data_batch_2").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", "train", tmp_path)
    assert _one_line(e).startswith(f"cifar10: cannot read {folder} (")

    write_cifar10(tmp_path)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": [3, 10]}, f)
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", "test", tmp_path)
    assert "labels outside 0..9" in _one_line(e)


def test_cifar101_versions(tmp_path):
    x6, y6 = write_cifar101(tmp_path, "v6", n=7)
    x4, y4 = write_cifar101(tmp_path, "v4", n=5)
    v6 = load_dataset("cifar10.1", "test", tmp_path, transform=T.PILToTensor())
    assert len(v6) == 7 and v6[3][1] == y6[3]
    assert torch.equal(v6[3][0], torch.from_numpy(x6[3]).permute(2, 0, 1))
    assert len(load_dataset("cifar10.1-v4", "test", tmp_path)) == 5
    assert len(load_dataset("cifar10.1", "test", tmp_path, version="v4")) == 5
    assert load_dataset("cifar10.1", "test", tmp_path)[0][0].shape == (3, 32, 32)
    with pytest.raises(DataError) as e:
        load_dataset("cifar10.1", "train", tmp_path)
    assert "test split only" in _one_line(e)


def test_cifar101_missing_and_mismatched(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("cifar10.1", "test", tmp_path)
    assert _one_line(e) == (f"cifar10.1: {tmp_path / 'cifar10.1_v6_data.npy'} not found; pass --data-dir DIR "
                            "holding cifar10.1_v6_data.npy and cifar10.1_v6_labels.npy, or add --download to fetch them")
    write_cifar101(tmp_path, n=7)
    np.save(tmp_path / "cifar10.1_v6_labels.npy", np.zeros(6, np.int64))
    with pytest.raises(DataError) as e:
        load_dataset("cifar10.1", "test", tmp_path)
    assert "holds 7 images but 6 labels" in _one_line(e)
    np.save(tmp_path / "cifar10.1_v6_data.npy", np.zeros((6, 32, 32, 3), np.float32))
    with pytest.raises(DataError) as e:
        load_dataset("cifar10.1", "test", tmp_path)
    assert "holds float32 (6, 32, 32, 3), expected uint8 N x 32 x 32 x 3" in _one_line(e)
    (tmp_path / "cifar10.1_v6_data.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError) as e:
        load_dataset("cifar10.1", "test", tmp_path)
    assert _one_line(e).startswith(f"cifar10.1: cannot read {tmp_path}")


def test_image_folder(tmp_path):
    write_image_folder(tmp_path)
    train = load_dataset("imagenet", "train", tmp_path, transform=T.PILToTensor())
    val = load_dataset("imagenet", "test", tmp_path, transform=T.PILToTensor())
    assert train.classes == ["ant", "bee", "cat"] and len(train) == 6 and len(val) == 6
    assert sorted(y for _, y in val) == [0, 0, 1, 1, 2, 2]
    x, _ = load_dataset("imagenet", "val", tmp_path)[0]  # timm's eval transform: resize 256, crop 224
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    small = build_transform("imagenet", train=True, cutout=8, input_size=32)
    assert small(T.ToPILImage()(train[0][0])).shape == (3, 32, 32)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("imagenet", "train", tmp_path)
    assert _one_line(e).startswith(f"imagenet: {tmp_path / 'train'} not found; pass --data-dir DIR holding train/ "
                                   "and val/")
    write_image_folder(tmp_path)
    (tmp_path / "val" / "dog").mkdir()
    (tmp_path / "val" / "dog" / "0.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError) as e:
        load_dataset("imagenet", "train", tmp_path)
    assert "different class folders (3 vs 4)" in _one_line(e)
    (tmp_path / "train" / "dog").mkdir()
    (tmp_path / "train" / "dog" / "0.png").write_bytes(b"\x89PNG broken")
    val = load_dataset("imagenet", "val", tmp_path, transform=T.PILToTensor())
    assert val.classes == ["ant", "bee", "cat", "dog"] and val.samples[6][0].endswith("dog/0.png")
    with pytest.raises(DataError) as e:
        val[6]
    assert _one_line(e).startswith(f"imagenet: cannot read image {tmp_path / 'val' / 'dog' / '0.png'}")


def test_digits_split_and_statistics():
    train = load_dataset("digits", "train", transform=T.PILToTensor())
    test = load_dataset("digits", "test", transform=T.PILToTensor())
    assert (len(train), len(test)) == (1437, 360)
    # Stratified: every class is 20 % +- one image of its total in the test split.
    for c in range(10):
        n_test, n_train = test.targets.count(c), train.targets.count(c)
        assert abs(n_test - 0.2 * (n_test + n_train)) <= 1
    # Fixed seed: the same split every time.
    assert load_dataset("digits", "test", transform=T.PILToTensor()).targets == test.targets
    pixels = torch.stack([train[i][0] for i in range(len(train))]).float() / 255
    assert pixels.shape == (1437, 3, 32, 32)
    assert torch.equal(pixels[:, 0], pixels[:, 2])  # grey, in 3 channels
    assert float(pixels.mean()) == pytest.approx(DIGITS_MEAN[0], abs=1e-4)
    assert float(pixels.std()) == pytest.approx(DIGITS_STD[0], abs=1e-4)
    x, y = load_dataset("digits", "test")[0]
    assert x.shape == (3, 32, 32) and isinstance(y, int)
    assert float(x.min()) == pytest.approx(-DIGITS_MEAN[0] / DIGITS_STD[0], abs=1e-5)


def test_transforms():
    img = T.ToPILImage()(torch.full((3, 32, 32), 0.5))
    torch.manual_seed(0)
    x = build_transform("cifar10", train=True, cutout=16)(img)
    # A grey image never normalizes to exactly 0, padding neither: the zeros are cutout's 16 x 16 square.
    assert int((x == 0).sum()) == 16 * 16 * 3
    assert int((build_transform("cifar10", train=True)(img) == 0).sum()) == 0
    names = [type(t).__name__ for t in build_transform("cifar10", True, cutout=16, autoaugment=True).transforms]
    assert names == ["RandomCrop", "RandomHorizontalFlip", "AutoAugment", "ToTensor", "Normalize", "RandomErasing"]
    assert [type(t).__name__ for t in build_transform("digits", True).transforms] == ["RandomCrop", "ToTensor",
                                                                                       "Normalize"]
    assert [type(t).__name__ for t in build_transform("cifar100", False).transforms] == ["ToTensor", "Normalize"]


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("DARTS_ZOO_DATA", str(tmp_path))
    assert default_root("cifar10") == tmp_path and default_root("imagenet") == tmp_path / "imagenet"
    with pytest.raises(DataError) as e:
        load_dataset("cifar100", "test")
    assert str(tmp_path / "cifar-100-python") in _one_line(e)
