"""Where the book market's DR bias comes from (issue 29.2): the planted `bimb5_bin=with`
rule's estimates with one coin recorded without the book and with every coin's book, against
the generator's truth (8 bps) and the literal's own truth on the seed (the planted share of
its arms: the learner's `bimb5_bin` edges are fitted terciles, not the generator's 1/3), and
the literal's truth adjusted for the features the generator ties to the book (the flow
decoy and the regime: `adjusted_truth`, what DR estimates when it adjusts for them), and the
same at other nuisance regularisations (ridge_alpha, propensity_c).

Seeds: validity_seeds.yaml `harder` cell `book_absent` (tuning by default, `--final` the
sealed ones). Prints one line per market and setting: mean(estimate - 8) for naive,
regression alone, IPW and DR, DR minus the literal's own truth +- its standard error, and
DR's 90 % coverage of each truth.

Usage: nice -n 10 python -m bench.book_bias [--n 40] [--final] [--processes 2]
                                            [--settings 10:0.3,1:0.3,0.1:3]
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.learning import night
from lotus_core.learning.config import LearningConfig, load_learning
from lotus_core.learning.validity import estimate_trial
from lotus_core.learning.validity_report import harder_spec
from lotus_core.learning.validity_seeds import load_seeds
from lotus_core.signals.config import load_scoring
from lotus_core.synth.windows import PLANTED, WindowSpec, window_frame

KINDS = ("naive", "reg", "ipw", "dr")


def literal_truth(spec: WindowSpec, seed: int, cfg: LearningConfig) -> float:
    """The planted share of `with` minus that of the other known values, over the planted
    detector's windows: the effect of the literal the learner actually observes."""
    tw = night.training_window(window_frame(spec, seed), cfg, load_scoring().context)
    m = (tw.frame["detector_id"] == PLANTED).to_numpy()
    lit = tw.lits["bimb5_bin"].astype(str).to_numpy()[m]
    planted = tw.frame["planted"].to_numpy()[m]
    known = lit != "na"
    return float(planted[known & (lit == "with")].mean()
                 - planted[known & (lit != "with")].mean())


def adjusted_truth(spec: WindowSpec, seed: int, cfg: LearningConfig,
                   adjust: tuple[str, ...] = ("flow_bin", "regime")) -> float:
    """The literal's planted share difference within cells of `adjust` (the features the
    generator ties to the book: the flow decoy, a noisy copy of the latent book state, and
    the regime that confounds it), averaged over the cells' shares: what DR estimates when it
    adjusts for them. Near the edge, where the fitted literal and the latent state disagree,
    the flow says which side the window is really on, so this is below the marginal one."""
    tw = night.training_window(window_frame(spec, seed), cfg, load_scoring().context)
    m = (tw.frame["detector_id"] == PLANTED).to_numpy()
    lits = tw.lits[m].astype(str).reset_index(drop=True)
    known = (lits["bimb5_bin"] != "na").to_numpy()
    df = pd.DataFrame({"p": tw.frame["planted"].to_numpy()[m][known],
                       "a": (lits["bimb5_bin"] == "with").to_numpy()[known],
                       "cell": lits.loc[known, list(adjust)].agg("|".join, axis=1).to_numpy()})
    means = df.groupby(["cell", "a"])["p"].mean().unstack()
    share = df["cell"].value_counts(normalize=True)
    diff = (means[True] - means[False]).reindex(share.index)
    ok = diff.notna()
    return float((diff[ok] * share[ok]).sum() / share[ok].sum())


def _trial(job: tuple[WindowSpec, int, float, float]) -> dict[str, Any]:
    spec, seed, alpha, c = job
    base = load_learning()
    cfg = base.model_copy(update={"estimator": base.estimator.model_copy(
        update={"ridge_alpha": alpha, "propensity_c": c})})
    return {**estimate_trial(spec, seed, cfg), "literal": literal_truth(spec, seed, cfg),
            "adjusted": adjusted_truth(spec, seed, cfg)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--final", action="store_true", help="the sealed evaluation seeds")
    ap.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--settings", default="10:0.3",
                    help="ridge_alpha:propensity_c pairs, comma-separated")
    a = ap.parse_args(argv)
    seeds = load_seeds().seeds("evaluation" if a.final else "tuning", "harder",
                               "book_absent", a.n)
    absent = harder_spec("book_absent", null=False)
    markets = {"one coin bookless": absent, "every coin's book": replace(
        absent, book_absent_coin=False)}
    settings = [tuple(float(x) for x in s.split(":")) for s in a.settings.split(",")]
    print(f"{'evaluation' if a.final else 'tuning'} seeds {seeds[0]}..{seeds[-1]} ({len(seeds)})")
    with ProcessPoolExecutor(a.processes) as pool:
        for name, spec in markets.items():
            for alpha, c in settings:
                rows = list(pool.map(_trial, [(spec, s, alpha, c) for s in seeds]))
                lit = np.array([r["literal"] for r in rows])
                adj = np.array([r["adjusted"] for r in rows])
                dr = np.array([r["dr"] for r in rows])
                gap = dr - lit
                cover8 = np.mean([r["dr_lo"] <= 8.0 <= r["dr_hi"] for r in rows])
                cover_adj = np.mean([r["dr_lo"] <= t <= r["dr_hi"]
                                     for r, t in zip(rows, adj, strict=True)])
                cover_lit = np.mean([r["dr_lo"] <= t <= r["dr_hi"]
                                     for r, t in zip(rows, lit, strict=True)])
                bias = " ".join(f"{k} {np.mean([r[k] for r in rows]) - 8.0:+.2f}"
                                for k in KINDS)
                print(f"{name}, ridge_alpha {alpha:g}, propensity_c {c:g}: {bias}; literal "
                      f"truth {lit.mean():.2f}, DR - it {gap.mean():+.2f} +- "
                      f"{gap.std(ddof=1) / np.sqrt(len(gap)):.2f}; adjusted truth "
                      f"{adj.mean():.2f}, DR - it {(dr - adj).mean():+.2f} +- "
                      f"{(dr - adj).std(ddof=1) / np.sqrt(len(adj)):.2f}; DR covers 8 "
                      f"{cover8:.0%}, the literal's {cover_lit:.0%}, the adjusted "
                      f"{cover_adj:.0%}", flush=True)


if __name__ == "__main__":
    main()
