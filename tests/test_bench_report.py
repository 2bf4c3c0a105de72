"""The bench report's optional speed and accuracy columns and its scatter plot."""

import zoo
from zoo.checkpoint import save_weights
from zoo.benchmarks.report import build_report, markdown_table, scatter_plot
from zoo.cli import main


def test_speed_columns():
    (row,) = build_report(["darts_v1"], ("cifar",), progress=False, speed=True, batch=2)
    assert row.latency_ms["cpu"] > 0 and row.throughput["cpu"] > 0
    table = markdown_table([row])
    assert "latency cpu (ms)" in table and f"{row.throughput['cpu']:.1f}" in table


def test_accuracy_where_weights_and_data_exist(tmp_path):
    model = zoo.create_model("pdarts_3b", layers=3, channels=4)
    meta = {"model_args": {"family": "cifar", "num_classes": 10, "layers": 3, "channels": 4}, "data": "digits"}
    save_weights(tmp_path / "pdarts_3b.safetensors", model.state_dict(), meta)
    rows = build_report(["pdarts_3b", "darts_v1"], ("cifar",), progress=False, weights_dir=tmp_path,
                        data={"cifar": ("digits", None)})
    by_setting = {(r.model, r.setting): r for r in rows}
    measured = by_setting[("pdarts_3b", "cifar")]
    assert measured.top1 is not None and 0.0 <= measured.top1 <= 100.0
    assert by_setting[("pdarts_3b", "cifar_20l_c42")].accuracy_note == "variant setting"
    assert by_setting[("darts_v1", "cifar")].accuracy_note == "no weights"
    table = markdown_table(rows)
    assert f"{100 - measured.top1:.2f}" in table and "no weights" in table
    png = scatter_plot(rows, tmp_path / "scatter.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_writes_the_plot(tmp_path):
    assert main(["bench", "--models", "pc_darts", "--family", "cifar", "--no-progress",
                 "--plot", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").exists()
