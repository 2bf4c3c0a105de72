"""Property tests: mutated genotype files either load (and then build and run, or are refused by
the build's own checks) or are refused with the package's one-line error. Never another exception,
never a hang.

The mutations start from every shipped genotype file: values replaced by other types, keys deleted
or added, op names and inputs replaced, nodes duplicated, huge numbers, nested structures (through
the dict API and through a written YAML file), and raw text mutations of the YAML (byte flips,
truncation, inserted YAML syntax: anchors, aliases, tags, brackets).
"""

import copy
import random
import string
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zoo
from zoo.errors import ZooError

SHIPPED = {name: (zoo.genotype_dir() / f"{name}.yaml").read_text() for name in zoo.ZOO_NAMES}
DOCS = {name: yaml.safe_load(text) for name, text in SHIPPED.items()}
OP_NAMES = sorted({op for name in ("darts", "sharp", "thesis") for op in zoo.get_op_set(name).names})

FUZZ = settings(deadline=timedelta(seconds=10), database=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HUGE = [10 ** 18, 2 ** 62, -(2 ** 62), 2 ** 63 - 1, 10 ** 30, -(10 ** 30), 2 ** 63, -(2 ** 63) - 1, 10 ** 4000, 1e308, -1e308]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-3, 12), st.sampled_from(HUGE),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.text(string.printable, min_size=130, max_size=200), st.sampled_from(OP_NAMES + ["none", "", "normal", "reduce"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8) | st.integers(-2, 9), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def one_line(e: ZooError) -> None:
    text = str(e)
    assert text and "\n" not in text and "\r" not in text, repr(text)
    assert len(text) < 1000, text


def outcome(load) -> str:
    """'refused' (one ZooError line) or 'built' (then it ran). Any other exception fails the test."""
    try:
        g = load()
    except ZooError as e:
        one_line(e)
        return "refused"
    try:
        model = zoo.create_model(g, layers=3, channels=4)
    except ZooError as e:
        one_line(e)
        return "refused at build"
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 16, 16))
    assert out.shape == (1, 10)
    return "built"


# --------------------------------------------------------------------------- dict mutations
def paths(doc, prefix=()):
    """Every path (keys and indices) into a document, the root excluded."""
    out = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        out.append(prefix + (key,))
        out.extend(paths(value, prefix + (key,)))
    return out


def edge_paths(doc):
    """Paths to every edge, op and input of every cell."""
    out = []
    cells = doc.get("cells") if isinstance(doc, dict) else None
    for cname, cell in (cells.items() if isinstance(cells, dict) else ()):
        nodes = cell.get("nodes") if isinstance(cell, dict) else None
        for i, node in enumerate(nodes if isinstance(nodes, list) else ()):
            for k, edge in enumerate(node if isinstance(node, list) else ()):
                base = ("cells", cname, "nodes", i, k)
                out += [base] + ([base + (0,), base + (1,)] if isinstance(edge, list) and len(edge) == 2 else [])
    return out


def parent_of(doc, path):
    for key in path[:-1]:
        doc = doc[key]
    return doc


MUTATIONS = ("replace", "delete", "add_key", "duplicate", "op", "input", "nest")


def mutate(data, doc) -> None:
    targets = paths(doc)
    edges = edge_paths(doc)
    if not targets:
        return
    kind = data.draw(st.sampled_from(MUTATIONS))
    pool = edges if kind in ("op", "input") and edges else targets
    path = data.draw(st.sampled_from(pool))
    parent, key = parent_of(doc, path), path[-1]
    if kind == "replace":
        parent[key] = data.draw(values)
    elif kind == "delete":
        del parent[key]
    elif kind == "add_key":
        target = parent[key] if isinstance(parent[key], dict) else parent if isinstance(parent, dict) else doc
        target[data.draw(st.text(min_size=1, max_size=10) | st.integers())] = data.draw(values)
    elif kind == "duplicate":
        container = parent if isinstance(parent, list) else parent[key] if isinstance(parent[key], list) else None
        if container:
            item = container[data.draw(st.integers(0, len(container) - 1))]
            container.extend(copy.deepcopy(item) for _ in range(data.draw(st.sampled_from([1, 2, 70]))))
    elif kind == "op":
        edge = parent_of(doc, path + (0,)) if len(path) == 5 else parent
        if isinstance(edge, list) and edge:
            edge[0] = data.draw(st.text(max_size=20) | st.sampled_from(OP_NAMES))
    elif kind == "input":
        edge = parent_of(doc, path + (0,)) if len(path) == 5 else parent
        if isinstance(edge, list) and len(edge) > 1:
            edge[1] = data.draw(st.integers(-5, 12) | st.sampled_from(HUGE))
    elif kind == "nest":
        parent[key] = [[[[parent[key]]]]] if data.draw(st.booleans()) else {"x": {"y": parent[key]}}


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_mutated_dicts_through_genotype_from_dict(data):
    doc = copy.deepcopy(DOCS[data.draw(st.sampled_from(zoo.ZOO_NAMES))])
    for _ in range(data.draw(st.integers(1, 3))):
        mutate(data, doc)
    outcome(lambda: zoo.genotype_from_dict(doc, where="<fuzz>"))


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_mutated_dicts_written_as_files(data, workdir):
    doc = copy.deepcopy(DOCS[data.draw(st.sampled_from(zoo.ZOO_NAMES))])
    for _ in range(data.draw(st.integers(1, 3))):
        mutate(data, doc)
    path = workdir / "dict.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    outcome(lambda: zoo.load_genotype(path))


@settings(FUZZ, max_examples=80)
@given(data=st.data())
def test_rewired_cells_build_or_are_refused(data):
    """Mutations that keep the file's shape (ops of the op set, inputs near the valid range, nodes
    and edges duplicated or removed, concat and reduction flags changed), so that most results
    pass the validator and reach the compiler: a validated genotype must build and run."""
    name = data.draw(st.sampled_from(zoo.ZOO_NAMES))
    doc = copy.deepcopy(DOCS[name])
    ops = [op for op in zoo.get_op_set(doc.get("op_set", "darts")).names if op != "none"]
    cell = doc["cells"][data.draw(st.sampled_from(sorted(doc["cells"])))]
    nodes = cell["nodes"]
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(("op", "input", "dup_node", "dup_edge", "drop_edge", "concat", "flip")))
        i = data.draw(st.integers(0, len(nodes) - 1))
        node = nodes[i] or []
        if kind == "op" and node:
            node[data.draw(st.integers(0, len(node) - 1))][0] = data.draw(st.sampled_from(ops))
        elif kind == "input" and node:
            node[data.draw(st.integers(0, len(node) - 1))][1] = data.draw(st.integers(-1, i + 2))
        elif kind == "dup_node":
            nodes.append(copy.deepcopy(node))
        elif kind == "dup_edge" and node:
            node.append(list(node[0]))
        elif kind == "drop_edge" and node:
            node.pop()
        elif kind == "concat":
            cell["concat"] = data.draw(st.lists(st.integers(0, len(nodes) + 2), max_size=5))
        elif kind == "flip":
            cell["reduction"] = not cell.get("reduction", False)
    outcome(lambda: zoo.genotype_from_dict(doc, where="<fuzz>"))


# --------------------------------------------------------------------------- text mutations
YAML_BITS = ["[", "]", "{", "}", ":", ",", "-", "&a ", "*a", "&b [*a, *a]", "!!binary ", "!!str ", "!!int ",
             "!!python/object:os.system ", "<<: *a", "? ", "|", ">", "'", '"', "#", "%YAML 1.1\n", "---\n",
             "...\n", "\t", "\n", "  ", "~", "2001-13-45", "1" * 5000, ".nan", "-.inf", "0x1F", "0o17",
             "1:20:30", "\x00", "\x85", "\ufeff", "é", "\U0001F600"]


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_mutated_yaml_text(data, workdir):
    text = SHIPPED[data.draw(st.sampled_from(zoo.ZOO_NAMES))].encode("utf-8")
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(("flip", "truncate", "insert", "delete", "dup_line", "swap_lines")))
        pos = data.draw(st.integers(0, max(len(text) - 1, 0)))
        if kind == "flip" and text:
            text = text[:pos] + bytes([text[pos] ^ (1 << data.draw(st.integers(0, 7)))]) + text[pos + 1:]
        elif kind == "truncate":
            text = text[:pos]
        elif kind == "insert":
            bit = data.draw(st.sampled_from(YAML_BITS) | st.text(max_size=6)).encode("utf-8")
            text = text[:pos] + bit + text[pos:]
        elif kind == "delete":
            text = text[:pos] + text[pos + data.draw(st.integers(1, 40)):]
        else:
            lines = text.split(b"\n")
            i, j = (data.draw(st.integers(0, len(lines) - 1)) for _ in range(2))
            if kind == "dup_line":
                lines[i:i] = [lines[j]] * data.draw(st.sampled_from([1, 3, 80]))
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = b"\n".join(lines)
    path = workdir / "text.yaml"
    path.write_bytes(text)
    outcome(lambda: zoo.load_genotype(path))


# --------------------------------------------------------------------------- whole generated documents
@settings(FUZZ, max_examples=60)
@given(doc=st.dictionaries(st.sampled_from(["name", "cells", "stages", "op_set", "op_options", "presets",
                                            "provenance", "reference", "schema", "title", "search"]),
                           values, max_size=6),
       seed=st.integers(0, 2 ** 16))
def test_generated_documents(doc, seed, workdir):
    """Arbitrary values under the real field names, merged into a shipped genotype (so that some
    reach deep checks), through both the dict API and a file."""
    base = copy.deepcopy(DOCS[random.Random(seed).choice(zoo.ZOO_NAMES)])
    base.update(doc)
    outcome(lambda: zoo.genotype_from_dict(base, where="<fuzz>"))
    path = workdir / "generated.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    outcome(lambda: zoo.load_genotype(path))
