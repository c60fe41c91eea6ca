"""Same code, nightly and live: a configuration reaches the code as one object passed down
from an entry point (the Dagster assets and resources, the CLI, the daemon, the API, the
replay server, the benches), never re-read below it. So lotus_core has no `x or load_x()`
fallback (a caller that forgot the argument would silently get the packaged file, not the
one its settings name), and no module loads a configuration while it is imported (the
value would be fixed before any entry point chose its files)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FALLBACK = re.compile(r"\bor\s+load_\w+\(")
FALLBACK_SCANNED = ("lotus_core",)
IMPORT_TIME_SCANNED = ("lotus_core", "lotus_assets", "lotus_sensors")

# (file, loader) pairs still waiting for their callers to pass the value; each entry must
# still be found (a fixed one is taken off the list), and nothing else may appear.
KNOWN_FALLBACKS: set[tuple[str, str]] = set()
KNOWN_IMPORT_TIME: set[tuple[str, str]] = set()


def fallbacks(source: str) -> list[tuple[int, str]]:
    """(line, loader) of every `or load_x(` in `source`."""
    return [(source.count("\n", 0, m.start()) + 1, m.group(0).split()[-1][:-1])
            for m in FALLBACK.finditer(source)]


class _ImportTime(ast.NodeVisitor):
    """`load_*(` calls that run when the module is imported: its top-level statements,
    class bodies, decorators and default values; not function or lambda bodies."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) \
            else None
        if name is not None and name.startswith("load_"):
            self.found.append((node.lineno, name))
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in [*node.decorator_list, *node.args.defaults,
                     *(d for d in node.args.kw_defaults if d is not None)]:
            self.visit(expr)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for expr in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
            self.visit(expr)


def import_time_loads(source: str) -> list[tuple[int, str]]:
    """(line, loader) of every `load_*(` call `source` makes when imported."""
    visitor = _ImportTime()
    visitor.visit(ast.parse(source))
    return sorted(visitor.found)


def _scan(root: Path, packages: tuple[str, ...], find) -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for line, name in find(path.read_text()):
                out.setdefault((rel, name), []).append(line)
    return out


def _unexpected(found: dict[tuple[str, str], list[int]], known: set[tuple[str, str]]
                ) -> list[str]:
    return [f"{rel}:{line}: {name}" for (rel, name), lines in sorted(found.items())
            if (rel, name) not in known for line in lines]


def test_lotus_core_has_no_load_fallback() -> None:
    found = _scan(REPO, FALLBACK_SCANNED, fallbacks)
    assert _unexpected(found, KNOWN_FALLBACKS) == [], \
        "pass the value down from the entry point instead of `or load_x()`"
    assert set(found) >= KNOWN_FALLBACKS, \
        f"fixed, take off KNOWN_FALLBACKS: {sorted(KNOWN_FALLBACKS - set(found))}"


def test_nothing_loads_a_configuration_at_import_time() -> None:
    found = _scan(REPO, IMPORT_TIME_SCANNED, import_time_loads)
    assert _unexpected(found, KNOWN_IMPORT_TIME) == [], \
        "load at the entry point (asset, resource, CLI command) when it runs, not on import"
    assert set(found) >= KNOWN_IMPORT_TIME, \
        f"fixed, take off KNOWN_IMPORT_TIME: {sorted(KNOWN_IMPORT_TIME - set(found))}"


SYNTHETIC = '''\
from lotus_core.signals.config import load_scoring

SCORING = load_scoring()


def score(frames, scoring=None, cap=load_cap()):
    scoring = scoring or load_scoring()
    other = (scoring or
             load_other(frames))
    return load_detectors(), lambda: load_inside()


@register(load_registry())
class Stage:
    CONFIG = load_curators()

    def run(self):
        return load_scoring()
'''


def test_the_scanners_find_what_they_forbid() -> None:
    """Each check can fail: a fallback (also across a line break) and every load that runs
    on import are reported by line; loads inside function bodies are not."""
    assert fallbacks(SYNTHETIC) == [(7, "load_scoring"), (8, "load_other")]
    assert import_time_loads(SYNTHETIC) == [(3, "load_scoring"), (6, "load_cap"),
                                            (13, "load_registry"), (15, "load_curators")]
    assert fallbacks("x = cfg if cfg is not None else make()\n# loaded or not\n") == []


def test_the_scan_reports_a_new_offender_by_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "lotus_core").mkdir()
    (tmp_path / "lotus_assets").mkdir()
    (tmp_path / "lotus_sensors").mkdir()
    (tmp_path / "lotus_core" / "stage.py").write_text(
        "def f(cfg=None):\n    return cfg or load_learning()\n")
    (tmp_path / "lotus_assets" / "assets.py").write_text("WINDOW = load_learning().window_days\n")
    assert _unexpected(_scan(tmp_path, FALLBACK_SCANNED, fallbacks), KNOWN_FALLBACKS) == [
        "lotus_core/stage.py:2: load_learning"]
    assert _unexpected(_scan(tmp_path, IMPORT_TIME_SCANNED, import_time_loads),
                       KNOWN_IMPORT_TIME) == ["lotus_assets/assets.py:1: load_learning"]
