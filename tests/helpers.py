"""Small helpers shared by tests: write recordings in the contract's format."""

from __future__ import annotations

import gzip
import json
import os
import signal
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lotus_core.feed.chunks import extract_chunk as _real_extract_chunk  # before any patch

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


def extract_or_die_in_worker(first_line: int, lines: list[bytes]):  # noqa: ANN201
    """`extract_chunk`, except that a worker process (not the test's own process, named by
    LOTUS_TEST_PARENT_PID) is SIGKILLed on its second chunk: a lost worker, for real."""
    if os.getpid() != int(os.environ["LOTUS_TEST_PARENT_PID"]) and first_line > 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return _real_extract_chunk(first_line, lines)


def small_day(src: Path, out: Path, minutes: float) -> Path:
    """The first `minutes` (by receive time) of a recording, as a new recording."""
    import orjson

    lines = gzip.decompress(Path(src).read_bytes()).splitlines(keepends=True)
    t0 = orjson.loads(lines[0])["recv_ts_ms"]
    keep = [x for x in lines if orjson.loads(x)["recv_ts_ms"] < t0 + minutes * 60_000]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(b"".join(keep), mtime=0))
    return out


def wait_for(pred, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll `pred` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def asset_metadata(result, key: str) -> dict:  # noqa: ANN001
    """The metadata values of `key`'s materialisation in a run's result, found by asset key
    (a multi-asset's node is named after the op, not after each asset it makes)."""
    (event,) = [e for e in result.get_asset_materialization_events()
                if e.asset_key.to_user_string() == key]
    return {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}


@contextmanager
def dagster_instance_at(home: Path) -> Iterator[Any]:
    """A real Dagster instance (SQLite run and event storage) in `home`, on the project's
    event log (`lotus_resources.event_log`), as the embedded default runs it."""
    import dagster as dg

    from lotus_resources.event_log import instance_overrides

    home.mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=str(home), overrides=instance_overrides(home)) as instance:
        yield instance


@dataclass
class BuiltDays:
    """Days materialised once for a module's tests: the settings and Dagster instance they
    ran with and each run's result by name."""

    settings: Any
    instance: Any
    runs: dict[str, Any]
