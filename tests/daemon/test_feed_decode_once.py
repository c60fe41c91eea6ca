"""The feed loop decodes each frame once: the chunk it builds as frames arrive is the chunk
`raw_feed`'s `extract_chunk` gives for the lines it recorded, garbage included."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from lotus_core.config import load_settings
from lotus_core.feed.chunks import extract_chunk
from lotus_core.venues.hyperliquid.wire import split_record
from lotus_daemon.loops.feed import FeedLoop
from tests.core.feed.test_feed_parse import _faulty_copy

_ODD_FRAMES = [
    b"Websocket connection established.", b"not json {", b'{"coin":"\xff\xfeBTC"}',
    b'{"channel":"bbo",\n"data":{}}', b"[1,2]", b'"a string"', b"12", b"",
    b'{"channel":"trades","data":[]}', b'{"channel":"l2Book","data":{"coin":"BTC"}}',
    b'{"channel":"nope","data":{}}', b'{"channel":"pong"}', b'{"big":1e999}',
    b'{"n":123456789012345678901234567890}',
]


def _frames(tmp_path: Path) -> list[bytes]:
    src = Path(__file__).resolve().parents[2] / "fixtures" / "2026-01-02.jsonl.gz"
    path = _faulty_copy(src, tmp_path / "faulty.jsonl.gz")
    lines = gzip.decompress(path.read_bytes()).splitlines()[:20_000]
    frames = [rec[1].encode() for rec in map(split_record, lines) if rec is not None]
    return frames[:5_000] + _ODD_FRAMES + frames[5_000:]


def test_chunk_built_as_frames_arrive_is_the_extracted_chunk(tmp_path):
    settings = load_settings(overrides={"home": str(tmp_path)}, env={})
    cfg = settings.feed.model_copy(update={"record": False, "clock": "local"})
    loop = FeedLoop(cfg, url="ws://127.0.0.1:9")
    for raw in _frames(tmp_path):
        loop._on_frame(raw)
    got = loop._builder.finish()
    want = extract_chunk(loop._builder.first_line, loop._batch)
    assert len(loop._batch) > 15_000
    assert got.first_line == want.first_line
    np.testing.assert_array_equal(got.recv, want.recv)
    np.testing.assert_array_equal(got.kind, want.kind)
    assert (got.coins, got.intervals) == (want.coins, want.intervals)
    assert got.dead == want.dead and len(want.dead) >= 15
    assert got.tables.keys() == want.tables.keys()
    for name, table in want.tables.items():
        assert got.tables[name].keys() == table.keys()
        for col, values in table.items():
            np.testing.assert_array_equal(got.tables[name][col], values, err_msg=f"{name}.{col}")
