"""Charts like this one: nearest shape embeddings among the recorded readings.

    index = ShapeIndex.from_home(home)
    hits = index.nearest(reading.embedding, k=5)   # [(distance, doc), ...] nearest first

The index is a numpy matrix of every readable reading's embedding (embed.py), built from
the reading files under <home>/vis/readings; the search is exact (Euclidean distance to
every row), which stays cheap up to hundreds of thousands of charts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lotus_core.vis.embed import DIM
from lotus_core.vis.store import load_readings


@dataclass(frozen=True)
class ShapeIndex:
    """Embeddings (n, DIM) and the reading documents they came from."""

    vectors: np.ndarray
    docs: list[dict[str, Any]]

    @classmethod
    def from_docs(cls, docs: Sequence[dict[str, Any]]) -> ShapeIndex:
        keep = [d for d in docs if (d.get("reading") or {}).get("embedding")]
        vecs = np.array([d["reading"]["embedding"] for d in keep], dtype=np.float64)
        return cls(vectors=vecs.reshape(len(keep), DIM), docs=keep)

    @classmethod
    def from_home(cls, home: Path) -> ShapeIndex:
        return cls.from_docs(load_readings(home))

    def nearest(self, embedding: Sequence[float], k: int = 5, exclude: str | None = None,
                where: Callable[[Mapping[str, Any]], bool] | None = None
                ) -> list[tuple[float, dict[str, Any]]]:
        """The k nearest readings (distance, doc), skipping chart hash `exclude` and the
        documents `where` refuses."""
        if not self.docs:
            return []
        q = np.asarray(embedding, dtype=np.float64)
        dist = np.sqrt(((self.vectors - q) ** 2).sum(axis=1))
        out = []
        for i in np.argsort(dist, kind="stable"):
            if exclude is not None and self.docs[i].get("chart_hash") == exclude:
                continue
            if where is not None and not where(self.docs[i]):
                continue
            out.append((float(dist[i]), self.docs[i]))
            if len(out) == k:
                break
        return out
