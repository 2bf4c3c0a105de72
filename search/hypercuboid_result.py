"""The HyperCuboid search's result file: the best path through the grid, readable as YAML.

    kind: hypercuboid_path
    path:                       the chosen single-path model (sec. 4.1's "optimal path")
      channels: [8, 16, 16, 32, 32]       after the stem and after each grid layer
      layers:                             one entry per grid layer, in order
        - {layer: 1, kind: normal, stride: 1, c_in: 8, c_out: 16, primitive: sep_conv_3x3, weight: 0.21}
      score: 0.93                         the sum of the chosen weights (the maximum over all paths)
      line: "path 8 -sep3N-> 16 ..."
    grid: channels, primitives, layers, kinds
    alphas: per grid layer, the softmax weights as [c_in][c_out][primitive] (6 decimals)
    search: recipe, overrides, seed, data, epochs, settings, version, final accuracies

Written atomically at the run's --out path (the place a cell search writes its genotype), read back
with `load_hypercuboid_result` (yaml.safe_load).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Union

import yaml

from ..atomic import atomic_write_bytes
from ..errors import ZooError
from .hypercuboid import HyperCuboidSupernet, describe_path
from .outputs import RunPaths, run_record
from .recipes import SearchRecipe

KIND = "hypercuboid_path"
MAX_RESULT_BYTES = 16 * 2 ** 20


def _round(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    return round(float(value), 6)


def path_record(net: HyperCuboidSupernet) -> dict[str, Any]:
    """The best path as plain data: channel counts and, per layer, the chosen grid entry."""
    grid = net.hypercuboid
    path = net.best_path()
    layers = [{"layer": s.layer + 1, "kind": kind, "stride": 2 if kind == "reduce" else 1,
               "c_in": grid.channels[s.c_in], "c_out": grid.channels[s.c_out],
               "primitive": grid.primitives[s.primitive], "weight": round(s.weight, 6)}
              for s, kind in zip(path.steps, grid.kinds)]
    return {"channels": [grid.channels[c] for c in path.channel_indices()], "layers": layers,
            "score": round(path.score, 6), "line": describe_path(grid, path)}


def write_hypercuboid_result(net: HyperCuboidSupernet, cfg: SearchRecipe, user_overrides: Mapping[str, Any],
                             data: str, seed: int, paths: RunPaths, history: list, version: str,
                             world_size: int) -> tuple[Path, str]:
    """Write the result file at paths.genotype; return its path and the line to log."""
    grid = net.hypercuboid
    record = path_record(net)
    result = {
        "kind": KIND,
        "name": paths.genotype.stem,
        "title": f"{cfg.name} search on {data} (seed {seed})",
        "source": {"recipe": cfg.name, "method": cfg.source},
        "weighting": net.weighting,
        "path": record,
        "grid": {**grid.to_dict(), "final_channels": net.final_channels,
                 "shape": f"(({len(grid.channels)}x{len(grid.channels)})x{grid.blocks}x{grid.blocks}"
                          f"x{len(grid.primitives)})"},
        "alphas": [{"layer": t + 1, "kind": kind, "weights": _round(w.tolist())}
                   for t, (kind, w) in enumerate(zip(grid.kinds, net.grid_weights()))],
        "search": run_record(cfg, user_overrides, data, seed, history, version, world_size),
    }
    result["search"] = {k: v for k, v in result["search"].items() if v is not None}
    text = yaml.safe_dump(result, sort_keys=False, width=100, default_flow_style=None)
    path = atomic_write_bytes(paths.genotype, text.encode("utf-8"))
    return path, f"hypercuboid {record['line']}; channels {record['channels']}"


def load_hypercuboid_result(path: Union[str, Path]) -> dict[str, Any]:
    """A result file as plain data, or a one-line ZooError when it is not one."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_RESULT_BYTES:
            raise ZooError(f"{path}: larger than {MAX_RESULT_BYTES // 2 ** 20} MiB; not a HyperCuboid result")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ZooError(f"{path}: cannot read a HyperCuboid result ({type(e).__name__}); "
                       "give the .yaml a hypercuboid search wrote") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ZooError(f"{path}: not a HyperCuboid result (no 'kind: {KIND}'); give the .yaml a hypercuboid "
                       "search wrote")
    return data
