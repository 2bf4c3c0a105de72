"""search-bench seeds: the seed-agreement metrics on hand-made cells, the one-line refusals, and a
tiny real study through the local process pool and through submitit, with the rerun reusing results."""

from __future__ import annotations

import json

import pytest

from zoo.benchmarks.seed_study import (SeedJob, agreement, jaccard, normal_edges, param_free_count,
                                       parse_executor_options, run_job, seed_study, skip_count)
from zoo.cli import main
from zoo.errors import ZooError
from zoo.genotype import make_genotype

# Every reduction cell is all parameter-free: none of it may be counted (only normal cells are).
REDUCE = (True, [[("max_pool_3x3", 0), ("skip_connect", 1)], [("avg_pool_3x3", 0), ("skip_connect", 2)]], None)


def _cell(name, normal):
    return make_genotype(name, {"normal": (False, normal, None), "reduce": REDUCE})


# Edges as (node, input, op); node 2 is the first intermediate node.
A = _cell("a", [[("sep_conv_3x3", 0), ("skip_connect", 1)], [("max_pool_3x3", 0), ("sep_conv_3x3", 2)]])
B = _cell("b", [[("sep_conv_3x3", 0), ("sep_conv_3x3", 1)], [("max_pool_3x3", 0), ("skip_connect", 2)]])
C = _cell("c", [[("skip_connect", 0), ("skip_connect", 1)], [("avg_pool_3x3", 1), ("sep_conv_3x3", 2)]])

TINY_SEARCH = {"channels": 4, "layers": 3, "nodes": 2, "subset": 48, "batch_size": 16}
TINY_TRAIN = dict(train_epochs=1, train_images=40, train_layers=3, train_channels=4, train_batch_size=20)


def test_skip_and_parameter_free_counts_by_hand():
    # Normal cells only: A has skip<1 (skip) and max_pool<0 (pool); B has skip<2 and max_pool<0;
    # C has skip<0, skip<1 and avg_pool<1. The reduction cell (4 parameter-free edges) is not counted.
    assert [skip_count(g) for g in (A, B, C)] == [1, 1, 2]
    assert [param_free_count(g) for g in (A, B, C)] == [2, 2, 3]


def test_agreement_by_hand():
    a, b, c = (normal_edges(g) for g in (A, B, C))
    assert set(a) == {("normal", 2, 0, "sep_conv_3x3"), ("normal", 2, 1, "skip_connect"),
                      ("normal", 3, 0, "max_pool_3x3"), ("normal", 3, 2, "sep_conv_3x3")}
    # A and B share (2,0,sep3) and (3,0,max_pool): 2 of 6 distinct edges. A and C share (2,1,skip) and
    # (3,2,sep3): 2 of 6. B and C share nothing: 0 of 8.
    assert jaccard(a, b) == pytest.approx(2 / 6)
    assert jaccard(a, c) == pytest.approx(2 / 6)
    assert jaccard(b, c) == 0.0
    assert jaccard(a, a) == 1.0
    got = agreement([a, b, c])
    # Mean over the 3 pairs: Jaccard (1/3 + 1/3 + 0) / 3 = 2/9; shared edges (2 + 2 + 0) / 3 = 4/3.
    assert got == {"pairs": 3, "jaccard": pytest.approx(2 / 9), "shared_edges": pytest.approx(4 / 3)}
    assert agreement([a]) == {"pairs": 0, "jaccard": None, "shared_edges": None}


def test_every_normal_cell_type_counts_and_edges_keep_their_type():
    stages = ("normal1", "reduce", "normal2", "reduce", "normal3")
    nodes = [[("skip_connect", 0), ("sep_conv_3x3", 1)]]
    g = make_genotype("n3", {"normal1": (False, nodes, None), "normal2": (False, nodes, None),
                             "normal3": (False, [[("sep_conv_3x3", 0), ("sep_conv_5x5", 1)]], None),
                             "reduce": REDUCE}, stages=stages)
    # Two normal types with one skip each, the third none: 2 skips; the same edge in two types is two edges.
    assert skip_count(g) == 2 and param_free_count(g) == 2
    assert sum(normal_edges(g).values()) == 6
    twin = make_genotype("n3b", {"normal1": (False, nodes, None), "normal2": (False, nodes, None),
                                 "normal3": (False, nodes, None), "reduce": REDUCE}, stages=stages)
    # Shared: normal1's and normal2's 2 edges each = 4; union: 4 + normal3's 2 + 2 = 8.
    assert jaccard(normal_edges(g), normal_edges(twin)) == pytest.approx(4 / 8)


@pytest.mark.parametrize("kwargs, words", [
    (dict(recipes=["darts_v1", "dartz_v1"]), "unknown search recipe 'dartz_v1'"),
    (dict(recipes=[]), "no recipe given"),
    (dict(seeds=0), "seeds (--seeds) = 0"),
    (dict(jobs=0), "jobs (--jobs) = 0"),
    (dict(data="imagenet"), "data (--data) = 'imagenet'"),
])
def test_bad_input_is_one_line_before_any_work(tmp_path, kwargs, words):
    args = dict(recipes=["darts_v1"], seeds=2, data="digits", out=tmp_path / "study") | kwargs
    with pytest.raises(ZooError) as e:
        seed_study(args.pop("recipes"), **args)
    assert words in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "study").exists()


def test_bad_command_lines_are_one_line(capsys):
    for argv in (["seeds", "nope", "--seeds", "2", "--data", "digits"], ["seeds", "darts_v1", "--seeds", "0",
                 "--data", "digits"], ["seeds", "darts_v1", "--seeds", "2", "--data", "digits", "--jobs", "0"],
                 ["seeds", "darts_v1", "--data", "digits"],
                 ["seeds", "darts_v1", "--seeds", "1", "--data", "digits", "--executor-option", "partition"],
                 ["speed", "darts_v1"]):
        assert main(["search-bench", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("darts-zoo: error: search-bench ") and "\n" not in err


def test_executor_options_are_typed():
    assert parse_executor_options(["slurm_account=proj", "cpus_per_task=4", "mem_gb=7.5", "x=true"]) == {
        "slurm_account": "proj", "cpus_per_task": 4, "mem_gb": 7.5, "x": True}


def _check_study(report, out, epochs):
    (row,) = report["recipes"]
    assert row["recipe"] == "darts_v1" and row["seeds"] == [0, 1]
    assert len(row["accuracy"]["runs"]) == 2 and all(0 <= a <= 100 for a in row["accuracy"]["runs"])
    assert row["agreement"]["pairs"] == 1 and 0 <= row["agreement"]["jaccard"] <= 1
    for run in row["runs"]:
        folder = out / "darts_v1" / f"seed{run['seed']}"
        assert json.loads((folder / "result.json").read_text())["accuracy"] == run["accuracy"]
        assert (out / run["genotype"]).exists() and set(run["drawings"]) == {"normal", "reduce"}
        assert all((out / p).stat().st_size > 0 for p in run["drawings"].values())
        # 2 nodes x 2 edges in the normal cell; the counts are the edges' own.
        assert len(run["normal_edges"]) == 4
        assert run["skips"] == sum(e[3] == "skip_connect" for e in run["normal_edges"])
        assert run["skips"] <= run["param_free"] <= 4
        assert run["search_seconds"] > 0 and run["search_epochs"] == epochs and run["peak_memory_mib"] > 0
    saved = json.loads((out / "seeds.json").read_text())
    assert saved["recipes"][0]["accuracy"] == row["accuracy"]
    md = (out / "seeds.md").read_text()
    assert "| darts_v1 | 2 |" in md and "## darts_v1" in md and "(accuracy.png)" in md
    assert (out / "accuracy.png").stat().st_size > 0 and (out / "skips.png").stat().st_size > 0


def test_tiny_study_local_pool_resumes_then_reuses(tmp_path):
    from zoo.search import run_search

    out = tmp_path / "study"
    # Seed 0 was interrupted: its search paused after 1 of 2 epochs, checkpoint kept, no genotype.
    seed0 = out / "darts_v1" / "seed0"
    assert run_search("darts_v1", data="digits", epochs=2, out=seed0 / "darts_v1_digits_seed0.yaml", seed=0,
                      overrides=TINY_SEARCH, progress=False, log=lambda line: None, stop_after_epochs=1) is None
    lines = []
    study = dict(data="digits", out=out, epochs=2, overrides=TINY_SEARCH, log=lines.append, **TINY_TRAIN)
    report = seed_study(["darts_v1"], 2, jobs=2, **study)
    _check_study(report, out, epochs=2)
    assert "resuming from" in (seed0 / "darts_v1_digits_seed0.log").read_text()
    assert len(lines) == 3 and lines[1].startswith("[") and "darts_v1 seed" in lines[1]
    # Rerun: every job finished, so nothing runs (no worker starts) and the files stay as they were.
    results = sorted(out.glob("darts_v1/seed*/result.json"))
    stamps = [p.stat().st_mtime_ns for p in results]
    lines.clear()
    again = seed_study(["darts_v1"], 2, jobs=1, **study)
    assert len(lines) == 1 and "2 already finished" in lines[0]
    assert [p.stat().st_mtime_ns for p in results] == stamps and len(results) == 2
    assert again["recipes"] == report["recipes"]
    # A job that lost its result after its search (stopped while training) trains again from the
    # searched genotype without searching again; the same training gives the same accuracy.
    job = SeedJob(recipe="darts_v1", seed=1, data="digits", out=str(out), epochs=2, overrides=TINY_SEARCH,
                  train=report["setting"]["train"])
    genotype_stamp = job.genotype_path.stat().st_mtime_ns
    job.result_path.unlink()
    rerun = run_job(job)
    assert job.genotype_path.stat().st_mtime_ns == genotype_stamp and job.result_path.exists()
    assert rerun["accuracy"] == report["recipes"][0]["runs"][1]["accuracy"]
    # Other settings in the same --out: refused before any work.
    with pytest.raises(ZooError, match="other settings \\(train\\)"):
        seed_study(["darts_v1"], 2, **(study | {"train_epochs": 2}))


def test_tiny_study_through_submitit_from_the_command_line(tmp_path, monkeypatch, capsys):
    pytest.importorskip("submitit")
    import zoo.benchmarks.cli as cli

    seen = {}

    def tiny(*args, **kwargs):  # the command line's study, shrunk to the tiny search and network
        seen.update(kwargs)
        return seed_study(*args, **(kwargs | {"overrides": TINY_SEARCH, "train_layers": 3, "train_channels": 4,
                                              "train_batch_size": 20}))

    monkeypatch.setattr(cli, "seed_study", tiny)
    out = tmp_path / "study"
    # submitit's local cluster: a subprocess per job, the job pickled as on SLURM. The SLURM-only
    # partition and account are accepted and ignored off SLURM.
    assert main(["search-bench", "seeds", "darts_v1", "--seeds", "1", "--data", "digits", "--epochs", "1",
                 "--executor", "submitit", "--submitit-cluster", "local", "--jobs", "2", "--out", str(out),
                 "--train-epochs", "1", "--train-images", "40", "--slurm-partition", "gpu", "--slurm-time-min",
                 "30", "--executor-option", "slurm_account=proj"]) == 0
    assert (seen["executor"], seen["cluster"], seen["slurm_partition"], seen["slurm_time_min"], seen["jobs"]) == (
        "submitit", "local", "gpu", "30", "2")
    assert seen["executor_options"] == {"slurm_account": "proj"}
    printed = capsys.readouterr().out
    assert "| darts_v1 | 1 |" in printed and "[1/1] darts_v1 seed 0:" in printed
    report = json.loads((out / "seeds.json").read_text())
    assert report["setting"]["executor"] == "submitit" and report["setting"]["train"]["images"] == 40
    (run,) = report["recipes"][0]["runs"]
    assert run["search_epochs"] == 1 and 0 <= run["accuracy"] <= 100 and len(run["normal_edges"]) == 4
    assert (out / "darts_v1/seed0/result.json").exists() and list((out / "submitit").glob("*_result.pkl"))


def test_a_failed_job_is_listed_and_the_study_ends_with_one_line(tmp_path):
    out = tmp_path / "study"
    # No CIFAR-10 in an empty folder (and no --download): the job fails as soon as its search starts.
    with pytest.raises(ZooError) as e:
        seed_study(["darts_v1"], 1, data="cifar10", data_dir=tmp_path / "empty", out=out, log=lambda line: None)
    message = str(e.value)
    assert "1 of 1 jobs failed: darts_v1 seed 0 (cifar10: no CIFAR-10" in message
    assert "rerun the same command" in message and "\n" not in message
    report = json.loads((out / "seeds.json").read_text())
    assert report["recipes"] == [] and report["failed"][0].startswith("darts_v1 seed 0 (")
    assert "Failed jobs" in (out / "seeds.md").read_text() and not (out / "darts_v1/seed0/result.json").exists()
