"""The shape embeddings in the fabric: `chart_embedding`, one row per read chart's strand.

    record_embedding(tx, strand_id, reading.embedding)     # in the strand's transaction
    hits = nearest_strands(fabric, embedding, k=5)         # [(distance, strand_id), ...]

Stored as float32 on both backends: a pgvector `vector` on PostgreSQL (the production
profile), whose `<->` ranks them in the database, and 4-byte little-endian floats in a BLOB
on SQLite (the embedded default), ranked here in numpy. Both searches are exact (Euclidean,
no approximate index); ties go to the older strand (ULIDs sort by time). The two differ
only in float rounding (pgvector sums the squares in float32): distances agree within 1e-5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lotus_core.fabric.db import Db, in_tx
from lotus_core.store.connection import Tx
from lotus_core.vis.embed import DIM, distances


def _vector(embedding: Sequence[float]) -> np.ndarray:
    vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if vec.shape != (DIM,) or not np.isfinite(vec).all():
        raise ValueError(f"a shape embedding is {DIM} finite numbers, got shape {vec.shape}")
    return vec


def _pg_text(vec: np.ndarray) -> str:
    """pgvector's text form; each float32 written exactly (repr of its float64 value)."""
    return "[" + ",".join(repr(float(x)) for x in vec) + "]"


def record_embedding(tx: Tx, strand_id: str, embedding: Sequence[float]) -> None:
    """Store one strand's embedding (in the transaction that records the strand)."""
    vec = _vector(embedding)
    if tx.dialect == "postgres":
        tx.execute("INSERT INTO chart_embedding (strand_id, embedding) VALUES (?, ?::vector)",
                   (strand_id, _pg_text(vec)))
    else:
        tx.execute("INSERT INTO chart_embedding (strand_id, embedding) VALUES (?, ?)",
                   (strand_id, vec.astype("<f4").tobytes()))


def unindexed(db: Db) -> list[str]:
    """Read strands (kind `analysis`) without an embedding row: recorded before the table
    existed. Oldest first."""
    with in_tx(db) as tx:
        rows = tx.query("SELECT s.id FROM vis_strand s LEFT JOIN chart_embedding e "
                        "ON e.strand_id = s.id WHERE s.kind = 'analysis' "
                        "AND e.strand_id IS NULL ORDER BY s.id")
    return [str(r["id"]) for r in rows]


def nearest_strands(db: Db, embedding: Sequence[float], k: int = 5,
                    exclude_hash: str | None = None) -> list[tuple[float, str]]:
    """The k strands whose embeddings are nearest `embedding` (distance, strand id), nearest
    first, skipping those of chart hash `exclude_hash` (the query image itself)."""
    vec = _vector(embedding)
    with in_tx(db) as tx:
        if tx.dialect == "postgres":
            rows = tx.query(
                "SELECT e.strand_id, e.embedding <-> ?::vector AS d FROM chart_embedding e "
                "JOIN vis_strand s ON s.id = e.strand_id "
                "WHERE s.chart_hash IS DISTINCT FROM ? ORDER BY d, e.strand_id LIMIT ?",
                (_pg_text(vec), exclude_hash, k))
            return [(float(r["d"]), str(r["strand_id"])) for r in rows]
        rows = tx.query("SELECT e.strand_id, e.embedding, s.chart_hash FROM chart_embedding e "
                        "JOIN vis_strand s ON s.id = e.strand_id ORDER BY e.strand_id")
    keep = [r for r in rows if exclude_hash is None or r["chart_hash"] != exclude_hash]
    if not keep:
        return []
    mat = np.frombuffer(b"".join(bytes(r["embedding"]) for r in keep), dtype="<f4")
    dist = distances(mat.reshape(len(keep), DIM), vec)
    order = np.argsort(dist, kind="stable")[:k]  # rows in id order: ties to the older
    return [(float(dist[i]), str(keep[i]["strand_id"])) for i in order]
