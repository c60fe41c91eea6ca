"""The `feed:` and `live:` sections of lotus.yaml (validated here, loaded by lotus_core.config).

`feed.url` defaults to Hyperliquid mainnet (wss://api.hyperliquid.xyz/ws); point it at
`lotus replay-server` (ws://127.0.0.1:8765) to replay recordings through the same client.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from lotus_core.coin_list import default_coins
from lotus_core.strict import StrictModel
from lotus_core.venues.hyperliquid.endpoints import MAINNET_URL

Channel = Literal["l2Book", "l2BookFast", "trades", "bbo", "activeAssetCtx", "candle"]
CHANNELS: tuple[Channel, ...] = ("l2Book", "l2BookFast", "trades", "bbo", "activeAssetCtx",
                                 "candle")




class FeedSettings(StrictModel):
    """The websocket client and the raw recording.

    channels: l2Book (slow, 20 levels), l2BookFast (5 levels, `fast: true`), trades, bbo,
      activeAssetCtx, candle (interval `candle_interval`).
    stale_after_s: per subscription type, seconds without a frame (or, for books, without
      the venue `time` advancing) after which the coin is stale; 0 = never (streams that
      are silent on a quiet market: trades, bbo, candle).
    clock: `wall` stamps frames with the receipt time; `replay` subscribes to the replay
      server's replayClock and stamps frames with the recording's time (replays only).
    compress_level: the recording's gzip level (zlib-ng, lotus_core.live.recorder). 3 by
      default: with zlib, level 6 cost 2.5x the CPU of level 3 for a file 23 % smaller
      (bench.live's 24 h day: 8.6 s vs 3.5 s of deflate, 58 vs 76 MB); zlib-ng's level 3
      takes 40 % less CPU than zlib's for a file 7 % smaller; the nightly chain reads any.
    coin_shards: the nightly `raw_feed` and `microtape_frames` take the recording this many
      coin groups at a time (1: the whole day at once; 0: one coin at a time, however many
      coins the day has); outputs are the same bytes, a step's memory is one group's
      (lotus_core.feed.shards, docs/scale.md; 0 keeps it flat in the coins).
    """

    # Hyperliquid mainnet; testnet: wss://api.hyperliquid-testnet.xyz/ws; a replay:
    # ws://127.0.0.1:8765 (`lotus replay-server`)
    url: str = MAINNET_URL
    # the coins recorded (default: the coin list)
    coins: list[str] = Field(default_factory=lambda: list(default_coins()), min_length=1)
    channels: list[Channel] = Field(default_factory=lambda: list(CHANNELS))
    candle_interval: str = "1m"
    # {"method":"ping"} this often; reconnect if no pong within pong_timeout_s
    ping_interval_s: float = Field(30.0, gt=0)
    pong_timeout_s: float = Field(10.0, gt=0)
    # reconnect backoff: 250 ms x2 up to 5 s, with seeded jitter
    backoff_initial_ms: int = Field(250, ge=1)
    backoff_factor: float = Field(2.0, ge=1)
    backoff_cap_ms: int = Field(5000, ge=1)
    backoff_seed: int = 0
    stale_after_s: dict[str, float] = Field(default_factory=lambda: {
        "l2Book": 15.0, "l2BookFast": 5.0, "activeAssetCtx": 15.0, "trades": 0.0, "bbo": 0.0,
        "candle": 0.0})
    record: bool = True  # append every frame to <home>/feed/<YYYY-MM-DD>.jsonl.gz
    # one gzip member per flush (crash-safe up to the last flush)
    flush_interval_s: float = Field(1.0, gt=0, le=1.0)
    compress_level: int = Field(3, ge=1, le=9)
    clock: Literal["wall", "replay"] = "wall"
    coin_shards: int = Field(1, ge=0, le=256)

    @field_validator("url")
    @classmethod
    def _ws(cls, v: str) -> str:
        """A URL that cannot be a websocket endpoint is refused here, at start, naming it
        (else the feed loop would reconnect to it forever)."""
        return check_ws_url(v)


_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")  # DNS labels (and compose's `_`)


def check_ws_url(url: str) -> str:
    """`url` if it names a websocket endpoint (ws:// or wss://, a valid host, a port in
    1..65535 if one is given); ValueError naming the URL and what is wrong otherwise."""
    def bad(why: str) -> ValueError:
        return ValueError(f"feed url {url!r} is not a websocket endpoint: {why}")

    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in 0..65535
    except ValueError as exc:
        raise bad(str(exc)) from None
    if parts.scheme not in ("ws", "wss"):
        raise bad("it must start with ws:// or wss://")
    host = parts.hostname or ""
    if not host:
        raise bad("no host")
    if parts.netloc.endswith(":"):
        raise bad("no port after ':' (give one in 1..65535, or none for the default)")
    if port == 0:
        raise bad("port 0 (give one in 1..65535)")
    if not (_HOST.match(host) or _is_ip(host)):
        raise bad(f"malformed host {host!r}")
    return url


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class LiveSettings(StrictModel):
    """Live scoring and publication.

    score_process: run the score loop in a child process of the daemon (the feed loop and
      the scorer then use a core each); off: a thread, as the other loops.
    priors_poll_s: how often the active priors version is checked (reload within 1 s).
    publish: post ALPHA_PROPOSED envelopes for published windows (sig_outbox).
    queue_lines: recording lines the scorer's queue holds before the feed loop waits for
      it (backpressure: a max-speed replay runs at the scorer's pace in bounded memory; at
      live pace the queue is empty, and ~30,000 lines are ~15 minutes of a 3-coin feed;
      docs/live.md).
    """

    score_process: bool = True
    queue_lines: int = Field(30_000, ge=1)
    priors_poll_s: float = Field(0.5, gt=0, le=1.0)
    publish: bool = True
