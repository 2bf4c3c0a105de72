"""`darts-zoo push`: a run folder to a Hub folder (dry run: written, loadable, nothing uploaded),
and every way an upload fails as one line. No network: the upload function is replaced where a
test needs the Hub's answer."""

import json

import pytest
import timm
import torch
from huggingface_hub import ModelCard
from huggingface_hub import constants as hf_constants

import zoo.cli
import zoo.hub
from zoo.atomic import atomic_write_json
from zoo.checkpoint import save_weights
from zoo.errors import CheckpointError, ZooError
from zoo.benchmarks.push import push

ARGS = {"family": "cifar", "num_classes": 10, "auxiliary": False, "layers": 3, "channels": 4}


@pytest.fixture()
def run(tmp_path):
    """A finished run folder as `darts-zoo train` leaves it (weights with their build arguments in
    the header, metrics.json), and the network it holds."""
    folder = tmp_path / "run"
    torch.manual_seed(0)
    net = zoo.create_model("pdarts_3b", **{k: v for k, v in ARGS.items() if k != "family"}).eval()
    save_weights(folder / "model.safetensors", net.state_dict(), {"model": "pdarts_3b", "data": "digits",
                                                                  "model_args": ARGS})
    atomic_write_json(folder / "metrics.json", {
        "model": "pdarts_3b", "data": "digits", "complete": True, "status": "complete", "epochs": 2,
        "epochs_done": 2, "top1": 87.5, "top5": 99.17, "test_images": 360, "seed": 0,
        "recipe": {"name": "digits", "source": "darts-zoo reduced preset", "epochs": 2, "lr": 0.05}})
    return folder, net


@pytest.fixture()
def no_hub(monkeypatch):
    """Online as far as huggingface_hub knows, a token, a reachable Hub; the test sets the Hub's answer."""
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(zoo.hub, "get_token", lambda: "hf_test")
    monkeypatch.setattr(zoo.hub, "hub_unreachable", lambda *a, **k: None)


def _cli(capsys, *argv):
    code = zoo.cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _logits(net):
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return net.eval()(x)


def test_dry_run_writes_a_folder_that_loads_back_with_identical_logits(run, capsys):
    folder, net = run
    code, out, err = _cli(capsys, "push", str(folder), "--repo-id", "me/pdarts_3b-digits", "--dry-run")
    assert code == 0 and err == ""
    hub = folder / "hub"
    assert sorted(p.name for p in hub.iterdir()) == ["README.md", "cells", "config.json", "genotype.yaml",
                                                      "model.safetensors"]
    assert f"wrote {hub}" in out and "nothing uploaded (--dry-run)" in out
    loaded = timm.create_model(f"local-dir:{hub}", pretrained=True)
    assert (loaded.layers, loaded.channels) == (3, 4)
    assert torch.equal(_logits(net), _logits(loaded))
    card = ModelCard.load(hub / "README.md")
    assert [(r.dataset_type, r.dataset_split, r.metric_name, r.metric_value) for r in card.data.eval_results] == [
        ("digits", "test", "Top-1 accuracy", 87.5), ("digits", "test", "Top-5 accuracy", 99.17)]
    assert "hf-hub:me/pdarts_3b-digits" in card.text and "Recipe `digits`" in card.text
    # timm's data config of the folder normalizes as the digits were during training.
    assert json.loads((hub / "config.json").read_text())["pretrained_cfg"]["mean"] == [0.3054] * 3


def test_a_checkpoint_file_and_another_folder(run, tmp_path, capsys):
    folder, net = run
    code, out, _ = _cli(capsys, "push", str(folder / "model.safetensors"), "--repo-id", "me/x", "--dry-run",
                        "--out", str(tmp_path / "elsewhere"))
    assert code == 0
    assert torch.equal(_logits(net), _logits(timm.create_model(f"local-dir:{tmp_path / 'elsewhere'}",
                                                               pretrained=True)))


def test_upload_sends_the_folder_to_the_repo_and_branch(run, no_hub, monkeypatch):
    folder, _ = run
    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("token", token))

        def create_repo(self, repo_id, private=False, exist_ok=False, repo_type=None):
            calls.append(("create_repo", repo_id, private, exist_ok))

        def create_branch(self, repo_id, branch, repo_type=None, exist_ok=False):
            calls.append(("create_branch", repo_id, branch))

        def upload_folder(self, folder_path, repo_id, repo_type=None, revision=None, commit_message=""):
            from pathlib import Path

            calls.append(("upload_folder", repo_id, revision, sorted(p.name for p in Path(folder_path).iterdir())))

            class Info:
                commit_url = f"https://huggingface.co/{repo_id}/commit/abc"
            return Info()

    monkeypatch.setattr(zoo.hub, "HfApi", FakeApi)
    result = push(folder, "me/pdarts_3b", private=True, revision="v1", log=lambda line: None)
    assert result == {"folder": None, "url": "https://huggingface.co/me/pdarts_3b/commit/abc"}
    assert calls == [("token", "hf_test"), ("create_repo", "me/pdarts_3b", True, True),
                     ("create_branch", "me/pdarts_3b", "v1"),
                     ("upload_folder", "me/pdarts_3b", "v1",
                      ["README.md", "cells", "config.json", "genotype.yaml", "model.safetensors"])]
    assert not (folder / "hub").exists()  # without --dry-run/--out the folder is a temporary one


def _hf_error(cls, status):
    class Response:  # what huggingface_hub's errors read of an HTTP response
        headers, status_code, request = {}, status, None

    return cls(f"{status} Client Error", response=Response())


@pytest.mark.parametrize("error, expected", [
    ("RepositoryNotFoundError", "could not upload to hf.co/someone-else/model: the Hub has no model repo "
                                "someone-else/model that this token may write to; check the name"),
    ("HfHubHTTPError", "could not upload to hf.co/someone-else/model: the Hub answered 403 (403 Client Error); the "
                       "token may not write to this repo; use a write token of its owner"),
    ("LocalTokenNotFoundError", "could not upload to hf.co/someone-else/model: no Hugging Face token; run "
                                "`huggingface-cli login`"),
])
def test_the_hubs_refusals_are_one_line(run, no_hub, monkeypatch, capsys, error, expected):
    import huggingface_hub.errors as hf_errors

    cls = getattr(hf_errors, error)
    exc = cls("no token") if error == "LocalTokenNotFoundError" else _hf_error(cls, 404 if "Repository" in error else 403)

    class RefusingApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, *a, **k):
            raise exc

    monkeypatch.setattr(zoo.hub, "HfApi", RefusingApi)
    code, out, err = _cli(capsys, "push", str(run[0]), "--repo-id", "someone-else/model")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"darts-zoo: error: {expected}")


def test_offline_no_token_or_no_network_is_one_line_before_any_work(run, monkeypatch, capsys):
    folder, _ = run
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = _cli(capsys, "push", str(folder), "--repo-id", "me/x")
    assert code == 2 and err == ("darts-zoo: error: could not upload to the Hub repo 'me/x': HF_HUB_OFFLINE is set; "
                                 "unset it and connect to the network, or write the folder only with --dry-run\n")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(zoo.hub, "get_token", lambda: None)
    code, _, err = _cli(capsys, "push", str(folder), "--repo-id", "me/x")
    assert code == 2 and err == ("darts-zoo: error: no Hugging Face token: run `huggingface-cli login` (or set "
                                 "HF_TOKEN) with a token that may write to the repo, then retry\n")
    monkeypatch.setattr(zoo.hub, "get_token", lambda: "hf_test")
    monkeypatch.setattr(hf_constants, "ENDPOINT", "https://darts-zoo-test-no-such-host.invalid")
    code, _, err = _cli(capsys, "push", str(folder), "--repo-id", "me/x")
    assert code == 2 and err.count("\n") == 1 and "darts-zoo-test-no-such-host.invalid:443 cannot be reached" in err
    assert not (folder / "hub").exists()


def test_run_folders_without_weights_and_bad_input_are_one_line(run, tmp_path, capsys):
    folder, _ = run
    unfinished = tmp_path / "unfinished"
    (unfinished / "checkpoints").mkdir(parents=True)
    atomic_write_json(unfinished / "metrics.json", {"status": "running", "epochs": 10, "epochs_done": 3})
    failed = tmp_path / "failed"
    atomic_write_json(failed / "metrics.json", {"status": "failed", "failure": "training diverged at epoch 2"})
    cases = [
        (unfinished, f"{unfinished}: no model.safetensors: the run has not finished (3/10 epochs); finish it with "
                     f"`darts-zoo train MODEL --data DATA --out {unfinished} --resume`"),
        (failed, f"{failed}: the run failed (training diverged at epoch 2), so it has no model.safetensors"),
        (tmp_path / "nothing", f"{tmp_path / 'nothing'}: no such run folder or weights file"),
        (tmp_path, f"{tmp_path}: no model.safetensors, so not a finished training run"),
    ]
    for source, expected in cases:
        code, out, err = _cli(capsys, "push", str(source), "--repo-id", "me/x", "--dry-run")
        assert code == 2 and err.count("\n") == 1 and err.startswith(f"darts-zoo: error: {expected}"), err
    code, _, err = _cli(capsys, "push", str(folder), "--repo-id", "not a repo", "--dry-run")
    assert code == 2 and "'not a repo' is not a Hub repo id; write USER/NAME" in err
    code, _, err = _cli(capsys, "push", str(folder), "--dry-run")
    assert code == 2 and "--repo-id USER/NAME is required" in err
    bare = tmp_path / "bare.safetensors"
    save_weights(bare, zoo.create_model("pdarts_3b", layers=3, channels=4).state_dict())
    with pytest.raises(CheckpointError, match="has no darts-zoo header naming its network and dataset; pass --model"):
        push(bare, "me/x", dry_run=True)
    # A bare checkpoint with the network named loads as that network.
    result = push(bare, "me/x", dry_run=True, model="pdarts_3b", data="cifar10", layers=3, channels=4,
                  log=lambda line: None)
    assert timm.create_model(f"local-dir:{result['folder']}", pretrained=True).layers == 3
    with pytest.raises(ZooError):
        push(bare, "me/x", dry_run=True, model="pdarts_3b", data="cifar10", log=lambda line: None)  # 26 x 36: no


def test_a_run_of_a_genotype_file(tmp_path, capsys):
    """The network of a run trained from a genotype file is rebuilt from that file, or from the
    genotype.yaml `reproduce` keeps beside the run once the file has moved; the folder's config.json
    then carries the genotype itself."""
    g = zoo.make_genotype("my_cell", {"normal": (False, [[("sep_conv_3x3", 0), ("skip_connect", 1)]], None),
                                      "reduce": (True, [[("max_pool_3x3", 0), ("avg_pool_3x3", 1)]], None)})
    cell = zoo.save_genotype(g, tmp_path / "my_cell.yaml")
    net = zoo.create_model(cell, layers=3, channels=4, auxiliary=False).eval()
    folder = tmp_path / "run"
    save_weights(folder / "model.safetensors", net.state_dict(),
                 {"model": str(cell), "data": "digits", "model_args": ARGS})
    assert _cli(capsys, "push", folder, "--repo-id", "me/my_cell", "--dry-run")[0] == 0
    loaded = timm.create_model(f"local-dir:{folder / 'hub'}", pretrained=True)
    assert json.loads((folder / "hub" / "config.json").read_text())["architecture"] == "darts_genotype"
    assert loaded.genotype.cells == g.cells and torch.equal(_logits(net), _logits(loaded))
    cell.unlink()
    code, _, err = _cli(capsys, "push", folder, "--repo-id", "me/my_cell", "--dry-run")
    assert code == 2 and err == (f"darts-zoo: error: {folder / 'model.safetensors'}: trained from the genotype file "
                                 f"{cell}, which is not there now; pass --model PATH_TO_THAT_GENOTYPE\n")
    zoo.save_genotype(g, folder / "genotype.yaml")
    assert _cli(capsys, "push", folder, "--repo-id", "me/my_cell", "--dry-run")[0] == 0
