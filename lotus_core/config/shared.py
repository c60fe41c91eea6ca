"""The values several consumers share, resolved in one place from one `Settings`.

The CLI, the nightly schedule, the `lotus_daily` job's run config (also the launchpad's
default), the partition mappings of the history inputs and the assets themselves all take
these from `shared_values(settings)`, so an override in `lotus.yaml` cannot change the
computation without changing the loading window (or the other way round).

`window_days` and `history_days` default to the value in the learning.yaml / scoring.yaml
the settings name (the packaged ones unless `learning.config` / `scoring.config` is set);
a value in `lotus.yaml` wins over the file. The detectors.yaml and curators.yaml the day is
scored with (`scoring.detectors`, `scoring.curators`) reach the nightly ops, `live_parity`
and the daemon's score loop from here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lotus_core.config.settings import Settings

if TYPE_CHECKING:
    from lotus_core.microtape.params import MicroTapeParams


@dataclass(frozen=True)
class SharedValues:
    cadence_ms: int            # MicroTape frame cadence
    window_days: int           # learning: training window (days, inclusive of the night)
    history_days: int          # scoring: earlier detector_windows days feeding sq_*
    dsi_history_days: int      # DSI: earlier MicroTape days the experts are fitted on
    learning_path: str | None  # the learning.yaml in use (None: packaged)
    scoring_path: str | None   # the scoring.yaml in use (None: packaged)
    detectors_path: str | None  # the detectors.yaml scored (None: packaged)
    curators_path: str | None  # the curators.yaml, the council (None: packaged)
    exploration: bool = False  # scoring.exploration: also score the breeder's survivors
    funding_rank_days: int | None = None  # microtape: the days funding_pctl and oi_pctl
    oi_rank_days: int | None = None       # are ranked on (None: MicroTapeParams')

    def microtape_overrides(self) -> dict[str, int]:
        """The MicroTape parameters the settings set (the rest: MicroTapeParams' own): the
        `microtape_frames` run config, and `microtape_params`."""
        named = {"cadence_ms": self.cadence_ms, "funding_rank_days": self.funding_rank_days,
                 "oi_rank_days": self.oi_rank_days}
        return {k: v for k, v in named.items() if v is not None}

    def microtape_params(self) -> MicroTapeParams:
        """The MicroTape's parameters the settings choose, for the nightly build, the live
        tape and the parity check alike."""
        from lotus_core.microtape.params import MicroTapeParams

        return MicroTapeParams.given(**self.microtape_overrides())


def shared_values(settings: Settings) -> SharedValues:
    from lotus_core.learning.config import load_learning
    from lotus_core.signals.config import load_scoring

    learning_path = str(settings.learning.config) if settings.learning.config else None
    scoring_path = str(settings.scoring.config) if settings.scoring.config else None
    detectors_path = str(settings.scoring.detectors) if settings.scoring.detectors else None
    curators_path = str(settings.scoring.curators) if settings.scoring.curators else None
    window = settings.learning.window_days
    if window is None:
        window = load_learning(learning_path).window_days
    history = settings.scoring.history_days
    if history is None:
        history = load_scoring(scoring_path).history_days
    return SharedValues(cadence_ms=settings.microtape.cadence_ms, window_days=window,
                        history_days=history, dsi_history_days=settings.dsi.history_days,
                        learning_path=learning_path, scoring_path=scoring_path,
                        detectors_path=detectors_path, curators_path=curators_path,
                        exploration=settings.scoring.exploration,
                        funding_rank_days=settings.microtape.funding_rank_days,
                        oi_rank_days=settings.microtape.oi_rank_days)
