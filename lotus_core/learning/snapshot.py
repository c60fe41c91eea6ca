"""The lake's before/after view of one night's priors version: one row per key in either set."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lotus_core.columns import STR
from lotus_core.learning.priors_store import PriorsVersion

KINDS = {"patch/": "patch", "cap/": "cap", "edge/": "edge"}


def snapshot_rows(before: PriorsVersion, after: PriorsVersion) -> pd.DataFrame:
    """(priors_ver, before_ver, source, kind, key, before_value, after_value), sorted by key;
    a value absent from one side is NaN."""
    keys = sorted(set(before.rows) | set(after.rows))
    kind = [next(v for p, v in KINDS.items() if k.startswith(p)) for k in keys]
    out = pd.DataFrame({
        "priors_ver": np.full(len(keys), after.version, dtype=np.int64),
        "before_ver": np.full(len(keys), before.version, dtype=np.int64),
        "source": pd.array([after.source or ""] * len(keys), dtype=STR),
        "kind": pd.array(kind, dtype=STR),
        "key": pd.array(keys, dtype=STR),
        "before_value": [float(before.rows[k]) if k in before.rows else np.nan for k in keys],
        "after_value": [float(after.rows[k]) if k in after.rows else np.nan for k in keys],
    })
    return out
