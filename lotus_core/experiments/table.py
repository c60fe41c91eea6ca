"""The `experiments` table: one row per replay, in the lake (one home), partitioned by the
replayed day, so `lake.connect()` sees it as a view beside the assets it was replayed from.

A row pins what is needed to run the replay again and to know whether it still applies:
the alternative (canonical JSON), each stage config's hash, each input partition's content
hash, the code commit, the seeds; and what it found (headline columns plus every metric as
JSON). Rows are appended under a file lock on a local lake (read, add, atomic replace); an
object-store lake has no lock, so two replays of one day must not record at the same time.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pandera.pandas as pa

from lotus_core.columns import STR, column

ASSET = "experiments"
UNKNOWN_COMMIT = "unknown"

EXPERIMENTS_SCHEMA = pa.DataFrameSchema(
    {
        "experiment_id": column(STR, pa.Check.str_length(min_value=1)),
        "created_ms": column(np.int64, pa.Check.gt(0)),
        "day": column(STR, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$")),
        "label": column(STR),
        "alternative": column(STR),
        "config_hash": column(STR),
        "configs": column(STR),
        "inputs_hash": column(STR),
        "inputs": column(STR),
        "commit": column(STR, pa.Check.str_length(min_value=1)),
        "seed": column(np.int64),
        "null_reproduced": column(bool),
        "published_base": column(np.int64),
        "published_alt": column(np.int64),
        "added": column(np.int64),
        "removed": column(np.int64),
        "delta_net_bps": column(np.float64),
        "delta_ci_lo": column(np.float64),
        "delta_ci_hi": column(np.float64),
        "metrics": column(STR),
        "seconds": column(np.float64, pa.Check.ge(0)),
    },
    strict=True, ordered=True,
)
COLUMNS = list(EXPERIMENTS_SCHEMA.columns)
_TEXT = ["experiment_id", "day", "label", "alternative", "config_hash", "configs",
         "inputs_hash", "inputs", "commit", "metrics"]


class LakeStore(Protocol):
    """What the table needs of a lake (`Lake` and `ObjectLake` both have it)."""

    def exists(self, asset: str, day: str) -> bool: ...

    def read(self, asset: str, day: str, columns: list[str] | None = None) -> pd.DataFrame: ...

    def write(self, asset: str, day: str, df: pd.DataFrame, validate: Any = None,
              metadata: dict[str, str] | None = None) -> Any: ...

    def days(self, asset: str) -> list[str]: ...


def empty_table() -> pd.DataFrame:
    return typed(pd.DataFrame({c: [] for c in COLUMNS}))


def typed(df: pd.DataFrame) -> pd.DataFrame:
    """The table's dtypes (text as "str", counts int64, figures float64, flags bool)."""
    out = df[COLUMNS].copy()
    for c in _TEXT:
        out[c] = out[c].astype(STR)
    for c in ("created_ms", "seed", "published_base", "published_alt", "added", "removed"):
        out[c] = out[c].astype(np.int64)
    for c in ("delta_net_bps", "delta_ci_lo", "delta_ci_hi", "seconds"):
        out[c] = out[c].astype(np.float64)
    out["null_reproduced"] = out["null_reproduced"].astype(bool)
    return EXPERIMENTS_SCHEMA.validate(out.reset_index(drop=True))


@contextmanager
def _locked(lake: LakeStore) -> Iterator[None]:
    root = getattr(lake, "root", None)
    if not isinstance(root, Path):  # an object store: no lock (see the module docstring)
        yield
        return
    (root / ASSET).mkdir(parents=True, exist_ok=True)
    with open(root / ASSET / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def record(lake: LakeStore, row: dict[str, Any]) -> pd.DataFrame:
    """Append one experiment row to its day's partition; the partition after the write."""
    missing = [c for c in COLUMNS if c not in row]
    if missing:
        raise ValueError(f"experiment row lacks {missing}")
    new = typed(pd.DataFrame([{c: row[c] for c in COLUMNS}]))
    day = str(row["day"])
    with _locked(lake):
        old = lake.read(ASSET, day) if lake.exists(ASSET, day) else None
        table = typed(pd.concat([old, new], ignore_index=True) if old is not None else new)
        lake.write(ASSET, day, table, validate=typed)
    return table


def list_experiments(lake: LakeStore, day: str | None = None) -> pd.DataFrame:
    """Every recorded experiment (or one day's), oldest first."""
    days = [day] if day is not None else lake.days(ASSET)
    parts = [lake.read(ASSET, d) for d in days if lake.exists(ASSET, d)]
    if not parts:
        return empty_table()
    return typed(pd.concat(parts, ignore_index=True)).sort_values(
        ["created_ms", "experiment_id"], kind="stable").reset_index(drop=True)


def metrics_of(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row's metrics JSON, parsed."""
    return [json.loads(m) for m in table["metrics"]]


def code_commit(where: Path | None = None) -> str:
    """The git commit of the code that ran (`<sha>+dirty` with uncommitted changes), or
    "unknown" outside a git checkout: an experiment names the code it measured."""
    cwd = where or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, timeout=30,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN_COMMIT
    return f"{sha}+dirty" if dirty else sha
