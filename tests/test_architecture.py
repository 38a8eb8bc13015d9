"""The house rules, read from the source: walls between wings, no import circles, small modules.

Every ``import``/``from … import`` of ``runner`` or ``steps`` (at any depth, lazy
imports inside functions included, ``TYPE_CHECKING`` ones too) is an arrow of
the graph checked here.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("runner", "steps")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            mods[name] = path
    return mods


def _imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports, resolved to module names."""
    out: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[:len(pkg) - node.level + 1]
                base = ".".join([*pkg, base] if base else pkg)
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and not name.startswith(t + "."):
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(path, name, known) for name, path in known.items()}


def test_no_import_circles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_steps_never_import_the_engine() -> None:
    bad = {(m, t) for m, ts in _graph().items() if m.startswith("steps")
           for t in ts if t.startswith("runner")}
    assert not bad, f"steps importing runner: {sorted(bad)}"


def test_only_report_imports_rich() -> None:
    bad = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(m == "rich" or m.startswith("rich.") for m in mods) and \
                    not name.startswith("runner.report"):
                bad.append(name)
    assert not bad, f"rich imported outside runner/report/: {sorted(set(bad))}"


def test_execute_knows_no_pillow_and_no_yaml() -> None:
    bad = []
    for name, path in _modules().items():
        if not name.startswith("runner.execute"):
            continue
        text = path.read_text()
        for word in ("PIL", "yaml", "steps.image"):
            if word in text:
                bad.append(f"{name} mentions {word}")
    assert not bad, "\n".join(bad)


def test_modules_stay_small() -> None:
    big = {name: n for name, path in _modules().items()
           if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_the_graph_is_read_right() -> None:
    """The checker itself: it must see the arrows that are surely there."""
    graph = _graph()
    assert "runner.compile.build" in graph["runner.api"]
    assert "steps.registry" in graph["runner.execute.chain"]
    assert "runner.errors" in graph["runner.compile.load"]
