"""The DSI credit game: a coalition of experts is valued by replaying the stored days with
only those experts fused into mx_evidence / mx_confirm.

The experts are fitted once per day on the days before it (`fit_dsi`, the full registry)
and run once (`annotate`); a coalition's annotations are `fuse` of its members' outputs
and weights, in the model's order. That is exactly the knock-out replay's DSI (a refit with
the others inactive): each expert's fit, reliability and weight depend on its own history
and the base rate only (tests/core/credit check the two agree). The day is then scored by
`replay_day` (score_day) and valued by

    det_sigma|<scope>   mean det_sigma of the scope's windows   (scopes: all, coins, det:<id>)
    net_bps|<scope>     realised net bps of the scope's published windows (all, coins)

with outcomes measured once per window (`realised`, signal_eval's definition).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lotus_core.dsi import annotate, fit_dsi
from lotus_core.dsi.experts import ExpertOutput
from lotus_core.dsi.fusion import fuse
from lotus_core.dsi.model import DsiModel
from lotus_core.evaluation import DEFAULT_FEE_BPS
from lotus_core.experiments import DayInputs, StageConfig, outcome_tape, realised, replay_day
from lotus_core.signals.priors import ActivePriors

OUTCOME_COLUMNS = ["window_id", "ts_ms", "coin", "detector_id", "horizon_s", "direction"]


@dataclass(frozen=True)
class DayGame:
    """One day ready to be valued for any coalition."""

    inputs: DayInputs
    cfg: StageConfig
    priors: ActivePriors
    model: DsiModel
    outputs: dict[str, ExpertOutput]
    window_ids: np.ndarray
    coins: np.ndarray
    detectors: np.ndarray
    net_bps: np.ndarray  # per window, 0 unless its outcome is done


def prepare_day(inputs: DayInputs, cfg: StageConfig, priors: ActivePriors,
                fee_bps: float = DEFAULT_FEE_BPS) -> DayGame:
    """Fit and run the experts once; measure every window's outcome once."""
    if inputs.dsi_history is None:
        raise ValueError(f"credit on {inputs.day}: load the day with its DSI history "
                         "(load_day(..., with_dsi_history=True))")
    model = fit_dsi(inputs.dsi_history if len(inputs.dsi_history) else None,
                    registry=cfg.registry)
    result = annotate(inputs.frames, model)
    ev = replay_day(inputs, cfg, priors, refit_dsi=False, dsi=result.annotations).events
    out = realised(ev[OUTCOME_COLUMNS], outcome_tape(inputs), fee_bps)
    done = (out["status"] == "done").to_numpy()
    net = np.where(done, np.nan_to_num(out["net_ret_bps"].to_numpy(dtype=np.float64)), 0.0)
    return DayGame(inputs=inputs, cfg=cfg, priors=priors, model=model, outputs=result.outputs,
                   window_ids=ev["window_id"].astype(str).to_numpy(),
                   coins=ev["coin"].astype(str).to_numpy(),
                   detectors=ev["detector_id"].astype(str).to_numpy(), net_bps=net)


def coalition_annotations(game: DayGame, coalition: frozenset[str]) -> pd.DataFrame:
    """dsi_annotations' fused columns with only `coalition`'s experts."""
    states = [s for s in game.model.experts if s.id in coalition]
    frames = game.inputs.frames
    _, evidence, confirm = fuse([game.outputs[s.id] for s in states], [s.weight for s in states],
                                game.model.base_rate, game.model.registry.fusion, len(frames))
    return pd.DataFrame({"coin": frames["coin"].to_numpy(), "ts_ms": frames["ts_ms"].to_numpy(),
                         "mx_evidence": evidence, "mx_confirm": confirm})


def metric_names(games: Sequence[DayGame]) -> list[str]:
    """The value vector's names, in order."""
    coins = sorted({c for g in games for c in g.coins})
    dets = sorted({d for g in games for d in g.detectors})
    scopes = ["all", *coins]
    return ([f"det_sigma|{s}" for s in [*scopes, *(f"det:{d}" for d in dets)]]
            + [f"net_bps|{s}" for s in scopes])


class CreditGame:
    """value(coalition) over the days: the metric vector of `metric_names`."""

    def __init__(self, games: Sequence[DayGame], always: frozenset[str]) -> None:
        self.games = list(games)
        self.always = always
        self.names = metric_names(self.games)
        self.calls = 0

    def __call__(self, coalition: frozenset[str]) -> np.ndarray:
        self.calls += 1
        sums: dict[str, float] = {}
        counts: dict[str, float] = {}
        for g in self.games:
            ann = coalition_annotations(g, coalition | self.always)
            ev = replay_day(g.inputs, g.cfg, g.priors, refit_dsi=False, dsi=ann).events
            if not np.array_equal(ev["window_id"].astype(str).to_numpy(), g.window_ids):
                raise ValueError(f"credit on {g.inputs.day}: the DSI changed the windows")
            sigma = ev["det_sigma"].to_numpy(dtype=np.float64)
            pub = ev["published"].to_numpy(dtype=bool)
            for scope, mask in self._scopes(g):
                _add(sums, counts, f"det_sigma|{scope}", float(sigma[mask].sum()),
                     float(mask.sum()))
                if not scope.startswith("det:"):
                    _add(sums, counts, f"net_bps|{scope}", float(g.net_bps[mask & pub].sum()),
                         1.0)
        out = np.zeros(len(self.names))
        for i, name in enumerate(self.names):
            n = counts.get(name, 0.0)
            if name.startswith("det_sigma|"):
                out[i] = sums.get(name, 0.0) / n if n else 0.0
            else:
                out[i] = sums.get(name, 0.0)
        return out

    @staticmethod
    def _scopes(g: DayGame) -> list[tuple[str, np.ndarray]]:
        scopes = [("all", np.ones(len(g.coins), dtype=bool))]
        scopes += [(c, g.coins == c) for c in sorted(set(g.coins))]
        scopes += [(f"det:{d}", g.detectors == d) for d in sorted(set(g.detectors))]
        return scopes


def _add(sums: dict[str, float], counts: dict[str, float], key: str, value: float,
         n: float) -> None:
    sums[key] = sums.get(key, 0.0) + value
    counts[key] = counts.get(key, 0.0) + n
