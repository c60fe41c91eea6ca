"""Window ids hashed a slice at a time: the 64-bit hash the learning window's sample keeps a
window by (`lotus_core.learning.sample.kept`) and its frame joins by
(`lotus_core.learning.frame`), without a Python string per window held at once (a
250,000-window night's ids as Python strings are ~40 MB, per copy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

HASH_ROWS = 16_384  # ids made Python strings at a time, to hash them (~1 MB of strings)


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


def take_ids(ids: pa.Array | pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """`ids[rows]` (rows in any order), taken chunk by chunk: Arrow's `take` on a chunked
    array first joins its chunks into one copy (a learning window's 250,000 ids in 32 chunks:
    ~14 MB a call against ~3 MB)."""
    if isinstance(ids, pa.Array):
        return ids.take(rows)
    if ids.num_chunks == 1:
        return ids.chunk(0).take(rows)
    rows = np.asarray(rows, dtype=np.int64)
    ends = np.cumsum([len(c) for c in ids.chunks])
    which = np.searchsorted(ends, rows, side="right")
    order = np.argsort(which, kind="stable")  # the rows grouped by their chunk
    cuts = np.searchsorted(which[order], np.arange(ids.num_chunks + 1))
    pieces = []
    for k in range(ids.num_chunks):
        if cuts[k] < cuts[k + 1]:
            local = rows[order[cuts[k]:cuts[k + 1]]] - (ends[k] - len(ids.chunk(k)))
            pieces.append(ids.chunk(k).take(local))
    if not pieces:
        return pa.array([], type=ids.type)
    back = np.empty(len(rows), dtype=np.int64)
    back[order] = np.arange(len(rows))  # each row's place among the grouped ones
    return pa.concat_arrays(pieces).take(back)
