"""Work items each run in a fresh forked child process, results in order.

Why a fresh process an item: a long step that builds and drops one large structure after
another in one process (a coin group's live engine, then the next) leaves the allocators'
arenas and free pages behind, so its memory rises with the number of items even though each
is freed (docs/scale.md). A child that exits hands every page back. Fork, as the
parse's workers: the child inherits what the parent loaded and built (no pickling of the
work, only of the result); it resets the inherited signal handlers (`init_worker`).

At most `workers` children run at once (a core each). In a daemonic process (a celery
prefork pool's child), which may not start processes, every item runs inline, in order.
A child that dies without a result (killed, out of memory) fails the call, naming its item.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from lotus_core.feed.extract import init_worker

_T = TypeVar("_T")
_I = TypeVar("_I")


class ForkedItemError(RuntimeError):
    """A forked child failed or died; the message names the item and the cause."""


def can_fork() -> bool:
    """False in a daemonic process, which may not start children of its own."""
    return not mp.current_process().daemon


def forked_map(run: Callable[[_I], _T], items: Sequence[_I], workers: int) -> Iterator[_T]:
    """`run(item)` for each item, each in its own forked child (at most `workers` at once),
    yielded in the items' order; inline when `workers` < 2 or the process cannot fork."""
    if workers < 2 or not can_fork():
        yield from (run(item) for item in items)
        return
    ctx = mp.get_context("fork")
    pending: deque[tuple[_I, BaseProcess, Connection]] = deque()
    try:
        for item in items:
            recv, send = ctx.Pipe(duplex=False)
            child = ctx.Process(target=_child, args=(run, item, send), daemon=True)
            child.start()
            send.close()
            pending.append((item, child, recv))
            if len(pending) >= workers:
                yield _result(*pending.popleft())
        while pending:
            yield _result(*pending.popleft())
    finally:
        for _, proc, recv in pending:  # a failure or an early stop: no orphan left running
            proc.terminate()
            proc.join()
            recv.close()


def _child(run: Callable[[_I], _T], item: _I, send: Connection) -> None:
    init_worker()
    try:
        send.send(("ok", run(item)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        send.send(("error", f"{exc!r}\n{traceback.format_exc()}"))
    finally:
        send.close()


def _result(item: object, child: BaseProcess, recv: Connection) -> Any:
    try:
        status, value = recv.recv()
    except EOFError:
        child.join()
        raise ForkedItemError(f"item {item!r}: its process died without a result "
                              f"(exit code {child.exitcode})") from None
    finally:
        recv.close()
    child.join()
    if status != "ok":
        raise ForkedItemError(f"item {item!r} failed in its process: {value}")
    return value
