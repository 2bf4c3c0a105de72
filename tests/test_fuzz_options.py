"""Property-based: generated option values for every command and for create_model either work or
end in the package's own error (one line at the CLI, exit 2): never another exception, never a
hang. The handlers stop right after their checks (a valid value would otherwise start a real run),
so each case costs milliseconds; at least 100 cases per property, over 400 per run."""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import zoo
from zoo.benchmarks import cli as bench_cli
from zoo.benchmarks.train import TRAIN_SETTINGS, Trainer
from zoo.cli import main
from zoo.errors import ZooError
from zoo.search import RECIPES, SearchRun, apply_overrides
from zoo.search.cli import RECIPE_FLAGS
from zoo.search.run import RunOptions
from zoo.settings import NETWORK

ANY_VALUE = st.one_of(
    st.integers(min_value=-10 ** 25, max_value=10 ** 25),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(st.integers(-5, 300), st.text(max_size=4)), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
# What a user can type: numbers of every kind as text, plus arbitrary text.
ANY_TEXT = st.one_of(
    st.integers(min_value=-10 ** 25, max_value=10 ** 25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.lists(st.integers(-5, 300).map(str), min_size=1, max_size=4).map(",".join),
)
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _one_line(e: ZooError) -> None:
    assert "\n" not in str(e) and str(e).strip()


class _Checked(Exception):
    """Raised by the stubs below once a command's checks have passed."""


@FUZZ
@given(recipe=st.sampled_from(sorted(RECIPES)), name=st.sampled_from(sorted(RECIPE_FLAGS) + ["epochs", "no_such"]),
       value=ANY_VALUE)
def test_search_recipe_overrides(recipe, name, value):
    try:
        cfg = apply_overrides(RECIPES[recipe], {name: value}, data="digits")
        SearchRun(cfg, {name: value}, RunOptions(data="digits", out="/nonexistent-dir/x.yaml", progress=False))
    except ZooError as e:
        _one_line(e)


@FUZZ
@given(name=st.sampled_from(sorted(TRAIN_SETTINGS.names)), value=ANY_VALUE)
def test_training_arguments(name, value):
    try:
        Trainer("pdarts_3b", "digits", **{name: value}, out="/nonexistent-dir/run")
    except ZooError as e:
        _one_line(e)


@FUZZ
@given(name=st.sampled_from(sorted(NETWORK.names)), value=ANY_VALUE)
def test_create_model_keywords(name, value):
    kwargs = {"layers": 3, "channels": 4, name: value}
    if isinstance(value, (int, float)) and not isinstance(value, bool) and name in ("layers", "channels") \
            and math.isfinite(value) and value > 16:
        kwargs[name] = 16  # a valid large network only costs time; the domain's edges are what matter
    try:
        with torch.device("meta"):
            zoo.create_model("darts_v2", **kwargs)
    except ZooError as e:
        _one_line(e)


@FUZZ
@given(command=st.sampled_from(["search", "train", "search-bench"]), data=st.data())
def test_command_lines(command, data, capsys, monkeypatch):
    monkeypatch.setattr(SearchRun, "run", lambda self: (_ for _ in ()).throw(_Checked()))
    monkeypatch.setattr(bench_cli, "train", lambda *a, **kw: (Trainer(*a, **kw), (_ for _ in ()).throw(_Checked())))
    monkeypatch.setattr(bench_cli, "search_speed", lambda **kw: (_ for _ in ()).throw(_Checked()))
    monkeypatch.setattr(bench_cli, "search_vs_random", lambda **kw: (_ for _ in ()).throw(_Checked()))
    base = {"search": ["search", "--recipe", "darts_v1", "--data", "digits", "--out", "/nonexistent-dir/x.yaml"],
            "train": ["train", "pdarts_3b", "--data", "digits", "--out", "/nonexistent-dir/run"],
            "search-bench": ["search-bench", data.draw(st.sampled_from(["speed", "random"]))]}[command]
    flags = {"search": [f"--{n.replace('_', '-')}" for n in RECIPE_FLAGS] + ["--seed", "--threads", "--workers",
                                                                            "--stop-after-epochs", "--device"],
             "train": ["--epochs", "--batch-size", "--lr", "--ema", "--seed", "--workers", "--threads", "--layers",
                       "--channels", "--limit-train", "--limit-test", "--device", "--recipe"],
             "search-bench": ["--steps", "--batch-size", "--layers", "--channels", "--image-size", "--random",
                              "--seeds", "--epochs", "--train-images", "--threads", "--device"]}[command]
    flag, text = data.draw(st.sampled_from(flags)), data.draw(ANY_TEXT)
    try:
        code = main([*base, f"{flag}={text}"])
    except _Checked:
        return
    except SystemExit as e:  # argparse's own refusals (a choices list) are one line too
        code = e.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and err, err
