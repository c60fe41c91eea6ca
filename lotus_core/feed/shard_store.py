"""Coin shards of parsed recordings kept on disk, so a day is decoded once, not per stage.

With `feed.coin_shards` > 1 no process holds a whole parsed day, so the in-memory parse
cache (`parse_recording_cached`) cannot serve `microtape_frames` what `raw_feed` parsed.
`raw_feed` writes each shard here as it is assembled; `microtape_frames` (today's and the
previous day's) reads them back one at a time. A set is keyed by the recording's sha256,
the shard count and the day it was parsed for: a changed file, another count, or the same
bytes under another day's name (parsed against that day's bounds) is a different set.
A set is written to a private directory and renamed into place when its last shard is
written, so a reader sees a whole set or none. The newest `keep` sets are kept (3: today,
the day before for the warm start, and one in flight). The files are pickles this process
wrote under the Lotus home; read nothing here that another party can write.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from lotus_core.feed.packed import ReplayDay, pack_shards
from lotus_core.feed.parse import file_sha256, parse_recording
from lotus_core.feed.shards import CoinShard, merge_shards, parse_shards
from lotus_core.feed.tables import FeedDay
from lotus_core.processes import pid_alive

_SET = re.compile(r"[0-9a-f]{64}-[0-9]+(-\d{4}-\d{2}-\d{2})?")  # unsuffixed: older sets
_TMP = re.compile(r"\.(?:[0-9a-f]{64}-[0-9]+-\d{4}-\d{2}-\d{2}|lotus-parse)\.(?P<pid>\d+)\..+")
"""A set being written (`.<set>.<pid>.<token>`) or a parse's spill (`.lotus-parse.<pid>.<x>`)."""


def shard_dir(home: Path) -> Path:
    """Where a Lotus home keeps its shard sets."""
    return Path(home) / "feed_shards"


INDEX = "index.json"
"""A set's index: which shard holds each coin, and the last book frame's receive time (what
a day x coin `microtape_frames` run needs without reading every shard)."""


class ShardStore:
    """A directory of shard sets: `<root>/<sha256>-<n>-<day>/<i>.pkl`, `index.json` and
    `complete` (the number of shards, written last). n = 0 (`shards.PER_COIN`): one per coin
    of the day."""

    def __init__(self, root: Path, keep: int = 3) -> None:
        if Path(root) == Path(""):
            raise ValueError("a shard store needs a directory (LOTUS_HOME/feed_shards)")
        self.root = Path(root)
        self.keep = keep

    def set_dir(self, sha: str, n: int, day: str) -> Path:
        """The day is part of the key: a parse depends on the day's bounds (lines outside
        it are refused), so a set must never serve another day with the same bytes."""
        return self.root / f"{sha}-{n}-{day}"

    def shards(self, path: Path, day: str, n: int) -> Iterator[CoinShard]:
        """The recording's n shards, shard 0 first: read back if stored, else parsed (the
        recording decoded once) and stored as they are yielded."""
        sha = file_sha256(path)
        done = self.set_dir(sha, n, day)
        if (done / "complete").is_file():
            os.utime(done)  # newest use: the last to be pruned
            # how many were stored (PER_COIN: the day's coins); older sets: empty, n
            count = int((done / "complete").read_text() or n)
            for i in range(count):
                with open(done / f"{i}.pkl", "rb") as f:
                    shard = pickle.load(f)  # noqa: S301 - our own files (module docstring)
                yield shard
                del shard
            return
        tmp = self.root / f".{sha}-{n}-{day}.{os.getpid()}.{secrets.token_hex(4)}"
        tmp.mkdir(parents=True)
        try:
            count = 0
            index: dict[str, int] = {}
            last: int | None = None
            for i, shard in enumerate(parse_shards(path, n, day, spill=self.root)):
                with open(tmp / f"{i}.pkl", "wb") as f:
                    pickle.dump(shard, f, protocol=5)
                count = i + 1
                index.update({coin: i for coin in shard.feed.coins})
                last = _later(last, _last_book(shard.feed))
                yield shard
                del shard
            (tmp / INDEX).write_text(json.dumps({"coins": index, "last_book_recv_ms": last}))
            (tmp / "complete").write_text(str(count))
            with contextlib.suppress(OSError):  # another process stored the same set first
                tmp.rename(done)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.prune()

    def _index(self, path: Path, day: str, n: int) -> dict | None:
        """The set's index (the set stored first if it is not: the recording decoded once);
        None for a set stored before indexes were written."""
        done = self.set_dir(file_sha256(path), n, day)
        if not (done / "complete").is_file():
            for shard in self.shards(path, day, n):  # store the whole set
                del shard
        index = done / INDEX
        return json.loads(index.read_text()) if index.is_file() else None

    def shard_of(self, path: Path, day: str, n: int, coin: str) -> FeedDay | None:
        """The shard that holds `coin` (None when no shard does), the only one read: what a
        day x coin step takes instead of the day's every shard."""
        index = self._index(path, day, n)
        if index is None:  # an older set: look through it
            for shard in self.shards(path, day, n):
                if coin in shard.feed.coins:
                    return shard.feed
            return None
        i = index["coins"].get(coin)
        if i is None:
            return None
        done = self.set_dir(file_sha256(path), n, day)
        os.utime(done)
        with open(done / f"{i}.pkl", "rb") as f:
            shard = pickle.load(f)  # noqa: S301 - our own files (module docstring)
        return shard.feed

    def last_book_recv_ms(self, path: Path, day: str, n: int) -> int | None:
        """The receive time of the day's last book frame (None: no book frame), from the
        set's index, or read through the shards for an older set."""
        index = self._index(path, day, n)
        if index is not None:
            return index["last_book_recv_ms"]
        last = None
        for shard in self.shards(path, day, n):
            last = _later(last, _last_book(shard.feed))
        return last

    def whole(self, path: Path, day: str, n: int) -> FeedDay:
        """The whole day, put back together from its stored shards (no second decode);
        parsed whole when a trades frame mixed coins (`merge_shards`)."""
        shards = list(self.shards(path, day, n))
        merged = merge_shards(shards)
        del shards
        return merged if merged is not None else parse_recording(path, day)

    def replay_day(self, path: Path, day: str, n: int) -> ReplayDay:
        """The whole day in its replay form, packed from the stored shards one at a time
        (no merged padded day); parsed whole, then packed, when a trades frame mixed coins."""
        packed = pack_shards(self.shards(path, day, n))
        return packed if packed is not None else ReplayDay.of(parse_recording(path, day))

    def prune(self) -> None:
        """Keep the `keep` most recently used sets; remove what a killed parse left (its
        set in the making, its spilled chunks: named by a process that is gone)."""
        sets = sorted((d for d in self.root.iterdir() if d.is_dir() and _SET.fullmatch(d.name)),
                      key=lambda d: d.stat().st_mtime, reverse=True)  # only our sets
        for old in sets[self.keep:]:
            shutil.rmtree(old, ignore_errors=True)
        for left in self.root.iterdir():
            owner = _TMP.fullmatch(left.name)
            if left.is_dir() and owner and not pid_alive(int(owner["pid"])):
                shutil.rmtree(left, ignore_errors=True)


def _last_book(feed: FeedDay) -> int | None:
    recv = feed.books.meta["recv_ts_ms"].to_numpy()
    return int(recv.max()) if len(recv) else None


def _later(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)
