"""The dependency rules of docs/architecture.md, read from the source with ``ast``.

Nothing is imported to read the graph. Every import counts, also one inside a function or
under ``TYPE_CHECKING``: a lazy import is still a dependency. Relative imports are resolved.
The rules:

* ``service/curricula`` (the strategy math) imports only numpy, the standard library and
  itself;
* ``service`` imports neither ``trainer_client`` nor ``gpu_worker``; ``trainer_client``
  imports neither ``service`` nor ``gpu_worker``; ``gpu_worker`` reaches the service only
  through ``trainer_client`` (it imports no ``service`` module);
* ``service/db`` is below the domain: it imports no ``service.domain``, ``service.api`` or
  ``service.curricula``; ``service/domain`` imports no ``service.api`` and no FastAPI;
* routes are thin: ``service/api/routes`` imports neither ``service.db`` nor
  ``service.curricula`` (storage and strategies are reached through the domain);
* no import cycle among the modules of ``service`` or of ``trainer_client``.

The worker's own graph (no cycle, nothing imports its command line) is checked by
``tests/gpu_worker/test_imports.py``, whose cycle finder this module reuses; that serving
imports no torch, vLLM or transformers is checked in a subprocess by ``tests/service/test_cli.py``.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from tests.gpu_worker.test_imports import find_cycle

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, name: str | None = None) -> set[str]:
    """Every module name the file at ``path`` imports, absolute; for ``from a import b`` both
    ``a`` and ``a.b`` (``b`` may be a module). ``name``: the module's name, when ``path`` is
    not inside the tree (relative imports resolve from it)."""
    found: set[str] = set()
    for source, names in import_statements(path, name):
        found.add(source)
        found.update(f"{source}.{alias}" for alias in names)
    return found


def import_statements(path: Path, name: str | None = None) -> list[tuple[str, list[str]]]:
    """``(module, names)`` per import: ``import a.b`` is ``("a.b", [])``, ``from .c import d``
    in package ``p`` is ``("p.c", ["d"])``."""
    me = name or module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    statements: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            statements.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: go up level - 1 packages from this one
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            statements.append((source, [alias.name for alias in node.names]))
    return statements


def modules(top: str) -> dict[str, Path]:
    return {module_name(path): path for path in sorted((ROOT / top).rglob("*.py"))}


def tops(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def import_graph(top: str) -> dict[str, set[str]]:
    """Module -> the modules of the same top package it depends on at import time.

    ``from p import m`` depends on the module ``p.m`` when there is one (importing it runs
    ``p/__init__`` first whatever the importer, so that is no edge), else on ``p`` itself
    (a name defined in, or re-exported by, ``p/__init__``).
    """
    own = modules(top)
    graph: dict[str, set[str]] = {}
    for name, path in own.items():
        edges: set[str] = set()
        for source, names in import_statements(path):
            submodules = {f"{source}.{alias}" for alias in names} & own.keys()
            edges |= submodules
            if len(submodules) < len(names) or not names:
                edges.add(source)
        graph[name] = (edges & own.keys()) - {name}
    return graph


def violations(top: str, rule: object) -> dict[str, list[str]]:
    """Per module under ``top`` (a folder), the imports that ``rule(name)`` refuses."""
    refused: dict[str, list[str]] = {}
    for name, path in modules(top).items():
        bad = sorted(n for n in imported_names(path) if not rule(n))  # type: ignore[operator]
        if bad:
            refused[name] = bad
    return refused


def under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_import_reader_sees_lazy_relative_and_type_checking_imports(tmp_path: Path) -> None:
    assert "numpy" in imported_names(ROOT / "service" / "curricula" / "base.py")
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import torch\n"
        "def f():\n    from service.db import models\n"
        "from . import sec\nfrom ..domain import runs\n"
    )
    names = imported_names(planted, "service.curricula.planted")
    assert {"torch", "service.db.models", "service.curricula.sec", "service.domain.runs"} <= names
    refused = {n for n in names if not (tops({n}) <= STDLIB | {"numpy"})}
    assert refused - {"service", "service.db", "service.domain"} == {
        "torch", "service.db.models", "service.curricula", "service.curricula.sec",
        "service.domain.runs",
    }  # fmt: skip


def test_strategy_math_imports_only_numpy_the_standard_library_and_itself() -> None:
    assert len(modules("service/curricula")) >= 15  # the walk saw the strategies
    refused = violations(
        "service/curricula",
        lambda n: tops({n}) <= STDLIB | {"numpy"} or under(n, "service.curricula"),
    )
    assert refused == {}


@pytest.mark.parametrize(
    ("top", "forbidden"),
    [
        ("service", ("trainer_client", "gpu_worker")),
        ("trainer_client", ("service", "gpu_worker")),
        ("gpu_worker", ("service",)),
    ],
)
def test_packages_keep_to_their_side_of_the_wire(top: str, forbidden: tuple[str, ...]) -> None:
    assert modules(top)  # the walk saw the package
    assert violations(top, lambda n: not under(n, *forbidden)) == {}


def test_storage_sits_below_the_domain_and_the_domain_below_the_api() -> None:
    assert (
        violations(
            "service/db",
            lambda n: not under(n, "service.domain", "service.api", "service.curricula"),
        )
        == {}
    )
    assert violations("service/domain", lambda n: not under(n, "service.api", "fastapi")) == {}


def test_routes_reach_storage_and_strategies_only_through_the_domain() -> None:
    assert "service.api.routes.runs" in modules("service/api/routes")
    assert (
        violations("service/api/routes", lambda n: not under(n, "service.db", "service.curricula"))
        == {}
    )


@pytest.mark.parametrize(
    ("top", "edge"),
    [
        ("service", ("service.domain.reports", "service.domain.locking")),
        ("trainer_client", ("trainer_client.client", "trainer_client._core")),
    ],
)
def test_no_import_cycle(top: str, edge: tuple[str, str]) -> None:
    graph = import_graph(top)
    importer, imported = edge
    assert imported in graph[importer]  # the walk sees the package's edges
    assert find_cycle(graph) is None


# --- the page itself stays true -------------------------------------------------------------

ARCHITECTURE = ROOT / "docs" / "architecture.md"
_NAMED_PATH = re.compile(
    r"`((?:service|trainer_client|gpu_worker|tests|docs)/[\w./-]+)(?:::(\w+))?`"
)


def test_every_file_and_function_the_architecture_page_names_exists() -> None:
    named = _NAMED_PATH.findall(ARCHITECTURE.read_text(encoding="utf-8"))
    assert len(named) >= 40  # the pattern sees the page's references
    missing = [path for path, _ in named if not (ROOT / path).exists()]
    assert missing == []
    for path, symbol in named:
        if symbol:
            text = (ROOT / path).read_text(encoding="utf-8")
            assert re.search(rf"^\s*(def|class) {symbol}\b|^{symbol} = ", text, re.M), (
                f"{path}::{symbol}"
            )


def test_nothing_cites_a_file_outside_the_repository() -> None:
    # spelled in pieces so that this file does not cite them itself
    outside = ["DESIGN" + ".md", "../" + "shared", "STYLE" + ".md", "ANCH" + "ORS"]
    suffixes = {
        ".py",
        ".md",
        ".toml",
        ".yml",
        ".yaml",
        ".ini",
        ".cfg",
        ".sh",
        ".txt",
        ".js",
        ".html",
    }
    skip = {"node_modules", "__pycache__", "zpd.egg-info", "runs"}
    citing = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(p.startswith(".") or p in skip for p in parts[:-1]) or not path.is_file():
            continue
        if path.suffix in suffixes or path.name in {"Makefile", "Dockerfile", "Dockerfile.worker"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            citing += [f"{path.relative_to(ROOT)}: {o}" for o in outside if o in text]
    assert citing == []
