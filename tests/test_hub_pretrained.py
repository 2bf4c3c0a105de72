"""Honest pretrained tags: timm lists a zoo tag as pretrained only when zoo/pretrained.yaml says its
weights are published; `pretrained=True` without them is one line naming the repo and file and the
two commands that make them; the Hub organisation is one setting; weights load, with the real
huggingface_hub code, from a pre-populated cache in offline mode (`pretrained=True` and `hf-hub:`)
and from local files. No network: the endpoint is a host that never resolves."""

import shutil

import pytest
import timm
import torch
from huggingface_hub import constants as hf_constants
from hypothesis import given, settings, strategies as st

import zoo
import zoo.models
import zoo.pretrained
from zoo.errors import HubError, ZooError
from zoo.hub import save_pretrained
from zoo.pretrained import Published, hub_org, published_weights, set_hub_org

NOWHERE = "https://darts-zoo-test-no-such-host.invalid"
SMALL = dict(layers=4, channels=8)


@pytest.fixture()
def offline_cache(monkeypatch, tmp_path):
    """An empty Hugging Face cache, offline mode on, no organisation set, an endpoint that never resolves."""
    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "ENDPOINT", NOWHERE)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DARTS_ZOO_HUB_ORG", raising=False)
    yield cache
    set_hub_org(None)


def _cache_repo(cache, repo, folder):
    """Lay `folder`'s files out as huggingface_hub caches a downloaded model repo."""
    entry = cache / f"models--{repo.replace('/', '--')}"
    commit = "1" * 40
    shutil.copytree(folder, entry / "snapshots" / commit)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(commit)


def _same_logits(a, b):
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return torch.equal(a.eval()(x), b.eval()(x))


def test_no_zoo_tag_is_listed_as_pretrained_while_nothing_is_published():
    assert published_weights() == {}
    listed = set(timm.list_pretrained()) | set(timm.list_models(pretrained=True))
    for name in zoo.ZOO_NAMES:
        assert not {f"{name}.cifar10", f"{name}_imagenet.in1k", name, f"{name}_imagenet"} & listed
    assert "pdarts_3b.cifar10" in timm.list_models("pdarts_3b*", include_tags=True)  # the tag exists, without weights


def test_pretrained_without_published_weights_is_one_line(offline_cache):
    with pytest.raises(HubError) as e:
        timm.create_model("pdarts_3b", pretrained=True, **SMALL)
    assert str(e.value) == (
        "pdarts_3b: no pretrained weights are published for pdarts_3b.cifar10 (looked for darts-zoo/pdarts_3b "
        "(model.safetensors) in darts-zoo's list of published weights, zoo/pretrained.yaml); make them with "
        "`darts-zoo reproduce pdarts_3b --data cifar10 --push USER/pdarts_3b` (or `darts-zoo train pdarts_3b --data "
        "cifar10 --out RUN` then `darts-zoo push RUN --repo-id USER/pdarts_3b`) and load them with "
        "DARTS_ZOO_HUB_ORG=USER, or pass pretrained_cfg_overlay=dict(file='model.safetensors') for local weights")
    with pytest.raises(HubError, match=r"^pdarts_imagenet: no pretrained weights are published for "
                                       r"pdarts_imagenet\.in1k .*reproduce pdarts --data imagenet --push "
                                       r"USER/pdarts_imagenet"):
        zoo.create_model("pdarts", family="imagenet", pretrained=True, **SMALL)
    with pytest.raises(HubError, match="^darts_genotype: a genotype file has no published weights; load a folder"):
        zoo.create_model(zoo.zoo_genotype("darts_v1"), pretrained=True, **SMALL)


def test_the_hub_organisation_is_one_setting(offline_cache, monkeypatch):
    assert hub_org() == "darts-zoo"
    monkeypatch.setenv("DARTS_ZOO_HUB_ORG", "lab-a")
    assert hub_org() == "lab-a"
    set_hub_org("lab_b")  # the function wins over the environment
    assert hub_org() == "lab_b"
    with pytest.raises(HubError) as e:  # now looked up on the Hub (the cache: offline), as lab_b/MODEL
        timm.create_model("darts_v2", pretrained=True, **SMALL)
    assert str(e.value).startswith("darts_v2: HF_HUB_OFFLINE is set and the pretrained weights lab_b/darts_v2 "
                                   "(model.safetensors) are not in the local Hugging Face cache")
    with pytest.raises(ZooError, match="^set_hub_org: 'no/slash' is not a Hub user or organisation name"):
        set_hub_org("no/slash")
    set_hub_org(None)
    monkeypatch.setenv("DARTS_ZOO_HUB_ORG", "bad name")
    with pytest.raises(ZooError, match="^DARTS_ZOO_HUB_ORG: 'bad name' is not a Hub"):
        hub_org()


def test_own_organisation_weights_load_from_the_cache_offline(offline_cache, tmp_path, monkeypatch):
    src = timm.create_model("darts_v1", **SMALL)
    _cache_repo(offline_cache, "lab/darts_v1", save_pretrained(src, tmp_path / "export", drawings=False))
    monkeypatch.setenv("DARTS_ZOO_HUB_ORG", "lab")
    net = timm.create_model("darts_v1", pretrained=True, **SMALL)
    assert _same_logits(src, net)


def test_hf_hub_prefix_loads_from_the_cache_offline(offline_cache, tmp_path):
    g = zoo.make_genotype("my_search", {
        "normal": (False, [[("sep_conv_3x3", 0), ("skip_connect", 1)], [("dil_conv_3x3", 2)]], None),
        "reduce": (True, [[("max_pool_3x3", 0), ("avg_pool_3x3", 1)]], None)})
    src = zoo.create_model(g, layers=4, channels=8, num_classes=7)
    _cache_repo(offline_cache, "someone/my-search", save_pretrained(src, tmp_path / "export", drawings=False))
    for net in (timm.create_model("hf-hub:someone/my-search", pretrained=True),
                zoo.create_model("hf-hub:someone/my-search", pretrained=True)):
        assert net.genotype.cells == g.cells and net.num_classes == 7
        assert _same_logits(src, net)


def test_a_published_tag_is_listed_and_loads_from_the_cache(offline_cache, tmp_path, monkeypatch):
    """What an entry in zoo/pretrained.yaml does: the tag becomes pretrained in timm's registry and
    `pretrained=True` fetches the listed repo, file and revision."""
    text = ("schema: 1\npublished:\n  darts_v2.cifar10: {repo: darts-zoo/darts_v2, file: weights.safetensors, "
            "data: cifar10, top1: 97.2}\n")
    listed = tmp_path / "pretrained.yaml"
    listed.write_text(text)
    entries = published_weights(listed)
    assert entries == {"darts_v2.cifar10": Published("darts_v2.cifar10", "darts-zoo/darts_v2", "weights.safetensors",
                                                     None, {"data": "cifar10", "top1": 97.2})}
    src = timm.create_model("darts_v2", **SMALL)
    folder = save_pretrained(src, tmp_path / "export", drawings=False)
    (folder / "model.safetensors").rename(folder / "weights.safetensors")
    _cache_repo(offline_cache, "darts-zoo/darts_v2", folder)
    monkeypatch.setattr(zoo.models, "published_weights", lambda: entries)
    monkeypatch.setattr(zoo.pretrained, "published_weights", lambda: entries)
    try:
        zoo.models._register_all()
        assert "darts_v2.cifar10" in timm.list_pretrained("darts_v2*")
        assert "darts_v2_imagenet.in1k" not in timm.list_pretrained("darts_v2*")
        net = timm.create_model("darts_v2", pretrained=True, **SMALL)
        assert net.pretrained_cfg["hf_hub_id"] == "darts-zoo/darts_v2" and _same_logits(src, net)
    finally:
        monkeypatch.undo()
        zoo.models._register_all()
    assert timm.list_pretrained("darts_v2*") == []


def test_the_published_list_refuses_a_bad_entry(tmp_path):
    bad = tmp_path / "pretrained.yaml"
    bad.write_text("published:\n  darts_v2.cifar10: {repo: not a repo}\n")
    with pytest.raises(ZooError, match=r"published\.darts_v2\.cifar10\.repo: 'not a repo' is not a Hub repo id"):
        published_weights(bad)
    bad.write_text("published: [1, 2]\n")
    with pytest.raises(ZooError, match="needs a `published:` mapping"):
        published_weights(bad)


def test_local_weights_file_through_the_overlay(tmp_path):
    src = timm.create_model("pdarts_3b", layers=5, channels=8, num_classes=4)
    folder = save_pretrained(src, tmp_path / "export", drawings=False)
    net = timm.create_model("pdarts_3b", pretrained=True, layers=5, channels=8, num_classes=4,
                            pretrained_cfg_overlay=dict(file=str(folder / "model.safetensors")))
    assert _same_logits(src, net)
    assert _same_logits(src, timm.create_model(f"local-dir:{folder}", pretrained=True))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_a_repo_id_is_accepted_as_written_or_refused_in_one_line(text):
    from zoo.pretrained import check_repo_id

    try:
        assert check_repo_id(text) == text
    except ZooError as e:
        assert "\n" not in str(e) and "is not a Hub repo id; write USER/NAME" in str(e)
    else:  # what the Hub takes: one slash, each side a name that does not start with a symbol
        user, name = text.split("/")
        assert user[0].isalnum() and name[0].isalnum() and ".." not in text and text.isascii()
