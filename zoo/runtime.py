"""Where and how a run executes: the device, the distributed context, seeding and RNG state, the
NaN/inf guard of losses and weights, the one-line form of an exception, and the memory a
measurement used (peak resident set, a measurement in a fresh process). Search, training, evaluation and the benchmarks all use these,
so "auto" means the same thing everywhere and a resumed run restores every generator it drew from.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue as queue_module
import random
import resource
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch
import torch.distributed as dist

from .errors import ZooError

DEVICE_HELP = "auto (CUDA when present, else CPU), cpu, cuda, cuda:N or mps"


# --------------------------------------------------------------------------- errors
def first_line(e: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's message (torch and safetensors put tracebacks
    and hints below it), or its type when the message is empty."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0][:limit] if lines else type(e).__name__


# --------------------------------------------------------------------------- distributed
@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed_context(device_kind: str = "cpu") -> DistContext:
    """The process group this process belongs to: an existing one (a caller that initialized it,
    e.g. tests), or the one torchrun describes in the environment (WORLD_SIZE > 1), joined with
    NCCL for CUDA and gloo otherwise; a single process otherwise."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                           local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device_kind == "cuda":
        torch.cuda.set_device(local)
    dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local)


# --------------------------------------------------------------------------- numerics
def non_finite(values: Mapping[str, float], ctx: Optional[DistContext] = None,
               device: Optional[torch.device] = None) -> Optional[str]:
    """'NAME is nan' for the first NaN/inf among `values`, or None when all are finite. Under
    torch.distributed (a collective: every rank calls it) all ranks learn that some rank saw one,
    so they stop together; a rank whose own values were finite gets 'another rank saw a NaN/inf'."""
    bad = next((f"{k} is {float(v)}" for k, v in values.items() if not math.isfinite(float(v))), None)
    if ctx is not None and ctx.enabled:
        flag = torch.tensor([0.0 if bad is None else 1.0], device=device)
        dist.all_reduce(flag)
        if bad is None and flag.item() > 0:
            return "another rank saw a NaN/inf"
    return bad


def non_finite_tensor(tensors: Mapping[str, torch.Tensor]) -> Optional[str]:
    """The name of the first floating-point tensor that holds a NaN or an inf, or None."""
    return next((k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())),
                None)


# --------------------------------------------------------------------------- device
def device_kind(spec: Optional[str]) -> str:
    """'cuda' or 'cpu'/'mps' for a device spec, before any process group exists."""
    if spec in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(spec).split(":")[0]


def resolve_device(spec: Optional[str] = "auto", ctx: Optional[DistContext] = None,
                   option: str = "--device") -> torch.device:
    """The device a run uses. `auto` (or None) is CUDA when torch sees one, else the CPU; under
    torchrun a CUDA run uses the rank's local GPU. Anything that cannot run the package's work
    (meta, an absent GPU, an unknown name) is a one-line ZooError naming `option`."""
    name = device_kind(spec) if spec in (None, "", "auto") else str(spec)
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ZooError(f"{option} {spec}: not a device name; use {DEVICE_HELP}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ZooError(f"{option} {spec}: this machine has no CUDA device torch can use; use --device cpu")
        if ctx is not None and ctx.enabled:
            return torch.device("cuda", ctx.local_rank)
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ZooError(f"{option} {spec}: darts-zoo runs on cpu, cuda or mps, not {dev.type}; use {DEVICE_HELP}")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ZooError(f"{option} {spec}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ZooError(f"{option} {spec}: MPS is not available on this machine; use --device cpu")
    return dev


# --------------------------------------------------------------------------- seeds and RNG state
def seed_everything(seed: int) -> None:
    """Python's, NumPy's and torch's global generators from one seed."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every global RNG a run may draw from, as tensors and plain numbers, so that the state
    round-trips through `torch.load(weights_only=True)`."""
    version, mt, gauss = random.getstate()
    _, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python_mt": torch.tensor(mt, dtype=torch.int64),
        "python_version": version,
        "python_gauss": gauss,
        "numpy_keys": torch.from_numpy(np_keys.astype("int64")),
        "numpy_pos": int(np_pos),
        "numpy_has_gauss": int(np_has_gauss),
        "numpy_gauss": float(np_gauss),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(int(v) for v in state["python_mt"].tolist()),
                     state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype("uint32"),
                         state["numpy_pos"], state["numpy_has_gauss"], state["numpy_gauss"]))
    cuda = state.get("cuda")
    # A run resumed on a machine with another GPU count keeps the CPU-side reproducibility only.
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# --------------------------------------------------------------------------- memory of a measurement
def rss_mib() -> float:
    """This process's resident set now (MiB; NaN where /proc is missing)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mib() -> float:
    """This process's peak resident set so far (MiB)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024


def _isolated_child(fn: Callable[..., dict], kwargs: dict, queue) -> None:
    try:
        queue.put(fn(**kwargs))
    except Exception as e:  # reported back as a row, so one failing setting does not hide the others
        queue.put({"error": f"{type(e).__name__}: {first_line(e)}", **kwargs})


def run_isolated(fn: Callable[..., dict], **kwargs: Any) -> dict:
    """`fn(**kwargs)` in a fresh (spawned) process, so that the process's peak memory is that
    measurement's alone; an exception comes back as {"error": one line, **kwargs}. `fn` must be
    importable by name (a module-level function)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_isolated_child, args=(fn, kwargs, queue))
    proc.start()
    try:
        while True:
            try:
                return queue.get(timeout=1.0)
            except queue_module.Empty:
                if not proc.is_alive():  # a crash (a signal) sends nothing back
                    try:
                        return queue.get(timeout=1.0)
                    except queue_module.Empty:
                        return {"error": f"the measuring process died (exit code {proc.exitcode})", **kwargs}
    finally:
        proc.join()
