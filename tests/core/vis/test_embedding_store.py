"""Shape embeddings kept with their strands in the fabric (`chart_embedding`), on both backends:
pgvector on PostgreSQL (the production profile), float32 rows on SQLite. Real charts read by
tesseract, recorded by `submit_chart`; the fabric's nearest neighbours are the ones the
in-memory index finds among the same readings, strands recorded before the table existed
are indexed on first use, and the query image itself is left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from lotus_core.store.opsdb import OpsDb
from lotus_core.vis.embed import DIM
from lotus_core.vis.embedding_store import nearest_strands, record_embedding, unindexed
from lotus_core.vis.similar import ShapeIndex, nearest_recorded
from lotus_core.vis.store import load_readings, submit_chart
from tests.core.vis.chart_kit import chart

CHARTS = [("trend_up", 31, "candles", "light"), ("trend_down", 32, "line", "dark"),
          ("range", 33, "candles", "dark"), ("trend_up", 34, "line", "light")]


def _recorded(fabric: OpsDb, home: Path) -> list[str]:
    return [submit_chart(fabric, home, chart(*c)[2]).strand_id for c in CHARTS]


def test_nearest_in_the_fabric_is_the_in_memory_nearest(fabric: OpsDb, tmp_path: Path) -> None:
    home = tmp_path / "home"
    ids = _recorded(fabric, home)
    with fabric.transaction() as tx:
        assert sorted(r["strand_id"] for r in tx.query(
            "SELECT strand_id FROM chart_embedding")) == sorted(ids)
        if tx.dialect == "postgres":  # a pgvector column, not an array or text
            assert tx.scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                             "WHERE attrelid = 'chart_embedding'::regclass "
                             "AND attname = 'embedding'") == f"vector({DIM})"
    docs = load_readings(home)
    query_bars, _, query = chart("trend_up", 35, "candles", "dark")
    q = submit_chart(fabric, home, query)
    emb = q.reading.embedding
    assert emb is not None
    want = ShapeIndex.from_docs(docs).nearest(emb, k=3)
    got = nearest_recorded(fabric, home, emb, k=3, exclude=q.chart_hash)
    assert [d["strand_id"] for _, d in got] == [d["strand_id"] for _, d in want]
    assert got[0][1]["strand_id"] in {ids[0], ids[3]}  # the other rising charts
    for (dg, _), (dw, _) in zip(got, want, strict=True):
        assert dg == pytest.approx(dw, abs=1e-5)  # float32 storage
    # the query image's own strand is what an unfiltered search finds first
    assert nearest_strands(fabric, emb, k=1)[0] == (pytest.approx(0.0, abs=1e-6), q.strand_id)


def test_strands_recorded_before_the_table_are_indexed_on_first_use(
        fabric: OpsDb, tmp_path: Path) -> None:
    home = tmp_path / "home"
    ids = _recorded(fabric, home)
    emb = load_readings(home)[1]["reading"]["embedding"]
    before = nearest_strands(fabric, emb, k=4)
    with fabric.transaction() as tx:
        tx.execute("DELETE FROM chart_embedding WHERE strand_id IN (?, ?)", (ids[0], ids[2]))
    assert unindexed(fabric) == sorted([ids[0], ids[2]])
    assert [sid for _, sid in nearest_strands(fabric, emb, k=4)] == [ids[1], ids[3]]
    after = nearest_recorded(fabric, home, emb, k=4)
    assert unindexed(fabric) == []
    assert [d["strand_id"] for _, d in after] == [sid for _, sid in before]


def test_an_embedding_of_the_wrong_shape_is_refused(fabric: OpsDb, tmp_path: Path) -> None:
    sid = _recorded(fabric, tmp_path / "home")[0]
    with pytest.raises(ValueError, match=f"{DIM} finite numbers"), fabric.transaction() as tx:
        record_embedding(tx, sid, [0.0] * (DIM - 1))
    with pytest.raises(ValueError, match=f"{DIM} finite numbers"), fabric.transaction() as tx:
        record_embedding(tx, sid, [float("nan")] * DIM)
