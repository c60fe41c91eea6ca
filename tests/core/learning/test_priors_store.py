"""Patch sets in a real fabric (SQLite and PostgreSQL): one whole version per write with its
snapshot, idempotent per source, the version in force for a scoring day, diffs, rollbacks
that carry every row (edges too), and clear errors."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import pytest

from lotus_core.learning.compile import BraidEffect, CompiledPriors, PatchCaps, compile_patches
from lotus_core.learning.priors_store import (
    PatchSetError,
    PriorsVersionError,
    active_priors_for_date,
    canonical_json,
    current_priors,
    default_caps,
    diff_versions,
    latest_version,
    list_versions,
    nightly_source,
    read_active_priors,
    read_priors_for_date,
    read_snapshot,
    read_version,
    rollback,
    set_prior,
    write_patch_set,
)
from lotus_core.signals import NO_PRIORS
from lotus_core.signals.config import load_scoring
from lotus_core.signals.priors import Patch
from lotus_core.store.opsdb import OpsDb

T0 = datetime(2026, 1, 3, 0, 5, tzinfo=UTC)
P1 = (Patch("sweep_flow_v1", "*", "session=us", -0.05, 1.1),
      Patch("*", "ETH", "dir=long&regime=trend", 0.03, 1.0))
EDGES = {"edge/mx_edges/0": 0.41, "edge/mx_edges/1": 0.69}


def _night(fabric, day, patches=P1, extra=EDGES, theta_min=0.05, note="nightly"):
    return write_patch_set(fabric, patches, theta_min, 0.95, extra, nightly_source(day), note,
                           now=T0)


def test_a_patch_set_is_one_version_with_its_snapshot(fabric):
    v = _night(fabric, "2026-01-02")
    assert (v.version, v.created, v.before_version, v.source) == (
        1, True, 0, "active_priors:2026-01-02")
    assert v.rows == {
        "cap/phi_max": 0.95, "cap/theta_min": 0.05, **EDGES,
        "patch/*/ETH/dir=long&regime=trend/theta_delta": 0.03,
        "patch/sweep_flow_v1/*/session=us/phi_mult": 1.1,
        "patch/sweep_flow_v1/*/session=us/theta_delta": -0.05,
    }
    back = read_version(fabric, 1)
    assert back.rows == v.rows and back.created_at == T0 and back.note == "nightly"
    assert back.patches == tuple(sorted(P1, key=lambda p: (p.detector_id, p.coin, p.cond_key)))
    assert (back.theta_min, back.phi_max, back.extra) == (0.05, 0.95, EDGES)
    assert read_active_priors(fabric).patches == back.patches  # the signal layer agrees
    snap = read_snapshot(fabric, 1)
    assert snap["before_version"] == 0 and snap["before_json"] == {}
    assert snap["after_json"] == v.rows and snap["source"] == v.source
    assert canonical_json(v.rows).startswith('{"cap/phi_max":0.95,"cap/theta_min":0.05,"edge/')


def test_rewriting_the_same_night_adds_no_version(fabric):
    first = _night(fabric, "2026-01-02")
    again = _night(fabric, "2026-01-02", note="a re-run")
    assert again.version == first.version and not again.created
    assert latest_version(fabric) == 1 and len(list_versions(fabric)) == 1
    # another night, then a re-run of the first: still nothing new
    _night(fabric, "2026-01-03", patches=P1[:1])
    assert _night(fabric, "2026-01-02").version == 1 and latest_version(fabric) == 2
    # the same night with different rows (new code): a new version
    changed = _night(fabric, "2026-01-02", theta_min=0.06)
    assert changed.created and changed.version == 3 and changed.before_version == 2
    # an empty patch set is still a version: the caps
    empty = write_patch_set(fabric, (), 0.05, 1.0, {}, nightly_source("2026-01-04"), "")
    assert empty.rows == {"cap/phi_max": 1.0, "cap/theta_min": 0.05} and empty.version == 4
    assert [i.version for i in list_versions(fabric)] == [1, 2, 3, 4]
    assert [i.patches for i in list_versions(fabric)] == [2, 1, 2, 0]


def test_the_version_in_force_for_a_day_ignores_later_nights_and_rollbacks(fabric):
    assert read_priors_for_date(fabric, "2026-01-03").version == 0
    assert active_priors_for_date(fabric, "2026-01-03") == NO_PRIORS
    _night(fabric, "2026-01-02")                                   # v1
    _night(fabric, "2026-01-03", patches=P1[:1])                   # v2
    _night(fabric, "2026-01-02", theta_min=0.07)                   # v3: a changed re-run
    rollback(fabric, 0, scoring=load_scoring())                    # v4: rollback:v0
    assert read_priors_for_date(fabric, "2026-01-02").version == 0  # only nights before
    assert read_priors_for_date(fabric, "2026-01-03").version == 3  # newest of 01-02
    assert read_priors_for_date(fabric, "2026-01-04").version == 2  # the latest night wins
    assert read_priors_for_date(fabric, "2030-01-01").version == 2
    active = active_priors_for_date(fabric, "2026-01-03")
    assert active.version == 3 and active.theta_min == 0.07 and len(active.patches) == 2
    live = read_active_priors(fabric)  # the daemon: the newest, the rollback
    assert live.version == 4 and live.patches == () and live.theta_min == default_caps(
        scoring=load_scoring())[0]
    with pytest.raises(ValueError, match=r"not a day: '2026-1-3' \(expected YYYY-MM-DD\)"):
        read_priors_for_date(fabric, "2026-1-3")


def test_diff_and_rollback_carry_every_row(fabric):
    _night(fabric, "2026-01-02")                                       # v1
    v2 = _night(fabric, "2026-01-03", patches=(Patch("sweep_flow_v1", "*", "session=us",
                                                     -0.08, 1.1),),
                extra={"edge/mx_edges/0": 0.4, "edge/mx_edges/1": 0.69})
    d = diff_versions(fabric, 1, 2)
    assert d.added == {}
    assert d.removed == {"patch/*/ETH/dir=long&regime=trend/theta_delta": 0.03}
    assert d.changed == {"edge/mx_edges/0": (0.41, 0.4),
                         "patch/sweep_flow_v1/*/session=us/theta_delta": (-0.05, -0.08)}
    assert diff_versions(fabric, 2, 2).empty
    assert diff_versions(fabric, 0, 1).added == read_version(fabric, 1).rows
    back = rollback(fabric, 1, "lost its lift", now=T0, scoring=None)
    assert (back.version, back.source, back.before_version, back.created) == (
        3, "rollback:v1", 2, True)
    assert back.rows == read_version(fabric, 1).rows  # edges included
    snap = read_snapshot(fabric, 3)
    assert snap["before_json"] == v2.rows and snap["after_json"] == back.rows
    assert snap["note"] == "lost its lift"
    assert read_active_priors(fabric).version == 3
    # rolling back to what is already active writes nothing
    again = rollback(fabric, 1, scoring=None)
    assert again.version == 3 and not again.created
    # ... but after a newer night it is a new version again
    _night(fabric, "2026-01-04", patches=())
    assert rollback(fabric, 1, scoring=None).version == 5
    with pytest.raises(PriorsVersionError, match="caps of a scoring configuration"):
        rollback(fabric, 0, scoring=None)  # sig's version 0 needs the day's caps
    scoring = load_scoring()
    zero = rollback(fabric, 0, scoring=scoring)
    assert zero.rows == dict(zip(("cap/phi_max", "cap/theta_min"),
                                 default_caps(scoring=scoring)[::-1],
                                 strict=True))
    assert read_active_priors(fabric).patches == ()


def test_a_compiled_set_round_trips_into_the_next_nights_compile(fabric):
    caps = PatchCaps(max_step_theta=0.05)
    braids = [BraidEffect("b1", "detector", "sweep_flow_v1", "*", "session=us", -0.12, 1.05,
                          6.0, 2.0),
              BraidEffect("b2", "field", "*", "*", "depth_bin=thin&session=weekend", 0.04,
                          0.95, 3.0, 1.0)]
    night1 = compile_patches(braids, caps, None)
    v = write_patch_set(fabric, night1.patches, night1.theta_min, night1.phi_max, {},
                        nightly_source("2026-01-02"), f"{len(night1.chosen)} braids")
    stored = read_priors_for_date(fabric, "2026-01-03")
    assert stored.version == v.version and stored.patches == night1.patches
    previous = CompiledPriors.from_patches(stored.patches, stored.theta_min, stored.phi_max)
    night2 = compile_patches(braids, caps, previous)
    assert compile_patches(braids, caps, previous) == night2
    assert [p.theta_delta for p in night2.patches if p.detector_id == "sweep_flow_v1"] == [
        pytest.approx(-0.10)]


def test_manifest_knobs_keep_their_own_versions(fabric):
    with fabric.transaction() as tx:
        set_prior(tx, "sig", "kr.theta_min", "set", 0.06)
        set_prior(tx, "sig", "kr.theta_min", "set", 0.07)
        set_prior(tx, "sig", "kr.theta_min", "set", 0.08)
    assert latest_version(fabric) == 0 and list_versions(fabric) == []
    assert _night(fabric, "2026-01-02").version == 1
    assert current_priors(fabric, "sig")["kr.theta_min"].version == 3
    assert read_version(fabric, 1).rows.keys().isdisjoint({"kr.theta_min"})


def test_unknown_versions_and_malformed_sets_are_refused_by_name(fabric):
    with pytest.raises(PriorsVersionError, match="no priors version 4; none written yet"):
        read_version(fabric, 4)
    _night(fabric, "2026-01-02")
    _night(fabric, "2026-01-03", patches=())
    with pytest.raises(PriorsVersionError, match=r"no priors version 7; versions: 1\.\.2"):
        diff_versions(fabric, 1, 7)
    with pytest.raises(PriorsVersionError, match="no priors version 9"):
        rollback(fabric, 9, scoring=None)
    assert latest_version(fabric) == 2  # nothing was written by the failures
    bad = [
        (dict(patches=(Patch("d", "*", "session=mars"),)), "session has no value 'mars'"),
        (dict(patches=(Patch("d", "*", "*", phi_mult=0.0),)), "phi_mult 0.0 must be finite"),
        (dict(patches=(Patch("d", "*", "dir=long&session=us"),
                       Patch("d", "*", "session=us&dir=long"))), "two patches share"),
        (dict(patches=(Patch("a/b", "*", "*"),)), "must be non-empty names without '/'"),
        (dict(extra={"patch/x/*/*/theta_delta": 0.1}), "is not edge/<name>/<i>"),
        (dict(extra={"edge/mx_edges/0": float("inf")}), "is not a finite number"),
        (dict(theta_min=-0.1), "cap theta_min = -0.1 is out of range"),
    ]
    for kwargs, message in bad:
        args = dict(patches=P1, theta_min=0.05, extra=EDGES) | kwargs
        with pytest.raises(PatchSetError, match=message.replace("(", r"\(")):
            write_patch_set(fabric, args["patches"], args["theta_min"], 0.95, args["extra"],
                            nightly_source("2026-01-05"), "")
    with pytest.raises(PatchSetError, match="source must name who wrote the set"):
        write_patch_set(fabric, P1, 0.05, 0.95, {}, " ", "")
    assert latest_version(fabric) == 2


def test_concurrent_writers_take_distinct_versions(fabric_url):
    with OpsDb.open(fabric_url):
        pass  # migrate once, before the writers race
    errors: list[BaseException] = []

    def night(i: int) -> None:
        try:
            with OpsDb.open(fabric_url) as f:
                _night(f, f"2026-02-{i + 1:02d}", theta_min=0.05 + i / 100)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=night, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with OpsDb.open(fabric_url) as f:
        infos = list_versions(f)
        assert [i.version for i in infos] == [1, 2, 3, 4]
        assert sorted(i.before_version for i in infos) == [0, 1, 2, 3]
        assert len({i.source for i in infos}) == 4


@pytest.mark.postgres
def test_under_row_level_security_sig_writes_patch_sets_and_dm_cannot(fabric_pg_dsn):
    from psycopg.errors import InsufficientPrivilege

    from lotus_core.fabric.connect import open_opsdb
    from lotus_core.fabric.manifests import load_modules
    from lotus_core.fabric.security import apply_security

    with OpsDb.open(fabric_pg_dsn) as owner:
        apply_security(owner, registry=load_modules())
    parts = urlsplit(fabric_pg_dsn)

    def as_role(role: str) -> OpsDb:
        netloc = f"{role}@{parts.hostname or '127.0.0.1'}:{parts.port or 5432}"
        return open_opsdb(urlunsplit(parts._replace(netloc=netloc)), migrate=False)

    with as_role("lotus_sig") as sig:
        assert _night(sig, "2026-01-02").version == 1
        assert rollback(sig, 0, scoring=load_scoring()).version == 2
        assert read_snapshot(sig, 2)["before_version"] == 1
    with as_role("lotus_dm") as dm, pytest.raises(InsufficientPrivilege):
        _night(dm, "2026-01-03")


def test_tr_priors_are_versioned_and_rolled_back_in_the_same_store(fabric):
    """The Trader's priors (module tr) share the store: their own versions, snapshots,
    day lookup and rollback, never touching sig's (both backends)."""
    from lotus_core.learning.priors_store import read_priors_for_date, write_rows

    rows = {"cap/max_patches": 12.0, "edge/spread_bps/0": 2.0, "edge/spread_bps/1": 4.0,
            "patch/*/spread=wide/order": 1.0}
    v1 = write_rows(fabric, rows, nightly_source("2026-01-02"), "night", module="tr")
    assert v1.version == 1 and latest_version(fabric) == 0
    assert read_snapshot(fabric, 1, "tr")["after_json"] == rows
    assert read_priors_for_date(fabric, "2026-01-02", "tr").version == 0
    assert read_priors_for_date(fabric, "2026-01-03", "tr").version == 1
    back = rollback(fabric, 0, module="tr", scoring=None)
    assert back.version == 2 and back.rows == {"cap/max_patches": 12.0}
    assert read_priors_for_date(fabric, "2026-01-03", "tr").version == 1  # nightly only
    assert [i.version for i in list_versions(fabric, "tr")] == [1, 2]
    with pytest.raises(PriorsVersionError, match="no priors version 7 of tr"):
        read_version(fabric, 7, "tr")
    with pytest.raises(PatchSetError, match="not patch/"):
        write_rows(fabric, {"cap/x": 1.0, "knob": 2.0}, "x", module="tr")
