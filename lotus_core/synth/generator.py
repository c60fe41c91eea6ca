"""Entry points: generate synthetic recording days with their planted truth.

`generate_day` writes `<out_dir>/<YYYY-MM-DD>.jsonl.gz` and `<YYYY-MM-DD>.truth.json`;
the output is a pure function of (seed, spec, day, coins, hours), byte for byte.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from lotus_core.synth.days import Progress, check_day_args, generate_days_with, write_day_feed
from lotus_core.synth.identities import UserPool
from lotus_core.synth.latent import build_coin_latent
from lotus_core.synth.render import render_coin_hour
from lotus_core.synth.rng import NO_COIN, Stream, stream
from lotus_core.synth.spec import SynthSpec
from lotus_core.synth.truth import build_truth, write_truth
from lotus_core.time import HOUR_MS, day_start_ms
from lotus_core.venues.hyperliquid.encode import CoinWire

__all__ = ["Progress", "generate_day", "generate_days"]


def generate_day(out_dir: Path, day: date, coins: list[str], seed: int, spec: SynthSpec,
                 hours: tuple[int, int] = (0, 24), progress: Progress | None = None
                 ) -> list[Path]:
    """Write one synthetic day; returns [feed path, truth path]."""
    check_day_args(coins, seed, spec, SynthSpec, hours)
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
    lines = write_day_feed(
        feed_path, day, coins, hours,
        lambda hour: [render_coin_hour(lat, hour, seed, wire, users, seen_tids)
                      for lat, wire in zip(latents, wires, strict=True)],
        lambda hour: stream(seed, ordinal, NO_COIN, Stream.LATENCY, hour), progress)
    truth_path = out_dir / f"{day.isoformat()}.truth.json"
    write_truth(truth_path, build_truth(day=day, seed=seed, spec=spec, coins=list(coins),
                                        hours=hours, latents=latents, start_ms=start_ms,
                                        end_ms=end_ms, feed_path=feed_path, lines=lines))
    return [feed_path, truth_path]


def generate_days(out_dir: Path, start: date, days: int, coins: list[str], seed: int,
                  spec: SynthSpec, hours: tuple[int, int] = (0, 24),
                  progress: Progress | None = None, workers: int = 1) -> list[Path]:
    """Write `days` consecutive days from `start`; returns feed and truth paths per day.

    Each day is a pure function of (seed, spec, day, coins, hours), so `workers` > 1 writes
    days side by side in forked processes (same bytes; progress is then not reported)."""
    return generate_days_with(generate_day, SynthSpec, out_dir, start, days, coins, seed,
                              spec, hours, progress, workers)
