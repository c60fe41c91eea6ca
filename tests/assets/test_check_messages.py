"""A failing check says why in one sentence (its value, the limit it broke by name, the rule),
and docs/surface.md places every check on the asset the UI shows it on, blocking or not.

The checks run through Dagster (`dg.materialize`) on stub assets that stand in for the day's
tables, so each check reads exactly the rows the test gives it:

- `all_detectors_pass_audits` on a label shuffle that failed because its lift's lower bound
  +0.4420 exceeded `max_hit_lift` 0.25: the sentence names the lift, its bound, the limit and
  the reason (a bare "label_shuffle FAIL (metric ...) verdict edge" named none of them, and
  "verdict edge" reads like a pass);
- the blocking production check names the leaking detector and its future-touch count;
- the health checks (dead letters, lesson CIs, MicroTape drift) name value, limit and rule;
- the drift check with one earlier day passes, "not enough history" in its metadata.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from lotus_assets.audits import (
    AUDIT_CHECKS,
    all_detectors_pass_audits,
    production_detectors_never_touch_the_future,
)
from lotus_assets.checks import (
    SURFACE_CHECKS,
    lesson_ci_sanity,
    microtape_feature_drift,
    raw_feed_channels,
    raw_feed_dead_letter_rate,
)
from lotus_assets.partitions import COINS, daily_partitions, day_coin_key, day_coin_partitions
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import ensure_keys
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.router import FabricKeysResource

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-02-05"
SHA = "sha256:" + "ab" * 32


def _stub(name: str, frame: pd.DataFrame | None, partitions: dg.PartitionsDefinition
          ) -> dg.AssetsDefinition:
    """An asset named like the real one that hands the check `frame` (None: nothing; the
    check reads the lake)."""
    if frame is None:
        @dg.asset(name=name, partitions_def=partitions)
        def empty() -> dg.MaterializeResult:
            return dg.MaterializeResult()
        return empty

    @dg.asset(name=name, partitions_def=partitions, io_manager_key="lake_io")
    def given() -> pd.DataFrame:
        return frame
    return given


def _run(stub: dg.AssetsDefinition, check: dg.AssetChecksDefinition, partition: str,
         resources: dict | None = None, instance: dg.DagsterInstance | None = None
         ) -> dg.AssetCheckEvaluation:
    result = dg.materialize([stub, check], partition_key=partition, instance=instance,
                            resources={"lake_io": dg.mem_io_manager, **(resources or {})},
                            raise_on_error=False)
    (ev,) = result.get_asset_check_evaluations()
    return ev


@pytest.fixture
def fabric(tmp_path) -> dict:
    keys = tmp_path / "keys"
    ensure_keys(MODULES, keys)
    return {"fabric": OpsDbResource(url=f"sqlite:///{tmp_path / 'fabric.sqlite'}"),
            "fabric_keys": FabricKeysResource(key_dir=str(keys))}


def _audit_row(detector_id: str, **over) -> dict:
    row = {"detector_id": detector_id, "recipe_hash": SHA, "production": False,
           "n_windows": 431, "future_touch_ok": True, "future_touch_metric": 0.0,
           "label_shuffle_ok": True, "label_shuffle_metric": 0.01,
           "label_shuffle_verdict": "no_edge", "rolling_gap_ok": True,
           "rolling_gap_metric": 0.02, "adversarial_ok": True, "adversarial_metric": 0.1,
           "leakage_ok": True, "fragility": 0.1, "card_ok": True, "detail": "{}"}
    return {**row, **over}


def _audits() -> pd.DataFrame:
    too_good = "edge: lift +0.4710 over base 0.4961, lower bound +0.4420, p 0.0050, shuffled " \
        "mean +0.0011 sd 0.0203, n 431"
    return pd.DataFrame([
        _audit_row("book_flip_v1"),
        _audit_row("sweep_stall_v1", production=True, label_shuffle_ok=False,
                   label_shuffle_metric=0.4710, label_shuffle_verdict="edge",
                   leakage_ok=False, detail=json.dumps({"label_shuffle": too_good})),
        _audit_row("leaky_peek_v1", production=True, future_touch_ok=False,
                   future_touch_metric=3.0, leakage_ok=False, detail=json.dumps({
                       "future_touch": "16 cuts (3 rescored) on trailing windows, 40 "
                       "windows checked, 3 mismatches"}))])


def test_the_audit_check_names_the_value_the_limit_and_the_rule():
    stub = _stub("detector_audits", _audits(), daily_partitions)
    ev = _run(stub, all_detectors_pass_audits, DAY)
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    detail = ev.metadata["detail"].value
    assert ("sweep_stall_v1: label_shuffle: hit lift +0.4710 (lower bound +0.4420) > "
            "max_hit_lift 0.25 (p 0.0050 <= alpha 0.05): too good to be real (possible "
            "leakage") in detail
    assert "leaky_peek_v1: future_touch: 3 mismatching window(s) or score(s) > 0 allowed" \
        in detail
    assert ev.description == f"{DAY}: failed: {detail}"  # the panel says which day it shows
    assert ev.metadata["day"].value == DAY
    md = ev.metadata["verdicts"].value
    assert "- label_shuffle: hit lift +0.4710 (lower bound +0.4420) > max_hit_lift 0.25" in md
    assert "verdict edge" not in md  # a failed shuffle says which rule it broke instead
    assert ev.metadata["reasons"].value["sweep_stall_v1"]["label_shuffle"].startswith(
        "label_shuffle: hit lift +0.4710 (lower bound +0.4420) > max_hit_lift 0.25")
    assert "book_flip_v1" not in ev.metadata["failing"].value


def test_the_blocking_production_check_names_the_leaking_detector():
    stub = _stub("detector_audits", _audits(), daily_partitions)
    ev = _run(stub, production_detectors_never_touch_the_future, DAY)
    assert not ev.passed and ev.blocking and ev.severity == dg.AssetCheckSeverity.ERROR
    detail = ev.metadata["detail"].value
    assert detail.startswith("leaky_peek_v1 (production): future_touch: 3 mismatching "
                             "window(s) or score(s) > 0 allowed: ")
    assert "blocks detector_audit_status" in detail and "sweep_stall_v1" not in detail
    ok = _run(_stub("detector_audits", _audits().iloc[:2], daily_partitions),
              production_detectors_never_touch_the_future, DAY)
    assert ok.passed  # a statistical failure does not block


def test_a_missing_channel_is_named_with_the_features_it_leaves_missing(fabric):
    """A book-only coin and a coin without asset context (as real captures are) fail the
    warning check, each channel named with its coins and features; a day with every channel
    passes. Coins seen only on refused lines ("") are not judged."""
    every = ["l2Book", "trades", "bbo", "activeAssetCtx", "candle"]
    rows = ([("BTC", c, 10) for c in ["l2Book"]] + [("ETH", c, 10) for c in every[:3]]
            + [("ETH", "candle", 0), ("", "trades", 0)])
    feed = pd.DataFrame(rows, columns=["coin", "channel", "frames"])
    ev = _run(_stub("raw_feed", feed, daily_partitions), raw_feed_channels, DAY, fabric)
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    detail = ev.metadata["detail"].value
    assert detail.startswith("no trades channel for BTC: trade features (flow, aggressor "
                             "imbalance, trade count, sweeps) missing; no bbo channel for BTC")
    assert "no activeAssetCtx channel for BTC, ETH: funding, open interest, basis and " \
        "premium missing" in detail
    assert ev.metadata["missing_channels"].value == {
        "BTC": ["trades", "bbo", "activeAssetCtx", "candle"],
        "ETH": ["activeAssetCtx", "candle"]}
    whole = pd.DataFrame([("SOL", c, 3) for c in every], columns=["coin", "channel", "frames"])
    ok = _run(_stub("raw_feed", whole, daily_partitions), raw_feed_channels, DAY, fabric)
    assert ok.passed and ok.metadata["missing_channels"].value == "none"


def test_health_check_failures_name_the_value_the_limit_and_the_rule(fabric):
    feed = pd.DataFrame({"dead_letters": [5], "items": [95]})
    ev = _run(_stub("raw_feed", feed, daily_partitions), raw_feed_dead_letter_rate, DAY,
              fabric)
    assert not ev.passed
    assert ev.metadata["detail"].value.startswith(
        "dead_letter_rate 0.05 > max_dead_letter_rate 0.01: too many of the day's feed lines "
        "were refused")
    assert ev.metadata["limits"].value == {"dead_letter_rate": "<= 0.01"}
    lessons = pd.DataFrame({"ci_lo": [1.0, -1.0], "uplift_bps": [2.0, 3.0],
                            "ci_hi": [3.0, 2.0], "p05": [1.0, -1.0],
                            "state": ["active", "proposed"], "sign": [1, 1]})
    ev = _run(_stub("lessons", lessons, daily_partitions), lesson_ci_sanity, DAY, fabric)
    assert not ev.passed
    assert ev.metadata["detail"].value == (
        "ci_order_violations 1 > 0 allowed: lesson(s) whose uplift lies outside their own CI "
        "(the estimate and its bootstrap disagree)")


def _tape(i: int, mid: float, probs: tuple[float, float, float]) -> pd.DataFrame:
    rng = np.random.default_rng(7 + i)
    n = 3_600
    ts = (20_486 + i) * 86_400_000 + np.arange(n, dtype=np.int64) * 1_000
    px = np.linspace(mid, mid * 0.995, n)
    ticks = rng.choice([1, 2, 3], size=n, p=list(probs))
    return pd.DataFrame({"coin": "BTC", "ts_ms": ts, "mid_px": px,
                         "spread_bps": ticks / px * 1e4, "book_imb_5": rng.uniform(-1, 1, n),
                         "aggr_imb": rng.uniform(-1, 1, n),
                         "depth_5_rel": rng.lognormal(0, .5, n),
                         "trade_count": rng.poisson(2, n).astype(np.float64),
                         "rv_bps": rng.lognormal(0, .4, n)})


def test_the_drift_check_says_not_enough_history_then_names_a_real_shift(tmp_path, fabric):
    days = ["2026-02-02", "2026-02-03", "2026-02-04", "2026-02-05"]
    lake = Lake(tmp_path / "lake")
    mids, probs = [90_153.5, 87_883.5, 84_059.0, 80_924.5], (0.75, 0.18, 0.07)
    for i, day in enumerate(days[:3]):
        lake.write("microtape_frames", day, _tape(i, mids[i], probs), coin="BTC")
    lake.write("microtape_frames", days[3], _tape(3, mids[3], (0.1, 0.3, 0.6)), coin="BTC")
    resources = {**fabric, "lake": LakeResource(root=str(tmp_path / "lake"))}
    stub = _stub("microtape_frames", None, day_coin_partitions)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(COINS, ["BTC"])
        first = _run(stub, microtape_feature_drift, day_coin_key(days[1], "BTC"), resources,
                     instance)
        assert first.passed and first.metadata["history"].value == "not enough history"
        assert first.metadata["detail"].value.startswith("not judged: not enough history: 1 "
                                                         "earlier day(s)")
        assert "psi_spread_bps" in first.metadata  # shown against its limit
        same = _run(stub, microtape_feature_drift, day_coin_key(days[2], "BTC"), resources,
                    instance)
        assert same.passed and same.metadata["history"].value == "enough history", \
            same.metadata["detail"].value
        wide = _run(stub, microtape_feature_drift, day_coin_key(days[3], "BTC"), resources,
                    instance)
    assert not wide.passed
    detail = wide.metadata["detail"].value
    assert re.match(r"psi_spread_bps \d+(\.\d+)? > max_psi 0\.25: population stability index "
                    r"\(PSI\): today's spread in ticks of 1 ", detail), detail
    with OpsDb.open(resources["fabric"].url) as store, store.transaction() as tx:
        keys = {dict(r)["dedupe_key"] for r in tx.query("SELECT dedupe_key FROM sig_outbox")}
    assert keys == {f"check:microtape_feature_drift:{days[3]}:BTC"}  # one alert, the shift


# --- docs/surface.md: every check on its asset, blocking or not ------------------------------

def _surface_table() -> dict[str, dict[str, str]]:
    text = (REPO / "docs" / "surface.md").read_text()
    section = text.split("## Checks: where the UI shows them", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in section.splitlines() if r.startswith("| `")]
    out = {}
    for r in rows:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]]
        out[cells[0].strip("`")] = {"asset": cells[1], "what": cells[2], "limit": cells[3],
                                    "blocking": cells[4]}
    return out


def test_surface_md_places_every_check_on_its_asset_and_says_if_it_blocks():
    table = _surface_table()
    declared = {s.name: s for c in (*SURFACE_CHECKS, *AUDIT_CHECKS) for s in c.check_specs}
    assert set(table) == set(declared)
    for name, spec in declared.items():
        row = table[name]
        assert row["asset"].split()[0] == f"`{spec.asset_key.to_user_string()}`", name
        assert row["blocking"].strip("*").startswith("yes" if spec.blocking else "no"), name
        assert row["limit"] and row["what"], name
    assert declared["all_detectors_pass_audits"].blocking is False
    assert declared["production_detectors_never_touch_the_future"].blocking is True
    assert table["live_parity"]["asset"] == table["signal_drift"]["asset"] \
        == "`signal_events_days`"
    assert table["published_hit_rate_vs_expectation"]["asset"] == "`signal_eval_days`"


def test_a_passing_result_names_its_partition_too():
    """After a re-run the check panel shows the newest execution of any partition beside
    another day's status: every result, passed or failed, says which day (and coin)."""
    stub = _stub("detector_audits", _audits().iloc[:1], daily_partitions)
    ev = _run(stub, all_detectors_pass_audits, DAY)
    assert ev.passed and ev.description == f"{DAY}: passed: every detector passes its audits"
    assert ev.metadata["day"].value == DAY and "coin" not in ev.metadata
