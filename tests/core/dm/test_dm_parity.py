"""`lotus_core.dm.parity`: the live tickets and fills against the nightly tables, exactly
for ids, times and sides, floats within `RTOL` (a unit of a rounded figure's last place
passes, a real difference does not), a ticket or fill on one side only named."""

from __future__ import annotations

import json

import pandas as pd

from lotus_core.dm.parity import ATOL, RTOL, compare_day, rel_diff

TS = 1_767_355_205_000  # 2026-01-02T12:00:05.000Z


def _ticket(did: str, target: float, cost: str = "4.551278", ts: str = "2026-01-02T12:00:05.000Z",
            solve_ms: str = "1.234") -> dict:
    return {"decision_id": did, "asof_ts": ts, "targets": {"BTC": target},
            "audit_refs": {"action": "trade", "execution": "maker", "w0": "0.0",
                           "cost_bps": cost, "edge_bps": "-35.351426", "solve_ms": solve_ms,
                           "solver_status": "optimal"}}


def _nightly(tickets: list[dict]) -> pd.DataFrame:
    rows = []
    for i, t in enumerate(tickets):
        refs = {k: v for k, v in t["audit_refs"].items() if k != "solve_ms"}
        rows.append({"decision_id": t["decision_id"], "ts_ms": TS, "coin": "BTC",
                     "ticket_json": json.dumps({**t, "audit_refs": refs}, sort_keys=True),
                     "action": "trade", "w0": 0.0, "target": t["targets"]["BTC"],
                     "execution": "maker", "cost_bps": float(refs["cost_bps"]),
                     "edge_bps": -35.351426, "seq": i})
    return pd.DataFrame(rows)


def _fill(fid: str, px: float, side: str = "sell") -> dict:
    return {"fill_id": fid, "order_id": "o1", "execution_id": "x1", "coin": "BTC",
            "venue": "hl", "side": side, "px": px, "qty": 0.5, "fee": 1.25, "ts_ms": TS + 300,
            "liquidity": "maker"}


def _paper(fills: list[dict]) -> pd.DataFrame:
    return pd.DataFrame({"kind": ["fill"] * len(fills) + ["state"],
                         "data_json": [json.dumps(f) for f in fills] + ["{}"]})


def test_equal_days_pass_and_a_rounding_unit_is_within_the_tolerance() -> None:
    nightly = [_ticket("dm-a-BTC", -0.25), _ticket("dm-b-BTC", 0.12345678)]
    live = [_ticket("dm-a-BTC", -0.25, solve_ms="9.9"),  # wall clock: not compared
            _ticket("dm-b-BTC", 0.12345679, cost="4.551279")]  # one unit of the 8th / 6th
    r = compare_day(_nightly(nightly), _paper([_fill("f1", 87_000.5)]), live,
                    [_fill("f1", 87_000.5 * (1 + RTOL / 2))])
    assert r.ok, r.describe()
    assert r.compared_tickets == 2 and r.compared_fills == 1
    assert 0 < r.max_rel_diff <= RTOL
    assert "2 tickets and 1 fills compared" in r.describe()


def test_a_real_difference_is_named_with_its_ticket_or_fill_and_field() -> None:
    nightly = [_ticket("dm-a-BTC", -0.25), _ticket("dm-b-BTC", 0.1)]
    live = [_ticket("dm-a-BTC", -0.25), _ticket("dm-b-BTC", 0.1, cost="4.6")]
    r = compare_day(_nightly(nightly), _paper([_fill("f1", 87_000.5), _fill("f2", 87_001.0)]),
                    live, [_fill("f1", 87_000.5, side="buy")])
    assert not r.ok
    assert r.mismatched_tickets == 1 and r.mismatched_fills == 2
    said = [m.sentence() for m in r.shown]
    assert "ticket dm-b-BTC cost_bps: nightly 4.551278 live '4.6'" in said
    assert "ticket dm-b-BTC ticket.audit_refs.cost_bps: nightly '4.551278' live '4.6'" in said
    assert "fill f1 side: nightly 'sell' live 'buy'" in said
    assert "fill f2 fill_id: nightly 'f2' live '<not filled live>'" in said
    assert {"ticket.cost_bps", "fill.side", "fill.fill_id"} <= r.fields_differing


def test_order_and_one_sided_tickets() -> None:
    a, b = _ticket("dm-a-BTC", 0.1), _ticket("dm-b-BTC", 0.2)
    swapped = compare_day(_nightly([a, b]), _paper([]), [b, a], [])
    assert not swapped.ok and swapped.mismatched_tickets == 0
    assert swapped.order == "ticket order differs at #0: nightly dm-a-BTC live dm-b-BTC"
    extra = compare_day(_nightly([a]), _paper([]), [a, b], [])
    assert extra.mismatched_tickets == 1 and extra.order is None
    assert extra.shown[0].sentence() == \
        "ticket dm-b-BTC decision_id: nightly '<not in dm_decisions>' live 'dm-b-BTC'"


def test_rel_diff_and_the_absolute_floor() -> None:
    assert rel_diff(1.0, 1.0) == 0.0 and rel_diff(float("nan"), float("nan")) == 0.0
    assert rel_diff(0.0, ATOL) == 1.0  # relative at zero is whole: the absolute floor passes
    r = compare_day(_nightly([_ticket("dm-a-BTC", 0.0)]), _paper([]),
                    [_ticket("dm-a-BTC", ATOL)], [])
    assert r.ok, r.describe()
    r = compare_day(_nightly([_ticket("dm-a-BTC", 0.0)]), _paper([]),
                    [_ticket("dm-a-BTC", 10 * ATOL)], [])
    assert not r.ok
