"""`darts-zoo list` and `show`."""

from __future__ import annotations

import argparse
import json
import sys

from .counting import INPUT_SIZES, count_macs, count_params
from .draw import check_draw_dir, draw_genotype
from .errors import ZooError
from .genotype import Genotype, dump_genotype
from .models import DAG_ZOO_NAMES, ZOO_NAMES, create_model, resolve_genotype, zoo_genotype
from .settings import CHANNELS, LAYERS, NETWORK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list the zoo's models")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("show", help="show a genotype: cells, params, MACs, provenance")
    p.add_argument("model", metavar="NAME|FILE", help="a zoo name (darts-zoo list) or a genotype YAML file")
    p.add_argument("--family", choices=("cifar", "imagenet"), default=None,
                   help="network family (default: cifar, or imagenet for *_imagenet names)")
    LAYERS.add_to(p, help="override the preset's number of cells")
    CHANNELS.add_to(p, help="override the preset's initial channels")
    p.add_argument("--draw", metavar="DIR", default=None, help="write a PNG and an SVG of every cell type to DIR")
    p.add_argument("--yaml", action="store_true", help="print the genotype file as the zoo writes it")
    p.set_defaults(handler=cmd_show)


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for name in ZOO_NAMES:
        g = zoo_genotype(name)
        cifar = g.preset("cifar")
        rows.append(dict(name=name, family="cell", imagenet=f"{name}_imagenet", op_set=g.op_set,
                         cells=len(g.cells), provenance=g.provenance.get("kind"),
                         layers=cifar.layers, channels=cifar.channels, title=g.title))
    for name in DAG_ZOO_NAMES:
        g = zoo_genotype(name)
        d = g.dag
        # A DAG block's layers are its vertices and its channels its width; it has no ImageNet twin.
        rows.append(dict(name=name, family="dag", imagenet=None, op_set=g.op_set, cells=0,
                         provenance=g.provenance.get("kind"), layers=d.vertices, channels=d.width,
                         layer=d.layer, edges=len(d.edges), title=g.title))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':20s} {'family':6s} {'op set':7s} {'cells':5s} {'L x C':7s} {'provenance':13s} title")
    for r in rows:
        cells = str(r["cells"]) if r["family"] == "cell" else "-"
        print(f"{r['name']:20s} {r['family']:6s} {r['op_set']:7s} {cells:5s} {r['layers']:>2d} x {r['channels']:<3d} "
              f"{r['provenance']:13s} {r['title']}")
    print("\nEach cell model is also registered as <name>_imagenet; any genotype file works via "
          "timm.create_model('darts_genotype', genotype=FILE).\nFamily dag: a DAG building block "
          "(docs/dag-blocks.md), L x C is its layers x width; `darts-zoo show NAME` lists its edges.")
    return 0


def _describe_cells(g: Genotype) -> list[str]:
    lines = []
    for name, cell in g.cells.items():
        kind = "reduction" if cell.reduction else "normal"
        lines.append(f"  {name} ({kind}, concat {list(cell.concat)}, depth {cell.depth()}):")
        for i, node in enumerate(cell.nodes):
            edges = "  +  ".join(f"{e.op}({e.input})" for e in node) or "(removed: no edges)"
            lines.append(f"    node {i + 2}: {edges}")
    return lines


def _describe_dag(g: Genotype, width: int) -> list[str]:
    """A DAG block: its layers, their type and width, and every edge (i -> j: layer i feeds layer j)."""
    d = g.dag
    edges = ", ".join(f"{i}->{j}" for i, j in d.edges) or "none (every layer reads the input and feeds the output)"
    pool = f", then {d.pool} pooling" if d.pool != "none" else ""
    return [f"  DAG block: {d.vertices} vertices (layers 0..{d.vertices - 1}), layer {d.layer}{pool}, width {width}, "
            f"aggregate {d.aggregate}",
            f"    {len(d.edges)} edge{'s' if len(d.edges) != 1 else ''}: {edges}",
            f"    read the block input: {', '.join(map(str, d.sources))}; feed the output: "
            f"{', '.join(map(str, d.sinks))}; depth {d.depth()} layers"]


def cmd_show(args: argparse.Namespace) -> int:
    if args.draw:
        check_draw_dir(args.draw)  # an unusable --draw target ends the command before any work
    target = args.model
    family = args.family
    if target.endswith("_imagenet") and not target.endswith((".yaml", ".yml")):
        target, family = target[: -len("_imagenet")], family or "imagenet"
    family = family or "cifar"
    g = resolve_genotype(target)
    if args.yaml:
        sys.stdout.write(dump_genotype(g))
        return 0
    overrides = NETWORK.check({k: v for k, v in (("layers", args.layers), ("channels", args.channels))
                               if v is not None}, "show")
    if g.dag is not None:
        if "layers" in overrides:
            raise ZooError(f"--layers {overrides['layers']}: {g.name} is a DAG block, whose layers are its "
                           f"{g.dag.vertices} vertices; drop --layers (--channels sets its width)")
        if args.draw:
            raise ZooError(f"--draw draws cells, and {g.name} is a DAG block; `darts-zoo show {args.model}` "
                           "lists its edges")
        # A DAG network's width is its channels.
        overrides = {"width": overrides["channels"]} if "channels" in overrides else {}
    model = create_model(g, family=family, **overrides)
    params = count_params(model) / 1e6
    macs = count_macs(model, INPUT_SIZES[family]) / 1e6
    print(f"{g.name}: {g.title}" if g.title else g.name)
    stages = f"; stages {' -> '.join(g.stages)}" if g.stages else ""
    print(f"  op set {g.op_set}{' ' + str(dict(g.op_options)) if g.op_options else ''}{stages}")
    print(f"  provenance: {g.provenance.get('kind')}" + (f" — {g.source.get('where')}" if g.source.get("where") else ""))
    print(*(_describe_dag(g, model.channels) if g.dag is not None else _describe_cells(g)), sep="\n")
    print(f"  network ({family}): {model.layers} layers x {model.channels} channels: "
          f"{params:.4f}M params (no aux head), {macs:.1f}M MACs (thop)")
    ref = g.reference.get(family)
    if ref and not overrides:
        print(f"  reference (authors' code): {ref['params_m']:.4f}M params, {ref['macs_m']:.1f}M MACs")
    if args.draw:
        for path in draw_genotype(g, args.draw):
            print(f"  wrote {path}")
    return 0
