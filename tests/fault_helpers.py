"""Fault injection on the one write path (zoo.atomic): its `os` replaced by one whose k-th call of
an operation (os.write, os.replace, or os.open of a file for writing) and every later one raise
OSError(code), as a disk that filled up or a folder that became read-only would."""

import errno
import json
import os
from pathlib import Path

import zoo.atomic

# A full disk, a full quota, a read-only file system, a folder this user may not write to.
CODES = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)
OPS = ("write", "replace", "open")


class FailingOS:
    """`os` for zoo.atomic; with k=None it only counts the calls of each operation."""

    def __init__(self, op=None, k=None, code=errno.ENOSPC):
        self.op, self.k, self.code = op, k, code
        self.calls = {name: 0 for name in OPS}
        self.fired = 0

    def __getattr__(self, name):
        return getattr(os, name)

    def _call(self, op, fn, *args):
        self.calls[op] += 1
        if op == self.op and self.k is not None and self.calls[op] >= self.k:
            self.fired += 1
            raise OSError(self.code, os.strerror(self.code))
        return fn(*args)

    def write(self, fd, data):
        return self._call("write", os.write, fd, data)

    def replace(self, src, dst):
        return self._call("replace", os.replace, src, dst)

    def open(self, path, flags, mode=0o777):
        if not flags & os.O_WRONLY:  # the folder opened to fsync a rename is not a write
            return os.open(path, flags, mode)
        return self._call("open", os.open, path, flags, mode)


def inject(monkeypatch, op=None, k=None, code=errno.ENOSPC) -> FailingOS:
    fake = FailingOS(op, k, code)
    monkeypatch.setattr(zoo.atomic, "os", fake)
    return fake


def leftovers(root) -> list:
    return sorted(str(p) for p in Path(root).rglob("*.tmp"))


def strict_json(path):
    """Parse a JSON file, refusing NaN and Infinity (which json.loads would accept)."""
    def refuse(token):
        raise AssertionError(f"{path} holds {token}")

    return json.loads(Path(path).read_text(), parse_constant=refuse)
