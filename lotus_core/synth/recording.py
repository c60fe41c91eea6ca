"""Writing the recording: merge coins in venue order, add receive latency, gzip it.

Receive times are venue time plus a small random latency, made monotone with a running
maximum (one websocket delivers in order). The gzip header carries mtime 0 and no file
name, and the compression level is fixed, so identical lines give identical bytes. The
file is written to a temporary name and renamed at the end, so a crash never leaves a
truncated day behind. Compression runs on a worker thread (zlib releases the GIL) while
the next hour is being encoded; writes stay strictly in order.
"""

from __future__ import annotations

import gzip
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import numpy as np

from lotus_core.synth.render import Rendered

COMPRESS_LEVEL = 6
LATENCY_FLOOR_MS = 15.0
LATENCY_MEDIAN_MS = 45.0
LATENCY_LOG_SD = 0.5
LATENCY_SPIKE_SHARE = 0.005
LATENCY_SPIKE_MS = (100.0, 600.0)
PING_EVERY_MS = 30_000


def merge(chunks: list[Rendered], extra_ms: np.ndarray, extra: list[bytes]
          ) -> tuple[np.ndarray, list[bytes]]:
    """All coins' messages (and e.g. pongs) in venue-time order, ties broken by coin/channel."""
    venue = np.concatenate([extra_ms.astype(np.int64)] + [c.venue_ms for c in chunks])
    coin_rank = np.concatenate([np.full(len(extra), -1, np.int64)]
                               + [np.full(len(c.payloads), i, np.int64)
                                  for i, c in enumerate(chunks)])
    rank = np.concatenate([np.zeros(len(extra), np.int64)] + [c.rank for c in chunks])
    payloads = list(extra)
    for c in chunks:
        payloads.extend(c.payloads)
    seq = np.arange(len(payloads))
    order = np.lexsort((seq, rank, coin_rank, venue))
    return venue[order], [payloads[i] for i in order.tolist()]


def latency_ms(rng: np.random.Generator, n: int) -> np.ndarray:
    """Network + processing delay per message: lognormal with rare spikes."""
    lat = LATENCY_FLOOR_MS + LATENCY_MEDIAN_MS * np.exp(LATENCY_LOG_SD * rng.standard_normal(n))
    spike = rng.random(n) < LATENCY_SPIKE_SHARE
    lat += np.where(spike, rng.uniform(*LATENCY_SPIKE_MS, size=n), 0.0)
    return np.rint(lat).astype(np.int64)


class FeedWriter:
    """A gzip JSONL recording being written; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        self._raw = open(self.tmp, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw,
                                 compresslevel=COMPRESS_LEVEL, mtime=0)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synth-gzip")
        self._pending: Future[int] | None = None
        self.last_recv_ms = 0
        self.lines = 0

    def _drain(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def write_at(self, recv_ms: list[int], payloads: list[bytes]) -> None:
        """Write messages with the given receive times (must be non-decreasing)."""
        if recv_ms and recv_ms[0] < self.last_recv_ms:
            raise ValueError("receive times must not go backwards")
        data = b"".join([b'{"recv_ts_ms":%d,"msg":%s}\n' % (t, p)
                         for t, p in zip(recv_ms, payloads, strict=True)])
        self._drain()
        self._pending = self._worker.submit(self._gz.write, data)
        if recv_ms:
            self.last_recv_ms = recv_ms[-1]
        self.lines += len(payloads)

    def write_delivered(self, rng: np.random.Generator, venue_ms: np.ndarray,
                        payloads: list[bytes], recv_limit_ms: int) -> None:
        """Write messages sent at `venue_ms`, received after a random latency, in order.

        Messages received at or after `recv_limit_ms` (the end of the UTC day) are dropped:
        a recorder writes them to the next day's file.
        """
        arrival = venue_ms + latency_ms(rng, len(payloads))
        recv = np.maximum.accumulate(np.maximum(arrival, self.last_recv_ms))
        keep = int(np.searchsorted(recv, recv_limit_ms))
        self.write_at(recv[:keep].tolist(), payloads[:keep])

    def close(self) -> None:
        try:
            self._drain()
        finally:
            self._worker.shutdown()
            self._gz.close()
            self._raw.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self._drain()
        except Exception:  # noqa: BLE001 - the original error is already propagating
            pass
        finally:
            self._worker.shutdown()
            self._gz.close()
            self._raw.close()
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> FeedWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
