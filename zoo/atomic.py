"""Atomic file writes, the one mechanism every room uses for its outputs: write `NAME.tmp`,
fsync, rename. A reader never sees half a file and an interrupted run leaves no partial output."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode("utf-8"))


def atomic_save_figure(fig: Any, path: str | Path, format: str = "png", dpi: int = 110) -> Path:
    """Render a matplotlib figure in memory, then write it atomically (the figure stays open)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=format, dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())
