"""Pretrained weights without a network: one line within seconds (not huggingface_hub's retries),
HF_HUB_OFFLINE honoured, the cache used when the Hub cannot be reached, and each other way of not
loading weights (no such repo or file, weights of another network, a missing local file) its own
accurate line. The network tests are real: an endpoint under `.invalid` (RFC 2606: never resolves),
and the real Hub host when this machine cannot reach it."""

import os
import subprocess
import sys
import time

import pytest
import timm
import torch
from huggingface_hub import constants as hf_constants

import zoo
import zoo.hub
from zoo.checkpoint import save_weights
from zoo.errors import CheckpointError, HubError
from zoo.hub import hub_unreachable

NOWHERE = "https://darts-zoo-test-no-such-host.invalid"
SMALL = dict(layers=4, channels=8)


@pytest.fixture()
def hub(monkeypatch, tmp_path):
    """An empty Hugging Face cache and no offline setting; `hub.nowhere()` points the endpoint at
    a host that never resolves."""
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # Nothing is published (zoo/pretrained.yaml), so these tests name the organisation to look in,
    # as someone who publishes their own weights does.
    monkeypatch.setenv("DARTS_ZOO_HUB_ORG", "darts-zoo")

    class Hub:
        cache = tmp_path / "hf-cache"

        @staticmethod
        def nowhere():
            monkeypatch.setattr(hf_constants, "ENDPOINT", NOWHERE)

        @staticmethod
        def offline():
            monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    return Hub


def _failure(call, limit_s):
    start = time.perf_counter()
    with pytest.raises((HubError, CheckpointError)) as e:
        call()
    seconds = time.perf_counter() - start
    assert seconds < limit_s, f"took {seconds:.1f} s"
    assert "\n" not in str(e.value)
    return e.value, seconds


def test_no_network_is_one_line_within_seconds(hub):
    hub.nowhere()
    e, seconds = _failure(lambda: timm.create_model("darts_v1", pretrained=True), 15)
    assert isinstance(e, HubError) and str(e).startswith(
        "darts_v1: cannot download the pretrained weights darts-zoo/darts_v1 (model.safetensors): the Hugging Face "
        "Hub is not reachable (darts-zoo-test-no-such-host.invalid:443 cannot be reached")
    assert "pretrained_cfg_overlay=dict(file='model.safetensors')" in str(e)


def test_the_real_hub_host_when_this_machine_has_no_network(hub):
    if hub_unreachable() is None:
        pytest.skip("the Hugging Face Hub is reachable from here")
    e, seconds = _failure(lambda: zoo.create_model("pdarts_3b", family="imagenet", pretrained=True), 15)
    assert isinstance(e, HubError) and "darts-zoo/pdarts_3b_imagenet (model.safetensors)" in str(e)
    assert "not reachable" in str(e)


def test_cli_eval_pretrained_without_network_is_one_line(tmp_path):
    env = {**os.environ, "HF_ENDPOINT": NOWHERE, "HF_HUB_CACHE": str(tmp_path / "hf-cache"), "OMP_NUM_THREADS": "1",
           "DARTS_ZOO_HUB_ORG": "darts-zoo"}
    env.pop("HF_HUB_OFFLINE", None)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "zoo.cli", "eval", "darts_v1", "--data", "digits", "--pretrained"],
                          capture_output=True, text=True, env=env, timeout=120)
    seconds = time.perf_counter() - start
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Retrying" not in proc.stderr
    assert proc.stderr.startswith("darts-zoo: error: darts_v1: cannot download the pretrained weights "
                                  "darts-zoo/darts_v1 (model.safetensors)")
    assert seconds < 60  # most of it is importing torch and timm; the failure itself takes well under a second


@pytest.mark.parametrize("how", ["environment", "huggingface_hub.constants"])
def test_offline_mode_is_honoured_at_once(hub, monkeypatch, how):
    hub.nowhere()
    if how == "environment":
        hub.offline()
    else:
        monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    e, seconds = _failure(lambda: timm.create_model("darts_v2", pretrained=True), 2)
    assert str(e) == ("darts_v2: HF_HUB_OFFLINE is set and the pretrained weights darts-zoo/darts_v2 "
                      "(model.safetensors) are not in the local Hugging Face cache; unset HF_HUB_OFFLINE to download "
                      "them, or pass pretrained_cfg_overlay=dict(file='model.safetensors') for local weights")


def test_cached_weights_load_offline_and_without_network(hub, monkeypatch):
    src = timm.create_model("darts_v1", **SMALL)
    snapshot = hub.cache / "models--darts-zoo--darts_v1" / "snapshots" / ("0" * 40)
    save_weights(snapshot / "model.safetensors", src.state_dict())
    (hub.cache / "models--darts-zoo--darts_v1" / "refs").mkdir()
    (hub.cache / "models--darts-zoo--darts_v1" / "refs" / "main").write_text("0" * 40)
    hub.nowhere()
    for offline in (False, True):
        if offline:
            hub.offline()
        net = timm.create_model("darts_v1", pretrained=True, **SMALL)
        assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), net.state_dict().values()))


def _hf_error(cls, message):
    class Response:
        headers, status_code, request = {}, 404, None
    try:
        return cls(message, response=Response())
    except TypeError:  # older huggingface_hub
        return cls(message)


@pytest.mark.parametrize("error, expected", [
    ("RepositoryNotFoundError", "the Hub has no model repo darts-zoo/darts_v1; check the name, or "
                                "`huggingface-cli login` if the repo is private"),
    ("EntryNotFoundError", "hf.co/darts-zoo/darts_v1 has no model.safetensors; check the repo's files"),
    ("ConnectionError", "the download failed (ConnectionError: reset by peer); check the network"),
])
def test_a_hub_that_answers_without_the_weights_is_one_accurate_line(hub, monkeypatch, error, expected):
    import huggingface_hub.errors as hf_errors

    cls = {"RepositoryNotFoundError": hf_errors.RepositoryNotFoundError,
           "EntryNotFoundError": getattr(hf_errors, "RemoteEntryNotFoundError", hf_errors.EntryNotFoundError),
           "ConnectionError": ConnectionError}[error]
    exc = ConnectionError("reset by peer") if cls is ConnectionError else _hf_error(cls, "404")

    def download(*a, **k):
        raise exc

    monkeypatch.setattr(zoo.hub, "hub_unreachable", lambda *a, **k: None)
    monkeypatch.setattr(zoo.hub, "hf_hub_download", download)
    e, _ = _failure(lambda: timm.create_model("darts_v1", pretrained=True), 5)
    assert str(e) == ("darts_v1: cannot load the pretrained weights darts-zoo/darts_v1 (model.safetensors): "
                      f"{expected}, or pass pretrained_cfg_overlay=dict(file='model.safetensors') for local weights")
    assert ("network" in str(e)) == (error == "ConnectionError")


def test_weights_of_another_network_or_a_missing_file_do_not_blame_the_network(tmp_path):
    other = tmp_path / "other.safetensors"
    save_weights(other, timm.create_model("darts_v1", **SMALL).state_dict())
    e, _ = _failure(lambda: timm.create_model("pdarts_3b", pretrained=True, **SMALL,
                                              pretrained_cfg_overlay=dict(file=str(other))), 10)
    assert isinstance(e, CheckpointError) and str(e).startswith(
        f"pdarts_3b: the pretrained weights {other} are for another network (")
    e, _ = _failure(lambda: timm.create_model("darts_v1", pretrained=True, layers=4, channels=12,
                                              pretrained_cfg_overlay=dict(file=str(other))), 10)
    assert "are for another network (size mismatch for" in str(e)
    missing = tmp_path / "nope.safetensors"
    e, _ = _failure(lambda: timm.create_model("darts_v1", pretrained=True,
                                              pretrained_cfg_overlay=dict(file=str(missing))), 2)
    assert str(e) == (f"darts_v1: the pretrained weights file {missing} does not exist (pretrained_cfg file=...); "
                      "pass the path of an existing model.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    e, _ = _failure(lambda: timm.create_model("darts_v1", pretrained=True,
                                              pretrained_cfg_overlay=dict(file=str(garbage))), 2)
    assert str(e).startswith(f"{garbage}: not a readable safetensors file")
    for text in ("network", "hf.co"):
        assert text not in str(e)
    net = timm.create_model("darts_v1", pretrained=True, **SMALL, pretrained_cfg_overlay=dict(file=str(other)))
    assert net.layers == 4


def test_push_without_network_fails_at_once(hub):
    hub.nowhere()
    model = timm.create_model("darts_v1", **SMALL)
    e, _ = _failure(lambda: zoo.hub.push_to_hub(model, "someone/darts_v1", token="hf_fake"), 15)
    assert str(e).startswith("could not upload to the Hub repo 'someone/darts_v1': darts-zoo-test-no-such-host"
                             ".invalid:443 cannot be reached")


def test_zoo_create_model_of_an_hf_hub_repo_without_network_is_one_line_at_once(monkeypatch, tmp_path):
    import zoo
    from zoo.errors import HubError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(HubError) as e:
        zoo.create_model("hf-hub:someone/not-cached-repo", pretrained=True)
    assert "HF_HUB_OFFLINE is set" in str(e.value) and "\n" not in str(e.value)
    assert time.perf_counter() - start < 10  # no retries: the check runs before timm's download
