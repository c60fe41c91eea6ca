"""A day whose recording has no trades channel for one coin scores end to end, through the
functions the Dagster assets call (`microtape_by_coin` -> `annotate_by_coin` ->
`detect_by_coin` -> `score_by_coin`: meta-signals coin by coin, then the day's tables),
with that coin's trade features missing: NaN in the tape past the grace, never 0; no
exception; no trade-driven window on them; every table passes its schema; the meta-signals
and the DSI never NaN because of them (a missing input is no evidence).

The day: a fixture day's first minutes without SOL's trades frames (nor its trades
subscription ack); the DSI is fitted on an earlier fixture day, so its learned experts run.
Scored twice: as built ("cold": SOL's first minute is the grace, its trade features 0
there), and with SOL's grace rows cut ("warm": a day whose grid began the day before, as
a warm start builds it, has the coin's trade features NaN from its first row, so every
trade-count EMA of the day is unknown).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from lotus_core.curators.config import load_curators
from lotus_core.dsi import fit_dsi, load_registry
from lotus_core.dsi.day import DayTally, annotate_by_coin
from lotus_core.dsi.schema import dsi_schema
from lotus_core.feed.parse import parse_recording
from lotus_core.feed.summary import missing_channels, summarize_feed
from lotus_core.microtape import MICROTAPE_SCHEMA, MicroTapeParams
from lotus_core.microtape.build import microtape_by_coin
from lotus_core.microtape.flow import FLOW_COLUMNS
from lotus_core.microtape.tape import TRADE_COLUMNS
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import detect_by_coin, score_by_coin
from lotus_core.signals.schema import (
    DETECTOR_WINDOWS_SCHEMA,
    META_SIGNALS_SCHEMA,
    SIGNAL_EVENTS_SCHEMA,
)
from lotus_core.signals.spec import enabled_specs
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.lake import Lake
from tests.kits.signals_kit import FIXTURES, fixture_tape

DAY, EARLIER = "2026-01-03", "2026-01-02"
MINUTES = 30
LOST = "SOL"
TRADE_DRIVEN = ("sweep", "flow_pressure")


def _lost_trades(rec: dict) -> bool:
    """A trades frame of LOST, or its trades subscription ack."""
    msg = rec["msg"]
    if not isinstance(msg, dict):
        return False
    data = msg.get("data")
    if msg.get("channel") == "trades":
        return isinstance(data, list) and bool(data) and data[0].get("coin") == LOST
    if msg.get("channel") == "subscriptionResponse":
        sub = data.get("subscription", {}) if isinstance(data, dict) else {}
        return sub.get("type") == "trades" and sub.get("coin") == LOST
    return False


def _recording(out: Path) -> Path:
    lines = gzip.decompress((FIXTURES / f"{DAY}.jsonl.gz").read_bytes()).splitlines()
    t0 = orjson.loads(lines[0])["recv_ts_ms"]
    keep = []
    for line in lines:
        rec = orjson.loads(line)
        if rec["recv_ts_ms"] >= t0 + MINUTES * 60_000:
            break
        if not _lost_trades(rec):
            keep.append(line + b"\n")
    out.write_bytes(gzip.compress(b"".join(keep), mtime=0))
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, ...]:
    root = tmp_path_factory.mktemp("no_trades")
    feed = parse_recording(_recording(root / f"{DAY}.jsonl.gz"), DAY, workers=1)
    params = MicroTapeParams()
    parts = [MICROTAPE_SCHEMA.validate(p) for p in microtape_by_coin(feed, params)]
    model = fit_dsi(fixture_tape(EARLIER).assign(date=EARLIER), registry=load_registry())
    return feed, params, parts, model, root


def _warm(part: pd.DataFrame, grace: int) -> pd.DataFrame:
    """A coin's part as a warm start gives it: LOST's rows from the end of its grace (its
    grid began before the day), the other coins' unchanged."""
    if part["coin"].iloc[0] != LOST:
        return part
    since = part["ts_ms"] - part["ts_ms"].iloc[0]
    return part[since >= grace].reset_index(drop=True)


@pytest.fixture(scope="module", params=["cold", "warm"])
def scored(request: pytest.FixtureRequest, built: tuple[Any, ...]) -> dict[str, Any]:
    """The chain of the nightly assets on the day's tape, each coin's part as the
    microtape asset writes it."""
    feed, params, parts, model, root = built
    if request.param == "warm":
        parts = [_warm(p, params.trade_channel_grace_ms) for p in parts]
    lake = Lake(root / request.param)
    lake.write_parts("microtape_frames", DAY, iter(parts), parts[0].iloc[:0])
    tape = CoinDay(lake, "microtape_frames", DAY)
    dsi = pd.concat(list(annotate_by_coin((tape.read(c) for c in tape.coins()), model,
                                          DayTally(model))), ignore_index=True)
    windows = DETECTOR_WINDOWS_SCHEMA.validate(detect_by_coin(tape, scoring=load_scoring()))
    scoring = score_by_coin(tape, DAY, fingerprint="sha256:" + "cd" * 32, dsi=dsi,
                            scoring=load_scoring(), council=load_curators())
    meta = [META_SIGNALS_SCHEMA.validate(m) for m in scoring.meta()]
    day = scoring.day()  # events checked against SIGNAL_EVENTS_SCHEMA whole
    return {"case": request.param, "feed": feed, "params": params,
            "tape": pd.concat(parts, ignore_index=True), "dsi": dsi, "windows": windows,
            "meta": pd.concat(meta, ignore_index=True), "events": day.events}


def test_the_recording_lacks_only_the_coins_trades_channel(built: tuple[Any, ...]) -> None:
    assert missing_channels(summarize_feed(built[0])) == {LOST: ["trades"]}


def test_the_coins_trade_features_are_missing_past_the_grace_never_zero(
        scored: dict[str, Any]) -> None:
    tape, grace = scored["tape"], scored["params"].trade_channel_grace_ms
    assert FLOW_COLUMNS[:len(TRADE_COLUMNS)] == TRADE_COLUMNS  # the tape's, in its order
    lost = tape[tape["coin"] == LOST]
    trades = lost[list(TRADE_COLUMNS)]
    if scored["case"] == "warm":
        assert trades.isna().all().all()
    else:
        since = lost["ts_ms"] - lost["ts_ms"].iloc[0]
        assert trades[since >= grace].isna().all().all()
        assert (trades.loc[since < grace, "trade_count"] == 0).all()  # the grace: not known
        assert (since >= grace).mean() > 0.9
    assert not tape.loc[tape["coin"] != LOST, list(TRADE_COLUMNS[:-1])].isna().any().any()


def test_the_dsi_reads_a_missing_trade_input_as_no_evidence(scored: dict[str, Any]) -> None:
    dsi = dsi_schema(load_registry()).validate(scored["dsi"])
    learned = [c for c in dsi.columns if c.startswith("z_anomaly")]
    assert learned, "the fitted model runs its learned experts"
    num = dsi.select_dtypes("number")
    assert np.isfinite(num.to_numpy(dtype=np.float64)).all()
    assert set(dsi["coin"]) == set(scored["tape"]["coin"])


def test_no_trade_driven_window_fires_on_the_missing_features(scored: dict[str, Any]) -> None:
    windows, tape = scored["windows"], scored["tape"]
    kind = {s.id: s.kind for s in enabled_specs(None)}
    driven = windows[windows["detector_id"].map(kind).isin(TRADE_DRIVEN)]
    assert len(driven) and not (driven["coin"] == LOST).any()
    assert (windows["coin"] == LOST).any()  # the coin's book-driven windows still fire
    missing = tape.loc[tape["trade_count"].isna(), ["coin", "ts_ms"]]
    assert driven.merge(missing, on=["coin", "ts_ms"]).empty


def test_meta_signals_are_never_nan_for_want_of_trades(scored: dict[str, Any]) -> None:
    meta = scored["meta"]
    lost = meta[meta["coin"] == LOST]
    assert len(lost) == (scored["tape"]["coin"] == LOST).sum()
    num = meta.drop(columns=["coin", "ts_ms"]).to_numpy(dtype=np.float64)
    assert np.isfinite(num).all()
    assert lost["ms_kairos"].between(0.0, 1.0).all() and lost["ms_kairos"].nunique() > 1


def test_the_coins_events_carry_the_missing_trade_features_as_nan(scored: dict[str, Any]) -> None:
    events = SIGNAL_EVENTS_SCHEMA.validate(scored["events"])
    lost = events[events["coin"] == LOST]
    gone = lost["aggr_imb"].isna()
    assert gone.any() and lost.loc[gone, "aggr_runlen"].isna().all()
    assert lost.loc[gone, "cond_key"].str.contains("run_bin=na").all()
    assert (lost["flow"] == 0.0).all()  # no volume ever known: no flow (its documented 0)
    others = events[events["coin"] != LOST]
    assert len(others) and not others[["aggr_imb", "aggr_runlen"]].isna().any().any()
    assert not others["cond_key"].str.contains("run_bin=na").any()
