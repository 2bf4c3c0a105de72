"""Differentiable search over DAG building blocks (a master-thesis exposé on differentiable search
with few priors over general DAG blocks, secs. 4.1-4.3).

The supernet holds k blocks on the same l layers: every block reads the stem's output and feeds the
head, block b weighted by softmax(alpha)_b, and all blocks share the weights between layers i < j
(`zoo.dag_network.DagBody`), each applying its DAG as a mask. A round is a weight phase (the shared
weights trained at fixed alpha) then an architecture phase (alpha trained at fixed weights), on the
same data or on separate halves of the training split (`split`). With `sampling: fixed` the first k
DAGs stay for every round; with `adaptive`, after each architecture phase the edge distribution
(`search.dag_space.EdgeDistribution`) moves towards the blocks alpha favours, the best `elites` DAGs
are kept, the rest of the k are drawn afresh and alpha starts again from zero. The archive keeps the
best DAGs found so far. The result is the block with the largest weight in the last round.

    cfg = DagSearchConfig.checked(vertices=4, blocks=4, rounds=5)
    result = run_dag_search(cfg, (x_train, y_train), num_classes=10,
                            checkpoint=dag_checkpoint_folder("dag_searched.yaml"), resume=True)
    save_dag_genotype(result, "dag_searched.yaml")

With `checkpoint`, the search saves its whole state after every round (shared weights, alpha, both
optimizers, the current blocks, edge probabilities, archive, history and every RNG); `resume=True`
continues from there and reaches the same result, bit for bit on CPU, as a search never stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import create_classifier

import zoo
from zoo.dag_network import DagBody, all_edges, make_stem
from zoo.errors import ZooError
from zoo.genotype import DAG_AGGREGATES, DAG_LAYERS, DAG_POOLS, Genotype, genotype_from_dict, save_genotype
from zoo.atomic import atomic_save_figure, atomic_write_json, finite_json
from zoo.checkpoint import Checkpoint, CheckpointStore, settings_mismatch
from zoo.errors import CheckpointError
from zoo.locks import output_lock
from zoo.runtime import first_line, rng_state, set_rng_state
from zoo.settings import SEED, Domain, Setting

from .batches import epoch_seed, split_indices
from .dag_space import Archive, Dag, DagSpace, EdgeDistribution, dag_depth
from .run import SearchPaused

SPLITS = ("same", "separate")
SAMPLINGS = ("fixed", "adaptive")


def _elites_below_blocks(v: dict) -> Optional[str]:
    if v.get("elites", 0) >= v.get("blocks", 2):
        return (f"elites = {v['elites']} leaves no block to sample among {v['blocks']}; "
                "use --elites below --blocks")
    return None


def _density_order(v: dict) -> Optional[str]:
    if v.get("min_density", 0.0) > v.get("max_density", 1.0):
        return (f"min_density {v['min_density']:g} > max_density {v['max_density']:g}: no DAG has both; "
                "lower --min-density or raise --max-density")
    return None


DAG_SEARCH_SETTINGS = Domain("DAG search", (
    Setting("vertices", int, "layers per block (l)", low=2, high=12, metavar="L"),
    Setting("blocks", int, "building blocks per architecture phase (k)", low=1, high=64, metavar="K"),
    Setting("width", int, "units (dense) or channels (conv) of every layer", low=1, high=4096, metavar="W"),
    Setting("layer", str, "the layer on every edge", choices=DAG_LAYERS),
    Setting("aggregate", str, "how a layer combines its inputs", choices=DAG_AGGREGATES),
    Setting("pool", str, "3x3 stride-1 pooling after each conv layer", choices=DAG_POOLS),
    Setting("rounds", int, "weight + architecture phase pairs", low=1, high=10_000, metavar="N"),
    Setting("weight_steps", int, "steps of each weight phase", low=1, high=1_000_000, metavar="N"),
    Setting("arch_steps", int, "steps of each architecture phase", low=1, high=1_000_000, metavar="N"),
    Setting("split", str, "data of the two phases: the same, or separate halves of the training split",
            choices=SPLITS),
    Setting("sampling", str, "keep the first k DAGs (fixed) or resample after each architecture phase",
            choices=SAMPLINGS),
    Setting("max_skip", int, "longest edge j - i (0: no edges between layers)", low=0, high=63,
            optional=True, metavar="S"),
    Setting("min_density", float, "fewest edges, as a fraction of the allowed ones", low=0, high=1),
    Setting("max_density", float, "most edges, as a fraction of the allowed ones", low=0, high=1),
    Setting("update_rate", float, "eta of the edge-probability update", low=0, high=1, low_open=True),
    Setting("p_min", float, "edge probabilities stay in [p_min, 1 - p_min]", low=0, high=0.5, high_open=True),
    Setting("elites", int, "best DAGs carried into the next round", low=0, high=63),
    Setting("batch_size", int, "examples per step", low=2, high=65536, metavar="N"),
    Setting("w_lr", float, "Adam learning rate of the shared weights", low=0, high=10, low_open=True),
    Setting("arch_lr", float, "Adam learning rate of alpha", low=0, high=10, low_open=True),
    SEED,
), relations=(_elites_below_blocks, _density_order))


@dataclass(frozen=True)
class DagSearchConfig:
    vertices: int = 4
    blocks: int = 4
    width: int = 64
    layer: str = "dense"
    aggregate: str = "sum"
    pool: str = "none"
    rounds: int = 6
    weight_steps: int = 40
    arch_steps: int = 20
    split: str = "separate"
    sampling: str = "adaptive"
    max_skip: Optional[int] = None
    min_density: float = 0.0
    max_density: float = 1.0
    update_rate: float = 0.5
    p_min: float = 0.05
    elites: int = 1
    batch_size: int = 64
    w_lr: float = 1e-3
    arch_lr: float = 0.05
    seed: int = 0

    @classmethod
    def checked(cls, **values: Any) -> "DagSearchConfig":
        """Each value in its domain, the relations between them, and a space with k DAGs."""
        checked = DAG_SEARCH_SETTINGS.check(values, "DAG search")
        merged = {**dataclasses.asdict(cls()), **checked}
        if "elites" not in checked:  # the default keeps the best block, unless it is the only one
            merged["elites"] = min(cls.elites, merged["blocks"] - 1)
        DAG_SEARCH_SETTINGS.check_relations(merged, "DAG search")
        cfg = cls(**merged)
        cfg.space.check(cfg.blocks)
        return cfg

    @property
    def space(self) -> DagSpace:
        return DagSpace(self.vertices, self.max_skip, self.min_density, self.max_density)


class DagSupernet(nn.Module):
    """Stem -> sum_b softmax(alpha)_b * block_b -> head, every block over the same shared weights."""

    def __init__(self, cfg: DagSearchConfig, in_chans: int, img_size: int, num_classes: int):
        super().__init__()
        self.cfg = cfg
        self.stem = make_stem(cfg.layer, in_chans, img_size, cfg.width)
        self.body = DagBody(cfg.vertices, cfg.width, cfg.layer, all_edges(cfg.vertices), cfg.aggregate, cfg.pool)
        pool = "" if cfg.layer == "dense" else "avg"
        self.global_pool, self.classifier = create_classifier(cfg.width, num_classes, pool_type=pool)
        self.alpha = nn.Parameter(torch.zeros(cfg.blocks))
        self.dags: list[Dag] = []

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n != "alpha"]

    def block_weights(self) -> torch.Tensor:
        return F.softmax(self.alpha, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.stem(x)
        w = self.block_weights()
        blocks = self.body.forward_blocks(x0, self.dags)
        out = (w.view((-1,) + (1,) * x0.dim()) * blocks).sum(0)
        if self.cfg.layer != "dense":
            out = self.global_pool(out)
        return self.classifier(out)


def phase_indices(n: int, split: str, seed: int) -> tuple[list[int], list[int]]:
    """The examples of the weight phase and of the architecture phase: all of them for both
    (`same`), or a seeded half each (`separate`, DARTS' split of the training set)."""
    if split == "same":
        return list(range(n)), list(range(n))
    return split_indices(n, 0.5, seed, None)


def _batches(indices: Sequence[int], batch: int, seed: int, steps: int) -> list[list[int]]:
    """`steps` batches from seeded passes over `indices` (a new permutation per pass)."""
    if not indices:
        raise ZooError("no training examples for a phase of the DAG search; use more data or --split same")
    out: list[list[int]] = []
    passes = 0
    while len(out) < steps:
        g = torch.Generator().manual_seed(seed + passes)
        perm = [indices[i] for i in torch.randperm(len(indices), generator=g).tolist()]
        size = min(batch, len(perm))
        out.extend(perm[i:i + size] for i in range(0, len(perm) - size + 1, size))
        passes += 1
    return out[:steps]


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
    was = model.training
    model.eval()
    correct = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(y), batch))
    model.train(was)
    return 100.0 * correct / max(len(y), 1)


@dataclass
class DagSearchResult:
    config: DagSearchConfig
    best: Dag
    dags: list[Dag]
    weights: list[float]
    archive: list[tuple[Dag, float]]
    probs: list[list]
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    data: str = ""


# Run options, not search settings: they change where the search keeps its state and when it stops,
# never its result, so a search may be resumed with other values of them.
DAG_RUN_SETTINGS = Domain("DAG search run", (
    Setting("stop_after_rounds", int, "pause after N rounds of this call (checkpoint kept; continue with resume)",
            low=1, high=10 ** 6, optional=True, metavar="N"),
))


def dag_checkpoint_folder(genotype_path: str | Path) -> Path:
    """Where a search writing `genotype_path` keeps its checkpoint: `<stem>.ckpt` beside it, as a
    cell search does (search/outputs.py)."""
    path = Path(genotype_path)
    return path.with_name(path.with_suffix("").name + ".ckpt")


def run_dag_search(cfg: DagSearchConfig, train: tuple[torch.Tensor, torch.Tensor], num_classes: int,
                   test: Optional[tuple[torch.Tensor, torch.Tensor]] = None, device: str | torch.device = "cpu",
                   data: str = "", progress: Optional[Callable[[str], None]] = None,
                   checkpoint: Optional[str | Path] = None, resume: bool = False, restart: bool = False,
                   stop_after_rounds: Optional[int] = None) -> DagSearchResult:
    """Alternate weight and architecture phases for `cfg.rounds` rounds on `train` (tensors already
    shaped N x C x H x W); `test`, when given, is scored by the supernet after each round.

    `checkpoint` (a folder, e.g. `dag_checkpoint_folder(out)`) receives the search's state after every
    round. An existing checkpoint there is refused unless `resume` (continue it; refused in one line
    if it was made with other settings or data) or `restart` (delete it). `stop_after_rounds` pauses
    after that many rounds of this call: the checkpoint is written and `SearchPaused` raised."""
    if resume and restart:
        raise ZooError("resume and restart exclude each other: resume continues the checkpoint, restart deletes it")
    stop_after_rounds = DAG_RUN_SETTINGS.check({"stop_after_rounds": stop_after_rounds},
                                               "DAG search")["stop_after_rounds"]
    if checkpoint is None and (resume or restart or stop_after_rounds is not None):
        raise ZooError("resume, restart and stop_after_rounds need a checkpoint folder; pass "
                       "checkpoint=dag_checkpoint_folder(OUT)")
    with contextlib.ExitStack() as stack:
        store = None
        if checkpoint is not None:
            stack.enter_context(output_lock(checkpoint))  # one process per checkpoint
            store = CheckpointStore(checkpoint, kind="search")
        return _DagSearch(cfg, train, num_classes, test, torch.device(device), data, progress, store).run(
            resume, restart, stop_after_rounds)


class _DagSearch:
    """One DAG search: set-up, the resume point, the rounds, the checkpoint after each."""

    def __init__(self, cfg: DagSearchConfig, train, num_classes: int, test, device: torch.device, data: str,
                 progress: Optional[Callable[[str], None]], store: Optional[CheckpointStore]):
        self.start = time.perf_counter()
        cfg.space.check(cfg.blocks)
        self.cfg, self.device, self.data, self.store = cfg, device, data, store
        self.say = progress or (lambda _: None)
        torch.manual_seed(epoch_seed(cfg.seed, 0, 0, 7))
        self.x, self.y = train[0].to(device), train[1].to(device)
        self.test = None if test is None else (test[0].to(device), test[1].to(device))
        self.model = DagSupernet(cfg, self.x.shape[1], self.x.shape[-1], num_classes).to(device)
        self.w_opt = torch.optim.Adam(self.model.weight_parameters(), lr=cfg.w_lr)
        self.w_idx, self.a_idx = phase_indices(len(self.y), cfg.split, cfg.seed)
        self.rng = random.Random(cfg.seed)
        self.dist = EdgeDistribution(cfg.space, p_min=cfg.p_min)
        self.archive = Archive()
        self.model.dags = self.dist.sample_distinct(cfg.blocks, self.rng)
        self.a_opt = self._arch_optimizer()
        self.history: list[dict[str, Any]] = []
        self.elapsed_before = 0.0
        # What a checkpoint must agree on: the search's settings and the data it searches on (its
        # name, shape and label counts: cheap to compute, and enough to catch another dataset).
        self.settings = {"dag": dataclasses.asdict(cfg), "data": data, "num_classes": int(num_classes),
                         "train_shape": list(train[0].shape), "train_labels": _label_counts(train[1]),
                         "scored_on_test": test is not None}

    def _arch_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam([self.model.alpha], lr=self.cfg.arch_lr, betas=(0.5, 0.999))

    # ------------------------------------------------------------------ resume point
    def _resume_point(self, resume: bool, restart: bool) -> int:
        """The first round to run: 0, or the round after the checkpoint's (its state restored)."""
        store = self.store
        if store is None:
            return 0
        if not store.exists():
            if resume:
                self.say(f"resume: no checkpoint in {store.folder}, starting from scratch")
            return 0
        if not resume:
            if not restart:
                raise CheckpointError(f"{store.folder}: a checkpoint of an earlier DAG search is there; pass "
                                      "resume=True to continue it or restart=True to start over")
            store.clear()
            return 0
        ckpt = store.load()
        if ckpt.meta.get("method") != "dag":
            raise CheckpointError(f"{store.latest}: a checkpoint of a cell search, not of a DAG search; "
                                  f"use another checkpoint folder or delete {store.folder}")
        diff = settings_mismatch(ckpt.meta.get("settings"), self.settings)
        if diff:
            raise CheckpointError(f"{store.latest}: the checkpoint was made with other settings ({diff}); "
                                  "resume with the settings of the interrupted search, or restart=True")
        done = self._restore(ckpt)
        self.say(f"resuming from {store.folder} after round {done}/{self.cfg.rounds}")
        return done

    def _restore(self, ckpt: Checkpoint) -> int:
        st = ckpt.state
        try:
            done = int(ckpt.meta["round"])
            if not 1 <= done <= self.cfg.rounds:
                raise ValueError(f"round {done} is outside 1..{self.cfg.rounds}")
            self.model.load_state_dict({k: v.to(self.device) for k, v in ckpt.tensors.items()}, strict=True)
            self.model.dags = [_as_dag(d) for d in st["dags"]]
            self.w_opt.load_state_dict(st["w_opt"])
            self.a_opt.load_state_dict(st["a_opt"])
            probs = {(int(i), int(j)): float(p) for i, j, p in st["probs"]}
            if list(probs) != list(self.dist.probs):
                raise ValueError("its edge probabilities are over other edges")
            self.dist.probs = probs
            self.archive.best = {_as_dag(d): float(s) for d, s, _ in st["archive"]}
            self.archive.seen = {_as_dag(d): int(n) for d, _, n in st["archive"]}
            sampler = st["sampler_rng"]
            self.rng.setstate((int(sampler["version"]), tuple(int(v) for v in sampler["mt"].tolist()),
                               sampler["gauss"]))
            self.history = list(st["history"])
            if len(self.history) != done or len(self.model.dags) != self.cfg.blocks:
                raise ValueError(f"it holds {len(self.history)} rounds of history and {len(self.model.dags)} "
                                 f"blocks for round {done}")
            set_rng_state(st["rng"])
        except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{self.store.folder}: does not fit this DAG search ({first_line(e, 160)}); "
                                  "delete it or restart=True") from None
        self.elapsed_before = float(ckpt.meta.get("elapsed_s", 0.0))
        return done

    def _save(self, done: int) -> None:
        version, mt, gauss = self.rng.getstate()
        state = {"w_opt": self.w_opt.state_dict(), "a_opt": self.a_opt.state_dict(), "rng": rng_state(),
                 "sampler_rng": {"version": version, "mt": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
                 "dags": [[list(e) for e in d] for d in self.model.dags],
                 # Unrounded (as_rows rounds for display): the next round draws from exactly these.
                 "probs": [[i, j, p] for (i, j), p in self.dist.probs.items()],
                 "archive": [[[list(e) for e in d], s, self.archive.seen[d]] for d, s in self.archive.best.items()],
                 "history": self.history}
        meta = {"method": "dag", "round": done, "rounds": self.cfg.rounds, "settings": self.settings,
                "elapsed_s": round(self.elapsed_before + time.perf_counter() - self.start, 3)}
        self.store.save(f"r{done:05d}", self.model.state_dict(), state, meta)

    # ------------------------------------------------------------------ the rounds
    def run(self, resume: bool, restart: bool, stop_after_rounds: Optional[int]) -> DagSearchResult:
        cfg, model, dist = self.cfg, self.model, self.dist
        first = self._resume_point(resume, restart)
        for r in range(first, cfg.rounds):
            loss = self._round(r)
            weights = model.block_weights().detach().cpu().tolist()
            dags = list(model.dags)
            self.archive.add(dags, weights)
            record = {"round": r + 1, "dags": [[list(e) for e in d] for d in dags], "weights": weights,
                      "loss": loss, "probs": dist.as_rows()}
            if self.test is not None:
                record["test_top1"] = accuracy(model, *self.test)
            self.history.append(record)
            best = max(range(len(dags)), key=lambda b: weights[b])
            self.say(f"round {r + 1}/{cfg.rounds}: best block {best} weight {weights[best]:.3f} "
                     f"({len(dags[best])} edges, depth {dag_depth(cfg.vertices, dags[best])})"
                     + (f", supernet test {record['test_top1']:.2f} %" if self.test is not None else ""))
            if cfg.sampling == "adaptive" and r + 1 < cfg.rounds:
                dist.update(dags, weights, cfg.update_rate)
                order = sorted(range(len(dags)), key=lambda b: -weights[b])
                model.dags = dist.sample_distinct(cfg.blocks, self.rng, keep=[dags[b] for b in order[:cfg.elites]])
                with torch.no_grad():
                    model.alpha.zero_()
                self.a_opt = self._arch_optimizer()
            if self.store is not None:
                self._save(r + 1)  # the state at the start of round r + 2, so a resume just continues
                if stop_after_rounds is not None and r + 1 - first >= stop_after_rounds and r + 1 < cfg.rounds:
                    raise SearchPaused(f"DAG search paused after round {r + 1}/{cfg.rounds}; the checkpoint is in "
                                       f"{self.store.folder}; run it again with resume=True to continue")
        # The result from the last record, which a search resumed after its last round also has.
        last = self.history[-1]
        dags, weights = [_as_dag(d) for d in last["dags"]], list(last["weights"])
        best = max(range(len(dags)), key=lambda b: weights[b])
        return DagSearchResult(cfg, dags[best], dags, weights, self.archive.top(), dist.as_rows(), self.history,
                               self.elapsed_before + time.perf_counter() - self.start, self.data)

    def _round(self, r: int) -> float:
        """A weight phase, then an architecture phase; the last step's loss."""
        cfg, model, x, y = self.cfg, self.model, self.x, self.y
        for phase, idx, steps, opt, seed_part in (("weights", self.w_idx, cfg.weight_steps, self.w_opt, 1),
                                                  ("arch", self.a_idx, cfg.arch_steps, self.a_opt, 2)):
            model.alpha.requires_grad_(phase == "arch")
            for p in model.weight_parameters():
                p.requires_grad_(phase == "weights")
            for b in _batches(idx, cfg.batch_size, epoch_seed(cfg.seed, 0, r, seed_part), steps):
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x[b]), y[b])
                loss.backward()
                opt.step()
        for p in model.parameters():
            p.requires_grad_(True)
        return float(loss.detach())


def _as_dag(edges: Sequence[Sequence[int]]) -> Dag:
    return tuple((int(i), int(j)) for i, j in edges)


def _label_counts(y: torch.Tensor) -> list[int]:
    return torch.bincount(y.detach().to("cpu").long().flatten()).tolist() if y.numel() else []


def dag_genotype(name: str, dag: Dag, cfg: DagSearchConfig, search: Optional[dict[str, Any]] = None,
                 provenance: str = "searched", title: str = "") -> Genotype:
    """A genotype file's content for one block of the search's space."""
    data = {"name": name, "op_set": "dag",
            "dag": {"vertices": cfg.vertices, "width": cfg.width, "layer": cfg.layer, "aggregate": cfg.aggregate,
                    "pool": cfg.pool, "edges": [list(e) for e in dag]},
            "provenance": {"kind": provenance}}
    if title:
        data["title"] = title
    if search:
        data["search"] = search
    return genotype_from_dict(data, where=name)


def search_record(result: DagSearchResult) -> dict[str, Any]:
    """What the genotype's `search:` field records: settings, data, the final weights, the archive."""
    return {
        "method": "dag", "settings": dataclasses.asdict(result.config), "data": result.data,
        "seed": result.config.seed, "version": zoo.__version__, "wall_s": round(result.wall_s, 2),
        "final_blocks": [{"edges": [list(e) for e in d], "weight": round(w, 6)}
                         for d, w in zip(result.dags, result.weights)],
        "best_found": [{"edges": [list(e) for e in d], "score": round(s, 6)} for d, s in result.archive],
        "edge_probs": result.probs,
    }


def save_dag_genotype(result: DagSearchResult, path: str | Path, name: Optional[str] = None,
                      lock: bool = True) -> Path:
    """The searched block as a genotype file (provenance `searched`), written atomically under a lock
    (`lock=False`: the caller holds one over the whole output folder)."""
    path = Path(path)
    name = name or path.stem
    g = dag_genotype(name, result.best, result.config, search=search_record(result),
                     title=f"DAG block searched on {result.data or 'data'} (k={result.config.blocks}, "
                           f"l={result.config.vertices}, seed {result.config.seed})")
    if not lock:
        write_dag_history(result, path)
        return save_genotype(g, path)
    with output_lock(path):
        write_dag_history(result, path)
        return save_genotype(g, path)


def write_dag_history(result: DagSearchResult, genotype_path: Path) -> tuple[Path, Path]:
    """<name>.history.json (every round: blocks, their weights, edge probabilities, loss) and
    <name>.probs.png: each edge's sampling probability and the best block's weight per round."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    stem = genotype_path.with_suffix("")
    json_path = Path(f"{stem}.history.json")
    atomic_write_json(json_path, finite_json({"settings": dataclasses.asdict(result.config), "data": result.data,
                                              "records": result.history}))
    rounds = [r["round"] for r in result.history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    edges = [(i, j) for i, j, _ in result.history[0]["probs"]]
    for n, e in enumerate(edges):
        ax1.plot(rounds, [r["probs"][n][2] for r in result.history], marker=".", label=f"{e[0]}-{e[1]}")
    ax1.set_xlabel("round (the probabilities its blocks were drawn with)")
    ax1.set_ylabel("edge probability")
    if len(edges) <= 15:
        ax1.legend(fontsize=7, ncol=2)
    ax2.plot(rounds, [max(r["weights"]) * len(r["weights"]) for r in result.history], marker="o")
    ax2.axhline(1.0, color="grey", lw=0.8)
    ax2.set_xlabel("round")
    ax2.set_ylabel("best block's weight x k (1 = even)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    png = atomic_save_figure(fig, Path(f"{stem}.probs.png"))
    plt.close(fig)
    return json_path, png
