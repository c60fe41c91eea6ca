"""The DM loop's row source in the daemon: the hub's finished MicroTape rows, up to a time."""

from __future__ import annotations

from lotus_daemon.loops import LOOPS
from lotus_daemon.market import HubRows, MarketHub


def _row(ts: int, coin: str) -> dict:
    return {"ts_ms": ts, "coin": coin, "mid_px": 100.0 + ts / 1000}


def test_rows_are_handed_out_once_in_time_order_up_to_the_asked_time() -> None:
    hub = MarketHub()
    rows = HubRows(hub)  # subscribed before anything is published
    for ts, coin in [(2000, "ETH"), (1000, "ETH"), (1000, "BTC"), (3000, "BTC")]:
        hub.publish("row", coin, ts, _row(ts, coin))
    hub.publish("book", "BTC", 1500, {"coin": "BTC"})  # not a row: never handed out
    got = [(r["ts_ms"], r["coin"]) for r in rows.until(2000)]
    assert got == [(1000, "BTC"), (1000, "ETH"), (2000, "ETH")]
    assert list(rows.until(2000)) == []  # each row once
    hub.publish("row", "SOL", 2500, _row(2500, "SOL"))
    assert [(r["ts_ms"], r["coin"]) for r in rows.until(10_000)] == [(2500, "SOL"),
                                                                      (3000, "BTC")]


def test_the_dm_loop_in_the_daemon_reads_the_hub() -> None:
    hub = MarketHub()
    loop = LOOPS["dm"]({"market": hub})
    assert isinstance(loop.options["rows"], HubRows)
    assert isinstance(LOOPS["dm"]({"market": hub, "rows": "given"}).options["rows"], str)
