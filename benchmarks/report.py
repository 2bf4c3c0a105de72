"""The zoo report: every model's params and MACs beside the reference and published figures.

`darts-zoo bench` and `python -m zoo.benchmarks` print it as a markdown table and can write it as
JSON. A row is one (model, setting): the model's default setting for a dataset family, plus every
extra setting its genotype file records reference counts for (e.g. sharpdarts_imagenet at c_mid 96).
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from tqdm import tqdm

from ..errors import ZooError
from .counting import count_macs, count_params

INPUT_SIZES = {"cifar": (3, 32, 32), "imagenet": (3, 224, 224)}


@dataclass
class ReportRow:
    model: str
    setting: str
    family: str
    layers: int
    channels: int
    overrides: dict[str, Any]
    provenance: str
    params_m: float
    macs_m: float
    reference_params_m: Optional[float] = None
    reference_macs_m: Optional[float] = None
    published_params_m: Optional[float] = None
    published_macs_m: Optional[float] = None
    published_top1_err: Optional[float] = None
    build_s: Optional[float] = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def timm_name(self) -> str:
        return self.model if self.family == "cifar" else f"{self.model}_imagenet"

    def diff(self, ours: float, theirs: Optional[float]) -> Optional[float]:
        return None if theirs is None else ours - theirs


def _published_key(setting: str) -> str:
    # Settings are named by family (cifar, imagenet_cmid96); published results by dataset.
    return "cifar10" + setting[len("cifar"):] if setting.startswith("cifar") else setting


def plan_rows(names: Sequence[str], families: Sequence[str]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(model, setting, family, overrides) for every row the report will measure."""
    from ..models import zoo_genotype

    rows = []
    for name in names:
        g = zoo_genotype(name)
        for family in families:
            rows.append((name, family, family, {}))
            for setting, ref in g.reference.items():
                if setting != family and ref.get("family", setting) == family:
                    rows.append((name, setting, family, dict(ref.get("overrides", {}))))
    return rows


def measure_row(name: str, setting: str, family: str, overrides: dict[str, Any]) -> ReportRow:
    from ..models import create_model, zoo_genotype

    g = zoo_genotype(name)
    start = time.perf_counter()
    model = create_model(name, family=family, **overrides)
    build_s = time.perf_counter() - start
    ref = g.reference.get(setting, {})
    pub = g.published.get(_published_key(setting), {})
    return ReportRow(
        model=name, setting=setting, family=family, layers=model.layers, channels=model.channels,
        overrides=overrides, provenance=g.provenance.get("kind", "?"),
        params_m=count_params(model) / 1e6, macs_m=count_macs(model, INPUT_SIZES[family]) / 1e6,
        reference_params_m=ref.get("params_m"), reference_macs_m=ref.get("macs_m"),
        published_params_m=pub.get("params_m"), published_macs_m=pub.get("macs_m"),
        published_top1_err=pub.get("top1_err"), build_s=build_s,
    )


def select_models(pattern: Optional[str]) -> list[str]:
    from ..models import ZOO_NAMES

    if not pattern:
        return list(ZOO_NAMES)
    patterns = [p.strip() for p in pattern.split(",") if p.strip()]
    chosen = []
    for name in ZOO_NAMES:
        for p in patterns:
            base = p[: -len("_imagenet")] if p.endswith("_imagenet") else p
            if fnmatch.fnmatch(name, base):
                chosen.append(name)
                break
    if not chosen:
        raise ZooError(f"--models {pattern!r} matches no zoo model; use a name or a glob such as "
                       "'pdarts*' (`darts-zoo list` shows the names)")
    return chosen


def build_report(names: Sequence[str], families: Sequence[str] = ("cifar", "imagenet"),
                 progress: bool = True) -> list[ReportRow]:
    plan = plan_rows(names, families)
    rows = []
    for name, setting, family, overrides in tqdm(plan, desc="counting", unit="model", disable=not progress,
                                                  leave=False):
        rows.append(measure_row(name, setting, family, overrides))
    return rows


def _fmt(value: Optional[float], digits: int, signed: bool = False) -> str:
    if value is None:
        return "—"
    if signed:
        # A difference that rounds to zero is shown as 0, not as "-0.0000".
        return "0" if round(value, digits) == 0 else f"{value:+.{digits}f}"
    return f"{value:.{digits}f}"


def markdown_table(rows: Iterable[ReportRow]) -> str:
    header = ("| model | setting | L / C | params (M) | ref. | Δ | paper | MACs (M) | ref. | Δ | paper "
              "| paper top-1 err (%) | build (s) |")
    lines = [header, "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r.timm_name} | {r.setting} | {r.layers} / {r.channels} "
            f"| {r.params_m:.4f} | {_fmt(r.reference_params_m, 4)} "
            f"| {_fmt(r.diff(r.params_m, r.reference_params_m), 4, True)} | {_fmt(r.published_params_m, 2)} "
            f"| {r.macs_m:.1f} | {_fmt(r.reference_macs_m, 1)} "
            f"| {_fmt(r.diff(r.macs_m, r.reference_macs_m), 1, True)} | {_fmt(r.published_macs_m, 0)} "
            f"| {_fmt(r.published_top1_err, 2)} | {_fmt(r.build_s, 2)} |"
        )
    return "\n".join(lines)


def write_json(rows: Sequence[ReportRow], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"rows": [dict(asdict(r), timm_name=r.timm_name) for r in rows]}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)
    return path
