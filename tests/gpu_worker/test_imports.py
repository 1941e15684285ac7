"""The worker's import graph, read from the source with `ast` (nothing is imported to read it).

Every `import gpu_worker.x` counts, also one inside a function: a lazy import is still a
dependency. No worker module imports `gpu_worker.cli` (it is the command line's entry, not a
library), no cycle remains, and the command line's modules load without torch or vLLM.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "gpu_worker"
HEAVY = ("torch", "vllm", "transformers")


def worker_imports(path: Path, top_level_only: bool = False) -> set[str]:
    """The `gpu_worker` modules that the module at `path` imports anywhere in its body (or
    in its top-level statements only)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from gpu_worker import train` imports the module gpu_worker.train
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    modules = {f"gpu_worker.{p.stem}" for p in PACKAGE.glob("*.py")}
    return {name for name in found if name in modules}


def import_graph() -> dict[str, set[str]]:
    return {
        f"gpu_worker.{path.stem}": worker_imports(path) - {f"gpu_worker.{path.stem}"}
        for path in sorted(PACKAGE.glob("*.py"))
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path `a -> b -> ... -> a`, or None (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the stack, "done" after

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [node])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [])):
            return cycle
    return None


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_worker_module_imports_the_command_line() -> None:
    graph = import_graph()
    assert "gpu_worker.train" in graph and "gpu_worker.config" in graph  # the walk saw them
    importers = sorted(module for module, imports in graph.items() if "gpu_worker.cli" in imports)
    assert importers == []


def test_no_import_cycle_in_the_worker() -> None:
    assert find_cycle(import_graph()) is None


def test_config_and_cli_import_only_the_light_worker_modules() -> None:
    assert worker_imports(PACKAGE / "config.py") == set()
    # the modules that do the work are imported inside the handlers...
    assert worker_imports(PACKAGE / "cli.py", top_level_only=True) == {"gpu_worker.config"}
    assert "gpu_worker.train" in worker_imports(PACKAGE / "cli.py")
    code = (
        "import sys, gpu_worker.cli, gpu_worker.config\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"  # ...and loading them pulls in no torch/vLLM/transformers
