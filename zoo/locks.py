"""One writer per output: a search's genotype file (and the files beside it) or a training run's
folder is written by one darts-zoo process at a time.

    with output_lock(out):          # OutputError at once if another process holds it
        ...write out and its companions...

The lock is `<path>.lock` beside the output, held with the OS's file lock (`filelock`), so a
process that dies (even by SIGKILL) releases it and the next run need not clean anything up. The
lock file itself stays (deleting it would let two processes lock two different files of one name).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from .atomic import make_dirs, output_error
from .errors import OutputError


def lock_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def output_lock(path: str | Path) -> Iterator[Path]:
    """Hold `<path>.lock` for the block, without waiting: if another process holds it, raise one
    OutputError line naming the output and the lock. Yields the lock file's path."""
    path = Path(path)
    lock_file = lock_path(path)
    make_dirs(lock_file.parent)
    lock = FileLock(str(lock_file), timeout=0)
    try:
        lock.acquire()
    except Timeout:  # a TimeoutError, so an OSError: caught before the others
        raise OutputError(f"another darts-zoo process is writing {path} (lock {lock_file}); wait for it to "
                          "finish, or write elsewhere (another --out)") from None
    except OSError as e:  # a read-only or forbidden folder
        raise output_error(lock_file, e) from None
    try:
        yield lock_file
    finally:
        lock.release()
