"""What each column of a table a researcher opens means: descriptions for the UI's column
schemas (written from the code that makes each column; kept beside the renderers so a new
column without a description fails `tests/core/report/test_report_plots.py`)."""

from __future__ import annotations

# lotus_core/learning/lessons.py (`learn`, `_finish`), evaluate.py (RuleDetail), the lifecycle
LESSONS = {
    "lesson_id": "stable id: hash of detector, rule and horizon (the same rule keeps its id "
                 "across nights)",
    "detector_id": "the detector whose windows the rule selects",
    "rule": "the context rule: up to 3 literals feature=bin joined by '&' (bins from the "
            "window's quantiser)",
    "treatment": "the primary (weakest) split's treatment literal, feature=bin",
    "n_literals": "number of literals in the rule (1-3)",
    "bins": "sum over the rule's features of log2(number of bins): the rule's description "
            "length in bits, part of mdl",
    "horizon_s": "outcome horizon in seconds (net return measured at entry + horizon_s)",
    "state": "lifecycle state tonight: proposed, active, sunset or archived",
    "reason": "why the lesson is in its state: failed gates, 'holds', a watchdog or TTL "
              "reason, 'awaiting_champion'",
    "state_since": "trading day (UTC) the lesson entered its current state",
    "first_seen": "trading day the rule was first proposed",
    "activated_on": "trading day it became active (empty if never)",
    "expires_on": "trading day its TTL ends (active lessons)",
    "challenger_of": "the active lesson this one challenges (overlapping rule), if any",
    "sign": "direction of the effect: +1 the rule raises net return, -1 lowers it",
    "uplift_bps": "doubly robust (cross-fitted AIPW) uplift of net return, bps per window, "
                  "signed",
    "ci_lo": "lower end of the 90 % CI of uplift_bps (hour-blocked bootstrap), bps",
    "ci_hi": "upper end of the 90 % CI of uplift_bps, bps",
    "sel_uplift_bps": "uplift_bps corrected for having cleared tonight's bar (median-"
                      "unbiased, conditional on |z| >= z_crit; = uplift_bps below the bar), bps",
    "sel_ci_lo": "lower end of the selective 90 % CI (holds among lessons that cleared the bar)",
    "sel_ci_hi": "upper end of the selective 90 % CI, bps",
    "p05": "5th percentile of the bootstrap in the rule's direction, bps (> 0: significant)",
    "boot_sd": "bootstrap standard deviation of uplift_bps (hour-blocked), bps",
    "uplift_ipw": "inverse-propensity-weighted uplift, bps (a cross-check of the DR estimate)",
    "uplift_naive": "difference of mean net return, rule vs not, bps (no adjustment)",
    "uplift_hit": "DR uplift of the hit rate (share of windows whose net return > 0), "
                  "primary split",
    "support": "windows in the training window where the whole rule holds",
    "scope_n": "windows in the primary split's scope (treated + control)",
    "stability": "mean / standard deviation of the daily uplift (signed; higher = steadier)",
    "stability_regime": "the same ratio across market regimes (empty when the rule names "
                        "the regime)",
    "days": "days of the window with enough scope windows to estimate",
    "clipped_share": "worst split: share of scope windows whose propensity was clipped",
    "ess": "worst split: effective sample size of the smaller IPW arm (windows)",
    "dr_ipw_z": "primary split: |DR - IPW| / bootstrap sd of their difference (overlap gate)",
    "overlap": "overlap gates failed (overlap:clipped, overlap:ess, overlap:dr_ipw_disagree)",
    "mdl": "description length penalty: lambda_mdl x (literals + bins), bps",
    "score": "|uplift_bps| - mdl, the search's ranking score, bps",
    "bqs": "braid quality score: a|uplift| - b mdl - c sd + d log(1 + support)",
    "z": "|uplift| / max(boot_sd, iid SE): the test statistic",
    "z_crit": "tonight's weighted Bonferroni bar for a rule of this length (the season's "
              "per-night share of the error budget)",
    "gates": "every gate the rule failed tonight, comma separated (empty: passed all)",
    "oos_uplift": "watchdog: uplift on the newest (out-of-sample) day, bps",
    "oos_p05": "watchdog: its bootstrap p05 in the rule's direction, bps",
    "oos_support": "watchdog: rule windows on the newest day",
    "oos_sd": "watchdog: standard deviation of the out-of-sample estimate, bps",
    "oos_cusum": "watchdog: one-sided CUSUM of out-of-sample shortfalls (sunset when over "
                 "its limit)",
    "period_from": "the first day of the window's later period when the outcome model broke "
                   "inside it (nuisances fitted per period; empty: one period)",
    "train_window": "the training window's days, first..last",
    "quantizer": "JSON of the bin edges the rules' literals refer to",
    "date": "the partition (trading day, UTC) the row belongs to",
}

LOOP_DAILY = {
    "day": "trading day (UTC)",
    "published_rows": "published windows x horizons with a finished outcome that day",
    "published_hit_rate": "share of published rows whose net return > 0 (0-1)",
    "all_hit_rate": "the same over every window, published or not (0-1)",
    "priors_ver": "sig_priors version written that night (scores the next day)",
    "patches": "active patch keys in that version",
}

DM_TICKETS = {
    "time": "ticket time, UTC (HH:MM:SS of the trading day)",
    "coin": "the coin the ticket targets",
    "action": "trade (target moves the position) or hold",
    "target": "target weight of equity after the ticket (signed, + long)",
    "w0": "weight of equity held before the ticket",
    "change": "target - w0, weight of equity",
    "reason": "the ticket's note: what it does, or why it holds",
}

FILLS = {
    "time": "fill time, UTC (HH:MM:SS)",
    "coin": "coin",
    "side": "buy or sell",
    "qty": "quantity filled, coin units",
    "px": "fill price, USD",
    "notional_usd": "qty x px, USD",
    "fee_usd": "fee paid, USD (negative: rebate)",
    "liquidity": "taker or maker",
    "venue": "venue the fill came from (simulated against the recorded book)",
}

EQUITY = {
    "day": "trading day (UTC)",
    "equity_usd": "paper equity at the end of the day, USD",
    "day_pnl_usd": "equity change over the day (vs the previous day's end, or the initial "
                   "equity), USD",
    "fills": "fill events that day",
}
