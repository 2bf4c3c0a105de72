"""User-facing errors.

Every error a user can cause by giving us bad input (a file, a name, a path) derives from
`ZooError`. Its message is a single line that says what is wrong, where, and how to fix it;
the CLI prints that line and exits 2 instead of showing a traceback.
"""

from __future__ import annotations

import difflib
from typing import Iterable


class ZooError(Exception):
    """Bad input from the user: one line, what/where/how to fix."""

    exit_code = 2


class GenotypeError(ZooError, ValueError):
    """A genotype file or object that does not satisfy the schema."""

    def __init__(self, where: str, field: str, problem: str, fix: str = ""):
        self.where = where
        self.field = field
        self.problem = problem
        self.fix = fix
        location = f"{where}: {field}" if field else where
        message = f"{location}: {problem}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)


class DataError(ZooError, FileNotFoundError):
    """A dataset that is missing or malformed."""


class CheckpointError(ZooError, RuntimeError):
    """A checkpoint or weights file that cannot be used."""


class OutputError(ZooError, OSError):
    """An output that cannot be written: a full disk, a read-only folder, another process's lock."""


class HubError(ZooError, ConnectionError):
    """The Hugging Face Hub cannot be reached or does not have what was asked for."""


def closest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """'did you mean ...' text for an unknown name, or a list of valid names."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "valid names: " + ", ".join(choices)
