"""Names that come from files (a checkpoint pointer, a genotype's name, a Hub config) and become
paths. Such a name is checked, never cleaned: a name that could leave its folder is refused with
the package's own error, so a crafted file can neither read nor delete anything outside it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Type

from .errors import ZooError

# A letter, digit or underscore first (no hidden files, no leading `-` that a shell reads as an
# option), then letters, digits and `_ . + -`; no separator of any platform can occur.
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$"
_NAME = re.compile(NAME_PATTERN)


def is_safe_name(name: object) -> bool:
    return isinstance(name, str) and bool(_NAME.fullmatch(name))


def child_path(folder: str | Path, name: object, where: str,
               error: Type[ZooError] = ZooError, fix: str = "") -> Path:
    """`folder / name`, provided `name` is a plain file name that stays inside `folder` even after
    symbolic links are followed; otherwise `error` naming `where`."""
    fix = fix or "a name is letters, digits and _ . + - only, with no folder part"
    if not is_safe_name(name):
        raise error(f"{where}: {str(name)[:80]!r} is not a plain file name; refusing to use it as a path ({fix})")
    folder = Path(folder)
    path = folder / str(name)
    if path.is_symlink() or (path.exists() and not path.resolve().is_relative_to(folder.resolve())):
        raise error(f"{where}: {name!r} leads outside {folder}; refusing to use it ({fix})")
    return path
