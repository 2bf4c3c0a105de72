"""The DAG building-block study: the research questions of a master-thesis exposé on differentiable
search over general DAG blocks with few priors (sec. 3), answered by one command.

For every block size l (`vertices`) and block count k (`blocks`) it runs the DAG search
(`zoo.search.dag_search`) once per search variant (`splits` x `samplings`), then trains from scratch,
with one protocol and `eval_seeds` seeds each: every searched block, the dense block (every edge, the
same l and width), `random_dags` DAGs drawn uniformly from the same space, and, where the space holds
at most `exhaustive` DAGs, every DAG of it. It reports

- searched vs dense vs random: test top-1, mean +- std over seeds (random: over DAGs and seeds),
  and the searched block's rank among all DAGs evaluated at its l;
- Spearman's rank correlation of DAG depth and of edge count with accuracy over all evaluated DAGs
  (per l and pooled);
- with `second_data`, the same DAGs trained on a second dataset: the Spearman correlation of the two
  accuracy rankings and the depth / edge correlations there.

Datasets: `digits` (scikit-learn's 8x8 handwritten digits, the split of `zoo.data`), `breast_cancer`
and `wine` (scikit-learn's tabular sets, standardized, a stratified 70/30 split) and `cifar10`
(torchvision layout under --data-dir). Dense layers see flattened inputs; conv layers need images.
Writes dag_study.json, dag_study.md, dag_study.png and the searched genotype files into `out`.
"""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from zoo.atomic import atomic_save_figure, atomic_write_bytes, atomic_write_json, finite_json, make_dirs
from zoo.dag_network import DagNetwork
from zoo.data import DIGITS_SEED, DIGITS_TEST_FRACTION, load_dataset
from zoo.errors import OutputError, ZooError
from zoo.locks import output_lock
from zoo.runtime import resolve_device
from zoo.search import (DAG_SEARCH_SETTINGS, DagSearchConfig, DagSpace, DenseDagEnsemble, complete_dag, dag_depth,
                        dag_checkpoint_folder, dag_genotype, enumerate_dags, run_dag_search, save_dag_genotype)

from zoo.settings import Domain, Setting

STUDY_DATA = ("digits", "breast_cancer", "wine", "cifar10")
TABULAR = ("breast_cancer", "wine")
Dag = tuple[tuple[int, int], ...]  # sorted edges (i, j), as zoo.search's DAG space writes them
ENSEMBLE_CHUNK = 64  # dense networks trained together; bounds memory (l=6, width 64: ~50 MB of weights)

_many = lambda name: dataclasses.replace(DAG_SEARCH_SETTINGS[name], many=True)  # noqa: E731
STUDY_SETTINGS = Domain("DAG study", (
    Setting("data", str, "the dataset of the study", choices=STUDY_DATA),
    Setting("second_data", str, "a second dataset the same DAGs are trained on", choices=STUDY_DATA, optional=True),
    _many("vertices"), _many("blocks"),
    DAG_SEARCH_SETTINGS["width"], DAG_SEARCH_SETTINGS["layer"], DAG_SEARCH_SETTINGS["aggregate"],
    DAG_SEARCH_SETTINGS["pool"], DAG_SEARCH_SETTINGS["rounds"], DAG_SEARCH_SETTINGS["weight_steps"],
    DAG_SEARCH_SETTINGS["arch_steps"],
    dataclasses.replace(DAG_SEARCH_SETTINGS["split"], name="splits", many=True),
    dataclasses.replace(DAG_SEARCH_SETTINGS["sampling"], name="samplings", many=True),
    DAG_SEARCH_SETTINGS["max_skip"], DAG_SEARCH_SETTINGS["min_density"], DAG_SEARCH_SETTINGS["max_density"],
    DAG_SEARCH_SETTINGS["update_rate"], DAG_SEARCH_SETTINGS["elites"], DAG_SEARCH_SETTINGS["w_lr"],
    DAG_SEARCH_SETTINGS["arch_lr"],
    Setting("searches", int, "searches per setting, with seeds seed, seed+1, ... (stability)", low=1, high=100),
    Setting("random_dags", int, "random DAGs of each space trained as the baseline", low=1, high=1000),
    Setting("eval_seeds", int, "training seeds per evaluated DAG", low=1, high=100),
    Setting("eval_epochs", int, "training epochs per evaluated DAG", low=1, high=10_000),
    Setting("eval_lr", float, "Adam learning rate of the evaluation training", low=0, high=10, low_open=True),
    Setting("exhaustive", int, "train every DAG of a space holding at most this many", low=0, high=65536),
    DAG_SEARCH_SETTINGS["batch_size"], DAG_SEARCH_SETTINGS["seed"],
))
DEFAULTS = dict(data="digits", second_data=None, vertices=(3, 4, 5), blocks=(2, 4, 8), width=32, layer="dense",
                aggregate="sum", pool="none", rounds=8, weight_steps=50, arch_steps=25, splits=("separate",),
                samplings=("adaptive",), max_skip=None, min_density=0.0, max_density=1.0, update_rate=0.5,
                elites=1, w_lr=3e-3, arch_lr=0.05, random_dags=16, eval_seeds=3, eval_epochs=20, eval_lr=3e-3,
                exhaustive=64, batch_size=64, seed=0, searches=1)


# --------------------------------------------------------------------------- data
def load_arrays(name: str, data_dir: Optional[str] = None) -> dict[str, Any]:
    """{x_train, y_train, x_test, y_test, classes} as tensors shaped N x C x H x W (tabular: N x F x 1 x 1)."""
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        tr, te = train_test_split(np.arange(len(y)), test_size=DIGITS_TEST_FRACTION, random_state=DIGITS_SEED,
                                  stratify=y)
        x = torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
        y = torch.tensor(y)
        return dict(x_train=x[tr], y_train=y[tr], x_test=x[te], y_test=y[te], classes=10)
    if name in TABULAR:
        from sklearn import datasets
        from sklearn.model_selection import train_test_split

        x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        tr, te = train_test_split(np.arange(len(y)), test_size=0.3, random_state=0, stratify=y)
        mean, std = x[tr].mean(0), x[tr].std(0) + 1e-8
        x = torch.tensor((x - mean) / std, dtype=torch.float32)[:, :, None, None]
        y = torch.tensor(y)
        return dict(x_train=x[tr], y_train=y[tr], x_test=x[te], y_test=y[te], classes=int(y.max()) + 1)
    out: dict[str, Any] = {"classes": 10}
    for split in ("train", "test"):
        ds = load_dataset(name, split, data_dir)
        xs, ys = zip(*(ds[i] for i in range(len(ds))))
        out[f"x_{split}"], out[f"y_{split}"] = torch.stack(xs), torch.tensor(ys)
    return out


# --------------------------------------------------------------------------- evaluation
def _train_batches(n: int, batch: int, epochs: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        size = min(batch, n)
        out.extend(perm[i:i + size] for i in range(0, n - size + 1, size))
    return out


def evaluate_dags(dags: Sequence[Dag], vertices: int, data: dict[str, Any], settings: dict[str, Any],
                  seed: int, device: torch.device) -> list[float]:
    """Test top-1 (%) of each DAG trained from scratch with the study's protocol and `seed`."""
    x, y = data["x_train"].to(device), data["y_train"].to(device)
    xt, yt = data["x_test"].to(device), data["y_test"].to(device)
    batches = _train_batches(len(y), settings["batch_size"], settings["eval_epochs"], seed)
    accs: list[float] = []
    if settings["layer"] == "dense":
        for c in range(0, len(dags), ENSEMBLE_CHUNK):
            ens = DenseDagEnsemble(dags[c:c + ENSEMBLE_CHUNK], vertices, settings["width"], x[0].numel(),
                                   data["classes"], settings["aggregate"], seed=seed * 7919 + c).to(device)
            opt = torch.optim.Adam(ens.parameters(), lr=settings["eval_lr"])
            for b in batches:
                opt.zero_grad(set_to_none=True)
                ens.loss(x[b], y[b]).backward()
                opt.step()
            accs.extend(ens.accuracy(xt, yt))
        return accs
    cfg = _config(settings, vertices, 1, "separate", "fixed")
    for d in dags:
        torch.manual_seed(seed)
        net = DagNetwork(dag_genotype("eval", d, cfg), num_classes=data["classes"], in_chans=x.shape[1],
                         img_size=x.shape[-1]).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=settings["eval_lr"])
        for b in batches:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x[b]), y[b]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            correct = sum(int((net(xt[i:i + 512]).argmax(1) == yt[i:i + 512]).sum()) for i in range(0, len(yt), 512))
        accs.append(100.0 * correct / len(yt))
    return accs


def _config(s: dict[str, Any], vertices: int, blocks: int, split: str, sampling: str,
            search_seed: int = 0) -> DagSearchConfig:
    keys = ("width", "layer", "aggregate", "pool", "rounds", "weight_steps", "arch_steps", "max_skip",
            "min_density", "max_density", "update_rate", "elites", "w_lr", "arch_lr", "batch_size")
    values = {k: s[k] for k in keys}
    values["seed"] = s["seed"] + search_seed
    values["elites"] = min(values["elites"], blocks - 1)
    return DagSearchConfig.checked(vertices=vertices, blocks=blocks, split=split, sampling=sampling, **values)


def spearman(a: Sequence[float], b: Sequence[float]) -> Optional[float]:
    """Spearman's rho (ties at their mean rank); None where a side is constant or too short."""
    from scipy.stats import spearmanr

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    rho = spearmanr(a, b).statistic
    return None if rho is None or math.isnan(rho) else float(rho)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _key(dag: Dag) -> str:
    return ";".join(f"{i}-{j}" for i, j in dag) or "-"


# --------------------------------------------------------------------------- the study
def check_study(**overrides: Any) -> dict[str, Any]:
    """The settings with defaults, every one in its domain and every (l, k, variant) searchable."""
    values = {**DEFAULTS, **STUDY_SETTINGS.check({k: v for k, v in overrides.items() if v is not None}, "DAG study")}
    if values["second_data"] == values["data"]:
        raise ZooError(f"second_data = {values['data']!r} is the study's own dataset; give another one or none")
    if values["layer"] != "dense" and values["data"] in TABULAR:
        raise ZooError(f"layer = {values['layer']!r} needs images, and {values['data']} is tabular; "
                       "use --data digits or cifar10, or --layer dense")
    if values["layer"] != "dense" and values["second_data"] in TABULAR:
        raise ZooError(f"layer = {values['layer']!r} needs images, and {values['second_data']} is tabular; "
                       "use --layer dense or another --second-data")
    for l in values["vertices"]:
        for k in values["blocks"]:
            for split in values["splits"]:
                for sampling in values["samplings"]:
                    _config(values, l, k, split, sampling)
    return values


def run_dag_study(out: str | Path, data_dir: Optional[str] = None, device: str = "auto", overwrite: bool = False,
                  progress: Optional[Callable[[str], None]] = print, **overrides: Any) -> dict[str, Any]:
    s = check_study(**overrides)
    dev = resolve_device(device)
    out = Path(out)
    report_path = out / "dag_study.json"
    if report_path.exists() and not overwrite:
        raise OutputError(f"{report_path} exists: a finished study is not replaced silently; "
                          "use --overwrite or another --out")
    say = progress or (lambda _: None)
    start = time.perf_counter()
    make_dirs(out)
    with output_lock(report_path):
        datasets = {"first": load_arrays(s["data"], data_dir)}
        if s["second_data"]:
            datasets["second"] = load_arrays(s["second_data"], data_dir)
        rows, per_l = [], {}
        for l in s["vertices"]:
            space = DagSpace(l, s["max_skip"], s["min_density"], s["max_density"])
            rng = random.Random(s["seed"] * 1009 + l)
            exhaustive = space.count() <= s["exhaustive"]
            pool = enumerate_dags(space) if space.count() <= 1 << 16 else None
            randoms = (rng.sample(pool, min(s["random_dags"], len(pool))) if pool is not None
                       else _distinct_uniform(space, s["random_dags"], rng))
            searched = {}
            for k in s["blocks"]:
                for split in s["splits"]:
                    for sampling in s["samplings"]:
                        for i in range(s["searches"]):
                            cfg = _config(s, l, k, split, sampling, i)
                            d = datasets["first"]
                            say(f"search l={l} k={k} split={split} sampling={sampling} seed={cfg.seed}")
                            name = f"dag_searched_l{l}_k{k}_{split}_{sampling}" + (f"_s{cfg.seed}" if i else "")
                            # An interrupted study resumes each search from its checkpoint; a finished
                            # one resumes after its last round, so it is not run again.
                            res = run_dag_search(cfg, (d["x_train"], d["y_train"]), d["classes"], device=dev,
                                                 data=s["data"], checkpoint=dag_checkpoint_folder(out / f"{name}.yaml"),
                                                 resume=not overwrite, restart=overwrite)
                            save_dag_genotype(res, out / f"{name}.yaml", name=name, lock=False)
                            searched[(k, split, sampling, cfg.seed)] = (res.best, res.wall_s, name)
            evaluated = list(dict.fromkeys(
                (pool if exhaustive else []) + randoms + [complete_dag(l)] + [v[0] for v in searched.values()]))
            accs = {}
            for tag, d in datasets.items():
                say(f"train {len(evaluated)} DAGs with l={l} on {s['data'] if tag == 'first' else s['second_data']} "
                    f"x {s['eval_seeds']} seeds")
                runs = [evaluate_dags(evaluated, l, d, s, seed, dev) for seed in range(s["eval_seeds"])]
                accs[tag] = {dag: [r[i] for r in runs] for i, dag in enumerate(evaluated)}
            per_l[l] = dict(space=space, evaluated=evaluated, accs=accs, randoms=randoms, exhaustive=exhaustive)
            first = accs["first"]
            means = {dag: statistics.fmean(v) for dag, v in first.items()}
            dense = complete_dag(l)
            rand_means = [means[r] for r in randoms]
            for (k, split, sampling, search_seed), (best, wall, name) in searched.items():
                rank = 1 + sum(1 for m in means.values() if m > means[best])
                row = dict(vertices=l, blocks=k, split=split, sampling=sampling, search_seed=search_seed,
                           space_size=space.count(),
                           searched=_key(best), searched_edges=len(best), searched_depth=dag_depth(l, best),
                           searched_top1=_mean_std(first[best]), dense_top1=_mean_std(first[dense]),
                           random_top1=_mean_std([a for r in randoms for a in first[r]]),
                           random_dag_means=_mean_std(rand_means), rank=rank, evaluated=len(evaluated),
                           exhaustive=exhaustive, search_s=round(wall, 2), genotype=f"{name}.yaml")
                if "second" in accs:
                    second = accs["second"]
                    m2 = {dag: statistics.fmean(v) for dag, v in second.items()}
                    row.update(second_searched_top1=_mean_std(second[best]), second_dense_top1=_mean_std(second[dense]),
                               second_random_top1=_mean_std([a for r in randoms for a in second[r]]),
                               second_rank=1 + sum(1 for m in m2.values() if m > m2[best]))
                rows.append(row)
        correlations = _correlations(per_l, s)
        variants = _variants(rows)
        all_points = _points(per_l)
        report = dict(settings={k: list(v) if isinstance(v, tuple) else v for k, v in s.items()},
                      device=str(dev), rows=rows, variants=variants, correlations=correlations,
                      dags=all_points,
                      wall_s=round(time.perf_counter() - start, 1))
        atomic_write_json(report_path, finite_json(report))
        atomic_write_bytes(out / "dag_study.md", markdown(report).encode("utf-8"))
        plot(report, out / "dag_study.png")
    return report


def _distinct_uniform(space: DagSpace, n: int, rng: random.Random) -> list[Dag]:
    """n distinct DAGs drawn uniformly from a space too large to list (rejection on the density)."""
    lo, hi = space.edge_range
    out: dict[Dag, None] = {}
    for _ in range(1000 * n):
        if len(out) >= n:
            break
        d = tuple(e for e in space.allowed if rng.random() < 0.5)
        if lo <= len(d) <= hi:
            out[d] = None
    return list(out)


def _variants(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per search variant (split, sampling): performance (searched top-1 and rank over every search),
    stability (spread over searches, distinct blocks found per (l, k)) and cost (search seconds)."""
    out = []
    for split, sampling in dict.fromkeys((r["split"], r["sampling"]) for r in rows):
        rs = [r for r in rows if (r["split"], r["sampling"]) == (split, sampling)]
        tops = [r["searched_top1"][0] for r in rs]
        settings = {(r["vertices"], r["blocks"]) for r in rs}
        distinct = statistics.fmean(len({r["searched"] for r in rs if (r["vertices"], r["blocks"]) == lk})
                                    for lk in settings)
        out.append(dict(split=split, sampling=sampling, searches=len(rs), searched_top1=_mean_std(tops),
                        minus_dense=_mean_std([r["searched_top1"][0] - r["dense_top1"][0] for r in rs]),
                        minus_random=_mean_std([r["searched_top1"][0] - r["random_dag_means"][0] for r in rs]),
                        rank_fraction=statistics.fmean(r["rank"] / r["evaluated"] for r in rs),
                        distinct_blocks=distinct, search_s=statistics.fmean(r["search_s"] for r in rs)))
    return out


def _correlations(per_l: dict[int, dict], s: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    scopes = [(str(l), [l]) for l in per_l] + ([("all", list(per_l))] if len(per_l) > 1 else [])
    for scope, ls in scopes:
        depth, edges, acc1, acc2 = [], [], [], []
        for l in ls:
            p = per_l[l]
            for dag in p["evaluated"]:
                depth.append(dag_depth(l, dag))
                edges.append(len(dag))
                acc1.append(statistics.fmean(p["accs"]["first"][dag]))
                if "second" in p["accs"]:
                    acc2.append(statistics.fmean(p["accs"]["second"][dag]))
        row = dict(vertices=scope, dags=len(depth), depth_vs_top1=spearman(depth, acc1),
                   edges_vs_top1=spearman(edges, acc1))
        if acc2:
            row.update(second_depth_vs_top1=spearman(depth, acc2), second_edges_vs_top1=spearman(edges, acc2),
                       ranking_first_vs_second=spearman(acc1, acc2))
        out.append(row)
    return out


def _points(per_l: dict[int, dict]) -> list[dict[str, Any]]:
    pts = []
    for l, p in per_l.items():
        for dag in p["evaluated"]:
            pt = dict(vertices=l, edges=[list(e) for e in dag], n_edges=len(dag), depth=dag_depth(l, dag),
                      top1=p["accs"]["first"][dag], dense=dag == complete_dag(l))
            if "second" in p["accs"]:
                pt["second_top1"] = p["accs"]["second"][dag]
            pts.append(pt)
    return pts


# --------------------------------------------------------------------------- report
def _pm(ms: Any) -> str:
    return "-" if ms is None else f"{ms[0]:.2f} ± {ms[1]:.2f}"


def _rho(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:+.2f}"


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    second = s.get("second_data")
    lines = [f"# DAG building blocks on {s['data']}" + (f" (second dataset: {second})" if second else ""), "",
             f"{s['layer']} layers of width {s['width']}, aggregate {s['aggregate']}; search: {s['rounds']} rounds of "
             f"{s['weight_steps']} weight + {s['arch_steps']} architecture steps; evaluation: {s['eval_epochs']} "
             f"epochs, Adam {s['eval_lr']:g}, {s['eval_seeds']} seeds. Test top-1 (%), mean ± std over seeds "
             f"(random: over {s['random_dags']} DAGs x seeds). Rank: the searched block among all DAGs trained at "
             f"its l (1 = best). Wall time {report['wall_s']} s on {report['device']}.", "",
             "| l | k | split | sampling | search seed | DAGs in space | searched block (edges) | depth | searched | dense "
             "| random | rank |" + (f" {second}: searched | dense | random | rank |" if second else ""),
             "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|---|---|" if second else "")]
    for r in report["rows"]:
        line = (f"| {r['vertices']} | {r['blocks']} | {r['split']} | {r['sampling']} | {r['search_seed']} | "
                f"{r['space_size']} | "
                f"`{r['searched']}` ({r['searched_edges']}) | {r['searched_depth']} | {_pm(r['searched_top1'])} | "
                f"{_pm(r['dense_top1'])} | {_pm(r['random_top1'])} | {r['rank']}/{r['evaluated']} |")
        if second:
            line += (f" {_pm(r.get('second_searched_top1'))} | {_pm(r.get('second_dense_top1'))} | "
                     f"{_pm(r.get('second_random_top1'))} | {r.get('second_rank', '-')}/{r['evaluated']} |")
        lines.append(line)
    lines += ["", "Search variants (over every l, k and search seed): searched top-1, its margin over the dense "
              "block and over the mean random DAG, mean rank / DAGs evaluated (1/DAGs = best), distinct blocks found "
              "per (l, k), seconds per search:", "",
              "| split | sampling | searches | searched | - dense | - random | rank fraction | distinct blocks | s/search |",
              "|---|---|---|---|---|---|---|---|---|"]
    for v in report["variants"]:
        lines.append(f"| {v['split']} | {v['sampling']} | {v['searches']} | {_pm(v['searched_top1'])} | "
                     f"{_pm(v['minus_dense'])} | {_pm(v['minus_random'])} | {v['rank_fraction']:.2f} | "
                     f"{v['distinct_blocks']:.1f} | {v['search_s']:.1f} |")
    lines += ["", "Spearman's rank correlation over every evaluated DAG (mean top-1 over seeds):", "",
              "| l | DAGs | depth vs top-1 | edges vs top-1 |"
              + (f" {second}: depth | edges | ranking {s['data']} vs {second} |" if second else ""),
              "|---|---|---|---|" + ("---|---|---|" if second else "")]
    for c in report["correlations"]:
        line = f"| {c['vertices']} | {c['dags']} | {_rho(c['depth_vs_top1'])} | {_rho(c['edges_vs_top1'])} |"
        if second:
            line += (f" {_rho(c.get('second_depth_vs_top1'))} | {_rho(c.get('second_edges_vs_top1'))} | "
                     f"{_rho(c.get('ranking_first_vs_second'))} |")
        lines.append(line)
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> Path:
    """Accuracy against depth and against edge count, one row per dataset, one colour per l."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    s = report["settings"]
    sets = [("top1", s["data"])] + ([("second_top1", s["second_data"])] if s.get("second_data") else [])
    fig, axes = plt.subplots(len(sets), 2, figsize=(9, 3.4 * len(sets)), squeeze=False)
    searched = {(r["vertices"], r["searched"]) for r in report["rows"]}
    ls = sorted({p["vertices"] for p in report["dags"]})
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.85, max(len(ls), 1)))
    for row, (field, name) in enumerate(sets):
        for col, feature in enumerate(("depth", "n_edges")):
            ax = axes[row][col]
            for c, l in zip(colours, ls):
                pts = [p for p in report["dags"] if p["vertices"] == l]
                jitter = np.random.default_rng(l).uniform(-0.15, 0.15, len(pts))
                xs = np.array([p[feature] for p in pts]) + jitter
                ys = [statistics.fmean(p[field]) for p in pts]
                ax.scatter(xs, ys, s=14, color=c, alpha=0.7, label=f"l={l}")
                for x_, y_, p in zip(xs, ys, pts):
                    if p["dense"]:
                        ax.scatter([x_], [y_], s=60, marker="s", facecolors="none", edgecolors="k")
                    if (l, _key(tuple(tuple(e) for e in p["edges"]))) in searched:
                        ax.scatter([x_], [y_], s=120, marker="*", color="red")
            ax.set_xlabel("depth (layers on the longest path)" if feature == "depth" else "edges")
            ax.set_ylabel(f"{name} test top-1 (%)")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, title="red star: searched, square: dense", title_fontsize=7)
    fig.tight_layout()
    atomic_save_figure(fig, path)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- command line
def add_dag_study_arguments(group) -> None:
    """`darts-zoo search-bench dag` flags, from STUDY_SETTINGS (`--batch-size` is search-bench's own)."""
    STUDY_SETTINGS.add_to(group, [n for n in STUDY_SETTINGS.names if n != "batch_size"])
    group.add_argument("--data-dir", metavar="DIR", default=None, help="where cifar10 is (torchvision layout)")
    group.add_argument("--out", metavar="DIR", default="dag_study",
                       help="folder for dag_study.json/.md/.png and the searched genotypes (default ./dag_study)")
    group.add_argument("--overwrite", action="store_true", help="replace an earlier study in --out")


def dag_study_command(args) -> int:
    if args.threads is None and args.device in ("auto", "cpu") and not torch.cuda.is_available():
        # The study's networks are tiny: a second intra-op thread only spin-waits (measured 5x slower
        # on a busy 2-core machine), so one thread unless --threads says otherwise.
        torch.set_num_threads(1)
    values = STUDY_SETTINGS.from_args(args, [n for n in STUDY_SETTINGS.names if n != "batch_size"])
    if getattr(args, "batch_size", None) is not None:
        values["batch_size"] = args.batch_size
    report = run_dag_study(args.out, data_dir=args.data_dir, device=args.device, overwrite=args.overwrite,
                           **values)
    print(markdown(report))
    print(f"wrote {Path(args.out) / 'dag_study.json'}, dag_study.md, dag_study.png")
    if args.json:
        atomic_write_json(Path(args.json), finite_json(report))
    return 0
