"""Meta and field braids are refused when they do not earn their place: a composition that
does not beat both parents' BQS, and a field pattern that disagrees across coins. Each
refusal sits beside the same case accepted, so the tests can fail."""

from types import SimpleNamespace

import numpy as np
import pandas as pd

from lotus_core.learning import pipeline
from lotus_core.learning.braids import _compose, _every_coin_agrees
from lotus_core.learning.config import load_learning
from lotus_core.learning.lessons import detector_units
from lotus_core.signals.config import load_scoring
from lotus_core.synth.windows import PLANTED, WindowSpec, window_frame

CFG = load_learning()


def _parent(braid_id: str, rule: str, bqs: float) -> SimpleNamespace:
    return SimpleNamespace(braid_id=braid_id, detector_id=PLANTED, rule=rule, sign=1,
                           uplift_bps=4.0, bqs=bqs, theta_delta=-0.04, phi_mult=1.03,
                           expires_on="2026-04-01")


def test_a_meta_braid_must_beat_both_parents():
    frame = window_frame(WindowSpec(days=4, windows_per_day=800), 8)
    tw = pipeline.training_window(frame, CFG, load_scoring().context)
    m = (tw.frame["detector_id"] == PLANTED).to_numpy()
    units = detector_units(tw.frame[m], tw.lits[m], tw.quantizer)
    weak = _compose(units, _parent("Ba", "oi_pctl_bin=hi", -50.0),
                    _parent("Bb", "regime=trend", -50.0), CFG)
    assert weak is not None and weak["op"] == "INTERSECT"  # beats parents this weak
    assert weak["rule"] == "oi_pctl_bin=hi&regime=trend" and weak["uplift_bps"] > 0
    strong = _compose(units, _parent("Ba", "oi_pctl_bin=hi", -50.0),
                      _parent("Bb", "regime=trend", weak["bqs"] + 0.01), CFG)
    assert strong is None  # the same composition, one parent now better: refused


def test_a_field_braid_must_agree_in_every_coin_with_enough_of_it():
    n = 300
    coins = np.repeat(["BTC", "ETH", "SOL"], n)
    frame = pd.DataFrame({"coin": coins})
    mask = np.ones(3 * n, dtype=bool)
    psi = np.where(coins == "SOL", -1.0, 2.0)
    assert not _every_coin_agrees(frame, mask, psi, 1, CFG)  # SOL says the opposite
    assert _every_coin_agrees(frame, mask, np.abs(psi), 1, CFG)
    few = mask & ((coins != "SOL") | (np.arange(3 * n) % n < CFG.search.min_support - 1))
    assert _every_coin_agrees(frame, few, psi, 1, CFG)  # too little SOL to judge it by
    assert not _every_coin_agrees(frame, mask, np.abs(psi), -1, CFG)  # sign matters
