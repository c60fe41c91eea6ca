"""The audit assets through real Dagster runs on two fixture days, with the test-only leaky
detector injected into the spec set: its audits fail, the non-blocking check warns and names
the failing audit, the blocking production check passes, and from the next day on (a day is
curated with the audit status of the days before it, never its own: lotus_core.audits.
status_day) the curators veto it so it is never published."""

from __future__ import annotations

import shutil

import dagster as dg
import yaml

from lotus_assets.audits import AUDIT_ASSETS, AUDIT_CHECKS
from lotus_assets.day_plan import materialize_day
from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_frames
from lotus_assets.partitions import size_windows
from lotus_assets.signals import build_signal_assets
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.signals import load_detectors
from lotus_core.store.lake import Lake
from lotus_location.definitions import build_resources
from tests.core.audits.test_audits import BAD
from tests.kits.audits_badkit import load_bad, tampered
from tests.kits.signals_kit import FIXTURES

DAY = "2026-01-02"
NEXT = "2026-01-03"
ASSETS = [raw_feed, microtape_frames, *AUDIT_ASSETS, *AUDIT_CHECKS,
          *build_signal_assets(with_dsi=False, audit_asset="detector_audit_status")]
"""The audits and the signal layer they curate (their history windows unsized)."""


def test_a_leaky_detector_is_vetoed_and_never_published(tmp_path, dagster_instance):
    feed = tmp_path / "feed"
    feed.mkdir()
    for day in (DAY, NEXT):
        shutil.copyfile(FIXTURES / f"{day}.jsonl.gz", feed / f"{day}.jsonl.gz")
    shutil.copyfile(FIXTURES / "manifest.json", feed / "manifest.json")
    settings = load_settings(overrides={"home": str(tmp_path / "home"),
                                        "feed_dir": str(feed)}, env={})
    bad, tampers = load_bad(BAD)
    leaky = [s for s in bad if s.id == "leaky_peek_v1"]
    specs = load_detectors().detectors + leaky
    path = tmp_path / "detectors.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "detectors": [
        s.model_dump(mode="json") for s in specs]}))
    cfg = {"config": {"detectors_path": str(path)}}
    run_config = {"ops": {k: cfg for k in ("detector_audits", "detector_cards",
                                            "detector_windows", "scoring_day",
                                            "score_signals")}}
    results, assets = {}, size_windows(ASSETS, shared_values(settings))
    with tampered({"leaky_peek_v1": tampers["leaky_peek_v1"]}):
        for day in (DAY, NEXT):
            results[day] = materialize_day(
                assets, partition_key=day, instance=dagster_instance,
                resources=build_resources(settings), run_config=run_config,
                raise_on_error=False)
            assert results[day].success
    result = results[DAY]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["production_detectors_never_touch_the_future"].passed
    failing = checks["all_detectors_pass_audits"]
    assert not failing.passed
    assert "leaky_peek_v1" in failing.metadata["failing_audits"].value
    assert "leaky_peek_v1" in failing.metadata["verdicts"].value  # the card is named there
    lake = Lake(settings.lake_dir)
    audits = lake.read("detector_audits", DAY).set_index("detector_id")
    assert not audits.loc["leaky_peek_v1", "leakage_ok"]
    assert audits.loc[audits["production"], "leakage_ok"].all()
    first = lake.read("signal_events", DAY)  # no earlier audit status: nothing vetoed by it
    assert not first["vetoes"].str.contains("audit_leakage_failed").any()
    ev = lake.read("signal_events", NEXT)    # curated with DAY's status
    mine = ev[ev["detector_id"] == "leaky_peek_v1"]
    assert len(mine) > 0 and mine["vetoed"].all() and not mine["published"].any()
    assert mine["vetoes"].str.contains("audit_leakage_failed").all()
    assert ev.loc[ev["detector_id"] != "leaky_peek_v1", "published"].any()
    cards = lake.read("detector_cards", DAY)
    assert "leaky_peek_v1" in set(cards["detector_id"])
    meta = result.asset_materializations_for_node("detector_cards")[0].metadata
    assert isinstance(meta["card_leaky_peek_v1"], dg.MarkdownMetadataValue)
