"""Fault injection, counted: SIGKILL of real `python -m zoo.search` and `darts-zoo train` processes at
seeded random points (after the 1st or 2nd checkpoint, plus a random delay that can land inside a
write), and a full disk (ENOSPC, EDQUOT) or a read-only / forbidden folder (EROFS, EACCES) at the
k-th os.write / os.replace / os.open of a search and of a training run (k seeded, over the whole
run). Every fault ends in one line (or a kill), leaves no *.tmp, keeps the last checkpoint loadable,
and --resume reaches the uninterrupted run's genotype / model.safetensors, byte for byte on CPU.

Run with `-s -p no:xdist` to see the counts (FAULTS ... lines)."""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from zoo.benchmarks.train import train
from zoo.checkpoint import CheckpointStore
from zoo.cli import main
from zoo.errors import OutputError
from fault_helpers import CODES, OPS, inject, leftovers, strict_json
from search_helpers import CLI_TINY, comparable, search

SEARCH_EPOCHS = 3
TRAIN = dict(layers=3, channels=4, limit_train=32, limit_test=40, batch_size=16, epochs=2, seed=3, progress=False,
             log=lambda line: None)
CASES = 4  # injected faults per run kind: os.write, os.replace, os.open, os.write; ENOSPC, EDQUOT, EROFS, EACCES


def _report(kind, injected, one_line, loadable, identical, tmp_left=0):
    print(f"\nFAULTS {kind}: injected {injected}, one-line errors {one_line}, checkpoints loadable "
          f"{loadable}, resumed to the identical result {identical}, files lost {injected - identical}, "
          f"*.tmp left {tmp_left}")


def _case(calls, seed, i):
    """Case i: the ops in turn, k uniform (seeded) over that op's calls in a whole run, the errnos in turn."""
    op = OPS[i % len(OPS)]
    return op, random.Random(seed * 100 + i).randint(1, calls[op]), CODES[i % len(CODES)]


@pytest.fixture(scope="module")
def search_reference(tmp_path_factory):
    """The uninterrupted search and how many writes, renames and opens it made."""
    with pytest.MonkeyPatch.context() as m:
        counter = inject(m)
        path = search(tmp_path_factory.mktemp("ref"), "ref", epochs=SEARCH_EPOCHS)
    return comparable(path), counter.calls


@pytest.fixture(scope="module")
def train_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    with pytest.MonkeyPatch.context() as m:
        counter = inject(m)
        train("pdarts_3b", "digits", out=out, **TRAIN)
    return (out / "model.safetensors").read_bytes(), counter.calls


@pytest.mark.slow
@pytest.mark.parametrize("case", range(CASES))
def test_disk_full_or_read_only_during_a_search(tmp_path, monkeypatch, search_reference, case):
    reference, calls = search_reference
    op, k, code = _case(calls, 11, case)
    with monkeypatch.context() as m:
        fake = inject(m, op, k, code)
        with pytest.raises(OutputError) as e:
            search(tmp_path, "fault", epochs=SEARCH_EPOCHS)
    msg = str(e.value)
    assert fake.fired and "\n" not in msg and msg.startswith(f"cannot write {tmp_path}")
    assert errno.errorcode[code] in msg and not leftovers(tmp_path), (op, k)
    store = CheckpointStore(tmp_path / "fault.ckpt", "search")
    loadable = store.exists()
    if loadable:
        store.load()  # verified against its checksums
    search(tmp_path, "fault", epochs=SEARCH_EPOCHS, resume=True)
    assert comparable(tmp_path / "fault.yaml") == reference, (op, k)
    strict_json(tmp_path / "fault.history.json")
    assert not leftovers(tmp_path)
    _report(f"search {errno.errorcode[code]} at {op} #{k}/{calls[op]}", 1, 1, int(loadable), 1)


@pytest.mark.slow
@pytest.mark.parametrize("case", range(CASES))
def test_disk_full_or_read_only_during_training(tmp_path, monkeypatch, train_reference, case):
    reference, calls = train_reference
    op, k, code = _case(calls, 12, case)
    out = tmp_path / "fault"
    with monkeypatch.context() as m:
        fake = inject(m, op, k, code)
        with pytest.raises(OutputError) as e:
            train("pdarts_3b", "digits", out=out, **TRAIN)
    msg = str(e.value)
    assert fake.fired and "\n" not in msg and msg.startswith(f"cannot write {out}")
    assert errno.errorcode[code] in msg and not leftovers(tmp_path), (op, k)
    store = CheckpointStore(out / "checkpoints", "training")
    loadable = store.exists()
    if loadable:
        store.load()
    if (out / "metrics.json").exists():
        assert strict_json(out / "metrics.json")["status"] == "running"
    m = train("pdarts_3b", "digits", out=out, resume=True, **TRAIN)
    assert m["status"] == "complete" and (out / "model.safetensors").read_bytes() == reference, (op, k)
    assert not leftovers(tmp_path)
    _report(f"training {errno.errorcode[code]} at {op} #{k}/{calls[op]}", 1, 1, int(loadable), 1)


# --------------------------------------------------------------------------- SIGKILL of real processes
def _kill_after_checkpoint(proc, latest, epoch, delay, finished):
    """SIGKILL `proc` `delay` seconds after its checkpoint reaches `epoch`; the run must not have
    finished by then (`finished` exists)."""
    deadline = time.time() + 180
    while proc.poll() is None and time.time() < deadline:
        try:
            if json.loads(latest.read_text())["epoch"] >= epoch:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert latest.exists(), proc.stderr.read().decode()
    assert proc.returncode == -signal.SIGKILL and not finished.exists(), "the run finished before it was killed"


SEARCH_ARGS = ["--recipe", "darts_v1", "--data", "digits", "--epochs", "4", "--seed", "1", *CLI_TINY]
TRAIN_ARGS = ["pdarts_3b", "--data", "digits", "--epochs", "4", "--layers", "3", "--channels", "4",
              "--batch-size", "16", "--limit-train", "64", "--limit-test", "40", "--seed", "3", "--threads", "1",
              "--quiet"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def search_whole(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "whole.yaml"
    assert main(["search", *SEARCH_ARGS, "--out", str(out)]) == 0
    return comparable(out)


@pytest.fixture(scope="module")
def train_whole(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    assert main(["train", *TRAIN_ARGS, "--out", str(out)]) == 0
    return (out / "model.safetensors").read_bytes()


def _kill_twice_then_resume(argv, latest, finished, seed, last_epoch, store):
    """SIGKILL the run after checkpoint e1 (+ a random delay), resume it in a new process and SIGKILL
    that one after checkpoint e2 > e1 (+ a random delay): seeded points, the delays may land inside
    a write. After each kill the checkpoint loads (checksums verified). Returns the kill points."""
    rng = random.Random(seed)
    e1 = rng.randint(1, last_epoch - 2)
    points = [(e1, rng.uniform(0.0, 0.3)), (rng.randint(e1 + 1, last_epoch - 1), rng.uniform(0.0, 0.3))]
    for i, (epoch, delay) in enumerate(points):
        proc = subprocess.Popen(argv + (["--resume"] if i else []), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=ENV)
        _kill_after_checkpoint(proc, latest, epoch, delay, finished)
        store.load()
    return points


def _points(points):
    return ", ".join(f"checkpoint {epoch} + {delay:.2f} s" for epoch, delay in points)


@pytest.mark.slow
def test_a_search_killed_twice_resumes_to_the_same_genotype(tmp_path, search_whole):
    out = tmp_path / "killed.yaml"
    argv = [sys.executable, "-m", "zoo.search", *SEARCH_ARGS, "--out", str(out)]
    points = _kill_twice_then_resume(argv, tmp_path / "killed.ckpt" / "latest.json", out, seed=7, last_epoch=4,
                                     store=CheckpointStore(tmp_path / "killed.ckpt", "search"))
    assert main(["search", *SEARCH_ARGS, "--out", str(out), "--resume"]) == 0  # the lock died with the process
    assert comparable(out) == search_whole and not leftovers(tmp_path)
    _report(f"search SIGKILL at {_points(points)}", 2, "n/a (killed)", 2, 2)


@pytest.mark.slow
def test_a_training_run_killed_twice_resumes_to_the_same_weights(tmp_path, train_whole):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "zoo.cli", "train", *TRAIN_ARGS, "--out", str(out)]
    points = _kill_twice_then_resume(argv, out / "checkpoints" / "latest.json", out / "model.safetensors", seed=8,
                                     last_epoch=4, store=CheckpointStore(out / "checkpoints", "training"))
    assert main(["train", *TRAIN_ARGS, "--out", str(out), "--resume"]) == 0
    assert (out / "model.safetensors").read_bytes() == train_whole and not leftovers(tmp_path)
    assert strict_json(out / "metrics.json")["status"] == "complete"
    _report(f"training SIGKILL at {_points(points)}", 2, "n/a (killed)", 2, 2)
