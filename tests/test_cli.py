"""The darts-zoo command line: list, show, bench."""

import json
import subprocess
import sys

import zoo
from zoo.cli import main


def reference(model, setting):
    """The authors' counts as the genotype file records them (millions)."""
    row = zoo.zoo_genotype(model).reference[setting]
    return row["params_m"], row["macs_m"]


def test_list(capsys):
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(zoo.ZOO_NAMES) + ["dag_dense_l4"]
    assert {r["family"] for r in rows[:-1]} == {"cell"}
    assert rows[-1] | {"title": ""} == dict(name="dag_dense_l4", family="dag", imagenet=None, op_set="dag", cells=0,
                                            provenance="exact", layers=4, channels=64, layer="dense", edges=6,
                                            title="")
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "pdarts_3b" in out
    assert [line.split()[:6] for line in out.splitlines() if line.startswith("dag_dense_l4")] == [
        ["dag_dense_l4", "dag", "dag", "-", "4", "x"]]


def test_show_lists_a_dag_blocks_edges(tmp_path, capsys):
    assert main(["show", "dag_dense_l4"]) == 0
    out = capsys.readouterr().out
    assert "DAG block: 4 vertices (layers 0..3), layer dense, width 64, aggregate sum" in out
    assert "6 edges: 0->1, 0->2, 0->3, 1->2, 1->3, 2->3" in out
    assert "read the block input: 0; feed the output: 3; depth 4 layers" in out
    # stem 3*32*32 -> 64; 6 edges and layer 0's input edge, 64 x 64 each without bias; 4 layer biases;
    # head 64 -> 10
    params = 3072 * 64 + 64 + 7 * 64 * 64 + 4 * 64 + 64 * 10 + 10
    assert f"{params / 1e6:.4f}M params" in out
    # a searched block from a file, --channels as its width
    path = tmp_path / "found.yaml"
    path.write_text("name: found\nop_set: dag\nprovenance: {kind: searched}\n"
                    "dag: {vertices: 3, width: 16, layer: conv_3x3, pool: max, edges: [[0, 2]]}\n")
    assert main(["show", str(path), "--channels", "8"]) == 0
    out = capsys.readouterr().out
    assert "DAG block: 3 vertices (layers 0..2), layer conv_3x3, then max pooling, width 8" in out
    assert "1 edge: 0->2" in out and "read the block input: 0, 1; feed the output: 1, 2; depth 2 layers" in out
    assert main(["show", "dag_dense_l4", "--layers", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a DAG block, whose layers are its 4 vertices" in err


def test_show_and_draw(tmp_path, capsys):
    assert main(["show", "pdarts", "--draw", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    params, macs = reference("pdarts", "cifar")
    assert f"{params:.4f}M params" in out and f"{macs:.1f}M MACs" in out and "provenance: exact" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "pdarts_normal.png", "pdarts_normal.svg", "pdarts_reduce.png", "pdarts_reduce.svg"]
    assert (tmp_path / "pdarts_normal.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["show", "darts_v2_imagenet"]) == 0
    assert f"{reference('darts_v2', 'imagenet')[0]:.4f}M params" in capsys.readouterr().out
    assert main(["show", "pdarts_3b", "--yaml"]) == 0
    assert zoo.genotype_from_dict(__import__("yaml").safe_load(capsys.readouterr().out)) == zoo.zoo_genotype("pdarts_3b")


def test_bench_json(tmp_path, capsys):
    path = tmp_path / "report.json"
    assert main(["bench", "--models", "darts_v1", "--family", "cifar", "--json", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    params, macs = reference("darts_v1", "cifar")
    assert f"| darts_v1 | cifar | 20 / 36 | {params:.4f} | {params:.4f} | 0 |" in out
    (row,) = json.loads(path.read_text())["rows"]
    assert row["params_m"] == round(row["params_m"], 12) and abs(row["params_m"] - params) < 5e-5
    assert abs(row["macs_m"] - macs) < 0.05
    assert row["published_top1_err"] == zoo.zoo_genotype("darts_v1").published["cifar10"]["top1_err"]


def test_bench_bad_pattern_is_one_line(capsys):
    assert main(["bench", "--models", "resnet*"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "matches no zoo model" in err


def test_python_dash_m_benchmarks():
    result = subprocess.run([sys.executable, "-m", "zoo.benchmarks", "--models", "sharpdarts", "--family",
                             "imagenet", "--no-progress"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    params = reference("sharpdarts", "imagenet_cmid96")[0]
    assert f"| sharpdarts_imagenet | imagenet_cmid96 | 14 / 48 | {params:.4f} | {params:.4f} |" in result.stdout


def test_argument_errors_are_one_line(capsys):
    import pytest

    with pytest.raises(SystemExit) as info:
        main(["bench", "--family", "mnist"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'mnist'" in err and "darts-zoo bench --help" in err
