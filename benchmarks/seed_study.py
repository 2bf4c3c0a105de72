"""How much does a search depend on its seed? `darts-zoo search-bench seeds`.

Every recipe is searched at seeds 0..N-1; each searched cell is then trained briefly and tested on
the held-out test split (the training and data of `search_vs_random`: same network size, same
subset, same training seed for every cell, so the spread comes from the search seed alone). Per
recipe the study reports the cells, their skip connections and parameter-free ops (op groups skip,
pool and none in the normal cells: the collapse DARTS-style searches are known for), how much the
seeds agree (edges shared between every pair of seeds' normal cells), accuracy mean +- std, search
time and peak memory.

One job is one (recipe, seed): search, train, test; it writes its files under
`<out>/<recipe>/seed<k>/` and ends with `result.json` (written atomically), and returns the same
plain dict. Jobs are independent, so they run through an existing executor rather than a scheduler of
our own: `concurrent.futures.ProcessPoolExecutor` (spawn, one fresh process per job so that the
peak RSS is the job's own) or submitit's `AutoExecutor` (SLURM on a cluster; "local" or "debug" for
tests). A rerun with the same `out` reuses every finished job and resumes an interrupted search from
its checkpoint (docs/seed-study.md).

    from zoo.benchmarks.seed_study import seed_study
    report = seed_study(["darts_v1", "pdarts"], seeds=3, data="digits", out="runs/seeds")
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import statistics
import sys
import time
from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import torch

from zoo.atomic import atomic_save_figure, atomic_write_bytes, atomic_write_json, make_dirs
from zoo.draw import draw_genotype
from zoo.errors import ZooError
from zoo.genotype import Genotype
from zoo.models import resolve_genotype
from zoo.ops import get_op_set
from zoo.runtime import first_line, peak_rss_mib, resolve_device
from zoo.search import get_recipe, run_search
from zoo.settings import Domain, Setting

from .search_vs_random import search_records, summarize, train_and_test, train_test_sets

DATA = ("digits", "cifar10")
EXECUTORS = ("local", "submitit")
CLUSTERS = ("auto", "slurm", "local", "debug")  # submitit's: auto picks SLURM where sbatch exists
PARAM_FREE_GROUPS = ("skip", "pool", "none")
# Training images per job when not given: most of digits' 1437; a fifth of CIFAR-10, enough for a
# few epochs to separate cells without a GPU-day per seed.
DEFAULT_TRAIN_IMAGES = {"digits": 500, "cifar10": 10_000}
# The digits networks are too small for intra-op threads to pay (search/run.py measured 20-40x
# slower searches with 2 threads on a busy 2-core machine); jobs also run side by side.
DIGITS_CPU_THREADS = 1
# submitit's own default time limit is minutes (5 on SLURM, 2 locally): far below one search.
DEFAULT_TIMEOUT_MIN = 12 * 60

SETTINGS = Domain("seed study", (
    Setting("seeds", int, "search seeds per recipe (0 .. N-1)", low=1, high=1000),
    Setting("data", str, "search and training data", choices=DATA),
    Setting("epochs", int, "search epochs (per stage for P-DARTS recipes; default: the recipe's, or its "
            "digits preset's)", low=1, high=100_000, optional=True),
    Setting("train_epochs", int, "training epochs of each searched cell", low=1, high=10_000),
    Setting("train_images", int, "training images of each searched cell (default: 500 digits, 10000 "
            "CIFAR-10)", low=20, high=10 ** 7, optional=True),
    Setting("jobs", int, "jobs at a time (worker processes; with submitit, jobs queued or running)",
            low=1, high=4096),
    Setting("executor", str, "how jobs run", choices=EXECUTORS),
    Setting("submitit_cluster", str, "with --executor submitit: its cluster; local and debug run on this "
            "machine, auto picks SLURM where sbatch exists", choices=CLUSTERS),
    Setting("slurm_time_min", int, "time limit of each job in minutes (submitit's timeout_min; default "
            f"{DEFAULT_TIMEOUT_MIN})", low=1, high=10 ** 6, optional=True, metavar="MIN"),
    Setting("slurm_gpus", int, "GPUs per job (submitit's gpus_per_node)", low=0, high=64, optional=True,
            metavar="N"),
))


# --------------------------------------------------------------------------- metrics
Edge = tuple[str, int, int, str]  # (normal cell type, node's state index, input state, op)


def normal_edges(g: Genotype) -> Counter[Edge]:
    """The edges of the normal cell type(s) as a multiset of (cell type, node, input, op); the node
    is the state it feeds (2 is the first intermediate node), as in the genotype files."""
    return Counter((name, node, e.input, e.op) for name in _normal_types(g) for node, e in g.cells[name].edges)


def _normal_types(g: Genotype) -> tuple[str, ...]:
    return tuple(dict.fromkeys(g.normal_types))


def group_count(g: Genotype, groups: Iterable[str]) -> int:
    """Edges of the normal cell type(s) whose op belongs to one of `groups` (OpSet.group)."""
    ops, wanted = get_op_set(g.op_set), set(groups)
    return sum(n for (_, _, _, op), n in normal_edges(g).items() if ops.group(op) in wanted)


def skip_count(g: Genotype) -> int:
    return group_count(g, ("skip",))


def param_free_count(g: Genotype) -> int:
    return group_count(g, PARAM_FREE_GROUPS)


def jaccard(a: Counter[Edge], b: Counter[Edge]) -> float:
    """|a and b| / |a or b| of two edge multisets (the set Jaccard when no edge repeats); 1 for two empty cells."""
    union = sum((a | b).values())
    return sum((a & b).values()) / union if union else 1.0


def agreement(cells: Sequence[Counter[Edge]]) -> dict[str, Any]:
    """Mean over every pair of seeds of the Jaccard index and of the number of shared edges; None
    for both with fewer than two seeds."""
    pairs = list(combinations(cells, 2))
    if not pairs:
        return {"pairs": 0, "jaccard": None, "shared_edges": None}
    return {"pairs": len(pairs), "jaccard": statistics.fmean(jaccard(a, b) for a, b in pairs),
            "shared_edges": statistics.fmean(sum((a & b).values()) for a, b in pairs)}


def cell_text(g: Genotype, name: str) -> str:
    """One cell type on one line: its nodes' edges as op<input, nodes separated by ' / '."""
    return " / ".join(",".join(f"{e.op}<{e.input}" for e in node) or "-" for node in g.cells[name].nodes)


# --------------------------------------------------------------------------- one job
@dataclasses.dataclass(frozen=True)
class SeedJob:
    """One (recipe, seed): everything a worker process needs, picklable."""

    recipe: str
    seed: int
    data: str
    out: str
    epochs: Optional[int] = None
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    train: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # train_and_test's settings + images, seed
    data_dir: Optional[str] = None
    download: bool = False
    device: str = "auto"
    threads: Optional[int] = None

    @property
    def folder(self) -> Path:
        return Path(self.out) / self.recipe / f"seed{self.seed}"

    @property
    def result_path(self) -> Path:
        return self.folder / "result.json"

    @property
    def genotype_path(self) -> Path:
        return self.folder / f"{self.recipe}_{self.data}_seed{self.seed}.yaml"

    def setting(self) -> dict[str, Any]:
        """What decides the job's result (not where or how fast it runs), as JSON reads it back."""
        return json.loads(json.dumps({"recipe": self.recipe, "seed": self.seed, "data": self.data,
                                      "epochs": self.epochs, "overrides": dict(self.overrides),
                                      "train": dict(self.train)}))

    def describe(self) -> str:
        return f"{self.recipe} seed {self.seed}"


def _peak_memory_mib(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20, "torch.cuda.max_memory_allocated"
    return peak_rss_mib(), "peak RSS of the job's process"


def _search(job: SeedJob, device: torch.device) -> dict[str, Any]:
    """The job's search, resumed from its checkpoint when an earlier run was interrupted; its
    figures are kept in search.json so that an interrupted training does not search again."""
    done = job.folder / "search.json"
    mine = {k: v for k, v in job.setting().items() if k != "train"}
    if done.exists() and job.genotype_path.exists():
        search = json.loads(done.read_text())
        if search.get("setting") == mine:
            return search
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    # overwrite: a genotype without search.json is a search that stopped while finishing; resume
    # then continues from the last epoch's checkpoint instead of refusing the file.
    run_search(job.recipe, data=job.data, data_dir=job.data_dir, download=job.download, epochs=job.epochs,
               out=job.genotype_path, seed=job.seed, resume=True, overwrite=True, overrides=dict(job.overrides),
               device=str(device), threads=job.threads, progress=False, log=lambda line: None)
    peak, kind = _peak_memory_mib(device)
    records = search_records(job.genotype_path)
    seconds = sum(float(r.get("seconds", 0.0)) for r in records)
    search = {"setting": mine, "seconds": round(seconds, 3), "epochs": len(records),
              "peak_memory_mib": round(peak, 1), "memory_kind": kind,
              "top_over_uniform": records[-1].get("top_over_uniform") if records else None}
    atomic_write_json(done, search)
    return search


def run_job(job: SeedJob) -> dict[str, Any]:
    """Search, train, test and draw one (recipe, seed); returns (and writes as result.json) a plain dict."""
    if job.result_path.exists():
        return json.loads(job.result_path.read_text())
    device = resolve_device(job.device)
    threads = job.threads or (DIGITS_CPU_THREADS if job.data == "digits" and device.type == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
    search = _search(job, device)
    g = resolve_genotype(job.genotype_path)
    t = dict(job.train)
    train_set, test_set = train_test_sets(t.pop("images"), t.pop("data_seed"), job.data_dir, data=job.data,
                                          download=job.download)
    t0 = time.time()
    accuracy = train_and_test(g, train_set, test_set, device=device, **t)
    train_seconds = time.time() - t0
    drawn = draw_genotype(g, job.folder, formats=("png",))  # one PNG per cell type, in g.cells' order
    drawings = dict(zip(g.cells, (Path(p).relative_to(job.out).as_posix() for p in drawn)))
    result = {
        "recipe": job.recipe, "seed": job.seed, "setting": job.setting(),
        "genotype": job.genotype_path.relative_to(job.out).as_posix(),
        "cells": {name: cell_text(g, name) for name in g.cells},
        "normal_cells": list(_normal_types(g)),
        "normal_edges": sorted([list(e) for e in normal_edges(g).elements()]),
        "skips": skip_count(g), "param_free": param_free_count(g),
        "accuracy": accuracy, "test_images": len(test_set),
        "search_seconds": search["seconds"], "search_epochs": search["epochs"],
        "peak_memory_mib": search["peak_memory_mib"], "memory_kind": search["memory_kind"],
        "top_over_uniform": search["top_over_uniform"],
        "train_seconds": round(train_seconds, 3), "device": str(device),
        "drawings": drawings,
    }
    atomic_write_json(job.result_path, result)
    return result


# --------------------------------------------------------------------------- executors
def _option_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_executor_options(items: Iterable[str]) -> dict[str, Any]:
    """`key=value` texts as submitit parameters (numbers and true/false parsed)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ZooError(f"search-bench seeds: --executor-option {item!r} is not key=value; give e.g. "
                           "--executor-option slurm_account=myproject")
        out[key.strip()] = _option_value(value.strip())
    return out


def submitit_executor(folder: Path, cluster: str = "auto", partition: Optional[str] = None,
                      time_min: Optional[int] = None, gpus: Optional[int] = None,
                      options: Optional[Mapping[str, Any]] = None) -> Any:
    """submitit's AutoExecutor with the study's parameters; a bad parameter is one ZooError line."""
    try:
        import submitit
    except ImportError:
        raise ZooError("search-bench seeds --executor submitit: submitit is not installed; "
                       "pip install 'darts-zoo[cluster]' (or pip install submitit)") from None
    params: dict[str, Any] = {"name": "darts-zoo-seeds", "timeout_min": time_min or DEFAULT_TIMEOUT_MIN}
    if partition:
        params["slurm_partition"] = partition
    if gpus is not None:
        params["gpus_per_node"] = gpus
    params.update(options or {})
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster=None if cluster == "auto" else cluster)
        executor.update_parameters(**params)
    except (AssertionError, NameError, ValueError, TypeError, RuntimeError) as e:
        raise ZooError(f"search-bench seeds --executor submitit: {first_line(e)}; check --submitit-cluster, "
                       "--slurm-* and --executor-option") from None
    return executor


OnDone = Callable[[SeedJob, Any, Optional[BaseException]], None]  # (job, its result or None, its error or None)


def _run_local(pending: Sequence[SeedJob], jobs: int, on_done: OnDone) -> None:
    # A fresh spawned process per job: no state (threads, CUDA, RSS peak) leaks from one job to the
    # next. Python 3.10's pool cannot replace its workers: there a worker's RSS peak spans its jobs.
    fresh = {"max_tasks_per_child": 1} if sys.version_info >= (3, 11) else {}
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                                  **fresh)
    try:
        futures = {pool.submit(run_job, job): job for job in pending}
        for f in concurrent.futures.as_completed(futures):
            e = f.exception()
            on_done(futures[f], None if e else f.result(), e)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_submitit(pending: Sequence[SeedJob], jobs: int, executor: Any, on_done: OnDone) -> None:
    # At most `jobs` queued or running at once: the same meaning of --jobs on every cluster.
    poll = 10.0 if getattr(executor, "cluster", "") == "slurm" else 0.5
    queue, running = list(pending), []
    try:
        while queue or running:
            while queue and len(running) < jobs:
                job = queue.pop(0)
                running.append((job, executor.submit(run_job, job)))
            finished = [(job, handle) for job, handle in running if handle.done()]
            if not finished:
                time.sleep(poll)
                continue
            for job, handle in finished:
                running.remove((job, handle))
                try:
                    value, error = handle.result(), None
                except Exception as e:  # noqa: BLE001 - a failed job is reported, the others go on
                    value, error = None, e
                on_done(job, value, error)
    except BaseException:
        for _, handle in running:
            handle.cancel(check=False)
        raise


# --------------------------------------------------------------------------- the study
def _check_existing(jobs: Sequence[SeedJob]) -> list[SeedJob]:
    """The jobs still to run; a finished job made with other settings is refused before any work."""
    pending = []
    for job in jobs:
        if not job.result_path.exists():
            pending.append(job)
            continue
        try:
            old = json.loads(job.result_path.read_text()).get("setting")
        except (OSError, ValueError, AttributeError) as e:
            raise ZooError(f"{job.result_path}: not a seed-study result ({first_line(e)}); delete it to rerun "
                           "the job") from None
        mine = job.setting()
        if old != mine:
            diff = sorted(k for k in set(mine) | set(old or {}) if (old or {}).get(k) != mine.get(k))
            raise ZooError(f"{job.result_path}: a finished job made with other settings ({', '.join(diff)}); "
                           "rerun with the same options or give another --out")
    return pending


def seed_study(recipes: Sequence[str], seeds: int, data: str = "digits", out: Union[str, Path] = "seed_study",
               epochs: Optional[int] = None, train_epochs: int = 5, train_images: Optional[int] = None,
               jobs: int = 1, executor: str = "local", cluster: str = "auto", slurm_partition: Optional[str] = None,
               slurm_time_min: Optional[int] = None, slurm_gpus: Optional[int] = None,
               executor_options: Optional[Mapping[str, Any]] = None, device: str = "auto",
               threads: Optional[int] = None, data_dir: Optional[Union[str, Path]] = None, download: bool = False,
               overrides: Optional[Mapping[str, Any]] = None, train_layers: int = 5, train_channels: int = 8,
               train_batch_size: int = 64, train_lr: float = 0.05, train_seed: int = 0,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Search every recipe at seeds 0..seeds-1, train and test each cell; write seeds.json, seeds.md
    and the plots into `out` and return the report. `overrides` replaces recipe fields of every
    search (run_search's); `train_*` set the training of `search_vs_random.train_and_test`."""
    where = "search-bench seeds"
    if not recipes:
        raise ZooError(f"{where}: no recipe given; name one or more, e.g. darts-zoo search-bench seeds darts_v1 "
                       "--seeds 3 --data digits")
    for name in recipes:
        try:
            get_recipe(name)
        except ZooError as e:
            raise ZooError(f"{where}: {e}") from None
    o = SETTINGS.check({"seeds": seeds, "data": data, "epochs": epochs, "train_epochs": train_epochs,
                        "train_images": train_images, "jobs": jobs, "executor": executor, "submitit_cluster": cluster,
                        "slurm_time_min": slurm_time_min, "slurm_gpus": slurm_gpus}, where)
    recipes = list(dict.fromkeys(recipes))
    out = make_dirs(out)
    images = o["train_images"] or DEFAULT_TRAIN_IMAGES[o["data"]]
    train = {"epochs": o["train_epochs"], "layers": train_layers, "channels": train_channels,
             "batch_size": train_batch_size, "lr": train_lr, "seed": train_seed, "images": images, "data_seed": 0}
    all_jobs = [SeedJob(recipe=r, seed=s, data=o["data"], out=str(out), epochs=o["epochs"],
                        overrides=dict(overrides or {}), train=train,
                        data_dir=None if data_dir is None else str(data_dir), download=download, device=device,
                        threads=threads)
                for r in recipes for s in range(o["seeds"])]
    pending = _check_existing(all_jobs)
    runner = None
    if o["executor"] == "submitit" and pending:
        runner = submitit_executor(out / "submitit", o["submitit_cluster"], slurm_partition, o["slurm_time_min"],
                                   o["slurm_gpus"], executor_options)
    log(f"seed study: {len(recipes)} recipe(s) x {o['seeds']} seed(s) on {o['data']}: {len(all_jobs)} jobs, "
        f"{len(all_jobs) - len(pending)} already finished in {out}; {o['executor']} executor, {o['jobs']} at a time")
    results: dict[tuple[str, int], dict[str, Any]] = {}
    for job in all_jobs:
        if job not in pending:
            results[(job.recipe, job.seed)] = json.loads(job.result_path.read_text())
    failures: list[str] = []
    t0 = time.time()

    def on_done(job: SeedJob, value: Optional[dict[str, Any]], error: Optional[BaseException]) -> None:
        count = len(results) + len(failures) + 1
        if error is not None:
            failures.append(f"{job.describe()} ({first_line(error)})")
            log(f"[{count}/{len(all_jobs)}] {job.describe()}: failed: {first_line(error)}")
            return
        results[(job.recipe, job.seed)] = value
        log(f"[{count}/{len(all_jobs)}] {job.describe()}: {value['accuracy']:.1f} % test, {value['skips']} skip(s), "
            f"search {value['search_seconds']:.0f} s, peak {value['peak_memory_mib']:.0f} MiB "
            f"({time.time() - t0:.0f} s)")

    if pending and runner is None:
        _run_local(pending, o["jobs"], on_done)
    elif pending:
        _run_submitit(pending, o["jobs"], runner, on_done)
    setting = {"recipes": recipes, "seeds": o["seeds"], "data": o["data"], "epochs": o["epochs"],
               "overrides": dict(overrides or {}), "train": train, "executor": o["executor"], "jobs": o["jobs"]}
    report = build_report(setting, [results[k] for k in sorted(results, key=lambda k: (recipes.index(k[0]), k[1]))])
    report["failed"] = failures
    write_outputs(report, out)
    if failures:
        raise ZooError(f"{where}: {len(failures)} of {len(all_jobs)} jobs failed: {'; '.join(failures)}; the "
                       f"finished ones are in {out}; rerun the same command to retry the others")
    return report


def build_report(setting: Mapping[str, Any], results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per recipe: its seeds' rows and the summaries (accuracy, skips, parameter-free ops, agreement,
    search time, peak memory)."""
    rows = []
    for recipe in setting["recipes"]:
        runs = [r for r in results if r["recipe"] == recipe]
        if not runs:
            continue
        cells = [Counter(tuple(e) for e in r["normal_edges"]) for r in runs]
        rows.append({
            "recipe": recipe, "seeds": [r["seed"] for r in runs],
            "accuracy": summarize([r["accuracy"] for r in runs]),
            "skips": summarize([r["skips"] for r in runs]),
            "param_free": summarize([r["param_free"] for r in runs]),
            "agreement": agreement(cells),
            "search_seconds": summarize([r["search_seconds"] for r in runs]),
            "peak_memory_mib": summarize([r["peak_memory_mib"] for r in runs]),
            "memory_kind": runs[0]["memory_kind"],
            "runs": [{k: v for k, v in r.items() if k != "setting"} for r in runs],
        })
    return {"setting": dict(setting), "recipes": rows}


# --------------------------------------------------------------------------- outputs
def _pm(s: Mapping[str, Any], digits: int = 2) -> str:
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def _maybe(x: Optional[float], digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def markdown(report: Mapping[str, Any]) -> str:
    s, t = report["setting"], report["setting"]["train"]
    epochs = s["epochs"] or ("the recipe's digits preset's" if s["data"] == "digits" else "the recipe's")
    lines = [f"# Seed study on {s['data']}", "",
             f"Search seeds 0..{s['seeds'] - 1} per recipe, search epochs {epochs}"
             f"{', overrides ' + json.dumps(s['overrides']) if s['overrides'] else ''}. Each cell trained "
             f"{t['epochs']} epoch(s) on {t['images']} images ({t['layers']} cells, C {t['channels']}, batch "
             f"{t['batch_size']}, lr {t['lr']}, training seed {t['seed']}), tested on the test split. Skips and "
             f"parameter-free ops ({', '.join(PARAM_FREE_GROUPS)}) count the normal cell(s)' edges; agreement is "
             "over every pair of seeds' normal cells (edge = node, input, op).", "",
             "| recipe | seeds | accuracy % | skips | param-free | Jaccard | shared edges | search s | peak MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["recipes"]:
        a = r["agreement"]
        lines.append(f"| {r['recipe']} | {len(r['seeds'])} | {_pm(r['accuracy'])} | {_pm(r['skips'], 1)} | "
                     f"{_pm(r['param_free'], 1)} | {_maybe(a['jaccard'])} | {_maybe(a['shared_edges'], 1)} | "
                     f"{r['search_seconds']['mean']:.0f} | {max(r['peak_memory_mib']['runs']):.0f} |")
    lines += ["", "Peak memory: " + ", ".join(sorted({r["memory_kind"] for r in report["recipes"]})) + "; search "
              "time: the sum of the search's epoch times.", "", "![accuracy per recipe](accuracy.png)",
              "![skip connections per recipe](skips.png)"]
    for r in report["recipes"]:
        lines += ["", f"## {r['recipe']}", "", "| seed | accuracy % | skips | param-free | search s | peak MiB | "
                  "normal cell | drawings |", "|---|---|---|---|---|---|---|---|"]
        for run in r["runs"]:
            normal = "; ".join(f"{n}: {run['cells'][n]}" for n in run["normal_cells"])
            drawings = " ".join(f"[{name}]({p})" for name, p in run["drawings"].items())
            lines.append(f"| {run['seed']} | {run['accuracy']:.2f} | {run['skips']} | {run['param_free']} | "
                         f"{run['search_seconds']:.0f} | {run['peak_memory_mib']:.0f} | `{normal}` | {drawings} |")
    if report.get("failed"):
        lines += ["", "Failed jobs (rerun the same command to retry them): " + "; ".join(report["failed"])]
    return "\n".join(lines) + "\n"


def _points_plot(report: Mapping[str, Any], key: str, ylabel: str, path: Path) -> Path:
    import matplotlib  # only the plots need it; a headless backend before pyplot loads

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["recipes"]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.6 + 1.2 * len(rows)), 3.6))
    for i, r in enumerate(rows):
        values = [run[key] for run in r["runs"]]
        # Seeds spread a little sideways so that equal values stay visible as separate points.
        xs = [i + 0.25 * (k / max(1, len(values) - 1) - 0.5) for k in range(len(values))]
        ax.scatter(xs, values, s=18, color="#1f77b4", zorder=3)
        ax.errorbar([i + 0.35], [r[key]["mean"]], yerr=[r[key]["std"]], fmt="D", color="#d62728", capsize=4)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["recipe"] for r in rows], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title("search seeds (dots), mean ± std (diamond)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    written = atomic_save_figure(fig, path)
    plt.close(fig)
    return written


def write_outputs(report: Mapping[str, Any], out: Union[str, Path]) -> list[Path]:
    """seeds.json, seeds.md, accuracy.png, skips.png in `out` (the drawings are the jobs')."""
    out = Path(out)
    written = [atomic_write_json(out / "seeds.json", report),
               atomic_write_bytes(out / "seeds.md", markdown(report).encode("utf-8"))]
    if report["recipes"]:
        written.append(_points_plot(report, "accuracy", "test accuracy %", out / "accuracy.png"))
        written.append(_points_plot(report, "skips", "skip connections (normal)", out / "skips.png"))
    return written
