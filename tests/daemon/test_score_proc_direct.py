"""The feed loop's thread writes a batch straight to the score process's pipe when nothing
is queued ahead of it and the pipe has room; otherwise the batch waits in the hub's queue,
in order, so a stalled score process never blocks the publisher."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from lotus_core.config import load_settings
from lotus_core.feed.chunks import extract_chunk
from lotus_daemon.loops.score_proc import ScoreProcess, _message, _unpacked
from lotus_daemon.market import MarketEvent, MarketHub


def _batch(k: int, size: int) -> tuple:
    return ("2026-01-06", k, [b"x" * size], 0.0)


def _wired(tmp_path: Path) -> tuple[MarketHub, ScoreProcess, Any]:
    """A ScoreProcess whose pipe goes to `reader` (no child), wired as run() does."""
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, env={})
    hub = MarketHub()
    proc = ScoreProcess(settings, hub)
    reader, writer = mp.get_context("spawn").Pipe(duplex=False)
    proc._to_child, proc.sub.direct = writer, proc._direct
    return hub, proc, reader


def test_direct_writes_keep_order_and_never_block_on_a_full_pipe(tmp_path):
    hub, proc, reader = _wired(tmp_path)
    published = threading.Event()

    def publish() -> None:  # nobody reads the pipe: a stalled score process
        for k in range(40):
            hub.publish("batch", None, k, _batch(k, 8_000))
        published.set()

    threading.Thread(target=publish, daemon=True).start()
    assert published.wait(5), "the publisher blocked on a full pipe"
    direct = proc.direct_sent
    assert 0 < direct < 40  # some fit in the pipe; the rest wait in the hub's queue
    assert proc.sub.pending() == 40 - direct
    got = []
    while reader.poll(0):
        got += [msg[4][1] for msg in reader.recv()]
    queued = [ev.data[1] for ev in proc.sub.drain()]
    assert got + queued == list(range(40))  # in order, none lost
    hub.publish("batch", None, 40, _batch(40, 10))  # the queue is empty again: direct
    assert proc.direct_sent == direct + 1 and reader.recv()[0][4][1] == 40


def test_the_forwarder_holds_the_pipe_so_a_direct_write_cannot_overtake(tmp_path):
    hub, proc, reader = _wired(tmp_path)
    with proc._send_lock:  # the forwarding thread is mid-write
        t0 = time.monotonic()
        hub.publish("batch", None, 0, _batch(0, 10))
        assert time.monotonic() - t0 < 0.5
    assert proc.direct_sent == 0 and proc.sub.pending() == 1
    assert not reader.poll(0)


def test_a_replay_speed_batch_goes_by_the_queue(tmp_path):
    """A large batch is left to the forwarder rather than pickled here and maybe again."""
    hub, proc, reader = _wired(tmp_path)
    hub.publish("batch", None, 0, ("2026-01-06", 1, [b"x"] * 1_000, 0.0))
    assert proc.direct_sent == 0 and proc.sub.pending() == 1_000
    assert not reader.poll(0)


def test_a_batch_crosses_the_pipe_with_every_column_as_extracted():
    """The pipe's compact form of a chunk (dtype, shape, bytes per column) gives back the
    very arrays `extract_chunk` made: the same values, dtypes and shapes, and writable."""
    frames = (Path(__file__).parents[1] / "data" / "contract_frames.jsonl").read_bytes()
    lines = [b'{"recv_ts_ms":%d,"msg":%s}\n' % (1_767_657_600_000 + i, f) for i, f in
             enumerate(frames.splitlines())]
    chunk = extract_chunk(7, lines)
    assert {k for k, t in chunk.tables.items() if t and len(t["recv"])} >= {
        "books", "trades", "bbo"}
    data = ("2026-01-06", 7, lines, 1.5, chunk, 2.5)
    (msg,) = _message([MarketEvent("batch", None, 9, data, False)])
    got = _unpacked(msg[4])
    assert got[:4] == data[:4] and got[5] == 2.5
    back = got[4]
    assert (back.first_line, back.coins, back.intervals, back.dead) == (
        chunk.first_line, chunk.coins, chunk.intervals, chunk.dead)
    for a, b in [(chunk.recv, back.recv), (chunk.kind, back.kind)] + [
            (chunk.tables[t][c], back.tables[t][c]) for t in chunk.tables
            for c in chunk.tables[t]]:
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
        assert b.flags.writeable
    assert set(back.tables) == set(chunk.tables)
    other = ("stale", None, 3, {"coin": "BTC"}, True)
    assert _unpacked(other[3]) == other[3]  # only a batch's chunk is packed
