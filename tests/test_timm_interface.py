"""The zoo honours timm's model contract."""

import pytest
import timm
import torch
from safetensors.torch import save_file
from timm.data import resolve_data_config

import zoo
from zoo import HubError, ZooError

SMALL = dict(layers=5, channels=8)  # a full-size model is needlessly slow for interface checks


def test_zoo_is_listed_by_timm():
    listed = set(timm.list_models("*darts*")) | set(timm.list_models("milenas*"))
    for name in zoo.ZOO_NAMES:
        assert name in listed and f"{name}_imagenet" in listed
    assert {"darts_genotype", "darts_genotype_imagenet"} <= set(timm.list_models("darts_genotype*"))


def test_defaults_are_the_papers_headline_setting():
    m = timm.create_model("pdarts_3b")
    assert (m.layers, m.channels, m.num_classes, m.drop_path_rate) == (26, 36, 10, 0.3)
    m = timm.create_model("darts_v2_imagenet")
    assert (m.layers, m.channels, m.num_classes) == (14, 48, 1000)
    m = timm.create_model("pdarts_3b", layers=8, channels=16)
    assert (m.layers, m.channels) == (8, 16)


def test_forward_features_head_and_classifier():
    m = timm.create_model("darts_v2", num_classes=7, **SMALL).eval()
    x = torch.randn(2, 3, 32, 32)
    feats = m.forward_features(x)
    assert feats.shape == (2, m.num_features, 8, 8)
    assert m.forward_head(feats, pre_logits=True).shape == (2, m.num_features)
    assert torch.allclose(m.forward_head(feats), m(x))
    assert m.get_classifier().out_features == 7
    m.reset_classifier(3)
    assert m(x).shape == (2, 3)
    m.reset_classifier(0)
    assert m(x).shape == (2, m.num_features)
    m.reset_classifier(5, global_pool="max")
    assert m(x).shape == (2, 5)


def test_in_chans_global_pool_and_drop_path():
    m = timm.create_model("pdarts", in_chans=1, global_pool="avgmax", drop_path_rate=0.5, **SMALL)
    assert m.drop_path_prob == 0.5
    x = torch.randn(2, 1, 32, 32)
    m.train()
    torch.manual_seed(0)
    a = m(x)
    torch.manual_seed(1)
    b = m(x)
    assert not torch.allclose(a, b), "drop path is stochastic in training"
    m.eval()
    assert torch.allclose(m(x), m(x)), "and off in eval"


def test_auxiliary_logits_for_training():
    m = timm.create_model("pc_darts", **SMALL).train()
    logits, aux = m.forward_train(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 10)
    assert isinstance(m(torch.randn(2, 3, 32, 32)), torch.Tensor), "forward returns a tensor"
    m.eval()
    assert m.forward_train(torch.randn(1, 3, 32, 32))[1] is None
    assert timm.create_model("pc_darts", auxiliary=False, **SMALL).auxiliary_head is None


@pytest.mark.parametrize("name,size", [("sharpdarts", 32), ("pdarts_imagenet", 224)])
def test_features_only(name, size):
    m = timm.create_model(name, features_only=True, **SMALL).eval()
    feats = m(torch.randn(1, 3, size, size))
    assert [f.shape[1] for f in feats] == m.feature_info.channels()
    assert [size // f.shape[-1] for f in feats] == m.feature_info.reduction()
    sub = timm.create_model(name, features_only=True, out_indices=(1, 3), **SMALL).eval()
    feats = sub(torch.randn(1, 3, size, size))
    assert len(feats) == 2 and [f.shape[1] for f in feats] == sub.feature_info.channels()


def test_pretrained_cfg_resolves_data_config():
    cifar = resolve_data_config({}, model=timm.create_model("pdarts_3b", **SMALL))
    assert cifar["input_size"] == (3, 32, 32) and cifar["crop_pct"] == 1.0
    assert cifar["mean"] == pytest.approx((0.4914, 0.4822, 0.4465))
    imagenet = resolve_data_config({}, model=timm.create_model("pdarts_3b_imagenet", **SMALL))
    assert imagenet["input_size"] == (3, 224, 224) and imagenet["crop_pct"] == 0.875
    cfg = timm.create_model("darts_v2", **SMALL).pretrained_cfg
    assert cfg["first_conv"] == "stem.0" and cfg["classifier"] == "classifier"
    assert "hf_hub_id" not in cfg  # nothing is published yet (zoo/pretrained.yaml)


def test_generic_genotype_entry_point(tmp_path):
    path = zoo.save_genotype(zoo.zoo_genotype("darts_v1"), tmp_path / "mine.yaml")
    a = timm.create_model("darts_genotype", genotype=str(path), **SMALL)
    b = zoo.create_model(path, **SMALL)
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    c = zoo.create_model(path, family="imagenet", **SMALL)
    assert c(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    with pytest.raises(ZooError, match="needs genotype="):
        timm.create_model("darts_genotype")


def test_unknown_keyword_is_rejected():
    with pytest.raises(ZooError, match="unexpected keyword 'layer'"):
        timm.create_model("pdarts", layer=8)


def test_op_set_and_option_overrides():
    ssc = timm.create_model("darts_v2", op_set="sharp", **SMALL)
    plain = timm.create_model("darts_v2", **SMALL)
    assert sum(p.numel() for p in ssc.parameters()) != sum(p.numel() for p in plain.parameters())
    wide = timm.create_model("sharpdarts", c_mid=96, **SMALL)
    narrow = timm.create_model("sharpdarts", **SMALL)
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in narrow.parameters())


def test_local_pretrained_weights_through_timm(tmp_path):
    src = timm.create_model("pdarts_3b", **SMALL)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(path))
    dst = timm.create_model("pdarts_3b", pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **SMALL)
    for (k, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert torch.equal(a, b), k


def test_pretrained_without_network_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubError) as info:
        timm.create_model("pdarts_3b", pretrained=True, **SMALL)
    message = str(info.value)
    assert "\n" not in message and "darts-zoo/pdarts_3b" in message


def test_torch_compile_full_graph():
    m = timm.create_model("darts_v2", **SMALL).eval()
    x = torch.randn(2, 3, 32, 32)
    # aot_eager traces the whole graph (dynamo + AOTAutograd) without C++ code generation, which
    # is what can fail in a model; inductor's CPU/GPU kernels are exercised by the benchmarks.
    compiled = torch.compile(m, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        assert torch.allclose(compiled(x), m(x), atol=1e-5)


def test_torch_export():
    m = timm.create_model("milenas_sc_l8", layers=4, channels=8).eval()
    x = torch.randn(2, 3, 32, 32)
    exported = torch.export.export(m, (x,))
    with torch.no_grad():
        assert torch.allclose(exported.module()(x), m(x), atol=1e-5)
