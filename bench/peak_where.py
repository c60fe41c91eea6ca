"""Where a process's memory peaks: a thread samples its RSS and the main thread's stack, and
reports, for each Lotus function seen on the stack, the highest RSS sampled while it was
there (a diagnostic for issue 32's per-step memory; `bench.step_alone --where`).

Sampling, not accounting: a peak shorter than the interval can be missed, and the RSS is
the process's (every thread's), attributed to what the main thread was doing.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from types import FrameType

from bench.proc import status_mb

_OURS = ("lotus_core", "lotus_assets", "lotus_resources")


def _ours(frame: FrameType | None) -> list[str]:
    """The Lotus functions on a stack, outermost first, as `module.function:line`."""
    out = []
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        parts = path.with_suffix("").parts
        for i, p in enumerate(parts):
            if p in _OURS:
                out.append(".".join(parts[i + 1:]) + f".{frame.f_code.co_name}:{frame.f_lineno}")
                break
        frame = frame.f_back
    return out[::-1]


class PeakWhere:
    """`with PeakWhere() as w: ...` then `w.report()`: the highest RSS (MB) seen under each
    Lotus function, how much the high-water mark rose while each was on the stack (the
    heap rarely shrinks, so this says who grew it), and the stack at the highest sample."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.main = threading.main_thread().ident
        self.under: dict[str, int] = {}
        self.grew: dict[str, int] = {}  # MB the high-water mark rose while it was on the stack
        self.peak = 0
        self.peak_stack: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakWhere:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            rss = status_mb("VmRSS")
            stack = _ours(sys._current_frames().get(self.main))
            for name in {s.rsplit(":", 1)[0] for s in stack}:
                if rss > self.under.get(name, 0):
                    self.under[name] = rss
            if rss > self.peak:
                if self.peak:
                    for name in {s.rsplit(":", 1)[0] for s in stack}:
                        self.grew[name] = self.grew.get(name, 0) + rss - self.peak
                self.peak, self.peak_stack = rss, stack

    def report(self, top: int = 40) -> str:
        rows = sorted(self.under.items(), key=lambda kv: -kv[1])[:top]
        lines = [f"peak sampled {self.peak} MB at:", *("  " + s for s in self.peak_stack),
                 "highest RSS under each function (MB):"]
        lines += [f"  {mb:6d}  {name}" for name, mb in rows]
        lines.append("MB the high-water mark rose while each function was on the stack:")
        lines += [f"  {mb:6d}  {name}" for name, mb in
                  sorted(self.grew.items(), key=lambda kv: -kv[1])[:top]]
        return "\n".join(lines)
