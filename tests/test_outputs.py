"""Outputs are never lost or replaced silently: atomic writes that fail keep the previous file and
leave no *.tmp (one OutputError line), one process per output (zoo.locks), a finished search or
training run is replaced only with --overwrite, a NaN/inf in training stops the run as failed, no
JSON file holds NaN, and eval refuses weights that hold NaN/inf."""

import errno
import json
import shutil
import subprocess
import sys
import time

import pytest
import torch

import zoo
import zoo.atomic
from zoo.atomic import AppendFile, atomic_write_bytes, atomic_write_json, finite_json
from zoo.checkpoint import CheckpointStore, read_weights, save_weights
from zoo.cli import main
from zoo.errors import CheckpointError, OutputError
from zoo.locks import lock_path, output_lock
from zoo.benchmarks.train import RUN_FILES, TrainForward, TrainingDiverged, train
from fault_helpers import CODES, OPS, FailingOS, inject, leftovers, strict_json
from search_helpers import CLI_TINY, search

TINY = dict(layers=3, channels=4, limit_train=32, limit_test=40, batch_size=16, progress=False,
            log=lambda line: None)
TRAIN_CLI = ["pdarts_3b", "--data", "digits", "--layers", "3", "--channels", "4", "--batch-size", "16",
             "--limit-train", "32", "--limit-test", "40", "--quiet"]


def _one_line(e) -> str:
    text = str(e.value if hasattr(e, "value") else e)
    assert "\n" not in text, text
    return text


# --------------------------------------------------------------------------- zoo.atomic
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("code", CODES)
def test_a_failed_write_keeps_the_previous_file_and_leaves_no_tmp(tmp_path, monkeypatch, op, code):
    path = tmp_path / "out" / "metrics.json"
    atomic_write_json(path, {"old": True})
    inject(monkeypatch, op, 1, code)
    with pytest.raises(OutputError) as e:
        atomic_write_json(path, {"new": True})
    msg = _one_line(e)
    assert msg.startswith(f"cannot write {path}: ") and errno.errorcode[code] in msg and "unchanged" in msg
    assert json.loads(path.read_text()) == {"old": True}
    assert not leftovers(tmp_path)


def test_ctrl_c_during_a_write_leaves_no_tmp(tmp_path, monkeypatch):
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"old")

    class Interrupting(FailingOS):
        def replace(self, *a):
            raise KeyboardInterrupt

    monkeypatch.setattr(zoo.atomic, "os", Interrupting())
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old" and not leftovers(tmp_path)


def test_a_failed_log_append_is_one_line_and_keeps_the_lines_before(tmp_path, monkeypatch):
    log = AppendFile(tmp_path / "run.log")
    log.write("first\n")
    inject(monkeypatch, "write", 1, errno.ENOSPC)
    with pytest.raises(OutputError) as e:
        log.write("second\n")
    log.close()
    assert str(tmp_path / "run.log") in _one_line(e) and "ENOSPC" in str(e.value)
    assert (tmp_path / "run.log").read_text() == "first\n"


def test_json_files_never_hold_nan(tmp_path):
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "x.json", {"loss": float("nan")})
    assert not (tmp_path / "x.json").exists() and not leftovers(tmp_path)
    atomic_write_json(tmp_path / "x.json", finite_json({"loss": float("nan"), "h": [1.0, float("inf")], "n": 2}))
    assert strict_json(tmp_path / "x.json") == {"loss": None, "h": [1.0, None], "n": 2}


# --------------------------------------------------------------------------- zoo.locks
def test_a_second_writer_gets_one_line_and_the_lock_is_released(tmp_path):
    out = tmp_path / "x.yaml"
    with output_lock(out) as held:
        assert held == lock_path(out) == tmp_path / "x.yaml.lock"
        with pytest.raises(OutputError) as e:
            with output_lock(out):
                pass
        assert _one_line(e) == (f"another darts-zoo process is writing {out} (lock {held}); wait for it to finish, "
                                "or write elsewhere (another --out)")
    with output_lock(out):
        pass


def test_a_lock_in_a_read_only_folder_is_one_line(tmp_path, monkeypatch):
    import zoo.locks

    class ReadOnly:
        def __init__(self, *a, **k):
            pass

        def acquire(self):
            raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(zoo.locks, "FileLock", ReadOnly)
    with pytest.raises(OutputError) as e:
        with output_lock(tmp_path / "x.yaml"):
            pass
    assert _one_line(e).startswith(f"cannot write {tmp_path / 'x.yaml.lock'}: the file system is read-only (EROFS)")


# --------------------------------------------------------------------------- search outputs
def test_a_finished_search_is_not_replaced_without_overwrite(tmp_path, capsys):
    path = search(tmp_path, "done", epochs=1)
    before = path.read_bytes()
    with pytest.raises(OutputError) as e:
        search(tmp_path, "done", epochs=1)
    assert _one_line(e) == (f"{path}: a finished search result is already there; pass --overwrite to replace it, or "
                            f"--resume to continue the checkpoint in {tmp_path / 'done.ckpt'}")
    with pytest.raises(OutputError, match="--overwrite"):
        search(tmp_path, "done", epochs=1, restart=True)
    assert path.read_bytes() == before
    assert search(tmp_path, "done", epochs=1, resume=True) == path  # the checkpoint is complete: same file
    assert path.read_bytes() == before
    shutil.rmtree(tmp_path / "done.ckpt")
    with pytest.raises(OutputError, match="pass --overwrite to replace it, or write to another --out"):
        search(tmp_path, "done", epochs=1, resume=True)
    assert path.read_bytes() == before
    assert search(tmp_path, "done", epochs=2, overwrite=True) == path
    assert zoo.load_genotype(path).search["epochs"] == 2
    code = main(["search", "--recipe", "darts_v1", "--data", "digits", "--epochs", "1", *CLI_TINY,
                 "--out", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--overwrite" in err


def test_a_search_whose_out_is_locked_touches_nothing(tmp_path):
    with output_lock(tmp_path / "busy.yaml"):
        with pytest.raises(OutputError, match="another darts-zoo process is writing") as e:
            search(tmp_path, "busy", epochs=1)
    _one_line(e)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy.yaml.lock"]


@pytest.mark.slow
def test_two_searches_on_one_out_the_second_gets_one_line(tmp_path, capsys):
    """A real second process: the first holds the lock, the second stops at once with one line, and
    the first finishes with its outputs and log untouched."""
    args = ["--recipe", "darts_v1", "--data", "digits", "--epochs", "2", "--seed", "1", *CLI_TINY]
    out = tmp_path / "shared.yaml"
    first = subprocess.Popen([sys.executable, "-m", "zoo.search", *args, "--out", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = tmp_path / "shared.log"
    deadline = time.time() + 120
    while not log.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert log.exists(), first.stderr.read().decode()
    code = main(["search", *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert first.wait(timeout=300) == 0, first.stderr.read().decode()
    assert code == 2 and err == (f"darts-zoo: error: another darts-zoo process is writing {out} (lock "
                                 f"{out}.lock); wait for it to finish, or write elsewhere (another --out)\n")
    lines = log.read_text().splitlines()
    assert sum(line.startswith("search darts_v1 on digits") for line in lines) == 1
    assert lines[-1].startswith(f"wrote {out}") and zoo.load_genotype(out).search["epochs"] == 2


# --------------------------------------------------------------------------- training outputs
def test_a_finished_training_run_is_not_replaced_without_overwrite(tmp_path):
    out = tmp_path / "run"
    train("pdarts_3b", "digits", epochs=1, out=out, **TINY)
    with pytest.raises(CheckpointError, match="already holds a run; pass --resume to continue it, --overwrite"):
        train("pdarts_3b", "digits", epochs=1, out=out, **TINY)
    shutil.rmtree(out / "checkpoints")
    weights = (out / "model.safetensors").read_bytes()
    for resume in (False, True):
        with pytest.raises(OutputError) as e:
            train("pdarts_3b", "digits", epochs=1, out=out, resume=resume, **TINY)
        assert _one_line(e) == (f"{out} holds a finished training run (metrics.json complete) without its "
                                "checkpoints/, so nothing can be resumed; pass --overwrite to replace it, or "
                                "--out NEW_DIR")
    assert (out / "model.safetensors").read_bytes() == weights
    m = train("pdarts_3b", "digits", epochs=2, out=out, overwrite=True, **TINY)
    assert m["status"] == "complete" and m["epochs_done"] == 2
    assert CheckpointStore(out / "checkpoints", "training").read_meta()["epoch"] == 2
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_FILES + ("checkpoints",))


def test_a_training_run_whose_folder_is_locked_touches_nothing(tmp_path):
    with output_lock(tmp_path / "run"):
        with pytest.raises(OutputError, match="another darts-zoo process is writing"):
            train("pdarts_3b", "digits", epochs=1, out=tmp_path / "run", **TINY)
    assert not (tmp_path / "run").exists()


@pytest.fixture()
def nan_at(monkeypatch):
    """Make the training forward return NaN logits from its n-th call on (1-based)."""
    def arm(n):
        calls = {"n": 0}
        original = TrainForward.forward

        def forward(self, x):
            logits, aux = original(self, x)
            calls["n"] += 1
            if calls["n"] >= n:
                logits = logits * float("nan")
            return logits, aux

        monkeypatch.setattr(TrainForward, "forward", forward)
    return arm


def test_a_nan_loss_stops_training_as_failed_and_keeps_the_last_good_checkpoint(tmp_path, nan_at):
    out = tmp_path / "run"
    nan_at(3)  # 2 steps per epoch: the first step of epoch 2
    with pytest.raises(TrainingDiverged) as e:
        train("pdarts_3b", "digits", epochs=3, out=out, **TINY)
    msg = _one_line(e)
    assert msg.startswith("training diverged at epoch 2 step 1: train loss is nan; the last good checkpoint "
                          f"(epoch 1) is kept in {out / 'checkpoints'}")
    metrics = strict_json(out / "metrics.json")
    assert metrics["status"] == "failed" and metrics["complete"] is False and metrics["failure"] == msg
    assert metrics["epochs_done"] == 1
    assert CheckpointStore(out / "checkpoints", "training").load().state["epoch"] == 1
    assert not (out / "model.safetensors").exists()
    log = (out / "log.jsonl").read_text()
    assert [json.loads(line)["epoch"] for line in log.splitlines()] == [1] and "NaN" not in log


def test_a_nan_test_loss_stops_before_anything_is_recorded(tmp_path, monkeypatch):
    import zoo.benchmarks.train as tr

    def nan_eval(*a, **k):
        return {"loss": float("nan"), "top1": 0.0, "top5": 0.0, "n": 40}

    monkeypatch.setattr(tr, "run_eval", nan_eval)
    with pytest.raises(TrainingDiverged) as e:
        train("pdarts_3b", "digits", epochs=2, out=tmp_path / "run", **TINY)
    assert _one_line(e).startswith("training diverged at the end of epoch 1: test loss is nan; no checkpoint was "
                                   "written before it")
    assert strict_json(tmp_path / "run" / "metrics.json")["status"] == "failed"
    assert not (tmp_path / "run" / "checkpoints" / "latest.json").exists()


def test_cli_train_divergence_is_one_line_not_complete(tmp_path, nan_at, capsys):
    nan_at(1)
    code = main(["train", *TRAIN_CLI, "--epochs", "2", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("darts-zoo: error: training diverged at epoch 1 step 1: train loss is nan")
    assert strict_json(tmp_path / "run" / "metrics.json")["status"] == "failed"


def test_eval_refuses_weights_with_nan(tmp_path, capsys):
    args = {"family": "cifar", "num_classes": 10, "layers": 3, "channels": 4, "auxiliary": False}
    net = zoo.create_model("pdarts_3b", **{k: v for k, v in args.items() if k != "family"})
    tensors = net.state_dict()
    name = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[name] = torch.full_like(tensors[name], float("inf"))
    path = tmp_path / "model.safetensors"
    save_weights(path, tensors, {"model": "pdarts_3b", "data": "digits", "model_args": args})
    code = main(["eval", "pdarts_3b", "--data", "digits", "--checkpoint", str(path)])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.count("\n") == 1 and captured.out == ""
    assert captured.err.startswith(f"darts-zoo: error: {path}: the weights hold NaN or inf values (first in {name})")
    assert read_weights(path)[1]["model_args"] == args


def test_resuming_after_the_last_checkpoint_rewrites_the_records_a_kill_may_have_cut(tmp_path):
    out = tmp_path / "run"
    train("pdarts_3b", "digits", epochs=1, out=out, **TINY)
    log = (out / "log.jsonl").read_text()
    for name in ("log.jsonl", "curves.png", "model.safetensors"):
        (out / name).unlink()
    (out / "log.jsonl.tmp").write_text("half a line")  # as a SIGKILL inside the write leaves it
    lines = []
    m = train("pdarts_3b", "digits", epochs=1, out=out, resume=True, **{**TINY, "log": lines.append})
    assert m["status"] == "complete" and (out / "log.jsonl").read_text() == log
    assert any("all 1 epochs are done" in line for line in lines)
    assert not any("at epoch 2/1" in line for line in lines)
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_FILES + ("checkpoints",))
