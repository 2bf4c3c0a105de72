"""`darts-zoo search-bench dag`: the study's outputs on a tiny setting, its statistics, its refusals."""

import json

import pytest

from zoo.benchmarks.dag_study import check_study, load_arrays, spearman
from zoo.cli import main
from zoo.errors import ZooError

TINY = ["--vertices", "2,3", "--blocks", "2", "--width", "4", "--rounds", "2", "--weight-steps", "2",
        "--arch-steps", "1", "--random-dags", "2", "--eval-seeds", "2", "--eval-epochs", "1",
        "--batch-size", "64"]


def test_spearman_by_hand():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # ranks (1, 2, 3, 4) vs (2, 1, 4, 3): rho = 1 - 6 * 4 / (4 * 15) = 0.6
    assert spearman([1, 2, 3, 4], [2, 1, 4, 3]) == pytest.approx(0.6)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def test_tabular_second_dataset_shapes():
    d = load_arrays("wine")
    assert d["x_train"].shape[1:] == (13, 1, 1) and d["classes"] == 3
    assert len(d["y_train"]) + len(d["y_test"]) == 178


def test_tiny_study_writes_json_markdown_and_plot(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["search-bench", "dag", "--second-data", "wine", "--out", str(out), *TINY]) == 0
    report = json.loads((out / "dag_study.json").read_text())
    rows = report["rows"]
    assert [(r["vertices"], r["blocks"]) for r in rows] == [(2, 2), (3, 2)]
    # l=2 and l=3 spaces (2 and 8 DAGs) are small enough to train exhaustively
    assert [r["evaluated"] for r in rows] == [2, 8] and all(r["exhaustive"] for r in rows)
    assert all(1 <= r["rank"] <= r["evaluated"] and len(r["searched_top1"]) == 2 for r in rows)
    assert [c["vertices"] for c in report["correlations"]] == ["2", "3", "all"]
    assert report["correlations"][-1]["dags"] == 10
    assert "ranking_first_vs_second" in report["correlations"][-1]
    assert len(report["dags"]) == 10 and all(len(p["top1"]) == 2 and len(p["second_top1"]) == 2
                                              for p in report["dags"])
    assert (out / "dag_study.png").read_bytes()[:4] == b"\x89PNG"
    assert "| l | k |" in (out / "dag_study.md").read_text()
    assert (out / "dag_searched_l3_k2_separate_adaptive.yaml").exists()
    assert "searched" in capsys.readouterr().out
    assert main(["search-bench", "dag", "--out", str(out), *TINY]) == 2   # no silent overwrite


@pytest.mark.parametrize("values,text", [
    (dict(vertices="1"), "vertices"),
    (dict(blocks="0"), "blocks"),
    (dict(data="wine", layer="conv_3x3"), "needs images"),
    (dict(second_data="digits"), "the study's own dataset"),
    (dict(vertices="3", max_skip=1, min_density=0.1, max_density=0.2), "leaves no DAG"),
])
def test_bad_study_settings_are_one_line(values, text):
    with pytest.raises(ZooError) as e:
        check_study(**values)
    assert text in str(e.value) and "\n" not in str(e.value)


def test_conv_blocks_with_pooling_on_cifar_layout(tmp_path):
    """Filters and pooling in the same engine: conv_3x3 layers with max pooling, on CIFAR-10's files."""
    from fake_datasets import write_cifar10
    from zoo.benchmarks.dag_study import run_dag_study

    write_cifar10(tmp_path / "data", per_batch=4, test=6)
    report = run_dag_study(tmp_path / "out", data_dir=str(tmp_path / "data"), progress=None, data="cifar10",
                           vertices="2", blocks="2", width=4, layer="conv_3x3", pool="max", rounds=1,
                           weight_steps=1, arch_steps=1, random_dags=1, eval_seeds=1, eval_epochs=1,
                           batch_size=8)
    (row,) = report["rows"]
    assert row["evaluated"] == 2 and report["settings"]["layer"] == "conv_3x3"
    assert all(0 <= p["top1"][0] <= 100 for p in report["dags"])
    g = __import__("zoo").load_genotype(tmp_path / "out" / "dag_searched_l2_k2_separate_adaptive.yaml")
    assert (g.dag.layer, g.dag.pool) == ("conv_3x3", "max")
