"""The import graph of ``jaxmarket`` and ``training``: no cycles, and every import runs down the
layers (``core`` ← ``lob`` ← ``background``, ``data``; ``otc`` ← ``envs`` ← ``baselines``, ``interop`` ←
``training.learners`` ← ``training.tasks`` ← ``training.cli``), imports inside functions included.

The graph is read from the source with ``ast`` (nothing is imported): an edge runs from a module
to each module it names in an ``import`` or ``from ... import`` statement, to ``package.name``
where that is a module and to the package otherwise.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("jaxmarket", "training")

# Layer of each package prefix (the longest prefix applies); an import may not go to a higher layer,
# nor across packages of one layer.
LAYERS = {
    "jaxmarket.core": 0,
    "jaxmarket.lob": 1,
    "jaxmarket.background": 2,
    "jaxmarket.data": 2,
    "jaxmarket.otc": 2,
    "jaxmarket.envs": 3,
    "jaxmarket.baselines": 4,
    "jaxmarket.interop": 4,
    "jaxmarket": 5,  # the package root re-exports the public API
    "training.learners": 6,
    "training.plotting": 6,
    "training.tasks": 7,
    "training.cli": 8,
    "training": 8,
}


def module_files() -> dict[str, Path]:
    """Every module of the two packages, by dotted name (a package by its ``__init__``)."""
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                child = f"{source}.{alias.name}"
                found.add(child if child in modules else source)
    return {m for m in found if m in modules and m != name}


def layer(module: str) -> tuple[int, str]:
    """``(layer, prefix)`` of the longest matching prefix in ``LAYERS``."""
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix], prefix
    raise KeyError(module)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_the_graph_is_read(graph):
    """The reader finds known edges (so an empty graph cannot pass the tests below)."""
    assert "jaxmarket.lob.book" in graph["jaxmarket.lob.matching"]
    assert "jaxmarket.background.agents" in graph["jaxmarket.background.market"]
    assert "training.learners.ppo" in graph["training.learners.mappo"]
    assert len(graph) > 60


def test_no_import_runs_up_the_layers(graph):
    wrong = []
    for module, targets in graph.items():
        own, own_prefix = layer(module)
        for target in targets:
            other, other_prefix = layer(target)
            if other > own or (other == own and other_prefix != own_prefix):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_catch_a_cycle_and_an_upward_import():
    """The two checks fail on a graph that has what they forbid."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer("jaxmarket.envs.otc_lp") > layer("jaxmarket.otc.dealer")
    assert layer("jaxmarket.baselines.dealer")[0] == LAYERS["jaxmarket.baselines"]
