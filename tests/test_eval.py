"""zoo.benchmarks.evaluate and `darts-zoo eval`: top-k, checkpoints, data configs, one-line errors."""

import json

import pytest
import torch

import zoo
import zoo.cli
from fake_datasets import write_cifar10, write_cifar101, write_image_folder
from zoo.checkpoint import read_weights, save_weights
from zoo.data import build_transform, load_dataset
from zoo.benchmarks.evaluate import build_model, eval_transform, evaluate, topk_correct
from zoo.errors import CheckpointError

ARGS = {"family": "cifar", "num_classes": 10, "auxiliary": False, "layers": 3, "channels": 4}


@pytest.fixture
def checkpoint(tmp_path):
    """A reduced network's weights with its build arguments, as `darts-zoo train` writes them."""
    torch.manual_seed(0)
    net = zoo.create_model("pdarts_3b", **{k: v for k, v in ARGS.items() if k != "family"})
    path = tmp_path / "model.safetensors"
    save_weights(path, net.state_dict(), {"model": "pdarts_3b", "data": "cifar10", "model_args": ARGS})
    return path, net.eval()


def test_topk_correct():
    logits = torch.tensor([[0.1, 0.9, 0.05, 0.3, 0.2, 0.0],   # ranking 1, 3, 4, 0, 2, 5
                           [0.5, 0.1, 0.2, 0.3, 0.4, 0.0],    # ranking 0, 4, 3, 2, 1, 5
                           [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]])   # ranking 0 .. 5
    assert topk_correct(logits, torch.tensor([2, 0, 5])) == [1, 2]
    assert topk_correct(logits, torch.tensor([5, 1, 1])) == [0, 2]
    assert topk_correct(logits, torch.tensor([1, 0, 0]), (1, 2, 5)) == [3, 3, 3]
    assert topk_correct(logits[:, :3], torch.tensor([2, 1, 0])) == [1, 3]  # 3 classes: top-5 = all


def test_evaluate_checkpoint_on_cifar10_and_cifar101(tmp_path, checkpoint):
    path, net = checkpoint
    write_cifar10(tmp_path, test=6)
    write_cifar101(tmp_path, n=7)
    for data, n in (("cifar10", 6), ("cifar10.1", 7)):
        r = evaluate("pdarts_3b", data, data_dir=tmp_path, checkpoint=path, batch_size=4)
        ds = load_dataset(data, "test", tmp_path)
        x = torch.stack([ds[i][0] for i in range(n)])
        y = torch.tensor([ds[i][1] for i in range(n)])
        with torch.no_grad():
            logits = net(x)
        top1, top5 = topk_correct(logits, y)
        assert r["n"] == n
        assert r["top1"] == pytest.approx(100 * top1 / n) and r["top5"] == pytest.approx(100 * top5 / n)
        assert r["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-5)


def test_checkpoint_rebuilds_the_trained_network(checkpoint):
    path, net = checkpoint
    rebuilt = build_model("pdarts_3b", "cifar10", checkpoint=path)
    assert (rebuilt.layers, rebuilt.channels, rebuilt.auxiliary_head) == (3, 4, None)
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.state_dict().values(), net.state_dict().values()))
    # Built with the training-only auxiliary head, the same weights still load.
    with_aux = build_model("pdarts_3b", "cifar10", checkpoint=path, auxiliary=True)
    assert with_aux.auxiliary_head is not None


def test_bad_checkpoints(tmp_path, checkpoint):
    path, _ = checkpoint
    with pytest.raises(CheckpointError) as e:
        build_model("pdarts_3b", "cifar10", checkpoint=tmp_path / "nope.safetensors")
    assert str(e.value) == (f"{tmp_path / 'nope.safetensors'}: no such checkpoint file; pass the model.safetensors "
                            "of a finished run, or retrain")
    with pytest.raises(CheckpointError) as e:
        build_model("pdarts_3b", "cifar10", checkpoint=path, channels=8)
    assert str(e.value).startswith(f"{path}: weights are for a different network (shape of ")
    with pytest.raises(CheckpointError, match=r"weights are for a different network \(\d+ missing"):
        build_model("darts_v2", "cifar10", checkpoint=path)
    with pytest.raises(CheckpointError) as e:
        build_model("pdarts_3b", "cifar100", checkpoint=path)
    assert str(e.value) == (f"{path}: trained on cifar10 (10 classes), cifar100 has 100; evaluate it on a dataset "
                            "with the same classes")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError) as e:
        build_model("pdarts_3b", "cifar10", checkpoint=broken)
    assert str(e.value).startswith(f"{broken}: not a readable safetensors file (") and "\n" not in str(e.value)


def test_imagenet_uses_timm_data_config(tmp_path):
    net = zoo.create_model("pdarts_3b", family="imagenet", num_classes=1000, layers=3, channels=4)
    tf = eval_transform(net, "imagenet")
    names = [type(t).__name__ for t in tf.transforms]
    assert names == ["Resize", "CenterCrop", "MaybeToTensor", "Normalize"]
    assert tf.transforms[0].size == 256 and tf.transforms[1].size == (224, 224)  # crop_pct 0.875
    assert build_transform("cifar10", False).transforms[1].mean == eval_transform(
        zoo.create_model("pdarts_3b"), "cifar10").transforms[1].mean
    write_image_folder(tmp_path, per_class=1)
    r = evaluate(net, "imagenet", data_dir=tmp_path, batch_size=3)
    assert r["n"] == 3 and r["top5"] >= r["top1"]


def test_cli_eval_prints_table_and_json(tmp_path, checkpoint, capsys):
    path, _ = checkpoint
    write_cifar101(tmp_path, "v4", n=5)
    code = zoo.cli.main(["eval", "pdarts_3b", "--data", "cifar10.1-v4", "--data-dir", str(tmp_path),
                         "--checkpoint", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    assert result["n"] == 5 and result["data"] == "cifar10.1-v4" and result["checkpoint"] == str(path)
    assert f"{result['top1']:.2f} %" in out and "images" in out


def test_cli_eval_missing_dataset_and_checkpoint(tmp_path, checkpoint, capsys):
    path, _ = checkpoint
    code = zoo.cli.main(["eval", "pdarts_3b", "--data", "cifar10", "--data-dir", str(tmp_path),
                         "--checkpoint", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"darts-zoo: error: cifar10: no CIFAR-10 python batches in {tmp_path}")
    code = zoo.cli.main(["eval", "pdarts_3b", "--data", "digits", "--checkpoint", str(tmp_path / "x.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and err == (f"darts-zoo: error: {tmp_path / 'x.safetensors'}: no such checkpoint file; pass "
                                 "the model.safetensors of a finished run, or retrain\n")
    assert read_weights(path)[1]["model_args"] == ARGS
