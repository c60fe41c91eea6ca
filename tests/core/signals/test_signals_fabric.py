"""The signal layer on a real fabric (SQLite and PostgreSQL): active priors read from
sig_priors move det_sigma exactly as DESIGN.md's patch rule says, within the caps; the Signal
Bus holds one validated sigbus-1.0.0 payload per published window, replaced per day."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lotus_core.curators.config import load_curators
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.outbox import read_outbox
from lotus_core.fabric.publish import publish_alpha
from lotus_core.fabric.signing import verify
from lotus_core.learning.priors_store import read_active_priors
from lotus_core.signals import NO_PRIORS, parse_priors, validate_sigbus
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import score_day
from tests.kits.signals_kit import constant_dsi, fixture_sha256, fixture_tape

DAY = "2026-01-03"


@pytest.fixture(scope="module")
def tape() -> pd.DataFrame:
    return fixture_tape(DAY)


@pytest.fixture(scope="module")
def plain(tape):
    return score_day(tape, DAY, fingerprint=fixture_sha256(DAY), dsi=constant_dsi(tape, 0.5),
                     scoring=load_scoring(), council=load_curators())


def _write(fabric, version: int, rows: dict[str, float]) -> None:
    with fabric.transaction() as tx:
        tx.executemany(
            "INSERT INTO sig_priors (key, version, value, source_event_id) VALUES (?, ?, ?, ?)",
            [(k, version, v, f"test-{version}") for k, v in rows.items()])


def test_empty_sig_priors_means_version_0(fabric):
    assert read_active_priors(fabric) == NO_PRIORS


def test_patches_from_the_fabric_move_det_sigma_as_the_rule_says(fabric, tape, plain):
    _write(fabric, 1, {"patch/sweep_flow_v1/*/*/theta_delta": 0.4})  # superseded by v2
    _write(fabric, 2, {
        "patch/sweep_flow_v1/*/*/theta_delta": -0.3,
        "patch/mean_reversion_z_v1/*/session=us/phi_mult": 1.25,
        "patch/*/ETH/*/phi_mult": 0.8,
        "cap/theta_min": 0.08,
        "cap/phi_max": 0.85,
    })
    priors = read_active_priors(fabric)
    assert priors.version == 2 and len(priors.patches) == 3 and not priors.rejected
    got = score_day(tape, DAY, fingerprint=fixture_sha256(DAY), dsi=constant_dsi(tape, 0.5),
                    priors=priors, scoring=load_scoring(), council=load_curators()).events
    base = plain.events
    assert (got["priors_ver"] == 2).all()
    dsi = 0.1 * 0.5  # gamma_mx * mx_evidence
    theta_dsi = np.maximum(0.08, np.maximum(0.08, got["kr_theta_base"]) - dsi)
    dtheta = np.where(got["detector_id"] == "sweep_flow_v1", -0.3, 0.0)
    theta = np.minimum(1, np.maximum(0.08, theta_dsi + dtheta))
    np.testing.assert_allclose(got["kr_theta"], theta)
    mult = (np.where((got["detector_id"] == "mean_reversion_z_v1") & (got["session"] == "us"),
                     1.25, 1.0) * np.where(got["coin"] == "ETH", 0.8, 1.0))
    np.testing.assert_allclose(got["prior_phi_mult"], mult)
    boosted = np.minimum(0.85, got["kr_phi"] * (1 - theta) * (1 + 0.4 * 0.5))
    np.testing.assert_allclose(got["kr_delta_phi"], np.minimum(0.85, boosted * mult))
    assert (got["kr_delta_phi"] <= 0.85 + 1e-12).all() and (got["kr_theta"] >= 0.08).all()
    # the same active set without the sweep patch: only sweep windows differ, and the
    # penalty relief never lowers their det_sigma
    rows = [{"key": k, "version": 2, "value": v} for k, v in (
        ("patch/mean_reversion_z_v1/*/session=us/phi_mult", 1.25), ("patch/*/ETH/*/phi_mult", 0.8),
        ("cap/theta_min", 0.08), ("cap/phi_max", 0.85))]
    without = score_day(tape, DAY, fingerprint=fixture_sha256(DAY), dsi=constant_dsi(tape, 0.5),
                        priors=parse_priors(rows),
                        scoring=load_scoring(), council=load_curators()).events
    sweep = got["detector_id"] == "sweep_flow_v1"
    assert (got.loc[sweep, "det_sigma"] >= without.loc[sweep, "det_sigma"] - 1e-12).all()
    room = (sweep & (without["kr_theta"] > 0.08 + 1e-9)
            & (got["kr_delta_phi"] < 0.85 * got["prior_phi_mult"] * (1 - 1e-9)))
    assert room.sum() > 10  # above the floor and below the cap, relief must show
    assert (got.loc[room, "det_sigma"] > without.loc[room, "det_sigma"]).all()
    np.testing.assert_allclose(got.loc[~sweep, "det_sigma"], without.loc[~sweep, "det_sigma"])
    # windows no patch touches moved only through the caps
    free = (got["prior_patches"] == 0) & (base["kr_delta_phi"] <= 0.85) & (
        base["kr_theta"] >= 0.08 + dsi)
    assert free.sum() > 100
    np.testing.assert_allclose(got.loc[free, "det_sigma"], base.loc[free, "det_sigma"])
    # a newer version replaces the active set as a whole
    _write(fabric, 3, {"patch/breakout_retest_v1/*/*/theta_delta": 0.1})
    newer = read_active_priors(fabric)
    assert newer.version == 3 and [p.detector_id for p in newer.patches] == ["breakout_retest_v1"]
    assert newer.theta_min is None and newer.phi_max is None


def test_published_windows_leave_through_sig_outbox_once(fabric, plain, tmp_path):
    """Each published window becomes one signed ALPHA_PROPOSED in sig_outbox whose strand
    and lifecycle id is the window id; publishing the day again posts nothing new."""
    bus, ev = plain.bus, plain.events
    assert len(bus) == int(ev["published"].sum()) > 0
    keys = Keyring(tmp_path / "keys")
    alphas = [{"sigbus": json.loads(p), "strand_id": w}
              for w, p in zip(bus["window_id"], bus["payload"], strict=True)]
    assert publish_alpha(fabric, alphas, keys, models_map=load_modules().map) == len(bus)
    assert publish_alpha(fabric, alphas, keys, models_map=load_modules().map) == 0
    rows = read_outbox(fabric, "sig", limit=100_000, pending_only=False)
    assert len(rows) == len(bus)
    by_id = ev.set_index("window_id")
    for row in rows:
        env = row.envelope
        p = env["payload"]["sigbus"]
        validate_sigbus(p)
        assert verify(env, {"sig": keys.private_key("sig").public_key()})
        e = by_id.loc[env["lifecycle_id"]]
        assert p["det_sigma"] == pytest.approx(e["det_sigma"])
        assert p["curated_sigma"] == pytest.approx(e["curated_sigma"])
        assert p["eligibility"]["gates"]["paper"] == float(e["paper"])
        assert p["provenance"]["data_fingerprint"] == "sha256:" + fixture_sha256(DAY)
