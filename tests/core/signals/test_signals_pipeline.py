"""The signal layer through real Dagster runs on fixture days: raw_feed -> microtape_frames
(-> dsi_annotations when the DSI assets exist) -> detector_windows -> signal_events,
curator_log, curator_kpis, meta_signals, and the Signal Bus rows in the fabric."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import dagster as dg
import pytest

from lotus_assets.chain import sized_assets
from lotus_assets.day_plan import materialize_day
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.fabric.outbox import read_outbox
from lotus_core.signals.schema import SIGNAL_SCHEMAS
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_location.definitions import build_resources
from tests.helpers import BuiltDays, dagster_instance_at
from tests.kits.first_fixture_day import DAYS, copy_to
from tests.kits.signals_kit import FIXTURES, fixture_sha256

# the session's first fixture day (tests/conftest.py) is built by one worker for both modules
pytestmark = pytest.mark.xdist_group("first_fixture_day")
OUTPUTS = ["signal_events", "curator_log", "curator_kpis", "meta_signals", "detector_windows"]


def _feed_dir(root):
    d = root / "feed"
    d.mkdir()
    for day in DAYS:
        shutil.copyfile(FIXTURES / f"{day}.jsonl.gz", d / f"{day}.jsonl.gz")
    shutil.copyfile(FIXTURES / "manifest.json", d / "manifest.json")
    return d


@pytest.fixture
def feed_dir(tmp_path):
    return _feed_dir(tmp_path)


def _settings(tmp_path, feed_dir, fabric_url=None):
    return load_settings(overrides={"home": str(tmp_path / "home"), "feed_dir": str(feed_dir),
                                    "fabric_url": fabric_url}, env={})


# the signal layer and what it reads; the first day of the module's build runs every asset
# (the whole nightly chain posts no ALPHA_PROPOSED, and the second day reads its priors and
# audits), everything else only this layer
SIGNAL_LAYER = dg.AssetSelection.assets(*OUTPUTS).upstream().required_multi_asset_neighbors()


# signal_events and what it reads: where the priors in force are applied and recorded
SCORED = dg.AssetSelection.assets("signal_events").upstream().required_multi_asset_neighbors()


def _run(settings, instance, day, selection=SIGNAL_LAYER):
    result = materialize_day(sized_assets(shared_values(settings)), partition_key=day,
                             instance=instance, selection=selection,
                             resources=build_resources(settings), raise_on_error=False)
    assert result.success, [e.step_failure_data.error.message for e in result.all_events
                            if e.is_step_failure]
    return result


def test_the_signal_assets_load_and_wire_their_inputs():
    settings = load_settings(env={})
    defs = dg.Definitions(assets=sized_assets(shared_values(settings)),
                          resources=build_resources(settings))
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    parents = {k.path[-1] for k in graph.get(dg.AssetKey("signal_events")).parent_keys}
    # a coin's scoring: the day's shared inputs, the coin's tape and DSI
    assert parents == {"scoring_day", "microtape_frames", "dsi_annotations"}
    assert isinstance(graph.get(dg.AssetKey("signal_events")).partitions_def,
                      dg.MultiPartitionsDefinition)
    shared = {k.path[-1] for k in graph.get(dg.AssetKey("scoring_day")).parent_keys}
    # the earlier days' windows through their daily handle (a window of days over a day x
    # coin asset), the day's fingerprint, the audit status of the days before
    assert shared == {"raw_feed", "detector_windows_days", "detector_audit_status"}
    mapping = graph.get(dg.AssetKey("scoring_day")).assets_def.get_partition_mapping(
        dg.AssetKey("detector_windows_days"))
    assert mapping.end_offset == -1  # earlier days only
    handle = {k.path[-1] for k in graph.get(dg.AssetKey("detector_windows_days")).parent_keys}
    assert handle == {"detector_windows"}
    kpis = {k.path[-1] for k in graph.get(dg.AssetKey("curator_kpis")).parent_keys}
    assert kpis == {"curator_tallies", "scoring_day"}


def _alphas(fabric: OpsDb) -> list[dict]:
    """Every ALPHA_PROPOSED envelope in sig_outbox (routed or not), in posting order."""
    rows = read_outbox(fabric, "sig", limit=1_000_000, pending_only=False)
    return [r.envelope for r in rows if r.envelope["intent"] == "ALPHA_PROPOSED"]


@pytest.fixture(scope="module")
def two_days(tmp_path_factory, first_fixture_day) -> Iterator[BuiltDays]:
    """The two fixture days materialised once, day after day: the first every asset (what the
    second day's scoring reads of it: history, priors, audit status; the session's build,
    shared with test_signal_eval.py, copied), the second its signal layer (the only assets
    the tests read of it)."""
    root = tmp_path_factory.mktemp("two_days")
    settings = copy_to(first_fixture_day, root)
    with dagster_instance_at(root / "dagster_home") as instance:
        second = _run(settings, instance, DAYS[1])
        yield BuiltDays(settings, instance, {"first": first_fixture_day.result,
                                             "second": second})


def test_two_fixture_days_through_dagster(two_days):
    settings, second = two_days.settings, two_days.runs["second"]
    lake = Lake(settings.lake_dir)
    for day in DAYS:
        for asset in OUTPUTS:
            SIGNAL_SCHEMAS[asset].validate(lake.read(asset, day))
    ev0, ev1 = (lake.read("signal_events", d) for d in DAYS)
    assert len(ev0) > 1500 and len(ev1) > 1500
    assert (ev0["history_days"] == 0).all() and (ev0["sq_n"] == 0).all()
    assert (ev1["history_days"] == 1).all() and (ev1["sq_n"] > 0).mean() > 0.9
    assert set(ev1["history_window"]) == {f"{DAYS[0]}..{DAYS[1]}"}
    assert set(ev1["data_fingerprint"]) == {"sha256:" + fixture_sha256(DAYS[1])}
    assert ev1["mx_evidence"].std() > 0
    # a run per coin: each coin's events, scored with the day's one history
    coins = [m.metadata for m in second.asset_materializations_for_node("score_signals")
             if m.asset_key.path[-1] == "signal_events"]
    assert len(coins) == ev1["coin"].nunique() == 3
    assert all(m["history_days"].value == [DAYS[0]] for m in coins)
    assert sum(m["windows"].value for m in coins) == len(ev1)
    # detector_windows of a day is exactly the windows signal_events scored that day (stored
    # a row group per coin; in the day's (ts_ms, coin, detector_id) order, signal_events')
    dw = lake.read("detector_windows", DAYS[1])
    assert lake.coins("detector_windows", DAYS[1]) == sorted(set(dw["coin"]))
    day_order = dw.sort_values(["ts_ms", "coin", "detector_id"], kind="stable")
    assert day_order["window_id"].tolist() == ev1["window_id"].tolist()
    with OpsDb.open(settings.fabric) as fabric:
        alphas = _alphas(fabric)
    assert alphas == []  # only the live daemon posts ALPHA_PROPOSED; nightly records
    assert sum(m["alpha_proposed"].value for m in coins) == int(ev1["published"].sum())
    assert two_days.runs["first"].success


def test_rematerialising_is_byte_identical_and_posts_each_signal_once(two_days):
    """The first day's signal layer again, after the day that follows it was made (a re-run
    reads only earlier days): the same bytes, nothing posted twice."""
    settings = two_days.settings
    lake = Lake(settings.lake_dir)
    day = DAYS[0]
    before = {a: [p.read_bytes() for p in lake.files(a, day)] for a in OUTPUTS}
    with OpsDb.open(settings.fabric) as fabric:
        bus = _alphas(fabric)
    _run(settings, two_days.instance, day)
    assert {a: [p.read_bytes() for p in lake.files(a, day)] for a in before} == before
    with OpsDb.open(settings.fabric) as fabric:
        rebus = _alphas(fabric)
    assert rebus == bus  # the re-run posted nothing twice


@pytest.mark.postgres
def test_on_postgres_the_run_records_the_active_priors_version(
        tmp_path, feed_dir, dagster_instance, fabric_pg_dsn):
    settings = _settings(tmp_path, feed_dir, fabric_pg_dsn)
    with OpsDb.open(settings.fabric) as fabric, fabric.transaction() as tx:
        # v4 was compiled the night of the day before DAYS[0]: the set in force for DAYS[0];
        # v5 (the night of DAYS[0] itself) must not leak into DAYS[0]'s scores
        tx.executemany("INSERT INTO sig_priors (key, version, value, source_event_id)"
                       " VALUES (?, ?, ?, ?)", [
            ("patch/sweep_stall_v1/*/*/phi_mult", 4, 1.2, "active_priors:2026-01-01"),
            ("cap/phi_max", 4, 0.9, "active_priors:2026-01-01"),
            ("patch/*/*/*/phi_mult", 5, 0.5, f"active_priors:{DAYS[0]}"),
            ("cap/phi_max", 5, 0.9, f"active_priors:{DAYS[0]}")])
    _run(settings, dagster_instance, DAYS[0], selection=SCORED)  # what reads the priors
    ev = Lake(settings.lake_dir).read("signal_events", DAYS[0])
    assert (ev["priors_ver"] == 4).all() and (ev["kr_delta_phi"] <= 0.9).all()
    stall = ev["detector_id"] == "sweep_stall_v1"
    assert (ev.loc[stall, "prior_phi_mult"] == 1.2).all()
    assert (ev.loc[~stall, "prior_patches"] == 0).all()
    with OpsDb.open(settings.fabric) as fabric:
        assert _alphas(fabric) == []  # nightly records, never posts
