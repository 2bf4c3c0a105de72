"""Atomic file writes, the one mechanism every room uses for its outputs: write `NAME.tmp`,
fsync, rename. A reader never sees half a file and an interrupted run leaves no partial output.

A write that fails (a full disk, a read-only or forbidden folder, Ctrl-C) removes its `NAME.tmp`,
leaves the previous `NAME` as it was, and ends as one `OutputError` line naming the path."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Iterator, Optional

from .errors import OutputError

# What an errno means for an output, and what the user can do about it.
_MEANINGS = {
    errno.ENOSPC: ("the disk is full", "free some space or write to another disk"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space or write to another disk"),
    errno.EROFS: ("the file system is read-only", "write to a writable folder"),
    errno.EACCES: ("permission denied", "write to a folder you may write to, or change its permissions"),
    errno.EPERM: ("operation not permitted", "write to a folder you may write to, or change its permissions"),
}


def output_error(path: str | Path, e: OSError) -> OutputError:
    """The one line for an OSError raised while writing `path`."""
    what, fix = _MEANINGS.get(e.errno, (e.strerror or str(e) or type(e).__name__, "check the folder, or write elsewhere"))
    code = errno.errorcode.get(e.errno or 0)
    return OutputError(f"cannot write {path}: {what}{f' ({code})' if code else ''}; {fix}; "
                       "what was there before is unchanged")


@contextlib.contextmanager
def output_errors(path: str | Path) -> Iterator[None]:
    """Turn an OSError raised inside the block (while writing `path`) into one OutputError line."""
    try:
        yield
    except OutputError:
        raise
    except OSError as e:
        raise output_error(path, e) from None


def make_dirs(path: str | Path) -> Path:
    """`mkdir -p`, with a failure as one OutputError line."""
    path = Path(path)
    with output_errors(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; a file system that cannot sync a folder is not an error."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:  # a full disk, a forbidden folder or Ctrl-C: no NAME.tmp stays behind
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    _fsync_dir(path.parent)
    return path


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """A JSON file; NaN and inf are refused (ValueError), since no JSON reader accepts them."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode("utf-8"))


def finite_json(obj: Any) -> Any:
    """`obj` (dicts, lists, numbers) with every NaN or inf float replaced by None (JSON null), for
    records where such a number is data; what must not be NaN is checked before it is recorded."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def atomic_save_figure(fig: Any, path: str | Path, format: str = "png", dpi: int = 110) -> Path:
    """Render a matplotlib figure in memory, then write it atomically (the figure stays open)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=format, dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())


class AppendFile:
    """A text file that grows by whole writes (a run's log), opened on the first one; every write
    reaches the OS at once, and a failed one is one OutputError line (earlier lines stay)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fd: Optional[int] = None

    def write(self, text: str) -> None:
        with output_errors(self.path):
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
            _write_all(self._fd, text.encode("utf-8"))

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
