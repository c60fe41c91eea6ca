"""`load_settings` is called only at the entry points (the CLI, the code location's
definitions, the daemon host, bench scripts): below them the one `Settings` is passed
down, so `--config` / LOTUS_CONFIG reach every section."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("lotus_core", "lotus_assets", "lotus_daemon", "lotus_sensors", "lotus_location")
ENTRY_POINTS = {"lotus_location/definitions.py", "lotus_location/production.py",
                "lotus_daemon/host.py", "lotus_core/config/settings.py"}  # the last defines it


def _callers(path: Path) -> list[int]:
    """Lines that call `load_settings` (by name or as an attribute) or import it."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) \
                else None
            if name == "load_settings":
                lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and any(a.name == "load_settings"
                                                      for a in node.names):
            lines.append(node.lineno)
    return lines


def _offenders(root: Path) -> list[str]:
    out = []
    for pkg in SCANNED:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel in ENTRY_POINTS or rel == "lotus_core/config/__init__.py":
                continue
            out += [f"{rel}:{line}" for line in _callers(path)]
    return out


def test_only_entry_points_load_settings() -> None:
    assert _offenders(REPO) == []


def test_the_scan_finds_a_call_below_an_entry_point(tmp_path: Path) -> None:
    """The scanner itself: a loop that re-reads the settings is reported, by line."""
    (tmp_path / "lotus_daemon" / "loops").mkdir(parents=True)
    (tmp_path / "lotus_daemon" / "host.py").write_text(
        "from lotus_core.config import load_settings\nS = load_settings()\n")
    (tmp_path / "lotus_daemon" / "loops" / "x.py").write_text(
        "import lotus_core.config as c\n\ndef f():\n    return c.load_settings(env={})\n")
    assert _offenders(tmp_path) == ["lotus_daemon/loops/x.py:4"]
