"""The rooms' import rules, read from the source (so an import inside a function counts too):
the core (zoo/) imports neither zoo.search nor zoo.benchmarks, except zoo/cli.py, which gathers
every room's subcommands by name; search/ never imports zoo.benchmarks; benchmarks/ uses the
search only through its public API (`from zoo.search import ...`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Where each folder installs (pyproject.toml's package-dir).
PACKAGES = {"zoo": "zoo", "search": "zoo.search", "benchmarks": "zoo.benchmarks"}


def _imports(path: Path) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, absolute module, imported names) of every import statement in the file."""
    package = PACKAGES[path.parent.name]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            out.append((node.lineno, module, tuple(a.name for a in node.names)))
    return out


def _targets(module: str, names: tuple[str, ...]) -> list[str]:
    """The modules an import can load: `from zoo import search` loads zoo.search."""
    return [module] + [f"{module}.{n}" for n in names]


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).glob("*.py"))


@pytest.mark.parametrize("path", _files("zoo"), ids=lambda p: p.name)
def test_the_core_imports_no_room(path):
    if path.name == "cli.py":
        return
    bad = [(line, m) for line, module, names in _imports(path) for m in _targets(module, names)
           if _under(m, "zoo.search") or _under(m, "zoo.benchmarks")]
    assert not bad, f"zoo/{path.name} imports {bad}"


@pytest.mark.parametrize("path", _files("search"), ids=lambda p: p.name)
def test_search_imports_no_benchmarks(path):
    bad = [(line, m) for line, module, names in _imports(path) for m in _targets(module, names)
           if _under(m, "zoo.benchmarks")]
    assert not bad, f"search/{path.name} imports {bad}"


@pytest.mark.parametrize("path", _files("benchmarks"), ids=lambda p: p.name)
def test_benchmarks_use_the_search_public_api(path):
    import zoo.search

    bad = [(line, module, names) for line, module, names in _imports(path)
           if _under(module, "zoo.search") and (module != "zoo.search" or set(names) - set(zoo.search.__all__))]
    assert not bad, f"benchmarks/{path.name} reaches past zoo.search's public API: {bad}"


def test_importing_the_core_and_building_a_model_loads_no_other_room():
    import subprocess
    import sys

    code = ("import sys, zoo, zoo.models, zoo.hub, zoo.data, zoo.counting, zoo.checkpoint, zoo.runtime, "
            "zoo.draw, zoo.commands, zoo.schedules, timm\n"
            "timm.create_model('pdarts_3b')\n"
            "print(sorted(m for m in sys.modules if m.startswith(('zoo.search', 'zoo.benchmarks'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout
