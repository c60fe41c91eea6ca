"""The venue's specifics stay in its package (lotus_core/venues/hyperliquid/): the code that
reads or writes the wire names Hyperliquid's channels through `wire`'s constants, the
package reads nothing of the code that reads it, and the default Trader venue's fees are
the venue's own schedule.

What counts as spelling a channel at the wire: a channel literal (one of `wire.DATA_TYPES`,
`wire.CONTROL_CHANNELS`, `wire.SPOT_ASSET_CTX`) that

- is compared (`==`, `!=`, `in`, `not in`) with a message's channel: a name or attribute
  called `channel` / `ch`, `x["channel"]` or `x.get("channel")` (routing a parsed frame);
- is the value of a `"channel"` key, or a data channel the value of a `"type"` key, in a dict
  display (encoding a frame or a subscription);
- sits in JSON text, `"channel":"l2Book"` or `"type":"candle"` in a str or bytes literal
  (encoding or matching a frame's bytes).

The same words are legitimately Lotus' own vocabulary elsewhere and are not matched: the
parsed tables (`trades`, `bbo`), the dead letters' and summaries' channel labels, the
daemon's `feed.channels` setting, the fabric bus's own `{"type": "pong"}`. `replayClock`
is Lotus' extension of the protocol (also in `wire`), not the venue's, and is not checked.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from lotus_core.trader.config import TraderSettings, VenueConfig
from lotus_core.venues.hyperliquid import fees, wire

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("lotus_core", "lotus_assets", "lotus_resources", "lotus_sensors", "lotus_daemon",
            "lotus_cli", "lotus_replay", "lotus_bus", "lotus_api", "lotus_location")
VENUES = REPO / "lotus_core" / "venues"
DATA = frozenset(wire.DATA_TYPES)
CHANNELS = DATA | set(wire.CONTROL_CHANNELS) | {wire.SPOT_ASSET_CTX}
JSON_TEXT = re.compile(r'"(channel|type)"\s*:\s*"\(?(?:\?:)?([\w|]+)')
"""A JSON key and the name after it, or the alternatives of a regex group there."""
CHANNEL_VARS = frozenset({"channel", "ch"})
NOT_YET: dict[str, str] = {}
"""Modules the rule does not hold yet, each with what it still spells; the list only
shrinks (an entry that no longer spells a channel fails, so it is struck off)."""


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
        value = node.value
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return None


def _channels_in(node: ast.AST) -> set[str]:
    """The channel literals `node` is or holds (a tuple, list or set display)."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return {v for v in map(_literal, items) if v in CHANNELS}


def _is_channel(node: ast.AST) -> bool:
    """`node` is a message's channel: `channel`, `x.channel`, `x["channel"]`,
    `x.get("channel")`."""
    if isinstance(node, ast.Name):
        return node.id in CHANNEL_VARS
    if isinstance(node, ast.Attribute):
        return node.attr in CHANNEL_VARS
    if isinstance(node, ast.Subscript):
        return _literal(node.slice) == "channel"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "get" and bool(node.args) and _literal(node.args[0]) == "channel"
    return False


def wire_spellings(source: str) -> list[tuple[int, str]]:
    """(line, what) of each place `source` spells a venue channel at the wire (docstring)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(map(_is_channel, sides)):
                found += [(node.lineno, f"compared with {c!r}")
                          for s in sides for c in sorted(_channels_in(s))]
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                key, value = (None if k is None else _literal(k)), _literal(v)
                if (key == "channel" and value in CHANNELS) or (key == "type" and value in DATA):
                    found.append((node.lineno, f"{{{key!r}: {value!r}}}"))
        elif (text := _literal(node)) is not None:
            for m in JSON_TEXT.finditer(text):
                named = set(m.group(2).split("|")) & (CHANNELS if m.group(1) == "channel"
                                                      else DATA)
                if named:
                    found.append((node.lineno, f"JSON text {m.group(0)}"))
    return sorted(set(found))


def _modules() -> list[Path]:
    return sorted(f for pkg in PACKAGES for f in (REPO / pkg).rglob("*.py")
                  if VENUES not in f.parents)


def test_no_channel_literal_at_the_wire_outside_the_venue_package() -> None:
    spelled = {str(f.relative_to(REPO)): wire_spellings(f.read_text()) for f in _modules()}
    bad = [f"{path}:{line}: {what}" for path, found in spelled.items()
           if path not in NOT_YET for line, what in found]
    assert not bad, ("spell the venue's channels through lotus_core.venues.hyperliquid.wire:\n"
                     + "\n".join(bad))
    assert not [p for p in NOT_YET if not spelled.get(p)], "strike these off NOT_YET"


def test_the_rule_sees_each_form() -> None:
    """Each form the rule names is caught; Lotus' own uses of the same words are not."""
    caught = [
        'if channel == "l2Book": pass',
        'if msg.get("channel") in ("bbo", "trades"): pass',
        'ok = frame["channel"] != b"activeAssetCtx"',
        'sub = {"type": "candle", "coin": coin}',
        'out = {"channel": "subscriptionResponse", "data": data}',
        'HEAD = b\'{"channel":"l2Book","data":{"coin":\'',
        'HEAD = \'{"channel": "pong"}\'',
        'HEAD = re.compile(r\'\\{"channel":"(bbo|l2Book)",\')',
        'LINE = re.compile(rb\'"msg":\\{"channel":"(?:mystery|\' rb\'trades)"\')',
    ]
    for source in caught:
        assert wire_spellings(source), source
    kept = [
        'if name == "trades": pass',
        'tables = {"trades": t, "bbo": b}',
        'found.add(t, bad, "l2Book", "malformed_l2Book", "why")',
        'frame = {"type": "pong"}',
        'head = b\'{"channel":"replayClock","data":{"time":\'',
        'GARBAGE = \'{"channel":"mystery","data":{}}\'',
    ]
    for source in kept:
        assert not wire_spellings(source), source


def test_the_venue_package_reads_nothing_that_reads_it() -> None:
    """The edge imports only itself and lotus_core's leaf helpers: never the feed, the
    synthetic markets, the Trader or the cost model that read it (a second venue is one new
    package, not a change to them)."""
    allowed = ("lotus_core.venues", "lotus_core.yaml_io")
    bad = []
    for f in sorted(VENUES.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{f.relative_to(REPO)}: {n}" for n in names
                    if (n == "lotus_core" or n.startswith("lotus_core."))
                    and not n.startswith(allowed)]
    assert not bad, bad


def test_the_default_venue_pays_the_venues_fee_schedule() -> None:
    venue = TraderSettings().venue("hyperliquid")
    assert (venue.maker_fee, venue.taker_fee) == (fees.MAKER_FEE, fees.TAKER_FEE)
    unnamed = VenueConfig(name="v")
    assert (unnamed.maker_fee, unnamed.taker_fee) == (fees.MAKER_FEE, fees.TAKER_FEE)
