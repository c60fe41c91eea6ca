"""Entry points: generate synthetic recording days with their planted truth.

`generate_day` writes `<out_dir>/<YYYY-MM-DD>.jsonl.gz` and `<YYYY-MM-DD>.truth.json`;
the output is a pure function of (seed, spec, day, coins, hours), byte for byte.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from lotus_core.synth.identities import UserPool
from lotus_core.synth.latent import build_coin_latent
from lotus_core.synth.recording import PING_EVERY_MS, FeedWriter, merge
from lotus_core.synth.render import render_coin_hour
from lotus_core.synth.rng import NO_COIN, Stream, stream
from lotus_core.synth.spec import SynthSpec
from lotus_core.synth.truth import build_truth, write_truth
from lotus_core.synth.wire import (
    PONG,
    CoinWire,
    connected_frame,
    subscription_ack,
    subscriptions,
)
from lotus_core.time import DAY_MS, HOUR_MS, day_start_ms

Progress = Callable[[str], None]


def _check_args(coins: Sequence[str], seed: int, spec: SynthSpec, hours: tuple[int, int]) -> None:
    if isinstance(coins, str) or not coins:
        raise ValueError("coins: need a non-empty list of coin names")
    if len(set(coins)) != len(coins):
        raise ValueError(f"coins: duplicates in {list(coins)}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
    if not isinstance(spec, SynthSpec):
        raise TypeError(f"spec: must be a SynthSpec, got {type(spec).__name__}")
    start, end = hours
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= 24):
        raise ValueError(f"hours: need integers 0 <= start < end <= 24, got {hours!r}")


def generate_day(out_dir: Path, day: date, coins: list[str], seed: int, spec: SynthSpec,
                 hours: tuple[int, int] = (0, 24), progress: Progress | None = None
                 ) -> list[Path]:
    """Write one synthetic day; returns [feed path, truth path]."""
    _check_args(coins, seed, spec, hours)
    day = date(day.year, day.month, day.day)  # a datetime would leak its time into names
    hours = (int(hours[0]), int(hours[1]))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = int(seed)
    ordinal = day.toordinal()
    latents = [build_coin_latent(seed, day, coin, spec) for coin in coins]
    users = UserPool.draw(stream(seed, ordinal, NO_COIN, Stream.USERS))
    wires = [CoinWire(lat.coin, lat.tick_decimals, lat.profile.sz_decimals) for lat in latents]
    seen_tids: set[int] = set()
    start_ms = day_start_ms(day) + hours[0] * HOUR_MS
    end_ms = day_start_ms(day) + hours[1] * HOUR_MS
    feed_path = out_dir / f"{day.isoformat()}.jsonl.gz"
    with FeedWriter(feed_path) as writer:
        control = [connected_frame()] + [subscription_ack(s) for c in coins
                                         for s in subscriptions(c)]
        writer.write_at([start_ms + i for i in range(len(control))], control)
        for hour in range(*hours):
            chunks = [render_coin_hour(lat, hour, seed, wire, users, seen_tids)
                      for lat, wire in zip(latents, wires, strict=True)]
            hour_start = day_start_ms(day) + hour * HOUR_MS
            pings = hour_start + PING_EVERY_MS * np.arange(HOUR_MS // PING_EVERY_MS)
            pings = pings[pings > start_ms]
            venue, payloads = merge(chunks, pings, [PONG] * len(pings))
            writer.write_delivered(stream(seed, ordinal, NO_COIN, Stream.LATENCY, hour),
                                   venue, payloads, recv_limit_ms=day_start_ms(day) + DAY_MS)
            if progress is not None:
                progress(f"{day.isoformat()} {hour:02d}:00 UTC done "
                         f"({hour + 1 - hours[0]}/{hours[1] - hours[0]} h, {len(coins)} coins)")
        lines = writer.lines
    truth_path = out_dir / f"{day.isoformat()}.truth.json"
    write_truth(truth_path, build_truth(day=day, seed=seed, spec=spec, coins=list(coins),
                                        hours=hours, latents=latents, start_ms=start_ms,
                                        end_ms=end_ms, feed_path=feed_path, lines=lines))
    return [feed_path, truth_path]


def _generate_one(args: tuple) -> list[Path]:  # a pool task: module level, picklable
    return generate_day(*args)


def generate_days(out_dir: Path, start: date, days: int, coins: list[str], seed: int,
                  spec: SynthSpec, hours: tuple[int, int] = (0, 24),
                  progress: Progress | None = None, workers: int = 1) -> list[Path]:
    """Write `days` consecutive days from `start`; returns feed and truth paths per day.

    Each day is a pure function of (seed, spec, day, coins, hours), so `workers` > 1 writes
    days side by side in forked processes (same bytes; progress is then not reported)."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days: must be a positive integer, got {days!r}")
    _check_args(coins, seed, spec, hours)
    tasks = [(out_dir, start + timedelta(days=i), coins, seed, spec, hours)
             for i in range(days)]
    workers = max(1, min(int(workers), days))
    if workers > 1:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        pool = mp.get_context("fork").Pool(workers)
        try:
            done = pool.map(_generate_one, tasks, chunksize=1)
            pool.close()  # workers exit on their own
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()
        return [p for day_paths in done for p in day_paths]
    paths: list[Path] = []
    for task in tasks:
        paths += generate_day(*task, progress)
    return paths
