"""The `raw_feed` asset's table: what a day's recording held, per channel and coin."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pandera.pandas as pa

from lotus_core.feed.tables import FeedDay

RAW_FEED_SCHEMA = pa.DataFrameSchema(
    {
        "day": pa.Column(str, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$")),
        "channel": pa.Column(str),
        "coin": pa.Column(str),
        "frames": pa.Column("int64", pa.Check.ge(0)),
        "items": pa.Column("int64", pa.Check.ge(0)),
        "dead_letters": pa.Column("int64", pa.Check.ge(0)),
        "first_recv_ts_ms": pa.Column("Int64", nullable=True),
        "last_recv_ts_ms": pa.Column("Int64", nullable=True),
        "source": pa.Column(str),
        "sha256": pa.Column(str, pa.Check.str_matches(r"^[0-9a-f]{64}$")),
    },
    strict=True,
    ordered=True,
    coerce=False,
    name="raw_feed",
)


def _span(df: pd.DataFrame, coin: str) -> tuple[int, int | None, int | None]:
    ts = df.loc[df["coin"] == coin, "recv_ts_ms"]
    return (len(ts), int(ts.min()), int(ts.max())) if len(ts) else (0, None, None)


def summarize_feed(feed: FeedDay) -> pd.DataFrame:
    """One row per (channel, coin) seen, accepted or refused, in a stable order."""
    dead = Counter((d.channel or "", d.coin or "") for d in feed.dead)
    tables = {"l2Book": feed.books.meta, "trades": feed.trades, "bbo": feed.bbo,
              "activeAssetCtx": feed.ctx, "candle": feed.candles}
    rows = []
    for channel, coin in sorted(set(feed.counts) | set(dead)):
        table = tables.get(channel)
        items, first, last = _span(table, coin) if table is not None else (0, None, None)
        rows.append({
            "day": feed.day, "channel": channel, "coin": coin,
            "frames": int(feed.counts.get((channel, coin), 0)), "items": items,
            "dead_letters": int(dead.get((channel, coin), 0)),
            "first_recv_ts_ms": first, "last_recv_ts_ms": last,
            "source": feed.source, "sha256": feed.sha256,
        })
    df = pd.DataFrame(rows, columns=list(RAW_FEED_SCHEMA.columns))
    return df.astype({"day": "str", "channel": "str", "coin": "str", "frames": "int64",
                      "items": "int64", "dead_letters": "int64", "first_recv_ts_ms": "Int64",
                      "last_recv_ts_ms": "Int64", "source": "str", "sha256": "str"})


CHANNEL_FEATURES = {
    "l2Book": "book features (spread, depth, book imbalance, microprice)",
    "trades": "trade features (flow, aggressor imbalance, trade count, sweeps)",
    "bbo": "top-of-book updates between book snapshots",
    "activeAssetCtx": "funding, open interest, basis and premium",
    "candle": "candle columns",
}
"""The channels a day's features are made of, and what is missing without each."""


def missing_channels(summary: pd.DataFrame) -> dict[str, list[str]]:
    """{coin: the `CHANNEL_FEATURES` channels it has no accepted frame of}, for the coins the
    day holds frames of that lack one (empty: nothing missing)."""
    held = summary[summary["frames"] > 0]
    out = {}
    for coin in sorted(set(held["coin"].astype(str)) - {""}):
        have = set(held.loc[held["coin"] == coin, "channel"])
        lacking = [c for c in CHANNEL_FEATURES if c not in have]
        if lacking:
            out[coin] = lacking
    return out


def missing_sentence(missing: dict[str, list[str]]) -> str:
    """One line per channel: which coins lack it and which features are missing for them."""
    by_channel: dict[str, list[str]] = {}
    for coin, channels in missing.items():
        for c in channels:
            by_channel.setdefault(c, []).append(coin)
    return "; ".join(f"no {c} channel for {', '.join(coins)}: {CHANNEL_FEATURES[c]} missing"
                     for c, coins in by_channel.items())
