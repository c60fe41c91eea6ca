"""One way in for a chart, whichever door it came through (`lotus vis submit`, the Curator
API's `POST /charts`, the inbox sensor):

    res = accept_chart(fabric, home, data, coin="btc", at="2026-01-05T09:00Z", note="level",
                       source={"via": "api", "curator": "alice", "role": "data"})

The coin, time and note arrive as text and are checked here (`ChartRefused` with code
`bad_coin`, `bad_at` or `bad_note`) before the bytes are (`ingest.check_image`); then
`store.submit_chart` stores, reads and records the chart. A refusal stores nothing.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lotus_core.fabric.db import Db
from lotus_core.vis.ingest import ChartRefused
from lotus_core.vis.store import Submitted, submit_chart

COIN = re.compile(r"^[A-Z0-9]{2,10}$")
MAX_NOTE = 500


def parse_coin(text: str | None) -> str | None:
    """The coin in capitals (`btc` -> `BTC`), None when empty; 2-10 letters and digits."""
    if text is None or not text.strip():
        return None
    coin = text.strip().upper()
    if not COIN.match(coin):
        raise ChartRefused(f"coin {text!r} is not 2-10 letters and digits (BTC, ETH)", "bad_coin")
    return coin


def parse_at(text: str | datetime | None) -> datetime | None:
    """An ISO 8601 time (`2026-01-05T09:00Z`; UTC when it names no zone) as an aware
    datetime in UTC, None when empty."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, datetime):
        t = text
    else:
        try:
            t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ChartRefused(f"at {text!r} is not an ISO time (2026-01-05T09:00Z)",
                               "bad_at") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def parse_note(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    if len(text) > MAX_NOTE:
        raise ChartRefused(f"note is {len(text)} characters, over {MAX_NOTE}", "bad_note")
    return text.strip()


def chart_body(data: bytes) -> dict[str, Any]:
    """What a signed chart request (`POST /charts`) signs as its body: the bytes' hash and
    length, so the signature binds the image without carrying it."""
    return {"chart_hash": "sha256:" + hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def accept_chart(fabric: Db, home: Path, data: bytes, *, coin: str | None = None,
                 at: str | datetime | None = None, note: str | None = None,
                 source: dict[str, Any] | None = None) -> Submitted:
    """Check the coin, time and note, then check, store, read and record the chart
    (`store.submit_chart`); `ChartRefused` naming the reason, and nothing stored, if any
    of them is refused."""
    c, t, n = parse_coin(coin), parse_at(at), parse_note(note)
    return submit_chart(fabric, home, data, coin=c, at=t, note=n, source=source)
