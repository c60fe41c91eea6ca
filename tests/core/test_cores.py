"""`spare_workers`: a step splits over processes only where a core is idle."""

from __future__ import annotations

import os

import pytest

from lotus_core import cores


@pytest.mark.parametrize(("n_cores", "load", "expected"), [
    (2, 0.1, 2),   # a quiet 2-core machine: the step and one more process
    (2, 1.0, 2),   # the calling process alone loads one core: the other is idle
    (2, 1.7, 1),   # most of the second core is taken: inline
    (2, 3.8, 1),   # a test suite's three workers on two cores: inline
    (8, 2.0, 2),   # never more than the limit
    (1, 0.0, 1),   # one core: inline whatever the load
])
def test_the_idle_cores_decide(monkeypatch: pytest.MonkeyPatch, n_cores: int, load: float,
                               expected: int) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: n_cores)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert cores.spare_workers(2) == expected


def test_without_a_load_average_the_cores_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_load() -> tuple[float, float, float]:
        raise OSError("no load average here")

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", no_load)
    assert cores.spare_workers(2) == 2
    assert cores.spare_workers(8) == 4
