"""Interrupted searches resume to the same genotype: paused in-process, across P-DARTS stages, and
after SIGKILL of a real process (checks of bad checkpoints: test_search_runner.py)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from torch.utils.data import TensorDataset

import zoo
from zoo.cli import main
from zoo.search.checkpoint import CheckpointStore
from zoo.search.runner import run_search

TINY = {"channels": 4, "layers": 3, "nodes": 2, "batch_size": 8}
TINY_STAGED = {"channels": 4, "stage_layers": "3,3,3", "batch_size": 8}
CLI_TINY = ["--channels", "4", "--layers", "3", "--nodes", "2", "--subset", "32", "--batch-size", "8",
            "--no-progress"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two OpenMP threads on a busy 2-core machine run 10-40x slower than one (spin-waiting)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def synthetic(n=32, size=16, seed=0):
    """Images whose class is a brightness level: learnable in a step or two, 16x16 for speed."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.randn(n, 3, size, size, generator=g) * 0.3 + (y.float() / 5 - 1)[:, None, None, None]
    return TensorDataset(x, y)


def search(tmp_path, name, recipe="darts_v1", overrides=TINY, epochs=2, **kw):
    kw.setdefault("dataset", synthetic())
    return run_search(recipe, data="digits", out=tmp_path / f"{name}.yaml", epochs=epochs, seed=3,
                      overrides=overrides, progress=False, log=lambda line: None, **kw)


def comparable(path):
    """Everything a search decides (cells, alphas, record), without the file's own name."""
    g = zoo.load_genotype(path)
    return g.cells, g.stages, g.search, g.presets, g.source


def test_pause_and_resume_reach_the_same_genotype(tmp_path):
    search(tmp_path, "ref", epochs=3)
    assert search(tmp_path, "cut", epochs=3, stop_after_epochs=1) is None
    assert not (tmp_path / "cut.yaml").exists()
    assert CheckpointStore(tmp_path / "cut.ckpt").load().epoch == 1
    search(tmp_path, "cut", epochs=3, resume=True)
    assert comparable(tmp_path / "cut.yaml") == comparable(tmp_path / "ref.yaml")
    ref = json.loads((tmp_path / "ref.history.json").read_text())["records"]
    cut = json.loads((tmp_path / "cut.history.json").read_text())["records"]
    assert [r["weights"] for r in cut] == [r["weights"] for r in ref]


def test_resume_across_pdarts_stage_boundaries(tmp_path):
    kw = dict(recipe="pdarts_3b", overrides=TINY_STAGED, epochs=1)
    search(tmp_path, "ref", **kw)
    assert search(tmp_path, "cut", stop_after_epochs=1, **kw) is None       # after stage 1
    assert search(tmp_path, "cut", stop_after_epochs=1, resume=True, **kw) is None  # after stage 2
    assert CheckpointStore(tmp_path / "cut.ckpt").load().stage == 1
    search(tmp_path, "cut", resume=True, **kw)
    assert comparable(tmp_path / "cut.yaml") == comparable(tmp_path / "ref.yaml")


@pytest.mark.slow
def test_killed_process_resumes_to_the_same_genotype(tmp_path):
    """SIGKILL a real `python -m zoo.search` once its first checkpoint exists, then --resume."""
    args = ["--recipe", "darts_v1", "--data", "digits", "--epochs", "4", "--seed", "1", *CLI_TINY]
    out = tmp_path / "killed.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "zoo.search", *args, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    latest = tmp_path / "killed.ckpt" / "latest.json"
    deadline = time.time() + 120
    while not latest.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert latest.exists(), proc.stderr.read().decode()
    assert not out.exists(), "the run finished before it could be killed"
    assert json.loads(latest.read_text())["epoch"] < 4
    assert main(["search", *args, "--out", str(out), "--resume"]) == 0
    assert main(["search", *args, "--out", str(tmp_path / "whole.yaml")]) == 0
    assert comparable(out) == comparable(tmp_path / "whole.yaml")
