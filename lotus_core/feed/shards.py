"""A day's recording parsed coin group by coin group (`feed.coin_shards`).

Why: the parsed day (its padded book matrices above all) grows with the coin count, and a
stage that holds it whole needs memory for every coin at once (30 coins: 4.3 GB held, an
8.8 GB parse peak). Shard `i` of `n` holds only its group of the day's coins.

The recording is still read and decoded once (`parse.extract_chunks`, the same workers):
the line-level rules (duplicates, the receive clock going back, the day's bounds) need
every line, and decoding is most of the parse's CPU. The extracted chunks (levels flat,
not padded) go to a temporary file as they are decoded, are split into a file per shard in
one pass once the day's coins are known. The line-level rules are judged once for the
whole day as that pass reads the chunks (`assemble.DayJudge`), and each shard is assembled
by the very rules `parse_recording` applies (`assemble._assemble`, given that verdict), so
a shard's rows for a coin are the
whole day's rows for that coin, byte for byte. The day's coins (known once the chunks are
extracted) are cut into n contiguous groups in sorted order (`ShardMap`), so shard 0 holds
the first coins and frames merged by coin come out in shard order. What is not per coin
goes to shard 0: the line-level dead letters (coin None) and the truncation letter. A
trades frame is judged whole (one bad trade refuses its frame), so a frame that mixes
coins is given to every shard that has one of its coins, and each keeps its own rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from lotus_core.cores import spare_workers
from lotus_core.feed import assemble as A
from lotus_core.feed import extract as ex
from lotus_core.feed import parse as P
from lotus_core.feed.gzlines import Truncation
from lotus_core.feed.line_mask import SeenLines
from lotus_core.feed.spilled_keys import KeyParts, SpilledKeys
from lotus_core.feed.tables import MAX_LEVELS, BookFrames, DeadLetter, FeedDay
from lotus_core.malloc import release_free_heap

PER_COIN = 0
"""`feed.coin_shards` value for one shard per coin of the day, however many the recording
has: a step then holds one coin's day, so its memory does not grow with the coins."""


def by_coin_group(n: int) -> bool:
    """Whether a `feed.coin_shards` value takes the day coin group by coin group (1: whole)."""
    return n != 1


CHANNEL_STATS = ("resent_snapshots", "replayed_trades")
"""FeedDay.stats counted per coin (summed over shards); every other stat is per line."""


class ShardMap:
    """Which shard holds a coin: the day's coins (every name its chunks hold) in sorted
    order, cut into n contiguous groups of sizes differing by at most one (10 coins in
    3: 4, 3, 3). A name the map does not know (a malformed frame's), or none: shard 0."""

    def __init__(self, coins: Iterable[str], n: int) -> None:
        names = sorted(set(coins))
        self.n = n
        self.index = {c: k * n // len(names) for k, c in enumerate(names)}

    def of(self, coin: str | None) -> int:
        return self.index.get(coin, 0) if coin is not None else 0

    def owns(self, shard: int, coin: str | None) -> bool:
        return self.of(coin) == shard


def split_chunk(chunk: ex.Chunk, shards: ShardMap) -> list[ex.Chunk]:
    """`chunk` as n chunks, shard i holding the table rows of its coins (and the chunk's
    dead letters, filtered later by `owns`). Per-line arrays are shared, not copied."""
    n = shards.n
    mine = [np.array([shards.of(c) == i for c in chunk.coins] + [i == 0], dtype=bool)
            for i in range(n)]  # indexed by local coin code; code -1 (bad name): shard 0
    parts = [dataclasses.replace(chunk, tables={}) for _ in range(n)]
    for name, table in chunk.tables.items():
        for i, part in enumerate(parts):
            part.tables[name] = _rows(name, table, mine[i])
    return parts


def _rows(name: str, table: dict[str, np.ndarray], mine: np.ndarray
          ) -> dict[str, np.ndarray]:
    if "coin" not in table:
        return dict(table)
    rows = mine[table["coin"]]
    if name == "trades":  # whole frames: every row of a line that has one of our coins
        rows = np.isin(table["line"], table["line"][rows])
    if rows.all():
        return dict(table)
    out = {}
    levels = None
    for col, values in table.items():
        if name == "books" and col in ("px", "sz"):
            if levels is None:
                levels = np.repeat(rows, table["nb"].astype(np.int64)
                                   + table["na"].astype(np.int64))
            out[col] = values[levels]
        else:
            out[col] = values[rows]
    return out


@dataclass
class CoinShard:
    """One shard of a day: its FeedDay, and the day's line number of each of its table rows
    (`books`, `trades`, `bbo`, `ctx`, `candles`): what `merge_shards` restores the day's
    row order from."""

    feed: FeedDay
    lines: dict[str, np.ndarray]


def parse_shards(path: Path, n: int, day: str | None = None, workers: int | None = None,
                 spill: Path | None = None) -> Iterator[CoinShard]:
    """The day's recording as n shards, shard 0 first, each assembled only when asked for:
    drop one (every reference) before asking for the next, and only one is ever held.
    Shard i holds exactly the rows, counts and dead letters of `parse_recording(path, day)`
    whose coin is in shard i (`tests/core/feed/test_feed_shards.py`). n larger than the
    day's coins: some shards are empty. n = PER_COIN: one shard per coin of the day (at
    least one shard).

    The extracted chunks go to disk as they are decoded (a temporary directory under
    `spill`, default the system's), then are split into one file per shard: what the
    process holds is one chunk, one shard's parts and the per-line arrays, not the whole
    extracted day (which grows with the coins: 100 coins x 24 h held 12 GB). The line-level
    rules are judged once for the whole day (`assemble.DayJudge`); each shard's assembly
    holds their verdict, a byte a line, not the day's receive clock, keys and masks."""
    path = Path(path)
    day = day or path.name.split(".")[0]
    if workers is None:
        big = path.stat().st_size >= P._PARALLEL_MIN_BYTES
        workers = spare_workers(2) if big else 1
    if spill is not None:
        Path(spill).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".lotus-parse.{os.getpid()}.", dir=spill) as tmp:
        cut: list[Truncation] = []
        # the day's line keys on disk (8 bytes a line held grew with the coins)
        with SpilledKeys(Path(tmp) / "keys.bin") as hash_parts:
            spilled = P.extract_chunks(path, max(1, workers), cut, hash_parts,
                                       partial(_spill, Path(tmp) / "chunks.pkl"))
            sha = P.file_sha256(path)
            n = max(1, len(spilled.coins)) if n == PER_COIN else n
            shards = ShardMap(spilled.coins, n)
            # the line-level rules once, for the whole day, as the chunks pass: each shard's
            # assembly reads the verdict
            judge = A.DayJudge(day)
            files = _split_spilled(spilled, shards, Path(tmp), judge, hash_parts)
            verdict = judge.verdict(hash_parts)
        del hash_parts, judge
        release_free_heap()
        for i in range(n):
            feed_lines: dict[str, np.ndarray] = {}
            feed = A._assemble(path, day, sha, _load_all(files[i]), None,
                               owns=partial(shards.owns, i), lines=feed_lines,
                               verdict=verdict)
            files[i].unlink()
            if cut and i == 0:
                feed.dead.append(P.truncation_letter(path, cut[0], verdict.n_lines + 1))
            shard = _own(CoinShard(feed, feed_lines), shards, i)
            del feed, feed_lines
            release_free_heap()
            yield shard
            del shard  # before the next shard is assembled


class SpillError(RuntimeError):
    """The disk refused a spilled chunk (full, or gone): not a reason to parse again."""


@dataclass
class _Spilled:
    """Chunks written one after another to `file`: how many, and every coin they name."""

    file: Path
    count: int
    coins: set[str]


def _spill(file: Path, chunks: Iterator[ex.Chunk]) -> _Spilled:
    """Write each chunk to `file` as it comes and drop it (`P.extract_chunks`' `take`). A
    write that fails is a `SpillError`; what the extraction raises passes through as it is
    (a lost worker: `extract_chunks` runs it again inline, into a fresh file)."""
    coins: set[str] = set()
    count = 0
    with _writing(file) as f:
        for chunk in chunks:
            coins.update(chunk.coins)
            _dump(chunk, f, file)
            count += 1
            del chunk
    return _Spilled(file, count, coins)


def _writing(file: Path) -> BinaryIO:
    try:
        return open(file, "wb")  # noqa: SIM115 - closed by the caller's `with`
    except OSError as exc:
        raise SpillError(f"could not spill the parse to {file}: {exc}") from exc


def _dump(obj: object, f: BinaryIO, file: Path) -> None:
    try:
        pickle.dump(obj, f, protocol=5)
    except OSError as exc:
        raise SpillError(f"could not spill the parse to {file}: {exc}") from exc


def _split_spilled(spilled: _Spilled, shards: ShardMap, tmp: Path, judge: A.DayJudge,
                   hash_parts: KeyParts) -> list[Path]:
    """One pass over the spilled chunks: shard i's part of each, in order, to its own file,
    and each chunk's lines to `judge` (the day's line-level verdict). The parts keep neither
    the receive clock nor the line kinds, which only the verdict needs: a shard's assembly
    reads the verdict (a byte a line in every shard's file was ~48 MB of the whole day's
    lines loaded with each of 100 coins' shards, and 100 times the day's lines written)."""
    files = [tmp / f"shard-{i}.pkl" for i in range(shards.n)]
    no_clock, no_kind = np.empty(0, np.int64), np.empty(0, np.int8)
    with contextlib.ExitStack() as stack:
        outs = [stack.enter_context(_writing(f)) for f in files]
        with open(spilled.file, "rb") as f:
            for k in range(spilled.count):
                chunk = pickle.load(f)  # noqa: S301 - written by _spill, this process
                keys = hash_parts[k]  # the parse records one key array per chunk it reads
                if len(keys) != len(chunk.recv):
                    raise RuntimeError(f"chunk {k} of {spilled.file} has {len(chunk.recv)} "
                                       f"lines but {len(keys)} line keys")
                judge.add(chunk.recv, chunk.kind, keys)
                for out, name, part in zip(outs, files, split_chunk(chunk, shards),
                                           strict=True):
                    _dump(dataclasses.replace(part, recv=no_clock, kind=no_kind), out, name)
                del chunk
                if k % 16 == 15:
                    release_free_heap()  # the chunks' few-MB arrays stay in glibc's heap
    spilled.file.unlink()
    return files


_JOIN_ROWS = 50_000
"""Table rows at least in each chunk a shard's assembly is given (`_load_all`)."""

_CODES = {"coin": "coins", "gap_coin": "coins", "interval": "intervals"}
"""A chunk's code columns and the name list (the chunk's own) each codes into."""


def _load_all(file: Path) -> list[ex.Chunk]:
    """Every part written to `file` (this process's own temporary file), in order, consecutive
    parts joined into chunks of at least `_JOIN_ROWS` table rows (`join_parts`). A shard's
    part of a chunk holds its coins' rows of the chunk's 50,000 lines: at 100 coins a
    shard's day came in ~1,000 parts of a few hundred rows, each with its ~55 arrays and the
    chunk's coin names, and the shard's assembly held ~60 MB more than the same coin's in
    30 parts."""
    out: list[ex.Chunk] = []
    pending: list[ex.Chunk] = []
    rows = 0
    with open(file, "rb") as f:
        while True:
            try:
                part = pickle.load(f)  # noqa: S301 - written above, by this process
            except EOFError:
                break
            pending.append(part)
            rows += sum(len(t.get("line", ())) for t in part.tables.values())
            if rows >= _JOIN_ROWS:
                out.append(join_parts(pending))
                pending, rows = [], 0
    if pending:
        out.append(join_parts(pending))
    return out


def join_parts(parts: list[ex.Chunk]) -> ex.Chunk:
    """Consecutive shard parts (their lines' clock and kinds left out, `_split_spilled`) as
    one chunk: each table's columns end to end, coin and interval codes re-coded into the
    names in the order the parts first name them (the order the assembly would have coded
    them in part by part), dead letters in order. The assembly gives the same day from it."""
    if len(parts) == 1:
        return parts[0]
    names: dict[str, dict[str, int]] = {"coins": {}, "intervals": {}}
    for part in parts:
        for kind in names:
            for name in getattr(part, kind):
                names[kind].setdefault(name, len(names[kind]))
    recode = [{kind: np.array([names[kind][n] for n in getattr(part, kind)] + [-1],
                              dtype=np.int32) for kind in names} for part in parts]
    tables: dict[str, dict[str, np.ndarray]] = {}
    for table in dict.fromkeys(t for part in parts for t in part.tables):
        have = [(part.tables[table], codes) for part, codes in zip(parts, recode, strict=True)
                if table in part.tables]
        tables[table] = {col: np.concatenate([
            codes[_CODES[col]][cols[col]] if col in _CODES else cols[col]
            for cols, codes in have]) for col in have[0][0]}
    first = parts[0]
    return dataclasses.replace(first, tables=tables, coins=list(names["coins"]),
                               intervals=list(names["intervals"]),
                               dead=[d for part in parts for d in part.dead])


def _own(shard: CoinShard, shards: ShardMap, i: int) -> CoinShard:
    """Drop the other shards' trades (from frames that mix coins) and their counts."""
    feed = shard.feed
    coins = feed.trades["coin"].to_numpy(dtype=object)
    keep = np.fromiter((shards.of(c) == i for c in coins), dtype=bool, count=len(coins))
    counts = {k: v for k, v in feed.counts.items() if shards.of(k[1]) == i}
    if keep.all():
        return CoinShard(dataclasses.replace(feed, counts=counts), shard.lines)
    trades = feed.trades.loc[keep].reset_index(drop=True)
    return CoinShard(dataclasses.replace(feed, trades=trades, counts=counts),
                     {**shard.lines, "trades": shard.lines["trades"][keep]})


def merge_shards(shards: list[CoinShard]) -> FeedDay | None:
    """The whole day's FeedDay from all its shards (what `parse_recording` gives, value for
    value), for the stages that need every coin at once; None when a trades frame mixed
    coins (its rows' order across shards is not kept: parse the day whole instead). The
    shards' book matrices are released as they are copied (the shards are emptied)."""
    if _shared_lines(shards):
        return None
    first = shards[0].feed
    tables = {}
    for name in ("trades", "bbo", "ctx", "candles"):
        tables[name] = in_line_order([getattr(s.feed, name) for s in shards],
                                     [s.lines[name] for s in shards])
    order = np.argsort(np.concatenate([s.lines["books"] for s in shards]), kind="stable")
    meta = pd.concat([s.feed.books.meta for s in shards], ignore_index=True)
    meta = meta.take(order).reset_index(drop=True)
    where = np.empty(len(order), dtype=np.int64)
    where[order] = np.arange(len(order))
    mats = {}
    for m in ex.BOOK_MATRICES:
        out = np.empty((len(order), MAX_LEVELS))
        pos = 0
        for s in shards:
            rows = getattr(s.feed.books, m)
            out[where[pos:pos + len(rows)]] = rows
            pos += len(rows)
            s.feed.books = dataclasses.replace(s.feed.books, **{m: out[:0]})  # release
            del rows
        mats[m] = out
    return FeedDay(
        day=first.day, source=first.source, sha256=first.sha256,
        books=BookFrames(meta, **mats), counts={k: v for s in shards
                                                for k, v in s.feed.counts.items()},
        dead=merge_dead(s.feed.dead for s in shards),
        stats=merge_stats([s.feed.stats for s in shards]), gaps=first.gaps,  # every shard's
        **tables)


def in_line_order(frames: list[pd.DataFrame], lines: list[np.ndarray]) -> pd.DataFrame:
    """Per-shard rows of one table as the whole day's table: by their line numbers
    (`lines[k]`: frame k's), stable, so rows of one line keep their order."""
    order = np.argsort(np.concatenate(lines), kind="stable")
    return pd.concat(frames, ignore_index=True).take(order).reset_index(drop=True)


def _shared_lines(shards: list[CoinShard]) -> bool:
    return shared_frames([s.lines["trades"] for s in shards])


def shared_frames(trade_lines: Iterable[np.ndarray]) -> bool:
    """Whether a trades frame (a line) has rows in more than one shard (`trade_lines`:
    each shard's `lines["trades"]`)."""
    seen = SeenLines()
    return any(seen.add(lines) for lines in trade_lines)


def merge_dead(shards: Iterable[list[DeadLetter]]) -> list[DeadLetter]:
    """The shards' dead letters in the whole day's order (by line; a line has one letter)."""
    return sorted((d for dead in shards for d in dead), key=lambda d: d.line_no)


def merge_stats(shards: list[dict[str, int]]) -> dict[str, int]:
    """The whole day's stats: per-line tallies from shard 0, per-coin ones summed (as the
    whole parse keeps them: `resent_snapshots` always, `replayed_trades` when not 0)."""
    out = {k: v for k, v in shards[0].items() if k not in CHANNEL_STATS}
    for k in CHANNEL_STATS:
        if any(k in stats for stats in shards):
            out[k] = sum(stats.get(k, 0) for stats in shards)
    if out.get("replayed_trades") == 0:
        del out["replayed_trades"]
    return out


def merge_sorted(frames: Iterable[pd.DataFrame], keys: list[str]) -> pd.DataFrame | None:
    """Per-shard frames, each sorted by `keys` (string columns), as one frame sorted by
    them the way the whole day's builder sorts (Python's string order, stable: a key's rows
    keep their order). None when every frame is empty (the caller has its empty form)."""
    parts = [f for f in frames if len(f)]
    if not parts:
        return None
    out = pd.concat(parts, ignore_index=True)
    del parts
    columns = [out[k].to_numpy(dtype=object) for k in keys]
    if len(columns) == 1:
        if bool(np.all(columns[0][:-1] <= columns[0][1:])):
            return out  # shards of contiguous coin groups: already in order, no copy
        order = np.argsort(columns[0], kind="stable")
    else:
        order = np.array(sorted(range(len(out)), key=lambda r: tuple(c[r] for c in columns)),
                         dtype=np.int64)
    return out.take(order).reset_index(drop=True)
