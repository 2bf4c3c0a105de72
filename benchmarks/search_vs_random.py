"""Does the search beat chance? A searched genotype against random genotypes of the same space.

The comparison the DARTS papers make with their random-search baseline, shrunk to a CPU: every
genotype (the searched one and `n_random` random ones) is compiled at the same small size and
trained with the same recipe on a few hundred digits images for a few epochs, once per seed; the
test accuracy on the digits test split is reported as mean +- std over the seeds. Nothing is tuned
per genotype, and the random genotypes are drawn before any training, from a fixed seed.

A random genotype has the searched one's cell types, stages and node count; every node reads two
distinct earlier states through ops drawn uniformly from the search candidates without `none`
(DARTS' random baseline samples the same way).

    from zoo.benchmarks.search_vs_random import search_vs_random, format_comparison
    print(format_comparison(search_vs_random("runs/search/pdarts_3b_digits_seed0.yaml")))
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch
import torch.nn.functional as F

import zoo
from zoo.data import build_transform, load_dataset
from zoo.genotype import Genotype, make_genotype
from zoo.models import resolve_genotype
from zoo.ops import get_op_set
from zoo.runtime import resolve_device
from zoo.search import run_search

DEFAULT_SEEDS = (0, 1, 2)


def random_genotype(like: Genotype, rng: random.Random, candidates: Optional[Sequence[str]] = None,
                    name: str = "random") -> Genotype:
    """A genotype of `like`'s space: same cell types, stages, node count and op set."""
    ops = [o for o in (candidates or get_op_set(like.op_set).candidates) if o != "none"]
    cells = {}
    for cname, cell in like.cells.items():
        nodes = []
        for i in range(len(cell.nodes)):
            inputs = rng.sample(range(i + 2), 2)
            nodes.append([(rng.choice(ops), src) for src in sorted(inputs)])
        cells[cname] = (cell.reduction, nodes, None)
    return make_genotype(name, cells, stages=list(like.stages), op_set=like.op_set,
                         op_options=dict(like.op_options), provenance={"kind": "searched", "by": "random sampling"})


def train_test_sets(train_images: Optional[int], seed: int, data_dir=None, data: str = "digits",
                    download: bool = False):
    """(train subset, test split): `train_images` training images drawn with `seed` (None: all), and
    the whole test split; the training set carries the dataset's training augmentation."""
    train = load_dataset(data, "train", data_dir, transform=build_transform(data, train=True), download=download)
    test = load_dataset(data, "test", data_dir, download=download)
    if train_images is None or train_images >= len(train):
        return train, test
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(train), generator=g)[:train_images].tolist()
    return torch.utils.data.Subset(train, idx), test


def train_and_test(genotype: Genotype, train_set, test_set, seed: int, epochs: int = 5, layers: int = 5,
                   channels: int = 8, batch_size: int = 64, lr: float = 0.05,
                   device: Union[str, torch.device] = "cpu") -> float:
    """Test accuracy (%) after a short DARTS-style training (SGD momentum 0.9, wd 3e-4, cosine, clip 5)."""
    torch.manual_seed(seed)
    model = zoo.create_model(genotype, layers=layers, channels=channels, auxiliary=False,
                             drop_path_rate=0.0, num_classes=10).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=3e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(seed))
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
        sched.step()
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(test_set, batch_size=256):
            correct += int((model(x.to(device)).argmax(1).cpu() == y).sum())
            total += len(y)
    return 100.0 * correct / total


def summarize(values: Sequence[float]) -> dict[str, Any]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "runs": list(values)}


def random_operations(like: Genotype, rng: random.Random, candidates: Optional[Sequence[str]] = None,
                      name: str = "random_ops") -> Genotype:
    """`like`'s topology (every edge keeps its input and node) with a random op on each edge: the
    stretchable-cells paper's 'MiLeNAS-SC-L8 (random operation)' baseline of Table 1, which fixes
    the topology as MiLeNAS-SC-L8 and draws the operations at random."""
    ops = [o for o in (candidates or get_op_set(like.op_set).candidates) if o != "none"]
    cells = {}
    for cname, cell in like.cells.items():
        nodes = [[(rng.choice(ops), e.input) for e in node] for node in cell.nodes]
        cells[cname] = (cell.reduction, nodes, list(cell.concat))
    return make_genotype(name, cells, stages=list(like.stages), op_set=like.op_set,
                         op_options=dict(like.op_options),
                         provenance={"kind": "searched", "by": "random operations on a fixed topology"})


def search_vs_random(genotype: Optional[Union[str, Path, Genotype]] = None, n_random: int = 3,
                     seeds: Sequence[int] = DEFAULT_SEEDS, epochs: int = 5, train_images: int = 500,
                     layers: int = 5, channels: int = 8, batch_size: int = 64, lr: float = 0.05,
                     device: str = "auto", random_seed: int = 0, data_dir=None,
                     search_kw: Optional[dict[str, Any]] = None, baseline: str = "genotypes") -> dict[str, Any]:
    """Train the searched genotype and `n_random` random ones over `seeds`; mean +- std test accuracy.
    `baseline`: "genotypes" draws whole random cells; "operations" keeps the searched topology and
    draws only the ops (`random_operations`).

    Without `genotype`, the pdarts_3b digits search runs first (its CPU preset, seed 0)."""
    dev = resolve_device(device)
    t0 = time.time()
    search_seconds = None
    if genotype is None:
        out = Path(tempfile.mkdtemp(prefix="darts-zoo-svr-")) / "pdarts_3b_digits.yaml"
        kw = dict(recipe="pdarts_3b", data="digits", out=out, seed=0, progress=False)
        kw.update(search_kw or {})
        s0 = time.time()
        genotype = run_search(**kw)
        search_seconds = time.time() - s0
    # A file, or a zoo name (handy to compare a published cell against chance).
    searched = genotype if isinstance(genotype, Genotype) else resolve_genotype(genotype)
    rng = random.Random(random_seed)
    candidates = None
    if searched.search.get("settings", {}).get("candidates"):
        candidates = searched.search["settings"]["candidates"]
    if baseline not in ("genotypes", "operations"):
        raise zoo.ZooError(f"search_vs_random: baseline must be genotypes or operations, got {baseline!r}")
    draw = random_genotype if baseline == "genotypes" else random_operations
    randoms = [draw(searched, rng, candidates, name=f"random{i}") for i in range(n_random)]
    train_set, test_set = train_test_sets(train_images, random_seed, data_dir)
    common = dict(epochs=epochs, layers=layers, channels=channels, batch_size=batch_size, lr=lr, device=dev)
    rows = []
    for g in [searched] + randoms:
        accs = [train_and_test(g, train_set, test_set, seed, **common) for seed in seeds]
        rows.append({"genotype": g.name, "kind": "searched" if g is searched else "random", **summarize(accs)})
    random_runs = [a for r in rows if r["kind"] == "random" for a in r["runs"]]
    return {
        "setting": {"train_images": train_images, "test_images": len(test_set), "seeds": list(seeds),
                    "random_seed": random_seed, "device": str(dev), **{k: v for k, v in common.items() if k != "device"}},
        "searched": searched.name,
        "rows": rows,
        "random_pooled": summarize(random_runs),
        "search_seconds": search_seconds,
        "seconds": time.time() - t0,
    }


def format_comparison(result: dict[str, Any]) -> str:
    s = result["setting"]
    lines = [f"digits: {s['train_images']} train / {s['test_images']} test images, {s['epochs']} epochs, "
             f"{s['layers']} cells, C {s['channels']}, seeds {s['seeds']} (test accuracy %, mean +- std)",
             "| genotype | kind | accuracy | runs |", "|---|---|---|---|"]
    for r in result["rows"]:
        runs = ", ".join(f"{a:.1f}" for a in r["runs"])
        lines.append(f"| {r['genotype']} | {r['kind']} | {r['mean']:.2f} +- {r['std']:.2f} | {runs} |")
    p = result["random_pooled"]
    lines.append(f"| all random | pooled | {p['mean']:.2f} +- {p['std']:.2f} | {len(p['runs'])} runs |")
    return "\n".join(lines)


def search_records(path: Union[str, Path]) -> list[dict[str, Any]]:
    """The per-epoch records of the search that wrote the genotype `path`, from the history file
    written beside it (empty when there is none)."""
    import json
    history = Path(path).with_name(Path(path).stem + ".history.json")
    if not history.exists():
        return []
    return list(json.loads(history.read_text()).get("records") or [])


def _separation_of(path: Path) -> Optional[dict[str, float]]:
    """The search's last top-op-over-uniform figure."""
    records = search_records(path)
    return records[-1].get("top_over_uniform") if records else None


def search_seeds_vs_random(recipe: str = "pdarts_3b", search_seeds: Sequence[int] = DEFAULT_SEEDS,
                           budgets: Sequence[int] = (5, 30), n_random: int = 3, train_seed: int = 0,
                           train_images: int = 500, layers: int = 5, channels: int = 8, batch_size: int = 64,
                           lr: float = 0.05, device: str = "auto", random_seed: int = 0, data_dir=None,
                           out_dir: Optional[Union[str, Path]] = None, search_kw: Optional[dict[str, Any]] = None,
                           log=print) -> dict[str, Any]:
    """The recipe's digits search at each of `search_seeds`, against `n_random` random cells of the same
    space, each trained once (seed `train_seed`) at every epoch budget in `budgets` (a short one and
    one where the training has converged). The spread of the searched row is over search seeds, that
    of the random row over random cells: the question is whether a search beats a draw."""
    dev = resolve_device(device)
    t0 = time.time()
    out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="darts-zoo-seeds-"))
    searched, separation, search_seconds = [], [], []
    for s in search_seeds:
        s0 = time.time()
        path = run_search(recipe=recipe, data="digits", out=out_dir / f"{recipe}_digits_seed{s}.yaml", seed=s,
                          progress=False, log=lambda line: None, **(search_kw or {}))
        search_seconds.append(time.time() - s0)
        searched.append(resolve_genotype(path))
        separation.append(_separation_of(path))
        log(f"search seed {s}: {search_seconds[-1]:.0f} s, top op {separation[-1]} x uniform")
    candidates = searched[0].search.get("settings", {}).get("candidates")
    rng = random.Random(random_seed)
    randoms = [random_genotype(searched[0], rng, candidates, name=f"random{i}") for i in range(n_random)]
    train_set, test_set = train_test_sets(train_images, random_seed, data_dir)
    rows = []
    for epochs in budgets:
        common = dict(epochs=epochs, layers=layers, channels=channels, batch_size=batch_size, lr=lr, device=dev)
        got = {"searched": [train_and_test(g, train_set, test_set, train_seed, **common) for g in searched],
               "random": [train_and_test(g, train_set, test_set, train_seed, **common) for g in randoms]}
        for kind, accs in got.items():
            rows.append({"epochs": epochs, "kind": kind, **summarize(accs)})
        log(f"{epochs} epochs: searched {rows[-2]['mean']:.2f} +- {rows[-2]['std']:.2f}, "
            f"random {rows[-1]['mean']:.2f} +- {rows[-1]['std']:.2f}")
    return {
        "setting": {"recipe": recipe, "search_seeds": list(search_seeds), "budgets": list(budgets),
                    "n_random": n_random, "train_seed": train_seed, "train_images": train_images,
                    "test_images": len(test_set), "layers": layers, "channels": channels,
                    "batch_size": batch_size, "lr": lr, "random_seed": random_seed, "device": str(dev)},
        "searched": [{"seed": s, "cells": g.name, "top_over_uniform": sep, "search_seconds": round(sec, 1)}
                     for s, g, sep, sec in zip(search_seeds, searched, separation, search_seconds)],
        "rows": rows,
        "seconds": time.time() - t0,
    }


def format_seeds_comparison(result: dict[str, Any]) -> str:
    s = result["setting"]
    lines = [f"{s['recipe']} digits searches (seeds {s['search_seeds']}) against {s['n_random']} random cells of "
             f"the same space; each trained once on {s['train_images']} images ({s['layers']} cells, C "
             f"{s['channels']}), tested on {s['test_images']} (accuracy %, mean +- std)",
             "| epochs | cells | accuracy | runs |", "|---|---|---|---|"]
    for r in result["rows"]:
        runs = ", ".join(f"{a:.1f}" for a in r["runs"])
        lines.append(f"| {r['epochs']} | {r['kind']} | {r['mean']:.2f} +- {r['std']:.2f} | {runs} |")
    seps = ", ".join(f"{x['top_over_uniform']['mean']:.2f}" for x in result["searched"] if x["top_over_uniform"])
    if seps:
        lines.append(f"top op's weight against uniform at the end of each search (mean edge): {seps}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_comparison(search_vs_random()))
