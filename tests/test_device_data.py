"""zoo.device_data: the dataset as one tensor on the device, augmented there. Exact agreement with
torchvision's functional ops for given draws, and the same distributions of crop offsets, flips and
cutout corners as the CPU pipeline of zoo.data (recovered from the augmented pixels of both)."""

import numpy as np
import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image
from scipy.stats import chi2_contingency, chisquare
from torch.utils.data import DataLoader, Subset, TensorDataset

from zoo.data import ArrayImages, build_transform, dataset_info
from zoo.device_data import (Augmentation, DeviceImages, DeviceLoader, Draws, augmentation_for, crop_and_flip,
                             cutout_, draw, normalize)
from zoo.errors import DataError, ZooError

CPU = torch.device("cpu")
INFO = dataset_info("cifar10")
STEP = 7  # ramp images: red = 7 * (row + 1), green = 7 * (col + 1), so every pixel says where it came from


def _ramp(n):
    r = np.arange(1, 33, dtype=np.uint8) * STEP
    img = np.stack([np.repeat(r[:, None], 32, 1), np.repeat(r[None, :], 32, 0), np.full((32, 32), 128, np.uint8)], -1)
    return ArrayImages(np.repeat(img[None], n, 0), [i % 10 for i in range(n)])


def _random_images(n, seed=0, grey=False):
    rng = np.random.default_rng(seed)
    shape = (n, 32, 32) if grey else (n, 32, 32, 3)
    return ArrayImages(rng.integers(0, 256, shape, dtype=np.uint8), rng.integers(0, 10, n))


def _reference(img: Image.Image, top: int, left: int, flip: bool, cut=None) -> torch.Tensor:
    """torchvision's functional ops for one image and one draw: pad 4, crop, flip, ToTensor, Normalize, erase."""
    out = TF.crop(TF.pad(img, 4), top, left, 32, 32)
    if flip:
        out = TF.hflip(out)
    x = T.Normalize(INFO.mean, INFO.std)(T.ToTensor()(out))
    if cut is not None:
        x = TF.erase(x, cut[0], cut[1], 16, 16, torch.tensor(0.0))
    return x


def test_a_drawn_crop_gives_torchvisions_pixels_exactly():
    ds = _random_images(6)
    images = DeviceImages.from_dataset(ds, "cifar10", CPU)
    cases = [(0, 0, False, None), (8, 8, True, (16, 16)), (3, 5, True, None), (4, 4, False, (0, 0)),
             (7, 1, False, (5, 11)), (2, 8, True, (16, 0))]
    d = Draws(*(torch.tensor(v) for v in zip(*[(t, l, f, *(c or (-1, -1))) for t, l, f, c in cases])))
    x = cutout_(normalize(crop_and_flip(images.images, d, 4), images.mean, images.std), d, 16)
    for k, (top, left, flip, cut) in enumerate(cases):
        want = _reference(Image.fromarray(ds.data[k]), top, left, flip, cut)
        assert torch.equal(x[k], want), (k, float((x[k] - want).abs().max()))


def test_fixed_seed_shapes_dtypes_and_ranges():
    ds = _random_images(40, seed=1)
    images = DeviceImages.from_dataset(ds, "cifar10", CPU, augmentation_for("cifar10", cutout=16))
    batches = [list(range(i, i + 8)) for i in range(0, 40, 8)]
    run = lambda seed: list(DeviceLoader(images, batches, images.augmentation, torch.Generator().manual_seed(seed)))
    a, b, c = run(5), run(5), run(6)
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
    assert not all(torch.equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))
    x, y = a[0]
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert y.tolist() == [int(t) for t in ds.targets[:8]]
    mean, std = torch.tensor(INFO.mean).view(1, 3, 1, 1), torch.tensor(INFO.std).view(1, 3, 1, 1)
    assert bool((x >= -mean / std - 1e-6).all()) and bool((x <= (1 - mean) / std + 1e-6).all())
    # cutout's 16 x 16 square is exactly 0 in every image (a pixel value never normalizes to 0)
    assert ((x == 0).all(1).sum((1, 2)) == 256).all()
    # without augmentation: ToTensor + Normalize of the stored images
    plain = DeviceLoader(images, batches[:1])
    want = torch.stack([build_transform("cifar10", train=False)(Image.fromarray(ds.data[i])) for i in range(8)])
    assert torch.equal(next(iter(plain))[0], want)


def _recover(x: torch.Tensor):
    """(crop top, crop left, flipped, cutout top, cutout left) of each augmented ramp image."""
    raw = (x * torch.tensor(INFO.std).view(1, 3, 1, 1) + torch.tensor(INFO.mean).view(1, 3, 1, 1)) * 255
    raw = raw.round().long()
    cut = (x == 0).all(1)                                          # N x H x W
    out = []
    for k in range(len(x)):
        rows, cols = torch.nonzero(cut[k], as_tuple=True)
        ct, cl = (int(rows.min()), int(cols.min())) if len(rows) else (-1, -1)
        ok = (~cut[k]) & (raw[k, 0] > 0) & (raw[k, 1] > 0)           # neither cutout nor padding
        r = int(ok.sum(1).argmax())                                # a row with at least 12 real pixels
        cs = torch.nonzero(ok[r]).flatten()
        c, c2 = int(cs[0]), int(cs[-1])
        src_row, src_col = int(raw[k, 0, r, c]) // STEP - 1, int(raw[k, 1, r, c]) // STEP - 1
        flipped = int(raw[k, 1, r, c2]) < int(raw[k, 1, r, c])   # the green ramp runs backwards
        left = src_col + 4 - ((31 - c) if flipped else c)
        out.append((src_row + 4 - r, left, flipped, ct, cl))
    return np.array(out)


def test_crop_flip_and_cutout_distributions_match_the_torchvision_pipeline():
    n = 1500
    ds = _ramp(n)
    torch.manual_seed(0)
    tf = build_transform("cifar10", train=True, cutout=16)
    cpu = _recover(torch.stack([tf(Image.fromarray(ds.data[i])) for i in range(n)]))
    images = DeviceImages.from_dataset(ds, "cifar10", CPU)
    x, _ = images.batch(list(range(n)), augmentation_for("cifar10", cutout=16), torch.Generator().manual_seed(0))
    dev = _recover(x)
    for name, col, values in (("crop top", 0, 9), ("crop left", 1, 9), ("cutout top", 3, 17), ("cutout left", 4, 17)):
        counts = np.array([[np.sum(p[:, col] == v) for v in range(values)] for p in (cpu, dev)])
        assert counts.sum(1).tolist() == [n, n], name           # every offset lies in its range
        for row in counts:                                      # each uniform over its range
            assert chisquare(row).pvalue > 1e-3, (name, row)
        assert chi2_contingency(counts).pvalue > 1e-3, (name, counts)  # and the same distribution
    for p in (cpu, dev):
        assert abs(p[:, 2].mean() - 0.5) < 0.05                 # flips: half of the images


def test_draws_by_hand():
    aug = Augmentation(padding=4, flip=True, cutout=16)
    d = draw(20000, 32, 32, aug, torch.Generator().manual_seed(3))
    assert int(d.top.min()) == 0 and int(d.top.max()) == 8 and int(d.cut_left.max()) == 16
    assert abs(float(d.flip.float().mean()) - 0.5) < 0.02
    # a square that does not fit inside the image is not drawn, as RandomErasing leaves the image then
    big = draw(4, 32, 32, Augmentation(padding=0, cutout=32))
    assert big.cut_top.tolist() == [-1] * 4 and big.top.tolist() == [0] * 4


def test_digits_are_grey_and_shift_only():
    ds = _random_images(16, grey=True)
    aug = augmentation_for("digits", cutout=0, autoaugment=True)  # build_transform ignores AutoAugment for digits
    assert aug == Augmentation(padding=2, flip=False, cutout=0)
    images = DeviceImages.from_dataset(Subset(ds, [3, 5, 7]), "digits", CPU, aug)
    assert images.images.shape == (3, 3, 32, 32) and torch.equal(images.images[0, 0], torch.from_numpy(ds.data[3]))
    x, y = images.batch([0, 1, 2], aug, torch.Generator().manual_seed(0))
    assert torch.equal(x[:, 0], x[:, 2]) and y.tolist() == [int(ds.targets[i]) for i in (3, 5, 7)]


def test_refusals_are_one_line():
    for call, error in ((lambda: augmentation_for("imagenet"), DataError),
                        (lambda: augmentation_for("cifar10", autoaugment=True), ZooError),
                        (lambda: DeviceImages.from_dataset(TensorDataset(torch.zeros(2, 3, 32, 32),
                                                                         torch.zeros(2)), "cifar10", CPU), DataError)):
        with pytest.raises(error) as e:
            call()
        assert "--data-on-device" in str(e.value) and "\n" not in str(e.value)


def test_search_and_training_loaders_yield_the_dataloaders_batches():
    from zoo.search.batches import make_loader

    ds = _random_images(24)
    ds.transform = build_transform("cifar10", train=False)
    batches = [[5, 1, 9], [0, 23, 4]]
    images = DeviceImages.from_dataset(ds, "cifar10", CPU)
    on_device = make_loader(images, batches, 0, 0, CPU)
    assert isinstance(on_device, DeviceLoader) and len(on_device) == 2
    for (xa, ya), (xb, yb) in zip(on_device, make_loader(ds, batches, 0, 0, CPU)):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # the Trainer hands its DataLoader's batch sampler over: shuffled by its generator, last batch dropped
    sampler = DataLoader(ds, 5, shuffle=True, generator=torch.Generator().manual_seed(4), drop_last=True).batch_sampler
    orders = [[list(b) for b in sampler] for _ in range(2)]
    device_loader = DeviceLoader(images, sampler)
    assert len(device_loader) == 4 and orders[0] != orders[1]
    sampler.sampler.generator.manual_seed(4)
    assert [y.tolist() for _, y in device_loader] == [[int(ds.targets[i]) for i in b] for b in orders[0]]
