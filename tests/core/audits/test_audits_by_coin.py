"""`detector_audits` reads the tape one coin at a time: the audits of a day read
coin by coin from the lake are the audits of the whole frame, and each detector's
future-touch cuts, drawn as positions over a day it never holds whole, are the cuts
`cut_points` draws on the whole frame.

Counts, verdicts and texts are compared exactly; the metrics (sums of det_sigma added in a
different order, coin by coin) within RTOL, never bit for bit (numpy's vector loops may
round differently on arrays of other lengths, and machines differ)."""

from __future__ import annotations

import importlib
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lotus_core.audits import audit_by_coin, audit_day, future_touch
from lotus_core.signals import load_detectors
from lotus_core.signals.config import load_scoring
from lotus_core.signals.detectors import SLICE_COLUMNS, run_detectors, tape_windows
from lotus_core.signals.pipeline import SCORE_COLUMNS, detect_day, score_columns
from lotus_core.signals.quality import history_quality
from lotus_core.store.by_coin import CoinDay, FrameCoins
from lotus_core.store.lake import Lake
from tests.kits.audits_badkit import load_bad, tampered
from tests.kits.signals_kit import fixture_tape

DAY = "2026-01-03"
BAD = Path(__file__).parents[2] / "data" / "detectors_bad.yaml"
RTOL = 1e-9
EXACT = ["detector_id", "recipe_hash", "production", "n_windows", "future_touch_ok",
         "future_touch_metric", "label_shuffle_ok", "label_shuffle_verdict", "rolling_gap_ok",
         "adversarial_ok", "leakage_ok", "card_ok"]


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """The fixture day (shipped + test-only leaky/fragile detectors), audited whole and
    read coin by coin from a lake written as `microtape_frames` writes it."""
    frames = fixture_tape(DAY)
    bad, tampers = load_bad(BAD)
    specs = load_detectors().enabled + bad
    tape = FrameCoins(frames)
    assert len(tape.coins()) >= 3
    lake = Lake(tmp_path_factory.mktemp("lake"))
    lake.write_parts("microtape_frames", DAY, (tape.read(c) for c in tape.coins()),
                     frames.iloc[:0])
    scoring = load_scoring()
    with tampered(tampers):
        whole = audit_day(frames, DAY, specs, scoring=scoring)
        by_coin = audit_by_coin(CoinDay(lake, "microtape_frames", DAY), DAY, specs,
                                scoring=scoring)
        touches = {s.id: future_touch(frames, s, DAY, scoring=scoring) for s in specs}
    return frames, specs, whole, by_coin, touches


def test_the_audits_read_coin_by_coin_are_the_whole_days(day):
    _, _, whole, by_coin, _ = day
    assert not whole["future_touch_ok"].all()  # the leaky detector is there to be caught
    assert not whole["adversarial_ok"].all()  # ... and the fragile one
    pd.testing.assert_frame_equal(by_coin[EXACT], whole[EXACT])
    pd.testing.assert_frame_equal(by_coin, whole, check_exact=False, rtol=RTOL)


def test_each_detectors_cuts_are_the_whole_frames(day):
    """The future-touch detail (cuts, re-scored cuts, windows checked, mismatches) of the
    by-coin audit equals `future_touch` of the whole frame, which draws with `cut_points`."""
    _, _, _, by_coin, touches = day
    for row in by_coin.itertuples():
        t = touches[row.detector_id]
        assert json.loads(row.detail)["future_touch"] == t.detail, row.detector_id
        assert row.future_touch_metric == t.metric


def test_a_choice_of_values_is_the_values_at_a_choice_of_positions():
    """What `cut_draws` relies on (numpy's `Generator.choice` of an array is the array at
    the positions it draws for the array's length): guarded here, since a numpy release
    that changed it would move the by-coin audit's cuts away from `cut_points`'."""
    for seed in range(20):
        n, k = 50 + 37 * seed, 1 + seed % 9
        values = np.arange(n, dtype=np.int64) * 1000 + seed
        a, b = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 1])
        np.testing.assert_array_equal(a.choice(values, size=k, replace=False),
                                      values[b.choice(n, size=k, replace=False)])
        np.testing.assert_array_equal(a.choice(values, size=n // 2, replace=False),
                                      values[b.choice(n, size=n // 2, replace=False)])


def test_cuts_run_together_are_each_cut_run_alone(day):
    """`touch_coin` runs a coin's cuts in one call, each cut's trailing tape keyed as its
    own coin (`_apart`): every window equals that tape's own call and every score too (to
    1e-12), for every detector (the peeking one included: its peek stays inside its own tape),
    for a one-row tape, the whole tape, and with per-coin history (`coins_as`); and so
    with the whole tape's windows held (`known`) instead of run."""
    FT = importlib.import_module("lotus_core.audits.future_touch")
    frames, specs, *_ = day
    _, tampers = load_bad(BAD)
    scoring = load_scoring()
    # the day's first 40 minutes hold windows to compare (`compared`), and a cut's
    # trailing window (20 minutes here) is shorter than the tape
    head = frames[frames["ts_ms"] < frames["ts_ms"].min() + 40 * 60_000]
    history = detect_day(head, specs, scoring=scoring).assign(date="2026-01-02")
    tape = FrameCoins(head).read(FrameCoins(head).coins()[0])
    ts = tape["ts_ms"].to_numpy()
    cuts = [int(ts[0]), int(ts[len(ts) // 5]), int(ts[len(ts) // 2]), int(ts[-1])]
    tapes = [FT.trailing_rows(ts, t, 1_200_000) for t in cuts] + [np.arange(len(tape))]
    assert len(tapes[0]) == 1 and len(tapes[1]) < len(tapes[2])
    compared = 0
    with tampered(tampers):
        for spec in specs:
            hq = history_quality(history, [spec], scoring.sq)
            assert len(hq.by_coin) > 0
            runs = ((lambda f, _, k: run_detectors(f, [spec], k), ["raw_strength"]),  # noqa: B023
                    (lambda f, names, k: score_columns(  # noqa: B023
                        f, [spec], scoring=scoring, hq=FT.coins_as(hq, names),  # noqa: B023
                        known=k),
                     list(SCORE_COLUMNS)))
            whole = {len(tapes) - 1: run_detectors(tape, [spec])}  # the whole tape's, held
            for (run, cols), known in itertools.product(runs, ({}, whole)):
                together = FT._apart(tape, tapes, run, cols, known=known)
                for rows, got in zip(tapes, together, strict=True):
                    alone = FT._Keyed.of(run(tape.iloc[rows].reset_index(drop=True), {}, {}),
                                         cols)
                    for a, b in ((got.ts, alone.ts), (got.coin, alone.coin),
                                 (got.direction, alone.direction)):
                        np.testing.assert_array_equal(a, b)
                    # the same rows through the same code; floats to 1e-12 (a reduction
                    # over a slice at another offset may round otherwise on other CPUs)
                    np.testing.assert_allclose(got.values, alone.values, rtol=0, atol=1e-12)
                    compared += len(alone)
    assert compared > 0


def test_matched_sigma_is_the_nearest_merge_it_replaced():
    """`_matched`'s binary searches sum the det_sigma `pd.merge_asof(direction="nearest")`
    matches: ties, repeated times, both directions, other coins, NaN and no match."""
    AD = importlib.import_module("lotus_core.audits.adversarial")
    rng = np.random.default_rng(5)

    def merged(base, pert, tol):
        keys = ["ts_ms", "coin", "direction", "det_sigma"]
        left = base[keys].sort_values("ts_ms", kind="stable")
        right = pert[keys].rename(columns={"det_sigma": "sigma_p"}).sort_values(
            "ts_ms", kind="stable")
        m = pd.merge_asof(left, right, on="ts_ms", by=["coin", "direction"], tolerance=tol,
                          direction="nearest")
        return float(np.nan_to_num(m["sigma_p"].to_numpy(np.float64)).sum())

    def windows(n):
        sigma = rng.random(n)
        sigma[rng.random(n) < 0.1] = np.nan
        return pd.DataFrame({"ts_ms": rng.integers(0, 60, n).astype(np.int64) * 1000,
                             "coin": rng.choice(["BTC", "ETH"], n),
                             "direction": rng.choice([-1, 1], n).astype(np.int8),
                             "det_sigma": sigma})

    for _ in range(200):
        base, pert = windows(int(rng.integers(0, 40))), windows(int(rng.integers(0, 40)))
        tol = int(rng.choice([0, 1000, 2000, 5000]))
        assert AD._matched(base, pert, tol) == merged(base, pert, tol)


def test_held_windows_and_batched_tapes_are_the_windows_run(day):
    """`run_detectors` with a coin's windows held (`known`) returns what it runs, and
    `tape_windows` (every detector's cuts in one pass) each tape's own `run_detectors`: the
    arrays the future-touch and adversarial audits take instead of running again."""
    frames, specs, *_ = day
    tape = FrameCoins(frames)
    coin = tape.coins()[0]
    alone = run_detectors(tape.read(coin), specs)
    pd.testing.assert_frame_equal(run_detectors(frames, specs, {coin: alone}),
                                  run_detectors(frames, specs), check_exact=True)
    one = tape.read(coin)
    ts = one["ts_ms"].to_numpy()
    tapes = [(np.arange(len(one))[ts <= t][-n:], s) for s, (t, n) in
             zip(specs, itertools.cycle([(ts[len(ts) // 3], 400), (ts[-1], 900),
                                         (ts[0], 1)]))]
    for (rows, spec), (wts, direction, strength) in zip(
            tapes, tape_windows(one, tapes), strict=True):
        want = run_detectors(one.iloc[rows].reset_index(drop=True), [spec])
        np.testing.assert_array_equal(wts, want["ts_ms"].to_numpy())
        np.testing.assert_array_equal(direction, want["direction"].to_numpy())
        np.testing.assert_array_equal(strength, want["raw_strength"].to_numpy())


def test_a_wider_spread_leaves_what_the_detectors_read(day):
    """The perturbations in KEEPS_WINDOWS change no row and no column `run_detectors` reads,
    so the adversarial audit scores them with the tape's own windows."""
    AD = importlib.import_module("lotus_core.audits.adversarial")
    frames, *_ = day
    one = FrameCoins(frames).read(FrameCoins(frames).coins()[0])
    for kind in AD.KEEPS_WINDOWS:
        out = AD.perturb(one, kind, AD.AuditConfig(), AD.perturb_rng(AD.AuditConfig(), "X", kind))
        for c in ("ts_ms", "coin", *SLICE_COLUMNS):
            pd.testing.assert_series_equal(out[c], one[c], check_exact=True)
