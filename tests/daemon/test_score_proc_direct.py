"""The feed loop's thread writes a batch straight to the score process's pipe when nothing
is queued ahead of it and the pipe has room; otherwise the batch waits in the hub's queue,
in order, so a stalled score process never blocks the publisher."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

from lotus_core.config import load_settings
from lotus_daemon.loops.score_proc import ScoreProcess
from lotus_daemon.market import MarketHub


def _batch(k: int, size: int) -> tuple:
    return ("2026-01-06", k, [b"x" * size], 0.0)


def test_direct_writes_keep_order_and_never_block_on_a_full_pipe(tmp_path):
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, env={})
    hub = MarketHub()
    proc = ScoreProcess(settings, hub)
    reader, writer = mp.get_context("spawn").Pipe(duplex=False)
    proc._to_child, proc.sub.direct = writer, proc._direct  # what run() sets up
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
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, env={})
    hub = MarketHub()
    proc = ScoreProcess(settings, hub)
    reader, writer = mp.get_context("spawn").Pipe(duplex=False)
    proc._to_child, proc.sub.direct = writer, proc._direct
    with proc._send_lock:  # the forwarding thread is mid-write
        t0 = time.monotonic()
        hub.publish("batch", None, 0, _batch(0, 10))
        assert time.monotonic() - t0 < 0.5
    assert proc.direct_sent == 0 and proc.sub.pending() == 1
    assert not reader.poll(0)


def test_a_replay_speed_batch_goes_by_the_queue(tmp_path):
    """A large batch is left to the forwarder rather than pickled here and maybe again."""
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, env={})
    hub = MarketHub()
    proc = ScoreProcess(settings, hub)
    reader, writer = mp.get_context("spawn").Pipe(duplex=False)
    proc._to_child, proc.sub.direct = writer, proc._direct
    hub.publish("batch", None, 0, ("2026-01-06", 1, [b"x"] * 1_000, 0.0))
    assert proc.direct_sent == 0 and proc.sub.pending() == 1_000
    assert not reader.poll(0)
