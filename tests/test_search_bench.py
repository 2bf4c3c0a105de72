"""search-bench: search-step speed rows and the searched-vs-random comparison, on tiny settings."""

import json
import random

import pytest

import zoo
from zoo.benchmarks.search_speed import format_speed, search_speed
from zoo.benchmarks.search_vs_random import format_comparison, random_genotype
from zoo.cli import main



def test_search_speed_rows_for_both_orders():
    result = search_speed(device="cpu", steps=1, isolate=False, layers=3, channels=4, batch_size=4,
                          image_size=8)
    rows = result["rows"]
    assert [r["strategy"] for r in rows] == ["first_order", "second_order"]
    for r in rows:
        # The row describes the setting that was measured, and a measurement happened.
        assert (r["layers"], r["channels"], r["batch_size"], r["image_size"], r["steps"]) == (3, 4, 4, 8, 1)
        assert r["seconds_per_step"] > 0 and r["memory_kind"] == "process peak RSS increase"
    table = format_speed(result)
    assert table.count("\n") == 4 and "second_order" in table


def test_search_speed_measures_the_speed_options_on_the_cpu():
    # channels 8: channels_last at 4 channels trips a oneDNN fault on CPU (docs/performance.md).
    result = search_speed(device="cpu", steps=1, isolate=False, layers=3, channels=8, batch_size=4, image_size=8,
                          strategies=("first_order",), configs=("bf16", "channels_last"))
    rows = {r["config"]: r for r in result["rows"]}
    assert list(rows) == ["plain", "bf16", "channels_last"]
    assert (rows["bf16"]["amp"], rows["bf16"]["channels_last"]) == (True, False)
    assert (rows["channels_last"]["amp"], rows["channels_last"]["channels_last"]) == (False, True)
    for r in rows.values():
        assert r["device"] == "cpu" and r["speed_vs_plain"] == pytest.approx(
            r["images_per_s"] / rows["plain"]["images_per_s"])
    table = format_speed(result)
    assert "| bf16 | bf16 autocast |" in table and "| channels_last | channels_last |" in table


def test_random_genotypes_share_the_searched_space():
    like = zoo.zoo_genotype("pdarts_3b")
    rng = random.Random(0)
    gs = [random_genotype(like, rng, name=f"r{i}") for i in range(5)]
    assert len({str(g.cells) for g in gs}) == 5
    for g in gs:
        assert g.stages == like.stages and set(g.cells) == set(like.cells)
        for name, cell in g.cells.items():
            assert cell.reduction == like.cells[name].reduction and len(cell.nodes) == 3
            for i, node in enumerate(cell.nodes):
                inputs = [e.input for e in node]
                assert len(set(inputs)) == 2 and max(inputs) < i + 2
                assert all(e.op != "none" for e in node)


def test_search_vs_random_cli_tiny(tmp_path, capsys):
    out = tmp_path / "cmp.json"
    code = main(["search-bench", "random", "--genotype", "pdarts_3b", "--random", "1", "--seeds", "2",
                 "--epochs", "1", "--train-images", "64", "--device", "cpu", "--json", str(out)])
    assert code == 0
    table = capsys.readouterr().out
    assert "| pdarts_3b | searched |" in table and "| random0 | random |" in table
    result = json.loads(out.read_text())
    assert [r["kind"] for r in result["rows"]] == ["searched", "random"]
    for r in result["rows"]:
        assert len(r["runs"]) == 2 and all(0 <= a <= 100 for a in r["runs"])
    assert result["setting"]["test_images"] == 360
    assert format_comparison(result) == table.strip()
