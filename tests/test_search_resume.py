"""Interrupted searches resume to the same genotype: paused in-process, across P-DARTS stages, and
after SIGKILL of a real process (checks of bad checkpoints: test_search_run.py)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import zoo
from zoo.cli import main
from zoo.checkpoint import CheckpointStore
from search_helpers import CLI_TINY, TINY, TINY_STAGED, comparable, search



def test_pause_and_resume_reach_the_same_genotype(tmp_path):
    search(tmp_path, "ref", epochs=3)
    assert search(tmp_path, "cut", epochs=3, stop_after_epochs=1) is None
    assert not (tmp_path / "cut.yaml").exists()
    assert CheckpointStore(tmp_path / "cut.ckpt", "search").read_meta()["epoch"] == 1
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
    assert CheckpointStore(tmp_path / "cut.ckpt", "search").read_meta()["stage"] == 1
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
