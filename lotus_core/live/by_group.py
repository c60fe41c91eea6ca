"""A day's recording cut into one recording per coin group, for `live_parity`'s replay a
group at a time (`parity.compare_by_group`).

Why: one live engine replaying a day holds every coin's state, and its heap grows with
the coin-hours it has replayed (glibc's and pymalloc's arenas left part-used, not live
objects: docs/scale.md), so one engine's check grows with the coins (a 100-coin day:
2.6 GB). A group of `GROUP_COINS` coins replayed at a time holds one group's.

Why the cut keeps the windows: the recording's lines are decoded once here
(`extract_chunk`, the parse's own definition) and judged by the day's line rules over
every line (`StreamAssembler.keep_lines`: a duplicate, a receive clock gone back, outside
the day), so a line that another coin's line makes late is refused as a replay of the
whole file refuses it. Each kept line goes, byte for byte, to the recording of every group
one of its coins is in: a trades frame that mixes coins to each of their groups (judged
whole there, as in the file), a gap record to every group. A group's recording thus holds
kept lines only, in receive order, and its engine's own line rules keep each one; every
rule past the line level is per coin (the assembler's carried streams and trade keys, the
tape, DSI, detectors, scorer and council: tests/core/signals/test_per_coin.py). The
previous day's recording is cut by the same groups, so each group's warm start reads its
coins' tail. A line with no coin's rows (a venue reply, a bad record) goes nowhere: it
only ever made a dead letter. Equality with the whole-file replay:
tests/core/live/test_replay_by_group.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import BinaryIO

import numpy as np
from zlib_ng import gzip_ng

from lotus_core.feed.assemble import StreamAssembler
from lotus_core.feed.chunks import extract_chunk
from lotus_core.feed.extract import Chunk
from lotus_core.feed.gzlines import open_lines
from lotus_core.feed.lines import ended, line_keys
from lotus_core.feed.recordings import recording_path
from lotus_core.time import previous_day

GROUP_COINS = 3
"""Coins a group: what one engine holds whatever the day's coin count (3: the fixture days'
whole coin list, so a 3-coin day is one group, the replay it always was)."""

SPLIT_LINES = 10_000
"""Lines decoded at a time by the cut."""

_EVERY = -2  # a line for every group (a gap record)


@dataclass(frozen=True)
class CoinGroups:
    """A day's recording cut by coin group under `root`: group i's recordings (the day's
    and, when there was one, the previous day's) in `feed_dir(i)`, named as a feed
    directory names them, so `replay_steps` reads them with its warm start."""

    root: Path
    day: str
    groups: tuple[tuple[str, ...], ...]
    """Each group's coins, groups in the order their first coin appeared in the day."""
    lines: int
    """The day's kept lines (each counted once, whatever the groups it went to)."""

    def feed_dir(self, i: int) -> Path:
        return self.root / f"group-{i:04d}"

    def recording(self, i: int) -> Path:
        return recording_path(self.feed_dir(i), self.day)


def split_by_group(recording: Path, day: str, root: Path, *, previous: Path | None = None,
                   group_coins: int = GROUP_COINS, batch_lines: int = SPLIT_LINES
                   ) -> CoinGroups:
    """Cut `day`'s `recording` (and `previous`, the day before's, when given and present)
    into per-group recordings under `root` (module docstring). Groups are filled in the
    order coins first appear, `group_coins` coins each."""
    if group_coins < 1:
        raise ValueError(f"group_coins must be >= 1, got {group_coins}")
    assign: dict[str, int] = {}
    groups: list[list[str]] = []

    def group_of(coin: str) -> int:
        g = assign.get(coin)
        if g is None:
            if not groups or len(groups[-1]) >= group_coins:
                groups.append([])
            g = assign[coin] = len(groups) - 1
            groups[-1].append(coin)
        return g

    out = CoinGroups(Path(root), day, (), 0)
    kept = _cut(Path(recording), day, group_of, lambda: len(groups),
                lambda i: recording_path(out.feed_dir(i), day), batch_lines)
    if previous is not None and Path(previous).exists():
        prev_day = previous_day(day)
        _cut(Path(previous), prev_day, lambda c: assign.get(c, -1), lambda: len(groups),
             lambda i: recording_path(out.feed_dir(i), prev_day), batch_lines)
    return CoinGroups(Path(root), day, tuple(tuple(g) for g in groups), kept)


def _cut(path: Path, day: str, group_of: Callable[[str], int], count: Callable[[], int],
         target: Callable[[int], Path], batch_lines: int) -> int:
    """One day's file cut (module docstring); returns its kept lines. `group_of` gives a
    coin's group (-1: none, the line part is dropped), `count` the groups so far."""
    rules = StreamAssembler(day)  # only its line rules: the day's running clock
    files: dict[int, BinaryIO] = {}
    every: list[bytes] = []  # kept lines for every group (a group opened later gets them)
    kept, first = 0, 1
    reader, _ = open_lines(path)
    try:
        with reader:
            while batch := list(islice(reader, batch_lines)):
                lines = ended(batch)
                chunk = extract_chunk(first, lines)
                keep = rules.keep_lines(chunk.recv, line_keys(lines))
                kept += int(keep.sum())
                first += len(lines)
                line, group = _line_groups(chunk, keep, group_of)
                for g in range(count()):
                    mine = line[(group == g) | (group == _EVERY)]
                    if not len(mine):
                        continue
                    if g not in files:
                        files[g] = _open(target(g))
                        files[g].write(b"".join(every))
                    files[g].write(b"".join([lines[i] for i in mine.tolist()]))
                every += [lines[i] for i in line[group == _EVERY].tolist()]
    finally:
        for f in files.values():
            f.close()
    return kept


def _open(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return gzip_ng.open(path, "wb", compresslevel=1)  # a scratch file: fast, not small


def _line_groups(chunk: Chunk, keep: np.ndarray, group_of: Callable[[str], int]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(line index, group) of each kept line and each group one of its rows' coins is in
    (_EVERY for a gap record), unique, in line order. Only coins with rows on kept lines
    are given a group (a coin seen only on refused lines has nothing to replay)."""
    rows = {name: (table["line"] - chunk.first_line, table)
            for name, table in chunk.tables.items() if len(table.get("line", ()))}
    named = np.zeros(len(chunk.coins) + 1, dtype=bool)  # the last: code -1, a bad name
    for name, (at, table) in rows.items():
        if name != "gaps" and "coin" in table:
            named[table["coin"][keep[at]]] = True
    codes = np.array([group_of(c) if named[k] else -1 for k, c in enumerate(chunk.coins)]
                     + [-1], dtype=np.int64)
    lines, groups = [], []
    for name, (at, table) in rows.items():
        if name == "gaps":
            g = np.full(len(at), _EVERY, dtype=np.int64)
        elif "coin" in table:
            g = codes[table["coin"]]
        else:
            continue
        mine = keep[at] & (g != -1)
        lines.append(at[mine])
        groups.append(g[mine])
    if not lines:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = np.unique(np.stack([np.concatenate(lines), np.concatenate(groups)]), axis=1)
    return pairs[0], pairs[1]  # sorted by line, then group
