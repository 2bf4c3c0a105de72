"""zoo.speed_options on the CPU: bf16 autocast, channels_last and torch.compile (inductor, C++) in
search, training and evaluation, on tiny networks.

Channels are 8, not 4: oneDNN's CPU convolution backward in channels_last corrupts the heap for a
1x1 stride-2 convolution from 4 to 2 channels (FactorizedReduce at C 4; torch 2.14.1, measured)."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import yaml

import zoo
from zoo.benchmarks.evaluate import evaluate
from zoo.benchmarks.train import train
from zoo.checkpoint import read_weights
from zoo.cli import main
from zoo.data import ArrayImages
from zoo.search import SearchSpace, Supernet, make_strategy, run_search
from zoo.settings import SettingError
from zoo.speed_options import SpeedOptions, autocast, prepare_batch, prepare_model

CPU = torch.device("cpu")
SEARCH = {"channels": 8, "layers": 3, "nodes": 1, "subset": 16, "batch_size": 8}
TRAIN = dict(layers=3, channels=8, limit_train=32, limit_test=40, batch_size=16, epochs=1, progress=False,
             log=lambda line: None)


def _digits_like(n=48, seed=0):
    """Grey uint8 32x32 images whose class is their brightness: what --data-on-device can hold."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    x = np.clip(rng.normal(20 + 20 * y[:, None, None], 10, (n, 32, 32)), 0, 255).astype(np.uint8)
    return ArrayImages(x, y)


def test_autocast_batches_and_models_on_the_cpu():
    conv = nn.Conv2d(3, 8, 3)
    x, y = prepare_batch(torch.randn(2, 3, 8, 8), torch.tensor([0, 1]), CPU, channels_last=True)
    assert x.is_contiguous(memory_format=torch.channels_last) and y.tolist() == [0, 1]
    assert prepare_model(conv, channels_last=True) is conv
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    with autocast(CPU, True):
        assert conv(x).dtype == torch.bfloat16
    with autocast(CPU, False):
        assert conv(x).dtype == torch.float32
    lin = nn.Linear(2, 2)
    assert prepare_model(lin, compile=True) is lin and lin._compiled_call_impl is not None  # compiled in place
    assert list(lin.state_dict()) == ["weight", "bias"]                                     # names unchanged
    assert SpeedOptions.checked({"amp": "yes", "compile": None}) == SpeedOptions(amp=True)
    assert SpeedOptions(amp=True, channels_last=True).describe() == "bf16 autocast, channels_last"
    with pytest.raises(SettingError, match=r"^train: amp \(--amp\) = 'maybe'") as e:
        SpeedOptions.checked({"amp": "maybe"}, "train")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("strategy", ["first_order", "second_order"])
def test_arch_step_stays_float32_under_bf16(strategy):
    """Under bf16 autocast the alphas, their gradients and Adam's moments stay float32; second order's
    unrolled passes run without autocast, so its architecture step equals the float32 one exactly."""
    torch.manual_seed(0)
    nets = [Supernet(SearchSpace(nodes=2), channels=8, layers=3), None]
    nets[1] = copy.deepcopy(nets[0])
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(4, 3, 16, 16, generator=g), torch.randint(0, 10, (4,), generator=g)) for _ in range(2)]
    alphas, grads = [], []
    for net, amp in zip(nets, (False, True)):
        w = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        a = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
        strat = make_strategy(strategy, net, w, a)
        tb, vb = batches
        with autocast(CPU, amp):
            stats = strat.step(tb, vb)
        assert all(math.isfinite(v) for v in stats.values())
        for p in net.arch_parameters():
            assert p.dtype == p.grad.dtype == a.state[p]["exp_avg"].dtype == torch.float32
        alphas.append([p.detach().clone() for p in net.arch_parameters()])
        grads.append(torch.cat([p.grad.flatten() for p in net.arch_parameters()]))
    if strategy == "second_order":
        assert all(torch.equal(p, q) for p, q in zip(*alphas)) and torch.equal(*grads)
    else:  # first order's validation pass runs in bf16: the same direction, not the same digits
        assert float(torch.nn.functional.cosine_similarity(*grads, dim=0)) > 0.95


def test_search_with_amp_channels_last_and_data_on_device(tmp_path, capsys):
    lines = []
    out = run_search("darts_v1", data="digits", out=tmp_path / "s.yaml", epochs=1, seed=0, overrides=SEARCH,
                     progress=False, log=lines.append, dataset=_digits_like(), amp=True, channels_last=True,
                     data_on_device=True)
    assert "(bf16 autocast, channels_last, data on device)" in lines[0]
    g = zoo.load_genotype(out)
    assert all(math.isfinite(v) for rows in g.search["alphas"].values() for row in rows for v in row)
    # refused in one line, before anything is written, where it cannot work
    code = main(["search", "--recipe", "darts_v1", "--data", "cifar10", "--data-dir", str(tmp_path / "none"),
                 "--out", str(tmp_path / "x.yaml"), "--data-on-device", "--autoaugment", "--no-progress"])
    assert code == 2 and not (tmp_path / "x.yaml").exists()
    assert "--data-on-device: AutoAugment" in capsys.readouterr().err


def test_training_and_evaluation_with_amp_and_channels_last(tmp_path):
    m = train("darts_v1", "digits", out=tmp_path / "run", amp=True, channels_last=True, data_on_device=True, **TRAIN)
    assert m["status"] == "complete" and m["test_images"] == 40 and math.isfinite(m["top1"])
    ckpt = tmp_path / "run" / "model.safetensors"
    fast = evaluate("darts_v1", "digits", checkpoint=ckpt, limit=40, amp=True, channels_last=True)
    plain = evaluate("darts_v1", "digits", checkpoint=ckpt, limit=40)
    assert (fast["precision"], plain["precision"]) == ("bf16 autocast, channels_last", "fp32")
    assert fast["n"] == plain["n"] == 40
    assert fast["loss"] == pytest.approx(plain["loss"], rel=0.05)  # bf16 keeps about 3 significant digits


def _one_node_genotype(path):
    """A cell of one node (a pool and a skip): the smallest network a compile test can build."""
    g = zoo.zoo_genotype("darts_v1")
    doc = {"schema": 1, "name": "one_node", "op_set": "darts",
           "cells": {"normal": {"reduction": False, "nodes": [[["skip_connect", 0], ["max_pool_3x3", 1]]],
                                "concat": [2]},
                     "reduce": {"reduction": True, "nodes": [[["max_pool_3x3", 0], ["skip_connect", 1]]],
                                "concat": [2]}},
           "stages": list(g.stages),
           "presets": {"cifar": {"layers": 3, "channels": 8, "auxiliary": False, "drop_path": 0.0,
                                 "recipe": "digits"}}}
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.slow
def test_compiled_training_and_evaluation_on_the_cpu(tmp_path):
    """One tiny network compiled by inductor (C++): training's forward/backward and evaluation's forward."""
    cell = _one_node_genotype(tmp_path / "one_node.yaml")
    m = train(str(cell), "digits", out=tmp_path / "run", compile=True,
              **dict(TRAIN, limit_train=16, limit_test=16, batch_size=8))
    assert m["status"] == "complete" and math.isfinite(m["top1"])
    tensors, _ = read_weights(tmp_path / "run" / "model.safetensors")
    assert not any("_orig_mod" in k for k in tensors)  # compiled in place: the network's own names
    r = evaluate(str(cell), "digits", checkpoint=tmp_path / "run" / "model.safetensors", limit=16, compile=True)
    assert r["precision"] == "compiled" and r["n"] == 16 and r["top1"] == pytest.approx(m["top1"])


@pytest.mark.slow
def test_compiled_search_on_the_cpu(tmp_path):
    """The supernet compiled in place: the strategy's passes (weights' and alphas') run the compiled graph."""
    lines = []
    out = run_search("darts_v1", data="digits", out=tmp_path / "c.yaml", epochs=1, seed=0, progress=False,
                     log=lines.append, dataset=_digits_like(16), compile=True, data_on_device=True,
                     overrides={"channels": 8, "layers": 3, "nodes": 1, "subset": 16, "batch_size": 8,
                                "candidates": "max_pool_3x3,skip_connect"})
    assert "(compiled, data on device)" in lines[0] and zoo.load_genotype(out).search is not None


def test_train_bench_rows_beside_the_plain_one(tmp_path, capsys):
    from zoo.benchmarks.speed import compare, format_markdown

    r = compare("darts_v1", "cifar10", "cpu", ("bf16", "channels_last", "data_on_device"), isolate=False,
                batch_size=4, steps=1, warmup=0, layers=3, channels=8, threads=1)
    rows = {row["config"]: row for row in r["rows"]}
    assert list(rows) == ["plain", "bf16", "channels_last", "data_on_device"]
    assert all("error" not in row and row["images_per_s"] > 0 and math.isfinite(row["loss"]) for row in rows.values())
    assert rows["plain"]["speed_ratio"] == 1.0 and rows["bf16"]["amp"] and rows["data_on_device"]["workers"] == 0
    for name, row in rows.items():
        assert row["speed_ratio"] == pytest.approx(row["images_per_s"] / rows["plain"]["images_per_s"], abs=1e-3)
    table = format_markdown(r)
    assert table.count("\n| CPU (1 threads) |") == 4 and "| data_on_device |" in table
    assert main(["train-bench", "darts_v1", "--configs", "bf16,fast"]) == 2
    assert "configs (--configs) = 'bf16,fast'" in capsys.readouterr().err
