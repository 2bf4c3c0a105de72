"""The search's alpha history: one record per epoch, written as JSON and drawn as a PNG.

Each record holds the epoch's losses and accuracies and, per cell type, the softmax weight of every
candidate op on every edge together with the op names of that edge (P-DARTS prunes them between
stages, so the names travel with the weights). The plot has one panel per cell type: the mean
weight of each op over the edges that still offer it, against the epoch, with stage boundaries.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from .checkpoint import atomic_write_bytes, atomic_write_json


def finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def softmax_rows(rows: Sequence[Sequence[float]]) -> list[list[float]]:
    out = []
    for row in rows:
        m = max(row)
        e = [math.exp(v - m) for v in row]
        s = sum(e)
        out.append([v / s for v in e])
    return out


def op_means(weights: Sequence[Sequence[float]], names: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean softmax weight of each op over the edges where it is a candidate."""
    total: dict[str, float] = {}
    count: dict[str, int] = {}
    for w_row, n_row in zip(weights, names):
        for w, n in zip(w_row, n_row):
            total[n] = total.get(n, 0.0) + w
            count[n] = count.get(n, 0) + 1
    return {n: total[n] / count[n] for n in total}


def write_history(path: Path, header: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> None:
    atomic_write_json(path, {**header, "records": list(records)})


def plot_history(path: Path, records: Sequence[Mapping[str, Any]], title: str = "") -> None:
    """One panel per cell type: the mean softmax weight of each op against the epoch."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if not records:
        return
    cell_types = list(records[0]["weights"])
    fig, axes = plt.subplots(1, len(cell_types), figsize=(4.2 * len(cell_types), 3.4), squeeze=False)
    ops_order: list[str] = []
    for r in records:
        for ct in cell_types:
            for row in r["candidates"][ct]:
                for n in row:
                    if n not in ops_order:
                        ops_order.append(n)
    colors = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(ops_order)}
    xs = [r["global_epoch"] for r in records]
    boundaries = [r["global_epoch"] - 0.5 for prev, r in zip(records, records[1:])
                  if r["stage"] != prev["stage"]]
    for ax, ct in zip(axes[0], cell_types):
        series: dict[str, list[float]] = {n: [] for n in ops_order}
        for r in records:
            means = op_means(r["weights"][ct], r["candidates"][ct])
            for n in ops_order:
                series[n].append(means.get(n, float("nan")))
        for n in ops_order:
            if any(math.isfinite(v) for v in series[n]):
                ax.plot(xs, series[n], marker="o", markersize=2.5, linewidth=1.2, label=n, color=colors[n])
        for b in boundaries:
            ax.axvline(b, color="0.6", linestyle="--", linewidth=0.8)
        ax.set_title(ct)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean softmax weight")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
