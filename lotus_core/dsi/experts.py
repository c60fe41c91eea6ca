"""What every micro-expert is: a fit on earlier days, then (f, z, conf) per frame of one coin.

Rule experts (grammar, divergence) learn nothing but their reliability; learned experts
(anomaly, sequence) fit a scikit-learn model on earlier days only. `history_outputs` gives
each expert's out-of-sample outputs on the history days, which is what its Beta reliability
is counted on (see reliability.py).
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lotus_core.dsi.expert_spec import ExpertSpec, LabelParams
from lotus_core.dsi.features import coin_features
from lotus_core.dsi.grammar import Grammar, compile_grammar, run_grammar


@dataclass(frozen=True)
class ExpertOutput:
    """Per frame: flag f (int8), evidence z (float64), confidence conf (float64 in [0, 1]) and
    the direction the expert reads (+1/-1, 0 undirected or silent)."""

    f: np.ndarray
    z: np.ndarray
    conf: np.ndarray
    direction: np.ndarray

    @staticmethod
    def silent(n: int) -> ExpertOutput:
        """The fallback: flag nothing, z = 0, conf = 0."""
        return ExpertOutput(np.zeros(n, np.int8), np.zeros(n), np.zeros(n), np.zeros(n, np.int8))

    @staticmethod
    def concat(parts: Sequence[ExpertOutput]) -> ExpertOutput:
        if not parts:
            return ExpertOutput.silent(0)
        return ExpertOutput(*(np.concatenate([getattr(p, k) for p in parts])
                              for k in ("f", "z", "conf", "direction")))


@dataclass
class CoinFrames:
    """One coin's frames of one day (sorted by ts_ms), with its features built once."""

    frames: pd.DataFrame
    label: LabelParams
    _features: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def features(self) -> pd.DataFrame:
        if self._features is None:
            self._features = coin_features(self.frames, self.label)
        return self._features

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class Day:
    """One history day: its frames, per-coin views, and the mechanical label (y, forward
    move) per frame."""

    key: str
    frames: pd.DataFrame
    coins: list[CoinFrames]
    y: np.ndarray
    move: np.ndarray


class Expert(ABC):
    """Base: a stateless expert whose history outputs are its plain outputs on each day."""

    learned = False  # fits a model on earlier days
    uses_features = False  # reads CoinFrames.features (built once per coin, timed apart)

    def __init__(self, spec: ExpertSpec, seed: int, z_cap: float) -> None:
        self.spec = spec
        self.seed = seed
        self.z_cap = z_cap
        self.reliability = spec.prior_alpha / (spec.prior_alpha + spec.prior_beta)
        self.fitted = False  # learned experts: a model exists (else the documented fallback)
        self.fit_rows = 0

    def fit(self, days: Sequence[Day]) -> None:  # noqa: B027 - a deliberate no-op default
        """Learn from earlier days only; rule experts have nothing to learn."""

    def history_outputs(self, days: Sequence[Day]) -> list[tuple[int, ExpertOutput]]:
        """Out-of-sample outputs on history days, as (index into days, output)."""
        return [(i, ExpertOutput.concat([self.run(c) for c in d.coins]))
                for i, d in enumerate(days)]

    @abstractmethod
    def run(self, coin: CoinFrames) -> ExpertOutput:
        """Per-frame (f, z, conf) on one coin's frames, causally."""

    def rng(self) -> np.random.Generator:
        """A generator seeded by the registry seed and this expert's id: reproducible."""
        return np.random.default_rng([self.seed, zlib.crc32(self.spec.id.encode())])


class GrammarExpert(Expert):
    """A compiled grammar; z = f, conf = reliability while flagged (0 otherwise)."""

    def __init__(self, spec: ExpertSpec, seed: int, z_cap: float) -> None:
        super().__init__(spec, seed, z_cap)
        self.grammar: Grammar = compile_grammar(spec.spec, f"{spec.id}.spec")

    def run(self, coin: CoinFrames) -> ExpertOutput:
        f, d = run_grammar(self.grammar, coin.frames)
        return ExpertOutput(f, f.astype("float64"), f * self.reliability, d)
