"""No import cycles among the project's packages (the house rule, kept by a test).

The logic of the shared hook (/work/shared/hooks/import_cycles.py), vendored: every import,
top-level or inside a function, is an edge; Tarjan's algorithm finds the strongly connected
components. One addition: importing `a.b.c` also runs `a.b`'s `__init__`, so a module
depends on the packages above what it imports, except its own ancestors (already running
when it runs). That catches the package-facade cycles the plain hook does not see
(e.g. curators -> signals/__init__ -> signals.pipeline -> curators).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("lotus_core", "lotus_assets", "lotus_resources", "lotus_sensors", "lotus_daemon",
            "lotus_cli", "lotus_replay", "lotus_bus", "lotus_api", "lotus_location")


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for f in (REPO / pkg).rglob("*.py"):
            name = ".".join(f.relative_to(REPO).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = f
    return mods


def _imports(cur: str, node: ast.AST, mods: dict[str, Path]) -> set[str]:
    out: set[str] = set()
    if isinstance(node, ast.Import):
        out |= {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = cur.split(".")
            parts = parts if mods[cur].name == "__init__.py" else parts[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([base] if base else []))
        out.add(base)
        out |= {f"{base}.{a.name}" for a in node.names}
    res = set()
    for m in out:
        while m and m not in mods:
            m = m.rpartition(".")[0]
        parent = m
        while parent:  # the target and every package __init__ above it that is not ours
            if parent in mods and parent != cur and not cur.startswith(parent + "."):
                res.add(parent)
            parent = parent.rpartition(".")[0]
    return res


def import_cycles() -> list[list[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for m, f in mods.items():
        graph[m] = set()
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.Import | ast.ImportFrom):
                graph[m] |= _imports(m, n, mods)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    sccs: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            strong(v)
    return sccs


def test_no_import_cycles() -> None:
    assert import_cycles() == []


BELOW = {"lotus_assets": ("lotus_sensors", "lotus_location", "lotus_cli"),
         "lotus_sensors": ("lotus_location", "lotus_cli"),
         "lotus_resources": ("lotus_assets", "lotus_sensors", "lotus_location", "lotus_cli")}
"""What each Dagster area must not import: only the code location (lotus_location) composes
the areas, as Dagster's example projects keep one definitions module above them."""


def upward_imports(below: dict[str, tuple[str, ...]] = BELOW) -> list[str]:
    """`module -> imported` for every import of a package its area must not import."""
    mods = _modules()
    out = []
    for m, f in sorted(mods.items()):
        banned = below.get(m.split(".")[0], ())
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.Import | ast.ImportFrom):
                out += [f"{m} -> {t}" for t in sorted(_imports(m, n, mods))
                        if t.split(".")[0] in banned]
    return out


def test_the_areas_do_not_import_the_code_location_or_each_other_upwards() -> None:
    assert upward_imports() == []
    # the check can fail: lotus_sensors imports lotus_assets (allowed), not the reverse
    assert any(line.startswith("lotus_sensors.")
               for line in upward_imports({"lotus_sensors": ("lotus_assets",)}))


def test_the_check_sees_a_package_facade_cycle() -> None:
    """The check can fail: a facade importing a module that imports the facade's sibling."""
    mods = {"p": Path("p/__init__.py"), "p.low": Path("p/low.py"), "p.high": Path("p/high.py"),
            "q.user": Path("q/user.py"), "q": Path("q/__init__.py")}
    assert "p" in _imports("q.user", ast.parse("from p.low import x").body[0], mods)
    assert "p" not in _imports("p.high", ast.parse("from p.low import x").body[0], mods)
