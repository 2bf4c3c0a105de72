"""zoo.benchmarks.train and .recipes: schedules, the run directory, exact resume, DDP, the CLI."""

import dataclasses
import json
import math
import multiprocessing
import socket

import pytest
import torch

import zoo.cli
from zoo.checkpoint import read_weights
from zoo.benchmarks.recipes import RECIPES, default_recipe, get_recipe, lr_factor, make_scheduler
from zoo.benchmarks.train import RUN_FILES, Trainer, train
from zoo.errors import CheckpointError, ZooError
from zoo.schedules import cosine_power_annealing

# A network and data small enough for a CPU test: 3 cells of 4 channels, 32 digits, batch 16.
TINY = dict(layers=3, channels=4, limit_train=32, limit_test=40, batch_size=16, progress=False,
            log=lambda line: None)


def _lrs(recipe, epochs):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=recipe.lr)
    sched = make_scheduler(opt, recipe, epochs)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_cosine_power_annealing_by_hand():
    """sharpDARTS eq. 2 with p = 2, lr 0.025 -> 1e-8 over 2000 epochs, computed by hand:
    t = 1000: cos term 1/2, 2^1.5 = 2.8284271247, (2.8284271247 - 2) / (4 - 2) = 0.4142135624,
              1e-8 + (0.025 - 1e-8) * 0.4142135624 = 0.0103553449;
    t = 500:  cos term (1 + sqrt(2)/2) / 2 = 0.8535533906, 2^1.8535533906 = 3.6138919956,
              1.6138919956 / 2 = 0.8069459978, lr = 0.0201736519;
    t = 1500: cos term 0.1464466094, 2^1.1464466094 = 2.2136798803, 0.1068399401, lr = 0.0026710074."""
    r = get_recipe("sharpdarts")
    assert (r.schedule, r.power, r.lr, r.lr_min, r.epochs, r.autoaugment) == ("cosine_power", 2.0, 0.025, 1e-8,
                                                                              2000, True)
    lrs = _lrs(r, 2000)
    for t, lr in [(0, 0.025), (500, 0.0201736519), (1000, 0.0103553449), (1500, 0.0026710074)]:
        assert lrs[t] == pytest.approx(lr, abs=1e-10)
        assert cosine_power_annealing(t, 2000, 0.025, 1e-8, 2.0) == pytest.approx(lr, abs=1e-10)
    assert cosine_power_annealing(2000, 2000, 0.025, 1e-8, 2.0) == pytest.approx(1e-8, abs=1e-15)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_cosine_matches_torch_and_other_schedules():
    r = get_recipe("darts")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=r.lr)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 600)
    expect = []
    for _ in range(600):
        expect.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert _lrs(r, 600) == pytest.approx(expect, rel=1e-9, abs=1e-15)
    # P-DARTS ImageNet: 5 warm-up epochs (1/5 .. 5/5), then linear decay.
    p = get_recipe("imagenet_pdarts")
    assert [lr_factor(p, e, 250) for e in (0, 1, 4, 5, 125)] == pytest.approx([0.2, 0.4, 1.0, 0.98, 0.5])
    assert lr_factor(get_recipe("imagenet"), 10, 250) == pytest.approx(0.97 ** 10)


def test_recipes_follow_the_papers():
    d = get_recipe("darts")
    assert (d.epochs, d.batch_size, d.lr, d.momentum, d.weight_decay, d.cutout, d.auxiliary_weight, d.drop_path,
            d.grad_clip) == (600, 96, 0.025, 0.9, 3e-4, 16, 0.4, 0.2, 5.0)
    assert get_recipe("pdarts").drop_path == 0.3
    assert (get_recipe("pdarts_3b").epochs, get_recipe("pdarts_3b").batch_size) == (1000, 96)
    im = get_recipe("imagenet")
    assert (im.epochs, im.label_smoothing, im.lr) == (250, 0.1, 0.1)
    assert get_recipe("imagenet_pdarts").warmup_epochs == 5
    assert all(r.source for r in RECIPES.values())
    assert default_recipe("pdarts_3b", "cifar10").name == "pdarts_3b"
    assert default_recipe("sharpdarts", "cifar100").name == "sharpdarts"
    assert default_recipe("darts_v2", "cifar10").name == "darts"
    assert default_recipe("pdarts", "imagenet").name == "imagenet_pdarts"
    assert default_recipe("sharpdarts", "digits").name == "digits"
    with pytest.raises(ZooError, match="unknown recipe 'dart'"):
        get_recipe("dart")


def _cell_file(path, recipe=None):
    g = zoo.zoo_genotype("darts_v2")
    presets = {"cifar": dataclasses.replace(g.preset("cifar"), recipe=recipe)}
    return zoo.save_genotype(dataclasses.replace(g, name="my_cell", presets=presets), path)


def test_the_genotype_file_names_its_recipe(tmp_path):
    """A genotype's preset names its training recipe; without one CIFAR trains the DARTS way and
    ImageNet the mobile-setting way; a recipe that does not exist is one line naming the file."""
    plain = _cell_file(tmp_path / "my_cell.yaml")
    assert default_recipe(str(plain), "cifar10").name == "darts"
    assert default_recipe(str(plain), "imagenet").name == "imagenet"
    assert default_recipe(str(_cell_file(tmp_path / "sharp.yaml", "sharpdarts")), "cifar10").name == "sharpdarts"
    bad = _cell_file(tmp_path / "bad.yaml", "sharpdartz")
    with pytest.raises(ZooError) as info:
        default_recipe(str(bad), "cifar100")
    message = str(info.value)
    assert "\n" not in message and str(bad) in message and "presets.cifar.recipe" in message
    assert "'sharpdartz'" in message and all(name in message for name in RECIPES)
    assert default_recipe(str(bad), "digits").name == "digits"
    with pytest.raises(ZooError, match="unknown training recipe"):
        Trainer(str(bad), "cifar10", out=tmp_path / "run", **TINY)


def test_tiny_digits_run_writes_the_run_dir(tmp_path):
    out = tmp_path / "run"
    m = train("pdarts_3b", "digits", epochs=1, out=out, **TINY)
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_FILES + ("checkpoints",))
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(m))
    assert saved["complete"] and saved["epochs"] == saved["epochs_done"] == 1 and saved["data"] == "digits"
    assert 0 <= saved["top1"] <= saved["top5"] <= 100 and saved["best_top1"] == saved["top1"]
    assert saved["test_images"] == 40 and saved["recipe"]["name"] == "digits"
    model = zoo.create_model("pdarts_3b", num_classes=10, layers=3, channels=4, auxiliary=False)
    from zoo.counting import count_macs, count_params

    assert saved["params"] == count_params(model) and saved["macs"] == count_macs(model)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["epoch"] == 1 and log[0]["test_top1"] == saved["top1"]
    assert log[0]["lr"] == RECIPES["digits"].lr and log[0]["train_images"] == 32
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tensors, meta = read_weights(out / "model.safetensors")
    assert meta["model_args"] == {"family": "cifar", "num_classes": 10, "auxiliary": False, "layers": 3,
                                  "channels": 4, "drop_path_rate": 0.0}
    assert set(tensors) == set(model.state_dict())


@pytest.mark.slow
def test_resume_is_exact(tmp_path):
    """2 epochs straight == 1 epoch, interrupted, then resumed: DARTS recipe (cutout, aux head, drop
    path all draw random numbers)."""
    opts = dict(TINY, recipe="darts", epochs=2, seed=3)
    straight = train("pdarts_3b", "digits", out=tmp_path / "a", **opts)

    def stop_after_first_epoch(line):
        if line.startswith("epoch    1/2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("pdarts_3b", "digits", out=tmp_path / "b", **dict(opts, log=stop_after_first_epoch))
    assert not (tmp_path / "b" / "model.safetensors").exists()
    with pytest.raises(CheckpointError, match="already holds a run; pass --resume"):
        train("pdarts_3b", "digits", out=tmp_path / "b", **opts)
    resumed = train("pdarts_3b", "digits", out=tmp_path / "b", resume=True, **opts)
    a, _ = read_weights(tmp_path / "a" / "model.safetensors")
    b, _ = read_weights(tmp_path / "b" / "model.safetensors")
    assert any("auxiliary_head" in k for k in a)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert straight["top1"] == resumed["top1"] and straight["top5"] == resumed["top5"]
    logs = [(tmp_path / d / "log.jsonl").read_text().splitlines() for d in "ab"]
    strip = [[{k: v for k, v in json.loads(x).items() if k not in ("epoch_s", "images_per_s")} for x in log]
             for log in logs]
    assert strip[0] == strip[1] and strip[0][1]["drop_path"] == pytest.approx(0.1)


def test_bad_checkpoints(tmp_path):
    out = tmp_path / "run"
    train("pdarts_3b", "digits", epochs=1, out=out, **TINY)
    with pytest.raises(CheckpointError) as e:
        train("pdarts_3b", "digits", epochs=2, out=out, resume=True, **TINY)
    assert str(e.value) == (f"{out}: the checkpoint is from other settings (recipe.epochs: checkpoint has 1, this "
                            "run 2); resume with the same options or start a new run with --out NEW_DIR")
    state = next((out / "checkpoints").glob("*.state.pt"))
    state.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError) as e:
        train("pdarts_3b", "digits", epochs=1, out=out, resume=True, **TINY)
    assert str(e.value) == (f"{state}: checksum does not match latest.json; the file is corrupt or was changed "
                            f"(delete {out / 'checkpoints'} to start over)")
    (out / "checkpoints" / "latest.json").write_text("{")
    with pytest.raises(CheckpointError, match="latest.json: is not valid JSON"):
        train("pdarts_3b", "digits", epochs=1, out=out, resume=True, **TINY)


def test_ema_weights(tmp_path):
    # (bf16, channels_last and compile run on the CPU too: tests/test_speed_options.py.)
    m = train("pdarts_3b", "digits", epochs=1, out=tmp_path / "run", ema=0.5, device="cpu", **TINY)
    assert m["weights"] == "ema" and m["recipe"]["ema_decay"] == 0.5
    ckpt, _ = read_weights(next((tmp_path / "run" / "checkpoints").glob("*.safetensors")))
    final, _ = read_weights(tmp_path / "run" / "model.safetensors")
    # model.safetensors holds the EMA (what was evaluated); the checkpoint holds both.
    assert all(torch.equal(final[k], ckpt[f"ema.{k}"]) for k in final)
    assert not all(torch.equal(final[k], ckpt[k]) for k in final)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    trainer = Trainer("pdarts_3b", "digits", recipe="darts", epochs=1, out=f"{out}/run", device="cpu",
                      **TINY)  # 16 images per rank, 2 steps of 8
    metrics = trainer.fit()
    record = {"params": {k: v.detach().clone() for k, v in trainer.model.named_parameters()},
              "train_images": metrics["epochs_done"] and json.loads(
                  open(f"{out}/run/log.jsonl").read().splitlines()[0])["train_images"] if rank == 0 else 0}
    torch.save(record, f"{out}/rank{rank}.pt")


@pytest.mark.slow
def test_ddp_two_gloo_processes(tmp_path):
    # fork: the workers inherit the imported modules (spawn re-imports torch, timm and sklearn, ~15 s
    # per process on 2 busy cores); they switch to one thread before any OpenMP work.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    torch.multiprocessing.start_processes(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True,
                                          start_method=method)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    init = zoo.create_model("pdarts_3b", num_classes=10, layers=3, channels=4)
    assert r0["params"].keys() == r1["params"].keys()
    assert all(torch.equal(r0["params"][k], r1["params"][k]) for k in r0["params"])
    assert any(not torch.equal(r0["params"][k], v) for k, v in init.named_parameters())  # it did train
    assert r0["train_images"] == 32  # 2 ranks x 2 steps x 8
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(RUN_FILES + ("checkpoints",))


def test_cli_train_missing_dataset(tmp_path, capsys):
    code = zoo.cli.main(["train", "pdarts_3b", "--data", "cifar10", "--data-dir", str(tmp_path),
                         "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"darts-zoo: error: cifar10: no CIFAR-10 python batches in {tmp_path / 'cifar-10-batches-py'}; "
                   "pass --data-dir DIR holding cifar-10-batches-py/, or add --download to fetch it\n")
    assert not (tmp_path / "run").exists()


def test_cli_train_digits_prints_table_and_json(tmp_path, capsys):
    code = zoo.cli.main(["train", "pdarts_3b", "--data", "digits", "--epochs", "1", "--layers", "3",
                         "--channels", "4", "--batch-size", "16", "--limit-train", "32", "--limit-test", "20",
                         "--out", str(tmp_path / "run"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    assert result["recipe"] == "digits" and result["epochs_done"] == 1 and result["test_images"] == 20
    assert "top-1 (final)" in out and f"{result['top1']:.2f} %" in out
    assert math.isclose(result["params_m"], json.loads((tmp_path / "run" / "metrics.json").read_text())["params_m"])


def test_train_throughput_reports_images_per_second():
    from zoo.benchmarks.speed import train_throughput

    r = train_throughput("sharpdarts", "cifar10", batch_size=4, steps=1, warmup=0, layers=3, channels=4)
    assert (r["recipe"], r["batch"], r["steps"]) == ("sharpdarts", 4, 1)
    assert r["images_per_s"] == pytest.approx(4 / r["step_s"], rel=0.02)


def test_imagenet_family_run_on_an_image_folder(tmp_path):
    from fake_datasets import write_image_folder

    write_image_folder(tmp_path / "data", per_class=2)
    m = train("pdarts_3b", "imagenet", data_dir=tmp_path / "data", epochs=1, out=tmp_path / "run",
              **dict(TINY, batch_size=3, limit_train=None, limit_test=None))
    assert (m["recipe"]["name"], m["recipe"]["label_smoothing"], m["model_args"]["family"]) == ("imagenet", 0.1,
                                                                                                 "imagenet")
    assert m["test_images"] == 6 and m["model_args"]["num_classes"] == 1000
    assert json.loads((tmp_path / "run" / "log.jsonl").read_text())["train_images"] == 6
