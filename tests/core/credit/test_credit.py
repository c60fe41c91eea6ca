"""Expert credit on a scored fixture day: a coalition's DSI is the knock-out replay's DSI,
credit adds up, the knock-out column is the knock-out replay's effect, and an expert with
no credit for N weeks is proposed to the curators (a signed alert), never removed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lotus_core.credit import (
    CREDIT_SCHEMA,
    CreditConfig,
    CreditError,
    coalition_annotations,
    post_proposals,
    prepare_day,
    proposals,
    run_credit,
)
from lotus_core.experiments import alternative_of, apply, load_day, replay_day, replay_dsi
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.signals.priors import NO_PRIORS

PLAYERS = ("anomaly_iforest", "seq_move_clf", "depth_vacuum")
TOL = 1e-9


def _inputs(lake):  # noqa: ANN001, ANN202
    return load_day(lake.lake, lake.day, history_days=7, dsi_history_days=3,
                    with_dsi_history=True)


def test_a_coalition_fuses_exactly_what_the_knock_out_replay_refits(credit_lake):
    inputs = _inputs(credit_lake)
    game = prepare_day(inputs, credit_lake.base, NO_PRIORS)
    active = frozenset(e.id for e in credit_lake.base.registry.active)
    for out in ("anomaly_iforest",):  # a learned expert (sklearn), the costliest to refit
        refit = replay_dsi(inputs, apply(alternative_of(knock_out=[out]), credit_lake.base))
        fused = coalition_annotations(game, active - {out})
        assert np.abs(refit["mx_evidence"].to_numpy() - fused["mx_evidence"].to_numpy()).max() \
            <= TOL
        assert np.array_equal(refit["mx_confirm"].to_numpy(), fused["mx_confirm"].to_numpy())


def test_credit_adds_up_and_its_knock_out_is_the_replays(credit_lake):
    cfg = CreditConfig(orders=8, players=PLAYERS, seed=7)
    r = run_credit(credit_lake.lake, credit_lake.day, credit_lake.base, lambda d: NO_PRIORS,
                   history_days=7, dsi_history_days=3, config=cfg)
    CREDIT_SCHEMA.validate(r.rows)
    assert r.shapley.evaluations <= 2 ** len(PLAYERS)
    # efficiency: the players' credit sums to v(all) - v(none), metric by metric
    assert np.allclose(r.shapley.mean.sum(axis=0), r.shapley.full - r.shapley.empty, atol=TOL)
    assert set(r.rows["expert_id"]) == set(PLAYERS)
    assert set(json.loads(r.rows["players"].iloc[0])) == set(PLAYERS)

    # the knock-out column is the knock-out replay: v(all) - v(all without the expert)
    (game,) = r.games
    knocked = apply(alternative_of(knock_out=["anomaly_iforest"]), credit_lake.base)
    ev = replay_day(game.inputs, knocked, NO_PRIORS, refit_dsi=True).events
    row = r.rows.set_index(["expert_id", "metric", "scope"]).loc[
        ("anomaly_iforest", "det_sigma", "all")]
    full_sigma = r.shapley.full[r.names.index("det_sigma|all")]
    assert row["knockout"] == pytest.approx(full_sigma - ev["det_sigma"].mean(), abs=TOL)
    net = r.rows.set_index(["expert_id", "metric", "scope"]).loc[
        ("anomaly_iforest", "net_bps", "all")]
    without = float(game.net_bps[ev["published"].to_numpy()].sum())
    assert net["knockout"] == pytest.approx(r.shapley.full[r.names.index("net_bps|all")]
                                            - without, abs=TOL)

    # coin scopes are pooled: between the coin's own credit and the pooled mean
    coins = r.rows[(r.rows["metric"] == "net_bps") & r.rows["pool_weight"].notna()]
    lo = np.minimum(coins["shapley"], coins["pooled_mean"]) - TOL
    hi = np.maximum(coins["shapley"], coins["pooled_mean"]) + TOL
    assert ((coins["pooled"] >= lo) & (coins["pooled"] <= hi)).all()

    with pytest.raises(CreditError, match=r"credit players \['nope'\] are not active experts"):
        run_credit(credit_lake.lake, credit_lake.day, credit_lake.base, lambda d: NO_PRIORS,
                   history_days=7, dsi_history_days=3, config=CreditConfig(players=("nope",)))


def _history(credits: dict[str, list[float]], days: list[str]) -> pd.DataFrame:
    rows = [{"day": d, "expert_id": e, "metric": "net_bps", "scope": "all", "pooled": c}
            for e, cs in credits.items() for d, c in zip(days, cs, strict=True)]
    return pd.DataFrame(rows)


def test_no_credit_for_n_weeks_is_proposed_once_to_the_curators(fabric_sqlite, tmp_path):
    sundays = ["2026-01-04", "2026-01-11", "2026-01-18", "2026-01-25"]  # 4 ISO weeks
    hist = _history({"idle": [0.0, -1.0, 0.0, -3.0],       # never positive: proposed
                     "useful": [0.0, -1.0, 2.5, -3.0],     # one good week: kept
                     "new": [np.nan, np.nan, -1.0, -1.0]}, sundays)
    hist = hist.dropna()                                   # "new" was credited 2 weeks only
    found = proposals(hist, "2026-01-25", weeks=4)
    assert [p.expert_id for p in found] == ["idle"]
    assert found[0].weeks == ("2026-W01", "2026-W02", "2026-W03", "2026-W04")
    assert proposals(hist, "2026-01-25", weeks=2)[-1].expert_id == "new"

    keys = Keyring(tmp_path / "keys")
    assert post_proposals(fabric_sqlite, found, keys, models_map=load_modules().map) == 1
    assert post_proposals(fabric_sqlite, found, keys,  # one alert per expert and week
                          models_map=load_modules().map) == 0
    with fabric_sqlite.transaction() as tx:
        rows = tx.query("SELECT intent, dedupe_key, payload FROM sig_outbox")
    (row,) = rows
    payload = row["payload"] if isinstance(row["payload"], dict) else json.loads(row["payload"])
    assert row["intent"] == "WATCHDOG_ALERT"
    assert payload["reason"] == "dsi_expert_no_credit.idle" and payload["action"] == "none"
    assert "Proposed for retirement" in payload["detail"] and "Nothing was changed" in \
        payload["detail"]
