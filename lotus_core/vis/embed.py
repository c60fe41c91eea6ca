"""The shape embedding of a digitised path: what `lotus vis similar` compares.

Method: the closes in log price, resampled to 64 points (patterns.resample) and z-scored
(mean 0, sd 1; a flat path is all zeros), divided by 8 so the shape part has unit norm;
then four shape moments: the drift t-statistic / 10 and the range ratio / 4 (both clipped
to [-1, 1]), and where the high and the low fall (index / 63). Price level, volatility and
bar count drop out, so a chart compares with another of any coin, zoom or timeframe.
Distance is Euclidean over the 68 numbers.
"""

from __future__ import annotations

import numpy as np

from lotus_core.vis.patterns import N, path_stats, resample

DIM = N + 4


def embed_path(close: np.ndarray) -> np.ndarray:
    """The 68-number embedding of a close path (float64)."""
    lp = resample(np.log(np.asarray(close, dtype=np.float64)))
    sd = lp.std()
    z = (lp - lp.mean()) / sd if sd > 1e-9 else np.zeros(N)
    st = path_stats(close)
    moments = np.array([
        np.clip(st.t_drift / 10.0, -1, 1), np.clip(st.range_ratio / 4.0, -1, 1),
        float(np.argmax(lp)) / (N - 1), float(np.argmin(lp)) / (N - 1),
    ])
    return np.concatenate([z / np.sqrt(N), moments])


def distances(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row of `vectors` (n, DIM) to `query`, in float64: the one
    measure every shape search ranks by."""
    diff = np.asarray(vectors, dtype=np.float64) - np.asarray(query, dtype=np.float64)
    return np.sqrt((diff * diff).sum(axis=1))
