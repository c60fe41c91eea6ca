"""A day annotated coin by coin, and what its `dsi_experts` rows need summed as it goes.

Why: held whole, the day's MicroTape, every expert's output and the wide annotations of
every coin at once are +8.7 GB at 100 coins x 24 h. Every expert reads
only its own coin's rows and the fusion is per row, so a coin's annotations are the same
whichever other coins are annotated beside it; the day's statistics (episode counts, flag
frames, contribution, redundancy) are sums over coins. `DayTally` keeps those sums, one
coin at a time; `expert_table` reads them, so the whole-day table is the tally of one part
and the two cannot drift.

The redundancy (each expert's largest |correlation| of z with another's, over the day's
rows) is kept as each part's means and centred cross-products, merged across parts by
Chan et al.'s pairwise update: the same correlation as one pass over the pooled rows,
within float rounding (tests/core/dsi/test_dsi_by_coin.py states the tolerance).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

from lotus_core.comoments import Comoments
from lotus_core.dsi.annotate import DsiResult, annotate
from lotus_core.dsi.fusion import clip_z
from lotus_core.dsi.labels import move_label
from lotus_core.dsi.model import DsiModel
from lotus_core.dsi.reliability import Counts, count, flag_run_starts
from lotus_core.dsi.schema import typed_expert_table


@dataclass
class ExpertDay:
    """One expert's day so far: episode counts, flagged frames, episodes, the sum of its
    contribution to mx_evidence, and its per-coin compute latency (µs per frame)."""

    counts: Counts = field(default_factory=Counts)
    flag_frames: int = 0
    episodes: int = 0
    contribution: float = 0.0
    latency_us: list[float] = field(default_factory=list)


@dataclass
class DayTally:
    """What `expert_table`, `expert_timings` and the run's metadata need of a day's
    annotations, added one part (a coin, or the whole day) at a time."""

    model: DsiModel
    rows: int = 0
    evidence: float = 0.0
    confirm: float = 0.0
    feature_seconds: float = 0.0
    experts: dict[str, ExpertDay] = field(default_factory=dict)
    z: Comoments = field(default_factory=Comoments)

    def __post_init__(self) -> None:
        self.experts = {s.id: ExpertDay() for s in self.model.experts}

    def add(self, frames: pd.DataFrame, result: DsiResult) -> None:
        """Add a part: its frames (sorted by coin, ts_ms; whole coins) and their result."""
        reg = self.model.registry
        frames = frames.reset_index(drop=True)
        y, move = move_label(frames, reg.label)
        coin = frames["coin"].to_numpy(dtype=object)
        ts = frames["ts_ms"].to_numpy()
        evidence = result.annotations["mx_evidence"].to_numpy()
        for st in self.model.experts:
            out, day = result.outputs[st.id], self.experts[st.id]
            day.counts = day.counts + count(out, coin, ts, y, move, reg.cadence_ms)
            day.flag_frames += int(out.f.sum())
            day.episodes += int(flag_run_starts(coin, ts, out.f, reg.cadence_ms).sum())
            others = result.llr - st.weight * clip_z(out.z, reg.fusion)
            day.contribution += float((evidence - expit(others)).sum())
            day.latency_us.extend(result.latency_us.get(st.id) or [])
        if result.outputs:
            self.z.add(np.column_stack([o.z for o in result.outputs.values()]))
        self.rows += len(frames)
        self.evidence += float(evidence.sum())
        self.confirm += float(result.annotations["mx_confirm"].to_numpy().sum())
        self.feature_seconds += result.feature_seconds

    def redundancy(self) -> dict[str, float]:
        return self.z.max_abs_corr([s.id for s in self.model.experts])

    def metadata(self) -> dict[str, object]:
        """The day's headline figures (run metadata)."""
        return {"rows": self.rows,
                "mx_evidence_mean": self.evidence / self.rows if self.rows else 0.0,
                "mx_confirm_rate": self.confirm / self.rows if self.rows else 0.0,
                "flag_frames": {k: d.flag_frames for k, d in self.experts.items()}}


def tally_of(frames: pd.DataFrame, model: DsiModel, result: DsiResult) -> DayTally:
    """The tally of a whole day annotated at once (one part)."""
    tally = DayTally(model)
    tally.add(frames, result)
    return tally


def annotate_by_coin(coins: Iterable[pd.DataFrame], model: DsiModel,
                     tally: DayTally) -> Iterator[pd.DataFrame]:
    """Each coin's annotations (`coins`: one coin's frames each, in coin order), added to
    `tally` as they are made; the same rows as `annotate` of the whole day."""
    for frames in coins:
        result = annotate(frames, model)
        tally.add(frames, result)
        ann = result.annotations
        del result
        yield ann


def empty_annotations(head: pd.DataFrame, model: DsiModel) -> pd.DataFrame:
    """The annotations of a day with no frames: their columns and dtypes (`head`: any
    frames of the tape, e.g. one coin's `coin` and `ts_ms`)."""
    return annotate(head.iloc[:0], model).annotations


def expert_table(day: str, frames: pd.DataFrame, model: DsiModel,
                 result: DsiResult) -> pd.DataFrame:
    """The `dsi_experts` rows of a day annotated whole (`tally_table` of one part)."""
    return tally_table(day, tally_of(frames, model, result))


def tally_table(day: str, tally: DayTally) -> pd.DataFrame:
    """The registry with each expert's statistics for `day` (the `dsi_experts` rows).

    Day statistics use the day's own outcomes (the label looks 60 s ahead), so this table
    is a report written after the day; the annotations never read it.
    """
    model = tally.model
    reg = model.registry
    state = {s.id: s for s in model.experts}
    redundancy = tally.redundancy()
    rows = []
    for spec in reg.experts:
        st = state.get(spec.id)
        row: dict[str, object] = {
            "date": day, "expert_id": spec.id, "kind": spec.kind, "version": spec.version,
            "active": spec.active, "spec_hash": spec.spec_hash, "spec_json": spec.spec_json,
            "prior_alpha": spec.prior_alpha, "prior_beta": spec.prior_beta,
            "base_rate": model.base_rate, "hist_days": len(model.history_days)}
        if st is None:
            rows.append(row)
            continue
        d = tally.experts[spec.id]
        c = d.counts
        row.update({
            "fitted": bool(st.expert.fitted or not st.expert.learned),
            "fit_rows": st.expert.fit_rows,
            "hist_trials": st.counts.trials, "hist_successes": st.counts.successes,
            "alpha": st.posterior.alpha, "beta": st.posterior.beta,
            "reliability": st.posterior.mean, "weight": st.weight,
            "day_flag_frames": d.flag_frames,
            "day_episodes": d.episodes,
            "day_trials": c.trials, "day_successes": c.successes,
            "day_hit_rate": c.successes / c.trials if c.trials else np.nan,
            "day_dir_agree": c.dir_agree / c.directed if c.directed else np.nan,
            "contribution": d.contribution / tally.rows if tally.rows else 0.0,
            "redundancy": redundancy.get(spec.id, 0.0),
        })
        rows.append(row)
    return typed_expert_table(rows)


def expert_timings(model: DsiModel, result: DsiResult) -> dict[str, dict[str, float]]:
    """`tally_timings` of a day annotated whole."""
    return _timings(model, result.latency_us)


def tally_timings(tally: DayTally) -> dict[str, dict[str, float]]:
    """Wall-clock figures per expert (median compute µs per frame, fit seconds): run
    metadata, never table columns, so the tables stay byte-identical on re-runs."""
    return _timings(tally.model, {k: d.latency_us for k, d in tally.experts.items()})


def _timings(model: DsiModel, latency_us: dict[str, list[float]]
             ) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for st in model.experts:
        lat = latency_us.get(st.id) or []
        out[st.id] = {"latency_p50_us": round(float(np.median(lat)), 3) if lat else 0.0,
                      "fit_seconds": round(float(st.fit_seconds), 4)}
    return out
