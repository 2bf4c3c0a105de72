"""`darts-zoo`: list and show the zoo (zoo.commands); search, train, evaluate and benchmark it
(added by zoo.search and zoo.benchmarks through their own `register(subparsers)` functions).

Every user mistake (a bad genotype file, a missing dataset, no network) ends as one line on
stderr and exit code 2; see zoo.errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, Optional, Sequence

from .errors import ZooError
from . import __version__

# Rooms that add subcommands: each module has `register(subparsers)`.
SUBCOMMAND_MODULES = ("zoo.commands", "zoo.search.cli", "zoo.benchmarks.cli")


class _OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line with a pointer to --help, not argparse's full usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:

    parser = _OneLineParser(
        prog="darts-zoo",
        description="DARTS-family cells as exact, trainable timm models; search and benchmark them.",
    )
    parser.add_argument("--version", action="version", version=f"darts-zoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Optional[Callable[[argparse.Namespace], int]] = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return int(handler(args) or 0)
    except ZooError as e:
        print(f"darts-zoo: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("darts-zoo: interrupted; rerun with --resume to continue from the last checkpoint",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
