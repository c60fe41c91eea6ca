"""What an inbox sensor asks for on each tick: the rows to handle and its next cursor.

    cursor = InboxCursor.parse(context.cursor)
    scan = scan_inbox(fabric, "sig", cursor, intents=handled_intents("sig"))
    # one run per scan.requests item (run_key = item.run_key), then store scan.cursor.dumps()

The cursor is the last inbox seq the sensor has seen. Three queries per tick:

1. rows after the cursor, in seq order (every status and intent, so the cursor can move
   past rows that need nothing); the pending ones with a handler are requested with
   run_key = event_id.
2. gaps: PostgreSQL hands out seqs at insert and shows rows at commit, so seq 7 can appear
   after the cursor passed 8 (a writer that does not take the inbox lock, as the router
   does). Missing seqs below the cursor are remembered as gaps for `gap_ttl_sec` and looked
   at again each tick. Most gaps are never filled (a rolled-back insert or an
   ON CONFLICT skip also uses up a seq); they are forgotten when they expire.
3. retries: pending rows below the cursor whose handler failed and whose backoff is over,
   requested with run_key = "<event_id>#<attempts>" (one run per attempt, never two).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lotus_core.fabric.codec import ts_in
from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.names import PENDING, check_module, inbox_table

_COLS = "seq, event_id, intent, status, attempts"


@dataclass
class InboxCursor:
    """`seq`: the highest inbox seq seen. `gaps`: [lo, hi, first_seen_unix_s] seq ranges
    below it that were missing when the cursor moved past them."""

    seq: int = 0
    gaps: list[list[float]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> InboxCursor:
        """A cursor from its stored form ('' / None: from the start; a bare int accepted)."""
        if not text:
            return cls()
        text = text.strip()
        if text.isdigit():
            return cls(int(text))
        body = json.loads(text)
        return cls(int(body["seq"]), [[int(g[0]), int(g[1]), float(g[2])] for g in body["gaps"]])

    def dumps(self) -> str:
        return json.dumps({"seq": self.seq, "gaps": [[int(a), int(b), round(t, 3)]
                                                     for a, b, t in self.gaps]},
                          separators=(",", ":"))


@dataclass(frozen=True)
class InboxRequest:
    """One run to start: handle inbox row `seq` (run_key never repeats for the same work)."""

    module: str
    seq: int
    event_id: str
    intent: str
    attempts: int
    run_key: str


@dataclass(frozen=True)
class InboxScan:
    requests: list[InboxRequest]
    cursor: InboxCursor
    seen: int  # rows after the old cursor that were read
    gap_rows: int  # rows found in remembered gaps


def _request(module: str, r: dict, retry: bool) -> InboxRequest:
    attempts = int(r["attempts"])
    key = f"{r['event_id']}#{attempts}" if retry else r["event_id"]
    return InboxRequest(module, int(r["seq"]), r["event_id"], r["intent"], attempts, key)


def _remove(gaps: list[list[float]], seqs: Iterable[int]) -> list[list[float]]:
    out = [list(g) for g in gaps]
    for s in seqs:
        nxt = []
        for lo, hi, t in out:
            if lo <= s <= hi:
                if lo <= s - 1:
                    nxt.append([lo, s - 1, t])
                if s + 1 <= hi:
                    nxt.append([s + 1, hi, t])
            else:
                nxt.append([lo, hi, t])
        out = nxt
    return out


def scan_inbox(
    db: Db,
    module: str,
    cursor: InboxCursor,
    *,
    intents: Sequence[str],
    limit: int = 100,
    gap_ttl_sec: float = 300.0,
    max_gaps: int = 64,
    now: float | None = None,
) -> InboxScan:
    """The runs to request for `module`'s inbox and the cursor after them (see module doc).

    At most `limit` rows are requested; a busy inbox is worked through over several ticks.
    """
    check_module(module)
    table = inbox_table(module)
    now_s = time.time() if now is None else now
    handled = set(intents)
    gaps = [g for g in cursor.gaps if now_s - g[2] < gap_ttl_sec]
    requests: list[InboxRequest] = []
    picked: set[int] = set()

    def want(r: dict) -> bool:
        return r["status"] == PENDING and r["intent"] in handled and int(r["seq"]) not in picked

    with in_tx(db) as tx:
        gap_rows: list[dict] = []
        if gaps:
            ranges = " OR ".join("seq BETWEEN ? AND ?" for _ in gaps)
            params = [int(x) for lo, hi, _ in gaps for x in (lo, hi)]
            gap_rows = tx.query(f"SELECT {_COLS} FROM {table} WHERE {ranges} ORDER BY seq",
                                params)
            gaps = _remove(gaps, (int(r["seq"]) for r in gap_rows))
            for r in gap_rows:
                if want(r) and len(requests) < limit:
                    requests.append(_request(module, r, retry=int(r["attempts"]) > 0))
                    picked.add(int(r["seq"]))
        room = max(limit - len(requests), 0)
        new_rows = tx.query(f"SELECT {_COLS} FROM {table} WHERE seq > ? ORDER BY seq LIMIT ?",
                            (cursor.seq, max(room, 1))) if room else []
        seq = cursor.seq
        for r in new_rows:
            s = int(r["seq"])
            if s > seq + 1:
                gaps.append([seq + 1, s - 1, now_s])
            seq = s
            if want(r) and int(r["attempts"]) == 0:
                requests.append(_request(module, r, retry=False))
                picked.add(s)
        room = limit - len(requests)
        if room > 0 and handled:
            marks = ", ".join("?" for _ in handled)
            retry_rows = tx.query(
                f"SELECT {_COLS} FROM {table} WHERE status = ? AND attempts > 0 AND seq <= ?"
                f" AND next_attempt_at <= ? AND intent IN ({marks}) ORDER BY seq LIMIT ?",
                (PENDING, seq, ts_in(tx.dialect, datetime.fromtimestamp(now_s, UTC)),
                 *sorted(handled), room),
            )
            requests.extend(_request(module, r, retry=True) for r in retry_rows if want(r))
    gaps = gaps[-max_gaps:]
    return InboxScan(requests, InboxCursor(seq, gaps), len(new_rows), len(gap_rows))
