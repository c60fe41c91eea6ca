"""Where recordings come from: any directory of `<YYYY-MM-DD>.jsonl.gz` files."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from lotus_core.feed.manifest import ManifestMismatchError, verify_file
from lotus_core.feed.packed import ReplayDay
from lotus_core.feed.parse import RecordingFormatError, parse_recording_cached
from lotus_core.feed.recordings import MissingRecordingError, require_recording
from lotus_core.feed.shard_store import ShardStore
from lotus_core.feed.shards import by_coin_group
from lotus_core.feed.tables import FeedDay


class FeedSource(dg.ConfigurableResource):
    """A feed directory; with `verify_manifest`, files listed in its manifest.json are hash-checked.

    A missing or tampered recording fails the step with a `dg.Failure` whose description
    names the file (and both hashes), which is what the UI and the CLI show.
    """

    feed_dir: str
    verify_manifest: bool = True
    coin_shards: int = 1  # feed.coin_shards: not 1, raw_feed and microtape_frames go by coin
    # group (0: one coin a shard)
    shard_dir: str = ""  # where the shards are kept between steps (LOTUS_HOME/feed_shards)

    def recording(self, day: str) -> Path:
        try:
            path = require_recording(Path(self.feed_dir), day)
            if self.verify_manifest:
                verify_file(Path(self.feed_dir), path)
        except (MissingRecordingError, ManifestMismatchError) as exc:
            raise dg.Failure(description=str(exc), metadata={"feed_dir": self.feed_dir,
                                                             "day": day}) from exc
        return path

    def parse(self, day: str) -> FeedDay:
        """The whole parsed day: from the in-process parse cache, or with coin shards from
        the stored shards put back together (not cached: no step holds a day it did not
        ask for)."""
        path = self.recording(day)
        with self._named(day):
            if by_coin_group(self.coin_shards):
                return self._store().whole(path, day, self.coin_shards)
            return parse_recording_cached(path, day)

    def replay_day(self, day: str) -> FeedDay | ReplayDay:
        """The whole day for the replays that step every coin at once (`dm_decisions`,
        `paper_trades`). With coin shards: packed from the stored shards one at a time
        (`ShardStore.replay_day`: the books ~3x smaller, no merged padded day). Without:
        the cached parse itself (packing it would add a copy beside the cache's)."""
        if not by_coin_group(self.coin_shards):
            return self.parse(day)
        path = self.recording(day)
        with self._named(day):
            return self._store().replay_day(path, day, self.coin_shards)

    def shards(self, day: str) -> Iterator[FeedDay]:
        """The day's recording in `coin_shards` coin groups, one held at a time
        (lotus_core.feed.shards; stored under `shard_dir` so it is decoded once a day).
        Drop each before asking for the next."""
        path = self.recording(day)
        with self._named(day):
            for shard in self._store().shards(path, day, self.coin_shards):
                feed = shard.feed
                del shard
                yield feed
                del feed

    def coin_shard(self, day: str, coin: str) -> FeedDay | None:
        """The stored shard holding `coin` (coin_shards not 1), the only one read; None when
        the day has no such coin."""
        path = self.recording(day)
        with self._named(day):
            return self._store().shard_of(path, day, self.coin_shards, coin)

    def last_book_recv_ms(self, day: str) -> int | None:
        """The day's last book frame's receive time, from its stored shard set's index."""
        path = self.recording(day)
        with self._named(day):
            return self._store().last_book_recv_ms(path, day, self.coin_shards)

    @contextlib.contextmanager
    def _named(self, day: str) -> Iterator[None]:
        """A recording that breaks the format fails the step naming the file and the day."""
        try:
            yield
        except RecordingFormatError as exc:
            raise dg.Failure(description=str(exc), metadata={"feed_dir": self.feed_dir,
                                                             "day": day}) from None

    def _store(self) -> ShardStore:
        return ShardStore(Path(self.shard_dir))
