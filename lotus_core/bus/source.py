"""Published signals in the fabric's durable order: sig_outbox's ALPHA_PROPOSED rows by seq.

Every status is read (a row the router already delivered is still a published signal).
Order is safe on PostgreSQL too: `publish_alpha`, the one writer of ALPHA_PROPOSED, holds
the `sig_outbox:publish_alpha` lock until it commits, so these rows become visible in seq
order and a reader that advances past seq S never sees an older one appear later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lotus_core.bus.frames import DEAD_REASON, INTENT, MODULE, Frame, Rejected, signal_frame
from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.dead_letter import record_dead_letter
from lotus_core.fabric.queue import ROW_COLUMNS, BoxRow, to_box_row

_TABLE = f"{MODULE}_outbox"


def read_signal_rows(db: Db, after_seq: int, limit: int) -> list[BoxRow]:
    """ALPHA_PROPOSED rows of sig_outbox with seq > after_seq, oldest first, at most `limit`."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    with in_tx(db) as tx:
        rows = tx.query(
            f"SELECT {', '.join(ROW_COLUMNS)} FROM {_TABLE} WHERE seq > ? AND intent = ?"
            " ORDER BY seq LIMIT ?", (int(after_seq), INTENT, int(limit)))
    return [to_box_row(MODULE, "outbox", r) for r in rows]


def head_seq(db: Db) -> int:
    """The seq of the newest published signal (0 when none)."""
    with in_tx(db) as tx:
        return int(tx.scalar(f"SELECT COALESCE(MAX(seq), 0) FROM {_TABLE} WHERE intent = ?",
                             (INTENT,)) or 0)


@dataclass
class FrameReader:
    """Frames after a seq; each rejected row is recorded in dead_letter (once per reader,
    and idempotently in the table) with the path that failed."""

    db: Db
    rejected: dict[int, str] = field(default_factory=dict)  # seq -> detail

    def read(self, after_seq: int, limit: int = 500) -> tuple[list[Frame], int]:
        """(frames, last seq scanned): the caller's cursor moves to the last seq even when
        the last rows were rejected."""
        rows = read_signal_rows(self.db, after_seq, limit)
        frames: list[Frame] = []
        for row in rows:
            built = signal_frame(row)
            if isinstance(built, Rejected):
                self._dead(row, built)
            else:
                frames.append(built)
        return frames, (rows[-1].seq if rows else int(after_seq))

    def _dead(self, row: BoxRow, why: Rejected) -> None:
        if why.seq in self.rejected:
            return
        record_dead_letter(self.db, module=MODULE, reason=DEAD_REASON, envelope=row.envelope,
                           detail=f"sig_outbox seq {why.seq}: {why.detail}")
        self.rejected[why.seq] = why.detail
