"""`lotus_core.forked.forked_map`: each item in its own forked child, results in order, at
most `workers` at once; a failure or a dead child names its item; inline below 2 workers."""

from __future__ import annotations

import os

import pytest

from lotus_core.forked import ForkedItemError, forked_map

BUILT_BEFORE_FORK = {"table": list(range(1_000))}  # a child reads what the parent built


def _square_and_pid(i: int) -> tuple[int, int, int]:
    return i * i, os.getpid(), sum(BUILT_BEFORE_FORK["table"])


def test_each_item_runs_in_its_own_child_in_order():
    out = list(forked_map(_square_and_pid, range(7), workers=2))
    assert [o[0] for o in out] == [i * i for i in range(7)]
    pids = {o[1] for o in out}
    assert len(pids) == 7 and os.getpid() not in pids  # a fresh process each
    assert {o[2] for o in out} == {sum(range(1_000))}


def test_below_two_workers_it_runs_inline():
    out = list(forked_map(_square_and_pid, range(3), workers=1))
    assert {o[1] for o in out} == {os.getpid()}


def _fails_on_three(i: int) -> int:
    if i == 3:
        raise ValueError("three is refused")
    return i


def test_a_failing_item_is_named_with_its_cause():
    with pytest.raises(ForkedItemError, match="item 3 failed.*three is refused"):
        list(forked_map(_fails_on_three, range(6), workers=2))


def _dies_on_two(i: int) -> int:
    if i == 2:
        os._exit(9)  # killed, out of memory: no result
    return i


def test_a_child_that_dies_is_named_with_its_exit_code():
    with pytest.raises(ForkedItemError, match=r"item 2: its process died.*exit code 9"):
        list(forked_map(_dies_on_two, range(5), workers=2))
