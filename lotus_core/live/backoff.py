"""Reconnect delays: exponential with seeded jitter, unlimited attempts."""

from __future__ import annotations

import random


class Backoff:
    """250 ms, x2, capped at 5 s by default; each delay is drawn in [base/2, base] ("equal
    jitter") from a seeded generator, so a test sees the same delays every run and a fleet
    of clients does not reconnect in lockstep. `reset()` after a connection that worked."""

    def __init__(self, initial_ms: int = 250, factor: float = 2.0, cap_ms: int = 5000,
                 seed: int = 0) -> None:
        self.initial_ms, self.factor, self.cap_ms = initial_ms, factor, cap_ms
        self._rng = random.Random(seed)
        self.attempt = 0

    def base_ms(self) -> float:
        return min(float(self.cap_ms), self.initial_ms * self.factor ** self.attempt)

    def next_s(self) -> float:
        base = self.base_ms()
        self.attempt += 1
        return (base / 2 + self._rng.random() * base / 2) / 1000.0

    def reset(self) -> None:
        self.attempt = 0
