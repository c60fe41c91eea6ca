"""A day parsed coin group by coin group (lotus_core.feed.shards) is the whole day's parse,
split: each shard's rows for a coin, the counts, dead letters and stats put back together,
the raw_feed summary and the MicroTape built shard by shard are the whole day's, byte for
byte (on a fixture day with planted faults, mixed-coin trades frames and bad coin names)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from lotus_core.feed.parse import parse_recording
from lotus_core.feed.shard_store import ShardStore
from lotus_core.feed.shards import (
    PER_COIN,
    ShardMap,
    SpillError,
    _dump,
    merge_dead,
    merge_shards,
    merge_sorted,
    merge_stats,
    parse_shards,
)
from lotus_core.feed.summary import summarize_feed
from lotus_core.microtape import build_microtape
from lotus_core.microtape.build import build_microtape_shards
from lotus_core.microtape.warm import warm_span_ms
from lotus_core.synth import default_spec, generate_day
from tests.core.feed.test_feed_parse import _day_digest, _faulty_copy
from tests.core.microtape.test_microtape_warm import MIDNIGHT, PARAMS, _split
from tests.kits.microtape_kit import random_feed

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


def _mixed_copy(src: Path, dst: Path) -> Path:
    """The faulty day plus frames that cross shards: trades frames mixing coins (one
    with a bad trade, which refuses the whole frame), and a book and trade with a coin
    that is not a string."""
    lines = gzip.decompress(src.read_bytes()).splitlines(keepends=True)
    recv = json.loads(lines[2000])["recv_ts_ms"]

    def trade(coin, tid, px="100.5"):
        return {"coin": coin, "side": "B", "px": px, "sz": "0.1", "time": recv - 50,
                "hash": "0x0", "tid": tid, "users": ["0xa", "0xb"]}

    extra = [{"channel": "trades", "data": [trade("BTC", 9_000_001), trade("SOL", 9_000_002)]},
             {"channel": "trades", "data": [trade("SOL", 9_000_003), trade("ETH", 9_000_004,
                                                                           px="-1")]},
             {"channel": "trades", "data": [trade(7, 9_000_005)]},
             {"channel": "bbo", "data": {"coin": 5, "time": recv - 50,
                                         "bbo": [{"px": "1", "sz": "1", "n": 1}] * 2}}]
    add = [(json.dumps({"recv_ts_ms": recv, "msg": m}) + "\n").encode() for m in extra]
    dst.write_bytes(gzip.compress(b"".join(lines[:2001] + add + lines[2001:]), mtime=0))
    return dst


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> tuple[Path, Path]:
    """(the faulty day, the same with frames that cross shards)."""
    tmp = tmp_path_factory.mktemp("shards")
    head = gzip.decompress((FIXTURES / "2026-01-02.jsonl.gz").read_bytes()).splitlines(True)
    (tmp / "head.jsonl.gz").write_bytes(gzip.compress(b"".join(head[:30_000]), mtime=0))
    (tmp / "plain").mkdir()
    path = _faulty_copy(tmp / "head.jsonl.gz", tmp / "plain" / "2026-01-02.jsonl.gz")
    return path, _mixed_copy(path, tmp / "2026-01-02.jsonl.gz")


@pytest.fixture(scope="module")
def faulty(days) -> Path:
    return days[1]


def _coins(feed, coins):
    """The part of a FeedDay that belongs to `coins` (rows, counts, dead letters)."""
    def rows(frame):
        return frame.loc[frame["coin"].isin(coins).to_numpy()].reset_index(drop=True)

    books = feed.books.select(feed.books.meta["coin"].isin(coins).to_numpy())
    return dataclasses.replace(
        feed, books=books, trades=rows(feed.trades), bbo=rows(feed.bbo), ctx=rows(feed.ctx),
        candles=rows(feed.candles), counts={k: v for k, v in feed.counts.items() if k[1] in coins},
        dead=[d for d in feed.dead if d.coin in coins], stats={})


def _parquet_sha(frame) -> str:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return hashlib.sha256(buf.getvalue()).hexdigest()


@pytest.fixture(scope="module")
def whole(faulty):
    return parse_recording(faulty, workers=1)


@pytest.mark.parametrize("n", [2, 3, PER_COIN])
def test_shards_are_the_whole_day_split_by_coin(faulty, whole, n):
    """n = PER_COIN: a shard for each of the day's coins, each holding that coin alone."""
    _the_whole_day_split(faulty, whole, n)


@pytest.mark.parametrize("n", [2, PER_COIN])
def test_shards_assembled_from_joined_parts_are_the_whole_day(faulty, whole, n, monkeypatch):
    """Chunks of 997 lines, a shard's parts joined into chunks of >= 2,000 rows (`_load_all`:
    parts naming the chunk's coins in different orders, a bad coin name's code -1 among
    them): the same shards, byte for byte."""
    import lotus_core.feed.parse as parse_mod
    import lotus_core.feed.shards as shards_mod

    monkeypatch.setattr(parse_mod, "_CHUNK_LINES", 997)
    monkeypatch.setattr(shards_mod, "_JOIN_ROWS", 2_000)
    joined: list[int] = []
    join = shards_mod.join_parts
    monkeypatch.setattr(shards_mod, "join_parts", lambda parts: joined.append(len(parts))
                        or join(parts))
    _the_whole_day_split(faulty, whole, n)
    assert max(joined) > 1 and sum(joined) > 30  # parts were joined, many of them


def _the_whole_day_split(faulty, whole, n):
    assert {"malformed_trades", "out_of_order", "duplicate_frame", "crossed_book",
            "malformed_bbo"} <= {d.reason for d in whole.dead}
    shards = [s.feed for s in parse_shards(faulty, n, workers=1)]
    assert len(shards) == (len(whole.coins) if n == PER_COIN else n)
    owner = {c: i for i, s in enumerate(shards) for c in s.coins}
    assert sorted(owner) == whole.coins and len(set(owner.values())) == min(len(shards),
                                                                           len(owner))
    if n == PER_COIN:
        assert len(whole.coins) >= 3 and all(len(s.coins) == 1 for s in shards)
    for coin, i in owner.items():
        assert _day_digest(_coins(shards[i], [coin])) == _day_digest(_coins(whole, [coin]))
    assert merge_dead(s.dead for s in shards) == whole.dead
    assert merge_stats([s.stats for s in shards]) == whole.stats
    assert {k: v for s in shards for k, v in s.counts.items()} == whole.counts
    summary = merge_sorted([summarize_feed(s) for s in shards], ["channel", "coin"])
    assert _parquet_sha(summary) == _parquet_sha(summarize_feed(whole))


def test_the_microtape_built_shard_by_shard_is_the_whole_days():
    """Warm across midnight (every trailing window seeded from the previous day), coins in
    groups [BTC], [ETH, SOL]: the frames merged by coin are the whole build's, byte for byte."""
    span = warm_span_ms(PARAMS)
    feed = random_feed(7, start_ms=MIDNIGHT - span - 300_000, duration_ms=span + 900_000,
                       coins=("SOL", "BTC", "ETH"))
    prev, today = _split(feed, MIDNIGHT)
    whole = build_microtape(today, PARAMS, warm=prev)
    assert whole["coin"].nunique() == 3 and whole["rv_pctl"].notna().any()
    groups = [["BTC"], ["ETH", "SOL"]]
    sharded = build_microtape_shards((_coins(today, g) for g in groups),
                                     (_coins(prev, g) for g in groups), PARAMS)
    assert _parquet_sha(sharded) == _parquet_sha(whole)
    assert build_microtape_shards([], [], PARAMS).empty


def test_the_whole_day_put_back_together_from_its_shards(days):
    """What dm_decisions and paper_trades read with coin shards: the whole parse, value for
    value; a day whose trades frames mix coins is refused (None: it is parsed whole)."""
    plain, mixed = days
    merged = merge_shards(list(parse_shards(plain, 3, workers=1)))
    assert merged is not None
    assert _day_digest(merged) == _day_digest(parse_recording(plain, workers=1))
    assert merge_shards(list(parse_shards(mixed, 2, workers=1))) is None


def test_the_store_decodes_once_and_serves_the_same_shards(faulty, tmp_path, monkeypatch):
    import lotus_core.feed.shard_store as store_mod

    store = ShardStore(tmp_path / "store", keep=1)
    (tmp_path / "store" / "not_a_set").mkdir(parents=True)  # pruning leaves it alone
    first = [_day_digest(s.feed) for s in store.shards(faulty, "2026-01-02", 2)]
    monkeypatch.setattr(store_mod, "parse_shards", None)  # a second parse would fail
    assert [_day_digest(s.feed) for s in store.shards(faulty, "2026-01-02", 2)] == first
    monkeypatch.undo()
    # one shard a coin: the set's size is the day's coins, read back from its marker
    per_coin = [_day_digest(s.feed) for s in store.shards(faulty, "2026-01-02", PER_COIN)]
    monkeypatch.setattr(store_mod, "parse_shards", None)
    again = [_day_digest(s.feed) for s in store.shards(faulty, "2026-01-02", PER_COIN)]
    assert again == per_coin and len(per_coin) == len(parse_recording(faulty, workers=1).coins)
    assert sorted(p.name for p in (tmp_path / "store").iterdir())[1:] == ["not_a_set"]
    with pytest.raises(ValueError):
        ShardStore(Path(""))  # never the working directory by default


@pytest.mark.parametrize("n", [2, PER_COIN])
def test_the_store_serves_one_coins_shard_and_the_last_book_frame(faulty, whole, tmp_path, n):
    """What a day x coin `microtape_frames` run reads: the shard holding its coin, found in
    the set's index (no other shard read), and the day's last book frame (the warm start's
    decision) without reading any shard; an older set without an index is looked through."""
    import lotus_core.feed.shard_store as store_mod

    day = "2026-01-02"
    store = ShardStore(tmp_path / "store")
    shards = [s.feed for s in store.shards(faulty, day, n)]
    set_dir = store.set_dir(store_mod.file_sha256(faulty), n, day)
    for coin in whole.coins:
        got = store.shard_of(faulty, day, n, coin)
        held = next(s for s in shards if coin in s.coins)
        assert got is not None and _day_digest(got) == _day_digest(held)
    assert store.shard_of(faulty, day, n, "NOT_A_COIN") is None
    last = int(whole.books.meta["recv_ts_ms"].max())
    assert store.last_book_recv_ms(faulty, day, n) == last
    (set_dir / store_mod.INDEX).unlink()  # a set stored before indexes
    coin = whole.coins[-1]
    assert _day_digest(store.shard_of(faulty, day, n, coin)) == _day_digest(
        next(s for s in shards if coin in s.coins))
    assert store.last_book_recv_ms(faulty, day, n) == last


def test_the_warm_decision_from_the_last_book_frame_is_seeds():
    """`seeds_after` (the previous day's last book frame) decides as `seeds` (every book
    frame of the previous day) for recordings that end inside, at the edge of, and before
    the warm span."""
    from lotus_core.microtape.warm import seeds, seeds_after

    span = warm_span_ms(PARAMS)
    day = datetime.fromtimestamp(MIDNIGHT / 1000, tz=UTC).date().isoformat()
    for end in (MIDNIGHT - 60_000, MIDNIGHT - span, MIDNIGHT - span - 1, MIDNIGHT - 3 * span):
        feed = random_feed(3, start_ms=end - 600_000, duration_ms=600_000, coins=("BTC",))
        prev, _ = _split(feed, MIDNIGHT)
        recv = prev.books.meta["recv_ts_ms"].to_numpy()
        last = int(recv.max()) if len(recv) else None
        assert seeds_after(last, day, PARAMS) == seeds(prev, day, PARAMS), end
    assert not seeds_after(None, day, PARAMS)


def test_shard_map_groups_sorted_coins_evenly():
    m = ShardMap(["SOL", "BTC", "ETH", "ARB", "OP", "SUI", "APT", "DOGE", "AVAX", "LINK"], 3)
    groups = [[c for c in sorted(m.index) if m.of(c) == i] for i in range(3)]
    assert groups == [["APT", "ARB", "AVAX", "BTC"], ["DOGE", "ETH", "LINK"],
                      ["OP", "SOL", "SUI"]]
    assert m.of(None) == 0 and m.of("NOT_A_COIN") == 0
    assert np.array_equal([m.of(c) for c in ("BTC", "SOL")], [0, 2])


def test_the_parse_spills_its_chunks_and_leaves_nothing_behind(faulty, whole, tmp_path):
    """The extracted day waits on disk, one file per shard, each removed once its shard
    is assembled; a parse stopped early (the generator closed) removes its spill too."""
    spill = tmp_path / "spill"
    it = parse_shards(faulty, 3, workers=1, spill=spill)
    first = next(it)
    (own,) = spill.iterdir()  # the parse's own temporary directory
    assert own.name.startswith(f".lotus-parse.{os.getpid()}.")
    assert sorted(p.name for p in own.iterdir()) == ["shard-1.pkl", "shard-2.pkl"]
    rest = [s.feed for s in it]
    assert list(spill.iterdir()) == []
    assert merge_dead([first.feed.dead] + [s.dead for s in rest]) == whole.dead
    it = parse_shards(faulty, 3, workers=1, spill=spill)
    next(it)
    it.close()
    assert list(spill.iterdir()) == []


def test_a_worker_lost_while_spilling_is_parsed_again_inline(tmp_path, monkeypatch):
    """A worker killed mid-day: the spill starts over inline, into a fresh file, and the
    shards are the same as an inline parse's."""
    import lotus_core.feed.parse as parse_mod
    from tests.helpers import extract_or_die_in_worker

    path = generate_day(tmp_path, date(2026, 1, 3), ["ETH", "BTC"], 9, default_spec(),
                        hours=(3, 4))[0]
    inline = [_day_digest(s.feed) for s in parse_shards(path, 2, workers=1)]
    monkeypatch.setenv("LOTUS_TEST_PARENT_PID", str(os.getpid()))
    monkeypatch.setattr(parse_mod, "_CHUNK_LINES", 2_000)
    monkeypatch.setattr(parse_mod, "_CHUNK_TIMEOUT_S", 5.0)
    monkeypatch.setattr(parse_mod.chunks, "extract_chunk", extract_or_die_in_worker)
    with pytest.warns(RuntimeWarning, match="parsing inline"):
        again = [_day_digest(s.feed) for s in parse_shards(path, 2, workers=2,
                                                           spill=tmp_path / "spill")]
    assert again == inline
    assert list((tmp_path / "spill").iterdir()) == []


def test_a_full_disk_is_a_spill_error_naming_the_file():
    """A spill that cannot be written stops the parse with the file named (not a second,
    inline parse: only a lost worker is retried)."""
    with open("/dev/full", "wb", buffering=0) as full, pytest.raises(SpillError,
                                                                     match="/dev/full"):
        _dump(np.zeros(1 << 16), full, Path("/dev/full"))


def test_pruning_removes_what_a_killed_parse_left(tmp_path):
    """A spill or half-written set named by a process that is gone is removed; one whose
    process is alive (a parse in flight) is not."""
    dead_pid = _ended_pid()
    root = tmp_path / "store"
    left = [root / f".lotus-parse.{dead_pid}.abc", root / f".{'a' * 64}-2-2026-01-02.{dead_pid}.f0"]
    live = root / f".lotus-parse.{os.getpid()}.xyz"
    for d in [*left, live]:
        d.mkdir(parents=True)
    ShardStore(root).prune()
    assert [p.name for p in root.iterdir()] == [live.name]


def _ended_pid() -> int:
    p = subprocess.Popen(["true"])  # noqa: S607
    p.wait()
    return p.pid


def _rules_plainly(recv: list[int], keys: list[int], day: str) -> tuple[list[bool], list]:
    """The line-level rules as a sequential reader applies them, line by line: a line whose
    record was bad is judged by none; a duplicate is identical to an earlier good line; a
    late line's recv is before the running max of the lines before it; else it is kept
    when it falls within the day."""
    from lotus_core.time import day_bounds_ms

    start, end = day_bounds_ms(day)
    seen: set[int] = set()
    top = -1
    keep, letters = [], []
    for i, (r, k) in enumerate(zip(recv, keys, strict=True)):
        keep.append(False)
        if r < 0:
            continue
        if k in seen:
            letters.append((i + 1, r, "duplicate_frame"))
        elif r < top:
            letters.append((i + 1, r, "out_of_order", top))
        elif not start <= r < end:
            letters.append((i + 1, r, "outside_day"))
        else:
            keep[-1] = True
        seen.add(k)
        top = max(top, r)
    return keep, letters


@pytest.mark.parametrize("chunk_lines", [997, 5_000, 10**6])
def test_the_line_rules_judged_chunk_by_chunk_are_the_rules(faulty, whole, monkeypatch,
                                                            chunk_lines):
    """`DayJudge` (the live clock's rules, a chunk at a time: the whole parse and a sharded
    parse's split pass) gives each line the verdict the rules written plainly give, across
    chunk edges, and the shards built from it equal the whole parse."""
    import lotus_core.feed.parse as parse_mod
    from lotus_core.feed import assemble as A

    monkeypatch.setattr(parse_mod, "_CHUNK_LINES", chunk_lines)
    hashes: list = []
    chunks = parse_mod.extract_chunks(faulty, 1, [], hashes, list)
    assert len(chunks) > 4 or chunk_lines == 10**6
    day = "2026-01-02"
    keys = np.concatenate(hashes)
    got = A.judge_chunks(chunks, keys, day)
    keep, letters = _rules_plainly(np.concatenate([c.recv for c in chunks]).tolist(),
                                   keys.tolist(), day)
    assert {"duplicate_frame", "out_of_order"} <= {d[2] for d in letters}
    assert got.keep_line.to_bools().tolist() == keep and got.n_lines == len(keep)
    assert [(d[0], d[1], d[4]) for d in got.letters] == [d[:3] for d in letters]
    late = [d for d in letters if d[2] == "out_of_order"]
    assert [d[5] for d in got.letters if d[4] == "out_of_order"] == [
        f"recv_ts_ms {d[1]} is before an earlier line's {d[3]}" for d in late]
    kinds = np.concatenate([c.kind for c in chunks])[np.array(keep)]
    assert got.kept_kinds == {int(k): int((kinds == k).sum()) for k in np.unique(kinds)}
    shards = [s.feed for s in parse_shards(faulty, 3, workers=1)]
    assert merge_dead(s.dead for s in shards) == whole.dead
    assert merge_stats([s.stats for s in shards]) == whole.stats


def test_the_line_keys_wait_on_disk_a_chunk_read_back_at_a_time(tmp_path):
    """What the day's judge reads back is what was appended, chunk by chunk; a second
    extraction (after a lost worker) starts over; closing removes the file."""
    from lotus_core.feed.spilled_keys import SpilledKeys

    rng = np.random.default_rng(5)
    parts = [rng.integers(-2**63, 2**63 - 1, size=n, dtype=np.int64) for n in (3, 0, 7)]
    with SpilledKeys(tmp_path / "keys.bin") as keys:
        keys.append(np.arange(4))
        keys.clear()
        for p in parts:
            keys.append(p)
        assert len(keys) == 3 and keys.lines == 10
        for got, want in zip(keys, parts, strict=True):
            np.testing.assert_array_equal(got, want)
        assert (tmp_path / "keys.bin").stat().st_size == 80  # on disk, not held
        np.testing.assert_array_equal(keys[2], parts[2])
    assert not (tmp_path / "keys.bin").exists()
