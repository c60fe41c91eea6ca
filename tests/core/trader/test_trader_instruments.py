"""Ticks and lots are the venue's or refused, never guessed: a coin without a configured grid
takes the lot and the price rule's tick from its `szDecimals`, and a coin with neither is
refused by the Trader (`symbol_not_tradeable`), where it once traded on a 0.01 tick."""

from __future__ import annotations

import pytest

from lotus_core.trader.config import TraderSettings, trader_settings
from lotus_core.venues.hyperliquid.instruments import (
    UnknownInstrument,
    price_tick,
    shipped_sz_decimals,
    size_lot,
)


@pytest.mark.parametrize(("px", "sz_decimals", "tick"), [
    (106_217.0, 5, 1.0),      # BTC: 5 significant figures would be 10, integers are allowed
    (3_012.5, 4, 0.1),        # ETH
    (999.95, 4, 0.01),        # below 1,000 one more decimal
    (151.23, 2, 0.01),        # SOL
    (612.3, 3, 0.01),         # BNB
    (0.31234, 0, 1e-05),      # DOGE: 5 significant figures
    (0.012345, 0, 1e-06),     # kPEPE: 6 - szDecimals decimals
    (1.2345, 4, 0.01),        # 6 - 4 decimals bind before 5 significant figures
])
def test_the_price_rule_gives_the_venues_tick(px, sz_decimals, tick):
    assert price_tick(px, sz_decimals) == pytest.approx(tick, rel=1e-12)


def test_a_bad_price_has_no_tick():
    for px in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="positive price"):
            price_tick(px, 2)


def test_the_packaged_venue_keeps_its_grids_and_reads_the_snapshot_for_the_rest():
    venue = TraderSettings().venue("hyperliquid")
    assert (venue.tick("BTC"), venue.lot("BTC")) == (1.0, 0.00001)  # configured
    assert shipped_sz_decimals()["DOGE"] == 0
    assert venue.lot("DOGE") == size_lot(0) == 1.0
    assert venue.tick("DOGE", 0.31234) == pytest.approx(1e-5)
    assert venue.knows("DOGE") and not venue.knows("WLFI")
    with pytest.raises(UnknownInstrument, match="WLFI"):
        venue.lot("WLFI")
    with pytest.raises(UnknownInstrument, match="WLFI"):
        venue.tick("WLFI", 0.2)
    with pytest.raises(ValueError, match="depends on its price"):
        venue.tick("DOGE")


def test_a_venue_learns_a_coin_from_its_sz_decimals_setting():
    s = trader_settings({"venues": [{"name": "hyperliquid", "sz_decimals": {"WLFI": 0}}],
                         "venue_preferences": ["hyperliquid"]})
    venue = s.venue("hyperliquid")
    assert venue.knows("WLFI") and venue.lot("WLFI") == 1.0
    assert venue.tick("WLFI", 0.21345) == pytest.approx(1e-5)


def _venue(**extra: object) -> dict[str, object]:
    return {"name": "hl", "tick_size": {"BTC": 1.0}, "lot_size": {"BTC": 0.01},
            "latency": {"base_ms": 100}, "success_rate": 1.0, "symbols": ["BTC", "WLFI"],
            **extra}


@pytest.mark.parametrize(("venue", "filled"), [
    (_venue(), False),                          # listed, but no tick or lot: refused
    (_venue(sz_decimals={"WLFI": 0}), True),    # the venue's szDecimals: traded on its grid
])
def test_the_trader_refuses_a_coin_it_has_no_grid_for(venue, filled):
    from lotus_core.trader.engine import TraderEngine
    from tests.core.trader.trader_kit import T0, book, kinds, settings, ticket

    eng = TraderEngine(settings(venues=[venue], max_slippage_bps=100.0))
    eng.on_book(book(T0, [(0.2134, 50_000.0)], [(0.2135, 50_000.0)], coin="WLFI"))
    out = eng.on_decision(ticket("dw", 0.05, coin="WLFI"), T0)
    out += eng.advance(T0 + 500)
    (rep,) = kinds(out, "exec_report")
    if filled:
        fills = kinds(out, "fill")
        assert rep["status"] == "filled" and fills
        assert all(float(f["qty"]).is_integer() for f in fills)  # szDecimals 0: whole coins
    else:
        assert rep["status"] == "failed" and "symbol_not_tradeable" in rep["what_didnt_work"]
        assert kinds(out, "fill") == []
