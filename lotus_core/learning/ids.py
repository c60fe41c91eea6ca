"""Window ids hashed a slice at a time: the 64-bit hash the learning window's sample keeps a
window by (`lotus_core.learning.sample.kept`) and its frame joins by
(`lotus_core.learning.frame`), without a Python string per window held at once (issue 32: a
250,000-window night's ids as Python strings were ~40 MB, per copy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

HASH_ROWS = 65_536  # ids made Python strings at a time, to hash them


def arrow_ids(ids: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Window ids as Arrow strings (a pandas column's without a copy when it is one)."""
    if isinstance(ids, pd.Series):
        return pa.array(ids.array, type=pa.large_string())
    return ids


def id_hashes(ids: pd.Series | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """(n,) uint64: each id's hash (pandas' SipHash of its UTF-8 bytes, a fixed key), made
    `HASH_ROWS` ids at a time."""
    arr = arrow_ids(ids)
    parts = [pd.util.hash_array(arr.slice(i, HASH_ROWS).to_numpy(zero_copy_only=False)
                                .astype(object), categorize=False)
             for i in range(0, len(arr), HASH_ROWS)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
