"""The house rules, read from the source: walls between wings, no import circles, small modules.

Every ``import``/``from … import`` of ``runner`` or ``steps`` (at any depth, lazy
imports inside functions included, ``TYPE_CHECKING`` ones too) is an arrow of
the graph checked here; names taken from a package's ``__init__`` point at it. The
checker is tested too, on small packages with a circle planted in each.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("runner", "steps")
MAX_LINES = 400


def _modules(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    mods = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            mods[name] = path
    return mods


def _imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports, resolved to module names.

    ``import a.b`` and ``from a import b`` (b a module) are arrows to ``a.b``; a
    package that is only passed through on the way is not an arrow (Python imports
    it first anyway). ``from a import name`` (name defined in ``a/__init__.py``) is an
    arrow to ``a``, even from inside ``a``: that is how a circle through a package's
    ``__init__`` forms.
    """
    out: set[str] = set()
    is_pkg = path.name == "__init__.py"

    def owner(target: str) -> str:
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [owner(a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[:len(pkg) - node.level + 1]
                base = ".".join([*pkg, base] if base else pkg)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else owner(base)
                       for a in node.names]
        out.update(t for t in targets if t and t != name)
    return out


def _graph(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    known = _modules(root, packages)
    return {name: _imports(path, name, known) for name, path in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per back edge of a depth-first walk: none if and only if there is none."""
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
    return cycles


def test_no_import_circles() -> None:
    cycles = _cycles(_graph())
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
    assert "steps.registry" in graph["runner.execute.calls"]
    assert "runner.errors" in graph["runner.compile.load"]


# Small packages, each file a module's text; every one but the last holds one circle.
PLANTED = {
    "top-level imports": {"a.py": "import pkg.b\n", "b.py": "from pkg.a import x\nx = 1\n"},
    "lazy, inside a function": {"a.py": "def f():\n    from pkg import b\n",
                                "b.py": "from pkg.a import f\n"},
    "relative": {"a.py": "from . import b\n", "b.py": "from .a import f\n"},
    "only while type checking": {
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
        "b.py": "from ..pkg import a\n"},
    "through the package's __init__": {"__init__.py": "from pkg.a import f\n",
                                       "a.py": "from pkg import b\n",
                                       "b.py": "from pkg import f\n"},
    "through a sub-package's __init__": {"sub/__init__.py": "from .c import C\n",
                                         "sub/c.py": "from pkg.sub import helper\n"},
}
NO_CIRCLE = {"__init__.py": "from pkg.a import f\n", "a.py": "import pkg.b\nfrom .sub import c\n",
             "b.py": "import os\nfrom pkg.sub.c import C\n", "sub/__init__.py": "",
             "sub/c.py": "from pkg import sub\nclass C: ...\n"}


@pytest.mark.parametrize("case", [*PLANTED, "none"])
def test_the_circle_check_finds_a_planted_circle(tmp_path: Path, case: str) -> None:
    """The checker itself: it finds a circle however the imports are written, and only then."""
    files = PLANTED.get(case, NO_CIRCLE)
    for rel, text in {"__init__.py": "", "sub/__init__.py": "", **files}.items():
        (tmp_path / "pkg" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / rel).write_text(text)
    cycles = _cycles(_graph(tmp_path, ("pkg",)))
    if case == "none":
        assert cycles == []
    else:
        assert len(cycles) == 1, cycles


def test_the_module_map_names_every_module() -> None:
    """docs/modules.md keeps one line per module: a new module without a line fails here."""
    doc = (REPO / "docs" / "modules.md").read_text()
    missing = []
    for path in _modules().values():
        if path.name in ("__init__.py", "__main__.py"):
            continue
        parts = path.relative_to(REPO).parts
        # runner/x.py -> x.py; runner/<wing>/x.py -> x.py; runner/execute/local/x.py -> local/x.py
        rel = "/".join(parts[2:]) if parts[0] == "runner" and len(parts) > 2 else parts[-1]
        if f"`{rel}`" not in doc and f" `{rel}`" not in doc and f"{rel}`" not in doc:
            missing.append(str(path.relative_to(REPO)))
    assert not missing, f"docs/modules.md has no line for: {missing}"
