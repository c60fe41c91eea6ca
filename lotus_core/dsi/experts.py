"""What every micro-expert is: a fit on earlier days, then (f, z, conf) per frame of one coin,
on a whole coin-day (`run`) and at one row (`step`, written into the coin's DsiStream step).

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. `run` and `step` are two methods of one expert object, reading the
same parameters; tests/core/dsi/test_dsi.py checks DsiStream against `annotate`.

Rule experts (grammar, divergence) learn nothing but their reliability; learned experts
(anomaly, sequence) fit a scikit-learn model on earlier days only. `history_outputs` gives
each expert's out-of-sample outputs on the history days, which is what its Beta reliability
is counted on (see reliability.py).
"""

from __future__ import annotations

import math
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from lotus_core.dsi.expert_spec import ExpertSpec, LabelParams
from lotus_core.dsi.features import FEATURE_INPUTS, FeatureStep, coin_features
from lotus_core.dsi.grammar import Grammar, compile_grammar, grammar_flag, run_grammar
from lotus_core.dsi.windows import Inputs, Program


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


class Out(NamedTuple):
    """ExpertOutput at one row: the expert's (f, z, conf) as names (or literals) in the step,
    and what is known of them when the step is written: a rule expert's (z, conf) while
    flagged (both 0 otherwise), or bounds that make fusion's clips no-ops."""

    f: str
    z: str
    c: str
    rule: tuple[float, float] | None = None
    z_bound: float = math.inf  # |z| <= z_bound
    c_unit: bool = False  # 0 <= conf <= 1


SILENT = Out("0", "0.0", "0.0", rule=(0.0, 0.0))
"""ExpertOutput.silent at one row."""

RULE_Z = 1.0
"""A rule expert's z while flagged (0 otherwise); its conf is its reliability."""


def rule_output(f: np.ndarray, direction: np.ndarray, reliability: float) -> ExpertOutput:
    """A rule expert's output: z = RULE_Z * f, conf = reliability * f."""
    return ExpertOutput(f, f * RULE_Z, f * reliability, direction)


def rule_out(f: str, reliability: float) -> Out:
    """rule_output at one row."""
    return Out(f, "", "", rule=(RULE_Z, reliability))


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

    def reads(self) -> frozenset[str]:
        """The MicroTape columns `fit` and `run` read of a coin's frames (a step reads no
        others: `model.tape_columns`)."""
        return frozenset(FEATURE_INPUTS) if self.uses_features else frozenset()

    def history_outputs(self, days: Sequence[Day]) -> list[tuple[int, ExpertOutput]]:
        """Out-of-sample outputs on history days, as (index into days, output)."""
        return [(i, ExpertOutput.concat([self.run(c) for c in d.coins]))
                for i, d in enumerate(days)]

    @abstractmethod
    def run(self, coin: CoinFrames) -> ExpertOutput:
        """Per-frame (f, z, conf) on one coin's frames, causally."""

    def step(self, prog: Program, cols: Inputs, feats: FeatureStep) -> Out:
        """`run` at one row: write it into the coin's step; (f, z, conf) as names."""
        raise TypeError(f"DsiStream: no per-row form for expert {self.spec.id!r} "
                        f"({type(self).__name__})")

    def rng(self) -> np.random.Generator:
        """A generator seeded by the registry seed and this expert's id: reproducible."""
        return np.random.default_rng([self.seed, zlib.crc32(self.spec.id.encode())])


class GrammarExpert(Expert):
    """A compiled grammar; z = f, conf = reliability while flagged (0 otherwise)."""

    def __init__(self, spec: ExpertSpec, seed: int, z_cap: float) -> None:
        super().__init__(spec, seed, z_cap)
        self.grammar: Grammar = compile_grammar(spec.spec, f"{spec.id}.spec")

    def reads(self) -> frozenset[str]:
        return super().reads() | self.grammar.columns()

    def run(self, coin: CoinFrames) -> ExpertOutput:
        f, d = run_grammar(self.grammar, coin.frames)
        return rule_output(f, d, self.reliability)

    def step(self, prog: Program, cols: Inputs, feats: FeatureStep) -> Out:
        g = self.grammar
        return rule_out(grammar_flag(prog, g, {c: cols[c] for c in g.columns()}),
                        self.reliability)
