"""Where the live path keeps what it emitted: `<home>/live/<table>/date=<day>/part-*.parquet`.

Two tables, `live_microtape` (MicroTape rows) and `live_signal_events` (scored windows:
the signal_events columns plus `stale` and `posted`), written in parts (atomically: temp
file, then rename) so that a crash loses at most the rows not yet written, and a restarted
daemon knows what it already emitted. DuckDB reads them with
`read_parquet('<home>/live/live_signal_events/date=*/part-*.parquet', hive_partitioning=1)`
beside the nightly lake tables, which is how a researcher compares live with nightly.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

TABLES = ("live_microtape", "live_signal_events")


class LiveStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, table: str, day: str) -> Path:
        if table not in TABLES:
            raise ValueError(f"unknown live table {table!r}; known {TABLES}")
        return self.root / table / f"date={day}"

    def write_part(self, table: str, day: str, df: pd.DataFrame) -> Path | None:
        if len(df) == 0:
            return None
        folder = self.folder(table, day)
        folder.mkdir(parents=True, exist_ok=True)
        n = len(list(folder.glob("part-*.parquet")))
        path = folder / f"part-{n:06d}.parquet"
        while path.exists():
            n += 1
            path = folder / f"part-{n:06d}.parquet"
        tmp = path.with_suffix(".tmp")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return path

    def read(self, table: str, day: str) -> pd.DataFrame:
        parts = sorted(self.folder(table, day).glob("part-*.parquet"))
        if not parts:
            return pd.DataFrame()
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)

    def mark_done(self, day: str) -> None:
        """Every row and window of `day` is stored (its last step ran past midnight)."""
        folder = self.root / "_done"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / day).touch()

    def done(self, day: str) -> bool:
        return (self.root / "_done" / day).exists()

    def emitted(self, day: str) -> tuple[dict[str, int], set[str]]:
        """(last MicroTape ts per coin, window ids) already stored for `day`."""
        rows = self.read("live_microtape", day)
        last = ({str(k): int(v) for k, v in rows.groupby("coin", observed=True)["ts_ms"].max()
                 .items()} if len(rows) else {})
        wins = self.read("live_signal_events", day)
        return last, set(wins["window_id"]) if len(wins) else set()
