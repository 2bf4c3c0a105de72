"""Cell drawings (PNG and SVG) with matplotlib, in the style of the DARTS papers' figures:
inputs c_{k-2} and c_{k-1} on the left, nodes in columns by depth, the concat output on the right,
each edge labelled with its op and coloured by op group.
"""

from __future__ import annotations

import os
from pathlib import Path

from .atomic import atomic_save_figure
from .errors import ZooError
from .genotype import NUM_CELL_INPUTS, CellType, Genotype
from .ops import get_op_set
from .paths import child_path

GROUP_COLOURS = {"skip": "#7f7f7f", "pool": "#1f77b4", "conv": "#d62728", "none": "#cccccc"}


def _layout(cell: CellType) -> dict[int | str, tuple[float, float]]:
    depth = {0: 0, 1: 0}
    for i, node in enumerate(cell.nodes):
        if node:
            depth[i + NUM_CELL_INPUTS] = 1 + max(depth[e.input] for e in node)
    columns: dict[int, list[int]] = {}
    for state, d in sorted(depth.items()):
        columns.setdefault(d, []).append(state)
    pos: dict[int | str, tuple[float, float]] = {}
    for d, states in columns.items():
        # Zig-zag the columns so an edge that skips a column does not run through its nodes.
        shift = 0.0 if d == 0 else (0.45 if d % 2 else -0.45)
        for k, state in enumerate(states):
            pos[state] = (float(d) * 2.2, 1.3 * ((len(states) - 1) / 2.0 - k) + shift)
    pos["out"] = ((max(columns) + 1) * 2.2, 0.0)
    return pos


FORMATS = ("png", "svg")


def draw_cell(g: Genotype, cell_name: str, path_stem: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Draw one cell type; writes `<stem>.<format>` for each format (PNG and SVG) and returns the paths."""
    import matplotlib  # only drawing needs it; a headless backend is chosen before pyplot loads

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cell = g.cells[cell_name]
    ops = get_op_set(g.op_set)
    pos = _layout(cell)
    width = 2.5 + 1.6 * max(x for x, _ in pos.values())
    height = 2.0 + 1.0 * (max(y for _, y in pos.values()) - min(y for _, y in pos.values()) + 1)
    fig, ax = plt.subplots(figsize=(width, height))
    for target, edge in cell.edges:
        (x0, y0), (x1, y1) = pos[edge.input], pos[target]
        colour = GROUP_COLOURS[ops.group(edge.op)]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.4, shrinkA=16, shrinkB=16,
                                    connectionstyle="arc3,rad=0.12"))
        # A third of the way along: crossing edges share a midpoint, not a third-point.
        ax.text(x0 + (x1 - x0) * 0.36, y0 + (y1 - y0) * 0.36 + 0.08, edge.op, fontsize=7, ha="center", color=colour,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    for state in cell.concat:
        (x0, y0), (x1, y1) = pos[state], pos["out"]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color="#999999", lw=0.8, ls="--", shrinkA=16, shrinkB=18))
    labels = {0: "$c_{k-2}$", 1: "$c_{k-1}$", "out": "$c_{k}$"}  # matplotlib mathtext: subscripts
    for state, (x, y) in pos.items():
        is_io = state in labels
        ax.text(x, y, labels.get(state, str(state)), ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.4", fc="#c6e5ff" if is_io else "#fff2b3", ec="black", lw=0.8))
    kind = "reduction" if cell.reduction else "normal"
    ax.set_title(f"{g.name}: {cell_name} ({kind} cell)", fontsize=10)
    xs = [x for x, _ in pos.values()]
    ys = [y for _, y in pos.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.axis("off")
    stem = Path(path_stem)
    written = [atomic_save_figure(fig, stem.with_name(f"{stem.name}.{ext}"), format=ext, dpi=150) for ext in formats]
    plt.close(fig)
    return written


def check_draw_dir(directory: str | Path) -> Path:
    """Refuse, before any work, a drawing folder that cannot be: an existing file, a place under a
    file, or a folder this user may not write to (the folder itself is created when drawing)."""
    folder = Path(directory)
    try:
        if folder.exists() and not folder.is_dir():
            raise ZooError(f"drawing to {directory}: it is a file, not a folder (give a folder for the "
                           "drawings, e.g. --draw drawings/)")
        parent = folder.absolute()
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise ZooError(f"drawing to {directory}: {parent} is a file, so the folder cannot be created "
                           "(give a folder for the drawings, e.g. --draw drawings/)")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ZooError(f"drawing to {directory}: {parent} is not writable (give a folder you may write to)")
    except OSError as e:
        raise ZooError(f"drawing to {directory}: {e.strerror or type(e).__name__} (give another folder)") from None
    return folder


def draw_genotype(g: Genotype, directory: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Every cell type of a genotype, as `<dir>/<name>_<cell>.png|svg` (a Hub folder needs PNG only)."""
    check_draw_dir(directory)
    written = []
    for cell_name in g.cells:
        # The loader already refuses such names; a Genotype built in code must not escape either.
        stem = child_path(directory, f"{g.name}_{cell_name}", f"genotype {g.name!r}, cell {cell_name!r}")
        try:
            written += draw_cell(g, cell_name, stem, formats)
        except ZooError:
            raise
        except OSError as e:
            raise ZooError(f"drawing to {directory}: cannot write {stem.name}.{'/.'.join(formats)} "
                           f"({e.strerror or type(e).__name__}); give a folder you may write to") from None
    return written
