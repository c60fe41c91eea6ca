"""Coin names of `feed.coins` and `dm.coins`: well-formed, known to the venue, recorded.

Three checks, each where its facts are:

- form (at load): a Hyperliquid perp name is upper-case letters and digits, optionally
  after a lower-case `k` (the venue's thousand-unit perps: kPEPE, kBONK);
- universe (at load): the name is in the shipped snapshot of the venue's perp universe
  (lotus_core/venues/hyperliquid/perps.yaml) or in `extra_coins:` (a listing newer than the
  snapshot), so a typo such as NOTACOIN stops `lotus config`, the daemon and `materialize`
  naming its key;
- recordings (at `lotus materialize` start): a coin that appears in none of the feed
  directory's recordings is warned about, naming the key; the snapshot can be stale, the
  recordings are what the nightly chain will actually read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from lotus_core.venues.hyperliquid.universe import known_perps

COIN_FORM = re.compile(r"^k?[A-Z0-9]{1,20}$")
HEAD_LINES = 2_000  # a recording names its coins in its first lines (subscriptions, snapshots)


def coin_problems(coins: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """Why each bad name is bad (empty: all fine); `extra` are accepted listings."""
    problems, seen = [], set()
    allowed = known_perps() | set(extra)
    for coin in coins:
        if not COIN_FORM.match(coin):
            problems.append(f"{coin!r} is not a Hyperliquid perp name (upper-case letters "
                            "and digits, optionally after a lower-case k: BTC, kPEPE)")
        elif coin not in allowed:
            problems.append(f"{coin!r} is not in the venue's perp universe "
                            "(lotus_core/venues/hyperliquid/perps.yaml); if Hyperliquid "
                            "listed it since, add it to extra_coins")
        elif coin in seen:
            problems.append(f"{coin!r} is listed twice")
        seen.add(coin)
    return problems


def recorded_coins(path: Path, head_lines: int = HEAD_LINES) -> set[str]:
    """Coins named in the first `head_lines` lines of one recording (subscription replies
    and first frames name every subscribed coin within seconds of a connection). A file cut
    short or corrupt gives the coins of the lines before the break (never an error: the
    check only warns; `lotus materialize` reports the broken file and refuses its day)."""
    from lotus_core.feed.recordings import read_head  # the tolerant reader

    coins: set[str] = set()
    for line in read_head(path, head_lines).lines:
        try:
            msg = json.loads(line).get("msg")
        except (ValueError, AttributeError):
            continue
        if not isinstance(msg, dict) or not isinstance(msg.get("data"), dict | list):
            continue
        data = msg["data"]
        sub = data.get("subscription") if isinstance(data, dict) else None
        for item in [sub, data] + (data if isinstance(data, list) else []):
            if isinstance(item, dict) and isinstance(item.get("coin"), str):
                coins.add(item["coin"])
            elif isinstance(item, dict) and isinstance(item.get("s"), str):  # candle
                coins.add(item["s"])
    return coins


def unrecorded(feed_dir: Path, sections: dict[str, Iterable[str]]) -> list[str]:
    """One message per configured coin that no recording of `feed_dir` names, by key
    (`sections`: key -> coins, e.g. {"feed.coins": [...], "dm.coins": [...]}). Nothing to
    say when the directory holds no recording."""
    paths = sorted(Path(feed_dir).glob("*.jsonl.gz"))
    if not paths:
        return []
    seen: set[str] = set()
    for path in paths:
        seen |= recorded_coins(path)
    return [f"{key}: {coin!r} appears in none of the {len(paths)} recording(s) of {feed_dir}"
            for key, coins in sections.items() for coin in coins if coin not in seen]
