"""Hub I/O in timm's format, exercised on local folders (no network in tests)."""

import json

import pytest
import timm
import torch

import zoo
from zoo import HubError
from zoo.hub import push_to_hub, save_pretrained


def _same_outputs(a, b):
    x = torch.randn(2, 3, 32, 32)
    a.eval(), b.eval()
    with torch.no_grad():
        return torch.allclose(a(x), b(x))


def test_zoo_model_round_trip_through_local_dir(tmp_path):
    src = timm.create_model("pdarts_3b", layers=5, channels=8, num_classes=4)
    folder = save_pretrained(src, tmp_path / "pdarts_3b", metrics={"top1": 12.5})
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "pdarts_3b"
    assert config["model_args"] == {"layers": 5, "channels": 8, "num_classes": 4, "auxiliary": True}
    dst = timm.create_model(f"local-dir:{folder}", pretrained=True)
    assert (dst.layers, dst.channels, dst.num_classes) == (5, 8, 4)
    assert _same_outputs(src, dst)
    card = (folder / "README.md").read_text()
    assert "library_name: timm" in card and "| top1 | 12.5 |" in card and "reconstructed" in card


def test_searched_genotype_travels_in_the_config(tmp_path):
    g = zoo.make_genotype("my_search", {
        "normal": (False, [[("sep_conv_3x3", 0), ("skip_connect", 1)], [("dil_conv_5x5", 2)]], None),
        "reduce": (True, [[("max_pool_3x3", 0), ("avg_pool_3x3", 1)]], None),
    })
    src = zoo.create_model(g, layers=4, channels=8)
    folder = save_pretrained(src, tmp_path / "mine")
    assert json.loads((folder / "config.json").read_text())["architecture"] == "darts_genotype"
    dst = timm.create_model(f"local-dir:{folder}", pretrained=True)
    assert dst.genotype.cells == g.cells
    assert _same_outputs(src, dst)


def test_op_set_override_is_kept(tmp_path):
    src = timm.create_model("darts_v2", op_set="sharp", layers=4, channels=8)
    dst = timm.create_model(f"local-dir:{save_pretrained(src, tmp_path / 'ssc')}", pretrained=True)
    assert dst.genotype.op_set == "sharp" and _same_outputs(src, dst)


def test_push_without_network_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    model = timm.create_model("darts_v1", layers=4, channels=8)
    with pytest.raises(HubError) as info:
        push_to_hub(model, "someone/darts_v1", token="hf_fake")
    assert "\n" not in str(info.value) and "someone/darts_v1" in str(info.value)
