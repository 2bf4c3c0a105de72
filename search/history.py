"""The search's alpha history: one record per epoch, written as JSON and drawn as a PNG.

Each record holds the epoch's losses and accuracies and, per cell type, the softmax weight of every
candidate op on every edge together with the op names of that edge (P-DARTS prunes them between
stages, so the names travel with the weights). The plot has one panel per cell type: the mean
weight of each op over the edges that still offer it, against the epoch, with stage boundaries.
Weights are drawn relative to uniform (times the edge's number of candidates), so pruning between
P-DARTS stages does not swamp the differences within a stage.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..atomic import atomic_save_figure, atomic_write_json


def finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def op_means(weights: Sequence[Sequence[float]], names: Sequence[Sequence[str]],
             relative: bool = False) -> dict[str, float]:
    """Mean softmax weight of each op over the edges where it is a candidate; `relative` scales
    each weight by its edge's number of candidates, so 1 means 'as likely as uniform' whatever
    P-DARTS has pruned the edge to."""
    total: dict[str, float] = {}
    count: dict[str, int] = {}
    for w_row, n_row in zip(weights, names):
        scale = len(n_row) if relative else 1
        for w, n in zip(w_row, n_row):
            total[n] = total.get(n, 0.0) + w * scale
            count[n] = count.get(n, 0) + 1
    return {n: total[n] / count[n] for n in total}


def write_history(path: Path, header: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> None:
    atomic_write_json(path, {**header, "records": list(records)})


def plot_history(path: Path, records: Sequence[Mapping[str, Any]], title: str = "") -> None:
    """One panel per cell type: each op's mean softmax weight relative to uniform against the
    epoch; lines break at P-DARTS stage boundaries, where the candidates are pruned."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if not records:
        return
    cell_types = list(records[0]["weights"])
    ncols = min(len(cell_types), 2)
    nrows = -(-len(cell_types) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(cell_types):]:
        ax.set_visible(False)
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
    for ax, ct in zip(axes.flat, cell_types):
        series: dict[str, list[float]] = {n: [] for n in ops_order}
        px: list[float] = []
        for i, r in enumerate(records):
            if i and r["stage"] != records[i - 1]["stage"]:
                px.append(r["global_epoch"] - 0.5)  # a gap: no line across the pruning
                for n in ops_order:
                    series[n].append(float("nan"))
            px.append(xs[i])
            means = op_means(r["weights"][ct], r["candidates"][ct], relative=True)
            for n in ops_order:
                series[n].append(means.get(n, float("nan")))
        for n in ops_order:
            if any(math.isfinite(v) for v in series[n]):
                ax.plot(px, series[n], marker="o", markersize=2.5, linewidth=1.2, label=n, color=colors[n])
        ax.axhline(1.0, color="0.3", linewidth=0.6)
        for b in boundaries:
            ax.axvline(b, color="0.6", linestyle="--", linewidth=0.8)
        ax.set_title(ct)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("softmax weight x ops per edge\n(mean over edges; 1 = uniform)", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0][ncols - 1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=110)
    plt.close(fig)


def plot_topology(path: Path, records: Sequence[Mapping[str, Any]], title: str = "") -> None:
    """Searches with betas: one panel per cell type, each edge's weight from the betas against the
    epoch, so one sees the topology settle: kept edges rise, dropped ones fall towards 0. Stretchable
    cells: the merged weight s~(i, j) (eq. 13: 1 under a uniform topology); PC-DARTS: the edge
    normalization's softmax over the node's inputs."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    records = [r for r in records if "edge_scales" in r]
    if not records:
        return
    cell_types = list(records[0]["edge_scales"])
    fig, axes = plt.subplots(1, len(cell_types), figsize=(4.6 * len(cell_types), 3.4), squeeze=False)
    xs = [r["global_epoch"] for r in records]
    for ax, ct in zip(axes[0], cell_types):
        edges = len(records[0]["edge_scales"][ct])
        for e in range(edges):
            ax.plot(xs, [r["edge_scales"][ct][e] for r in records], linewidth=1.0, marker="o", markersize=2)
        ax.set_title(f"{ct}: {edges} edges")
        ax.set_xlabel("epoch")
        ax.set_ylabel("edge weight from the betas\n(stretchable s~(i, j): 1 = uniform;\n"
                      "edge normalization: softmax over a node's inputs)", fontsize=7)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=110)
    plt.close(fig)


def plot_hypercuboid(path: Path, grid: Any, layers_per_epoch: Sequence[Sequence[Any]], epochs: Sequence[int],
                     chosen: Any, title: str = "") -> None:
    """The HyperCuboid search (sharpDARTS sec. 4.1): top row, one heatmap per grid layer of the final
    softmax weights (rows: input channels; columns: output channels x primitive), the chosen path's
    entry boxed; bottom row, per layer against the epoch, the total weight of each output channel
    choice (solid) and of each primitive (dashed), times the number of choices (1 = uniform)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import MaxNLocator

    if not layers_per_epoch:
        return
    n, _, n_prim = grid.shape
    final = [w.detach().double().numpy() if hasattr(w, "detach") else w for w in layers_per_epoch[-1]]
    cols = grid.layers
    fig, axes = plt.subplots(2, cols, figsize=(max(3.0, 1.1 + 0.45 * n * n_prim) * cols, 6.4), squeeze=False)
    # Relative to uniform (times the layer's number of entries), centred at 1: early in a search the
    # weights differ in the third decimal, which an absolute scale from 0 would hide.
    entries = n * n * n_prim
    low = min(min(float(w.min()) * entries for w in final), 1.0 - 1e-6)
    high = max(max(float(w.max()) * entries for w in final), 1.0 + 1e-6)
    norm = TwoSlopeNorm(vcenter=1.0, vmin=low, vmax=high)  # white = uniform, whatever the range
    image = None
    for t, (ax, w) in enumerate(zip(axes[0], final)):
        flat = w.reshape(n, n * n_prim) * entries
        image = ax.imshow(flat, cmap="RdBu_r", norm=norm, aspect="auto")
        step = chosen.steps[t]
        ax.add_patch(Rectangle((step.c_out * n_prim + step.primitive - 0.5, step.c_in - 0.5), 1, 1, fill=False,
                               edgecolor="red", linewidth=2.0))
        ax.set_xticks(range(n * n_prim))
        ax.set_xticklabels([f"{grid.channels[j]}\n{grid.primitives[p].split('_')[0]}"
                            for j in range(n) for p in range(n_prim)], fontsize=6)
        ax.set_yticks(range(n))
        ax.set_yticklabels([str(c) for c in grid.channels], fontsize=7)
        for j in range(1, n):
            ax.axvline(j * n_prim - 0.5, color="white", linewidth=0.8)
        ax.set_title(f"layer {t + 1} ({grid.kinds[t]})", fontsize=9)
        ax.set_xlabel("c_out / primitive", fontsize=7)
        if t == 0:
            ax.set_ylabel("c_in", fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=list(axes[0]), fraction=0.02, pad=0.01, label="weight x entries\n(1 = uniform)")
    colors = [plt.get_cmap("tab10")(k % 10) for k in range(max(n, n_prim))]
    for t, ax in enumerate(axes[1]):
        series = [w[t].detach().double().numpy() if hasattr(w[t], "detach") else w[t] for w in layers_per_epoch]
        for j in range(n):
            ax.plot(epochs, [float(s[:, j, :].sum()) * n for s in series], color=colors[j], linewidth=1.2,
                    marker="o", markersize=2, label=f"c_out {grid.channels[j]}")
        for p in range(n_prim):
            ax.plot(epochs, [float(s[:, :, p].sum()) * n_prim for s in series], color=colors[p], linewidth=1.0,
                    linestyle="--", label=grid.primitives[p])
        ax.axhline(1.0, color="0.3", linewidth=0.6)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.set_xlabel("epoch", fontsize=8)
        if t == 0:
            ax.set_ylabel("total weight x choices\n(1 = uniform)", fontsize=8)
        ax.grid(alpha=0.3)
    axes[1][-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle((title + "\n" if title else "") + "boxed: the best path's entry per layer", fontsize=9)
    atomic_save_figure(fig, path, dpi=110)
    plt.close(fig)
