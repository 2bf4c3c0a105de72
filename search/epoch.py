"""What one search epoch needs besides the strategy's step: moving batches to the device, mixed
precision (both from zoo.speed_options), the NaN guard, the end-of-epoch evaluation and the epoch's history record."""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F

from ..checkpoint import CheckpointStore
from ..errors import ZooError
from ..runtime import DistContext, non_finite
from ..speed_options import autocast, prepare_batch
from .discretize import derive_cells
from .history import finite_or_none
from .outputs import arch_snapshot, format_cells


class SearchDiverged(ZooError):
    """A loss or an architecture parameter became NaN or infinite."""


# The one implementation of the speed options (zoo.speed_options), under the names the run uses:
# bf16 autocast and channels_last on any device torch runs them on.
to_device = prepare_batch


def check_finite(values: Mapping[str, float], supernet, where: str, ctx: DistContext,
                 device: torch.device, store: CheckpointStore) -> None:
    """Stop every rank with one line when a loss or an alpha is NaN/inf; the last good
    checkpoint stays as it is."""
    alphas = {f"alpha[{ct}]": float("nan") for ct, a in supernet.alphas.items() if not bool(torch.isfinite(a).all())}
    what = non_finite({**values, **alphas}, ctx, device)
    if what is None:
        return
    if store.exists():
        kept = f"the last good checkpoint is kept in {store.folder} (rerun with --resume to retry from it)"
    else:
        kept = "no checkpoint was written before it"
    raise SearchDiverged(f"search diverged: {what} at {where}; {kept}; lower --w-lr / --a-lr or change --seed")


@torch.no_grad()
def evaluate(supernet, loader, device, amp: bool, channels_last: bool, ctx: DistContext) -> tuple[float, float]:
    """Loss and accuracy on the alphas' half (DARTS reports this 'valid' accuracy every epoch)."""
    supernet.eval()
    total = torch.zeros(3, dtype=torch.float64, device=device)
    for x, y in loader:
        x, y = to_device(x, y, device, channels_last)
        with autocast(device, amp):
            logits = supernet(x)
        total[0] += F.cross_entropy(logits.float(), y, reduction="sum").double()
        total[1] += (logits.argmax(1) == y).sum().double()
        total[2] += y.numel()
    if ctx.enabled:
        torch.distributed.all_reduce(total)
    supernet.train()
    n = max(total[2].item(), 1.0)
    return total[0].item() / n, 100.0 * total[1].item() / n


class EpochMeter:
    """Sample-weighted means of the strategy's statistics over an epoch."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.weight = 0

    def add(self, values: Mapping[str, float], n: int) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v) * n
        self.weight += n

    def result(self) -> dict[str, float]:
        return {k: v / max(self.weight, 1) for k, v in self.sums.items()}

    def record(self, supernet, cfg, index: int, epoch: int, stage, lr: float, p_skip: float, arch_on: bool,
               eval_loss: float, eval_acc: float, seconds: float, global_epoch: int) -> dict[str, Any]:
        """The epoch's history record: position, statistics, the cell the alphas give now and the
        op weights of every edge (as the supernet mixes them)."""
        stats = {k: (100.0 * v if k.endswith("_acc") else v) for k, v in self.result().items()}
        weights = supernet.arch_weights()
        record = {
            "stage": index, "epoch": epoch + 1, "global_epoch": global_epoch,
            "layers": stage.layers, "lr": lr, "skip_dropout": p_skip, "arch_updates": arch_on,
            **{k: finite_or_none(v) for k, v in sorted(stats.items())},
            "eval_loss": finite_or_none(eval_loss), "eval_acc": eval_acc,
            "seconds": round(seconds, 3),
            # A space without cells (the HyperCuboid) describes its own current result.
            "genotype": (supernet.describe() if hasattr(supernet, "describe")
                         else format_cells(derive_cells(supernet, cfg.rule, cfg.max_skips))),
            "weights": {ct: [list(edge.values()) for edge in edges] for ct, edges in weights.items()},
            "candidates": {ct: [list(edge) for edge in edges] for ct, edges in weights.items()},
        }
        betas = arch_snapshot(supernet)["betas"]
        if betas:
            record["betas"] = betas
            with torch.no_grad():  # each edge's merged weight s~(i, j): what the topology plot shows
                record["edge_scales"] = {ct: supernet.edge_scales(ct).detach().float().cpu().tolist() for ct in betas}
        return record
