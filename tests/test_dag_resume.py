"""An interrupted DAG search resumes from its checkpoint to the same result, byte for byte (but the
wall time); a checkpoint of other settings, or a damaged one, is refused in one line."""

import json

import pytest
import torch

import zoo

from zoo.checkpoint import CheckpointStore
from zoo.errors import CheckpointError, ZooError
from zoo.search import SearchPaused
from zoo.search.dag_search import DagSearchConfig, dag_checkpoint_folder, run_dag_search, save_dag_genotype

# Adaptive sampling with an elite, separate halves, a test score: every piece of state a round carries.
CFG = dict(vertices=3, blocks=3, width=8, rounds=4, weight_steps=3, arch_steps=2, batch_size=16, seed=3)


def _data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 3, 3, generator=g), torch.randint(0, 3, (n,), generator=g)


def _search(folder, cfg=None, **kw):
    out = folder / "found.yaml"
    res = run_dag_search(cfg or DagSearchConfig.checked(**CFG), _data(), 3, test=_data(20, 1), data="noise",
                         checkpoint=dag_checkpoint_folder(out), **kw)
    save_dag_genotype(res, out)
    return out


def _without_wall_time(path):
    return [line for line in path.read_text().splitlines() if not line.strip().startswith("wall_s:")]


def test_paused_and_resumed_search_writes_the_same_files(tmp_path):
    ref = _search(tmp_path / "ref")
    cut = tmp_path / "cut" / "found.yaml"
    with pytest.raises(SearchPaused, match="paused after round 1/4"):
        _search(tmp_path / "cut", stop_after_rounds=1)
    with pytest.raises(SearchPaused, match="paused after round 3/4"):
        _search(tmp_path / "cut", resume=True, stop_after_rounds=2)
    assert not cut.exists() and not cut.with_name("found.history.json").exists()   # nothing partial
    assert CheckpointStore(dag_checkpoint_folder(cut), "search").read_meta()["round"] == 3
    _search(tmp_path / "cut", resume=True)
    assert _without_wall_time(cut) == _without_wall_time(ref)
    history = [json.loads(p.with_name("found.history.json").read_text()) for p in (cut, ref)]
    assert history[0] == history[1] and [r["round"] for r in history[0]["records"]] == [1, 2, 3, 4]
    # the rounds moved the sampler: round 2 drew other blocks than round 1 (so its state mattered)
    assert history[0]["records"][0]["dags"] != history[0]["records"][1]["dags"]
    # resuming a finished search runs no round and gives the same result again
    res = run_dag_search(DagSearchConfig.checked(**CFG), _data(), 3, test=_data(20, 1), data="noise",
                         checkpoint=dag_checkpoint_folder(cut), resume=True)
    assert [r["round"] for r in res.history] == [1, 2, 3, 4] and res.best == zoo.load_genotype(ref).dag.edges


def test_fixed_blocks_resume_alpha_and_its_optimizer(tmp_path):
    """With fixed sampling alpha and its Adam state carry across rounds (adaptive restarts them)."""
    cfg = DagSearchConfig.checked(**{**CFG, "sampling": "fixed", "rounds": 3})
    ref = _search(tmp_path / "ref", cfg=cfg)
    with pytest.raises(SearchPaused):
        _search(tmp_path / "cut", cfg=cfg, stop_after_rounds=1)
    cut = _search(tmp_path / "cut", cfg=cfg, resume=True)
    assert _without_wall_time(cut) == _without_wall_time(ref)


def test_checkpoint_of_other_settings_is_refused_in_one_line(tmp_path):
    with pytest.raises(SearchPaused):
        _search(tmp_path, stop_after_rounds=1)
    with pytest.raises(CheckpointError) as e:
        _search(tmp_path, cfg=DagSearchConfig.checked(**{**CFG, "rounds": 5}), resume=True)
    msg = str(e.value)
    assert "\n" not in msg and "dag.rounds: checkpoint has 4, this run 5" in msg and "restart=True" in msg
    with pytest.raises(CheckpointError, match="earlier DAG search is there"):
        _search(tmp_path)                                            # neither resume nor restart
    _search(tmp_path, cfg=DagSearchConfig.checked(**{**CFG, "rounds": 2}), restart=True)
    assert CheckpointStore(tmp_path / "found.ckpt", "search").read_meta()["round"] == 2


def test_corrupt_checkpoint_is_one_line(tmp_path):
    with pytest.raises(SearchPaused):
        _search(tmp_path, stop_after_rounds=1)
    weights = next((tmp_path / "found.ckpt").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointError) as e:
        _search(tmp_path, resume=True)
    assert "\n" not in str(e.value) and "checksum does not match" in str(e.value)
    (tmp_path / "found.ckpt" / "latest.json").write_text("{not json")
    with pytest.raises(CheckpointError) as e:
        _search(tmp_path, resume=True)
    assert "\n" not in str(e.value) and "is not valid JSON" in str(e.value)


def test_run_options_are_checked(tmp_path):
    cfg = DagSearchConfig.checked(**CFG)
    with pytest.raises(ZooError, match="need a checkpoint folder"):
        run_dag_search(cfg, _data(), 3, resume=True)
    with pytest.raises(ZooError, match="exclude each other"):
        run_dag_search(cfg, _data(), 3, checkpoint=tmp_path / "c", resume=True, restart=True)
    with pytest.raises(ZooError, match="stop_after_rounds"):
        run_dag_search(cfg, _data(), 3, checkpoint=tmp_path / "c", stop_after_rounds=0)
    # resume without a checkpoint starts from scratch, and says so
    said = []
    res = run_dag_search(DagSearchConfig.checked(**{**CFG, "rounds": 1}), _data(), 3, checkpoint=tmp_path / "c",
                         resume=True, progress=said.append)
    assert len(res.history) == 1 and said[0].startswith("resume: no checkpoint in")
