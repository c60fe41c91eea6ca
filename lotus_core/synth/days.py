"""What every market generator does around its own model: check the arguments, write a
day's recording hour by hour (control frames, the coins' chunks merged with the pongs,
receive latency), and write several days, side by side in forked processes if asked.

A generator gives `write_day_feed` its hours as `Rendered` chunks and its latency stream;
the recording's bytes are then a function of those alone (lotus_core.synth and
lotus_core.flowmarket write through here, so their files have one format)."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from lotus_core.synth.recording import PING_EVERY_MS, FeedWriter, merge
from lotus_core.synth.render import Rendered
from lotus_core.time import DAY_MS, HOUR_MS, day_start_ms
from lotus_core.venues.hyperliquid.encode import (
    PONG,
    connected_frame,
    subscription_ack,
    subscriptions,
)

Progress = Callable[[str], None]


def check_day_args(coins: Sequence[str], seed: int, spec: Any, spec_type: type,
                   hours: tuple[int, int]) -> None:
    """A clear error for each argument a generator cannot use."""
    if isinstance(coins, str) or not coins:
        raise ValueError("coins: need a non-empty list of coin names")
    if len(set(coins)) != len(coins):
        raise ValueError(f"coins: duplicates in {list(coins)}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
    if not isinstance(spec, spec_type):
        raise TypeError(f"spec: must be a {spec_type.__name__}, got {type(spec).__name__}")
    start, end = hours
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= 24):
        raise ValueError(f"hours: need integers 0 <= start < end <= 24, got {hours!r}")


def write_day_feed(feed_path: Path, day: date, coins: Sequence[str], hours: tuple[int, int],
                   hour_chunks: Callable[[int], list[Rendered]],
                   latency: Callable[[int], np.random.Generator],
                   progress: Progress | None = None) -> int:
    """Write `day`'s recording: the connection and subscription frames at the first hour's
    start, then each hour's chunks (`hour_chunks(hour)`, one per coin) merged with a pong
    every 30 s, delivered with `latency(hour)`'s delays. Returns the lines written."""
    start_ms = day_start_ms(day) + hours[0] * HOUR_MS
    with FeedWriter(feed_path) as writer:
        control = [connected_frame()] + [subscription_ack(s) for c in coins
                                         for s in subscriptions(c)]
        writer.write_at([start_ms + i for i in range(len(control))], control)
        for hour in range(*hours):
            chunks = hour_chunks(hour)
            hour_start = day_start_ms(day) + hour * HOUR_MS
            pings = hour_start + PING_EVERY_MS * np.arange(HOUR_MS // PING_EVERY_MS)
            pings = pings[pings > start_ms]
            venue, payloads = merge(chunks, pings, [PONG] * len(pings))
            writer.write_delivered(latency(hour), venue, payloads,
                                   recv_limit_ms=day_start_ms(day) + DAY_MS)
            if progress is not None:
                progress(f"{day.isoformat()} {hour:02d}:00 UTC done "
                         f"({hour + 1 - hours[0]}/{hours[1] - hours[0]} h, {len(coins)} coins)")
        return int(writer.lines)


def _generate_one(task: tuple[Any, ...]) -> list[Path]:  # a pool task: module level
    generate_day, *args = task
    return list(generate_day(*args))


def generate_days_with(generate_day: Callable[..., list[Path]], spec_type: type,
                       out_dir: Path, start: date, days: int, coins: list[str], seed: int,
                       spec: Any, hours: tuple[int, int], progress: Progress | None,
                       workers: int) -> list[Path]:
    """`days` consecutive days from `start` by `generate_day` (a module-level function:
    the forked pool pickles it by name); returns feed and truth paths per day. Each day is
    a pure function of its arguments, so `workers` > 1 writes days side by side (same
    bytes; progress is then not reported)."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days: must be a positive integer, got {days!r}")
    check_day_args(coins, seed, spec, spec_type, hours)
    tasks = [(generate_day, out_dir, start + timedelta(days=i), coins, seed, spec, hours)
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
    for generate, *args in tasks:
        paths += generate(*args, progress)
    return paths
