"""The curator council: bounded stewardship of what the signal layer publishes.

    load_curators(source=None) -> CouncilConfig      the one config file, validated
    run_council(scored, specs, cfg, status, fp, standing)
                                                    every curator on every window
    curate(scored, specs, cfg, status, fp, u, standing) -> (CouncilResult, Publication)
                                                    run_council, publish, exploration cap
    standing.Standing.of(actions, cfg)              the Curator API's actions in force
    detector_status(audit, detector_ids)            audit/card status with defaults
    publish(det_sigma, nudge_sum, vetoed, tau, epsilon, u) -> Publication
    curator_kpis(events, outcomes, verdicts, status, tau, seconds)
    events.CouncilStream(day, specs, cfg, status, fp, history_days).push(windows)
                                                    the same per MicroTape row (live):
                                                    council.CouncilStep's rules, rows laid out

docs/curators.md has each mandate, nudge and veto. No dagster here.
"""

from lotus_core.curators.config import (
    CURATORS,
    KAPPA_MAX,
    CouncilConfig,
    CuratorConfigError,
    load_curators,
)
from lotus_core.curators.council import (
    CouncilResult,
    Verdict,
    curate,
    detector_status,
    run_council,
)
from lotus_core.curators.kpis import curator_kpis
from lotus_core.curators.publish import Publication, curated, publish

__all__ = [
    "CURATORS",
    "KAPPA_MAX",
    "CouncilConfig",
    "CouncilResult",
    "CuratorConfigError",
    "Publication",
    "Verdict",
    "curate",
    "curated",
    "curator_kpis",
    "detector_status",
    "load_curators",
    "publish",
    "run_council",
]
