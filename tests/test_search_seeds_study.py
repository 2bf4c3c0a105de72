"""search-bench random-seeds: searches at several seeds against random cells, at two budgets."""

from __future__ import annotations

from zoo.benchmarks.search_vs_random import format_seeds_comparison, search_seeds_vs_random


def test_seed_study_rows_and_table(tmp_path):
    lines = []
    result = search_seeds_vs_random(
        recipe="darts_v1", search_seeds=(0, 1), budgets=(1, 2), n_random=2, train_images=40, layers=3,
        channels=4, batch_size=20, out_dir=tmp_path, log=lines.append,
        search_kw={"overrides": {"channels": 4, "layers": 3, "nodes": 2, "subset": 48, "batch_size": 16,
                                 "epochs": 1}})
    assert [(r["epochs"], r["kind"], len(r["runs"])) for r in result["rows"]] == [
        (1, "searched", 2), (1, "random", 2), (2, "searched", 2), (2, "random", 2)]
    assert all(0 <= a <= 100 for r in result["rows"] for a in r["runs"])
    assert [s["seed"] for s in result["searched"]] == [0, 1]
    assert all(s["top_over_uniform"]["mean"] >= 1.0 for s in result["searched"])
    assert (tmp_path / "darts_v1_digits_seed1.yaml").exists()
    table = format_seeds_comparison(result)
    assert "| 2 | random |" in table and "top op's weight against uniform" in table
    assert len(lines) == 4
