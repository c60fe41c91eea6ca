"""Peak memory of the whole-day replay's day (`dm_decisions`' joint DM + Trader replay):
padded books vs packed (`lotus_core.feed.packed`), with and without coin shards.

Each variant runs in a fresh interpreter (the stack imported, the day's MicroTape read as
the step's input), then gets its day the way `FeedSource.replay_day` would and runs
`joint_day` on it; VmHWM is restarted (/proc/self/clear_refs) before each phase:

- parse:        N = 1, the whole parse (what the replays get at N = 1: the cached parse)
- parse+pack:   N = 1, the parse packed beside it (the cache would keep the parse)
- merge:        N shards put back together padded (`ShardStore.whole`, the old path)
- packed:       N shards packed one at a time (`ShardStore.replay_day`, the new path)
- streamed:     the day streamed coin-merged (what `dm_decisions` does since round 5): the N
                stored shards cut into 15-minute chunks on disk one shard at a time
                (`spill_shards`), the MicroTape sorted from its Parquet file by DuckDB a
                batch at a time; no whole-day MicroTape frame is read

    nice -n 19 .venv/bin/python -m bench.replay_memory RECORDING --shards 2 --work DIR

The joint run's outputs are hashed: every variant must give the same digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lotus_core.feed.packed import PackedBooks
from lotus_core.feed.tables import BookFrames

VARIANTS = ("parse", "parse+pack", "merge", "packed", "streamed")


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _books_mb(books: BookFrames | PackedBooks) -> float:
    arrays = ((books.bid_at, books.ask_at, books.bid_px, books.bid_sz, books.ask_px,
               books.ask_sz) if isinstance(books, PackedBooks)
              else (books.bid_px, books.bid_sz, books.ask_px, books.ask_sz))
    return (sum(a.nbytes for a in arrays) + books.meta.memory_usage(deep=True).sum()) / 2**20


def _dm(coins: list[str]) -> tuple[Any, Any, tuple[str, ...]]:
    import pandas as pd

    from lotus_core.dm.calibration import Calibration, fit_calibration
    from lotus_core.dm.config import load_dm_settings
    from tests.kits.dm_kit import planted_training

    cfg = load_dm_settings({"coins": coins})
    dets = ("breakout_retest_v1", "mean_reversion_z_v1")
    train = pd.concat([planted_training(d, 1500, 25.0, i) for i, d in enumerate(dets)])
    return cfg, Calibration(fit_calibration(train, cfg.calibration, "w"), cfg.calibration), dets


def variant(name: str, path: Path, day: str, n: int, work: Path, n_alphas: int) -> dict:
    """One variant in this process (a fresh interpreter)."""
    import pandas as pd

    import lotus_assets.definitions  # noqa: F401 - the stack a step runs with
    from lotus_core.dm.engine import DmEngine
    from lotus_core.dm.joint import joint_result
    from lotus_core.feed.packed import ReplayDay
    from lotus_core.feed.parse import parse_recording
    from lotus_core.feed.shard_store import ShardStore
    from lotus_core.feed.tables import FeedDay
    from lotus_core.trader.config import trader_settings
    from lotus_core.trader.engine import TraderEngine
    from tests.kits.dm_kit import alpha_stream

    rows = pd.read_parquet(work / "microtape.parquet",
                           columns=["coin", "ts_ms"] if name == "streamed" else None)
    coins = sorted(rows["coin"].unique())
    cfg, cal, dets = _dm(coins)
    t0 = int(rows["ts_ms"].min())
    span = int(rows["ts_ms"].max()) - t0
    alphas = alpha_stream(coins, dets, n_alphas, start_ms=t0 + span // 20,
                          span_ms=span * 9 // 10, seed=3)
    if name == "streamed":
        return _streamed({"variant": name}, rows, path, day, n, work, cfg, cal, alphas)
    out: dict = {"variant": name, "base_rss_mb": _vm("VmRSS")}
    _reset()
    c = time.process_time()
    store = ShardStore(work / "feed_shards")
    feed: FeedDay | ReplayDay
    if name == "parse":
        feed = parse_recording(path, day)
    elif name == "parse+pack":
        whole = parse_recording(path, day)
        feed = ReplayDay.of(whole)
    elif name == "merge":
        feed = store.whole(path, day, n)
    else:
        feed = store.replay_day(path, day, n)
    out.update(load_cpu_s=time.process_time() - c, load_peak_mb=_vm("VmHWM"),
               day_rss_mb=_vm("VmRSS"), books_mb=_books_mb(feed.books))
    _reset()
    c = time.process_time()
    res = joint_result(DmEngine(cfg, cal), TraderEngine(trader_settings({})), feed, rows, alphas)
    out.update(joint_cpu_s=time.process_time() - c, joint_peak_mb=_vm("VmHWM"),
               decisions=len(res.decisions),
               trades=sum(d.action == "trade" for d in res.decisions),
               vetoes=sum(e["kind"] == "veto" for d in res.decisions for e in d.curation),
               fills=sum(o.kind == "fill" for o in res.outputs), events=res.events)
    out["digest"] = _digest(res.outputs)
    return out


def _digest(outputs: list) -> str:
    from lotus_core.fabric.envelope import canonical_json

    h = hashlib.sha256()
    for o in outputs:
        h.update(canonical_json(o.data))
    return h.hexdigest()[:16]


def _streamed(out: dict, rows: Any, path: Path, day: str, n: int, work: Path, cfg: Any,
              cal: Any, alphas: Any) -> dict:
    """The `streamed` variant: 'get the day' is the spill of the shards."""
    import tempfile

    from lotus_core.dm.engine import DmEngine
    from lotus_core.dm.joint import joint_result
    from lotus_core.dm.replay import TAPE_COLUMNS
    from lotus_core.feed.shard_store import ShardStore
    from lotus_core.store.by_coin import CoinDay
    from lotus_core.store.lake import Lake
    from lotus_core.trader.config import trader_settings
    from lotus_core.trader.day_sources import spill_shards, tape_in_order, with_rows
    from lotus_core.trader.engine import TraderEngine

    del rows
    out["base_rss_mb"] = _vm("VmRSS")
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        _reset()
        c = time.process_time()
        spilled = spill_shards(ShardStore(work / "feed_shards").shards(path, day, n),
                               Path(tmp) / "feed")
        assert spilled is not None
        out.update(load_cpu_s=time.process_time() - c, load_peak_mb=_vm("VmHWM"),
                   day_rss_mb=_vm("VmRSS"), books_mb=0.0)
        _reset()
        c = time.process_time()
        tape = CoinDay(Lake(work / "lake"), "microtape_frames", day)
        chunks = with_rows(spilled.chunks(), tape_in_order(tape, TAPE_COLUMNS, Path(tmp)))
        res = joint_result(DmEngine(cfg, cal), TraderEngine(trader_settings({})), chunks, None,
                        alphas)
    out.update(joint_cpu_s=time.process_time() - c, joint_peak_mb=_vm("VmHWM"),
               decisions=len(res.decisions),
               trades=sum(d.action == "trade" for d in res.decisions),
               vetoes=sum(e["kind"] == "veto" for d in res.decisions for e in d.curation),
               fills=sum(o.kind == "fill" for o in res.outputs), events=res.events,
               digest=_digest(res.outputs))
    return out


def prepare(path: Path, day: str, n: int, work: Path) -> None:
    """The MicroTape (the step's input) and the stored shards, once."""
    import pandas as pd

    from lotus_core.feed.parse import parse_recording
    from lotus_core.feed.shard_store import ShardStore
    from lotus_core.microtape import MicroTapeParams, build_microtape
    from lotus_core.store.lake import Lake

    work.mkdir(parents=True, exist_ok=True)
    if not (work / "microtape.parquet").is_file():
        feed = parse_recording(path, day)
        build_microtape(feed, MicroTapeParams()).to_parquet(work / "microtape.parquet")
        del feed
    lake = Lake(work / "lake")
    if not lake.exists("microtape_frames", day):  # by coin, as the step reads it
        tape = pd.read_parquet(work / "microtape.parquet").sort_values(["coin", "ts_ms"],
                                                                       kind="stable")
        lake.write_parts("microtape_frames", day, (g for _, g in tape.groupby("coin")),
                         tape.iloc[:0])
    for shard in ShardStore(work / "feed_shards").shards(path, day, n):
        del shard


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recording", type=Path)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--alphas", type=int, default=175)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    args = ap.parse_args()
    day = args.recording.name[:10]
    if args.variant:
        print(json.dumps(variant(args.variant, args.recording, day, args.shards, args.work,
                                 args.alphas)))
        return
    prepare(args.recording, day, args.shards, args.work)
    rows = []
    for name in args.variants.split(","):
        got = subprocess.run([sys.executable, "-m", "bench.replay_memory", str(args.recording),
                              "--shards", str(args.shards), "--work", str(args.work),
                              "--alphas", str(args.alphas), "--variant", name],
                             check=True, capture_output=True, text=True)
        rows.append(json.loads(got.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
    print("| variant | books MB | get the day: CPU s / peak MB | RSS with the day MB | "
          "joint_day: CPU s / peak MB | digest |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        label = r["variant"] + ("" if r["variant"].startswith("parse") else
                                f" (N={args.shards})")
        print(f"| {label} | {r['books_mb']:,.0f} | {r['load_cpu_s']:.1f} / "
              f"{r['load_peak_mb']:,.0f} | {r['day_rss_mb']:,.0f} | {r['joint_cpu_s']:.1f} / "
              f"{r['joint_peak_mb']:,.0f} | {r['digest']} |")


if __name__ == "__main__":
    main()
