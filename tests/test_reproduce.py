"""`darts-zoo reproduce`: train, test, compare with the paper, push. The digits round trip runs the
real commands end to end: reproduce -> push --dry-run -> load -> eval gives the same accuracy."""

import json

import numpy as np
import pytest
import timm

import zoo.cli
from zoo.errors import HubError
from zoo.benchmarks.reproduce import _cifar101_present, compare, markdown

TINY = ["--epochs", "1", "--layers", "3", "--channels", "4", "--limit-train", "160", "--quiet", "--threads", "1"]


def _cli(capsys, *argv):
    code = zoo.cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_digits_round_trip_reproduce_push_load_eval(tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = _cli(capsys, "reproduce", "pdarts_3b", "--data", "digits", "--out", run, *TINY)
    assert code == 0, err
    report = json.loads((run / "reproduce.json").read_text())
    (result,) = report["results"]
    assert (result["data"], result["split"], result["n"]) == ("digits", "test", 360)
    assert report["comparable"] is False and "reduced CPU preset" in report["why_not_comparable"]
    assert result["paper_top1"] is None and result["difference"] is None
    assert (run / "genotype.yaml").is_file() and "| scikit-learn digits" in (run / "reproduce.md").read_text()
    assert f"| {result['top1']:.2f} % |" in out

    code, out, err = _cli(capsys, "push", run, "--repo-id", "me/pdarts_3b-digits", "--dry-run")
    assert code == 0, err
    net = timm.create_model(f"local-dir:{run / 'hub'}", pretrained=True)
    assert (net.layers, net.channels, net.genotype.name) == (3, 4, "pdarts_3b")
    card = (run / "hub" / "README.md").read_text()
    assert f"value: {result['top1']}" in card  # model-index carries the measured accuracy
    assert "](curves.png)" in card and (run / "hub" / "curves.png").is_file()

    code, out, err = _cli(capsys, "eval", f"local-dir:{run / 'hub'}", "--data", "digits", "--pretrained",
                          "--threads", "1")
    assert code == 0, err
    measured = json.loads(out.strip().splitlines()[-1])
    assert measured["n"] == 360 and round(measured["top1"], 2) == result["top1"]

    # Resumable like train: a finished run is re-evaluated, not retrained, and says so.
    code, out, err = _cli(capsys, "reproduce", "pdarts_3b", "--data", "digits", "--out", run, "--resume", *TINY)
    assert code == 0 and "all 1 epochs are done" in out
    assert json.loads((run / "reproduce.json").read_text())["results"] == report["results"]


def test_push_that_cannot_happen_is_refused_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    run = tmp_path / "run"
    code, _, err = _cli(capsys, "reproduce", "pdarts_3b", "--data", "digits", "--out", run, "--push", "me/x", *TINY)
    assert code == 2 and err.count("\n") == 1 and "--push me/x: HF_HUB_OFFLINE is set" in err
    code, _, err = _cli(capsys, "reproduce", "pdarts_3b", "--data", "digits", "--out", run, "--push", "me", *TINY)
    assert code == 2 and "--push: 'me' is not a Hub repo id" in err
    assert not run.exists()


def test_comparison_with_the_papers_figure():
    g = zoo.zoo_genotype("sharpdarts")
    results = [{"data": "cifar10", "split": "test", "top1": 97.5, "top5": 99.9, "n": 10000},
               {"data": "cifar10.1", "split": "test", "top1": 93.0, "top5": 99.0, "n": 2000}]
    rows = compare(g, results, comparable=True)
    # sharpDARTS: 2.29 +- 0.06 % CIFAR-10 error, 6.2 +- 0.4 % CIFAR-10.1 error.
    assert [(r["paper_top1"], r["difference"]) for r in rows] == [(pytest.approx(97.71), -0.21),
                                                                  (pytest.approx(93.8), -0.8)]
    assert rows[0]["paper"].startswith("97.71 % ± 0.06")
    assert [r["difference"] for r in compare(g, results, comparable=False)] == [None, None]
    text = markdown({"model": "sharpdarts", "data": "cifar10", "recipe": "sharpdarts", "recipe_source": "s",
                     "epochs_done": 2000, "layers": 20, "channels": 36, "run_dir": "r", "results": rows,
                     "comparable": True})
    assert "| CIFAR-10.1 (v6) | test | 2000 | 93.00 % | 99.00 % | 93.80 % ± 0.40 | -0.80 |" in text


def test_cifar101_is_measured_when_its_files_are_there(tmp_path):
    assert not _cifar101_present(tmp_path)
    np.save(tmp_path / "cifar10.1_v6_data.npy", np.zeros((2, 32, 32, 3), np.uint8))
    assert not _cifar101_present(tmp_path)
    np.save(tmp_path / "cifar10.1_v6_labels.npy", np.zeros(2, np.int64))
    assert _cifar101_present(tmp_path)


def test_reproduce_push_uses_push(tmp_path, monkeypatch):
    """--push hands the finished run to push (the upload itself is test_push's)."""
    import zoo.benchmarks.reproduce as reproduce

    pushed = []
    monkeypatch.setattr(reproduce, "hub_token", lambda token: "hf_test")
    monkeypatch.setattr(reproduce, "push_run", lambda run_dir, repo, private, log: pushed.append((run_dir, repo))
                        or {"url": "u"})
    report = reproduce.reproduce("darts_v1", "digits", out=tmp_path / "r", push="me/darts_v1", epochs=1, layers=3,
                                 channels=4, limit_train=64, limit_test=50, progress=False, log=lambda line: None)
    assert pushed == [(tmp_path / "r", "me/darts_v1")] and report["push"] == {"url": "u"}
    assert report["results"][0]["n"] == 50

    def outage(*a, **k):
        raise HubError("could not upload to the Hub repo 'me/darts_v1': huggingface.co:443 cannot be reached")

    monkeypatch.setattr(reproduce, "push_run", outage)
    with pytest.raises(HubError) as e:  # the finished run is re-evaluated (--resume), then the upload fails
        reproduce.reproduce("darts_v1", "digits", out=tmp_path / "r", push="me/darts_v1", resume=True, epochs=1,
                            layers=3, channels=4, limit_train=64, limit_test=50, progress=False, log=lambda line: None)
    assert str(e.value).endswith(f"; the run is complete in {tmp_path / 'r'}: push it later with `darts-zoo push "
                                 f"{tmp_path / 'r'} --repo-id me/darts_v1`")
