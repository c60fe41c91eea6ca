"""The curators.yaml and detectors.yaml a settings file names (`scoring.curators`,
`scoring.detectors`) are the ones every scorer of a day uses: the nightly `score_signals`
(through the run config the code location's jobs carry, `daily_run_config`), the
`live_parity` check and the daemon's score loop. Files in tmp_path that differ from the
packaged ones where the day shows it: the council excludes BTC (a compliance veto on every
BTC window) and one detector that fires on the day is disabled. A scorer that read the
packaged files instead would keep that detector's windows or leave BTC unvetoed, so its
windows would differ from the nightly's."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import dagster as dg
import pytest

from lotus_assets.audits import AUDIT_CHECKS
from lotus_assets.chain import sized_assets
from lotus_assets.checks import SURFACE_CHECKS
from lotus_assets.day_plan import materialize_day
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.curators.config import load_curators
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import ensure_keys
from lotus_core.live.store import LiveStore
from lotus_core.signals.spec import load_detectors
from lotus_core.store.lake import Lake
from lotus_daemon.loops import LOOPS
from lotus_daemon.loops.feed import FeedLoop
from lotus_daemon.market import MarketHub
from lotus_location.definitions import build_resources
from lotus_sensors.schedules import daily_run_config
from tests.daemon.test_live_parity import assert_windows_equal
from tests.helpers import small_day
from tests.kits.replay_kit import replay_max
from tests.kits.signals_kit import FIXTURES

pytestmark = pytest.mark.slow
DAY = "2026-01-02"
DISABLED = "mean_reversion_z_v1"  # fires on the day's first minutes
CHECKS = [*AUDIT_CHECKS, *SURFACE_CHECKS]


def _files(tmp_path: Path) -> tuple[Path, Path]:
    """A curators.yaml excluding BTC and a detectors.yaml with DISABLED off."""
    curators = resources.files("lotus_core.curators").joinpath("curators.yaml").read_text()
    mine = tmp_path / "my_curators.yaml"
    mine.write_text(curators.replace("    excluded_coins: []", "    excluded_coins: [BTC]"))
    detectors = resources.files("lotus_core.signals").joinpath("detectors.yaml").read_text()
    at = detectors.index(f"  - id: {DISABLED}\n")
    detectors = detectors[:at] + re.sub(r"\n    version: 1\n", "\n    version: 1\n"
                                        "    enabled: false\n", detectors[at:], count=1)
    dets = tmp_path / "my_detectors.yaml"
    dets.write_text(detectors)
    # the edits took: the files load, and differ from the packaged ones where meant
    assert load_curators(mine).curators.compliance.excluded_coins == ["BTC"]
    assert load_curators().curators.compliance.excluded_coins == []
    assert DISABLED not in {s.id for s in load_detectors(dets).enabled}
    assert DISABLED in {s.id for s in load_detectors().enabled}
    return mine, dets


def test_the_settings_curators_and_detectors_reach_live_parity_and_the_daemon(
        tmp_path: Path, dagster_instance: dg.DagsterInstance) -> None:
    curators, detectors = _files(tmp_path)
    src = tmp_path / "feed"
    small_day(FIXTURES / f"{DAY}.jsonl.gz", src / f"{DAY}.jsonl.gz", 6)
    home = (tmp_path / "home").resolve()
    ensure_keys(MODULES, home / "keys")
    config = tmp_path / "lotus.yaml"
    config.write_text(f"home: {home}\nfeed_dir: {src}\nverify_manifest: false\n"
                      f"scoring: {{curators: {curators}, detectors: {detectors}}}\n"
                      "feed: {clock: replay}\n")
    settings = load_settings(config, env={})
    values = shared_values(settings)
    assert (values.curators_path, values.detectors_path) == (str(curators), str(detectors))

    # -- nightly: the day with the run config the code location's jobs carry, and the
    #    live_parity check (the day's recording replayed through the live engine)
    run_config = daily_run_config(values)
    assert run_config["ops"]["score_signals"]["config"]["curators_path"] == str(curators)
    selection = (dg.AssetSelection.assets("signal_events_days").upstream()
                 .required_multi_asset_neighbors())
    result = materialize_day([*sized_assets(values), *CHECKS], partition_key=DAY,
                             instance=dagster_instance,
                             resources=build_resources(settings), selection=selection,
                             run_config=run_config, raise_on_error=False)
    assert result.success, [e.step_failure_data.error.message for e in result.all_events
                            if e.is_step_failure]
    nightly = Lake(settings.lake_dir).read("signal_events", DAY)
    btc = nightly["coin"] == "BTC"
    assert btc.any() and (~btc).any()
    assert nightly.loc[btc, "vetoes"].map(lambda v: "compliance" in str(v)).all()
    assert not nightly.loc[btc, "published"].any()
    assert DISABLED not in set(nightly["detector_id"])
    (parity,) = [e for e in result.get_asset_check_evaluations()
                 if e.check_name == "live_parity"]
    meta = {k: v.value for k, v in parity.metadata.items()}
    assert parity.passed, meta["detail"]  # live_parity curated with the same council
    assert meta["compared_windows"] == meta["live_windows"] == len(nightly)

    # -- live: the daemon's score loop (its factory, in its own process) fed the recording
    hub = MarketHub()
    score = LOOPS["score"]({"settings": settings, "market": hub})
    replay_max(src, lambda url: FeedLoop(settings.feed, url=url, hub=hub), [score],
               settings.fabric, home, hub, start=DAY, end=DAY)
    assert score.info()["night"]["curators_config"] == str(curators)
    assert score.info()["night"]["detectors_config"] == str(detectors)
    live = LiveStore(home / "live").read("live_signal_events", DAY)
    assert_windows_equal(live, nightly)  # vetoes, published and detectors: the same files
