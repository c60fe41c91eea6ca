"""Late rows laid over signal_eval a piece at a time (`LateRows`, keyed once: the learning
window lays them over each row group it reads) are the late rows laid over the whole
(`with_late`): the same rows, values and dtypes, whatever the pieces."""

import numpy as np
import pandas as pd
import pytest

from lotus_core.evaluation.late import LateRows, with_late

STR = pd.StringDtype(na_value=np.nan)


def _evals(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "window_id": pd.array([f"w{i:05d}" for i in rng.permutation(n)], dtype=STR),
        "horizon_s": rng.choice([60, 300], n).astype(np.int64),
        "net_ret_bps": rng.standard_normal(n),
        "hit": rng.random(n) > 0.5,
        "status": pd.array(rng.choice(["done", "pending"], n), dtype=STR)})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pieces_laid_are_the_whole_laid(seed):
    rng = np.random.default_rng(seed)
    evals = _evals(rng, 400)
    pending = evals[evals["status"] == "pending"]
    late = pending.sample(frac=0.6, random_state=seed).assign(
        status="done", net_ret_bps=-3.0,
        hit=True)
    late = pd.concat([late, _evals(rng, 5).assign(window_id=pd.array(  # other days' windows
        [f"x{i}" for i in range(5)], dtype=STR))], ignore_index=True)
    whole = with_late(evals, late)
    assert (whole["net_ret_bps"] == -3.0).sum() == len(late) - 5
    laid = LateRows(late)
    cuts = [0, *np.sort(rng.choice(np.arange(1, 400), 6, replace=False)), 400]
    pieces = [laid.on(evals.iloc[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    pd.testing.assert_frame_equal(pd.concat(pieces), whole, check_exact=True)


def test_late_twice_is_refused_when_laid_and_nothing_is_laid_from_no_late():
    evals = _evals(np.random.default_rng(3), 50)
    late = evals.iloc[[1, 1]].assign(status="done")
    twice = LateRows(late)  # keyed when first laid over rows
    assert twice.on(evals.iloc[:0]).empty  # no rows laid: nothing keyed, nothing refused
    with pytest.raises(ValueError, match="twice"):
        twice.on(evals)
    assert LateRows(evals.iloc[:0]).on(evals) is evals
