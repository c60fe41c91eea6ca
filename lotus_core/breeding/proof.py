"""The breeding proof, one seed at a time: does a night of breeding find the
planted edge, stay quiet on its null twin, and never pass the leaky transform?

A seed is two synthetic markets, the same but for the opt-in `book_flow_absorption` edge
(lotus_core.synth.absorption). Each is bred on a training window (day D) with a grammar
that also offers the leaky `lead` transform, then every survivor is judged on a later,
unseen evaluation window (day D+1), which the breeder never reads:

- beats chance: its evaluation windows' hit rate beats the base rate (one-sided, alpha);
- captures the edge: beats chance AND at least `capture_share` of its evaluation windows
  fire inside a planted episode (or within `capture_tail_s` after it).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.breeding.grammar import Grammar
from lotus_core.breeding.harness import HarnessConfig, lift_test, with_outcomes
from lotus_core.breeding.night import NightResult, breed_night
from lotus_core.breeding.propose import RecipeProposer
from lotus_core.breeding.recipe import Recipe
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape
from lotus_core.signals.detectors import run_detectors
from lotus_core.signals.spec import DetectorSpec, load_detectors
from lotus_core.synth.absorption import ABSORPTION
from lotus_core.synth.generator import generate_day
from lotus_core.synth.spec import SynthSpec


@dataclass(frozen=True)
class ProofConfig:
    day: date = date(2026, 3, 2)  # training day; evaluation is the next day
    coins: tuple[str, ...] = ("BTC",)
    train_hours: tuple[int, int] = (6, 14)
    eval_hours: tuple[int, int] = (6, 10)
    leaky: int = 4  # leaky candidates proposed per night
    alpha: float = 0.05
    capture_share: float = 0.25
    capture_tail_s: int = 10
    harness: HarnessConfig = field(default_factory=HarnessConfig)


def tape(out_dir: Path, day: date, seed: int, planted: bool, hours: tuple[int, int],
         coins: tuple[str, ...]) -> tuple[pd.DataFrame, list[tuple[str, int, int]]]:
    """A synthetic day's MicroTape and its planted episodes (coin, start_ms, end_ms)."""
    spec = SynthSpec(edges=(ABSORPTION,)) if planted else SynthSpec()
    feed, truth = generate_day(out_dir, day, list(coins), seed, spec, hours=hours)
    frames = build_microtape(parse_recording(feed, day.isoformat(), workers=1))
    body = json.loads(Path(truth).read_text(encoding="utf-8"))
    episodes = [(coin, int(p["start_ms"]), int(p["end_ms"]))
                for coin, c in body["per_coin"].items() for p in c["patterns"]
                if p["type"] == "absorption"]
    return frames, episodes


def in_episode(windows: pd.DataFrame, episodes: list[tuple[str, int, int]],
               tail_ms: int) -> np.ndarray:
    ts = windows["ts_ms"].to_numpy(dtype=np.int64)
    coin = windows["coin"].to_numpy(dtype=object)
    out = np.zeros(len(windows), dtype=bool)
    for c, a, b in episodes:
        out |= (coin == c) & (ts >= a) & (ts <= b + tail_ms)
    return out


def judge_survivors(result: NightResult, frames: pd.DataFrame,
                    episodes: list[tuple[str, int, int]], vetted: list[DetectorSpec],
                    cfg: ProofConfig) -> list[dict[str, Any]]:
    """Each survivor on the evaluation window: lift, p, share inside planted episodes."""
    from lotus_core.breeding.compile import bred_windows

    vw = run_detectors(frames, vetted) if vetted else None
    out = []
    for v in result.survivors:
        w = bred_windows(frames, [v.candidate.spec], vw)
        test = lift_test(with_outcomes(w, frames, 0.0))
        share = float(in_episode(w, episodes, cfg.capture_tail_s * 1000).mean()) if len(w) \
            else 0.0
        beats = bool(test["p"] <= cfg.alpha and test["lift"] > 0)
        out.append({"detector_id": v.candidate.detector_id, "origin": v.candidate.origin,
                    "leaky": v.candidate.spec.leaky, "eval_windows": int(len(w)),
                    "eval_lift": test["lift"], "eval_p": test["p"], "episode_share": share,
                    "beats_chance": beats,
                    "captures": beats and share >= cfg.capture_share})
    return out


def run_arm(seed: int, planted: bool, cfg: ProofConfig | None = None, *,
            recipe: Recipe, work: Path | None = None) -> dict[str, Any]:
    """One night of the proof: breed on day D, judge the survivors on day D+1. `recipe`:
    the caller's (the bench loads it once for every arm), with `cfg.leaky` set here."""
    cfg = cfg or ProofConfig()
    base = recipe
    recipe = base.model_copy(update={"per_night": base.per_night.model_copy(
        update={"leaky": cfg.leaky})})
    vetted = load_detectors().enabled
    grammar = Grammar(vetted=tuple(s.id for s in vetted), allow_leaky=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        train, _ = tape(Path(tmp), cfg.day, seed, planted, cfg.train_hours, cfg.coins)
        test, episodes = tape(Path(tmp), cfg.day + timedelta(days=1), seed, planted,
                              cfg.eval_hours, cfg.coins)
    result = breed_night(train, cfg.day.isoformat(), proposer=RecipeProposer(recipe),
                         grammar=grammar, vetted=vetted, seed=seed, cfg=cfg.harness)
    judged = judge_survivors(result, test, episodes, vetted, cfg)
    c = result.candidates
    leaky = c[c["origin"] == "leaky"]
    return {
        "seed": seed, "planted": planted, "candidates": int(len(c)),
        "survivors": int(c["survived"].sum()), "leaky_proposed": int(len(leaky)),
        "leaky_survived": int(leaky["survived"].sum()),
        "leaky_reasons": sorted({str(r).split(":")[0] for r in leaky["reason"]}),
        "any_beats_chance": any(j["beats_chance"] for j in judged),
        "captured": any(j["captures"] for j in judged),
        "survivor_eval": judged,
    }
