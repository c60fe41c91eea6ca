"""`warm_kernels` covers the live scoring path: in a fresh process, after it, the live
engine's night (a DSI fit on a lake day's MicroTape: the forest over the history, the EMAs
over read-only columns) and a replay of real frames through its steps (the trades' size
thresholds, the forest a row at a time) give no compiled kernel a new signature, so the
daemon's first tick loads or compiles nothing. A fresh process, because what the other
tests ran has already specialised the kernels in this one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = """
import json, sys
from pathlib import Path

from numba.core.registry import CPUDispatcher

from lotus_core.curators.config import load_curators
from lotus_core.feed.parse import parse_recording
from lotus_core.live.engine import LiveEngine, load_night_context
from lotus_core.live.kernels import warm_kernels
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.signals.config import load_scoring
from lotus_core.store.lake import Lake
from tests.helpers import small_day
from tests.kits.midnight import lines_of, recv_of


def signatures():
    out = {}
    for name, mod in list(sys.modules.items()):
        if name.startswith("lotus"):
            for obj in vars(mod).values():
                if isinstance(obj, CPUDispatcher):
                    key = f"{obj.py_func.__module__}.{obj.__name__}"
                    out[key] = sorted(map(str, obj.signatures))
    return out


tmp, fixtures = Path(sys.argv[1]), Path(sys.argv[2])
history = small_day(fixtures / "2026-01-03.jsonl.gz", tmp / "2026-01-03.jsonl.gz", 5)
tape = build_microtape(parse_recording(history)).sort_values(["coin", "ts_ms"], kind="stable")
Lake(tmp / "lake").write("microtape_frames", "2026-01-03", tape)
seconds = warm_kernels()
warmed = signatures()
day = "2026-01-04"
lines = lines_of(small_day(fixtures / f"{day}.jsonl.gz", tmp / f"{day}.jsonl.gz", 2))
scoring = load_scoring()
night = load_night_context(tmp / "lake", day, scoring=scoring)
engine = LiveEngine(MicroTapeParams(), lambda d: night, scoring=scoring,
                    council=load_curators())
rows = done = 0
while done < len(lines):
    engine.add(day, done + 1, lines[done:done + 300])
    done = min(done + 300, len(lines))
    step = engine.step(recv_of(lines[done]) if done < len(lines) else recv_of(lines[-1]) + 1)
    rows += 0 if step is None else len(step.row_dicts)
fitted = sorted(s.id for s in night.dsi_model.experts if s.expert.fitted)
print(json.dumps({"seconds": seconds, "warmed": warmed, "after": signatures(),
                  "fitted": fitted, "rows": rows}))
"""


def test_after_warm_kernels_the_live_path_adds_no_signature(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(ROOT / "fixtures")],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    got = json.loads(out.stdout.splitlines()[-1])
    # the replay reached every kernel: the forest was fitted and scored, trades were seen
    assert "anomaly_iforest" in got["fitted"] and got["rows"] > 0
    warmed, after = got["warmed"], got["after"]
    for kernel in ("lotus_core.microtape.outliers.thresholds_kernel",
                   "lotus_core.dsi.forest.forest_depths", "lotus_core.dsi.forest.forest_depth",
                   "lotus_core.row_kernels.ewm_kernel"):
        assert warmed.get(kernel), f"{kernel}: not warmed"
    added = {k: sorted(set(v) - set(warmed.get(k, []))) for k, v in after.items()}
    missed = {k: v for k, v in added.items() if v}
    assert missed == {}, f"warm_kernels missed: {missed}"


NIGHTLY = """
import json, sys
from pathlib import Path

from numba.core.registry import CPUDispatcher

from lotus_core.feed.parse import parse_recording
from lotus_core.live.kernels import warm_kernels, warm_nightly_kernels
from lotus_core.microtape import build_microtape
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import detect_day
from lotus_core.store.lake import Lake
from tests.helpers import small_day


def signatures():
    import lotus_core.row_kernels as kernels

    return {name: sorted(map(str, obj.signatures)) for name, obj in vars(kernels).items()
            if isinstance(obj, CPUDispatcher)}


tmp, fixtures = Path(sys.argv[1]), Path(sys.argv[2])
day = "2026-01-03"
tape = build_microtape(parse_recording(small_day(fixtures / f"{day}.jsonl.gz",
                                                 tmp / f"{day}.jsonl.gz", 20)))
lake = Lake(tmp / "lake")
lake.write("microtape_frames", day, tape.sort_values(["coin", "ts_ms"], kind="stable"))
warm_kernels()
warm_nightly_kernels()
warmed = signatures()
windows = detect_day(lake.read("microtape_frames", day),  # the lake's read-only columns
                     scoring=load_scoring())
print(json.dumps({"warmed": warmed, "after": signatures(), "windows": len(windows)}))
"""


def test_after_the_warm_step_the_nightly_features_add_no_signature(tmp_path: Path) -> None:
    """`make test` and `make run` warm both sets before their processes start: the nightly
    detectors over a lake day's MicroTape (read-only columns) then compile nothing."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", NIGHTLY, str(tmp_path), str(ROOT / "fixtures")],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["windows"] > 0  # the detectors ran, so their features did
    for kernel in ("rolling_extreme", "window_sum_kernel", "seg_cumext_kernel",
                   "seg_start_kernel", "first_in_segment_kernel"):
        assert got["warmed"].get(kernel), f"{kernel}: not warmed"
    added = {k: sorted(set(v) - set(got["warmed"].get(k, []))) for k, v in got["after"].items()}
    assert {k: v for k, v in added.items() if v} == {}, added
