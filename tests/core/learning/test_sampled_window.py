"""The learning window read from the lake a slice at a time (`lotus_core.learning.sample`):
below the cap it is the whole window's frame, value for value; above it, exactly the
windows the hash keeps, a uniform share of them, nested as the rate falls; and the planted
effect is still found, with its interval covering the truth, on half the windows."""

import numpy as np
import pandas as pd
import pytest

from lotus_core.evaluation import with_late
from lotus_core.learning import pipeline
from lotus_core.learning.atoms import WINDOW_COLUMNS
from lotus_core.learning.config import load_learning
from lotus_core.learning.frame import EVENT_COLUMNS
from lotus_core.learning.sample import keep_rate, kept, read_window
from lotus_core.learning.window_lake import LATE_NET_BPS, eval_rows, write_frame
from lotus_core.signals.config import load_scoring
from lotus_core.signals.context import parse_cond_key
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.lake import Lake
from tests.kits.learning_kit import PLANTED, make_learning_frame

CFG = load_learning()
BASE = load_scoring().context
DELTA = 6.0


def _lake(tmp_path, frame: pd.DataFrame) -> tuple[list[CoinDay], list[CoinDay], list[CoinDay]]:
    """`frame` written as the three tables of its days (`lotus_core.learning.window_lake`)."""
    lake = Lake(tmp_path / "lake")
    days = write_frame(lake, frame, CFG.horizon_s)
    return tuple([CoinDay(lake, asset, d) for d in days]  # type: ignore[return-value]
                 for asset in ("signal_events", "signal_eval", "signal_eval_late"))


def _whole(days: tuple[list[CoinDay], ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The window as the lake IO manager handed it before: each table whole, days laid
    together with `date`, late outcomes laid on."""
    ev, evals, late = ([d.whole(EVENT_COLUMNS if k == 0 else None).assign(date=d.day)
                        for d in group] for k, group in enumerate(days))
    return (pd.concat(ev, ignore_index=True),
            with_late(pd.concat(evals, ignore_index=True), pd.concat(late, ignore_index=True)))


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    frame = make_learning_frame(days=6, seed=11, delta_bps=DELTA, decoy_agreement=0.8)
    return frame, _lake(tmp_path_factory.mktemp("sampled"), frame)


def test_below_the_cap_the_window_is_the_whole_lakes_frame(planted):
    _, days = planted
    events, evals = _whole(days)
    whole = pipeline.window_from_lake(events, evals, CFG, BASE)
    read = pipeline.window_from_days(*days, CFG.model_copy(update={"max_windows": None}), BASE)
    _same_window(read, whole)
    assert read.rate == 1.0 and read.windows == len(events) and read.label == whole.label
    late = read.frame.set_index("window_id").loc[
        days[2][0].whole()["window_id"].iloc[:3], "net_ret_bps"]
    assert (late == LATE_NET_BPS).all()  # the late outcomes were laid on


def _same_window(read: pipeline.TrainingWindow, whole: pipeline.TrainingWindow) -> None:
    """The read window holds the whole frame's rows, in its order, with the columns the
    night reads (not the context, which it holds as literals: the same values, as
    categoricals), and the same quantiser."""
    assert read.quantizer == whole.quantizer
    assert list(read.frame.columns) == ["window_id", "ts_ms", "coin", "detector_id", "date",
                                        "net_ret_bps", "hit", "mfe_bps", "mae_bps"]
    pd.testing.assert_frame_equal(read.frame, whole.frame[read.frame.columns])
    assert all(isinstance(t, pd.CategoricalDtype) for t in read.lits.dtypes)
    pd.testing.assert_frame_equal(read.lits.astype(object), whole.lits.astype(object))


def test_a_step_that_reads_fewer_columns_holds_those_and_makes_the_same_atoms(planted):
    """`lesson_atoms` holds the window's detector and day alone (`held`): the same rows,
    values and order of those columns, the same literals and label, the same atoms."""
    _, days = planted
    cfg = CFG.model_copy(update={"max_windows": None})
    whole = pipeline.window_from_days(*days, cfg, BASE)
    few = pipeline.window_from_days(*days, cfg, BASE, whole.quantizer, held=WINDOW_COLUMNS)
    assert list(few.frame.columns) == ["detector_id", "date", "net_ret_bps", "hit", "mfe_bps",
                                       "mae_bps"]
    pd.testing.assert_frame_equal(few.frame, whole.frame[few.frame.columns], check_exact=True)
    pd.testing.assert_frame_equal(few.lits, whole.lits, check_exact=True)
    assert few.label == whole.label
    day = days[0][-1].day
    pd.testing.assert_frame_equal(
        pd.concat(pipeline.atom_parts(few, day, cfg), ignore_index=True),
        pd.concat(pipeline.atom_parts(whole, day, cfg), ignore_index=True), check_exact=True)


def test_above_the_cap_the_frame_is_exactly_the_kept_windows(planted):
    _, days = planted
    tw = pipeline.window_from_lake(*_whole(days), CFG, BASE)
    whole = tw.frame
    n = sum(d.rows() for d in days[0])
    cap = n // 3
    read = pipeline.window_from_days(*days, CFG.model_copy(update={"max_windows": cap}), BASE)
    assert read.rate == pytest.approx(cap / n) and read.windows == n
    keep = kept(whole["window_id"].to_numpy(), read.rate)
    mine = pipeline.training_window(whole[keep], CFG, BASE)  # the kept rows, quantised on their own
    _same_window(read, mine)
    # a uniform share: within 4 binomial sd of the rate, for the window and each detector
    for part in (whole, *(g for _, g in whole.groupby("detector_id"))):
        share = kept(part["window_id"].to_numpy(), read.rate).mean()
        sd = np.sqrt(read.rate * (1 - read.rate) / len(part))
        assert abs(share - read.rate) <= 4 * sd, (share, read.rate)


def test_the_sample_is_a_hash_nested_as_the_rate_falls():
    ids = np.array([f"BTC-d{i % 7}-{i}" for i in range(20_000)], dtype=object)
    hi, lo = kept(ids, 0.6), kept(ids, 0.3)
    assert not (lo & ~hi).any()  # kept at 0.3 -> kept at 0.6
    assert (kept(ids, 0.3) == lo).all() and kept(ids, 1.0).all()
    assert keep_rate(10, None) == keep_rate(10, 10) == 1.0 and keep_rate(40, 10) == 0.25
    # the same window is kept whatever else the lake holds (coins added change the rate only)
    assert (kept(ids[:500], 0.3) == lo[:500]).all()


def test_the_planted_effect_is_found_on_half_the_windows(planted):
    frame, days = planted
    n = sum(d.rows() for d in days[0])
    cfg = CFG.model_copy(update={"max_windows": n // 2})
    tw = pipeline.window_from_days(*days, cfg, BASE)
    assert 0.45 < len(tw.frame) / len(frame) < 0.55
    lessons, _ = pipeline.lessons(tw, pd.DataFrame(), sorted(frame["date"].unique())[-1], cfg)
    mine = lessons[(lessons["detector_id"] == PLANTED) & (lessons["state"] == "active")]
    top = mine.sort_values("bqs", ascending=False).iloc[0]
    assert ("oi_pctl_bin", "hi") in parse_cond_key(top["rule"]), top["rule"]
    assert top["ci_lo"] <= DELTA <= top["ci_hi"], (top["ci_lo"], top["ci_hi"])


def test_a_window_without_the_lesson_horizon_is_refused(planted, tmp_path):
    frame, _ = planted
    lake = Lake(tmp_path / "lake")
    day = str(frame["date"].iloc[0])
    part = frame[frame["date"] == day]
    lake.write("signal_events", day, part[EVENT_COLUMNS].reset_index(drop=True))
    ev = eval_rows(part, CFG.horizon_s)
    lake.write("signal_eval", day, ev[ev["horizon_s"] != CFG.horizon_s].reset_index(drop=True))
    one = [CoinDay(lake, "signal_events", day)], [CoinDay(lake, "signal_eval", day)]
    with pytest.raises(ValueError, match=f"no horizon {CFG.horizon_s} s"):
        read_window(*one, [], CFG.horizon_s, None)
