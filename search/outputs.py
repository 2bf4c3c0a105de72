"""What a search writes beside its genotype file, and the genotype file itself:

    <out stem>.yaml           the searched genotype (zoo schema, `provenance: searched`, a `search:` record)
    <out stem>.history.json   one record per epoch: losses, accuracies, softmax alphas per edge
    <out stem>.alphas.png     the alphas' evolution, one panel per cell type
    <out stem>.betas.png      stretchable searches: each edge's topology weight per epoch
    <out stem>.log            the per-epoch log lines
    <out stem>.ckpt/          the checkpoint of the last finished epoch (zoo.checkpoint)
    <out>.lock                held by the one process writing these files (zoo.locks)

A finished genotype file is replaced only when the run is told to (--overwrite, or --resume of its
checkpoint); every file is written atomically (zoo.atomic).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

from ..genotype import Genotype, Preset, genotype_from_dict, genotype_to_dict, save_genotype
from .history import plot_history, plot_topology, write_history
from .components import SPACES
from .recipes import SearchRecipe, eval_network

DEFAULT_OUT_DIR = Path("runs") / "search"


@dataclasses.dataclass(frozen=True)
class RunPaths:
    genotype: Path

    def _beside(self, suffix: str) -> Path:
        stem = self.genotype.with_suffix("")
        return stem.with_name(stem.name + suffix)

    @property
    def history(self) -> Path:
        return self._beside(".history.json")

    @property
    def plot(self) -> Path:
        return self._beside(".alphas.png")

    @property
    def topology_plot(self) -> Path:
        return self._beside(".betas.png")

    @property
    def log(self) -> Path:
        return self._beside(".log")

    @property
    def checkpoints(self) -> Path:
        return self._beside(".ckpt")


def default_out(recipe: str, data: str, seed: int) -> Path:
    return DEFAULT_OUT_DIR / f"{recipe}_{data}_seed{seed}.yaml"


def trim_alphas(alphas: Mapping[str, Any], candidates: Mapping[str, Sequence[Sequence[str]]]):
    """Alphas as rows that match the edges' candidate lists (a padded matrix is cut per edge)."""
    return {ct: [list(row[: len(n)]) for row, n in zip(rows, candidates[ct])] for ct, rows in alphas.items()}


def _short_op(name: str) -> str:
    """sep_conv_3x3 -> sep3, dil_conv_5x5_DD -> dil5_DD, max_pool_3x3 -> max, skip_connect -> skip."""
    name = re.sub(r"^(\w+?)_conv_(\d+)x\d+", r"\1\2", name)
    name = re.sub(r"^(max|avg)_pool_\d+x\d+", r"\1", name)
    return "skip" if name == "skip_connect" else name


def format_cells(cells: Union[Genotype, Mapping[str, Sequence[Sequence[tuple[str, int]]]]]) -> str:
    """A compact one-line genotype: per cell type, each node's edges as op<input. Takes a Genotype
    or the {cell type: nodes of (op, input)} that discretize.derive_cells gives each epoch."""
    if isinstance(cells, Genotype):
        cells = {name: [[(e.op, e.input) for e in node] for node in c.nodes] for name, c in cells.cells.items()}
    parts = []
    for name, nodes in cells.items():
        text = [",".join(f"{_short_op(op)}<{inp}" for op, inp in node) or "-" for node in nodes]
        parts.append(f"{name}[{' '.join(text)}]")
    return " ".join(parts)


def arch_snapshot(supernet) -> dict[str, Any]:
    """Raw alphas per cell type as nested lists, the op names of every edge, and betas if any."""
    return {"alphas": {ct: a.detach().float().cpu().tolist() for ct, a in supernet.alphas.items()},
            "candidates": {ct: [list(c) for c in edges] for ct, edges in supernet.edge_candidates.items()},
            "betas": {name: b.detach().float().cpu().tolist() for name, b in getattr(supernet, "betas", {}).items()}}


def epoch_line(r: Mapping[str, Any], stages: int, stage_epochs: int, total: int) -> str:
    """One line per epoch: position, losses and accuracies (%), lr, skip dropout, time, genotype.
    train = weight batches; val = alpha batches as the strategy saw them; eval = the supernet in
    eval mode on the whole alpha half after the epoch (DARTS' 'valid_acc')."""
    def pair(prefix):
        loss, acc = r.get(f"{prefix}_loss"), r.get(f"{prefix}_acc")
        if loss is None and acc is None:
            return None
        text = f"{prefix} loss {loss:.4f}" if isinstance(loss, (int, float)) else f"{prefix} loss -"
        if isinstance(acc, (int, float)):
            text += f" acc {acc:.2f}%"
        return text

    head = f"[{r['global_epoch']}/{total}]"
    if stages > 1:
        head += f" stage {r['stage'] + 1}/{stages} ({r['layers']} cells) epoch {r['epoch']}/{stage_epochs}"
    else:
        head += f" epoch {r['epoch']}/{stage_epochs}"
    parts = [head] + [p for p in (pair("train"), pair("val"), pair("eval")) if p]
    parts.append(f"lr {r['lr']:.5f}")
    if r.get("skip_dropout"):
        parts.append(f"skip-drop {r['skip_dropout']:.3f}")
    if not r.get("arch_updates", True):
        parts.append("warm-up (alphas frozen)")
    parts.append(f"{r['seconds']:.1f}s")
    parts.append(r["genotype"])
    return " | ".join(parts)


def stage_records(cfg: SearchRecipe) -> list[dict[str, Any]]:
    return [{"layers": s.layers, "ops": s.ops_per_edge, "epochs": s.epochs, "warmup": s.warmup_epochs,
             "skip_dropout": s.skip_dropout} for s in cfg.stage_plan()]


def write_history_files(paths: RunPaths, cfg: SearchRecipe, data: str, seed: int, history: list) -> None:
    header = {"recipe": cfg.name, "data": data, "seed": seed, "stages": stage_records(cfg)}
    write_history(paths.history, header, history)
    own_plot = getattr(SPACES.find(cfg.space), "plot_history", None)  # a space without cells draws its own
    if own_plot is not None:
        own_plot(paths.plot, cfg, history, title=f"{cfg.name} on {data}, seed {seed}: alphas")
        return
    plot_history(paths.plot, history, title=f"{cfg.name} on {data}, seed {seed}: alpha evolution")
    if history and "edge_scales" in history[-1]:
        plot_topology(paths.topology_plot, history, title=f"{cfg.name} on {data}, seed {seed}: topology (betas)")


def _round(value):
    """Nested alphas with 6 decimals: exact enough to re-rank, short enough to read."""
    if isinstance(value, Mapping):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    return round(float(value), 6)


def run_record(cfg: SearchRecipe, user_overrides: Mapping[str, Any], data: str, seed: int, history: list,
               version: str, world_size: int) -> dict[str, Any]:
    """What every search result records of its run: recipe, overrides as applied, data, stages,
    settings, version and the final accuracies (cell genotypes and HyperCuboid paths alike)."""
    last = history[-1] if history else {}
    return {
        "recipe": cfg.name,
        # As applied (parsed and checked), e.g. --stage-layers "5,8,11" is recorded as [5, 8, 11].
        "overrides": {k: (list(getattr(cfg, k)) if isinstance(getattr(cfg, k), tuple) else getattr(cfg, k))
                      for k in sorted(user_overrides)},
        "preset": data if data == "digits" else None,
        "seed": int(seed),
        "data": {"name": data, "split": "train", "train_fraction": cfg.train_fraction, "subset": cfg.subset},
        "epochs": cfg.total_epochs(),
        "stages": stage_records(cfg),
        "settings": cfg.settings(),
        "world_size": world_size,
        "version": version,
        "final": {"eval_acc": last.get("eval_acc"), "eval_loss": last.get("eval_loss"),
                  "train_acc": last.get("train_acc")},
    }


def write_genotype(genotype: Genotype, snapshot: Mapping[str, Any], cfg: SearchRecipe,
                   user_overrides: Mapping[str, Any], data: str, seed: int, paths: RunPaths,
                   history: list, version: str, world_size: int) -> Path:
    """The searched genotype with its `search:` record (recipe, overrides as applied, data, stages,
    settings, final accuracies and alphas), validated as a file would be, then written atomically."""
    record: dict[str, Any] = {
        **run_record(cfg, user_overrides, data, seed, history, version, world_size),
        "alphas": _round(trim_alphas(snapshot["alphas"], snapshot["candidates"])),
        "candidates": snapshot["candidates"],
    }
    if snapshot["betas"]:
        record["betas"] = _round(snapshot["betas"])
    record = {k: v for k, v in record.items() if v is not None}
    g = dataclasses.replace(
        genotype,
        name=paths.genotype.stem,
        title=f"{cfg.name} search on {data} (seed {seed})",
        source={"recipe": cfg.name, "method": cfg.source},
        provenance={"kind": "searched", "by": f"darts-zoo {version} search --recipe {cfg.name}"},
        presets={"cifar": Preset(*eval_network(cfg, genotype), auxiliary=True, drop_path=cfg.eval_drop_path)},
        search=record,
    )
    # Validate as a file would be: a `none` edge or a bad op name fails here, not at build time.
    genotype_from_dict(genotype_to_dict(g), where=str(paths.genotype))
    return save_genotype(g, paths.genotype)
