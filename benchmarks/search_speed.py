"""Speed of one search step at the DARTS search setting: 8 cells, C 16, batch 64, 32x32 inputs.

A step is what the runner does per batch pair: the architecture update (first or second order)
and the weight update. Images/s counts the weight batch (64 images per step), the way DARTS'
search throughput is usually quoted. Peak memory: `torch.cuda.max_memory_allocated` on CUDA; on
CPU the peak resident set of a fresh process running only that configuration, minus its resident
set before the supernet was built.

Configurations (`CONFIGS`), each measured at the same batch and shown beside the plain step with
its speed and memory ratios: `plain` (DARTS' supernet), `recompute_cell` / `recompute_mixed_op`
(activations recomputed per cell / per mixed op in the backward pass, same results), and
`pc_darts` (PC-DARTS' partial channels, K = 4, with edge normalization), and the speed options
of zoo.speed_options on any device: `bf16` (bfloat16 autocast), `channels_last`, `compile`
(`torch.compile`; not in the default set, since compiling the DARTS supernet takes many minutes on
a CPU). Each is measured on every device asked for, the CPU included.

    from zoo.benchmarks.search_speed import search_speed, format_speed
    print(format_speed(search_speed()))          # or: darts-zoo search-bench speed
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_module
import time
from typing import Any, Optional, Sequence

import torch

from zoo.errors import ZooError, closest
from zoo.runtime import peak_rss_mib, resolve_device
from zoo.speed_options import autocast, prepare_model
from zoo.search import SearchSpace, Supernet, make_strategy

DARTS_SETTING = dict(layers=8, channels=16, batch_size=64, image_size=32)
# name -> what it changes in the supernet (recompute mode, partial channels K, edge betas)
CONFIGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "recompute_cell": {"recompute": "cell"},
    "recompute_mixed_op": {"recompute": "mixed_op"},
    "pc_darts": {"partial_channels": 4, "edge_norm": True},
    "bf16": {"options": {"amp": True}},
    "channels_last": {"options": {"channels_last": True}},
    "compile": {"options": {"compile": True}},
}
DEFAULT_CONFIGS = tuple(c for c in CONFIGS if c != "compile")


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_step(strategy: str = "first_order", device: str = "cpu", steps: int = 2, warmup: int = 1,
                 layers: int = 8, channels: int = 16, batch_size: int = 64, image_size: int = 32,
                 amp: bool = False, channels_last: bool = False, threads: Optional[int] = None,
                 compile: bool = False, space: Optional[dict[str, Any]] = None, config: str = "plain") -> dict[str, Any]:
    """Time `steps` full search steps (after `warmup` untimed ones) in this process; `space`: the
    SearchSpace's fields (default DARTS'); `config`: an entry of CONFIGS."""
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    change = CONFIGS[config]
    base_rss = _rss_mib()
    torch.manual_seed(0)
    sp = dict(space or {}, **({"edge_norm": True} if change.get("edge_norm") else {}))
    net = Supernet(SearchSpace(**sp), channels=channels, layers=layers,
                   partial_channels=change.get("partial_channels", 1)).to(dev)
    net.set_recompute(change.get("recompute", "none"))
    prepare_model(net, channels_last, compile)  # zoo.speed_options, on any device
    w = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    strat = make_strategy(strategy, net, w, a)
    g = torch.Generator().manual_seed(0)

    def batch():
        x = torch.randn(batch_size, 3, image_size, image_size, generator=g).to(dev)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, torch.randint(0, 10, (batch_size,), generator=g).to(dev)

    batches = [(batch(), batch()) for _ in range(min(steps + warmup, 4))]

    def run(n):
        for i in range(n):
            tb, vb = batches[i % len(batches)]
            with autocast(dev, amp):
                strat.step(tb, vb)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    run(warmup)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    run(steps)
    elapsed = time.perf_counter() - t0
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2 ** 20
        name = torch.cuda.get_device_name(dev)
    else:
        peak = peak_rss_mib() - base_rss
        name = f"CPU ({torch.get_num_threads()} threads)"
    return {
        "config": config, "strategy": strategy, "device": device, "device_name": name, "amp": bool(amp),
        "channels_last": bool(channels_last), "compile": bool(compile),
        "layers": layers, "channels": channels, "batch_size": batch_size, "image_size": image_size,
        "steps": steps, "seconds_per_step": elapsed / steps, "images_per_s": batch_size * steps / elapsed,
        "peak_memory_mib": peak,
        "memory_kind": "cuda max_memory_allocated" if dev.type == "cuda" else "process peak RSS increase",
    }


def _child(kwargs, queue):
    try:
        queue.put(measure_step(**kwargs))
    except Exception as e:  # reported back as a row, so one failing setting does not hide the others
        queue.put({"error": f"{type(e).__name__}: {e}", **kwargs})


def _isolated(kwargs: dict) -> dict:
    """Run one measurement in a fresh process, so CPU peak memory is that configuration's alone."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_child, args=(kwargs, queue))
    p.start()
    while True:
        try:
            result = queue.get(timeout=2.0)
            break
        except queue_module.Empty:
            if not p.is_alive():  # killed (e.g. out of memory) before it could report
                result = {"error": f"the measuring process ended with exit code {p.exitcode}", **kwargs}
                break
    p.join()
    return result


def search_speed(device: str = "auto", steps: Optional[int] = None, batch_size: Optional[int] = None,
                 strategies: Sequence[str] = ("first_order", "second_order"), isolate: bool = True,
                 threads: Optional[int] = None, op_set: str = "darts", candidates: Optional[Sequence[str]] = None,
                 configs: Sequence[str] = ("plain",), **setting: Any) -> dict[str, Any]:
    """Rows for `device` (auto: CUDA when present, else CPU), or for the CPU and CUDA when present
    with `device="all"`, one per strategy and configuration. `op_set` and
    `candidates` choose the supernet's ops (default: the op set's search candidates), e.g.
    op_set="sharp" with the DARTS candidates for SharpSepConvDARTS' supernet. `configs`: entries
    of CONFIGS, each row with its images/s and peak memory relative to the plain row of the same
    device and strategy (`speed_vs_plain`, `memory_vs_plain`; plain is measured too
    when not asked for, since the ratios need it)."""
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise ZooError(f"search-bench speed: unknown configuration {unknown[0]!r} ({closest(unknown[0], CONFIGS)})")
    configs = ("plain",) + tuple(c for c in configs if c != "plain")
    cfg = dict(DARTS_SETTING)
    cfg.update(setting)
    space = {"op_set": op_set, **({"candidates": tuple(candidates)} if candidates else {})}
    if batch_size:
        cfg["batch_size"] = batch_size
    if device == "all":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [str(resolve_device(device))]
    rows = []
    for dev in devices:
        for strategy in strategies:
            for config in configs:
                n = steps or (2 if dev == "cpu" else 20)
                kwargs = dict(strategy=strategy, device=dev, steps=n, warmup=1 if dev == "cpu" else 5,
                              threads=threads or torch.get_num_threads(), space=space, config=config,
                              **cfg, **CONFIGS[config].get("options", {}))
                rows.append(_isolated(kwargs) if isolate else measure_step(**kwargs))
    add_ratios(rows)
    ops = list(SearchSpace(**space).candidates)
    return {"setting": dict(cfg, op_set=op_set, candidates=ops), "torch": torch.__version__, "rows": rows}


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each row's images/s and peak memory divided by those of the plain row measured with the
    same device and strategy (None where either is missing)."""
    def key(r):
        return (r.get("device"), r.get("strategy"))

    plain = {key(r): r for r in rows if r.get("config", "plain") == "plain" and "error" not in r}
    for r in rows:
        base = plain.get(key(r))
        ok = base is not None and "error" not in r
        r["speed_vs_plain"] = r["images_per_s"] / base["images_per_s"] if ok else None
        r["memory_vs_plain"] = (r["peak_memory_mib"] / base["peak_memory_mib"]
                                if ok and base["peak_memory_mib"] > 0 else None)


def stretchable_overhead(strategy: str = "mixed_level", nodes: int = 6, repeats: int = 3,
                         device: str = "cpu", **setting: Any) -> dict[str, Any]:
    """The stretchable supernet's step against the plain DARTS step at the same setting: the same
    nodes and candidates (DARTS' ops without `none`, as stretchable cells search them), one
    process per measurement, `repeats` alternating pairs; the median seconds per step and peak
    memory of each, and their ratios (stretchable / plain)."""
    from zoo.ops import DARTS_CANDIDATES
    cfg = dict(DARTS_SETTING, steps=2, warmup=1)
    cfg.update(setting)
    ops = tuple(o for o in DARTS_CANDIDATES if o != "none")
    rows: dict[str, list] = {"plain": [], "stretchable": []}
    for _ in range(repeats):
        for kind in rows:
            sp = dict(candidates=ops, nodes=nodes, stretchable=kind == "stretchable")
            rows[kind].append(_isolated(dict(strategy=strategy, device=device, space=sp, **cfg)))

    def median(kind, key):
        v = sorted(r[key] for r in rows[kind])
        return v[len(v) // 2]

    out = {"setting": dict(cfg, strategy=strategy, nodes=nodes, candidates=list(ops)), "torch": torch.__version__}
    for key in ("seconds_per_step", "peak_memory_mib"):
        out[key] = {k: median(k, key) for k in rows}
        out[key]["ratio"] = out[key]["stretchable"] / out[key]["plain"]
    out["rows"] = rows
    return out


def format_speed(result: dict[str, Any]) -> str:
    s = result["setting"]
    ops = f", op set {s['op_set']} ({len(s['candidates'])} ops)" if "op_set" in s else ""
    lines = [f"search step, {s['layers']} cells, C {s['channels']}, batch {s['batch_size']}, "
             f"{s['image_size']}x{s['image_size']}{ops} (torch {result['torch']})",
             "| device | strategy | config | precision | images/s | s/step | peak memory (MiB) | speed vs plain "
             "| memory vs plain |",
             "|---|---|---|---|---|---|---|---|---|"]

    def ratio(v):
        return "-" if v is None else f"{v:.2f}x"

    for r in result["rows"]:
        config = r.get("config", "plain")
        if "error" in r:
            lines.append(f"| {r['device']} | {r['strategy']} | {config} | - | error: {r['error']} | | | | |")
            continue
        prec = ", ".join(n for n, on in (("bf16 autocast", r["amp"]), ("channels_last", r["channels_last"]),
                                           ("compiled", r.get("compile"))) if on) or "fp32"
        lines.append(f"| {r['device_name']} | {r['strategy']} | {config} | {prec} | {r['images_per_s']:.1f} | "
                     f"{r['seconds_per_step']:.3f} | {r['peak_memory_mib']:.0f} | {ratio(r.get('speed_vs_plain'))} "
                     f"| {ratio(r.get('memory_vs_plain'))} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_speed(search_speed()))
