"""The DSI fit's history bounded by whole coin-days (lotus_core/dsi/history.py): below the
bound nothing changes; above it whole coin-days within it, the same ones whether the
history is read from the lake (`read_history`, the nightly step and the daemon) or handed
whole to `fit_dsi` (a replay); and the fit on the sample estimates what the whole history's
fit estimates."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lotus_core.dsi import fit_dsi, load_registry, tape_columns
from lotus_core.dsi.history import CoinDayRows, bounded, chosen, read_history
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.lake import Lake

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"

DAYS = ["2026-01-02", "2026-01-03", "2026-01-04"]
REGISTRY = load_registry()
COLUMNS = tape_columns(REGISTRY)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    """The three fixture days' MicroTape (the experts' columns), a row group per coin; the
    second day's coins written in reverse name order (the fit's days sort them)."""
    lake = Lake(tmp_path_factory.mktemp("dsi_history"))
    for k, day in enumerate(DAYS):
        tape = build_microtape(parse_recording(FIXTURES / f"{day}.jsonl.gz"))[COLUMNS]
        parts = [g.reset_index(drop=True) for _, g in tape.groupby("coin", sort=True)]
        parts = parts[::-1] if k == 1 else parts
        lake.write_parts("microtape_frames", day, iter(parts), empty=tape.iloc[:0])
    return lake


def _days(lake: Lake) -> list[CoinDay]:
    return [CoinDay(lake, "microtape_frames", d) for d in DAYS]


def _whole(lake: Lake) -> pd.DataFrame:
    return pd.concat([lake.read("microtape_frames", d, COLUMNS).assign(date=d) for d in DAYS],
                     ignore_index=True)


def _ordered(frames: pd.DataFrame) -> pd.DataFrame:
    return frames.sort_values(["date", "coin", "ts_ms"], kind="stable").reset_index(drop=True)


def _registry(history_rows: int | None):
    return REGISTRY.model_copy(update={"history_rows": history_rows})


def test_below_the_bound_every_coin_day_is_read_as_before(lake):
    whole = _whole(lake)
    for bound in (None, len(whole)):
        h = read_history(_days(lake), COLUMNS, bound)
        assert (h.coin_days, h.of_coin_days, h.rows) == (9, 9, len(whole))
        assert not h.sampled
        pd.testing.assert_frame_equal(_ordered(h.frames), _ordered(whole))
        assert bounded(whole, bound) is whole


def test_above_the_bound_whole_coin_days_within_it(lake):
    whole = _whole(lake)
    per = whole.groupby(["date", "coin"]).size()
    bound = int(per.max() * 3.5)
    h = read_history(_days(lake), COLUMNS, bound)
    assert h.sampled and 1 <= h.coin_days < 9 and h.of_coin_days == 9
    assert h.rows == len(h.frames) <= bound
    got = h.frames.groupby(["date", "coin"]).size()
    assert (got == per.loc[got.index]).all(), "a coin-day was cut"
    assert h.coin_days == 3, "the greedy fill should take 3 of these near-equal coin-days"


def test_the_read_and_the_fit_keep_the_same_coin_days(lake):
    """A replay that hands the whole window to fit_dsi fits on the nightly read's rows."""
    whole = _whole(lake)
    bound = len(whole) // 2
    read = read_history(_days(lake), COLUMNS, bound)
    cut = bounded(whole, bound)
    assert cut is not None
    pd.testing.assert_frame_equal(_ordered(cut), _ordered(read.frames))
    reg = _registry(bound)
    from_lake, from_whole = fit_dsi(read, registry=reg), fit_dsi(whole, registry=reg)
    for a, b in zip(from_lake.experts, from_whole.experts, strict=True):
        assert (a.counts.successes, a.counts.trials) == (b.counts.successes, b.counts.trials)
        assert a.posterior.mean == pytest.approx(b.posterior.mean, rel=1e-12)
    assert from_whole.history_days == DAYS[: len(from_whole.history_days)]


def test_the_choice_depends_on_the_coin_days_not_their_order():
    rng = random.Random(5)
    parts = [CoinDayRows(f"2026-01-{d:02d}", f"C{c}", rng.randint(1_000, 9_000))
             for d in range(1, 8) for c in range(40)]
    keep = {(p.day, p.coin) for p in chosen(parts, 60_000)}
    shuffled = parts[:]
    rng.shuffle(shuffled)
    assert {(p.day, p.coin) for p in chosen(shuffled, 60_000)} == keep
    assert sum(p.rows for p in parts if (p.day, p.coin) in keep) <= 60_000


def test_added_coins_leave_the_coin_days_ranked_before_them_alone():
    """A coin-day's rank is its hash: adding coin-days decides nothing ranked before the
    first added one (what a universe that grows keeps of its sample)."""
    base = [CoinDayRows("2026-01-01", f"C{c}", 1_000) for c in range(50)]
    more = base + [CoinDayRows("2026-01-01", f"N{c}", 1_000) for c in range(50)]
    keys = np.array([f"{p.day}/{p.coin}" for p in more], dtype=object)
    rank = pd.util.hash_array(keys, categorize=False)
    first_new = rank[50:].min()
    before = {(p.day, p.coin) for p, r in zip(base, rank[:50], strict=True) if r < first_new}
    a = {(p.day, p.coin) for p in chosen(base, 20_000)} & before
    b = {(p.day, p.coin) for p in chosen(more, 20_000)} & before
    assert a == b


def test_one_coin_day_larger_than_the_bound_is_still_a_history():
    parts = [CoinDayRows("2026-01-01", "BTC", 5_000), CoinDayRows("2026-01-01", "ETH", 6_000)]
    assert len(chosen(parts, 1_000)) == 1


def test_the_sampled_fit_estimates_the_whole_fit(lake):
    """Each expert's reliability from half the coin-days lies within three of its sample
    posterior's standard deviations of the whole history's: whole coin-days are an
    unbiased sample of the episodes (the label and the runs are not cut)."""
    whole = _whole(lake)
    full = fit_dsi(whole, registry=_registry(None))
    half = fit_dsi(whole, registry=_registry(len(whole) // 2))
    assert sum(s.counts.trials for s in half.experts) < sum(s.counts.trials for s in full.experts)
    for a, b in zip(half.experts, full.experts, strict=True):
        post = a.posterior
        sd = np.sqrt(post.alpha * post.beta / ((post.alpha + post.beta) ** 2
                                               * (post.alpha + post.beta + 1)))
        assert abs(post.mean - b.posterior.mean) <= 3 * sd, (a.id, post, b.posterior)
    assert abs(half.base_rate - full.base_rate) < 0.03
