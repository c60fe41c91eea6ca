"""How often the heterogeneity search in continuous features (lotus_core/learning/hetero.py)
names a planted two-feature interaction, and how often a null night activates anything.

The market: one detector, 5 days x 600 windows of `lotus_core.synth.windows`, with +delta
bps where funding_pctl > 0.75 AND the book leans with the signal (aligned book_imb_5 >
0.1); each alone is worth about a third of delta, off the bins' edges. One night is learned
with the search on; "found" is an active lesson naming both inputs (continuous, or the
binned pair `bimb5_bin` with `funding_pctl_bin`). Seeds: validity_seeds.yaml's `hetero`
section (tuning by default; `--evaluation` for the sealed cells, never tuned on).

    python -m bench hetero --n 20 --evaluation
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from lotus_core.intervals import rate_text
from lotus_core.learning import hetero, pipeline
from lotus_core.learning.config import LearningConfig, load_learning
from lotus_core.learning.validity_seeds import load_seeds
from lotus_core.signals.config import load_scoring
from lotus_core.synth.windows import PLANTED, WindowSpec, window_frame

SPEC = WindowSpec(days=5, windows_per_day=600, detectors=(PLANTED,), effect="none",
                  regime_effect_bps=0.0, delta_bps=0.0)
FUNDING, BOOK = 0.75, 0.1
PAIR = {"funding_pctl_bin", "bimb5_bin"}
CELLS = {"planted_12": 12.0, "planted_8": 8.0, "null": 0.0}
Night = tuple[pipeline.TrainingWindow, pd.DataFrame]


def config(enabled: bool = True) -> LearningConfig:
    """The packaged learning.yaml with the continuous search switched on (or off)."""
    cfg = load_learning()
    return cfg.model_copy(update={"hetero": cfg.hetero.model_copy(update={"enabled": enabled})})


def market(seed: int, delta: float) -> pd.DataFrame:
    """SPEC's windows with `delta` added where both inputs hold."""
    frame = window_frame(SPEC, seed)
    book = frame["book_imb_5"].to_numpy() * np.sign(frame["direction"].to_numpy())
    a = (frame["funding_pctl"].to_numpy() > FUNDING).astype(float)
    b = (np.nan_to_num(book, nan=-1.0) > BOOK).astype(float)
    frame["net_ret_bps"] += delta * a * b
    return frame


def night(frame: pd.DataFrame, cfg: LearningConfig) -> Night:
    """One night's training window and lessons over the whole frame."""
    base = load_scoring().context
    tw = pipeline.training_window(frame, cfg, base)
    lessons, _ = pipeline.lessons(tw, pd.DataFrame(), sorted(frame["date"].unique())[-1], cfg)
    return tw, lessons


def found_by_name(delta: float, seed: int) -> dict[str, object]:
    """One night of the planted market: the active lessons naming both inputs, continuous
    and binned, and any other active rule."""
    _, lessons = night(market(seed, delta), config())
    act = lessons[lessons["state"] == "active"]
    cont = [r for r in act["rule"] if hetero.is_continuous(r)
            and hetero.continuous_sources(r) >= PAIR]
    binned = [r for r in act["rule"] if not hetero.is_continuous(r)
              and all(f in r for f in PAIR)]
    return {"delta": delta, "seed": seed, "continuous": cont, "binned": binned,
            "other": [r for r in act["rule"] if r not in cont and r not in binned]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10, help="seeds per cell")
    ap.add_argument("--evaluation", action="store_true", help="the sealed cells")
    ap.add_argument("--cells", default=",".join(CELLS), help="planted_12,planted_8,null")
    args = ap.parse_args(argv)
    part = "evaluation" if args.evaluation else "tuning"
    seeds = load_seeds()
    for cell in args.cells.split(","):
        rows = [found_by_name(CELLS[cell], s) for s in seeds.seeds(part, "hetero", cell, args.n)]
        for r in rows:
            print(json.dumps(r), flush=True)
        n = len(rows)
        if CELLS[cell]:
            cont = sum(bool(r["continuous"]) for r in rows)
            print(f"{part} {cell}: continuous {rate_text(cont, n)}"
                  f"; binned {rate_text(sum(bool(r['binned']) for r in rows), n)}; either "
                  f"{rate_text(sum(bool(r['continuous'] or r['binned']) for r in rows), n)}",
                  flush=True)
        else:
            any_active = sum(bool(r["continuous"] or r["binned"] or r["other"]) for r in rows)
            print(f"{part} {cell}: nights activating anything {rate_text(any_active, n)}",
                  flush=True)


if __name__ == "__main__":
    main()
