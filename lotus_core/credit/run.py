"""One expert-credit run: the days of the window that were scored, the credit game on them,
Shapley-lite over seeded inclusion orders, knock-outs, and per-coin credit pooled toward
each expert's pooled credit. Returns the `expert_credit` rows of the run."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lotus_core.credit.config import CreditConfig
from lotus_core.credit.game import CreditGame, DayGame, prepare_day
from lotus_core.credit.pooling import pool
from lotus_core.credit.shapley import ShapleyResult, shapley_lite
from lotus_core.credit.table import typed
from lotus_core.experiments import StageConfig, load_day
from lotus_core.experiments.inputs import LakeReader
from lotus_core.signals.priors import ActivePriors
from lotus_core.time import shift_day


class CreditError(ValueError):
    """Credit cannot run as asked; the message names what is missing or wrong."""


@dataclass(frozen=True)
class CreditResult:
    rows: pd.DataFrame
    shapley: ShapleyResult
    names: list[str]
    days: list[str]
    games: list[DayGame]


def players_of(cfg: StageConfig, config: CreditConfig) -> tuple[list[str], frozenset[str]]:
    """(credited experts, experts always in): config.players, or every active expert."""
    active = [e.id for e in cfg.registry.active]
    unknown = [p for p in config.players if p not in active]
    if unknown:
        raise CreditError(f"credit players {unknown} are not active experts; active: "
                          f"{', '.join(active)}")
    players = list(config.players) or active
    return players, frozenset(a for a in active if a not in players)


def window_days(lake: LakeReader, day: str, n: int) -> list[str]:
    """The scored days among `day` and the n-1 before it (signal_events present)."""
    days = [shift_day(day, -k) for k in range(n - 1, -1, -1)]
    return [d for d in days if lake.exists("signal_events", d)
            and lake.exists("microtape_frames", d)]


def run_credit(lake: LakeReader, day: str, cfg: StageConfig,
               priors_for: Callable[[str], ActivePriors], *, history_days: int,
               dsi_history_days: int, config: CreditConfig) -> CreditResult:
    players, always = players_of(cfg, config)
    days = window_days(lake, day, config.window_days)
    if not days:
        raise CreditError(f"no scored day in the {config.window_days} day(s) up to {day}: "
                          "materialise signal_events first")
    games: list[DayGame] = []
    for d in days:
        inputs = load_day(lake, d, history_days=history_days, dsi_history_days=dsi_history_days,
                          with_dsi_history=True)
        games.append(prepare_day(inputs, cfg, priors_for(d)))
    game = CreditGame(games, always)
    result = shapley_lite(players, game, config.orders, config.seed)
    return CreditResult(rows=credit_rows(day, days, result, game.names, config, cfg),
                        shapley=result, names=game.names, days=days, games=games)


def credit_rows(day: str, days: list[str], r: ShapleyResult, names: list[str],
                config: CreditConfig, cfg: StageConfig) -> pd.DataFrame:
    """One row per (expert, metric, scope); coin scopes pooled per (expert, metric)."""
    mean, se = r.mean, r.se
    rows = []
    for i, expert in enumerate(r.players):
        for metric in ("det_sigma", "net_bps"):
            cols = [j for j, n in enumerate(names) if n.startswith(metric + "|")]
            coin_cols = [j for j in cols if not names[j].split("|", 1)[1].startswith("det:")
                         and names[j].split("|", 1)[1] != "all"]
            pooled = pool(mean[i, coin_cols], se[i, coin_cols]) if coin_cols else None
            shrunk = dict(zip(coin_cols, pooled.shrunk, strict=True)) if pooled else {}
            keep = dict(zip(coin_cols, pooled.weight, strict=True)) if pooled else {}
            for j in cols:
                rows.append({
                    "day": day, "expert_id": expert, "metric": metric,
                    "scope": names[j].split("|", 1)[1],
                    "shapley": float(mean[i, j]), "se": float(se[i, j]),
                    "knockout": float(r.knockout[i, j]),
                    "pooled": float(shrunk.get(j, mean[i, j])),
                    "pool_weight": float(keep.get(j, np.nan)),
                    "pooled_mean": float(pooled.mu) if pooled else float("nan"),
                    "window": f"{days[0]}..{days[-1]}", "days": len(days),
                    "orders": config.orders, "seed": config.seed,
                    "evaluations": r.evaluations,
                    "registry_hash": cfg.hashes()["registry"],
                    "players": json.dumps(list(r.players)),
                })
    return typed(pd.DataFrame(rows))
