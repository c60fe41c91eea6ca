"""Small helpers shared by tests: write recordings in the contract's format."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

DATA = Path(__file__).parent / "data"
REAL_RECORDING = DATA / "real" / "2025-01-26.jsonl.gz"
CONTRACT_FRAMES = DATA / "contract_frames.jsonl"


def day_of(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def write_recording(path: Path, lines: Iterable[str | bytes | dict]) -> Path:
    """Write raw lines (str/bytes verbatim, dicts as JSON) into a gzip JSONL recording."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line, separators=(",", ":"))
            if isinstance(line, str):
                line = line.encode()
            f.write(line + b"\n")
    return path


def record(recv_ts_ms: int, msg: object) -> dict:
    return {"recv_ts_ms": recv_ts_ms, "msg": msg}
