"""Charts like this one: nearest shape embeddings among the recorded readings.

    hits = nearest_recorded(fabric, home, reading.embedding, k=5)  # [(distance, doc), ...]
    index = ShapeIndex.from_docs(docs)                 # a given set of reading documents
    hits = index.nearest(reading.embedding, k=5, where=before)

`nearest_recorded` asks the fabric (`chart_embedding`: pgvector on PostgreSQL, numpy over the
rows on SQLite; embedding_store.py) and returns the neighbours' reading documents; strands
recorded before that table existed are indexed from their reading files on first use.
`ShapeIndex` is a numpy matrix of a set of documents' embeddings (embed.py), for callers
that hold the documents already and filter them (the UI's cards: only earlier charts). Both
searches are exact (Euclidean distance to every row).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lotus_core.fabric.db import Db, in_tx
from lotus_core.vis.embed import DIM, distances
from lotus_core.vis.embedding_store import nearest_strands, record_embedding, unindexed
from lotus_core.vis.store import readings_dir


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

    def nearest(self, embedding: Sequence[float], k: int = 5, exclude: str | None = None,
                where: Callable[[Mapping[str, Any]], bool] | None = None
                ) -> list[tuple[float, dict[str, Any]]]:
        """The k nearest readings (distance, doc), skipping chart hash `exclude` and the
        documents `where` refuses."""
        if not self.docs:
            return []
        q = np.asarray(embedding, dtype=np.float64)
        dist = distances(self.vectors, q)
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


def _doc(home: Path, strand_id: str) -> dict[str, Any]:
    return json.loads((readings_dir(home) / f"{strand_id}.json").read_text())


def index_missing(db: Db, home: Path) -> int:
    """Give every read strand without a `chart_embedding` row its reading file's embedding;
    the number indexed."""
    found = [(sid, (_doc(home, sid).get("reading") or {}).get("embedding"))
             for sid in unindexed(db)]
    todo = [(sid, list(emb)) for sid, emb in found if emb]
    if todo:
        with in_tx(db) as tx:
            for sid, emb in todo:
                record_embedding(tx, sid, emb)
    return len(todo)


def nearest_recorded(db: Db, home: Path, embedding: Sequence[float], k: int = 5,
                     exclude: str | None = None) -> list[tuple[float, dict[str, Any]]]:
    """The k recorded charts nearest `embedding` in shape (distance, reading document),
    nearest first, skipping chart hash `exclude`."""
    index_missing(db, home)
    return [(d, _doc(home, sid)) for d, sid in nearest_strands(db, embedding, k, exclude)]
