"""The search runner end to end on tiny settings: outputs, NaN guard, bad checkpoints,
CLI (resume: test_search_resume.py)."""

import json

import pytest
import timm
import torch

import zoo
from zoo.cli import main
from zoo.errors import CheckpointError, ZooError
from zoo.checkpoint import CheckpointStore
from zoo.search import STRATEGIES, SearchDiverged, run_search
from search_helpers import CLI_TINY, TINY, TINY_STAGED, search



@pytest.mark.slow
def test_pdarts_digits_search_writes_a_buildable_genotype_and_history(tmp_path):
    """The real digits data through a 3-stage search with warm-up epochs."""
    lines = []
    out = tmp_path / "pd3b.yaml"
    path = run_search("pdarts_3b", data="digits", out=out, epochs=2, seed=0, progress=False,
                      overrides={**TINY_STAGED, "subset": 32}, log=lines.append)
    assert path == out
    g = zoo.load_genotype(out)
    assert g.provenance["kind"] == "searched"
    assert all(len(c.nodes) == 3 for c in g.cells.values())          # 3 intermediate nodes
    assert sum(e.op == "skip_connect" for _, e in g.cells["normal"].edges) <= 2
    s = g.search
    assert s["recipe"] == "pdarts_3b" and s["seed"] == 0 and s["data"]["name"] == "digits"
    assert s["epochs"] == 6 and s["version"] == zoo.__version__ and s["preset"] == "digits"
    assert s["overrides"] == {"batch_size": 8, "channels": 4, "epochs": 2, "stage_layers": [3, 3, 3], "subset": 32}
    assert [st["ops"] for st in s["stages"]] == [8, 5, 3]
    for ct in ("normal", "reduce"):
        assert len(s["alphas"][ct]) == 9 and all(len(row) == 3 for row in s["alphas"][ct])
        assert all(len(c) == 3 for c in s["candidates"][ct])            # pruned 8 -> 5 -> 3
        assert all(isinstance(v, float) for row in s["alphas"][ct] for v in row)
    model = timm.create_model("darts_genotype", genotype=str(out), layers=5, channels=8)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert zoo.create_model(g, layers=5, channels=8, auxiliary=False)(torch.randn(1, 3, 32, 32)).shape == (1, 10)

    hist = json.loads(out.with_name("pd3b.history.json").read_text())
    recs = hist["records"]
    assert [r["global_epoch"] for r in recs] == [1, 2, 3, 4, 5, 6]
    assert [r["stage"] for r in recs] == [0, 0, 1, 1, 2, 2]
    assert [r["arch_updates"] for r in recs] == [False, True] * 3  # 1 warm-up epoch per stage
    assert [len(r["candidates"]["normal"][0]) for r in recs] == [8, 8, 5, 5, 3, 3]
    for r in recs:
        for row in r["weights"]["normal"]:
            assert abs(sum(row) - 1) < 1e-5
    # The alphas move once an epoch updates them (that they stay still before: the test below).
    assert recs[0]["weights"]["normal"] != recs[1]["weights"]["normal"]
    assert out.with_name("pd3b.alphas.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len([line for line in lines if line.startswith("[")]) == 6
    assert "stage 3/3" in lines[-4] and "normal[" in lines[-4]
    assert lines[-2].startswith("alphas: the top op's weight is") and "x uniform on the mean edge" in lines[-2]
    assert out.with_name("pd3b.log").read_text().count("\n") >= 8


@pytest.fixture()
def nan_after():
    """Registers a plug-in strategy, `nan_after_N`, whose steps report a NaN loss from step N on:
    a new strategy reaches the run through the registry and a recipe override alone."""
    names = []

    def register(steps):
        first_order = STRATEGIES.get("first_order")

        class NanAfter(first_order):
            count = 0

            def step(self, tb, vb):
                type(self).count += 1
                stats = super().step(tb, vb)
                if type(self).count > steps:
                    stats["train_loss"] = float("nan")
                return stats

        name = f"nan_after_{steps}"
        STRATEGIES.register(name)(NanAfter)
        names.append(name)
        return name

    try:
        yield register
    finally:
        for name in names:
            STRATEGIES.unregister(name)


def test_nan_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path, nan_after):
    strategy = nan_after(4)  # 2 steps per epoch: NaN in epoch 3
    with pytest.raises(SearchDiverged) as e:
        search(tmp_path, "nan", epochs=4, overrides={**TINY, "strategy": strategy})
    msg = str(e.value)
    assert "\n" not in msg and "train_loss is nan" in msg and "epoch 3" in msg and "--resume" in msg
    assert CheckpointStore(tmp_path / "nan.ckpt", "search").load().meta["epoch"] == 2
    assert not (tmp_path / "nan.yaml").exists()
    assert len(json.loads((tmp_path / "nan.history.json").read_text())["records"]) == 2


def test_nan_via_cli_exits_2_with_one_line(tmp_path, nan_after, capsys):
    code = main(["search", "--recipe", "darts_v1", "--data", "digits", "--epochs", "1", *CLI_TINY,
                 "--strategy", nan_after(0),
                 "--out", str(tmp_path / "n.yaml")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert err.startswith("darts-zoo: error: search diverged") and "no checkpoint was written" in err


@pytest.fixture()
def paused(tmp_path):
    assert search(tmp_path, "p", epochs=2, stop_after_epochs=1) is None
    return tmp_path, CheckpointStore(tmp_path / "p.ckpt", "search")


def _resume(tmp_path, **kw):
    return search(tmp_path, "p", epochs=2, resume=True, **kw)


def test_corrupt_tensor_file_is_a_checkpoint_error(paused):
    tmp_path, store = paused
    meta = json.loads(store.latest.read_text())
    f = store.folder / meta["files"]["tensors"]
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="checksum does not match") as e:
        _resume(tmp_path)
    assert "\n" not in str(e.value)


def test_unreadable_files_are_checkpoint_errors(paused):
    import hashlib

    tmp_path, store = paused
    meta = json.loads(store.latest.read_text())
    # A state file that is not weights-only (arbitrary pickled object) with a matching checksum.
    state = store.folder / meta["files"]["state"]
    torch.save({"rng": ZooError("x")}, state)
    meta["sha256"]["state"] = hashlib.sha256(state.read_bytes()).hexdigest()
    store.latest.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="unreadable state file") as e:
        _resume(tmp_path)
    assert "\n" not in str(e.value)
    store.latest.write_text("{ not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        _resume(tmp_path)


def test_resume_with_other_settings_and_existing_checkpoint_without_resume(paused):
    tmp_path, store = paused
    with pytest.raises(CheckpointError, match="recipe.epochs: checkpoint has 2, this run 3"):
        search(tmp_path, "p", epochs=3, resume=True)
    with pytest.raises(CheckpointError, match="--resume to continue it or --restart"):
        search(tmp_path, "p", epochs=2)
    assert search(tmp_path, "p", epochs=1, restart=True) == tmp_path / "p.yaml"


def test_cli_corrupt_checkpoint_exit_2(paused, capsys):
    tmp_path, store = paused
    store.latest.write_text("garbage")
    code = main(["search", "--recipe", "darts_v1", "--data", "digits", *CLI_TINY, "--epochs", "2",
                 "--out", str(tmp_path / "p.yaml"), "--resume"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "CheckpointError" not in err and "latest.json" in err


def test_cli_search_runs_and_bad_input_is_one_line(tmp_path, capsys):
    out = tmp_path / "cli.yaml"
    assert main(["search", "--recipe", "darts_v2", "--data", "digits", "--epochs", "1", *CLI_TINY,
                 "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "[1/1] epoch 1/1" in stdout and str(out) in stdout
    assert zoo.load_genotype(out).search["recipe"] == "darts_v2"
    for argv, needle in [
        (["--channels", "7"], "even"),
        (["--layers", "2"], "from 3 to 256"),
        (["--data", "cifar10", "--data-dir", str(tmp_path / "none")], "cifar10"),
    ]:
        code = main(["search", "--recipe", "darts_v1", "--data", "digits", "--out", str(tmp_path / "x.yaml"),
                     "--no-progress", *argv])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.count("\n") == 0 and needle in err, err
    with pytest.raises(SystemExit) as e:
        main(["search", "--recipe", "nope"])
    assert e.value.code == 2


def test_alphas_stay_still_during_a_warm_up_epoch_and_move_after(tmp_path):
    """A warm-up epoch trains only the weights: after it the checkpoint holds exactly the alphas the
    stage's supernet was initialized with, and the weights have moved."""
    from zoo.search import SPACES, apply_overrides, get_recipe
    from zoo.search.batches import SUPERNET_INIT, epoch_seed

    assert search(tmp_path, "warm", recipe="pdarts_3b", overrides=TINY_STAGED, epochs=2, stop_after_epochs=1) is None
    after_warmup = CheckpointStore(tmp_path / "warm.ckpt", "search").load().tensors
    cfg = apply_overrides(get_recipe("pdarts_3b"), {**TINY_STAGED, "epochs": 2}, data="digits")
    assert cfg.warmup_epochs == 1
    builder = SPACES.get(cfg.space)
    torch.manual_seed(epoch_seed(3, 0, 0, SUPERNET_INIT))  # as the run seeds stage 1's supernet
    fresh = builder.supernet(cfg, builder.space(cfg), cfg.stage_plan()[0], 10, None)
    arch = {id(p) for p in fresh.arch_parameters()}
    named = dict(fresh.named_parameters())
    assert arch and all(torch.equal(after_warmup[n], p) for n, p in named.items() if id(p) in arch)
    assert any(not torch.equal(after_warmup[n], p) for n, p in named.items() if id(p) not in arch)
    assert search(tmp_path, "warm", recipe="pdarts_3b", overrides=TINY_STAGED, epochs=2, stop_after_epochs=1,
                  resume=True) is None
    after_arch_epoch = CheckpointStore(tmp_path / "warm.ckpt", "search").load().tensors
    assert any(not torch.equal(after_arch_epoch[n], p) for n, p in named.items() if id(p) in arch)
