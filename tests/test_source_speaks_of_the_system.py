"""Source speaks of the system, not the tracker: no code, comment, docstring or document
names an issue by its number, and no markdown heading is a work log's "Round N" or
"Session N". A comment says what the code does and why, in the present tense; the tracker
and the history are git's to keep.

The scan covers the repository's tracked (and untracked, not ignored) files under
`lotus_*/`, `tests/`, `bench/`, `scripts/`, `sql/`, `deploy/`, `docs/` and the top-level
README.md, BENCHMARKS.md, Makefile and pyproject.toml. Its patterns are spelled so that
this file does not match them.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED_DIRS = ("bench/", "deploy/", "docs/", "scripts/", "sql/", "tests/")
SCANNED_PREFIX = "lotus_"  # every lotus_* package
SCANNED_FILES = ("BENCHMARKS.md", "Makefile", "README.md", "pyproject.toml")

FROZEN = re.compile(r"^(?:sql/(?:postgres|sqlite)/000[1-8]_[a-z0-9_]+\.sql"
                    r"|tests/data/fabric_0002_hand_written_(?:postgres|sqlite)\.sql)$")
"""Files whose bytes are pinned: every database that applied a migration recorded its
sha256 (lotus_core/store/migrations.py refuses an edited one), and the hand-written 0002
fixtures are those bytes as databases applied them. Migrations 0001-0008 predate this rule;
a new migration is scanned."""

TRACKER = re.compile(r"\bissues?[ \t]*#?[ \t]*\d", re.IGNORECASE)
"""The word, singular or plural, then a number, with or without '#'."""
TRACKER_WRAPPED = (re.compile(r"\bissues?[ \t]*#?[ \t]*$", re.IGNORECASE),
                   re.compile(r"^[ \t]*(?:#|--|//|\*|>)?[ \t]*#?[ \t]*\d"))
"""The word at a line's end and its number opening the next line (after a comment mark)."""
LOG_HEADING = re.compile(r"^#{1,6}[ \t].*\b(?:round|session)[ \t]+\d", re.IGNORECASE)
"""A markdown heading naming a round or session of work by its number."""


def scanned_files(root: Path = ROOT) -> list[str]:
    """The files the rule covers, by path from `root`: git's tracked files and the untracked
    ones it does not ignore, those that exist (a file renamed but not yet staged is listed
    under both names)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root, capture_output=True, check=True, timeout=60).stdout.decode()
    paths = sorted({p for p in listed.split("\0") if p})
    return [p for p in paths
            if (p.startswith(SCANNED_DIRS) or p.startswith(SCANNED_PREFIX)
                or p in SCANNED_FILES)
            and not FROZEN.match(p) and (root / p).is_file()]


def _text(path: Path) -> str | None:
    """The file's text, or None for a binary file (a NUL byte, or not UTF-8)."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def tracker_references(root: Path, paths: Iterable[str]) -> list[str]:
    """Every forbidden line of `paths` (relative to `root`) as "path:line: text"."""
    found = []
    for rel in paths:
        text = _text(root / rel)
        if text is None:
            continue
        lines = text.splitlines()
        markdown = rel.endswith(".md")
        for i, line in enumerate(lines):
            wrapped = (TRACKER_WRAPPED[0].search(line) is not None and i + 1 < len(lines)
                       and TRACKER_WRAPPED[1].match(lines[i + 1]) is not None)
            if (TRACKER.search(line) or wrapped
                    or (markdown and LOG_HEADING.match(line))):
                found.append(f"{rel}:{i + 1}: {line.strip()[:120]}")
    return found


def test_no_source_or_document_names_the_tracker() -> None:
    try:
        paths = scanned_files()
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"not a git checkout: {exc}")
    assert len(paths) > 100  # the scan sees the repository, not an empty list
    found = tracker_references(ROOT, paths)
    assert not found, (f"{len(found)} line(s) name the tracker or a work log's round; say "
                       "what is true of the system instead:\n" + "\n".join(found))


def test_the_scan_finds_what_it_forbids(tmp_path: Path) -> None:
    word = "is" + "sue"  # spelled apart, so this file itself stays clean
    files = {
        "pkg/a.py": f'"""Fast path ({word} 12)."""\nx = 1  # {word.title()} #12: why\n',
        "pkg/b.sql": f"-- see {word}s 12 and 13\nSELECT 1;\n",
        "pkg/c.py": f"# the chunk is short ({word}\n# 32): the replay holds it whole\n",
        "docs/d.md": "# Cost\n## Ro" + "und 33: the search\n### Sess" + "ion 2\ntext\n",
        "pkg/clean.py": ('colour = "#555"  # a hex colour, not a reference\n'
                         f"{word}s = []  # a list of problems\n"
                         f"# the {word} is the rate; round 3 of 5 in prose\n"),
        "docs/clean.md": "## Rounding to 3 places\ntext with round 2 in prose\n",
        "pkg/blob.bin": f"{word} 12\0".encode().decode(),
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")

    found = tracker_references(tmp_path, sorted(files))

    assert [f.split(": ", 1)[0] for f in found] == [
        "docs/d.md:2", "docs/d.md:3",
        "pkg/a.py:1", "pkg/a.py:2",
        "pkg/b.sql:1",
        "pkg/c.py:1",
    ]


def test_the_scope_and_the_pinned_files() -> None:
    assert FROZEN.match("sql/postgres/0008_curator_api.sql")
    assert FROZEN.match("tests/data/fabric_0002_hand_written_sqlite.sql")
    assert not FROZEN.match("sql/postgres/0009_next.sql")  # a new migration is scanned
    try:
        paths = scanned_files()
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"not a git checkout: {exc}")
    assert "pyproject.toml" in paths and "Makefile" in paths
    assert any(p.startswith("lotus_core/") for p in paths)
    assert any(p.startswith("docs/") for p in paths)
    assert "tests/test_source_speaks_of_the_system.py" in paths  # it scans itself too
