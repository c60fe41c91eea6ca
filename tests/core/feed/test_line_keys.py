"""`line_keys` and `LineBlock`: the key is the same in every process (the feed loop keys a
batch, the score process keys the lines it reads back from the recording), equal lines get
equal keys, and a block gives back its lines."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np

from lotus_core.feed.lines import LineBlock, ended, line_keys

LINES = [b'{"recv_ts_ms":1,"msg":{"channel":"trades","data":[]}}\n',
         b'{"recv_ts_ms":1,"msg":{"channel":"trades","data":[]}}\n',
         b'{"recv_ts_ms":1,"msg":"Websocket connection established.\\r"}\n',
         b'{"recv_ts_ms":2,"msg":{"channel":"bbo"}}\n']


def test_equal_lines_get_equal_keys_and_different_lines_different_ones() -> None:
    keys = line_keys(LINES)
    assert keys.dtype == np.int64 and len(keys) == len(LINES)
    assert keys[0] == keys[1]
    assert len(set(keys.tolist())) == 3


def test_the_key_is_the_same_in_another_process() -> None:
    """Python's hash of bytes is salted per process; the line key must not be."""
    code = ("import sys; from lotus_core.feed.lines import line_keys; "
            f"print(line_keys({LINES!r}).tolist())")
    env_seeds = ("1", "2")
    got = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout
           for seed in env_seeds]
    assert got[0] == got[1] == f"{line_keys(LINES).tolist()}\n"


def test_a_block_gives_back_its_lines_and_crosses_a_pickle() -> None:
    block = LineBlock.of(LINES)
    assert len(block) == 4 and block.lines() == LINES
    assert block.data == b"".join(LINES)
    again = pickle.loads(pickle.dumps(block))  # the bytes cross, not the lines
    assert again.held is None and again.lines() == LINES and again.count == 4
    np.testing.assert_array_equal(again.keys, block.keys)
    rest = block.after(3)
    assert rest.lines() == LINES[3:] and rest.keys.tolist() == block.keys[3:].tolist()
    assert block.after(0) is block and len(block.after(4)) == 0


def test_ended_adds_the_missing_newline_only() -> None:
    assert ended([b"a\n", b"b"]) == [b"a\n", b"b\n"]
    same = [b"a\n"]
    assert ended(same) == same
