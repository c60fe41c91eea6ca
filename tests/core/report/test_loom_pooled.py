"""The Loom of `*` (all detectors, pooled): the pooled lessons lead to the braids they give
each detector and to those braids' patch keys; a detector's Loom shows the pooled lesson
behind its pooled braid; `*` reads "all detectors (pooled)" in labels, titles and tables,
and in a patch key it is shown as the wildcard it is.

The night is laid out by the learning loop's own code: `micro_braids` (its shrinkage
stubbed: one pooled lesson specialised per detector, one not, which keeps a single `*`
braid), `braid_effects` and `compile_patches`, and the keys `patch_set_rows` writes."""

from __future__ import annotations

import base64
import re
from html import unescape

import numpy as np
import pandas as pd
import pytest

from lotus_core.learning import braids as braids_mod
from lotus_core.learning import pipeline
from lotus_core.learning.compile import PatchCaps, compile_patches
from lotus_core.learning.config import load_learning
from lotus_core.learning.lessons import POOLED
from lotus_core.learning.pooled import Specialised
from lotus_core.learning.priors_store import patch_set_rows
from lotus_core.report.names import ALL, POOLED_NAME, WILDCARD_NOTE
from lotus_core.report.svg import wrap
from lotus_core.report.tables import (
    LoomParts,
    braids_table,
    lessons_forest,
    lessons_table,
    loom_detectors,
    loom_parts,
    loom_svg,
)
from lotus_core.signals.priors import ANY

CFG = load_learning()
DETS = ("mean_reversion_z_v1", "sweep_flow_v1")
SPECIALISED = "funding_pctl_bin=hi&mx_bin=hi"  # one braid per detector
WHOLE = "oi_pctl_bin=lo"  # no detector estimable: one `*` braid, a wildcard patch
OWN = "regime=trend"  # mean_reversion_z_v1's own lesson


def _lesson(lesson_id: str, det: str, rule: str, uplift: float) -> dict:
    return {"lesson_id": lesson_id, "detector_id": det, "rule": rule, "state": "active",
            "sign": 1, "uplift_bps": uplift, "ci_lo": uplift - 1.0, "ci_hi": uplift + 1.0,
            "p05": uplift - 0.8, "support": 400, "bqs": 1.0, "oos_uplift": uplift,
            "reason": "gates_pass", "expires_on": "2026-03-05", "uplift_ipw": uplift,
            "uplift_naive": uplift, "change": "active"}


Night = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]


@pytest.fixture(scope="module")
def night() -> Night:
    return build_night()


def build_night() -> Night:
    """(lessons, micro braids, meta braids, the priors snapshot) of the night."""
    lessons = pd.DataFrame([_lesson("Lpool1", POOLED, SPECIALISED, 3.0),
                            _lesson("Lpool2", POOLED, WHOLE, 2.0),
                            _lesson("Lown", DETS[0], OWN, 4.0)])
    frame = pd.DataFrame({"detector_id": list(DETS), "window_id": ["w1", "w2"]})
    lits = pd.DataFrame({"funding_pctl_bin": ["hi", "hi"], "mx_bin": ["hi", "hi"],
                         "regime": ["trend", "chop"], "oi_pctl_bin": ["lo", "lo"]})

    def specialise(frame: pd.DataFrame, lits: pd.DataFrame, q: object, rule: str, sign: int,
                   cfg: object) -> list[Specialised]:  # the shrinkage is not under test
        if rule != SPECIALISED:
            return []
        return [Specialised(d, 2.5 + i, 1.0, 2.5 + i, 0.5, 200) for i, d in enumerate(DETS)]

    mp = pytest.MonkeyPatch()
    mp.setattr(braids_mod, "specialise", specialise)
    try:
        micro = braids_mod.micro_braids(lessons, frame, lits, CFG, q=object())  # type: ignore[arg-type]
    finally:
        mp.undo()
    meta = micro.iloc[0:0]
    compiled = compile_patches(pipeline.braid_effects(micro, meta),
                               PatchCaps.from_config(CFG.caps), None)
    rows = patch_set_rows(compiled.patches, compiled.theta_min, compiled.phi_max)
    snap = pd.DataFrame({"kind": ["patch" if k.startswith("patch/") else "cap" for k in rows],
                         "key": list(rows), "before_value": np.nan,
                         "after_value": list(rows.values())})
    return lessons, micro, meta, snap


def test_the_night_is_what_the_issue_describes(night: Night) -> None:
    """Two active pooled lessons; their braids carry detector ids (one each per detector)
    or `*`; their patches are keyed by those detectors, or by the wildcard."""
    lessons, micro, _, snap = night
    pooled = micro[micro["op"] == "POOLED"]
    assert sorted(pooled["detector_id"]) == sorted([*DETS, ALL])
    keys = set(snap.loc[snap["kind"] == "patch", "key"])
    assert {k.split("/")[1] for k in keys} == {*DETS, ALL}
    assert ALL == POOLED == ANY  # one `*`: the pooled lessons' id and the patch wildcard


def _nodes(parts: LoomParts) -> dict[str, str]:
    return {nid: label for col in parts.columns for nid, label, _ in col}


def test_the_loom_of_all_detectors_leads_each_pooled_lesson_to_its_braids_and_patches(
        night: Night) -> None:
    lessons, micro, meta, snap = night
    assert ALL in loom_detectors(lessons, micro, meta, snap)
    parts = loom_parts(ALL, lessons, micro, meta, snap)
    nodes, edges = _nodes(parts), set(parts.edges)
    pooled = micro[micro["op"] == "POOLED"]
    assert {n for n in nodes if n.startswith("L:")} == {"L:Lpool1", "L:Lpool2"}
    assert {n for n in nodes if n.startswith("B:")} == {f"B:{b}" for b in pooled["braid_id"]}
    for b in pooled.itertuples():
        assert (f"L:{b.lesson_id}", f"B:{b.braid_id}") in edges
    keys = set(snap.loc[snap["kind"] == "patch", "key"])
    own = {k for k in keys if OWN in k}
    shown = {n[2:] for n in nodes if n.startswith("P:")}
    assert shown == keys - own  # every patch a pooled braid gave, the detector's own not
    for k in shown:  # each patch key led to by the braid that compiled it
        assert any(a.startswith("B:") and b == f"P:{k}" for a, b in edges), k
    svg = loom_svg(ALL, lessons, micro, meta, snap)
    assert "(none)" not in svg.split("meta braids")[0]  # lessons and braids columns filled
    assert f"The Loom of {POOLED_NAME}" in svg


def test_a_detectors_loom_shows_the_pooled_lesson_behind_its_pooled_braid(night: Night) -> None:
    lessons, micro, meta, snap = night
    for det in DETS:
        parts = loom_parts(det, lessons, micro, meta, snap)
        nodes, edges = _nodes(parts), set(parts.edges)
        braids = [n for n in parts.columns[1]]
        assert braids
        for nid, _, _ in braids:  # no braid without the lesson that feeds it
            assert any(a in nodes and a.startswith("L:") and b == nid for a, b in edges), nid
        assert nodes["L:Lpool1"] == f"{POOLED_NAME}: {SPECIALISED} (+3.00 bps)"
        assert "L:Lpool2" not in nodes  # its `*` braid is in the Loom of all detectors


def _texts(svg: str) -> list[str]:
    return [unescape(t) for t in re.findall(r"<text [^>]*>([^<]*)</text>", svg)]


def test_labels_say_all_detectors_pooled_never_a_bare_star(night: Night) -> None:
    lessons, micro, meta, snap = night
    for det in loom_detectors(lessons, micro, meta, snap):
        texts = _texts(loom_svg(det, lessons, micro, meta, snap))
        assert not [t for t in texts if t.strip() == "*" or t.startswith(("*:", "* "))], texts
        assert not any("Loom of *" in t for t in texts)
    shown = " ".join(_texts(loom_svg(ALL, lessons, micro, meta, snap)))
    assert wrap(WILDCARD_NOTE, 60)[0] in shown  # what `*` means, under the columns
    assert f"{ANY}/{ANY}/{WHOLE}/theta_delta" in shown  # the wildcard key, as the key
    assert POOLED_NAME in lessons_table(lessons) and "| * |" not in lessons_table(lessons)
    assert POOLED_NAME in braids_table(micro) and "| * |" not in braids_table(micro)
    md = lessons_forest(lessons)
    forest = base64.b64decode(md.split("base64,")[1].rstrip(")")).decode()
    assert f"{POOLED_NAME}: " in forest.replace("&amp;", "&") and ">*: " not in forest
