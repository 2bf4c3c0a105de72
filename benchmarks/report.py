"""The zoo report: every model's params and MACs beside the reference and published figures.

`darts-zoo bench` and `python -m zoo.benchmarks` print it as a markdown table and can write it as
JSON. A row is one (model, setting): the model's default setting for a dataset family, plus every
extra setting its genotype file records reference counts for (e.g. sharpdarts_imagenet at c_mid 96).
"""

from __future__ import annotations

import fnmatch
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from tqdm import tqdm

from ..atomic import atomic_save_figure, atomic_write_json
from ..counting import INPUT_SIZES, count_macs, count_params
from ..errors import ZooError
from ..models import ZOO_NAMES, create_model, zoo_genotype
from .evaluate import evaluate


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
    latency_ms: dict[str, float] = field(default_factory=dict)      # device -> batch-1 latency
    throughput: dict[str, float] = field(default_factory=dict)      # device -> images/s at --batch
    top1: Optional[float] = None                                    # measured, where weights and data exist
    top5: Optional[float] = None
    accuracy_note: str = ""
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


def speed_devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def measure_speed(model: torch.nn.Module, input_size: tuple[int, int, int], device: str, batch: int,
                  repeats: int = 5) -> tuple[float, float]:
    """(median batch-1 latency in ms, images/s at `batch`), eval mode, no autograd."""
    model = model.eval().to(device)

    def timed(x: torch.Tensor, n: int) -> float:
        with torch.inference_mode():
            model(x)  # warm-up: allocator, cudnn autotune
            times = []
            for _ in range(n):
                if device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                model(x)
                if device == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
        return statistics.median(times)

    latency = timed(torch.randn(1, *input_size, device=device), repeats)
    per_batch = timed(torch.randn(batch, *input_size, device=device), max(2, repeats // 2))
    model.to("cpu")
    return latency * 1e3, batch / per_batch


def find_weights(weights_dir: Path, timm_name: str) -> Optional[Path]:
    """`DIR/<name>.safetensors` or `DIR/<name>/model.safetensors` (a `darts-zoo train` run dir)."""
    for candidate in (weights_dir / f"{timm_name}.safetensors", weights_dir / timm_name / "model.safetensors"):
        if candidate.is_file():
            return candidate
    return None


def measure_accuracy(row: ReportRow, weights_dir: Optional[Path], data: dict[str, tuple[str, Optional[str]]]) -> None:
    """Top-1/top-5 of the row's network on its family's dataset, where both weights and data exist."""
    if row.overrides:
        row.accuracy_note = "variant setting"
        return
    weights = find_weights(weights_dir, row.timm_name) if weights_dir else None
    if weights is None:
        row.accuracy_note = "no weights"
        return
    if row.family not in data:
        row.accuracy_note = f"no --{row.family}-data"
        return
    name, root = data[row.family]
    try:
        result = evaluate(row.model, name, data_dir=root, checkpoint=weights)
    except ZooError as e:
        row.accuracy_note = str(e)
        return
    row.top1, row.top5 = result["top1"], result.get("top5")


def select_models(pattern: Optional[str]) -> list[str]:
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
                 progress: bool = True, speed: bool = False, batch: int = 64,
                 weights_dir: Optional[Path] = None,
                 data: Optional[dict[str, tuple[str, Optional[str]]]] = None) -> list[ReportRow]:
    """Counts for every row; with `speed`, latency and throughput per device; with `weights_dir`
    and `data` ({family: (dataset, root)}), measured accuracy."""
    plan = plan_rows(names, families)
    rows = []
    for name, setting, family, overrides in tqdm(plan, desc="bench", unit="model", disable=not progress,
                                                  leave=False):
        row = measure_row(name, setting, family, overrides)
        if speed:
            model = create_model(name, family=family, **overrides)
            for device in speed_devices():
                latency, throughput = measure_speed(model, INPUT_SIZES[family], device, batch)
                row.latency_ms[device], row.throughput[device] = round(latency, 2), round(throughput, 1)
        if weights_dir is not None:
            measure_accuracy(row, weights_dir, data or {})
        rows.append(row)
    return rows


def _fmt(value: Optional[float], digits: int, signed: bool = False) -> str:
    if value is None:
        return "—"
    if signed:
        # A difference that rounds to zero is shown as 0, not as "-0.0000".
        return "0" if round(value, digits) == 0 else f"{value:+.{digits}f}"
    return f"{value:.{digits}f}"


def markdown_table(rows: Sequence[ReportRow]) -> str:
    devices = sorted({d for r in rows for d in r.latency_ms})
    with_accuracy = any(r.top1 is not None or r.accuracy_note for r in rows)
    header = ("| model | setting | L / C | params (M) | ref. | Δ | paper | MACs (M) | ref. | Δ | paper "
              "| paper top-1 err (%) | build (s) |")
    extra = "".join(f" latency {d} (ms) | img/s {d} |" for d in devices)
    if with_accuracy:
        extra += " top-1 err (%) | Δ paper |"
    lines = [header + extra, "|" + "---|" * (13 + 2 * len(devices) + 2 * with_accuracy)]
    for r in rows:
        cells = "".join(f" {_fmt(r.latency_ms.get(d), 1)} | {_fmt(r.throughput.get(d), 1)} |" for d in devices)
        if with_accuracy:
            err = None if r.top1 is None else 100.0 - r.top1
            cells += (f" {_fmt(err, 2) if err is not None else r.accuracy_note or '—'} "
                      f"| {_fmt(r.diff(err, r.published_top1_err) if err is not None else None, 2, True)} |")
        lines.append(
            f"| {r.timm_name} | {r.setting} | {r.layers} / {r.channels} "
            f"| {r.params_m:.4f} | {_fmt(r.reference_params_m, 4)} "
            f"| {_fmt(r.diff(r.params_m, r.reference_params_m), 4, True)} | {_fmt(r.published_params_m, 2)} "
            f"| {r.macs_m:.1f} | {_fmt(r.reference_macs_m, 1)} "
            f"| {_fmt(r.diff(r.macs_m, r.reference_macs_m), 1, True)} | {_fmt(r.published_macs_m, 0)} "
            f"| {_fmt(r.published_top1_err, 2)} | {_fmt(r.build_s, 2)} |" + cells
        )
    return "\n".join(lines)


def scatter_plot(rows: Sequence[ReportRow], path: str | Path) -> Path:
    """Top-1 error against params and MACs: the papers' points, and ours where measured."""
    import matplotlib  # only plotting needs it; a headless backend is chosen before pyplot loads

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = [f for f in ("cifar", "imagenet") if any(r.family == f and r.published_top1_err for r in rows)]
    families = families or ["cifar"]
    fig, axes = plt.subplots(len(families), 2, figsize=(13, 5 * len(families)), squeeze=False)
    for row_axes, family in zip(axes, families):
        for ax, key, label in ((row_axes[0], "params_m", "params (M)"), (row_axes[1], "macs_m", "MACs (M)")):
            for r in rows:
                if r.family != family or r.published_top1_err is None:
                    continue
                ours_x = getattr(r, key)
                paper_x = getattr(r, f"published_{key}") or ours_x
                ax.scatter(paper_x, r.published_top1_err, marker="o", color="#1f77b4", zorder=3)
                ax.annotate(r.model if r.setting == r.family else f"{r.model} ({r.setting})",
                            (paper_x, r.published_top1_err), fontsize=7, xytext=(4, 3), textcoords="offset points")
                if r.top1 is not None:
                    ax.scatter(ours_x, 100.0 - r.top1, marker="*", s=90, color="#d62728", zorder=4)
                    ax.plot([paper_x, ours_x], [r.published_top1_err, 100.0 - r.top1], color="#d62728", lw=0.6)
            ax.set_xlabel(label)
            ax.set_ylabel(f"{'CIFAR-10' if family == 'cifar' else 'ImageNet'} top-1 error (%)")
            ax.grid(alpha=0.3)
    axes[0][0].scatter([], [], marker="o", color="#1f77b4", label="paper")
    axes[0][0].scatter([], [], marker="*", color="#d62728", label="measured here")
    axes[0][0].legend(loc="best")
    fig.suptitle("darts-zoo: top-1 error against cost")
    fig.tight_layout()
    path = atomic_save_figure(fig, path, dpi=130)
    plt.close(fig)
    return path


def write_json(rows: Sequence[ReportRow], path: str | Path) -> Path:
    return atomic_write_json(path, {"rows": [dict(asdict(r), timm_name=r.timm_name) for r in rows]})
