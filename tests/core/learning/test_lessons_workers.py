"""The per-detector rule searches run side by side in forked workers (`learn_workers`); the
night's lessons must be the same bytes as the inline search."""

import pandas as pd
import pytest

from lotus_core.learning import lessons as L
from lotus_core.learning import night
from lotus_core.learning.config import load_learning
from lotus_core.signals.config import load_scoring
from lotus_core.synth.windows import PLANTED, WindowSpec, window_frame

CFG = load_learning()


def test_lessons_are_the_same_bytes_with_one_or_two_workers(monkeypatch):
    spec = WindowSpec(days=4, windows_per_day=600)
    a = window_frame(spec, 3)
    b = window_frame(spec, 4)
    b["detector_id"] = b["detector_id"].astype(str).replace({PLANTED: "second_v1"})
    frame = pd.concat([a, b], ignore_index=True)
    assert frame["detector_id"].nunique() >= 2
    tw = night.training_window(frame, CFG, load_scoring().context)
    day = sorted(frame["date"].unique())[-1]
    out = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("LOTUS_LEARN_WORKERS", workers)
        out[workers] = night.lessons(tw, pd.DataFrame(), day, CFG)[0]
    assert len(out["1"]) > 0 and out["1"]["detector_id"].nunique() >= 2
    pd.testing.assert_frame_equal(out["1"], out["2"], check_exact=True)
    assert out["1"].to_json() == out["2"].to_json()
    # a stuck worker pool falls back to the inline search, with a warning, same lessons
    monkeypatch.setattr(L, "_SEARCH_TIMEOUT_S", 1e-4)
    with pytest.warns(RuntimeWarning, match="searching inline"):
        again = night.lessons(tw, pd.DataFrame(), day, CFG)[0]
    assert again.to_json() == out["1"].to_json()
