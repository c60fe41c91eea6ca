"""The `dm:` and `trader:` sections and the coin names are validated where the settings are
loaded: a typo stops `load_settings` (and so `lotus config`, the daemon, `materialize`)
naming its key, instead of passing until dm_decisions runs or being ignored."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import pytest
from click.testing import CliRunner

from lotus_cli.main import cli
from lotus_core.config import ConfigError, Settings, load_settings
from lotus_core.config.coins import coin_problems, unrecorded
from lotus_core.dm.config import DmSettings
from lotus_core.trader.config import TraderSettings


def _load(tmp_path: Path, text: str) -> Settings:
    f = tmp_path / "lotus.yaml"
    f.write_text(text)
    return load_settings(f, env={})


def test_dm_and_trader_are_typed_sections(tmp_path: Path) -> None:
    s = _load(tmp_path, "dm:\n  portfolio_id: desk7\n  allocator: {gross_max: 0.6}\n"
                        "trader:\n  equity: 2500.0\n")
    assert isinstance(s.dm, DmSettings) and isinstance(s.trader, TraderSettings)
    assert (s.dm.portfolio_id, s.dm.allocator.gross_max, s.trader.equity) == ("desk7", 0.6,
                                                                               2500.0)
    assert s.dm.allocator.asset_max == 0.25  # the rest: defaults
    assert pickle.loads(pickle.dumps(s)) == s  # what the score process receives
    assert Settings.model_validate_json(s.model_dump_json()) == s  # the Dagster resource


@pytest.mark.parametrize(("text", "key"), [
    ("dm:\n  portfolio_idd: x\n", "dm.portfolio_idd"),
    ("dm:\n  allocator: {gross_max: lots}\n", "dm.allocator.gross_max"),
    ("dm:\n  budgets: {low: 1.5, high: 1.25}\n", "dm.budgets"),
    ("trader:\n  equity: -1\n", "trader.equity"),
    ("trader:\n  execution_strategy: yolo\n", "trader.execution_strategy"),
    ("trader:\n  venue_preferences: [nowhere]\n", "trader"),
])
def test_a_bad_dm_or_trader_key_stops_the_load_naming_it(tmp_path: Path, text: str,
                                                         key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _load(tmp_path, text)


@pytest.mark.parametrize(("coins", "says"), [
    (["BTC", "NOTACOIN"], "'NOTACOIN' is not in the venue's perp universe"),
    (["btc"], "'btc' is not a Hyperliquid perp name"),
    (["BTC-PERP"], "'BTC-PERP' is not a Hyperliquid perp name"),
    (["BTC", "BTC"], "'BTC' is listed twice"),
])
def test_unknown_or_malformed_coins_are_refused(coins: list[str], says: str) -> None:
    assert [p for p in coin_problems(coins) if says in p]


def test_coins_are_checked_in_both_sections_and_extra_coins_admits_a_new_listing(
        tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"feed\.coins: 'NOTACOIN'"):
        _load(tmp_path, "feed:\n  coins: [BTC, NOTACOIN]\n")
    with pytest.raises(ConfigError, match=r"dm\.coins: 'NEWCOIN'"):
        _load(tmp_path, "dm:\n  coins: [BTC, NEWCOIN]\n")
    with pytest.raises(ConfigError, match=r"extra_coins"):
        _load(tmp_path, "extra_coins: [new-coin]\n")
    with pytest.raises(ConfigError, match=r"coins: 'NOTACOIN' is not in the venue's"):
        _load(tmp_path, "coins: [BTC, NOTACOIN]\n")
    s = _load(tmp_path, "extra_coins: [NEWCOIN]\ncoins: [BTC, kPEPE, NEWCOIN]\n"
                        "dm:\n  coins: [BTC, NEWCOIN]\n")
    assert s.feed.coins == ["BTC", "kPEPE", "NEWCOIN"] and s.dm.coins == ("BTC", "NEWCOIN")


def test_the_coin_list_is_data_every_section_derives_from_it_or_is_checked_against_it(
        tmp_path: Path) -> None:
    default = load_settings(env={})
    assert default.coins == ["BTC", "ETH", "SOL"]  # DEFAULT_COINS (coin_list.py), the one list
    assert Settings() == default.model_copy(update={"home": Settings().home})
    s = _load(tmp_path, "coins: [BTC, ETH, SOL, DOGE, kPEPE]\n")
    listed = ["BTC", "ETH", "SOL", "DOGE", "kPEPE"]
    assert s.feed.coins == s.fixtures.coins == listed and s.dm.coins == tuple(listed)
    assert [v.symbols for v in s.trader.venues] == [listed, listed]
    assert [v.name for v in s.trader.venues] == ["hyperliquid", "paper_alt"]  # packaged ones
    assert s.trader.venues[0].tick_size == default.trader.venues[0].tick_size
    s = _load(tmp_path, "coins: [BTC, ETH, DOGE]\ndm:\n  coins: [BTC, DOGE]\n"
                        "trader:\n  venues: [{name: hyperliquid}, {name: alt, symbols: [BTC]}]\n"
                        "  venue_preferences: [hyperliquid]\n")
    assert s.dm.coins == ("BTC", "DOGE") and s.feed.coins == ["BTC", "ETH", "DOGE"]
    assert [v.symbols for v in s.trader.venues] == [["BTC", "ETH", "DOGE"], ["BTC"]]
    for text, says in (
            ("dm:\n  coins: [BTC, DOGE]\n", "dm.coins: 'DOGE' is not in the coin list"),
            ("trader:\n  venues: [{name: hyperliquid, symbols: [BTC, DOGE]}]\n"
             "  venue_preferences: [hyperliquid]\n",
             r"trader.venues\[hyperliquid\].symbols: 'DOGE' is not in the coin list"),
            ("fixtures:\n  coins: [ETH, AVAX]\n", "fixtures.coins: 'AVAX' is not in the coin"),
            ("coins: [BTC]\nfeed:\n  coins: [BTC, ETH]\n", "feed.coins: 'ETH' is not in")):
        with pytest.raises(ConfigError, match=says):
            _load(tmp_path, text)


def _recording(path: Path, coins: list[str]) -> None:
    lines = [{"recv_ts_ms": 1, "msg": "Websocket connection established."}]
    lines += [{"recv_ts_ms": 2, "msg": {"channel": "subscriptionResponse", "data": {
        "method": "subscribe", "subscription": {"type": "l2Book", "coin": c}}}} for c in coins]
    with gzip.open(path, "wt") as fh:
        fh.write("".join(json.dumps(x) + "\n" for x in lines))


def test_a_coin_no_recording_names_is_reported_by_key(tmp_path: Path) -> None:
    assert unrecorded(tmp_path, {"dm.coins": ["DOGE"]}) == []  # no recording: nothing known
    _recording(tmp_path / "2026-01-02.jsonl.gz", ["BTC", "ETH"])
    _recording(tmp_path / "2026-01-03.jsonl.gz", ["BTC", "SOL"])
    assert unrecorded(tmp_path, {"feed.coins": ["BTC", "SOL"], "dm.coins": ["ETH", "DOGE"]}) \
        == [f"dm.coins: 'DOGE' appears in none of the 2 recording(s) of {tmp_path}"]


def test_lotus_config_fails_naming_the_key_and_shows_the_validated_sections(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("LOTUS_CONFIG", "LOTUS_PROFILE", "LOTUS_HOME", "LOTUS_FEED_DIR",
                "LOTUS_FABRIC_URL"):
        monkeypatch.delenv(var, raising=False)
    bad = tmp_path / "bad.yaml"
    for text, key in (("trader:\n  equty: 5\n", "trader.equty"),
                      ("dm:\n  allocator: {gross_max: lots}\n", "dm.allocator.gross_max"),
                      ("feed:\n  coins: [NOTACOIN]\n", "feed.coins: 'NOTACOIN'")):
        bad.write_text(text)
        out = CliRunner().invoke(cli, ["--config", str(bad), "config"])
        assert out.exit_code != 0 and key in out.output, out.output
    good = tmp_path / "good.yaml"
    good.write_text("dm:\n  portfolio_id: desk7\ntrader:\n  equity: 2500\n")
    out = CliRunner().invoke(cli, ["--config", str(good), "config"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert body["dm"]["portfolio_id"] == "desk7" and body["trader"]["equity"] == 2500.0
    assert body["dm"]["allocator"]["kelly_fraction"] == 0.25  # defaults filled in
    assert body["trader"]["venues"][0]["name"] == "hyperliquid"
