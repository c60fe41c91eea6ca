"""Detector cards: per detector a Markdown card for people and a JSON twin for machines,
built from the spec (recipe, lineage, failure modes), the day's signal_events (sq_*/kr_*
summaries) and its audit row (docs/cards.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lotus_core.audits.schema import DETECTOR_CARDS_SCHEMA
from lotus_core.malloc import release_free_heap
from lotus_core.signals.spec import DetectorSpec
from lotus_core.store.by_coin import CoinDay, coin_files

SUMMARY = ("sq_accuracy", "sq_precision", "sq_stability", "sq_orthogonality", "sq_cost",
           "sq_score", "kr_phi", "kr_theta", "kr_delta_phi", "kr_hbar", "kr_rho", "det_sigma",
           "curated_sigma")
EVENT_COLUMNS = ["detector_id", "published", *SUMMARY]
"""What a card reads of signal_events."""
AUDITS = ("future_touch", "label_shuffle", "rolling_gap", "adversarial")


def params_hash(spec: DetectorSpec) -> str:
    text = json.dumps(spec.params, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _r(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def detector_card(spec: DetectorSpec, audit: Mapping[str, Any] | None,
                  events: pd.DataFrame | DetectorColumns, day: str) -> tuple[str, dict[str, Any]]:
    """(markdown, json twin) of one detector on `day`; `events` are its signal_events rows."""
    summ = {c: {"mean": _r(events[c].mean()), "p50": _r(events[c].median())}
            for c in SUMMARY if c in events and len(events)}
    audits: dict[str, Any] = {}
    if audit is not None:
        detail = json.loads(audit.get("detail", "{}"))
        for a in AUDITS:
            audits[a] = {"passed": bool(audit[f"{a}_ok"]), "metric": _r(audit[f"{a}_metric"]),
                         "detail": detail.get("rolling_origin_gap" if a == "rolling_gap" else a,
                                              "")}
    modes = list(spec.failure_modes)
    if audit is not None and not audit["adversarial_ok"]:
        modes.append("audit: fragile under microstructure perturbation")
    if audit is not None and not audit["leakage_ok"]:
        modes.append("audit: leakage (looks ahead or edge does not collapse)")
    twin: dict[str, Any] = {
        "card": "detector-card-1", "date": day, "detector_id": spec.id, "kind": spec.kind,
        "version": spec.version, "description": spec.description.strip(),
        "recipe_hash": spec.recipe_hash, "params_hash": params_hash(spec),
        "params": spec.params, "horizon_s": spec.horizon_s, "cooldown_s": spec.cooldown_s,
        "windows": int(len(events)),
        "published": int(events["published"].sum()) if "published" in events else 0,
        "summary": summ, "audits": audits,
        "leakage_ok": None if audit is None else bool(audit["leakage_ok"]),
        "adversarial_ok": None if audit is None else bool(audit["adversarial_ok"]),
        "lineage": {"parent": None, "mutations": [],
                    "note": "original recipe: the spec records no parent or mutations yet"},
        "failure_modes": modes,
    }
    lines = [f"## {spec.id} ({spec.kind} v{spec.version}) — {day}", "",
             spec.description.strip(), "",
             f"- recipe `{spec.recipe_hash[:19]}…`, params `{twin['params_hash'][:19]}…`",
             f"- horizon {spec.horizon_s} s, cooldown {spec.cooldown_s} s, params "
             f"`{json.dumps(spec.params, sort_keys=True)}`",
             f"- windows {twin['windows']}, published {twin['published']}", "",
             "| score | mean | p50 |", "|---|---|---|"]
    lines += [f"| {k} | {v['mean']} | {v['p50']} |" for k, v in summ.items()]
    lines += ["", "| audit | passed | metric | detail |", "|---|---|---|---|"]
    lines += [f"| {k} | {'yes' if v['passed'] else '**NO**'} | {v['metric']} | {v['detail']} |"
              for k, v in audits.items()] or ["| (not audited) | | | |"]
    lines += ["", "**Lineage:** " + twin["lineage"]["note"], "", "**Known failure modes:**"]
    lines += [f"- {m}" for m in modes]
    return "\n".join(lines) + "\n", twin


def detector_rows(events: CoinDay, detector_id: str) -> pd.DataFrame | DetectorColumns:
    """One detector's `EVENT_COLUMNS` of a day's signal_events in the day's order (a
    card needs its detector's means and medians, not the day's table): a day in coin
    files as `DetectorColumns` (a column at a time); a day in one file filtered a row group
    at a time in Arrow."""
    coins = coin_files(events.lake, events.asset, events.day)
    if coins is not None:
        return DetectorColumns(events, coins, detector_id)
    parts = [t.filter(pc.equal(t["detector_id"], detector_id))
             for t in events.row_groups(EVENT_COLUMNS)]
    if not parts:  # no row group: the day's empty table
        return events.whole(EVENT_COLUMNS)
    return pa.concat_tables(parts).to_pandas()


class DetectorColumns:
    """A detector's rows of a day in coin files, what `detector_card` reads of a frame
    (`len`, `in`, a column), laid in the day's order (time, ties in coin order, as the
    merged day has them: a mean's float sum follows the order). Each coin file is read
    once, in the card's columns, and only the detector's rows are kept: a card holds its
    own detector's windows in ~15 numeric columns (at 100 coins a busy detector has
    ~240,000 windows a day: ~30 MB), never the day's rows of every detector. One read a
    coin, not one a column and a coin: a column read opens the file again, and a card
    reads 14 columns twice (mean and median)."""

    def __init__(self, events: CoinDay, coins: list[str], detector_id: str) -> None:
        parts: dict[str, list[np.ndarray]] = {c: [] for c in EVENT_COLUMNS}
        times = []
        for coin in coins:
            day = CoinDay(events.lake, events.asset, events.day, coin)
            head = day.whole(["ts_ms", *EVENT_COLUMNS])
            at = np.flatnonzero(head["detector_id"].to_numpy(dtype=object) == detector_id)
            times.append(head["ts_ms"].to_numpy(dtype=np.int64)[at])
            if len(at):
                for c in EVENT_COLUMNS:
                    parts[c].append(head[c].to_numpy()[at])
            del head
            release_free_heap()  # the coin's other detectors' rows: their pages back
        order = np.argsort(np.concatenate([np.zeros(0, np.int64), *times]), kind="stable")
        self._columns = {c: (np.concatenate(v) if v else np.zeros(0))[order]
                         for c, v in parts.items()}

    def __len__(self) -> int:
        return len(self._columns["detector_id"])

    def __contains__(self, column: object) -> bool:
        return column in EVENT_COLUMNS

    def __getitem__(self, column: str) -> pd.Series:
        if column not in EVENT_COLUMNS:
            raise KeyError(column)
        return pd.Series(self._columns[column], name=column)


def card_rows(specs: Sequence[DetectorSpec], audits: pd.DataFrame,
              events: pd.DataFrame | CoinDay, day: str) -> pd.DataFrame:
    """The detector_cards table: one card per detector, JSON twin as canonical text.
    `events`: the day's signal_events, a frame, or a `CoinDay` read a detector at a time."""
    by_id = audits.set_index("detector_id").to_dict(orient="index") if len(audits) else {}
    rows = []
    for spec in sorted(specs, key=lambda s: s.id):
        mine = (detector_rows(events, spec.id) if isinstance(events, CoinDay)
                else events[events["detector_id"] == spec.id])
        md, twin = detector_card(spec, by_id.get(spec.id), mine, day)
        rows.append({"detector_id": spec.id, "recipe_hash": spec.recipe_hash,
                     "params_hash": twin["params_hash"], "card_md": md,
                     "card_json": json.dumps(twin, sort_keys=True, separators=(",", ":")),
                     "card_ok": bool(twin["audits"]) and bool(twin["failure_modes"])})
    out = pd.DataFrame(rows)
    for c in ("detector_id", "recipe_hash", "params_hash", "card_md", "card_json"):
        out[c] = out[c].astype("str")
    return DETECTOR_CARDS_SCHEMA.validate(out)
