"""`lotus materialize`'s progress: a bar on a terminal, a line a run and a day elsewhere (a
log, CI, `make run` piped), so a long run is never silent."""

from __future__ import annotations

import contextlib
import time
from typing import Any, TextIO

import click


class Progress:
    """Told of each run (`run`) and each finished day (`day`)."""

    def __init__(self, days: int, out: TextIO, stack: contextlib.ExitStack,
                 terminal: bool | None = None) -> None:
        self.days, self.out, self.stack = days, out, stack
        self.terminal = out.isatty() if terminal is None else terminal
        self.bar: Any = None
        self.done = 0
        self.mark = self.day_start = time.monotonic()

    def start(self) -> None:
        self.mark = self.day_start = time.monotonic()
        if self.terminal:
            self.bar = self.stack.enter_context(click.progressbar(
                length=self.days, label="days", file=self.out, show_pos=True, show_eta=True))

    def run(self, day: str, phase: Any, key: str, result: Any) -> None:
        now = time.monotonic()
        if not self.terminal:
            what = "coin" if phase.by_coin else "daily"
            status = "ok" if result.success else "FAILED"
            click.echo(f"{day}  {what:<5} {key:<20} {len(phase.keys):>3} asset(s)  {status:<6}"
                       f" {now - self.mark:6.1f} s", file=self.out)
        self.mark = now

    def day(self, outcome: Any) -> None:
        self.done += 1
        now = time.monotonic()
        if self.bar is not None:
            self.bar.update(1)
        else:
            status = "ok" if outcome.success else "FAILED"
            click.echo(f"{outcome.day}  day {self.done}/{self.days} {status} in "
                       f"{now - self.day_start:.0f} s", file=self.out)
        if not outcome.success:
            click.echo(f"\n{outcome.day} FAILED: {outcome.error}", file=self.out)
        self.mark = self.day_start = now
