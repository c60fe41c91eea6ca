"""One cost model (`lotus_core.costs`): the cost the Decision-Maker priced for a ticket is
the cost the paper Trader charged when it filled it, within the model's stated error; and
the DM's universe is the configured coins the day's data carries.

A generated hour of BTC and SOL (`lotus_core.synth`; the configured coins are BTC, ETH and
SOL, so ETH has no data) is parsed, made into MicroTape and replayed through the DM and
the Trader together (`joint_result`, the nightly kernel), with the packaged venues (both,
fees from `trader.venues`). For every filled execution of a ticket, from the ticket
(`audit_refs.cost.*`) and the Trader's report (`exec_metrics`), with the recorded book at
the order's arrival read independently:

- the execution the DM priced is the one the Trader's rule chose (`costs.choose_execution`,
  both sides reading the ticket's edge in the trade's direction and the Trader's passive
  record as the day began), except on trades against the DM's edge (a reduction the DM
  priced at the edge in μ's direction, which the Trader rests: priced dearer than paid);
- where they agree, the fee priced is the fee charged, exactly (one number: the venue's
  taker or maker fee);
- |paid − priced at the fill| ≤ |half spread at arrival − half spread priced| (the spread
  moving between decision and arrival; a maker earns it, a taker pays it) + N·frac/2 (the
  book walk the impact model prices: the DM's liquidity cap keeps a trade within frac of
  the depth within N bps), a bound far below the 2 bps the old `dm.fee_bps` (2.5) missed
  the venue's 4.5 bps by.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lotus_core.config import ConfigError, load_settings
from lotus_core.costs import (
    COST_TABLE,
    CostModel,
    execution_of,
    fee,
    funding_bps,
    funding_payment,
    impact_bps,
    paid,
)
from lotus_core.dm.calibration import Calibration, empty_calibration, fit_calibration
from lotus_core.dm.config import DmConfigError, load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.joint import joint_result
from lotus_core.dm.joint_tables import cost_table
from lotus_core.dm.replay import decisions_frame, replay
from lotus_core.dm.schema import DM_DECISIONS_SCHEMA
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.synth import default_spec, generate_day
from lotus_core.trader.config import trader_settings
from lotus_core.trader.engine import TraderEngine
from tests.kits.dm_kit import DAY0_MS, alpha_stream, planted_training, tape_rows

DAY = date(2026, 1, 6)
DETS = ("breakout_retest_v1", "mean_reversion_z_v1")
# a generous turnover budget and short barriers: many tickets filled inside the hour
DM = {"allocator": {"turnover_day": 96.0}}
TRADER = {"stop_loss_bps": 15.0, "take_profit_bps": 30.0}


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    cfg = load_dm_settings(DM)
    # an edge large enough that its conservative bound (docs/dm.md, "Trade only what pays")
    # fills many tickets inside the hour, makers and takers alike
    train = pd.concat([planted_training(d, 1500, 40.0, i) for i, d in enumerate(DETS)])
    return Calibration(fit_calibration(train, cfg.calibration, "w"), cfg.calibration)


@pytest.fixture(scope="module")
def hour(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    out = tmp_path_factory.mktemp("costs")
    feed_path, _ = generate_day(out, DAY, ["BTC", "SOL"], 5, default_spec(), hours=(0, 1))
    feed = parse_recording(feed_path, DAY.isoformat())
    rows = build_microtape(feed, MicroTapeParams())
    alphas = alpha_stream(("BTC", "ETH", "SOL"), DETS, 300,
                          start_ms=int(rows["ts_ms"].min()) + 300_000, span_ms=3_000_000,
                          seed=3)
    return feed, rows, alphas


def _joint(hour, calibration, trader: dict):  # noqa: ANN001, ANN202
    feed, rows, alphas = hour
    cfg, tcfg = load_dm_settings(DM), trader_settings(trader)
    dm = DmEngine(cfg, calibration, costs=CostModel.from_trader(tcfg))
    return dm, tcfg, joint_result(dm, TraderEngine(tcfg), feed, rows, alphas)


@pytest.fixture(scope="module")
def joint(hour, calibration):  # noqa: ANN001, ANN201
    """The default execution (`auto`): the rule picks per ticket."""
    return _joint(hour, calibration, dict(TRADER))


@pytest.fixture(scope="module")
def resting(hour, calibration):  # noqa: ANN001, ANN201
    """Every entry resting post-only at the touch: the DM prices maker fills."""
    return _joint(hour, calibration, {**TRADER, "execution_strategy": "limit",
                                      "limit_time_in_force": "post_only"})


def _arrival_half_spread(feed, coin: str, arrive_ms: int) -> float:  # noqa: ANN001
    """Half the quoted spread (bps) of the recorded snapshot an order arriving then meets."""
    meta = feed.books.meta
    at = np.flatnonzero((meta["coin"].astype(str).to_numpy() == coin)
                        & (meta["recv_ts_ms"].to_numpy(np.int64) <= arrive_ms))[-1]
    bid_px, _, ask_px, _ = feed.books.levels(int(at))
    mid = 0.5 * (bid_px[0] + ask_px[0])
    return (ask_px[0] - bid_px[0]) / mid * 1e4 / 2


@pytest.mark.parametrize("run", ["joint", "resting"])
def test_the_cost_priced_is_the_cost_paid_within_the_spreads_move(hour, run, request) -> None:  # noqa: ANN001
    feed, _, _ = hour
    dm, tcfg, res = request.getfixturevalue(run)
    a = dm.cfg.allocator
    walk_bound = a.liquidity_bps * a.liquidity_frac / 2  # 0.5 bps
    tickets = {d.decision_id: d for d in res.decisions}
    first_order: dict[str, dict] = {}
    for o in res.outputs:
        if o.kind == "order":
            first_order.setdefault(o.data["execution_id"], o.data)
    checked, against = Counter(), 0
    for o in res.outputs:
        m = o.data.get("exec_metrics", {})
        if o.kind != "exec_report" or m.get("purpose") != "entry" or m["cost_bps"] is None:
            continue
        d = tickets[o.data["decision_id"]]
        refs = d.ticket["audit_refs"]
        venue = tcfg.venue(o.data["venue"])
        assert refs["cost.venue"] == venue.name == "hyperliquid"
        assert refs["execution"] == d.execution
        # the rule's choice, or the one the settings fix
        chosen = m["execution_choice"].get("execution", execution_of(tcfg))
        assert m["maker_share"] == (1.0 if chosen == "maker" else 0.0)
        if chosen != d.execution:  # only a trade against the edge the DM priced it at
            side = 1 if o.data["side"] == "buy" else -1
            assert side * float(refs["cost.edge_bps"]) <= 0, (d.decision_id, refs)
            against += 1
            continue
        # one fee number: the venue's taker or maker fee, priced and charged
        fee_bps = (venue.taker_fee if chosen == "taker" else venue.maker_fee) * 1e4
        assert float(refs["cost.fee_bps"]) == pytest.approx(fee_bps, abs=1e-9)
        assert m["fee_bps"] == pytest.approx(fee_bps, abs=1e-9)
        priced = float(refs["cost.at_fill_bps"])
        assert priced == pytest.approx(float(refs["cost.fee_bps"])
                                       + float(refs["cost.half_spread_bps"])
                                       + float(refs["cost.impact_bps"]), abs=1e-5)
        assert float(refs["cost_bps"]) == pytest.approx(d.cost_bps, abs=1e-6)
        arrive = first_order[o.data["execution_id"]]["arrive_ms"]
        sign = 1.0 if chosen == "taker" else -1.0  # a taker pays the half spread, a maker earns it
        moved = abs(sign * _arrival_half_spread(feed, d.coin, arrive)
                    - float(refs["cost.half_spread_bps"]))
        error = abs(m["cost_bps"] - priced)
        assert error <= moved + walk_bound + 1e-6, (d.decision_id, priced, m["cost_bps"], moved)
        assert m["cost_bps"] == pytest.approx(m["fee_bps"] + m["crossing_bps"], abs=1e-9)
        checked[chosen] += 1
    # the rule takes on this hour's edges (fast and large: the tilt's 60 s alpha does not
    # wait for a fill); resting entries are priced and paid as maker fills
    assert checked["taker" if run == "joint" else "maker"] >= 15, checked
    assert against <= 0.25 * sum(checked.values()), (against, checked)
    assert walk_bound < 2.0  # the old fee mismatch (4.5 charged, 2.5 priced) cannot pass
    # the reports' table: priced against paid per coin, both coins, small differences
    table = cost_table(res.decisions, res.outputs)
    assert list(table.columns) == list(COST_TABLE) and table["coin"].tolist() == ["BTC", "SOL"]
    assert (table["executions"] > (10 if run == "joint" else 4)).all()  # a resting order
    assert (table["diff_bps"].abs() < 0.25).all()                      # may not fill


def test_tickets_say_what_the_dm_believed(joint) -> None:  # noqa: ANN001
    _, _, res = joint
    table = decisions_frame(res.decisions)
    DM_DECISIONS_SCHEMA.validate(table)
    assert set(table["execution"]) == {"taker", "maker"}
    taker = table["execution"] == "taker"
    assert (table.loc[taker, "cost_bps"] >= 4.5).all()  # the taker fee and more
    # a maker side: 1.5 bps fee less the half spread, plus adverse selection (the prior's
    # 3 bps: the Trader's record is empty at the start) and the edge's decay while waiting
    assert (table.loc[~taker, "cost_bps"] >= 1.5 + 3.0 - 1.0).all()
    holds = [d for d in res.decisions if d.action == "hold"]
    assert holds and any(d.action == "trade" for d in res.decisions)
    fz = load_dm_settings(DM).fusion
    lives = {"tilt": fz.tilt_horizon_s * 1000, "base": fz.base_horizon_s * 1000,
             "none": fz.base_horizon_s * 1000}
    stages = Counter()
    for d in res.decisions:
        refs = d.ticket["audit_refs"]
        assert float(refs["edge_bps"]) == pytest.approx(d.edge_bps, abs=1e-6)
        assert float(refs["cost_bps"]) == pytest.approx(d.cost_bps, abs=1e-6)
        # each stage priced the execution of its own edge, with its own half-life
        assert float(refs["cost.half_life_ms"]) == lives[refs["stage"]], refs
        mu = float(refs["mu_base_bps"]) + (float(refs["mu_tilt_bps"])
                                           if refs["stage"] == "tilt" else 0.0)
        assert float(refs["cost.edge_bps"]) == pytest.approx(mu, abs=1e-4)
        stages[refs["stage"]] += 1
    assert stages["tilt"] > 0, stages  # this hour's tickets all tilt
    for d in holds:  # a hold explains itself in numbers
        note = d.ticket["notes"]
        assert note.startswith("hold: ")
        refs = d.ticket["audit_refs"]
        if refs["solver_status"] != "skipped":
            assert (f"edge {d.edge_bps:+.2f} bps, cost {float(refs['cost.round_trip_bps']):.2f}"
                    f" bps in and out ({d.cost_bps:.2f} "
                    f"{'in' if d.execution == 'maker' else 'a side'}") in note, note


def test_the_universe_is_the_configured_coins_the_day_carries(hour, joint, calibration) -> None:  # noqa: ANN001
    _, rows, alphas = hour
    dm, _, res = joint
    assert dm.coins == ("BTC", "SOL") and dm.left_out == ("ETH",)
    eth = {a.alpha_id for a in alphas if a.coin == "ETH"}
    assert eth and {e["alpha_id"] for e in dm.log} == eth
    assert {e["reason"] for e in dm.log} == {"coin_without_data_ETH"}
    assert all(d.coin != "ETH" and not any("ETH" in b for b in d.binding)
               for d in res.decisions)
    # a coin joins at its first row: SOL's first 10 minutes missing, its alphas then
    # decide nothing and it binds nothing; from its first row it is in the problem
    late = int(rows["ts_ms"].min()) + 600_000
    cut = rows[(rows["coin"] != "SOL") | (rows["ts_ms"] >= late)]
    grows = DmEngine(load_dm_settings(DM), calibration)
    res = replay(grows, cut, alphas[:60])
    before = [d for d in res.decisions if d.ts_ms < late]
    after = [d for d in res.decisions if d.ts_ms >= late]
    assert before and after and all(d.coin != "SOL" and not any("SOL" in b for b in d.binding)
                                    for d in before)
    assert any(d.coin == "SOL" for d in after) and grows.coins == ("BTC", "SOL")
    early_sol = {a.alpha_id for a in alphas[:60] if a.coin == "SOL" and a.ts_ms < late}
    assert early_sol and {e["alpha_id"] for e in grows.log
                          if e["reason"] == "coin_without_data_SOL"} == early_sol
    # kept, they count from its first row (as a restart's restored alphas do before the
    # market's rows): without them its first decision there weighs another edge
    alone = replay(DmEngine(load_dm_settings(DM), calibration), cut,
                   [a for a in alphas[:60] if a.alpha_id not in early_sol])

    def first_sol(r):  # noqa: ANN001, ANN202
        return next(d for d in r.decisions if d.ts_ms >= late and d.coin == "SOL")

    assert first_sol(res).edge_bps != first_sol(alone).edge_bps
    # no configured coin in the data: nothing to decide, said in the log
    none = DmEngine(load_dm_settings(DM), calibration)
    assert none.coins == () and none.on_alpha(alphas[0]) == []
    assert none.log[-1]["reason"] == f"coin_without_data_{alphas[0].coin}"


def test_the_dm_prices_the_venues_fee_schedule(calibration) -> None:  # noqa: ANN001
    """The fee the DM prices is the one the venue's settings give the Trader: a dearer
    venue moves every ticket's cost, and an edge below it trades no more."""
    cfg = load_dm_settings(DM)
    rows = tape_rows(seconds=900)
    alphas = alpha_stream(cfg.coins, DETS, 40)
    alphas = [a for a in alphas if a.ts_ms < DAY0_MS + 900_000]
    out = {}
    for taker in (0.00045, 0.01):
        tcfg = trader_settings({"venues": [{"name": "v", "taker_fee": taker}],
                                "venue_preferences": ["v"], "execution_strategy": "market"})
        res = replay(DmEngine(cfg, calibration, costs=CostModel.from_trader(tcfg)), rows, alphas)
        # dm_kit's tape: 1 bp spread, deep books
        assert all(d.cost_bps == pytest.approx(taker * 1e4 + 0.5, abs=0.05)
                   for d in res.decisions)
        out[taker] = res
    assert any(d.action == "trade" for d in out[0.00045].decisions)
    assert all(d.action == "hold" for d in out[0.01].decisions)  # 100 bps: above every edge


def test_funding_is_a_carry_over_the_horizon_never_an_edge(calibration) -> None:  # noqa: ANN001
    cfg = load_dm_settings(DM)
    rows = tape_rows(seconds=900).assign(funding=1e-3)  # 10 bps an hour, longs pay
    alphas = [a for a in alpha_stream(cfg.coins, DETS, 40) if a.ts_ms < DAY0_MS + 900_000]
    res = replay(DmEngine(cfg, calibration), rows, alphas)
    carry = 1e-3 * 1e4 * cfg.fusion.base_horizon_s / 3600  # held one base horizon
    assert all(float(d.ticket["audit_refs"]["cost.funding_bps"]) == pytest.approx(carry)
               for d in res.decisions)
    flat = replay(DmEngine(cfg, empty_calibration(cfg.calibration)), rows, alphas)
    assert all(d.action == "hold" and d.target == 0.0 for d in flat.decisions)


def test_the_old_fee_setting_is_refused_naming_its_key(tmp_path: Path) -> None:
    with pytest.raises(DmConfigError, match=r"dm\.allocator\.fee_bps is no longer a setting"):
        load_dm_settings({"allocator": {"fee_bps": 2.5}})
    old = tmp_path / "lotus.yaml"
    old.write_text("dm:\n  allocator:\n    fee_bps: 2.5\n")
    with pytest.raises(ConfigError, match=r"dm\.allocator\.fee_bps.*trader\.venues"):
        load_settings(old, env={})


def test_the_formulas() -> None:
    venue = trader_settings({}).venue("hyperliquid")
    assert fee(venue, "taker", 10_000.0) == pytest.approx(4.5)
    assert fee(venue, "maker", 10_000.0) == pytest.approx(1.5)
    assert impact_bps(1_000.0, 100_000.0, 10.0) == pytest.approx(0.05)  # N·q/(2D)
    assert impact_bps(1e9, 100_000.0, 10.0) == 5.0  # capped at N/2
    assert impact_bps(1_000.0, float("nan"), 10.0) == 0.0
    model = CostModel.from_trader(trader_settings({}))
    p = model.price("BTC", 2.0, 100_000.0, 1_000.0, 10.0, funding_rate=1e-4,
                    hold_ms=1_800_000)
    assert (p.venue, p.fee_bps, p.half_spread_bps) == ("hyperliquid", pytest.approx(4.5), 1.0)
    assert p.total_bps == pytest.approx(4.5 + 1.0 + 0.05)
    assert p.funding_bps == pytest.approx(0.5)  # 1 bp an hour, held half an hour
    got = paid(1, 100.1, 10.0, 0.45045, 100.0)
    assert got is not None and got.crossing_bps == pytest.approx(10.0)
    assert got.fee_bps == pytest.approx(4.5) and got.total_bps == pytest.approx(14.5)
    assert paid(-1, None, 0.0, 0.0, 100.0) is None
    # what the Trader pays a funding time is the DM's carry for one interval held
    assert funding_payment(2.0, 100.0, 1e-4) == pytest.approx(-0.02)
    assert funding_bps(1e-4, 3_600_000, model.funding_interval_ms) * 1e-4 * 200.0 \
        == pytest.approx(0.02)
    assert CostModel.from_trader(None).venue_for("BTC").name == "hyperliquid"


@pytest.mark.parametrize(("trader", "execution"), [
    ({"execution_strategy": "market"}, "taker"),
    ({"execution_strategy": "limit"}, "maker"),
    ({"execution_strategy": "limit", "limit_time_in_force": "post_only"}, "maker"),
    ({"execution_strategy": "twap"}, "taker"),
    ({"execution_strategy": "twap", "twap_slice_type": "limit"}, "maker"),
])
def test_the_dm_prices_the_execution_the_traders_settings_give(trader, execution):
    """Resting entries (limit, TWAP limit slices) are priced as maker fills: the maker fee,
    the half spread earned, no walk, the adverse selection of a passive fill (the prior's
    3 bps without a record); market entries as taker fills. One setting, both sides."""
    settings = trader_settings(trader)
    assert execution_of(settings) == execution
    p = CostModel.from_trader(settings).price("BTC", 2.0, 100_000.0, 1_000.0, 10.0)
    assert p.execution == execution
    if execution == "maker":
        assert (p.fee_bps, p.half_spread_bps, p.impact_bps) == (pytest.approx(1.5), -1.0, 0.0)
        assert p.total_bps == pytest.approx(1.5 - 1.0 + 3.0)
        assert p.round_trip_bps == pytest.approx(p.total_bps + 4.5 + 1.0 + 0.05)
    else:
        assert p.total_bps == pytest.approx(4.5 + 1.0 + 0.05)
        assert p.round_trip_bps == pytest.approx(2 * p.total_bps)


def test_the_default_prices_the_execution_the_rule_picks() -> None:
    """`auto` (the default): the DM prices what the Trader's rule will do for the coin's
    edge: a small edge rests (waiting loses little of it), a large one takes."""
    model = CostModel.from_trader(trader_settings({}))
    assert model.execution == "auto"
    small = model.price("BTC", 2.0, 100_000.0, 1_000.0, 10.0, hold_ms=300_000, edge_bps=1.0)
    large = model.price("BTC", 2.0, 100_000.0, 1_000.0, 10.0, hold_ms=300_000, edge_bps=-40.0)
    assert (small.execution, large.execution) == ("maker", "taker")
    assert small.fill_prob == pytest.approx(0.3) and large.fill_prob == 1.0
    assert small.expected_fee_bps == pytest.approx(0.3 * 1.5)
    assert large.refs()["cost.edge_bps"] == "-40.0"


def test_a_position_is_opened_only_where_the_edge_beats_the_round_trip(joint) -> None:  # noqa: ANN001
    """The allocator weighs an edge against entry and exit (`Priced.round_trip_bps`): every
    ticket that opens a position from flat saw an edge, net of the funding carry, above the
    round trip it priced; a hold explains itself against the same number."""
    _, _, res = joint
    opened = 0
    for d in res.decisions:
        refs = d.ticket["audit_refs"]
        round_trip = float(refs["cost.round_trip_bps"])
        entry = float(refs["cost_bps"])
        if refs["execution"] == "taker":  # entry and exit alike
            assert round_trip == pytest.approx(2 * entry, abs=1e-5)
        else:  # the exit is a market order: a taker side
            assert round_trip - entry >= 4.5
        if refs["action"] != "trade" or float(refs["w0"]) != 0.0:
            continue
        opened += 1
        net = abs(float(refs["edge_bps"])) - abs(float(refs["cost.funding_bps"]))
        assert net > round_trip, (d.decision_id, refs["edge_bps"], round_trip)
        assert "in and out" in d.ticket["notes"]
    assert opened > 0
