"""The council applies the Curator API's standing vetoes and nudges, and caps the share of
publications from exploration detectors: the same rule nightly (`score_day`) and live
(`LiveEngine`, the daemon's score loop minus its sockets), on a real fabric's log.

The recording is the first 20 minutes of a fixture day; both paths score it with the same
nightly inputs. Signed actions go through the API's own pieces (sign_request,
verify_request, check_action, record_action) into curator_actions on SQLite and
PostgreSQL, and are read back as the nightly asset and the daemon read them
(read_detector_actions). Live == nightly is `lotus_core.live.parity.compare_windows`
(the live_parity check's comparison: deciding columns exact, floats within 1e-9 rel).
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from lotus_core.curator_api.standing import read_detector_actions
from lotus_core.curators import load_curators
from lotus_core.curators.config import CuratorConfigError
from lotus_core.curators.exploration import ExplorationCap, capped
from lotus_core.curators.standing import Standing, standing
from lotus_core.dsi import annotate, fit_dsi, load_registry
from lotus_core.feed.parse import parse_recording
from lotus_core.live.engine import LiveEngine, NightContext
from lotus_core.live.parity import compare_windows
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import score_day
from lotus_core.signals.spec import SpecError, load_detectors
from lotus_core.store.opsdb import OpsDb
from lotus_core.time import day_bounds_ms
from tests.kits.curator_api_kit import log_detector_action

REPO = Path(__file__).resolve().parents[3]
DAY = "2026-01-02"
MINUTES = 20
FP = "sha256:" + "cd" * 32
MIN_MS = 60_000
SETTLE_MS = load_curators().standing_actions.settle_s * 1000

VETOED, NUDGED, WITHDRAWN = "flow_pressure_v1", "mean_reversion_fast_v1", "sweep_flow_v1"
LEVERS = "breakout_retest_fast_v1"  # the diversity and mutation levers (live == nightly)
ROLES = {"dora": ("data", "regime", "diversity", "mutation"), "ada": ("adversarial",)}


@lru_cache(maxsize=1)
def _lines() -> tuple[bytes, ...]:
    lines = gzip.decompress((REPO / "fixtures" / f"{DAY}.jsonl.gz").read_bytes()).splitlines()
    end = orjson.loads(lines[0])["recv_ts_ms"] + MINUTES * MIN_MS
    out = []
    for x in lines:  # in receive order
        if orjson.loads(x)["recv_ts_ms"] >= end:
            break
        out.append(x + b"\n")
    return tuple(out)


def _t0() -> int:
    return int(orjson.loads(_lines()[0])["recv_ts_ms"])


@lru_cache(maxsize=1)
def _inputs() -> tuple[pd.DataFrame, pd.DataFrame, Any]:
    """(MicroTape, DSI annotations, DSI model) of the recording, as the nightly assets."""
    path = Path(f"/tmp/lotus_standing_{DAY}.jsonl.gz")
    path.write_bytes(gzip.compress(b"".join(_lines()), mtime=0))
    tape = build_microtape(parse_recording(path, DAY, workers=1), MicroTapeParams())
    model = fit_dsi(None, registry=load_registry())
    return tape, annotate(tape, model).annotations, model


def _configs(**kw: Any) -> dict[str, Any]:
    """The packaged scoring and council, unless the test gives its own (nightly and live
    alike)."""
    return {"scoring": load_scoring(), "council": load_curators(), **kw}


def _nightly(actions: tuple[dict[str, Any], ...] = (), **kw: Any) -> Any:
    tape, dsi, _ = _inputs()
    return score_day(tape, DAY, fingerprint=FP, dsi=dsi, evaluate=False, actions=actions,
                     **_configs(**kw))


@lru_cache(maxsize=1)
def _baseline() -> Any:
    return _nightly()


def _live(actions: tuple[dict[str, Any], ...] = (), *, late: tuple[dict[str, Any], ...] = (),
          late_at: int | None = None, **kw: Any) -> pd.DataFrame:
    """The windows the live engine emits, in batches of 2,000 lines with a step after each
    (the daemon's loop). `late`: actions the daemon's poll only finds once the feed clock
    passes `late_at`; handed to the council at that batch boundary, as the loop does."""
    _, _, model = _inputs()
    ctx = NightContext(DAY, None, model, None, actions)
    engine = LiveEngine(MicroTapeParams(), lambda d: ctx, **_configs(**kw))
    lines, parts, done = _lines(), [], 0
    handed = not late
    while done < len(lines):
        engine.add(DAY, done + 1, list(lines[done:done + 2000]))
        done = min(done + 2000, len(lines))
        now = (orjson.loads(lines[done])["recv_ts_ms"] if done < len(lines)
               else day_bounds_ms(DAY)[1])
        if not handed and late_at is not None and now >= late_at:
            assert engine.chain is not None
            engine.chain.council.set_actions((*actions, *late))
            handed = True
        step = engine.step(now)
        assert step is not None
        parts.append(step.windows)
    assert handed
    return pd.concat([p for p in parts if len(p)], ignore_index=True)


@lru_cache(maxsize=1)
def _live_once(key: str) -> pd.DataFrame:
    """`_live` once per distinct (early, late) log: the adversarial nudge found by a poll
    four minutes before its time in force."""
    early, late = json.loads(key)
    return _live(tuple(early), late=tuple(late), late_at=_mid(8) - 4 * MIN_MS)


# --- the signed log ------------------------------------------------------------------------

def _log(fabric: OpsDb, curator: str, role: str, action: str, detector: str, ts_ms: int,
         value: float | None = None) -> None:
    log_detector_action(fabric, curator, role, action, detector, ts_ms, value, roles=ROLES)


def _key(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The fields the rule reads, as plain values (the same from either backend)."""
    cols = ("seq", "curator_id", "role", "action", "target_kind", "target_id", "value",
            "reason", "signed_ts_ms")
    return tuple({c: r[c] for c in cols} for r in rows)


def _mid(minutes: int) -> int:
    return _t0() + minutes * MIN_MS


@lru_cache(maxsize=2)
def _scored_once(key: str) -> Any:
    return _nightly(tuple(json.loads(key)))


def _scored(actions: tuple[dict[str, Any], ...]) -> Any:
    """Scored once per distinct log (both backends give the same rows)."""
    return _scored_once(json.dumps(actions, sort_keys=True))


def test_signed_veto_and_nudges_change_the_nightly_and_live_agrees(fabric: OpsDb) -> None:
    day_before = _t0() - 86_400_000
    _log(fabric, "dora", "data", "veto", VETOED, day_before)
    _log(fabric, "dora", "regime", "nudge", NUDGED, _t0() - 3_600_000, 0.08)
    _log(fabric, "ada", "adversarial", "nudge", NUDGED, _mid(8) - SETTLE_MS, 0.05)
    _log(fabric, "dora", "data", "nudge", WITHDRAWN, day_before, 0.05)
    _log(fabric, "dora", "data", "nudge", WITHDRAWN, _mid(12) - SETTLE_MS, 0.0)  # withdrawn
    _log(fabric, "dora", "diversity", "nudge", LEVERS, _mid(4) - SETTLE_MS, -0.1)
    _log(fabric, "dora", "mutation", "nudge", LEVERS, day_before, 0.05)
    rows, last = read_detector_actions(fabric)
    assert len(rows) == 7 and last == 7
    assert read_detector_actions(fabric, last) == ([], 7)  # a poll reads only what is new
    actions = _key(rows)

    base, day = _baseline().events, _scored(actions).events
    assert day["window_id"].tolist() == base["window_id"].tolist()
    det, ts = day["detector_id"], day["ts_ms"]

    # the veto: every window of the detector, with its code; it published before
    v = det == VETOED
    assert base.loc[v, "published"].any() and v.sum() > 20
    assert day.loc[v, "vetoed"].all() and not day.loc[v, "published"].any()
    assert day.loc[v, "vetoes"].map(lambda s: "data:standing_veto" in json.loads(s)).all()
    assert (day.loc[v, "propensity"] == 0.0).all()

    # the nudges: c = clip(mandate + standing, kappa) inside the role's lever, from each
    # action's signed time + settle on; the mandates' c are the baseline's curator_log
    log = _baseline().curator_log
    nudges = log[log["kind"] == "nudge"].pivot_table(index="window_id", columns="curator",
                                                     values="value", aggfunc="sum")
    def mandate(curator: str, ids: pd.Series) -> np.ndarray:
        col = nudges[curator] if curator in nudges else pd.Series(dtype=float)
        return col.reindex(ids).fillna(0.0).to_numpy()

    n = det == NUDGED
    ids, after = day.loc[n, "window_id"], (ts[n] >= _mid(8)).to_numpy()
    assert after.any() and (~after).any()
    reg, adv = mandate("regime", ids), mandate("adversarial", ids)
    want = (base.loc[n, "nudge_sum"].to_numpy() - reg + np.clip(reg + 0.08, -0.08, 0.08)
            + np.where(after, np.clip(adv + 0.05, -0.05, 0.05) - adv, 0.0))
    np.testing.assert_allclose(day.loc[n, "nudge_sum"].to_numpy(), want, rtol=1e-9,
                               atol=1e-12)
    assert (day.loc[n, "nudge_sum"].to_numpy() > base.loc[n, "nudge_sum"].to_numpy()).all()
    assert (day.loc[n, "published"].to_numpy() >= base.loc[n, "published"].to_numpy()).all()

    w = det == WITHDRAWN
    on = (ts[w] < _mid(12)).to_numpy()
    assert on.any() and (~on).any()
    got, was = day.loc[w, "nudge_sum"].to_numpy(), base.loc[w, "nudge_sum"].to_numpy()
    assert (got[on] > was[on]).all() and (got[~on] == was[~on]).all()

    lv = det == LEVERS
    assert lv.sum() > 10 and (day.loc[lv, "nudge_sum"] != base.loc[lv, "nudge_sum"]).all()

    rest = ~(v | n | w | lv)
    for c in ("nudge_sum", "published", "vetoes", "propensity"):
        assert day.loc[rest, c].tolist() == base.loc[rest, c].tolist(), c
    day_log = _scored(actions).curator_log
    assert set(day_log.loc[day_log["reason"].str.startswith("standing"), "window_id"]) <= set(
        day.loc[~rest, "window_id"])

    # live: the same windows; the adversarial nudge only found by a poll mid-recording,
    # before its time in force (as the daemon's poller hands it over at a batch boundary)
    early = tuple(a for a in actions if a["role"] != "adversarial")
    late = tuple(a for a in actions if a["role"] == "adversarial")
    live = _live_once(json.dumps([early, late], sort_keys=True))
    report = compare_windows(day, live)
    assert report.ok, report.describe()
    assert report.compared == len(day) > 300


def test_the_rule_at_the_edge_of_an_action_s_time_in_force() -> None:
    """In force from signed time + settle (inclusive); what stands is the fold of the
    actions in force; a lever the role does not hold is never applied; at() == windows()."""
    t = 1_000_000_000
    rows = [
        {"seq": 1, "role": "regime", "action": "nudge", "target_kind": "detector",
         "target_id": "d_v1", "value": 0.05, "signed_ts_ms": t, "curator_id": "x",
         "reason": "r"},
        {"seq": 2, "role": "regime", "action": "nudge", "target_kind": "detector",
         "target_id": "d_v1", "value": -0.02, "signed_ts_ms": t - 10, "curator_id": "x",
         "reason": "r"},  # signed earlier, logged later: seq decides once both stand
        {"seq": 3, "role": "regime", "action": "veto", "target_kind": "detector",
         "target_id": "d_v1", "value": None, "signed_ts_ms": t, "curator_id": "x",
         "reason": "regime holds no veto"},
        {"seq": 4, "role": "data", "action": "veto", "target_kind": "detector",
         "target_id": "e_v1", "value": None, "signed_ts_ms": t + 5, "curator_id": "y",
         "reason": "r"},
    ]
    s = Standing(rows, 600_000)
    reg = 3  # CURATORS index of regime
    assert s.at("d_v1", t + 600_000 - 11) is None
    assert s.at("d_v1", t + 600_000 - 10).nudges[reg] == -0.02  # type: ignore[union-attr]
    at_t = s.at("d_v1", t + 600_000)
    assert at_t is not None and at_t.nudges[reg] == -0.02 and not any(at_t.vetoes)
    assert standing(rows)["d_v1"]["nudges"] == {"regime": -0.02}
    assert s.at("e_v1", t + 600_004) is None and s.at("e_v1", t + 600_005).vetoes[0]  # type: ignore[union-attr]
    dets = np.array(["d_v1", "e_v1", "z_v1"] * 4, dtype=object)
    ts = np.repeat(np.array([t, t + 599_990, t + 600_000, t + 600_005]), 3)
    nudges, vetoes = s.windows(dets, ts)
    for i in range(len(ts)):
        one = s.at(dets[i], int(ts[i]))
        assert tuple(nudges[i]) == (one.nudges if one else (0.0,) * 8)
        assert tuple(vetoes[i]) == (one.vetoes if one else (False,) * 8)
    assert not Standing([], 600_000) and not Standing(rows[2:3], 0)  # nothing it can apply


# --- exploration detectors -----------------------------------------------------------------

EXPLORING = ("sweep_flow_v1", "mean_reversion_fast_v1")


def _exploring_specs() -> list[Any]:
    return [s.model_copy(update={"status": "exploration"}) if s.id in EXPLORING else s
            for s in load_detectors().enabled]


def _council(max_share: float) -> Any:
    body = load_curators().model_dump(mode="json")
    body["exploration"]["epsilon"] = 0.3  # more publications: the cap has work to do
    body["exploration_detectors"]["max_share"] = max_share
    return load_curators(body)


def test_exploration_detectors_share_is_capped_nightly_and_live() -> None:
    specs, council = _exploring_specs(), _council(0.2)
    assert [s.recipe_hash for s in specs] == [s.recipe_hash for s in load_detectors().enabled]
    free = _nightly(detectors=load_detectors().enabled, council=council).events
    day = _nightly(detectors=specs, council=council).events
    assert day["window_id"].tolist() == free["window_id"].tolist()
    exp = day["detector_id"].isin(EXPLORING)
    held = day["vetoes"] == '["diversity:exploration_cap"]'
    assert held.sum() >= 3 and (exp | ~held).all() and free.loc[held, "published"].all()
    assert (day.loc[held, "propensity"] == 0.0).all() and not day.loc[held, "published"].any()
    assert (day.loc[exp & ~held, "published"] == free.loc[exp & ~held, "published"]).all()
    assert day.loc[exp, "published"].any()  # a cap, not a ban
    for c in ("published", "vetoes", "nudge_sum", "propensity"):
        assert day.loc[~exp, c].tolist() == free.loc[~exp, c].tolist(), c
    for _, g in day[day["published"]].groupby("coin", sort=False):  # at every publication
        share = g["detector_id"].isin(EXPLORING).cumsum() / np.arange(1, len(g) + 1)
        assert (share <= 0.2 + 1e-12).all()
    log = _nightly(detectors=specs, council=council).curator_log
    assert (log.loc[log["reason"] == "exploration_cap", "curator"] == "diversity").all()
    assert (log["reason"] == "exploration_cap").sum() == held.sum()

    live = _live(detectors=specs, council=council)
    report = compare_windows(day, live)
    assert report.ok, report.describe()


def test_the_cap_admits_by_the_running_share_per_coin() -> None:
    cap = ExplorationCap(0.25)
    # an exploration window needs (e + 1) <= 0.25 (p + 1): three vetted ones first, per coin
    seq = [("A", True), ("A", False), ("A", False), ("A", False), ("A", True), ("A", True),
           ("B", True)]
    assert [cap.admit(c, e) for c, e in seq] == [False, True, True, True, True, False, False]
    coin = np.array(["A"] * 6 + ["B"], dtype=object)
    det = np.array(["x", "v", "v", "v", "x", "x", "x"], dtype=object)
    pub = np.ones(7, dtype=bool)
    assert capped(coin, det, pub, frozenset({"x"}), 0.25).tolist() == [
        True, False, False, False, False, True, True]
    pub[1] = False  # a window the policy does not publish does not count
    assert capped(coin, det, pub, frozenset({"x"}), 0.25).tolist() == [
        True, False, False, False, True, True, True]
    assert not capped(coin, det, pub, frozenset(), 0.25).any()


def test_status_and_the_cap_are_validated_naming_the_key() -> None:
    body = {"version": 1, "detectors": [
        {**load_detectors().enabled[0].model_dump(mode="json"), "status": "trial"}]}
    with pytest.raises(SpecError, match=r"detectors\[0\]\.status: Input should be 'vetted' or "
                                        r"'exploration'"):
        load_detectors(body)
    cfg = load_curators().model_dump(mode="json")
    cfg["exploration_detectors"]["max_share"] = 1.5
    with pytest.raises(CuratorConfigError, match=r"exploration_detectors\.max_share"):
        load_curators(cfg)
    cfg = load_curators().model_dump(mode="json")
    cfg["standing_actions"]["settle"] = 600
    with pytest.raises(CuratorConfigError, match=r"standing_actions\.settle"):
        load_curators(cfg)
